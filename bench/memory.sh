#!/usr/bin/env bash
# PID 1's memory over time beside chrony_exporter's (issue 16, Memory): each measured process is
# scraped SCRAPES times, in turn (one scrape each), each GAP after its last, and after every STEP
# scrapes of each the script prints, per process, what each way of counting charges:
#   RSS (VmRSS) = anon (heap, stacks) + file (the binary's own pages, shared page cache);
#   PSS, the same with each shared page divided among the processes that map it;
#   with DOCKER=1, the container's memory cgroup: its charge (entrypoint and chronyd together),
#   anonymous and page cache, and the working set the kubelet reports (charge less inactive
#   page cache). Clean file pages are reclaimable and charged to whichever cgroup first read the
#   file; anonymous memory is what a node really pays;
# with the mean CPU per scrape so far.
# The entrypoint answers a scrape that comes within 250 ms of its last round (cmd/entrypoint/
# run.go's MinInterval) from that round without asking chronyd; GAP (default 300ms) makes every
# scrape a fresh round, as Prometheus's scrapes every 15-60 s are (GAP=0: a back-to-back flood).
#
# Measured: the entrypoint built as the Dockerfile builds it, running `run` (supervising a
# synchronised chronyd -x of its own), once per variant; chrony_exporter ($CHRONY_EXPORTER, built
# outside the repo; unset, it is left out) on the first variant's chronyd with the collectors
# the entrypoint serves.
# DOCKER=1: each variant is a stand-in container (test/standin: this repository's entrypoint
# and Debian's chronyd) on an internal Docker network of its own, synchronised to an upstream
# container, with --read-only --cap-drop ALL as the README runs it; chrony_exporter, when given,
# runs in a container of its own beside the first variant, sharing its /run/chrony volume.
# Needs a running dockerd.
# Env: SCRAPES (default 600: 600 x 300 ms keeps the run near three minutes), STEP (100), GAP,
# CHRONYD, DOCKER, and VARIANTS: space-separated NAME or
# NAME:VAR=VALUE,VAR=VALUE (default "default"), e.g.
#   VARIANTS="default gogc100:GOGC=100,GOMEMLIMIT=off runtime:METRICS_GO_RUNTIME=on"
# (ENTRYPOINT=PATH in a variant runs that binary instead, e.g. one built from another commit;
# not with DOCKER=1).
# A benchmark, not a test. Run as root: the measured processes run as nobody (UID 100 in
# containers), as in the image.
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$PWD
# shellcheck source=bench/lib.sh
. bench/lib.sh
SCRAPES=${SCRAPES:-600}
STEP=${STEP:-100}
GAP=${GAP:-300ms}
VARIANTS=${VARIANTS:-default}
DOCKER=${DOCKER:-0}
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

# DOCKER=1: containers, each resource named after this script's PID; removed on exit.
prefix=bmem$$
docker_cleanup() {
	docker rm -f -v $(docker ps -aq --filter "name=^$prefix-") >/dev/null 2>&1 || true
	docker volume rm $(docker volume ls -q --filter "name=^$prefix-") >/dev/null 2>&1 || true
	docker network rm "$prefix-net" >/dev/null 2>&1 || true
	docker image rm -f "$prefix:bench" "$prefix:bench-rootfs" >/dev/null 2>&1 || true
}
container_ip() { docker inspect -f '{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}' "$1"; }
run_containers() {
	trap 'docker_cleanup; bench_cleanup' EXIT
	"$driver" standin "$prefix:bench"
	docker network create --internal "$prefix-net" >/dev/null
	local common=(--network "$prefix-net" --read-only --cap-drop ALL -e CLOCK_CONTROL=off -e LOG_FORMAT=json)
	# The upstream: the image's chronyd alone (not a second entrypoint, which would share the
	# binary's pages with the measured ones), stratum 1 from its local clock on port 1123.
	docker run -d --name "$prefix-up" "${common[@]}" --tmpfs /run/chrony --entrypoint /usr/sbin/chronyd \
		"$prefix:bench" -x -d -U 'port 1123' 'local stratum 1' 'allow all' 'cmdport 0' 'bindcmdaddress /' \
		'pidfile /run/chrony/chronyd.pid' >/dev/null
	local upip first=
	upip=$(container_ip "$prefix-up")
	for v in $VARIANTS; do
		local name=${v%%:*} extra=() envs=()
		[ "$name" != "$v" ] && IFS=, read -r -a extra <<<"${v#*:}"
		for e in "${extra[@]}"; do envs+=(-e "$e"); done
		docker run -d --name "$prefix-$name" "${common[@]}" -v "$prefix-$name-run:/run/chrony" \
			-e "NTP_SERVERS=$upip port 1123 iburst minpoll -2 maxpoll 0" -e ALLOW=none "${envs[@]}" "$prefix:bench" >/dev/null
		targets+=("$name=http://$(container_ip "$prefix-$name"):9123/metrics@$(docker inspect -f '{{.State.Pid}}' "$prefix-$name")")
		[ -z "$first" ] && first=$name
		echo "variant $name (container $prefix-$name): ${extra[*]:-(no extra variables)}"
	done
	if [ -n "$ce" ]; then
		docker run -d --name "$prefix-ce" --network "$prefix-net" --read-only --cap-drop ALL \
			-v "$prefix-$first-run:/run/chrony" -v "$ce:/usr/local/bin/chrony_exporter:ro" \
			--entrypoint /usr/local/bin/chrony_exporter "$prefix:bench" \
			--chrony.address=unix:///run/chrony/chronyd/chronyd.sock --collector.tracking \
			--collector.sources --collector.sources.with-ntpdata --collector.sourcestats \
			--collector.serverstats --no-collector.dns-lookups --web.listen-address=:9124 >/dev/null
		targets+=("chrony_exporter=http://$(container_ip "$prefix-ce"):9124/metrics@$(docker inspect -f '{{.State.Pid}}' "$prefix-ce")")
	fi
}

run_processes() {
	bench_upstream "$("$driver" freeport udp)"

	# One entrypoint per variant, each with its own directories, ports and chronyd.
	local first_sock=
	for v in $VARIANTS; do
		name=${v%%:*}
		extra=()
		[ "$name" != "$v" ] && IFS=, read -r -a extra <<<"${v#*:}"
		# ENTRYPOINT=PATH: that binary (copied, world-readable) instead of this tree's build.
		local bin=$entry
		for e in "${extra[@]}"; do
			if [ "${e%%=*}" = ENTRYPOINT ]; then
				bin=$work/entrypoint-$name
				install -m 0755 "${e#*=}" "$bin"
			fi
		done
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
			"${as[@]}" "$bin" run >"$base/log" 2>&1 &
		pids+=($!)
		targets+=("$name=http://127.0.0.1:$port/metrics@$!")
		[ -z "$first_sock" ] && first_sock=$base/run/chronyd/chronyd.sock
		echo "variant $name: ${extra[*]:-(no extra variables)}"
	done

	if [ -n "$ce" ]; then
		local ceport=$("$driver" freeport tcp)
		"${as[@]}" "$ce" --chrony.address="unix://$first_sock" --collector.tracking \
			--collector.sources --collector.sources.with-ntpdata --collector.sourcestats \
			--collector.serverstats --no-collector.dns-lookups \
			--web.listen-address="127.0.0.1:$ceport" 2>"$work/ce.log" &
		pids+=($!)
		targets+=("chrony_exporter=http://127.0.0.1:$ceport/metrics@$!")
	fi
}

ce=${CHRONY_EXPORTER:-}
targets=()
if [ "$DOCKER" = 1 ]; then run_containers; else run_processes; fi

# Every entrypoint ready (/readyz: chronyd synchronised and serving) and every target answering
# chrony_up 1 before the series; then a little time for sourcestats to fill.
for t in "${targets[@]}"; do
	url=${t#*=}; url=${url%@*}
	for i in $(seq 1 150); do
		if [ "${t%%=*}" = chrony_exporter ] || curl -fs "${url%/metrics}/readyz" >/dev/null 2>&1; then
			curl -fs "$url" 2>/dev/null | grep -qx 'chrony_up 1' && break
		fi
		if [ "$i" = 150 ]; then
			echo "${t%%=*} not ready within 30s" >&2
			if [ "$DOCKER" = 1 ]; then docker logs "$prefix-${t%%=*}" >&2; else cat "$work"/*/log >&2; fi
			exit 1
		fi
		sleep 0.2
	done
done
sleep 2

echo
if [ "$DOCKER" = 1 ]; then
	echo "chronyd 4.3 (-x) in stand-in containers, one upstream container; $SCRAPES scrapes each, in turn, each $GAP after its last"
else
	echo "chronyd 4.3 (-x), one loopback source; $SCRAPES scrapes each, in turn, each $GAP after its last"
fi
echo "MiB. RSS = anon + file (VmRSS); PSS likewise, shared pages divided;"
echo "cgroup (DOCKER=1 only): the container's charge, anon + page cache, and the kubelet's working set;"
echo "cpu = mean CPU per scrape so far (ms; 10 ms ticks)"
"$driver" memseries -gap "$GAP" "$SCRAPES" "$STEP" "${targets[@]}" >"$work/series"
grep -v ' touched ' "$work/series" | awk '
	function mb(k) { return k < 0 ? "-" : sprintf("%.1f", k / 1024) }
	!($1 in rows) { names[++m] = $1 }
	{ rows[$1] = rows[$1] sprintf("%-8d | %6s %6s %6s | %6s %6s %6s | %6s %6s %6s %6s | %6.2f\n", $2,
		mb($3), mb($4), mb($5), mb($6), mb($7), mb($8), mb($9), mb($10), mb($11), mb($12), $13 / 1000) }
	END {
		for (i = 1; i <= m; i++) {
			printf "\n%s\n%-8s | %6s %6s %6s | %6s %6s %6s | %6s %6s %6s %6s | %6s\n", names[i], "scrapes",
				"RSS", "anon", "file", "PSS", "anon", "file", "cgroup", "anon", "file", "wset", "cpu"
			printf "%s", rows[names[i]]
		}
	}'
echo
echo "the binary's own pages: resident, and used by the last $STEP scrapes of each (referenced bits cleared before them)"
awk '$2 == "touched" { printf "  %-20s %6d KiB resident, %6d KiB used\n", $1, $3, $4 }' "$work/series"
