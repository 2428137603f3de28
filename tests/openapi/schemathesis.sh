#!/usr/bin/env bash
# Schemathesis against the served OpenAPI document (what the public listener serves; the operator listener's
# endpoints are left out): builds and starts `rananeeti serve` (log-only, in a fresh
# data directory), then lets schemathesis generate requests for every operation, valid and invalid, and checks
# every answer: no 5xx, status codes, content types, headers and bodies as the document says, invalid input
# refused, valid input accepted. Twice: without credentials on a node where nobody signs in, and with a staff
# member's bearer token on a node where guests sign in with the local OpenID provider.
#
#   tests/openapi/schemathesis.sh                 the bounded run scripts/test does
#   MAX_EXAMPLES=500 tests/openapi/schemathesis.sh   more cases per operation (MAX_EXAMPLES_SIGNED_IN: the second run)
#   SEED=123 tests/openapi/schemathesis.sh        another seed (the default one is fixed, for a stable CI)
#
# Schemathesis comes from PyPI, pinned in tests/openapi/requirements.txt, into a virtual environment under
# .build-openapi-venv/ (made on first use). Exits non-zero when any check fails.
set -euo pipefail
cd "$(dirname "$0")/../.."

# The same environment as scripts/test, so that SwiftPM does not rebuild between them.
export LC_ALL=C.UTF-8

venv=.build-openapi-venv
if ! "$venv/bin/st" --version 2>/dev/null | grep -qF "$(sed -n 's/^schemathesis==//p' tests/openapi/requirements.txt)"; then
  echo "Installing schemathesis into $venv" >&2
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check -r tests/openapi/requirements.txt
fi

. tests/lib/test-server.sh
root="$(pwd)"

# run_schemathesis LABEL [schemathesis option…]: one run against the node at $base.
run_schemathesis() {
  local label=$1
  shift
  local status=0
  echo "== schemathesis: $label"
  # One worker: CPython before 3.11.8 and 3.12.2 can fail ast.parse in concurrent threads ("AST constructor
  # recursion depth mismatch", gh-106905), which Hypothesis calls while it generates; Debian 12 has 3.11.2.
  # Run from the temporary directory, where schemathesis and Hypothesis leave their files.
  (cd "$work" && SCHEMATHESIS_HOOKS=hooks PYTHONPATH="$root/tests/openapi" "$root/$venv/bin/st" \
    --config-file "$root/tests/openapi/schemathesis.toml" \
    run "$base/api/v1/openapi.json" \
    --checks all \
    --seed "${SEED:-20261129}" \
    --workers 1 \
    --request-timeout 10 \
    --max-response-time 5 \
    --exclude-tag operator-listener \
    --no-color "$@") || status=$?
  if [ "$status" -ne 0 ]; then
    echo "schemathesis ($label) failed (exit $status); the server's log ends:" >&2
    tail -n 40 "$work/server.log" >&2
  fi
  return "$status"
}

status=0
# Without credentials, on a node where nobody signs in: what a stranger may do, and every refusal.
# (The sign-in pages exist only where a provider is configured.)
(start_test_server schemathesis && run_schemathesis "no credentials" --max-examples "${MAX_EXAMPLES:-40}" \
  --exclude-tag sign-in) || status=$?

# With credentials: a node where guests sign in with the local provider, and a staff member's bearer token
# (minted by the provider's test controls, as a sign-in would give it), so that the book and every
# signed-in operation are exercised too.
(
  export TEST_SERVER_SIGN_IN=1 TEST_SERVER_PROVIDER_CONTROLS=1
  start_test_server schemathesis-signed-in
  staff_token=$(curl -fsS -X POST -H 'Content-Type: application/json' -d '{"username": "staff"}' \
    "$oidc_issuer/control/tokens" | python3 -c 'import json, sys; print(json.load(sys.stdin)["access_token"])')
  # The token goes with every request, so whether made-up credentials are refused (ignored_auth) is the first
  # run's to check: here one valid alternative always authenticates.
  run_schemathesis "a staff member's bearer token" --max-examples "${MAX_EXAMPLES_SIGNED_IN:-20}" \
    --header "Authorization: Bearer $staff_token" --exclude-checks ignored_auth
) || status=$?
exit "$status"
