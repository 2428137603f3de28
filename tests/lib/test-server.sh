# Sourced by test scripts that need a running `rananeeti serve` (in a fresh data directory):
#
#   . tests/lib/test-server.sh
#   start_test_server LABEL [serve option…]
#
# Builds the debug binary, serves on a free port of 127.0.0.1 (the operator listener on another), and waits
# until /healthz answers (30 s at most, else it shows the server's log and exits 1). Sets `work` (a temporary
# directory, removed at exit, holding the data directory and `server.log`), `base` (the site's URL) and
# `operator_base` (the operator listener's URL: /metrics, /readyz details, /admin/*, the whole book). The
# server is stopped with SIGTERM at exit. Run from the repository root.
#
# With TEST_SERVER_SIGN_IN=1 guests sign in: the local OpenID provider (tests/lib/oidc-provider.sh) runs beside
# it, with its test controls when TEST_SERVER_PROVIDER_CONTROLS=1; `oidc_issuer` names it.

. "$(dirname "${BASH_SOURCE[0]}")/oidc-provider.sh"

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
  local sign_in=()
  if [ "${TEST_SERVER_SIGN_IN:-}" = 1 ]; then
    local controls=()
    [ "${TEST_SERVER_PROVIDER_CONTROLS:-}" = 1 ] && controls=(--test-controls)
    start_oidc_provider "$work/oidc" "$base/signin/callback" "${controls[@]}"
    sign_in=("${oidc_serve_options[@]}")
  fi
  "$binary" serve --listen "127.0.0.1:$port" --operator-listen 127.0.0.1:0 --data-dir "$work/data" \
    --node-id "$label" "${sign_in[@]}" "$@" >"$work/server.log" 2>&1 &
  test_server_pid=$!

  if ! python3 - "$base/healthz" "$work/data/operator-listen" <<'PY'
import os, sys, time, urllib.request
deadline = time.monotonic() + 30
while time.monotonic() < deadline:
    try:
        with urllib.request.urlopen(sys.argv[1], timeout=1) as response:
            if response.status == 200 and os.path.exists(sys.argv[2]):
                sys.exit(0)
    except OSError:
        pass
    time.sleep(0.1)
sys.exit(1)
PY
  then
    echo "error: rananeeti serve did not answer on $base/healthz within 30 s; its log:" >&2
    cat "$work/server.log" >&2
    exit 1
  fi
  operator_base="http://$(cat "$work/data/operator-listen")"
}

stop_test_server() {
  if [ -n "${test_server_pid:-}" ] && kill -0 "$test_server_pid" 2>/dev/null; then
    kill -TERM "$test_server_pid" 2>/dev/null || true
    wait "$test_server_pid" 2>/dev/null || true
  fi
  stop_oidc_provider
  rm -rf "$work"
}
