# Sourced by test scripts that need a running `rananeeti serve` (log-only, in a fresh data directory):
#
#   . tests/lib/test-server.sh
#   start_test_server LABEL [serve option…]
#
# Builds the debug binary, serves on a free port of 127.0.0.1 and waits until /healthz answers (30 s at most,
# else it shows the server's log and exits 1). Sets `work` (a temporary directory, removed at exit, holding
# the data directory and `server.log`) and `base` (the server's URL); the server is stopped with SIGTERM at
# exit. Run from the repository root.

start_test_server() {
  local label=$1
  shift
  swift build --product rananeeti
  local binary
  binary="$(swift build --show-bin-path)/rananeeti"

  work="$(mktemp -d "${TMPDIR:-/tmp}/rananeeti-$label-XXXXXX")"
  test_server_pid=""
  trap stop_test_server EXIT

  local port
  port="$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()')"
  base="http://127.0.0.1:$port"
  "$binary" serve --listen "127.0.0.1:$port" --data-dir "$work/data" --node-id "$label" "$@" >"$work/server.log" 2>&1 &
  test_server_pid=$!

  if ! python3 - "$base/healthz" <<'PY'
import sys, time, urllib.request
deadline = time.monotonic() + 30
while time.monotonic() < deadline:
    try:
        with urllib.request.urlopen(sys.argv[1], timeout=1) as response:
            if response.status == 200:
                sys.exit(0)
    except OSError:
        time.sleep(0.1)
sys.exit(1)
PY
  then
    echo "error: rananeeti serve did not answer on $base/healthz within 30 s; its log:" >&2
    cat "$work/server.log" >&2
    exit 1
  fi
}

stop_test_server() {
  if [ -n "${test_server_pid:-}" ] && kill -0 "$test_server_pid" 2>/dev/null; then
    kill -TERM "$test_server_pid" 2>/dev/null || true
    wait "$test_server_pid" 2>/dev/null || true
  fi
  rm -rf "$work"
}
