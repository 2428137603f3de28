#!/usr/bin/env bash
# The browser test: a real, headless Chromium signs in on the local OpenID provider, books a table on a running
# `rananeeti serve` (a fresh data directory, a private PostgreSQL), finds it under My reservations, cancels it
# and signs out; a stranger sees nothing of anyone's; staff see the book. Then the same with PostgreSQL
# stopped. Screenshots of the home page (desktop and phone width), the sign-in page, the status page, My
# reservations, a cancelled booking and the book.
#
#   tests/browser/run.sh                        build, serve on a free port, drive the browser, stop; the
#                                               screenshots go to a temporary directory, removed afterwards
#   tests/browser/run.sh --update-screenshots   write them into docs/screenshots/ (the README shows them)
#   SCREENSHOTS=DIR tests/browser/run.sh        write them into DIR and keep them
#
# Installs Debian's chromium (and fonts for the screenshots) when missing: root or sudo. Runs headless with
# --no-sandbox, so it works as root in CI. Exits non-zero when anything fails.
set -euo pipefail
cd "$(dirname "$0")/../.."

# The same environment as scripts/test, so that SwiftPM does not rebuild between them.
export LC_ALL=C.UTF-8

run_as_root() {
  if [ "$(id -u)" -eq 0 ]; then "$@"; elif command -v sudo >/dev/null; then sudo "$@"; else
    echo "error: installing $* needs root; run this as root or install chromium yourself." >&2
    exit 1
  fi
}
missing=()
for package in chromium fonts-dejavu-core fonts-noto-color-emoji; do
  dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" || missing+=("$package")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "Installing Debian packages: ${missing[*]}" >&2
  export DEBIAN_FRONTEND=noninteractive
  run_as_root apt-get update -qq
  run_as_root apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# A private PostgreSQL, so that the journey runs with the database answering and again with it stopped.
eval "$(scripts/private-postgres start)"
stop_database() { scripts/private-postgres stop "$PRIVATE_PG_DIR"; }
swift build --product rananeeti
"$(swift build --show-bin-path)/rananeeti" db migrate --database "$PRIVATE_PG_URL" >/dev/null

# Guests sign in with the local OpenID provider (its demo users), as on the old site.
. tests/lib/test-server.sh
export TEST_SERVER_SIGN_IN=1
start_test_server browser-test --database "$PRIVATE_PG_URL"
trap 'stop_test_server; stop_database' EXIT

# A test run leaves the working tree as it found it: screenshots go under the server's temporary directory
# (removed at exit) unless asked for.
screenshots=${SCREENSHOTS:-$work/screenshots}
if [ "${1:-}" = --update-screenshots ]; then screenshots=docs/screenshots; fi

status=0
drive() { python3 tests/browser/drive.py --base "$base" --screenshots "$screenshots" --users tests/oidc/demo-users.json "$@"; }
drive --phase database-up || status=$?
if [ "$status" -eq 0 ]; then
  scripts/private-postgres stop-immediate "$PRIVATE_PG_DIR"
  drive --phase database-down || status=$?
fi
if [ "$status" -ne 0 ]; then
  echo "== rananeeti serve log" >&2
  cat "$work/server.log" >&2
  echo "== the OpenID provider's log" >&2
  cat "$work/oidc/oidc.log" >&2
fi
exit "$status"
