#!/usr/bin/env bash
# NTP serving under load, side by side (issue 5, Load): (a) chronyd started by the entrypoint
# as in the container, (b) the same chronyd binary started bare with the same rendered config
# (from `entrypoint config` with the same variables; only RUN_DIR, STATE_DIR, CHRONY_CONF_DIR
# and NTP_PORT differ, and the script checks the two files are otherwise identical). Same argv
# (-d -U -u nobody -f FILE -x), same user, same kind of port, same load from bench/ntpload.
# A benchmark, not a test: it prints replies/s, loss, latency p50/p99 and the ratio a/b.
#
# Cases: the default config (ratelimit interval 1 burst 16 leak 2, per source address) from one
# address and from 200 addresses 127.0.0.x, and with rate limiting lifted by a drop-in in
# CHRONY_CONF_DIR (ratelimit interval -19 burst 255, chronyd's fastest) unpaced and at a fixed rate.
# Always -x (CLOCK_CONTROL=off): this machine's clock is never touched. Loopback only.
# Must run as root (the entrypoint drops to nobody, as it would in the image).
# Env: DURATION seconds per load run (default 3), ROUNDS (3), WORKERS (16), INFLIGHT (2), RATE for the paced case
# (20000), REQUESTS cap per run (5000000). Total time stays under 2 minutes with the defaults.
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$PWD
# shellcheck source=bench/lib.sh
. bench/lib.sh
DURATION=${DURATION:-3}
ROUNDS=${ROUNDS:-3}
WORKERS=${WORKERS:-16}
INFLIGHT=${INFLIGHT:-2}
RATE=${RATE:-20000}
REQUESTS=${REQUESTS:-5000000}
chronyd=${CHRONYD:-$repo/.cache/chrony/${CHRONY_VERSION:-4.3}/usr/sbin/chronyd}
bench_need chronyd "$chronyd"
[ "$(id -u)" = 0 ] || { echo "run as root: the entrypoint drops to nobody as in the image" >&2; exit 1; }
run_user=nobody
run_group=$(id -gn "$run_user")

bench_workdir nload

echo "building entrypoint (as the Dockerfile does) and ntpload"
bench_build_entrypoint "$work/entrypoint"
go build -o "$work/ntpload" ./bench/ntpload
entry=$work/entrypoint
started=$SECONDS

freeport() { python3 -c 'import socket; s=socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
freetcp() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# Upstream: stratum 1 from its local clock, so both servers are synchronised while measured.
bench_upstream "$(freeport)"

# setup NAME VARIANT: the directories of one server and its variables, one a line, in NAME/env.
declare -A port
setup() {
	local name=$1 variant=$2 base=$work/$1
	mkdir -m 0755 "$base" "$base/conf.d" "$base/state"
	mkdir -m 1777 "$base/run"
	chmod 1777 "$base/run"
	chown "$run_user:$run_group" "$base/state"
	if [ "$variant" = lifted ]; then
		echo "ratelimit interval -19 burst 255" >"$base/conf.d/50-bench-no-ratelimit.conf"
	fi
	port[$name]=$(freeport)
	local http=off
	[ "${name#*-}" = entry ] && http=127.0.0.1:$(freetcp)
	# Exactly these variables (env -i): as in the container, nothing inherited.
	printf '%s\n' \
		"PATH=/usr/sbin:/usr/bin:/sbin:/bin" \
		"CHRONYD=$chronyd" \
		"CHRONY_USER=$run_user" \
		"CHRONY_CONF=$base/chrony.conf" \
		"CHRONY_CONF_DIR=$base/conf.d" \
		"STATE_DIR=$base/state" \
		"RUN_DIR=$base/run" \
		"CLOCK_CONTROL=off" \
		"NTP_PORT=${port[$name]}" \
		"ALLOW=127.0.0.0/8" \
		"HTTP_ADDR=$http" \
		"LOG_FORMAT=json" \
		"NTP_SERVERS=127.0.0.1 port $upport iburst minpoll -2 maxpoll 0" >"$base/env"
}
envof() { mapfile -t e <"$work/$1/env"; }

servers=(default-entry default-bare lifted-entry lifted-bare)
for s in "${servers[@]}"; do setup "$s" "${s%-*}"; done

for s in "${servers[@]}"; do
	base=$work/$s
	envof "$s"
	if [ "${s#*-}" = entry ]; then
		env -i "${e[@]}" "$entry" >"$base/log" 2>&1 &
		pids+=($!)
	else
		env -i "${e[@]}" "$entry" config >"$base/bare.conf"
		# What the entrypoint's preflight would have made: the socket directory, owned by the
		# chrony user, no access for others.
		mkdir -m 0750 "$base/run/chronyd"
		chown "$run_user:$run_group" "$base/run/chronyd"
		# The argv the entrypoint uses (launch.ChronydArgs); started as root, chronyd drops to -u.
		"$chronyd" -d -U -u "$run_user" -f "$base/bare.conf" -x >"$base/log" 2>&1 &
		pids+=($!)
	fi
done

# Ready: both synchronised to the upstream (the entrypoint's own probe, for both).
deadline=$((SECONDS + 30))
for s in "${servers[@]}"; do
	envof "$s"
	until env -i "${e[@]}" "$entry" probe ready >/dev/null 2>&1; do
		if [ $SECONDS -ge $deadline ]; then
			echo "$s not ready within 30s:" >&2
			env -i "${e[@]}" "$entry" probe ready >&2 || true
			cat "$work/$s/log" >&2
			exit 1
		fi
		sleep 0.2
	done
done

# Same config: the entrypoint's rendered file and the bare one differ only in the paths and port.
norm() { sed -e "s#$work/[a-z]*-[a-z]*#BASE#g" -e "s/^port [0-9]*$/port PORT/" "$1"; }
for v in default lifted; do
	if ! diff <(norm "$work/$v-entry/run/chrony.conf") <(norm "$work/$v-bare/bare.conf") >&2; then
		echo "$v: the bare config differs from the entrypoint's beyond paths and port" >&2
		exit 1
	fi
done
echo "rendered config (paths and port aside, identical for a and b; 'lifted' adds the drop-in):"
norm "$work/default-entry/run/chrony.conf" | grep -v '^#' | grep -v '^$' | sed 's/^/    /'
echo "    [lifted] conf.d/50-bench-no-ratelimit.conf: $(cat "$work/lifted-entry/conf.d/50-bench-no-ratelimit.conf")"
echo "chronyd processes serving:"
for s in "${servers[@]}"; do
	pid=$(cat "$work/$s/run/chronyd/chronyd.pid")
	printf '    %-13s pid %-7s user %-7s %s\n' "$s" "$pid" "$(ps -o user= -p "$pid")" "$(tr '\0' ' ' </proc/"$pid"/cmdline | sed "s#$work/##g")"
done

# load NAME ARGS...: one bounded ntpload run against server NAME; prints its TSV line.
load() {
	local name=$1
	shift
	# ntpload stops by itself; timeout is only the backstop.
	timeout $((DURATION + 10)) "$work/ntpload" -server "127.0.0.1:${port[$name]}" -duration "${DURATION}s" \
		-requests "$REQUESTS" -format tsv "$@"
}

cases=(
	"lifted|ratelimit lifted, unpaced (${WORKERS} sockets x ${INFLIGHT})|-workers $WORKERS -inflight $INFLIGHT"
	"lifted|ratelimit lifted, paced ${RATE}/s|-workers $WORKERS -inflight 256 -rate $RATE"
	# Many addresses before the flood: the flood empties 127.0.0.1's token bucket, which is
	# one of the 200 addresses.
	"default|default ratelimit, 200 addresses, 200/s|-workers 200 -sources 200 -rate 200"
	"default|default ratelimit, 1 address, 2000/s|-workers 8 -inflight 64 -rate 2000"
)
# Rounds interleave the two servers (entry first, then bare first, ...) so that the machine's
# other load and warm-up fall on both alike; the table shows each column's median over rounds.
mkdir "$work/res"
for r in $(seq 1 "$ROUNDS"); do
	i=0
	for c in "${cases[@]}"; do
		IFS='|' read -r variant _ args <<<"$c"
		order=(entry bare)
		[ $(((i + r) % 2)) = 0 ] && order=(bare entry)
		for k in "${order[@]}"; do
			# shellcheck disable=SC2086 # args are words
			load "$variant-$k" $args >>"$work/res/$i-$k"
		done
		i=$((i + 1))
	done
done

# col FILE N: the median of column N over the rounds in FILE.
col() { cut -f"$2" "$1" | sort -g | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.3f", a / b; else print "n/a" }'; }
echo
echo "chronyd 4.3 -x, Debian build, loopback, ${DURATION}s per run, median of $ROUNDS rounds; a = started by the entrypoint, b = bare"
printf '%-44s %-6s %10s %10s %8s %9s %9s\n' case "" "sent" "replies/s" "loss %" "p50 us" "p99 us"
i=0
for c in "${cases[@]}"; do
	IFS='|' read -r _ title _ <<<"$c"
	a=$work/res/$i-entry
	b=$work/res/$i-bare
	printf '%-44s %-6s %10s %10s %8s %9s %9s\n' "$title" a "$(col "$a" 1)" "$(col "$a" 5)" "$(col "$a" 4)" "$(col "$a" 6)" "$(col "$a" 7)"
	printf '%-44s %-6s %10s %10s %8s %9s %9s\n' "" b "$(col "$b" 1)" "$(col "$b" 5)" "$(col "$b" 4)" "$(col "$b" 6)" "$(col "$b" 7)"
	printf '%-44s %-6s %10s %10s %8s %9s %9s\n' "" "a/b" "" "$(ratio "$(col "$a" 5)" "$(col "$b" 5)")" "" "$(ratio "$(col "$a" 6)" "$(col "$b" 6)")" "$(ratio "$(col "$a" 7)" "$(col "$b" 7)")"
	i=$((i + 1))
done
echo "(measured in $((SECONDS - started))s after the build)"
