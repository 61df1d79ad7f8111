#!/usr/bin/env bash
# PID 1's memory over time beside chrony_exporter's (issue 16, Memory): each measured process is
# scraped SCRAPES times, in turn (one scrape each), each GAP after its last, and after every STEP
# scrapes of each the script prints each one's resident memory (VmRSS), split into anonymous
# (heap, stacks) and file-backed (the binary's own pages), with the mean CPU per scrape so far.
# The entrypoint answers a scrape that comes within 250 ms of its last round (cmd/entrypoint/
# run.go's MinInterval) from that round without asking chronyd; GAP (default 300ms) makes every
# scrape a fresh round, as Prometheus's scrapes every 15-60 s are (GAP=0: a back-to-back flood).
#
# Measured: the entrypoint built as the Dockerfile builds it, running `run` (supervising a
# synchronised chronyd -x of its own), once per variant; chrony_exporter ($CHRONY_EXPORTER, built
# outside the repo; unset, it is left out) on the first variant's chronyd with the collectors
# the entrypoint serves.
# Env: SCRAPES (default 600: 600 x 300 ms keeps the run near three minutes), STEP (100), GAP,
# CHRONYD, and VARIANTS: space-separated NAME or
# NAME:VAR=VALUE,VAR=VALUE (default "default"), e.g.
#   VARIANTS="default gogc100:GOGC=100,GOMEMLIMIT=off runtime:METRICS_GO_RUNTIME=on"
# A benchmark, not a test. Run as root: the measured processes run as nobody, as in the image.
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$PWD
# shellcheck source=bench/lib.sh
. bench/lib.sh
SCRAPES=${SCRAPES:-600}
STEP=${STEP:-100}
GAP=${GAP:-300ms}
VARIANTS=${VARIANTS:-default}
chronyd=${CHRONYD:-$repo/.cache/chrony/${CHRONY_VERSION:-4.3}/usr/sbin/chronyd}
bench_need chronyd "$chronyd"
[ "$(id -u)" = 0 ] || { echo "run as root: the measured processes run as nobody" >&2; exit 1; }
bench_workdir bmem

# Exactly the Dockerfile's build (its version ldflags only add two strings).
bench_build_entrypoint "$work/entrypoint"
go build -o "$work/driver" ./bench/driver
entry=$work/entrypoint
driver=$work/driver
cuser=nobody; cuid=$(id -u nobody); cgid=$(id -g nobody)
as=("$driver" as "$cuid" "$cgid")
echo "entrypoint: $(stat -c %s "$entry") bytes stripped"

bench_upstream "$("$driver" freeport udp)"

# One entrypoint per variant, each with its own directories, ports and chronyd.
targets=()
first_sock=
for v in $VARIANTS; do
	name=${v%%:*}
	extra=()
	[ "$name" != "$v" ] && IFS=, read -r -a extra <<<"${v#*:}"
	base=$work/$name
	mkdir -m 0755 "$base" "$base/conf.d" "$base/state"
	mkdir -m 1777 "$base/run"
	chown "$cuid:$cgid" "$base/state"
	port=$("$driver" freeport tcp)
	env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin CHRONYD="$chronyd" CHRONY_USER="$cuser" \
		CHRONY_CONF="$base/chrony.conf" CHRONY_CONF_DIR="$base/conf.d" STATE_DIR="$base/state" \
		RUN_DIR="$base/run" CLOCK_CONTROL=off NTP_PORT="$("$driver" freeport udp)" ALLOW=127.0.0.1 \
		HTTP_ADDR="127.0.0.1:$port" LOG_FORMAT=json \
		NTP_SERVERS="127.0.0.1 port $upport iburst minpoll -2 maxpoll 0" "${extra[@]}" \
		"${as[@]}" "$entry" run >"$base/log" 2>&1 &
	pids+=($!)
	targets+=("$name=http://127.0.0.1:$port/metrics@$!")
	[ -z "$first_sock" ] && first_sock=$base/run/chronyd/chronyd.sock
	echo "variant $name: ${extra[*]:-(no extra variables)}"
done

ce=${CHRONY_EXPORTER:-}
if [ -n "$ce" ]; then
	ceport=$("$driver" freeport tcp)
	"${as[@]}" "$ce" --chrony.address="unix://$first_sock" --collector.tracking \
		--collector.sources --collector.sources.with-ntpdata --collector.sourcestats \
		--collector.serverstats --no-collector.dns-lookups \
		--web.listen-address="127.0.0.1:$ceport" 2>"$work/ce.log" &
	pids+=($!)
	targets+=("chrony_exporter=http://127.0.0.1:$ceport/metrics@$!")
fi

# Every entrypoint ready (/readyz: chronyd synchronised and serving) and every target answering
# chrony_up 1 before the series; then a little time for sourcestats to fill.
for t in "${targets[@]}"; do
	url=${t#*=}; url=${url%@*}
	for i in $(seq 1 150); do
		if [ "${t%%=*}" = chrony_exporter ] || curl -fs "${url%/metrics}/readyz" >/dev/null 2>&1; then
			curl -fs "$url" 2>/dev/null | grep -qx 'chrony_up 1' && break
		fi
		[ "$i" = 150 ] && { echo "${t%%=*} not ready within 30s" >&2; cat "$work"/*/log >&2; exit 1; }
		sleep 0.2
	done
done
sleep 2

echo
echo "chronyd 4.3 (-x), one loopback source; $SCRAPES scrapes each, in turn, each $GAP after its last"
echo "RSS = VmRSS = anon + file (KiB); cpu = mean CPU per scrape so far (µs, 10 ms ticks)"
"$driver" memseries -gap "$GAP" "$SCRAPES" "$STEP" "${targets[@]}" >"$work/series"
grep -v ' touched ' "$work/series" | awk '
	!($1 in n) { names[++m] = $1 }
	{ n[$1] = 1; rss[$1, $2] = $3; anon[$1, $2] = $4; file[$1, $2] = $5; cpu[$1, $2] = $6; s[$2] = 1 }
	END {
		printf "%-8s", "scrapes"
		for (i = 1; i <= m; i++) printf " | %-27s", names[i]
		printf "\n%-8s", ""
		for (i = 1; i <= m; i++) printf " | %6s %6s %6s %6s", "RSS", "anon", "file", "cpu"
		printf "\n"
		for (x in s) steps[++q] = x + 0
		for (a = 1; a <= q; a++) for (b = a + 1; b <= q; b++) if (steps[b] < steps[a]) { t = steps[a]; steps[a] = steps[b]; steps[b] = t }
		for (a = 1; a <= q; a++) {
			printf "%-8d", steps[a]
			for (i = 1; i <= m; i++) printf " | %6d %6d %6d %6d", rss[names[i], steps[a]], anon[names[i], steps[a]], file[names[i], steps[a]], cpu[names[i], steps[a]]
			printf "\n"
		}
	}'
echo
echo "the binary's own pages: resident, and used by the last $STEP scrapes of each (referenced bits cleared before them)"
awk '$2 == "touched" { printf "  %-20s %6d KiB resident, %6d KiB used\n", $1, $3, $4 }' "$work/series"
