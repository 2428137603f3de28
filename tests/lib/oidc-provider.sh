# Sourced by scripts that need the local OpenID Connect provider (tests/oidc/provider.py) beside a node:
#
#   . tests/lib/oidc-provider.sh
#   start_oidc_provider DIR REDIRECT_URL [--test-controls]
#
# Starts it on a free port of 127.0.0.1 with the demo users of tests/oidc/demo-users.json (a guest, and a
# staff member in group "staff"), waits until its discovery document answers (30 s at most), and sets:
#   oidc_issuer        its issuer URL
#   oidc_client_id     the client id the node must use
#   oidc_secret_file   a file (mode 0600) holding the client secret
#   oidc_serve_options the `rananeeti serve` options that sign guests in with it (staff: groups=staff)
# stop_oidc_provider stops it. --test-controls adds the endpoints tests use to mint tokens (never for a demo).
# Needs tests/oidc/setup.sh to have made .build-oidc-venv (scripts/install-system-packages does).

start_oidc_provider() {
  local dir=$1 redirect=$2
  shift 2
  local root
  root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
  mkdir -p "$dir"
  oidc_client_id=rananeeti-site
  oidc_secret_file="$dir/client-secret"
  (umask 077 && od -An -N16 -tx1 /dev/urandom | tr -d ' \n' >"$oidc_secret_file")
  rm -f "$dir/oidc-port"
  "$root/.build-oidc-venv/bin/python" "$root/tests/oidc/provider.py" --port-file "$dir/oidc-port" \
    --client-id "$oidc_client_id" --client-secret-file "$oidc_secret_file" --redirect-uri "$redirect" \
    --users "$root/tests/oidc/demo-users.json" "$@" >"$dir/oidc.log" 2>&1 &
  oidc_pid=$!
  local waited=0
  while [ ! -s "$dir/oidc-port" ]; do
    if ! kill -0 "$oidc_pid" 2>/dev/null || [ "$waited" -ge 300 ]; then
      echo "error: the local OpenID provider did not start; its log:" >&2
      cat "$dir/oidc.log" >&2
      return 1
    fi
    sleep 0.1
    waited=$((waited + 1))
  done
  oidc_issuer="http://127.0.0.1:$(cat "$dir/oidc-port")"
  oidc_serve_options=(--oidc-issuer "$oidc_issuer" --oidc-client-id "$oidc_client_id"
    --oidc-client-secret-file "$oidc_secret_file" --oidc-redirect-url "$redirect" --staff-claim groups=staff)
}

stop_oidc_provider() {
  if [ -n "${oidc_pid:-}" ]; then
    kill "$oidc_pid" 2>/dev/null || true
    wait "$oidc_pid" 2>/dev/null || true
    oidc_pid=""
  fi
}
