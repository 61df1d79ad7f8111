#!/usr/bin/env bash
# exporter-parity.sh: `entrypoint run`'s /metrics and SuperQ/chrony_exporter's, scraped from the
# same synchronised chronyd (-x, one loopback upstream), once per chrony release: metric names,
# HELP texts, TYPEs and series (name and labels, not values) of every chrony_* family compared.
# The families chrony_exporter lacks (our supervisor's own) are listed, not counted as
# differences; anything else that differs is, and makes the script exit 1.
#
# chrony_exporter is taken from $CHRONY_EXPORTER, built outside the repository (its code is
# never committed here), for example:
#   git clone https://github.com/SuperQ/chrony_exporter /tmp/ce && (cd /tmp/ce && go build -o chrony_exporter .)
#   CHRONY_EXPORTER=/tmp/ce/chrony_exporter bench/exporter-parity.sh
# It runs with the collectors the README promises parity with: tracking, sources with ntpdata,
# sourcestats, serverstats, clients (when the binary has it), no DNS lookups.
# Env: CHRONY_VERSIONS (default "4.3 4.6.1 4.9", each fetched by scripts/fetch-chrony.sh).
# Run as root: the entrypoint and chrony_exporter run as nobody, as in the image.
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$PWD
# shellcheck source=bench/lib.sh
. bench/lib.sh
ce=${CHRONY_EXPORTER:?set CHRONY_EXPORTER to a chrony_exporter binary built outside the repository}
bench_need chrony_exporter "$ce"
read -r -a versions <<<"${CHRONY_VERSIONS:-4.3 4.6.1 4.9}"
bench_workdir parity

bench_build_entrypoint "$work/entrypoint"
go build -o "$work/driver" ./bench/driver
entry=$work/entrypoint
driver=$work/driver
cp "$ce" "$work/chrony_exporter"
echo "chrony_exporter: $("$work/chrony_exporter" --version 2>&1 | head -1)"
if [ "$(id -u)" = 0 ]; then
	cuser=nobody
	as=("$driver" as "$(id -u nobody)" "$(id -g nobody)")
else
	cuser=$(id -un)
	as=()
fi

# series FILE: "name{labels}" of each chrony_* sample, HELP and TYPE lines, sorted; not
# chrony_exporter's own build info.
series() {
	grep -E '^(# (HELP|TYPE) )?chrony_' "$1" | grep -Ev '^(# (HELP|TYPE) )?chrony_exporter_' |
		sed -E '/^#/!s/ [^ ]+$//' | sort
}

# chrony_exporter 0.14 has a clients collector; older ones do not (then ours is listed as ours only).
clients=()
"$work/chrony_exporter" --help 2>&1 | grep -q -- '--\[no-\]collector.clients' && clients=(--collector.clients)

failed=0
for v in "${versions[@]}"; do
	chronyd=$(scripts/fetch-chrony.sh "$v" 2>/dev/null)
	dir=$work/$v
	mkdir -m 1777 "$dir" "$dir/run"
	top=$work
	work=$dir # bench_upstream makes its directory in $work
	bench_upstream "$("$driver" freeport udp)"
	work=$top
	mkdir "$dir/state" "$dir/conf.d"
	[ "$(id -u)" = 0 ] && chown nobody "$dir/state"
	httpport=$("$driver" freeport tcp)
	ceport=$("$driver" freeport tcp)
	(
		export CHRONYD="$chronyd" CHRONY_USER="$cuser" CHRONY_CONF="$dir/chrony.conf" \
			CHRONY_CONF_DIR="$dir/conf.d" STATE_DIR="$dir/state" RUN_DIR="$dir/run" \
			CLOCK_CONTROL=off NTP_PORT="$("$driver" freeport udp)" ALLOW=127.0.0.1 \
			HTTP_ADDR="127.0.0.1:$httpport" LOG_FORMAT=json \
			NTP_SERVERS="127.0.0.1 port $upport iburst minpoll -2 maxpoll 0"
		exec "${as[@]}" "$entry" run >"$dir/entrypoint.log" 2>&1
	) &
	ourpid=$!
	pids+=("$ourpid")
	for i in $(seq 1 100); do
		RUN_DIR="$dir/run" CHRONY_USER="$cuser" "${as[@]}" "$entry" probe ready >/dev/null 2>&1 && break
		[ "$i" = 100 ] && { echo "chronyd $v not ready within 20s:"; cat "$dir/entrypoint.log"; exit 1; } >&2
		sleep 0.2
	done
	"${as[@]}" "$work/chrony_exporter" --chrony.address="unix://$dir/run/chronyd/chronyd.sock" \
		--collector.tracking --collector.sources --collector.sources.with-ntpdata \
		--collector.sourcestats --collector.serverstats --no-collector.dns-lookups "${clients[@]}" \
		--web.listen-address="127.0.0.1:$ceport" 2>"$dir/ce.log" &
	cepid=$!
	pids+=("$cepid")
	for i in $(seq 1 50); do
		curl -fs "http://127.0.0.1:$ceport/metrics" -o "$dir/theirs.prom" && break
		[ "$i" = 50 ] && { echo "chrony_exporter did not start:"; cat "$dir/ce.log"; exit 1; } >&2
		sleep 0.1
	done
	# Both after sourcestats has a few samples, one right after the other.
	sleep 2
	curl -fs "http://127.0.0.1:$httpport/metrics" -o "$dir/ours.prom"
	curl -fs "http://127.0.0.1:$ceport/metrics" -o "$dir/theirs.prom"
	series "$dir/ours.prom" >"$dir/ours"
	series "$dir/theirs.prom" >"$dir/theirs"
	fams() { grep '^# TYPE ' "$1" | cut -d' ' -f3 | sort -u; }
	# Families only we export: our own additions (the supervisor's facts), listed.
	ownfams=$(comm -23 <(fams "$dir/ours") <(fams "$dir/theirs") | tr '\n' ' ')
	ownre=$(comm -23 <(fams "$dir/ours") <(fams "$dir/theirs") | sed 's/.*/^(# (HELP|TYPE) )?&(_bucket|_count|_sum)?([ {]|$)/' | paste -sd'|')
	ours=$dir/ours
	if [ -n "$ownre" ]; then
		grep -Ev "$ownre" "$dir/ours" >"$dir/ours.shared" || true
		ours=$dir/ours.shared
	fi
	echo
	echo "== chrony $(cat ".cache/chrony/$v/VERSION"): $(fams "$dir/theirs" | wc -l) chrony_exporter families, $(grep -vc '^#' "$dir/theirs") series"
	echo "families only in ours (not compared): ${ownfams:-none}"
	if diff -u --label "chrony_exporter" --label "entrypoint" "$dir/theirs" "$ours" >"$dir/diff"; then
		echo "names, HELP, TYPE and series: identical"
	else
		echo "DIFFERENT (- chrony_exporter, + entrypoint):"
		grep -E '^[-+][^-+]' "$dir/diff"
		failed=1
	fi
	kill -TERM "$cepid" "$ourpid" 2>/dev/null || true
	wait "$cepid" "$ourpid" 2>/dev/null || true
done
exit $failed
