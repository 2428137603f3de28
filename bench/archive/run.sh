#!/usr/bin/env bash
# The archive round trip against a local S3-compatible server (moto) and a private PostgreSQL:
#   a log of EVENTS reservations (`log append`, segments of SEGMENT_BYTES), projected (`replay`), a snapshot
#   written by one `serve` start and clean stop; then, timed:
#   1. `log archive --retain-local 1segments`: every sealed segment uploaded and read back, all but the last
#      sealed one removed from the disk;
#   2. `log verify DIR --archive`: the whole history across the archive and the disk;
#   3. `log restore OUT --from X --through X`: one removed segment back, verified; `lz4 -dc` reads it;
#   4. `log verify DIR --archive` again.
# Writes bench/results/archive-STAMP.json and prints a summary.
#
#   bench/archive/run.sh                       # EVENTS=200000 SEGMENT_BYTES=1048576
#   EVENTS=1000000 bench/archive/run.sh
#   RANANEETI=.build/release/rananeeti bench/archive/run.sh
#
# Needs: scripts/install-system-packages (the AWS CLI and moto in .build-archive-venv/, PostgreSQL 15, lz4).
set -euo pipefail
export LC_ALL=C.UTF-8
root=$(cd "$(dirname "$0")/../.." && pwd)
cd "$root"
EVENTS=${EVENTS:-200000}
SEGMENT_BYTES=${SEGMENT_BYTES:-1048576}
bin=${RANANEETI:-}
if [ -z "$bin" ]; then
  if [ -x .build/release/rananeeti ]; then bin=.build/release/rananeeti; else bin=.build/debug/rananeeti; fi
fi
[ -x "$bin" ] || { echo "error: no $bin; build first (swift build -c release --product rananeeti)" >&2; exit 1; }
venv=$root/.build-archive-venv
[ -x "$venv/bin/aws" ] || { echo "error: no AWS CLI in $venv; run scripts/install-system-packages" >&2; exit 1; }
export AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing AWS_DEFAULT_REGION=us-east-1 \
  AWS_CONFIG_FILE=/dev/null AWS_SHARED_CREDENTIALS_FILE=/dev/null

work=$(mktemp -d /tmp/rananeeti-archive-bench-XXXXXX)
moto_pid=""
serve_pid=""
cleanup() {
  if [ -n "$serve_pid" ]; then kill -KILL "$serve_pid" 2>/dev/null || true; fi
  if [ -n "$moto_pid" ]; then kill -KILL "$moto_pid" 2>/dev/null || true; fi
  if [ -n "${PRIVATE_PG_DIR:-}" ]; then scripts/private-postgres stop "$PRIVATE_PG_DIR"; fi
  rm -rf "$work"
}
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'; }
now() { date +%s.%N; }
# Waits (at most $2 seconds) until the command in $3… succeeds.
wait_for() {
  local what=$1 limit=$2; shift 2
  local deadline=$(( $(date +%s) + limit ))
  until "$@" >/dev/null 2>&1; do
    [ "$(date +%s)" -lt "$deadline" ] || { echo "error: $what did not happen within ${limit}s" >&2; exit 1; }
    sleep 0.1
  done
}

moto_port=$(free_port)
"$venv/bin/python" -m moto.server -H 127.0.0.1 -p "$moto_port" >"$work/moto.log" 2>&1 &
moto_pid=$!
endpoint=http://127.0.0.1:$moto_port
wait_for "moto listening" 30 curl -sf "$endpoint/"
aws() { "$venv/bin/aws" --endpoint-url "$endpoint" "$@"; }
aws s3api create-bucket --bucket bench-logs >/dev/null
eval "$(scripts/private-postgres start)"
"$bin" db migrate --database "$PRIVATE_PG_URL" >/dev/null

log=$work/log
echo "writing $EVENTS reservations (segments of $SEGMENT_BYTES bytes) with $bin" >&2
python3 - "$EVENTS" <<'PY' | "$bin" log append "$log" --node-id bench-node --segment-bytes "$SEGMENT_BYTES" >/dev/null
import json, random, sys
random.seed(7)
names = ["Bob", "Alice Martin", "Ana María López", "Zoë Dubois", "Priya Raman", "山田 花子", "Siobhán O'Brien"]
notes = ["", "", "window seat", "birthday", "one high chair please", "vegetarian", "quiet table"]
out = sys.stdout
for i in range(int(sys.argv[1])):
    out.write(json.dumps({"name": random.choice(names), "people": random.randint(1, 8),
        "datetime": "2027-%02d-%02dT%02d:%02d" % (random.randint(1, 12), random.randint(1, 28), random.randint(8, 21), random.choice([0, 15, 30, 45])),
        "notes": "%s ref %d" % (random.choice(notes), i)}, ensure_ascii=False) + "\n")
PY
"$bin" replay --data-dir "$log" --node-id bench-node --database "$PRIVATE_PG_URL" >/dev/null 2>&1
# One start and clean stop of serve: the local projection's snapshot, which retention never goes past.
port=$(free_port)
"$bin" serve --listen "127.0.0.1:$port" --operator-listen 127.0.0.1:0 --data-dir "$log" --node-id bench-node \
  --database "$PRIVATE_PG_URL" --segment-bytes "$SEGMENT_BYTES" >"$work/serve.log" 2>&1 &
serve_pid=$!
wait_for "serve answering" 120 curl -sf "http://127.0.0.1:$port/healthz"
wait_for "the snapshot" 60 test -s "$log/projection.snapshot"
kill -TERM "$serve_pid"; wait "$serve_pid" || true; serve_pid=""

segments_before=$(find "$log" -maxdepth 1 -name "*.lz4" | wc -l)
bytes_before=$(cat "$log"/*.lz4 | wc -c)
store=(--archive s3://bench-logs --endpoint-url "$endpoint" --aws-cli "$venv/bin/aws")

t0=$(now)
"$bin" log archive "$log" "${store[@]}" --database "$PRIVATE_PG_URL" --retain-local 1segments >"$work/archive.out"
t1=$(now)
segments_after=$(find "$log" -maxdepth 1 -name "*.lz4" | wc -l)
bytes_after=$(cat "$log"/*.lz4 | wc -c)
start=$(python3 -c 'import json,sys; print(json.loads(open(sys.argv[1]).read())["offset"])' "$log/log-start")
archived_bytes=$(aws s3api list-objects-v2 --bucket bench-logs --prefix bench-node/ --query 'sum(Contents[].Size)' --output text)

"$bin" log verify "$log" "${store[@]}" >"$work/verify1.out"
t2=$(now)
restore_from=$(aws s3api list-objects-v2 --bucket bench-logs --prefix bench-node/ --query 'Contents[1].Key' --output text)
restore_base=$(basename "$restore_from" .lz4 | sed 's/^0*//'); restore_base=${restore_base:-0}
t3=$(now)
"$bin" log restore "$work/restored" --archive s3://bench-logs/bench-node --endpoint-url "$endpoint" --aws-cli "$venv/bin/aws" \
  --from "$restore_base" --through "$restore_base" >"$work/restore.out"
t4=$(now)
restored_bytes=$(cat "$work"/restored/*.lz4 | wc -c)
restored_lines=$(lz4 -dc "$work"/restored/*.lz4 | wc -l)
"$bin" log verify "$work/restored" >/dev/null
t5=$(now)
"$bin" log verify "$log" "${store[@]}" >"$work/verify2.out"
t6=$(now)

stamp=$(date -u +%Y-%m-%dT%H%M%SZ)
result=bench/results/archive-$stamp.json
python3 - "$result" <<PY
import json, sys
r = {
  "events": $EVENTS, "segmentBytes": $SEGMENT_BYTES, "binary": "$bin",
  "segmentsBefore": $segments_before, "bytesBefore": $bytes_before,
  "segmentsAfter": $segments_after, "bytesAfter": $bytes_after, "logStartAfter": $start,
  "archivedBytes": $archived_bytes,
  "archiveAndRemoveSeconds": round($t1 - $t0, 2),
  "verifyAcrossSeconds": round($t2 - $t1, 2),
  "restoreOneSegmentSeconds": round($t4 - $t3, 2), "restoredBytes": $restored_bytes, "restoredLines": $restored_lines,
  "verifyAcrossAgainSeconds": round($t6 - $t5, 2),
}
json.dump(r, open(sys.argv[1], "w"), indent=2)
print(json.dumps(r, indent=2))
PY
echo "--- archive"; tail -2 "$work/archive.out"
echo "--- verify --archive"; cat "$work/verify2.out"
echo "--- restore"; tail -1 "$work/restore.out"
echo "wrote $result" >&2
