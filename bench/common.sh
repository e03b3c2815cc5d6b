# bench/common.sh: sourced by bench/bench-*. Generated districts are cached
# in build/bench/ so the benchmarks of one `make bench` share them.
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
B=${B:-build}
case $B in /*) ;; *) B=$top/$B ;; esac
export PATH=$B/bin:$B/tests:$PATH
export LC_ALL=C.UTF-8
PY=/usr/bin/python3
GEN=$top/tests/roster/gen.py
BENCH=$top/build/bench
mkdir -p "$BENCH"

# district N: generates (once) a district of N students; prints its folder.
district() {
	d=$BENCH/district-$1
	if [ ! -f "$d/.done" ]; then
		rm -rf "$d"
		# the generator's truth of a million students does not fit in 24 GB: no benchmark reads it
		notruth=
		[ "$1" -le 200000 ] || notruth=--no-truth
		"$PY" "$GEN" district --seed 42 --students "$1" --out "$d" $notruth >&2
		touch "$d/.done"
	fi
	echo "$d"
}

# stream N: the roster stream cl-fetch would write for district N; prints its path.
stream() {
	d=$(district "$1")
	if [ ! -s "$d/stream.ndjson" ]; then
		"$PY" "$GEN" stream "$d" >"$d/stream.ndjson.tmp"
		mv "$d/stream.ndjson.tmp" "$d/stream.ndjson"
	fi
	echo "$d/stream.ndjson"
}

# measure NAME CMD...: runs CMD once with stdout to /dev/null; sets SECS and KB (peak RSS).
measure() {
	name=$1
	shift
	/usr/bin/time -f '%e %M' -o "$BENCH/.time" "$@" >/dev/null
	read -r SECS KB <"$BENCH/.time"
	printf '  %-40s %8.2f s %8d KB peak\n' "$name" "$SECS" "$KB"
}

# ratio A B: A/B with two decimals.
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.1f", (b > 0 ? a / b : 0) }'; }
