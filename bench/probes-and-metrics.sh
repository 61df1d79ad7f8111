#!/usr/bin/env bash
# Side by side on one synchronised chronyd (Debian's 4.3, -x, loopback upstream):
#   `entrypoint probe ready` vs `chronyc -n -h SOCKET tracking`: wall and CPU per exec (medians)
#   our /metrics vs chrony_exporter (same collectors, no DNS): latency and CPU per scrape, RSS
# A benchmark, not a test: it prints figures and ratios. chrony_exporter is taken from
# $CHRONY_EXPORTER (built outside the repo); when unset only our figures are printed.
# ENTRYPOINT may name a built entrypoint with `probe ready`; default: bench/benchentry.
# Env: RUNS (exec runs, default 200), SCRAPES (default 300).
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$PWD
RUNS=${RUNS:-200}
SCRAPES=${SCRAPES:-300}
chronyd=${CHRONYD:-$repo/.cache/chrony/root/usr/sbin/chronyd}
chronyc=${CHRONYC:-$repo/.cache/chrony/root/usr/bin/chronyc}
[ -x "$chronyd" ] || { echo "no chronyd at $chronyd: run scripts/fetch-chrony.sh" >&2; exit 1; }
user=$(id -un)

work=$(mktemp -d /tmp/bpm.XXXXXX)
pids=()
cleanup() {
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
	for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
	rm -rf "$work"
}
trap cleanup EXIT

go build -o "$work/benchentry" ./bench/benchentry
entry=${ENTRYPOINT:-$work/benchentry}

freeport() { python3 -c 'import socket; s=socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
freetcp() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# Upstream: stratum 1 from its local clock. -x always: never touch this machine's clock.
up="$work/up"; mkdir -m 0750 "$up"; upport=$(freeport)
cat >"$up/chrony.conf" <<CONF
port $upport
bindaddress 127.0.0.1
cmdport 0
bindcmdaddress $up/chronyd.sock
pidfile $up/chronyd.pid
local stratum 1
allow 127.0.0.0/8
CONF
"$chronyd" -x -d -U -u "$user" -f "$up/chrony.conf" 2>"$up/log" & pids+=($!)

# The measured chronyd, laid out as in the container: RUN_DIR/chronyd/chronyd.sock.
export RUN_DIR="$work/run"; mkdir -p "$RUN_DIR"; mkdir -m 0750 "$RUN_DIR/chronyd"
sock="$RUN_DIR/chronyd/chronyd.sock"
cat >"$RUN_DIR/chrony.conf" <<CONF
port $(freeport)
bindaddress 127.0.0.1
cmdport 0
bindcmdaddress $sock
pidfile $RUN_DIR/chronyd/chronyd.pid
server 127.0.0.1 port $upport iburst minpoll -2 maxpoll 0
allow 127.0.0.1
CONF
"$chronyd" -x -d -U -u "$user" -f "$RUN_DIR/chrony.conf" 2>"$RUN_DIR/log" & pids+=($!)

for i in $(seq 1 100); do
	if "$entry" probe ready >/dev/null 2>&1; then break; fi
	[ "$i" = 100 ] && { echo "chronyd not ready within 20s:"; "$entry" probe ready; cat "$RUN_DIR/log"; exit 1; } >&2
	sleep 0.2
done
echo "ready: $("$entry" probe ready)"
# Let sourcestats fill a little so both scrapers see the same steady state.
sleep 2

read -r p_wall p_cpu < <("$work/benchentry" execbench "$RUNS" "$entry" probe ready)
read -r c_wall c_cpu < <("$work/benchentry" execbench "$RUNS" "$chronyc" -n -h "$sock" tracking)

ourport=$(freetcp)
"$work/benchentry" serve "127.0.0.1:$ourport" & ourpid=$!; pids+=($ourpid)
ce=${CHRONY_EXPORTER:-}
if [ -n "$ce" ]; then
	ceport=$(freetcp)
	"$ce" --chrony.address="unix://$sock" --collector.tracking --collector.sources \
		--collector.sources.with-ntpdata --collector.sourcestats --collector.serverstats \
		--no-collector.dns-lookups --web.listen-address="127.0.0.1:$ceport" 2>"$work/ce.log" & cepid=$!; pids+=($cepid)
fi
for i in $(seq 1 50); do
	ok=1
	curl -fs "http://127.0.0.1:$ourport/metrics" >/dev/null || ok=0
	[ -n "$ce" ] && { curl -fs "http://127.0.0.1:$ceport/metrics" >/dev/null || ok=0; }
	[ $ok = 1 ] && break
	[ "$i" = 50 ] && { echo "metrics servers did not start" >&2; exit 1; }
	sleep 0.1
done

read -r o_lat o_cpu o_rss < <("$work/benchentry" scrapebench "$SCRAPES" "http://127.0.0.1:$ourport/metrics" "$ourpid")
if [ -n "$ce" ]; then
	read -r e_lat e_cpu e_rss < <("$work/benchentry" scrapebench "$SCRAPES" "http://127.0.0.1:$ceport/metrics" "$cepid")
fi

ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "n/a" }'; }
ms() { awk -v u="$1" 'BEGIN { printf "%.3f ms", u / 1000 }'; }
mb() { awk -v k="$1" 'BEGIN { printf "%.1f MB", k / 1024 }'; }

echo
echo "chronyd 4.3 (-x), one loopback source; $RUNS execs, $SCRAPES scrapes; medians except CPU/scrape (mean)"
printf '%-34s %14s %16s %8s %s\n' "measure" "ours" "reference" "ratio" "target"
printf '%-34s %14s %16s %8s %s\n' "probe ready vs chronyc: wall/exec" "$(ms "$p_wall")" "$(ms "$c_wall")" "$(ratio "$p_wall" "$c_wall")" ""
printf '%-34s %14s %16s %8s %s\n' "probe ready vs chronyc: CPU/exec" "$(ms "$p_cpu")" "$(ms "$c_cpu")" "$(ratio "$p_cpu" "$c_cpu")" "<= 1.5"
if [ -n "$ce" ]; then
	printf '%-34s %14s %16s %8s %s\n' "/metrics vs exporter: latency" "$(ms "$o_lat")" "$(ms "$e_lat")" "$(ratio "$o_lat" "$e_lat")" "<= 1"
	printf '%-34s %14s %16s %8s %s\n' "/metrics vs exporter: CPU/scrape" "$(ms "$o_cpu")" "$(ms "$e_cpu")" "$(ratio "$o_cpu" "$e_cpu")" "<= 1"
	printf '%-34s %14s %16s %8s %s\n' "RSS after $SCRAPES scrapes" "$(mb "$o_rss")" "$(mb "$e_rss")" "$(ratio "$o_rss" "$e_rss")" "<= 1"
else
	printf '%-34s %14s   (CHRONY_EXPORTER unset)\n' "/metrics latency" "$(ms "$o_lat")"
	printf '%-34s %14s\n' "/metrics CPU/scrape" "$(ms "$o_cpu")"
	printf '%-34s %14s\n' "RSS after $SCRAPES scrapes" "$(mb "$o_rss")"
fi
