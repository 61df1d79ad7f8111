#!/usr/bin/env bash
# What the entrypoint costs while nobody asks it anything (issue 16): CPU per hour of PID 1 and
# of its chronyd beside the same chronyd started bare with the same rendered file, all three
# idle (no scrape, no probe) for DURATION seconds once synchronised to one loopback upstream.
# PID 1's own CPU is then its sync watcher (pkg/syncwatch polls chronyd's socket) and the Go
# runtime's timers; chronyd's beyond the bare one's is what answering those polls costs it.
# ENTRYPOINT_B (optional): a second entrypoint binary, run alike beside the first (e.g. one
# built from another commit), to compare.
# Env: DURATION (default 300), CHRONYD. Run as root: chronyd drops to nobody, as in the image.
# A benchmark, not a test: it prints figures.
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$PWD
# shellcheck source=bench/lib.sh
. bench/lib.sh
DURATION=${DURATION:-300}
chronyd=${CHRONYD:-$repo/.cache/chrony/${CHRONY_VERSION:-4.3}/usr/sbin/chronyd}
bench_need chronyd "$chronyd"
[ "$(id -u)" = 0 ] || { echo "run as root: chronyd drops to nobody as in the image" >&2; exit 1; }
bench_workdir bidle
bench_build_entrypoint "$work/entrypoint"
go build -o "$work/driver" ./bench/driver
driver=$work/driver
bench_upstream "$("$driver" freeport udp)"

names=(entry bare)
declare -A bin=([entry]=$work/entrypoint [bare]=$work/entrypoint)
if [ -n "${ENTRYPOINT_B:-}" ]; then
	cp "$ENTRYPOINT_B" "$work/entrypoint-b"
	names+=(entry-b)
	bin[entry-b]=$work/entrypoint-b
fi

declare -A envs pid
for n in "${names[@]}"; do
	base=$work/$n
	mkdir -m 0755 "$base" "$base/conf.d" "$base/state"
	mkdir -m 1777 "$base/run"
	chown nobody:"$(id -gn nobody)" "$base/state"
	envs[$n]="PATH=/usr/sbin:/usr/bin:/sbin:/bin CHRONYD=$chronyd CHRONY_USER=nobody CHRONY_CONF=$base/chrony.conf
CHRONY_CONF_DIR=$base/conf.d STATE_DIR=$base/state RUN_DIR=$base/run CLOCK_CONTROL=off ALLOW=127.0.0.1
NTP_PORT=$("$driver" freeport udp) HTTP_ADDR=127.0.0.1:$("$driver" freeport tcp) LOG_FORMAT=json"
	# shellcheck disable=SC2086 # one word a variable
	if [ "$n" = bare ]; then
		env -i ${envs[$n]} "NTP_SERVERS=127.0.0.1 port $upport iburst minpoll -2 maxpoll 0" "${bin[$n]}" config >"$base/bare.conf"
		mkdir -m 0750 "$base/run/chronyd"
		chown nobody:"$(id -gn nobody)" "$base/run/chronyd"
		"$chronyd" -d -U -u nobody -f "$base/bare.conf" -x >"$base/log" 2>&1 &
	else
		env -i ${envs[$n]} "NTP_SERVERS=127.0.0.1 port $upport iburst minpoll -2 maxpoll 0" "${bin[$n]}" run >"$base/log" 2>&1 &
	fi
	pid[$n]=$!
	pids+=($!)
done

# Synchronised, each: the entrypoint's own probe; for the bare chronyd, its log.
synced() {
	# shellcheck disable=SC2086 # one word a variable
	if [ "$1" = bare ]; then grep -q 'Selected source' "$work/bare/log"; else env -i ${envs[$1]} "$work/entrypoint" probe ready >/dev/null 2>&1; fi
}
deadline=$((SECONDS + 30))
for n in "${names[@]}"; do
	until synced "$n"; do
		if [ $SECONDS -ge $deadline ]; then
			echo "$n not synchronised within 30s:" >&2
			cat "$work/$n/log" >&2
			exit 1
		fi
		sleep 0.2
	done
done

# The chronyd of each entrypoint: its only child (a wrapper under .cache execs the loader).
declare -A chronyd_pid
for n in "${names[@]}"; do
	if [ "$n" = bare ]; then chronyd_pid[$n]=${pid[$n]}; else chronyd_pid[$n]=$(pgrep -P "${pid[$n]}" | head -1); fi
done
ticks() { awk '{ sub(/.*\) /, ""); split($0, f, " "); print f[12] + f[13] }' "/proc/$1/stat"; }
declare -A t0 c0
sleep 5 # past the start-up
for n in "${names[@]}"; do
	t0[$n]=$(ticks "${pid[$n]}")
	c0[$n]=$(ticks "${chronyd_pid[$n]}")
done
echo "idle for ${DURATION}s; load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
sleep "$DURATION"
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
tick=$(getconf CLK_TCK)
perhour() { awk -v d="$1" -v s="$DURATION" -v hz="$tick" 'BEGIN { printf "%.2f", d / hz * 3600 / s }'; }
printf '%-34s %18s %18s\n' "CPU seconds per hour, idle" "PID 1 (entrypoint)" "chronyd"
for n in "${names[@]}"; do
	e=-
	[ "$n" != bare ] && e=$(perhour $(($(ticks "${pid[$n]}") - t0[$n])))
	label=$n
	case $n in
	entry) label="entrypoint run (this tree)" ;;
	entry-b) label="entrypoint run (\$ENTRYPOINT_B)" ;;
	bare) label="chronyd bare, same file" ;;
	esac
	printf '%-34s %18s %18s\n' "$label" "$e" "$(perhour $(($(ticks "${chronyd_pid[$n]}") - c0[$n])))"
done
