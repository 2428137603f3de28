#!/usr/bin/env bash
# HTTP load benchmark: wrk against a release build of `rananeeti serve` on this machine.
#
#   bench/http/run.sh [--seconds N] [--connections N]
#
# Runs, in one go and against one server:
#   1. POST /api/v1/reservations (a new reservation each time) with PostgreSQL up;
#   2. the same with PostgreSQL stopped (pg_ctl -m immediate);
#   3. GET /api/v1/reservations (a page of 50) while PostgreSQL is still stopped: served by the local projection,
#      at the same connections and at 8, on the operator listener (the book needs staff's sign-in on the public
#      one; the operator listener serves it to whoever reaches it); then GET /api/v1/reservations/DIGEST?token=T
#      (one status through its private link, as its guest opens it: the Location of a POST's answer) the same
#      way, on the public listener.
#   0. first, the framework's ceiling: bench/CeilingServer (a minimal Hummingbird server on the same stack, fixed
#      answers, no work) asked the same POST at the same connections, a page at 8 connections and one status at 64.
# Prints wrk's figures for each and writes them to bench/results/http-<UTC time>.txt, ending with a summary:
# serve's figures as a share of the ceiling's, measured in this run.
set -euo pipefail
cd "$(dirname "$0")/../.."
seconds=20
connections=64
while [ $# -gt 0 ]; do
  case "$1" in
    --seconds) seconds=$2; shift 2 ;;
    --connections) connections=$2; shift 2 ;;
    *) echo "usage: bench/http/run.sh [--seconds N] [--connections N]" >&2; exit 2 ;;
  esac
done

scripts/install-system-packages
command -v wrk >/dev/null || { apt-get install -y -qq wrk >/dev/null; }
export LC_ALL=C.UTF-8
swift build -c release --product rananeeti >/dev/null
swift build -c release --product CeilingServer >/dev/null
bin="$PWD/.build/release/rananeeti"

work=$(mktemp -d /tmp/rananeeti-http-bench-XXXXXX)
eval "$(scripts/private-postgres start)"
server_pid=""
ceiling_pid=""
cleanup() {
  [ -n "$server_pid" ] && kill "$server_pid" 2>/dev/null && wait "$server_pid" 2>/dev/null || true
  [ -n "$ceiling_pid" ] && kill "$ceiling_pid" 2>/dev/null && wait "$ceiling_pid" 2>/dev/null || true
  scripts/private-postgres stop "$PRIVATE_PG_DIR"
  rm -rf "$work"
}
trap cleanup EXIT
"$bin" db migrate --database "$PRIVATE_PG_URL" >/dev/null

port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()')
RANANEETI_LOG_LEVEL=warning "$bin" serve --listen "127.0.0.1:$port" --operator-listen 127.0.0.1:0 \
  --data-dir "$work/log" --node-id bench --database "$PRIVATE_PG_URL" >"$work/serve.log" 2>&1 &
server_pid=$!
# Ready once the public listener answers and serve has written where its operator listener is.
for _ in $(seq 1 100); do
  curl -sf "http://127.0.0.1:$port/readyz" >/dev/null && [ -s "$work/log/operator-listen" ] && break
  sleep 0.1
done
url="http://127.0.0.1:$port"
operator="http://$(cat "$work/log/operator-listen")"

stamp=$(date -u +%Y-%m-%dT%H%M%SZ)
out="bench/results/http-$stamp.txt"
mkdir -p bench/results
# measure NAME WRK-ARGS…: runs wrk, keeps its output for the summary, prints it.
measure() {
  local name=$1; shift
  wrk "$@" | tee "$work/wrk-$name.txt"
}
requests_per_second() { awk '/^Requests\/sec/ { print $2 }' "$work/wrk-$1.txt"; }
# wrk --latency prints "99%  5.21ms" (or us, s): in milliseconds.
p99_ms() {
  awk '$1 == "99%" { v = $2; if (v ~ /us$/) { sub(/us$/, "", v); v /= 1000 } else if (v ~ /ms$/) { sub(/ms$/, "", v) } else if (v ~ /s$/) { sub(/s$/, "", v); v *= 1000 }; printf "%.2f", v }' "$work/wrk-$1.txt"
}
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.0f %%", 100 * a / b }'; }
{
  echo "# bench/http/run.sh --seconds $seconds --connections $connections ($stamp, $(nproc) cores)"
  ceiling_port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()')
  .build/release/CeilingServer "$ceiling_port" >"$work/ceiling.log" 2>&1 &
  ceiling_pid=$!
  for _ in $(seq 1 100); do curl -sf "http://127.0.0.1:$ceiling_port/api/v1/reservations/x" >/dev/null && break; sleep 0.1; done
  ceiling="http://127.0.0.1:$ceiling_port"
  echo "## ceiling: POST /api/v1/reservations (CeilingServer: the same stack, a fixed 201)"
  measure ceiling-post -t2 -c"$connections" -d"${seconds}s" --latency -s bench/http/post.lua "$ceiling"
  echo "## ceiling: GET a fixed page of 50, 8 connections"
  measure ceiling-page -t2 -c8 -d"${seconds}s" --latency "$ceiling/api/v1/reservations"
  echo "## ceiling: GET a fixed reservation, $connections connections"
  measure ceiling-status -t2 -c"$connections" -d"${seconds}s" --latency "$ceiling/api/v1/reservations/x"
  kill "$ceiling_pid"; wait "$ceiling_pid" 2>/dev/null || true; ceiling_pid=""

  echo "## warm-up"
  wrk -t2 -c"$connections" -d3s -s bench/http/post.lua "$url" | grep -E "Requests/sec"
  echo "## POST /api/v1/reservations, PostgreSQL up"
  measure post-up -t2 -c"$connections" -d"${seconds}s" --latency -s bench/http/post.lua "$url"
  lag=$(curl -s "$operator/readyz" | python3 -c 'import json,sys; print(json.load(sys.stdin)["projection"]["lagEvents"])')
  echo "projection lag right after the run: $lag events"
  echo "## POST /api/v1/reservations, PostgreSQL stopped"
  if [ "$(id -u)" -eq 0 ]; then runuser -u postgres -- /usr/lib/postgresql/15/bin/pg_ctl -D "$PRIVATE_PG_DIR/data" -m immediate stop >/dev/null
  else /usr/lib/postgresql/15/bin/pg_ctl -D "$PRIVATE_PG_DIR/data" -m immediate stop >/dev/null; fi
  measure post-down -t2 -c"$connections" -d"${seconds}s" --latency -s bench/http/post.lua "$url"
  list="$operator/api/v1/reservations?from=2027-03-01T00:00&to=2027-03-08T00:00&limit=50"
  echo "## GET /api/v1/reservations (a page of 50; local projection; PostgreSQL still stopped; on the operator listener)"
  measure page-many -t2 -c"$connections" -d"${seconds}s" --latency "$list"
  echo "## the same page, 8 connections (the time one read takes, with less queueing)"
  measure page -t2 -c8 -d"${seconds}s" --latency "$list"
  # One status through its private link: the Location of the answer to a POST (a reservation of the same kind
  # as the load's, taken now, while PostgreSQL is still stopped).
  status_path=$(curl -s -o /dev/null -w '%header{location}' -H 'Content-Type: application/json' \
    -d '{"name": "Guest status", "people": 2, "datetime": "2027-03-03T20:00", "notes": "the status read"}' \
    "$url/api/v1/reservations")
  case "$status_path" in
    /api/v1/reservations/*\?token=*) ;;
    *) echo "error: POST /api/v1/reservations answered Location '$status_path', not a private link" >&2; exit 1 ;;
  esac
  echo "## GET /api/v1/reservations/DIGEST?token=T (one reservation's status through its private link; local projection)"
  measure status -t2 -c"$connections" -d"${seconds}s" --latency "$url$status_path"
  echo "## records in the log"
  "$bin" log stats "$work/log" | head -3
  echo "## summary (serve as a share of the ceiling measured above)"
  echo "durable POST, PostgreSQL up, $connections connections: $(requests_per_second post-up)/s = $(ratio "$(requests_per_second post-up)" "$(requests_per_second ceiling-post)") of the ceiling's $(requests_per_second ceiling-post)/s; p99 $(p99_ms post-up) ms (ceiling $(p99_ms ceiling-post) ms)"
  echo "durable POST, PostgreSQL stopped: $(requests_per_second post-down)/s = $(ratio "$(requests_per_second post-down)" "$(requests_per_second ceiling-post)") of the ceiling"
  echo "local page of 50 (operator listener), 8 connections: $(requests_per_second page) pages/s = $(ratio "$(requests_per_second page)" "$(requests_per_second ceiling-page)") of the ceiling's fixed page ($(requests_per_second ceiling-page)/s); p99 $(p99_ms page) ms"
  echo "one status (private link), $connections connections: $(requests_per_second status)/s = $(ratio "$(requests_per_second status)" "$(requests_per_second ceiling-status)") of the ceiling; p99 $(p99_ms status) ms"
} | tee "$out"
echo "figures written to $out"
