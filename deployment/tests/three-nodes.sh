#!/usr/bin/env bash
# deployment/tests/three-nodes.sh: three Rananeeti nodes on one PostgreSQL, as in production (many app nodes,
# each with its own log, projecting into one Aurora cluster), through a database outage.
#
#   deployment/tests/three-nodes.sh               uses .build/debug/rananeeti (scripts/test builds it first)
#   RANANEETI_BIN=path/to/rananeeti deployment/tests/three-nodes.sh
#
# What it does and checks, in order:
#   1. one private PostgreSQL (scripts/private-postgres), `rananeeti db migrate`, three `rananeeti serve` nodes
#      (node-1..3) on free loopback ports with their own data directories; waits for /readyz on each.
#   2. database up: the same reservations sent to all three nodes (201 on each node the first time, 200 for an
#      exact repeat to the same node, the same digest everywhere) and many different ones spread across nodes.
#      Every digest must be the one docs (DESIGN.md, "The digest") define, computed here independently.
#   3. PostgreSQL stopped with `pg_ctl -m immediate`: more reservations, shared and different, and some sent
#      before to another node; each must be answered 201/200 within the accept deadline (below), never
#      waiting on the stopped database; GET /api/v1/reservations/{digest} on the node's operator listener must
#      answer from the node with X-Rananeeti-Source: local within the same deadline; /readyz stays 200, and
#      the operator's /readyz shows a lag.
#   4. PostgreSQL started again on the same port and data directory; waits until every node's operator /readyz says
#      projection.lagEvents = 0, then with psql: the digests in cafe.ordersraw are exactly those acknowledged
#      (none missing, none that no node acknowledged); each row holds what was sent, notes included; the
#      projectors' counters add up (rows inserted = rows in the table: an event written twice would count
#      twice, since ordrdgst is UNIQUE and the table itself cannot hold a digest twice; inserted + duplicate =
#      events appended); each node's checkpoint is at its log's end; reads answer from the database again.
#   5. the database goes back in time under load (docs/RELIABILITY.md, promise 8), with no command typed:
#      a. `pg_dump` while reservations keep coming, more of them projected, then the database restored in
#         place from the dump (dropped with its sessions, created, `pg_restore` in one transaction);
#      b. a second dump, more projected, then the server stopped `-m immediate` and a fresh server started
#         from the dump on another port, which the nodes know as the second host of their multi-host
#         connection string (as a failover to a replica that lost the last commits).
#      After each, within the healing deadline (60 s times RANANEETI_TEST_SLACK): every node's lag 0, and the
#      checks of 4 again (every acknowledged digest there, nothing else, contents, counters, checkpoints at
#      the logs' ends); the rewinds counted in the database (`db status`).
#   6. the nodes stop on SIGTERM with exit status 0; `rananeeti log verify --against-database` passes on each
#      log (the database's witness agrees with it).
#
# The accept deadline is 3 s (a debug build answers in about 0.2 s on a busy 2-core machine), times
# RANANEETI_TEST_SLACK (default 1; as in the Swift tests, docs/TESTING.md): a bound on waiting, not a measure
# of speed. A node that waited on the stopped database would wait for libpq's connect timeout or for ever;
# the slowest answer actually seen is printed.
#
# Exits 0 when all hold; otherwise 1, listing every failed check. Nodes, the server and the temporary
# directory are removed on every exit (RANANEETI_KEEP_TEST_DIR=1 keeps the directory, for a look at logs).
#
# To see it fail (it must be able to; scripts/test runs foreign-row and fails if it passes):
# RANANEETI_THREE_NODES_SABOTAGE=
#   forget-node-2   drop node-2's acknowledgements from the record  -> "in the table but acknowledged by no node"
#   foreign-row     insert a row no node acknowledged               -> the same, for that digest, and the
#                                                                      counters no longer match the table
#   changed-notes   change the notes of one row                     -> "rows whose content differs"
#   skip-restart    never start PostgreSQL again                    -> lag never reaches 0
#   lost-row        delete a row once a rewind has healed           -> "acknowledged but not in cafe.ordersraw"
# (The rewinds of 5 run only without sabotage, or with lost-row, to keep the sabotaged runs short.)
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
BIN=${RANANEETI_BIN:-$ROOT/.build/debug/rananeeti}
SABOTAGE=${RANANEETI_THREE_NODES_SABOTAGE:-}
NODES=3
SLACK=${RANANEETI_TEST_SLACK:-1}
ACCEPT_DEADLINE_SECONDS=$(awk -v s="$SLACK" 'BEGIN { if (s + 0 < 1) s = 1; printf "%.2f", 3.0 * s }')
HEAL_DEADLINE_SECONDS=$(awk -v s="$SLACK" 'BEGIN { if (s + 0 < 1) s = 1; printf "%d", 60 * s }')

# Only the settings given here: nothing from the caller's environment may point a node elsewhere.
unset RANANEETI_DATABASE RANANEETI_DATA_DIR RANANEETI_NODE_ID RANANEETI_LISTEN RANANEETI_ADMIN_TOKEN \
    PGHOST PGHOSTADDR PGPORT PGDATABASE PGUSER PGSERVICE PGPASSFILE
export LC_ALL=C.UTF-8

started=$SECONDS
say() { printf '[%3ds] %s\n' "$((SECONDS - started))" "$*"; }
die() { echo "three-nodes: FAILED: $*" >&2; exit 1; }

[ -x "$BIN" ] || die "no executable at $BIN (build it: swift build --product rananeeti)"
for tool in curl jq psql pg_dump pg_restore python3; do
    command -v "$tool" >/dev/null 2>&1 || die "$tool is missing (scripts/install-system-packages installs it)"
done

T=$(mktemp -d /tmp/rananeeti-three-nodes.XXXXXX)
PIDS=()
PG_DIR=""
PG_DIR2=""
LOAD_PID=""
cleanup() {
    local rc=$? pid
    trap - EXIT INT TERM
    if [ -n "$LOAD_PID" ]; then kill "$LOAD_PID" 2>/dev/null || true; wait "$LOAD_PID" 2>/dev/null || true; fi
    for pid in "${PIDS[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
    for pid in "${PIDS[@]}"; do
        for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
        kill -KILL "$pid" 2>/dev/null || true
        wait "$pid" 2>/dev/null || true
    done
    if [ -n "$PG_DIR" ]; then "$ROOT/scripts/private-postgres" stop "$PG_DIR" || true; fi
    if [ -n "$PG_DIR2" ]; then "$ROOT/scripts/private-postgres" stop "$PG_DIR2" || true; fi
    if [ "$rc" -ne 0 ]; then
        for f in "$T"/node-*.log; do
            [ -f "$f" ] || continue
            echo "--- last lines of $(basename "$f")" >&2
            tail -n 8 "$f" | cut -c1-240 >&2
        done
    fi
    if [ "${RANANEETI_KEEP_TEST_DIR:-}" = 1 ]; then echo "kept $T" >&2; else rm -rf "$T"; fi
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

FAILURES=()
check() { FAILURES+=("$*"); echo "  FAIL: $*" >&2; }

# some LIST: how many, and the first five.
some() { awk 'NF { n++; if (n <= 5) s = s " " $1 } END { printf "%d:%s%s", n, s, (n > 5 ? " ..." : "") }' <<<"$1"; }

free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
}

# ---------------------------------------------------------------- 1. the database and the nodes
eval "$("$ROOT/scripts/private-postgres" start)"
PG_DIR=$PRIVATE_PG_DIR
DB=$PRIVATE_PG_URL
say "PostgreSQL on port $PRIVATE_PG_PORT"
"$BIN" db migrate --database "$DB" > "$T/migrate.log" 2>&1 || { cat "$T/migrate.log" >&2; die "rananeeti db migrate failed"; }

# The nodes know two hosts, as with an Aurora cluster endpoint: this server, and the port where a fresh one
# takes over in 5b (nothing listens there until then).
PG_PORT2=$(free_port)
NODE_DB="host=127.0.0.1,127.0.0.1 port=$PRIVATE_PG_PORT,$PG_PORT2 user=postgres dbname=postgres target_session_attrs=read-write"
PORTS=()
for i in $(seq "$NODES"); do
    port=$(free_port)
    PORTS[i]=$port
    "$BIN" serve --listen "127.0.0.1:$port" --operator-listen 127.0.0.1:0 --data-dir "$T/node-$i" \
        --node-id "node-$i" --database "$NODE_DB" > "$T/node-$i.log" 2>&1 &
    PIDS[i]=$!
done

url() { echo "http://127.0.0.1:${PORTS[$1]}"; }
# The node's operator listener (readiness details, every reservation without its private link), at the
# address serve wrote into its data directory.
ops() { echo "http://$(cat "$T/node-$1/operator-listen")"; }

# wait_ready NODE DEADLINE_SECONDS: polls /readyz until it answers 200.
wait_ready() {
    local deadline=$((SECONDS + $2))
    while [ "$SECONDS" -lt "$deadline" ]; do
        kill -0 "${PIDS[$1]}" 2>/dev/null || die "node-$1 exited during start-up (see its log below)"
        [ -s "$T/node-$1/operator-listen" ] && curl -fsS -o /dev/null --max-time 2 "$(url "$1")/readyz" 2>/dev/null \
            && return 0
        sleep 0.1
    done
    die "node-$1 did not answer /readyz within $2 s"
}
for i in $(seq "$NODES"); do wait_ready "$i" 60; done
say "nodes ready on ports ${PORTS[*]}"

# ---------------------------------------------------------------- the reservations
# One line per reservation, made by Python, which also computes the digest the way DESIGN.md defines it:
#   KEY <TAB> expected digest <TAB> name <TAB> people <TAB> datetime <TAB> request body <TAB> notes
python3 - "$T" <<'PY'
import hashlib, json, sys
out = sys.argv[1]

def digest(r):
    form = {"Name": r["name"], "People": str(r["people"]), "date": r["datetime"], "Message": r.get("notes", "")}
    return hashlib.blake2b(json.dumps(form).encode(), digest_size=10).hexdigest()

def write(name, items):
    with open(f"{out}/{name}.tsv", "w", encoding="utf-8") as f:
        for key, r in items:
            f.write("\t".join([key, digest(r), r["name"], str(r["people"]), r["datetime"],
                               json.dumps(r, ensure_ascii=False), r["notes"]]) + "\n")

def res(name, people, day, hour, notes):
    return {"name": name, "people": people, "datetime": f"2026-12-{day:02d}T{hour:02d}:00", "notes": notes}

write("up-shared", [(f"us{i}", res(f"Shared {i}", 2 + i, 24, 18 + i, "sent to every node")) for i in range(4)])
write("up-distinct", [(f"ud{i}", res(f"Guest {i}", 1 + i % 8, 1 + i % 28, 12 + i % 10,
                                    "window seat, café ☕" if i % 7 == 0 else f"table {i}")) for i in range(45)])
write("down-shared", [(f"ds{i}", res(f"Outage shared {i}", 4, 31, 19 + i, "during the outage")) for i in range(3)])
write("down-distinct", [(f"dd{i}", res(f"Outage guest {i}", 1 + i % 6, 1 + i % 28, 20, f"outage {i}"))
                        for i in range(30)])
PY

ACKS=$T/acks.tsv          # node <TAB> digest <TAB> HTTP status <TAB> phase
: > "$ACKS"

# post NODE LINE PHASE EXPECTED_STATUS: sends the reservation on LINE to NODE, checks the answer, records it.
post() {
    local node=$1 line=$2 phase=$3 want=$4 key expected body out code secs digest state
    IFS=$'\t' read -r key expected _ _ _ body _ <<<"$line"
    out=$T/post.out
    if ! read -r code secs < <(curl -sS -o "$out" -w '%{http_code} %{time_total}\n' --max-time 5 \
            -H 'Content-Type: application/json' --data-binary "$body" "$(url "$node")/api/v1/reservations"); then
        check "$phase: POST $key to node-$node: no answer"; return
    fi
    if [ "$code" != 200 ] && [ "$code" != 201 ]; then
        check "$phase: POST $key to node-$node: HTTP $code: $(head -c 300 "$out")"; return
    fi
    digest=$(jq -r '.digest // empty' "$out")
    state=$(jq -r '.state // empty' "$out")
    # Acknowledged: record it before judging anything else, as a guest's browser would have shown it.
    printf '%s\t%s\t%s\t%s\n' "node-$node" "$digest" "$code" "$phase" >> "$ACKS"
    [ "$digest" = "$expected" ] || check "$phase: POST $key to node-$node: digest $digest, expected $expected"
    [ -n "$want" ] && [ "$code" != "$want" ] && check "$phase: POST $key to node-$node: HTTP $code, expected $want"
    [ -n "$state" ] || check "$phase: POST $key to node-$node: no state in the answer"
    if [ "$phase" = down ]; then
        echo "$secs" >> "$T/outage-seconds"
        awk -v s="$secs" -v m="$ACCEPT_DEADLINE_SECONDS" 'BEGIN { exit !(s < m) }' \
            || check "$phase: POST $key to node-$node took ${secs}s during the outage (deadline ${ACCEPT_DEADLINE_SECONDS}s)"
    fi
    if [ "$phase" = down ] && [ "$code" = 201 ] && [ "$state" != pending ]; then
        check "$phase: POST $key to node-$node: state $state during the outage, expected pending"
    fi
    return 0
}

# ---------------------------------------------------------------- 2. database up
say "database up: shared and distinct reservations"
while IFS= read -r line; do
    for i in $(seq "$NODES"); do post "$i" "$line" up 201; done
    post 1 "$line" up 200                                  # an exact repeat to the same node
done < "$T/up-shared.tsv"
n=0
while IFS= read -r line; do
    post $((n % NODES + 1)) "$line" up 201
    n=$((n + 1))
done < "$T/up-distinct.tsv"
say "$(wc -l < "$ACKS") acknowledgements so far"

# ---------------------------------------------------------------- 3. the outage
"$ROOT/scripts/private-postgres" stop-immediate "$PG_DIR"
psql "$DB" -Atc 'SELECT 1' >/dev/null 2>&1 && die "PostgreSQL still answers after the immediate stop"
say "PostgreSQL stopped (immediate); sending during the outage"
while IFS= read -r line; do
    for i in $(seq "$NODES"); do post "$i" "$line" down 201; done
    post 2 "$line" down 200
done < "$T/down-shared.tsv"
n=0
while IFS= read -r line; do
    post $((n % NODES + 1)) "$line" down 201
    n=$((n + 1))
done < "$T/down-distinct.tsv"
# Reservations node-1 took while the database was up, sent again to node-3: new to node-3's log, so 201,
# and later a duplicate for node-3's projector.
post 3 "$(sed -n 1p "$T/up-distinct.tsv")" down 201
post 3 "$(sed -n 4p "$T/up-distinct.tsv")" down 201

# Reads during the outage: from the node itself, saying so.
# get NODE DIGEST: prints "HTTP_STATUS SOURCE SECONDS STATE".
get() {
    local out=$T/get.out code secs source
    read -r code secs < <(curl -sS -D "$T/get.headers" -o "$out" -w '%{http_code} %{time_total}\n' --max-time 5 \
        "$(ops "$1")/api/v1/reservations/$2" || echo "000 0")
    source=$(tr -d '\r' < "$T/get.headers" | sed -n 's/^[Xx]-[Rr]ananeeti-[Ss]ource: *//p' | tail -n 1)
    echo "$code ${source:-none} $secs $(jq -r '.state // "none"' "$out" 2>/dev/null || echo none)"
}
checked=0
while IFS=$'\t' read -r node digest _code phase; do
    # every reservation taken during the outage, and the first few from before it
    if [ "$phase" = up ] && [ "$checked" -ge 10 ]; then continue; fi
    checked=$((checked + 1))
    read -r code source secs state < <(get "${node#node-}" "$digest")
    echo "$secs" >> "$T/outage-seconds"
    if [ "$code" != 200 ] || [ "$source" != local ]; then
        check "outage: GET $digest on $node: HTTP $code, X-Rananeeti-Source: $source (expected 200 from local)"
    elif ! awk -v s="$secs" -v m="$ACCEPT_DEADLINE_SECONDS" 'BEGIN { exit !(s < m) }'; then
        check "outage: GET $digest on $node took ${secs}s (deadline ${ACCEPT_DEADLINE_SECONDS}s)"
    fi
done < "$ACKS"
for i in $(seq "$NODES"); do
    curl -fsS -o /dev/null --max-time 2 "$(url "$i")/readyz" || { check "outage: node-$i /readyz is not 200"; continue; }
    body=$(curl -fsS --max-time 2 "$(ops "$i")/readyz") || { check "outage: node-$i's operator /readyz is not 200"; continue; }
    lag=$(jq -r '.projection.lagEvents' <<<"$body")
    [ "$lag" -gt 0 ] 2>/dev/null || check "outage: node-$i reports projection.lagEvents=$lag; it took reservations the database has not seen"
done
say "$checked reads answered locally; $(wc -l < "$ACKS") acknowledgements in all; slowest answer during the outage $(sort -g "$T/outage-seconds" | tail -n 1) s (deadline ${ACCEPT_DEADLINE_SECONDS} s)"

# ---------------------------------------------------------------- 4. the database back
if [ "$SABOTAGE" != skip-restart ]; then
    "$ROOT/scripts/private-postgres" restart "$PG_DIR"
    say "PostgreSQL started again on port $PRIVATE_PG_PORT"
fi
# lags: each node's projection.lagEvents from /readyz, "node-N:LAG" for those not at 0 (empty when all are).
lags() {
    local i lag pending=""
    for i in $(seq "$NODES"); do
        lag=$(curl -fsS --max-time 2 "$(ops "$i")/readyz" 2>/dev/null | jq -r '.projection.lagEvents' 2>/dev/null || echo "?")
        [ "$lag" = 0 ] || pending="$pending node-$i:$lag"
    done
    echo "$pending"
}
deadline=$((SECONDS + 90))
pending=all
while [ "$SECONDS" -lt "$deadline" ]; do
    pending=$(lags)
    [ -z "$pending" ] && break
    sleep 0.2
done
[ -z "$pending" ] || die "projection lag not 0 within 90 s after the restart:$pending"
say "every node's projection lag is 0"

if [ "$SABOTAGE" = forget-node-2 ]; then
    grep -v $'^node-2\t' "$ACKS" > "$T/acks.sabotaged" || true; mv "$T/acks.sabotaged" "$ACKS"
fi
if [ "$SABOTAGE" = foreign-row ]; then
    psql "$DB" -qAtc "INSERT INTO cafe.ordersraw (ordrdgst, ordrname, ordrppl, ordrdttm, ordrtxt)
                      VALUES ('0000000000000000beef', 'Nobody', 1, '2026-01-01 12:00', 'no node took this')"
fi
if [ "$SABOTAGE" = changed-notes ]; then
    psql "$DB" -qAtc "UPDATE cafe.ordersraw SET ordrtxt = ordrtxt || ' (changed)'
                      WHERE ordrdgst = (SELECT min(ordrdgst) FROM cafe.ordersraw)"
fi

sql() { psql "$DB" -v ON_ERROR_STOP=1 -qAt -F $'\t' -c "$1"; }

# check_table LABEL: the table holds exactly what the nodes acknowledged, as it was sent, and the projectors'
# counters and checkpoints add up.
check_table() {
    local label=$1 missing extra wrong appended rows inserted duplicate dead nodes_at_end
    cut -f2 "$ACKS" | sort -u > "$T/acked"
    sql "SELECT ordrdgst FROM cafe.ordersraw ORDER BY 1" > "$T/in-table"

    # (No check for a digest twice in the table: ordrdgst is UNIQUE, so that cannot happen; an event written twice
    # shows in the projectors' counters below.)
    missing=$(comm -23 "$T/acked" "$T/in-table")
    [ -z "$missing" ] || check "$label: acknowledged but not in cafe.ordersraw, $(some "$missing")"
    extra=$(comm -13 "$T/acked" "$T/in-table")
    [ -z "$extra" ] || check "$label: in cafe.ordersraw but acknowledged by no node, $(some "$extra")"

    # Each row holds what was sent: digest, name, party size, date and time, notes.
    cat "$T"/up-*.tsv "$T"/down-*.tsv "$T"/rewind-sent.tsv | awk -F '\t' '{ sub("T", " ", $5); print $2 "\t" $3 "\t" $4 "\t" $5 ":00\t" $7 }' \
        | sort -u > "$T/sent-rows"
    sql "SELECT ordrdgst, ordrname, ordrppl, to_char(ordrdttm, 'YYYY-MM-DD HH24:MI:SS'), coalesce(ordrtxt, '')
         FROM cafe.ordersraw" | sort > "$T/table-rows"
    wrong=$(comm -13 "$T/sent-rows" "$T/table-rows" | grep -v -F -f <(echo "$extra" | sed '/^$/d') 2>/dev/null || true)
    [ -z "$wrong" ] || check "$label: rows whose content differs from what was sent: $(head -n 3 <<<"$wrong" | tr '\n' ' ')"

    # The projectors' own accounting: every 201 appended one event; each event was inserted once or found there.
    appended=$(awk -F '\t' '$3 == 201' "$ACKS" | wc -l)
    read -r rows inserted duplicate dead nodes_at_end < <(sql "
        SELECT (SELECT count(*) FROM cafe.ordersraw), sum(events_inserted), sum(events_duplicate),
               sum(events_dead_lettered), count(*) FILTER (WHERE next_offset = log_end_offset)
        FROM cafe.projector_checkpoints WHERE node_id LIKE 'node-%'" | tr '\t' ' ')
    [ "$inserted" = "$rows" ] || check "$label: the projectors inserted $inserted rows but the table holds $rows"
    [ "$((inserted + duplicate))" = "$appended" ] \
        || check "$label: the projectors saw $inserted inserted + $duplicate duplicate events; the nodes appended $appended"
    [ "$dead" = 0 ] || check "$label: $dead events were dead-lettered"
    [ "$nodes_at_end" = "$NODES" ] || check "$label: only $nodes_at_end of $NODES checkpoints are at their log's end"
    say "$label: table: $rows rows for $(wc -l < "$T/acked") acknowledged digests; $appended events appended, $duplicate found there already"
}
: > "$T/rewind-sent.tsv"
check_table "after the outage"

# Reads come from the database again once it is back (the read path reconnects by itself).
sample=$(awk -F '\t' '$4 == "down" { print $1 "\t" $2 }' "$ACKS" | head -n 1)
deadline=$((SECONDS + 30))
source=none
while [ "$SECONDS" -lt "$deadline" ]; do
    read -r code source _secs state < <(get "$(cut -f1 <<<"$sample" | sed 's/node-//')" "$(cut -f2 <<<"$sample")")
    [ "$source" = database ] && break
    sleep 0.2
done
[ "$source" = database ] || check "30 s after the restart a GET still answers from $source, not the database"
[ "$source" != database ] || [ "$state" = confirmed ] || [ "$state" = duplicate ] \
    || check "a reservation taken during the outage is $state after the projection, expected confirmed/duplicate"

# ---------------------------------------------------------------- 5. the database goes back in time
# load: reservations posted to the nodes in turn until $T/load.stop appears; each acknowledgement is recorded
# (phase "rewind") with what was sent. Taking a reservation never waits on the database, so every post must
# be answered 201 whatever the database is doing; anything else goes to $T/load-failures.
load() {
    # Numbered on from the reservations of an earlier drill, so that every post is a new reservation.
    local n node name people datetime notes body out code digest
    n=$(wc -l < "$T/rewind-sent.tsv")
    while [ ! -e "$T/load.stop" ]; do
        node=$((n % NODES + 1))
        name="Rewind guest $n"; people=$((n % 8 + 1)); datetime=$(printf '2026-11-%02dT18:30' $((n % 28 + 1)))
        notes="rewind load $n"
        body=$(printf '{"name":"%s","people":%d,"datetime":"%s","notes":"%s"}' "$name" "$people" "$datetime" "$notes")
        out=$T/load.out
        code=$(curl -sS -o "$out" -w '%{http_code}' --max-time 10 -H 'Content-Type: application/json' \
            --data-binary "$body" "$(url "$node")/api/v1/reservations" 2>/dev/null || echo 000)
        if [ "$code" = 201 ]; then
            digest=$(jq -r '.digest' "$out")
            printf 'rw%d\t%s\t%s\t%d\t%s\t%s\t%s\n' "$n" "$digest" "$name" "$people" "$datetime" "$body" "$notes" \
                >> "$T/rewind-sent.tsv"
            printf '%s\t%s\t%s\t%s\n' "node-$node" "$digest" "$code" rewind >> "$ACKS"
        else
            echo "POST rw$n to node-$node: HTTP $code $(head -c 200 "$out" 2>/dev/null)" >> "$T/load-failures"
        fi
        n=$((n + 1))
    done
}
start_load() { rm -f "$T/load.stop"; load & LOAD_PID=$!; }
stop_load() { : > "$T/load.stop"; wait "$LOAD_PID" || true; LOAD_PID=""; }
acked_under_load() { awk -F '\t' '$4 == "rewind"' "$ACKS" | wc -l; }
# wait_for DESCRIPTION SECONDS COMMAND…: runs COMMAND until it succeeds, at most SECONDS.
wait_for() {
    local what=$1 limit=$2 until=$((SECONDS + $2))
    shift 2
    while [ "$SECONDS" -lt "$until" ]; do "$@" && return 0; sleep 0.2; done
    die "$what: not within $limit s"
}
more_load() { [ "$(acked_under_load)" -ge "$1" ]; }
rows_at_least() { [ "$(sql 'SELECT count(*) FROM cafe.ordersraw' 2>/dev/null || echo 0)" -ge "$1" ]; }
# healed: every acknowledged digest in the table, and every node's lag 0.
healed() {
    cut -f2 "$ACKS" | sort -u > "$T/acked"
    sql "SELECT ordrdgst FROM cafe.ordersraw ORDER BY 1" > "$T/in-table" 2>/dev/null || return 1
    [ -z "$(comm -23 "$T/acked" "$T/in-table")" ] && [ -z "$(lags)" ]
}
# rewind_drill LABEL RESTORE: a dump under load, more projected, RESTORE (a function) run, more load, then
# the table healed by itself within the deadline.
rewind_drill() {
    local label=$1 restore=$2 rewinds_before restored_at
    rewinds_before=$(sql "SELECT coalesce(sum(rewinds_healed), 0) FROM cafe.projector_checkpoints")
    start_load
    wait_for "$label: reservations taken before the dump" 60 more_load $(( $(acked_under_load) + 20 ))
    pg_dump --format=custom --file="$T/dump" --dbname="$DB" || die "$label: pg_dump failed"
    # More reservations, projected after the dump: what the restore loses.
    wait_for "$label: reservations projected after the dump" 60 rows_at_least $(( $(sql 'SELECT count(*) FROM cafe.ordersraw') + 20 ))
    "$restore"
    restored_at=$SECONDS
    wait_for "$label: reservations taken after the restore" 60 more_load $(( $(acked_under_load) + 20 ))
    stop_load
    say "$label: restored; $(acked_under_load) reservations taken under load so far"
    wait_for "$label: every acknowledged reservation back and every lag 0 (the healing deadline)" \
        "$HEAL_DEADLINE_SECONDS" healed
    say "$label: healed $((SECONDS - restored_at)) s after the restore (deadline $HEAL_DEADLINE_SECONDS s)"
    if [ "$SABOTAGE" = lost-row ]; then
        sql "DELETE FROM cafe.ordersraw WHERE ordrdgst = (SELECT max(ordrdgst) FROM cafe.ordersraw)" >/dev/null
    fi
    check_table "$label"
    [ "$(sql "SELECT coalesce(sum(rewinds_healed), 0) FROM cafe.projector_checkpoints")" -gt "$rewinds_before" ] \
        || check "$label: no projector counted a healed rewind"
    if [ -s "$T/load-failures" ]; then
        check "$label: posts not answered 201 under load: $(head -n 3 "$T/load-failures" | tr '\n' ' ')"
        : > "$T/load-failures"
    fi
}
restore_in_place() {
    psql "host=127.0.0.1 port=$PRIVATE_PG_PORT user=postgres dbname=template1" -v ON_ERROR_STOP=1 -qAt \
        -c "DROP DATABASE postgres WITH (FORCE)" -c "CREATE DATABASE postgres" >/dev/null
    pg_restore --single-transaction --exit-on-error --dbname="$DB" "$T/dump" || die "pg_restore in place failed"
}
fresh_server_from_dump() {
    "$ROOT/scripts/private-postgres" stop-immediate "$PG_DIR"
    eval "$("$ROOT/scripts/private-postgres" start "$PG_PORT2")"
    PG_DIR2=$PRIVATE_PG_DIR
    DB=$PRIVATE_PG_URL
    # A fresh cluster: the roles of the old one are not there (a restore of the whole cluster would bring them).
    pg_restore --single-transaction --exit-on-error --no-owner --no-privileges --dbname="$DB" "$T/dump" \
        || die "pg_restore into the fresh server failed"
}
if [ -z "$SABOTAGE" ] || [ "$SABOTAGE" = lost-row ]; then
    rewind_drill "restored in place" restore_in_place
    # (After a deleted row nothing can heal: the node's checkpoint is past it, as it should be.)
    [ "$SABOTAGE" = lost-row ] || rewind_drill "a fresh server from the dump" fresh_server_from_dump
    "$BIN" db status --database "$DB" > "$T/status.txt" 2>&1 || check "db status failed: $(tail -n 2 "$T/status.txt")"
    grep -q "rewinds healed" "$T/status.txt" || check "db status does not show the rewinds healed"
else
    echo "three-nodes: the rewind drills are skipped in a sabotaged run ($SABOTAGE)"
fi

# ---------------------------------------------------------------- 6. clean stop, intact logs
for i in $(seq "$NODES"); do
    kill -TERM "${PIDS[$i]}"
    rc=0; wait "${PIDS[$i]}" || rc=$?
    [ "$rc" = 0 ] || check "node-$i exited with status $rc on SIGTERM"
    unset "PIDS[$i]"
    "$BIN" log verify "$T/node-$i" --against-database --database "$DB" > "$T/verify-$i.log" 2>&1 \
        || check "log verify --against-database node-$i: $(tail -n 2 "$T/verify-$i.log" | tr '\n' ' ')"
done

if [ "${#FAILURES[@]}" -gt 0 ]; then
    echo "three-nodes: FAILED, ${#FAILURES[@]} check(s):" >&2
    printf '  %s\n' "${FAILURES[@]}" >&2
    exit 1
fi
say "three-nodes: all checks passed"
