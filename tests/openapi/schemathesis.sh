#!/usr/bin/env bash
# Schemathesis against the served OpenAPI document: builds and starts `rananeeti serve` (log-only, in a fresh
# data directory), then lets schemathesis generate requests for every operation, valid and invalid, and checks
# every answer: no 5xx, status codes, content types, headers and bodies as the document says, invalid input
# refused, valid input accepted.
#
#   tests/openapi/schemathesis.sh                 the bounded run scripts/test does
#   MAX_EXAMPLES=500 tests/openapi/schemathesis.sh   more cases per operation
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

# With an admin token, so that the fault-injection endpoint exists and its authentication is tested too.
token="schemathesis-$RANDOM$RANDOM"
. tests/lib/test-server.sh
start_test_server schemathesis --admin-token "$token"

status=0
# One worker: CPython before 3.11.8 and 3.12.2 can fail ast.parse in concurrent threads ("AST constructor
# recursion depth mismatch", gh-106905), which Hypothesis calls while it generates; Debian 12 has 3.11.2.
# Run from the temporary directory, where schemathesis and Hypothesis leave their files.
root="$(pwd)"
(cd "$work" && SCHEMATHESIS_HOOKS=hooks PYTHONPATH="$root/tests/openapi" "$root/$venv/bin/st" \
  --config-file "$root/tests/openapi/schemathesis.toml" \
  run "$base/api/v1/openapi.json" \
  --checks all \
  --header "Authorization: Bearer $token" \
  --max-examples "${MAX_EXAMPLES:-40}" \
  --seed "${SEED:-20261129}" \
  --workers 1 \
  --request-timeout 10 \
  --max-response-time 5 \
  --no-color) || status=$?
if [ "$status" -ne 0 ]; then
  echo "schemathesis failed (exit $status); the server's log ends:" >&2
  tail -n 40 "$work/server.log" >&2
fi
exit "$status"
