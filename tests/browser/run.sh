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

swift build --product rananeeti
binary="$(swift build --show-bin-path)/rananeeti"

work="$(mktemp -d "${TMPDIR:-/tmp}/rananeeti-browser-XXXXXX")"
server_pid=""
cleanup() {
  if [ -n "$server_pid" ] && kill -0 "$server_pid" 2>/dev/null; then
    kill -TERM "$server_pid" 2>/dev/null || true
    wait "$server_pid" 2>/dev/null || true
  fi
  rm -rf "$work"
}
trap cleanup EXIT

port="$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()')"
base="http://127.0.0.1:$port"
"$binary" serve --listen "127.0.0.1:$port" --data-dir "$work/data" --node-id browser-test >"$work/server.log" 2>&1 &
server_pid=$!

# Ready when /healthz answers; give up after 30 s and show the server's log.
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

status=0
python3 tests/browser/drive.py --base "$base" --screenshots "${SCREENSHOTS:-docs/screenshots}" || status=$?
if [ "$status" -ne 0 ]; then
  echo "== rananeeti serve log" >&2
  cat "$work/server.log" >&2
fi
exit "$status"
