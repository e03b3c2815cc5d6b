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

# The test server. serve WORK DATASET [SERVER-ARGS...]: starts tests/roster/
# server.py on 127.0.0.1 (an ephemeral port) for DATASET, with credentials
# made once in WORK/creds (0600) and exported as CL_CLIENT_ID and
# CL_CLIENT_SECRET; sets PORT and URL. stop_server stops it; so does the
# benchmark's end, however it ends.
server_pid=
stop_server() {
	if [ -n "$server_pid" ]; then
		kill "$server_pid" 2>/dev/null || true
		wait "$server_pid" 2>/dev/null || true
		server_pid=
	fi
}
trap stop_server EXIT
trap 'stop_server; exit 130' INT TERM
serve() {
	sw=$1 sd=$2
	shift 2
	if [ ! -s "$sw/creds" ]; then
		printf 'bench-key:bench-secret-%s\n' "$$" >"$sw/creds"
		chmod 600 "$sw/creds"
	fi
	CL_CLIENT_ID=bench-key CL_CLIENT_SECRET=$(cut -d: -f2- "$sw/creds")
	export CL_CLIENT_ID CL_CLIENT_SECRET
	rm -f "$sw/port"
	"$PY" "$top/tests/roster/server.py" --dataset "$sd" --port-file "$sw/port" \
		--credentials "$sw/creds" "$@" >/dev/null 2>"$sw/server.err" &
	server_pid=$!
	# a million students' dataset takes the server a minute to load
	for _ in $(seq 3000); do
		[ -s "$sw/port" ] && break
		kill -0 "$server_pid" 2>/dev/null || { cat "$sw/server.err" >&2; exit 1; }
		sleep 0.1
	done
	[ -s "$sw/port" ] || { echo "the test server did not start in 300 s" >&2; exit 1; }
	PORT=$(cat "$sw/port")
	URL=http://127.0.0.1:$PORT/ims/oneroster/
}
# control WHAT JSON: POST to the server's control endpoint (faults, dataset, reset)
control() { curl -sf -X POST --data-binary "$2" "http://127.0.0.1:$PORT/_control/$1" >/dev/null; }
