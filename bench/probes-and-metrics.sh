#!/usr/bin/env bash
# Side by side on one synchronised chronyd (Debian's 4.3, -x, one loopback upstream), all of it
# run by the real entrypoint built as the Dockerfile builds it:
#   `entrypoint probe ready` vs `chronyc -n -h SOCKET tracking`: wall and CPU per exec (medians)
#   `entrypoint run`'s /metrics vs chrony_exporter (same collectors, no DNS): latency (median)
#   and CPU (mean) per scrape, resident memory after the scrapes; the two scraped in turn, one
#   scrape each, each GAP after its last. The entrypoint answers a scrape that comes within
#   250 ms of its last round (cmd/entrypoint/run.go's MinInterval) from that round without
#   asking chronyd, so GAP (default 300ms) makes every scrape a fresh round, as Prometheus's
#   scrapes every 15-60 s are; then FLOOD scrapes back to back show what a flood costs each.
# A benchmark, not a test: it prints figures, ratios and whether each target is met.
# chrony_exporter is taken from $CHRONY_EXPORTER (built outside the repo); unset, only our
# figures are printed. Needs Go and scripts/fetch-chrony.sh's chronyd and chronyc.
# Env: RUNS (execs, default 300), SCRAPES (fresh rounds, default 300: 300 x 300 ms keeps the run
# near two minutes), GAP (default 300ms), FLOOD (back-to-back scrapes, default 1000; 0: none),
# CHRONYD, CHRONYC.
# Run as root, the measured processes run as nobody, as the image runs them as its own
# non-root user (a probe started as root would first drop to CHRONY_USER).
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$PWD
# shellcheck source=bench/lib.sh
. bench/lib.sh
RUNS=${RUNS:-300}
SCRAPES=${SCRAPES:-300}
GAP=${GAP:-300ms}
FLOOD=${FLOOD:-1000}
chronyd=${CHRONYD:-$repo/.cache/chrony/${CHRONY_VERSION:-4.3}/usr/sbin/chronyd}
chronyc=${CHRONYC:-$repo/.cache/chrony/${CHRONY_VERSION:-4.3}/usr/bin/chronyc}
bench_need chronyd "$chronyd"
bench_need chronyc "$chronyc"
bench_workdir bpm

# Exactly the Dockerfile's build (its version ldflags only add two strings).
bench_build_entrypoint "$work/entrypoint"
go build -o "$work/driver" ./bench/driver
entry=$work/entrypoint
driver=$work/driver
echo "entrypoint: $(stat -c %s "$entry") bytes stripped, $(gzip -9c "$entry" | wc -c) gzip -9"

if [ "$(id -u)" = 0 ]; then
	cuser=nobody; cuid=$(id -u nobody); cgid=$(id -g nobody)
	as=("$driver" as "$cuid" "$cgid")
	export BENCH_UID=$cuid BENCH_GID=$cgid
else
	cuser=$(id -un); cuid=$(id -u); cgid=$(id -g)
	as=()
fi

# Upstream: stratum 1 from its local clock. -x always: never touch this machine's clock.
bench_upstream "$("$driver" freeport udp)"

# The container, laid out as entrypointtest lays it out: RUN_DIR a 1777 tmpfs-like directory,
# STATE_DIR owned by the chrony user. CLOCK_CONTROL=off: chronyd gets -x.
mkdir -m 1777 "$work/run"; mkdir "$work/state" "$work/conf.d"
chown "$cuid:$cgid" "$work/state" 2>/dev/null || true
httpport=$("$driver" freeport tcp)
export CHRONYD="$chronyd" CHRONY_USER="$cuser" CHRONY_CONF="$work/chrony.conf" \
	CHRONY_CONF_DIR="$work/conf.d" STATE_DIR="$work/state" RUN_DIR="$work/run" \
	CLOCK_CONTROL=off NTP_PORT="$("$driver" freeport udp)" ALLOW=127.0.0.1 \
	HTTP_ADDR="127.0.0.1:$httpport" LOG_FORMAT=json \
	NTP_SERVERS="127.0.0.1 port $upport iburst minpoll -2 maxpoll 0"
"${as[@]}" "$entry" run >"$work/entrypoint.log" 2>&1 & ourpid=$!; pids+=($ourpid)
sock="$RUN_DIR/chronyd/chronyd.sock"

probe() { "${as[@]}" "$entry" probe ready; }
for i in $(seq 1 100); do
	if probe >/dev/null 2>&1; then break; fi
	[ "$i" = 100 ] && { echo "chronyd not ready within 20s:"; probe; cat "$work/entrypoint.log"; exit 1; } >&2
	sleep 0.2
done
echo "$(probe)"
# Let sourcestats fill a little so both scrapers see the same steady state.
sleep 2

read -r p_wall p_cpu < <("$driver" execbench "$RUNS" "$entry" probe ready)
read -r c_wall c_cpu < <("$driver" execbench "$RUNS" "$chronyc" -n -h "$sock" tracking)

ce=${CHRONY_EXPORTER:-}
if [ -n "$ce" ]; then
	ceport=$("$driver" freeport tcp)
	"${as[@]}" "$ce" --chrony.address="unix://$sock" --collector.tracking \
		--collector.sources --collector.sources.with-ntpdata --collector.sourcestats \
		--collector.serverstats --no-collector.dns-lookups \
		--web.listen-address="127.0.0.1:$ceport" 2>"$work/ce.log" & cepid=$!; pids+=($cepid)
fi
for i in $(seq 1 50); do
	ok=1
	curl -fs "http://$HTTP_ADDR/metrics" >/dev/null || ok=0
	[ -n "$ce" ] && { curl -fs "http://127.0.0.1:$ceport/metrics" >/dev/null || ok=0; }
	[ $ok = 1 ] && break
	[ "$i" = 50 ] && { echo "metrics servers did not start" >&2; cat "$work/entrypoint.log" >&2; exit 1; }
	sleep 0.1
done

# Both scrapers in turn, one scrape each, so a neighbour's load falls on both alike: first the
# fresh rounds (RSS is read after them), then the flood.
targets=("http://$HTTP_ADDR/metrics@$ourpid")
[ -n "$ce" ] && targets+=("http://127.0.0.1:$ceport/metrics@$cepid")
{
	read -r o_lat o_cpu o_rss
	if [ -n "$ce" ]; then read -r e_lat e_cpu e_rss; fi
} < <("$driver" scrapebench -gap "$GAP" "$SCRAPES" "${targets[@]}")
if [ "$FLOOD" -gt 0 ]; then
	{
		read -r of_lat of_cpu _
		if [ -n "$ce" ]; then read -r ef_lat ef_cpu _; fi
	} < <("$driver" scrapebench "$FLOOD" "${targets[@]}")
fi

ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "n/a" }'; }
met() { awk -v a="$1" -v b="$2" -v t="$3" 'BEGIN { if (b > 0 && a / b <= t) print "yes"; else print "NO" }'; }
ms() { awk -v u="$1" 'BEGIN { printf "%.3f ms", u / 1000 }'; }
mb() { awk -v k="$1" 'BEGIN { printf "%.1f MB", k / 1024 }'; }
row() { printf '%-36s %12s %12s %7s %8s %s\n' "$@"; }

echo
echo "chronyd 4.3 (-x), one loopback source; $RUNS execs (medians); $SCRAPES scrapes each $GAP apart"
echo "(fresh rounds), $FLOOD back to back (flood: ours answered from its 250 ms reuse window);"
echo "median latency, mean CPU"
row "measure" "ours" "theirs" "ratio" "target" "met"
row "probe ready vs chronyc: wall/exec" "$(ms "$p_wall")" "$(ms "$c_wall")" "$(ratio "$p_wall" "$c_wall")" "" ""
row "probe ready vs chronyc: CPU/exec" "$(ms "$p_cpu")" "$(ms "$c_cpu")" "$(ratio "$p_cpu" "$c_cpu")" "<= 1.5" "$(met "$p_cpu" "$c_cpu" 1.5)"
if [ -n "$ce" ]; then
	row "/metrics vs exporter: latency" "$(ms "$o_lat")" "$(ms "$e_lat")" "$(ratio "$o_lat" "$e_lat")" "<= 1" "$(met "$o_lat" "$e_lat" 1)"
	row "/metrics vs exporter: CPU/scrape" "$(ms "$o_cpu")" "$(ms "$e_cpu")" "$(ratio "$o_cpu" "$e_cpu")" "<= 1" "$(met "$o_cpu" "$e_cpu" 1)"
	row "RSS after $SCRAPES scrapes" "$(mb "$o_rss")" "$(mb "$e_rss")" "$(ratio "$o_rss" "$e_rss")" "<= 1" "$(met "$o_rss" "$e_rss" 1)"
	if [ "$FLOOD" -gt 0 ]; then
		row "flood: latency" "$(ms "$of_lat")" "$(ms "$ef_lat")" "$(ratio "$of_lat" "$ef_lat")" "" ""
		row "flood: CPU/scrape" "$(ms "$of_cpu")" "$(ms "$ef_cpu")" "$(ratio "$of_cpu" "$ef_cpu")" "" ""
	fi
else
	row "/metrics latency" "$(ms "$o_lat")" "(CHRONY_EXPORTER unset)" "" "" ""
	row "/metrics CPU/scrape" "$(ms "$o_cpu")" "" "" "" ""
	row "RSS after $SCRAPES scrapes" "$(mb "$o_rss")" "" "" "" ""
	if [ "$FLOOD" -gt 0 ]; then
		row "flood: latency" "$(ms "$of_lat")" "" "" "" ""
		row "flood: CPU/scrape" "$(ms "$of_cpu")" "" "" "" ""
	fi
fi
