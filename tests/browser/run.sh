#!/usr/bin/env bash
# The browser test: a real, headless Chromium books a table on a running `rananeeti serve` (log-only, in a
# fresh data directory), reads the status page it lands on, and takes screenshots of the home page (desktop
# and phone width), the status page and the list into docs/screenshots/.
#
#   tests/browser/run.sh                    build, serve on a free port, drive the browser, stop
#   SCREENSHOTS=DIR tests/browser/run.sh    write the screenshots elsewhere
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

. tests/lib/test-server.sh
start_test_server browser-test

status=0
python3 tests/browser/drive.py --base "$base" --screenshots "${SCREENSHOTS:-docs/screenshots}" || status=$?
if [ "$status" -ne 0 ]; then
  echo "== rananeeti serve log" >&2
  cat "$work/server.log" >&2
fi
exit "$status"
