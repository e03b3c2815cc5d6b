# shellcheck shell=bash
# tests/sync/lib.sh: shared by the cl-sync script tests (sourced, not run).
#
# Each test gets CL_TMP (its scratch folder) and CL_TOP from tests/run. These
# helpers generate a small district with tests/roster/gen.py, serve it with
# tests/roster/server.py on 127.0.0.1 (stopped on exit), and write an
# integration config for it.
set -euo pipefail
shopt -s lastpipe # expect and ok at the end of a pipeline count their failures
umask 077

: "${CL_TMP:?run me from tests/run}" "${CL_TOP:?run me from tests/run}"
T=$CL_TMP
PY=/usr/bin/python3
GEN=$CL_TOP/tests/roster/gen.py
export CL_SYNC_HOME=$T/etc CL_SYNC_STATE=$T/var
# cl-sync uses the catalog in the checkout.
export CL_SYNC_ERRORS=$CL_TOP/docs/errors.md
SECRET=sync-test-secret-$$-Zq8r1Lx
CLIENT_ID=sync-test-client

fails=0
fail() { # MESSAGE: a failed check (the test goes on, and fails at the end)
	printf 'FAIL: %s\n' "$*" >&2
	fails=$((fails + 1))
}
ok() { # COMMAND... -- MESSAGE: fails the test with MESSAGE unless COMMAND succeeds
	local msg=${*: -1}
	if "${@:1:$#-2}"; then :; else fail "$msg"; fi
}
eq() { # GOT WANT MESSAGE
	[[ $1 == "$2" ]] || fail "$3: got '$1', want '$2'"
}
done_() { # ends a test
	if ((fails)); then
		printf '%d check(s) failed\n' "$fails" >&2
		exit 1
	fi
	exit 0
}

server_pid=
stop_server() {
	if [[ -n $server_pid ]]; then
		kill "$server_pid" 2>/dev/null || true
		wait "$server_pid" 2>/dev/null || true
		server_pid=
	fi
}
trap stop_server EXIT

district() { # DIR SEED STUDENTS [exact]: generate a district (a third the size under valgrind)
	local n=$3
	[[ ${CL_VALGRIND:-} == 1 && ${4:-} != exact ]] && n=$(((n + 2) / 3))
	"$PY" "$GEN" district --seed "$2" --students "$n" --out "$1" 2>/dev/null
}

mutate() { # DIR OUT SEED [ARGS...]: the next night
	local d=$1 o=$2 s=$3
	shift 3
	"$PY" "$GEN" mutate "$d" --out "$o" --seed "$s" --quiet "$@" >/dev/null
}

start_server() { # DATASET-DIR [SERVER-ARGS...]: serve it; sets PORT and URL
	local d=$1 i
	shift
	printf '%s:%s\n' "$CLIENT_ID" "$SECRET" >"$T/server-creds"
	rm -f "$T/port"
	"$PY" "$CL_TOP/tests/roster/server.py" --dataset "$d" --credentials "$T/server-creds" \
		--port-file "$T/port" --log "$T/requests.log" "$@" >/dev/null 2>"$T/server.err" &
	server_pid=$!
	for ((i = 0; i < 100; i++)); do
		[[ -s $T/port ]] && break
		sleep 0.05
	done
	[[ -s $T/port ]] || {
		cat "$T/server.err" >&2
		echo "test server did not start" >&2
		exit 1
	}
	PORT=$(cat "$T/port")
	URL=http://127.0.0.1:$PORT/ims/oneroster/
}

control() { # WHAT JSON: POST to the test server's control endpoint
	curl -fsS -X POST --data "$2" "http://127.0.0.1:$PORT/_control/$1" >/dev/null
}

serve() { # DATASET-DIR: the server serves this dataset from now on
	control dataset "{\"dir\": \"$1\"}"
}

faults() { # JSON-LIST: the server's faults from now on
	control faults "{\"faults\": $1}"
}

write_config() { # NAME DATASET-DIR [EXTRA-LINES]: an integration for the test server
	local name=$1 d=$2
	mkdir -p "$T/etc"
	printf '%s\n' "$SECRET" >"$T/etc/$name.secret"
	chmod 600 "$T/etc/$name.secret"
	cat >"$T/etc/$name.conf" <<EOF
name = $name
sis = other
endpoint = $URL
client_id = $CLIENT_ID
secret_file = $name.secret
users_export = $d/sm-users.csv
region = us
state_dir = $T/var/$name
fetch_retries = 1
${3:-}
EOF
}

runs_of() { # NAME: the run folders, oldest first
	local r
	for r in "$T/var/$1/runs"/*/; do printf '%s\n' "${r%/}"; done | LC_ALL=C sort
}

last_run_of() { # NAME
	runs_of "$1" | tail -n 1
}

changes() { # RUN-FOLDER: the number of change lines
	grep -c '"kind":"change"' "$1/changes.ndjson" || true
}

ops() { # RUN-FOLDER OP: the number of changes with that op
	grep -c "\"op\":\"$2\"" "$1/changes.ndjson" || true
}
