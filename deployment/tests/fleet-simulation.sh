#!/usr/bin/env bash
# deployment/tests/fleet-simulation.sh: a fleet of nodes retired, replaced and recovered the ways
# deployment/README.md describes, and every reservation still reaches the database, exactly once.
#
#   deployment/tests/fleet-simulation.sh           uses .build/debug/rananeeti (scripts/test builds it)
#   RANANEETI_BIN=path/to/rananeeti deployment/tests/fleet-simulation.sh
#
# Real parts: `rananeeti serve` (four nodes, two per zone); a private PostgreSQL with TLS, which the service
# reaches through the libpq service file that rananeeti-db-config writes from the stack's parameter
# (verify-full against the stack's CA), as its own login (a member of rananeeti_service,
# schema/004_service_role.sql, never the owner); ext4 log volumes on loop devices; and the node agents
# exactly as they ship (deployment/aws: rananeeti-db-config, rananeeti-lifecycle, rananeeti-orphans).
# Simulated: AWS (deployment/tests/fake-aws.py: volumes, snapshots as frozen copies, the lifecycle hook,
# tags, metrics, the SSM parameter), the instance metadata service and systemd. Each instance is a private
# mount namespace with its own /etc, /run, /mnt and /var/lib, its log volume mounted at /var/lib/rananeeti.
#
# Scale-in during a database outage:
#   1. four nodes take reservations; the database has them all (lag 0)
#   2. PostgreSQL stops (immediate); every node still takes reservations
#   3. the group retires a2 and b2 (Terminating:Wait): their lifecycle agents drain, refuse new reservations
#      (503 node-draining), keep the hook alive with heartbeats, give up after their deadline (ABANDON),
#      tag their volumes with the events still only there, stop the service and unmount the log
#   4. the orphan job on a1 (zone a) and b1 (zone b), database still down: attaches the orphaned volume of
#      its zone, cannot project it, detaches it again; the metric OrphanedLogVolumes says 2 (alarm)
#   5. PostgreSQL starts again; the orphan jobs project the orphaned logs (backlog 0); metric 0
#   6. the database holds every acknowledged reservation once; each checkpoint is at its log's end
# Sessions and private links (every node's session keys from the stack's one secret, as on AWS):
#   1. a private status link one node hands out (the Location of its answer) opens on every other node
#   7. the keys rotated in the secret (a new key first, the old one second): each node's rananeeti-db-config
#      takes them and restarts the service once; links made under the old key still open, and those made
#      under the new one open on the other node; a secret that holds no keys is refused, the last good ones kept
# Drills of the runbooks (deployment/README.md, "Disaster recovery"):
#   8. Aurora restored from a backup: the database is dumped, more reservations follow, the dump is restored
#      into a new database and the stack's parameter points there (DatabaseHostsOverride): the nodes follow
#      (rananeeti-db-config rewrites their settings and restarts them), the rewind heals by itself; the
#      retired logs, retagged "backlog unknown" as the runbook says, are projected again by the orphan jobs
#   9. a zone lost with a backlog in it: b1's volume is snapshotted (frozen, copied) while the database is
#      down, the zone goes (b1 killed, no drain); a volume made from the snapshot in zone a (tagged as a
#      copy, never a node's identity) is projected by a1's orphan job; when the zone returns, b1 runs on its
#      own volume again with nothing projected twice (the same mechanics carry a lost region's logs, through
#      a snapshot copied to the other region)
#  10. a retirement that the database's return ends in time: drain succeeds, the hook goes on (CONTINUE)
#
# Needs root, unshare, nsenter, losetup, mkfs.ext4, fsfreeze, openssl, jq, psql, pg_dump, pg_restore, curl,
# python3 and the PostgreSQL 15 server. Prints one line per check; exits 1 if any failed, 3 if this machine
# cannot run it. RANANEETI_FLEET_SABOTAGE=no-orphan-job skips step 5's orphan jobs (step 6 must fail);
# =no-retag skips step 8's retagging (the retired logs' rows are then missing from the restored database);
# =own-keys gives each node keys of its own, as without the stack's secret (links then open on one node only).
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
BIN=${RANANEETI_BIN:-$ROOT/.build/debug/rananeeti}
SABOTAGE=${RANANEETI_FLEET_SABOTAGE:-}
export LC_ALL=C.UTF-8
unset RANANEETI_DATABASE RANANEETI_DATA_DIR RANANEETI_NODE_ID RANANEETI_LISTEN PGHOST PGPORT PGDATABASE PGUSER PGSERVICE

for tool in unshare nsenter losetup mkfs.ext4 fsfreeze openssl jq psql pg_dump pg_restore curl python3; do
    command -v "$tool" >/dev/null 2>&1 || { echo "cannot simulate: $tool is missing"; exit 3; }
done
[ "$(id -u)" -eq 0 ] || { echo "cannot simulate: needs root"; exit 3; }
unshare -m --fork true 2>/dev/null || { echo "cannot simulate: no mount namespaces here"; exit 3; }
[ -x "$BIN" ] || { echo "FAIL: no executable at $BIN (build it: swift build --product rananeeti)"; exit 1; }

started=$SECONDS
say() { printf '[%3ds] %s\n' "$((SECONDS - started))" "$*"; }
T=$(mktemp -d /var/tmp/rananeeti-fleet.XXXXXX)
LOOPS=()
declare -A HOLDERS=() PORTS=() OPERATOR_PORTS=() ZONE=() INSTANCE=() LOOP=()
BACKGROUND=()
PG_DIR=""
cleanup() {
    local rc=$? pid node
    trap - EXIT
    for pid in "${BACKGROUND[@]}"; do kill "$pid" 2>/dev/null || true; done
    for node in "${!HOLDERS[@]}"; do
        pid=$(cat "$T/$node/serve.pid" 2>/dev/null || true)
        if [ -n "$pid" ]; then kill -KILL "$pid" 2>/dev/null || true; fi
        pid=$(cat "$T/$node/holder.pid" 2>/dev/null || true)
        if [ -n "$pid" ]; then kill "$pid" 2>/dev/null || true; fi
    done
    wait 2>/dev/null || true
    # A loop device still mounted in a namespace that is just going away detaches once it is gone.
    for pid in "${LOOPS[@]}"; do losetup -d "$pid" 2>/dev/null || true; done
    if [ -n "$PG_DIR" ]; then "$ROOT/scripts/private-postgres" stop "$PG_DIR" >/dev/null 2>&1 || true; fi
    if [ "$rc" -ne 0 ] || [ "${RANANEETI_KEEP_TEST_DIR:-}" = 1 ]; then
        for node in a1 a2 b1 b2; do
            [ -f "$T/$node/serve.log" ] || continue
            echo "--- $node: last lines of serve and agents" >&2
            tail -n 5 "$T/$node/serve.log" "$T/$node"/agent-*.log 2>/dev/null | cut -c1-240 >&2
        done
    fi
    if [ "${RANANEETI_KEEP_TEST_DIR:-}" = 1 ]; then echo "kept $T" >&2; else rm -rf "$T"; fi
    exit "$rc"
}
trap cleanup EXIT

RESULTS=$T/results
: > "$RESULTS"
ok() { echo "ok   $*" | tee -a "$RESULTS"; }
no() { echo "FAIL $*" | tee -a "$RESULTS"; }
check() { local what=$1; shift; if "$@" >/dev/null 2>&1; then ok "$what"; else no "$what"; fi; }
# wait_for WHAT SECONDS COMMAND...: a condition, asked every 0.2 s, with a deadline.
# process_gone PID: no such process, or one that has ended and waits to be reaped (a zombie: the serve
# processes are nobody's children here).
process_gone() {
    local state
    state=$(ps -o stat= -p "$1" 2>/dev/null) || return 0
    [ -z "$state" ] || [ "${state#Z}" != "$state" ]
}
wait_for() {
    local what=$1 deadline=$((SECONDS + $2)); shift 2
    until "$@" >/dev/null 2>&1; do
        [ "$SECONDS" -lt "$deadline" ] || { no "$what (not within the deadline)"; return 1; }
        sleep 0.2
    done
}

# ------------------------------------------------------------------ the database and the service's login
eval "$("$ROOT/scripts/private-postgres" start)"
PG_DIR=$PRIVATE_PG_DIR
OWNER_DB=$PRIVATE_PG_URL
"$BIN" db migrate --database "$OWNER_DB" > "$T/migrate.log" 2>&1 || { cat "$T/migrate.log"; exit 1; }
psql -X -q -v ON_ERROR_STOP=1 "$OWNER_DB" -c "CREATE ROLE rananeeti_app LOGIN IN ROLE rananeeti_service" >/dev/null
# TLS, as Aurora has it: a CA of this run signs the server's certificate for 127.0.0.1; the nodes get the CA as
# "the RDS bundle" and verify the server (sslmode=verify-full, from rananeeti-db-config).
mkdir -p "$T/tls"
openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj /CN=rananeeti-test-ca -keyout "$T/tls/ca.key" -out "$T/tls/ca.pem" >/dev/null 2>&1
openssl req -newkey rsa:2048 -nodes -subj /CN=127.0.0.1 -keyout "$T/tls/server.key" -out "$T/tls/server.csr" >/dev/null 2>&1
printf 'subjectAltName=IP:127.0.0.1\n' > "$T/tls/san.cnf"
openssl x509 -req -in "$T/tls/server.csr" -CA "$T/tls/ca.pem" -CAkey "$T/tls/ca.key" -CAcreateserial -days 1 \
    -extfile "$T/tls/san.cnf" -out "$T/tls/server.pem" >/dev/null 2>&1
cp "$T/tls/server.pem" "$T/tls/server.key" "$PG_DIR/"
chown postgres "$PG_DIR/server.pem" "$PG_DIR/server.key" && chmod 0600 "$PG_DIR/server.key"
psql -X -q -v ON_ERROR_STOP=1 "$OWNER_DB" -c "ALTER SYSTEM SET ssl = on" -c "ALTER SYSTEM SET ssl_cert_file = '$PG_DIR/server.pem'" \
    -c "ALTER SYSTEM SET ssl_key_file = '$PG_DIR/server.key'" -c "SELECT pg_reload_conf()" >/dev/null
for _ in $(seq 50); do
    psql -X -q "sslmode=verify-full sslrootcert=$T/tls/ca.pem $OWNER_DB" -c 'SELECT 1' >/dev/null 2>&1 && break
    sleep 0.1
done
psql -X -q "sslmode=verify-full sslrootcert=$T/tls/ca.pem $OWNER_DB" -c 'SELECT 1' >/dev/null || { echo "FAIL: PostgreSQL did not take TLS"; exit 1; }
say "PostgreSQL on port $PRIVATE_PG_PORT with TLS; the nodes log in as rananeeti_app"

# ------------------------------------------------------------------ stubs for what only AWS and systemd have
mkdir -p "$T/bin" "$T/by-id" "$T/opt/bin"
# The system's python3 when there is one: a version manager's shim costs a noticeable start per call.
PYTHON=$(command -v /usr/bin/python3 || command -v python3)
sed "1s|.*|#!$PYTHON|" "$HERE/fake-aws.py" > "$T/bin/aws"
cat > "$T/bin/curl" <<'EOF'
#!/bin/bash
# The instance metadata service (the target lifecycle state from the fake group); anything else is real.
url=""
for a in "$@"; do case "$a" in http*) url=$a ;; esac; done
case "$url" in
    http://169.254.169.254/latest/api/token) echo token ;;
    */meta-data/instance-id) echo "$FAKE_INSTANCE_ID" ;;
    */meta-data/placement/availability-zone) echo "$FAKE_AZ" ;;
    */meta-data/autoscaling/target-lifecycle-state)
        jq -r --arg i "$FAKE_INSTANCE_ID" 'if .instances[$i].lifecycle == "Terminating:Wait" then "Terminated" else "InService" end' "$FAKE_AWS_STATE" ;;
    *) exec /usr/bin/curl "$@" ;;
esac
EOF
cat > "$T/bin/systemctl" <<'EOF'
#!/bin/bash
# systemctl for one simulated instance: rananeeti.service is the serve process in /run/rananeeti.pid.
echo "systemctl $*" >> "$FAKE_AWS_LOG"
# A process killed outright stays a zombie until something reaps it (this stub is not its parent): that is
# not running, or a start after a SIGKILL would be skipped.
running() {
    local pid state
    pid=$(cat /run/rananeeti.pid 2>/dev/null) && [ -n "$pid" ] || return 1
    state=$(ps -o stat= -p "$pid" 2>/dev/null) && [ -n "$state" ] && [ "${state#Z}" = "$state" ]
}
stop() {
    if running; then
        kill -TERM "$(cat /run/rananeeti.pid)"
        for _ in $(seq 600); do running || break; sleep 0.1; done
    fi
}
start() {
    (set -a; . /etc/rananeeti/rananeeti.env; set +a
     exec setsid /opt/rananeeti/bin/rananeeti serve >> "$NODE_DIR/serve.log" 2>&1 < /dev/null) &
    echo $! > /run/rananeeti.pid
    echo $! > "$NODE_DIR/serve.pid"
}
case "$1" in
    stop) stop ;;
    start) running || start ;;
    try-restart) if running; then stop; start; fi ;;
    is-active) running ;;
    is-failed) exit 1 ;;
esac
exit 0
EOF
cat > "$T/bin/systemd-run" <<'EOF'
#!/bin/bash
# systemd-run --wait --pipe ... -p EnvironmentFile=F CMD: the command with the file's environment, here.
envfile=""
while [ $# -gt 0 ]; do
    case "$1" in
        -p) case "$2" in EnvironmentFile=*) envfile=${2#EnvironmentFile=} ;; esac; shift 2 ;;
        -*) shift ;;
        *) break ;;
    esac
done
set -a
[ -n "$envfile" ] && . "$envfile"
set +a
exec "$@"
EOF
printf '#!/bin/sh\nexit 0\n' > "$T/bin/udevadm"
chmod 0755 "$T"/bin/*

# `aws s3 cp` hands out the CA of this run (RDS_CA_URI names it, as a stack would name its own copy).
export FAKE_AWS_STATE=$T/state.json FAKE_AWS_LOG=$T/aws.calls FAKE_AWS_BYID=$T/by-id FAKE_AWS_RELEASE=$T/tls/ca.pem
export RANANEETI_BY_ID=$T/by-id
: > "$FAKE_AWS_LOG"

# state_set PYTHON: changes the fake AWS state under its lock (as the group does when it retires an instance).
state_set() {
    python3 - "$FAKE_AWS_STATE" "$1" <<'PY'
import fcntl, json, os, sys
path, change = sys.argv[1], sys.argv[2]
with open(path + ".lock", "a") as lock:
    fcntl.flock(lock, fcntl.LOCK_EX)
    st = json.load(open(path))
    exec(change)
    json.dump(st, open(path + ".tmp", "w"), indent=1)
    os.replace(path + ".tmp", path)
PY
}
state() { jq -r "$1" "$FAKE_AWS_STATE"; }

# ------------------------------------------------------------------ four instances, two per zone
node_ids=(a1 a2 b1 b2)
volumes='{}'
instances='{}'
for node in "${node_ids[@]}"; do
    mkdir -p "$T/$node"
    ZONE[$node]=eu-west-1${node:0:1}
    INSTANCE[$node]=i-0$node
    PORTS[$node]=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
    # The instances share the host's network: each needs an operator listener of its own.
    OPERATOR_PORTS[$node]=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
    truncate -s 64M "$T/$node/volume.img"
    LOOP[$node]=$(losetup --find --show "$T/$node/volume.img")
    LOOPS+=("${LOOP[$node]}")
    mkfs.ext4 -q -L rananeeti-log "${LOOP[$node]}"
    mkdir -p "$T/setup" && mount "${LOOP[$node]}" "$T/setup"
    echo "vol-0$node" > "$T/setup/node-id" && mkdir "$T/setup/log"
    umount "$T/setup"
    ln -s "${LOOP[$node]}" "$T/by-id/nvme-Amazon_Elastic_Block_Store_vol0$node"
    volumes=$(jq -c --arg n "$node" --arg az "${ZONE[$node]}" --arg loop "${LOOP[$node]}" \
        '. + {("vol-0" + $n): {VolumeId: ("vol-0" + $n), AvailabilityZone: $az, State: "in-use", loop: $loop,
              Attachments: [{InstanceId: ("i-0" + $n), State: "attached"}],
              Tags: [{Key: "rananeeti:stack", Value: "cafe"}, {Key: "rananeeti:log-slot", Value: $n},
                     {Key: "rananeeti:node-id", Value: ("vol-0" + $n)}, {Key: "rananeeti:backlog", Value: "unknown"}]}}' <<<"$volumes")
    instances=$(jq -c --arg n "$node" '. + {("i-0" + $n): {state: "running", lifecycle: "InService", group: "cafe-NodeGroup"}}' <<<"$instances")
done
# The session keys as the stack's secret makes them: 64 letters and digits.
new_key() { tr -dc 'A-Za-z0-9' < /dev/urandom | head -c 64 || true; }
FIRST_KEY=$(new_key)
jq -n --argjson v "$volumes" --argjson i "$instances" --arg db "host=127.0.0.1 port=$PRIVATE_PG_PORT dbname=postgres" --arg keys "$FIRST_KEY" \
    '{volumes: $v, instances: $i, signals: [], heartbeats: [], completed: {}, metrics: [], describe_calls: 0,
      secrets: {"app-secret": "{\"username\": \"rananeeti_app\", \"password\": \"unused-with-trust\"}", "session-keys": $keys},
      parameters: {"/rananeeti/cafe/database": $db}}' > "$FAKE_AWS_STATE"

# The node agents and the program where a node has them (/opt/rananeeti), in each namespace.
mkdir -p "$T/opt/rananeeti/bin"
ln -s "$BIN" "$T/opt/rananeeti/bin/rananeeti"
ln -s "$ROOT/deployment/aws" "$T/opt/rananeeti/aws"

for node in "${node_ids[@]}"; do
    cp -a /etc "$T/$node/etc"
    mkdir -p "$T/$node/etc/rananeeti"
    cat > "$T/$node/etc/rananeeti/stack.env" <<EOF
STACK=cafe
AWS_DEFAULT_REGION=eu-west-1
LOG_STORAGE=ebs
DRAIN_MINUTES=1
LIFECYCLE_HOOK=rananeeti-drain
METRICS_NAMESPACE=Rananeeti
APP_SECRET_ARN=app-secret
DB_PARAMETER=/rananeeti/cafe/database
RDS_CA_URI=s3://cafe-releases/rds-ca.pem
SESSION_KEYS_SECRET_ARN=session-keys
SIGN_IN=None
EOF
    echo "vol-0$node" > "$T/$node/etc/rananeeti/volume-id"
    cat > "$T/$node/etc/rananeeti/rananeeti.env" <<EOF
RANANEETI_LISTEN=127.0.0.1:${PORTS[$node]}
RANANEETI_OPERATOR_LISTEN=127.0.0.1:${OPERATOR_PORTS[$node]}
RANANEETI_DATA_DIR=/var/lib/rananeeti/log
RANANEETI_NODE_ID=vol-0$node
RANANEETI_DATABASE=service=rananeeti
PGSERVICEFILE=/etc/rananeeti/pg_service.conf
PGUSER=rananeeti_app
PGPASSFILE=/etc/rananeeti/pgpass
RANANEETI_POST_RATE_LIMIT=200/400
RANANEETI_LOG_LEVEL=info
EOF
    # As the bootstrap writes it: the keys rananeeti-db-config fetches from the stack's secret.
    if [ "$SABOTAGE" != own-keys ]; then echo "RANANEETI_SESSION_KEYS_FILE=/etc/rananeeti/session-keys" >> "$T/$node/etc/rananeeti/rananeeti.env"; fi
    # The holder keeps the instance's mount namespace alive; everything of the instance runs in it. /opt gets
    # a tmpfs for /opt/rananeeti, with the host's own /opt entries (the Swift runtime) bound back into it.
    # (unshare --fork ignores SIGTERM: the holder's inner PID, in holder.pid, is what ends it.)
    # shellcheck disable=SC2016  # $1..$3 belong to the inner shell
    unshare -m --propagation private --fork bash -c '
        echo $$ > "$1/holder.pid"
        mount --bind "$1/etc" /etc
        mkdir -p "$2/host-opt" && mount --rbind /opt "$2/host-opt"
        for d in /run /mnt /var/lib /opt; do mount -t tmpfs tmpfs "$d"; done
        for entry in "$2"/host-opt/*; do
            [ -d "$entry" ] || continue
            mkdir -p "/opt/${entry##*/}" && mount --rbind "$entry" "/opt/${entry##*/}"
        done
        mkdir -p /var/lib/rananeeti /opt/rananeeti
        mount --bind "$2/opt/rananeeti" /opt/rananeeti
        mount "$3" /var/lib/rananeeti
        exec sleep infinity' holder "$T/$node" "$T" "${LOOP[$node]}" &
    HOLDERS[$node]=$!
done
# in_node NODE COMMAND...: runs COMMAND inside the instance, with its identity and the stubs.
in_node() {
    local node=$1; shift
    nsenter -t "${HOLDERS[$node]}" -m -- env PATH="$T/bin:$PATH" FAKE_INSTANCE_ID="${INSTANCE[$node]}" \
        FAKE_AZ="${ZONE[$node]}" NODE_DIR="$T/$node" "$@"
}
for node in "${node_ids[@]}"; do
    wait_for "$node: instance namespace ready" 30 in_node "$node" mountpoint -q /var/lib/rananeeti || exit 1
    # The service's user (for its password file), and its database settings as the stack gives them.
    in_node "$node" useradd --system --no-create-home rananeeti
    in_node "$node" /opt/rananeeti/aws/rananeeti-db-config 2> "$T/$node/agent-db-config.log" \
        || { no "$node: rananeeti-db-config wrote the database settings"; cat "$T/$node/agent-db-config.log"; exit 1; }
done
check "database settings from the stack: verify-full against the stack's CA" \
    in_node a1 grep -qx 'sslmode=verify-full' /etc/rananeeti/pg_service.conf
same_keys() {  # same_keys TEXT: every node holds the stack's keys, root:rananeeti 0640
    local node
    for node in "${node_ids[@]}"; do
        [ "$(in_node "$node" stat -c %U:%G:%a /etc/rananeeti/session-keys)" = root:rananeeti:640 ] || return 1
        [ "$(in_node "$node" cat /etc/rananeeti/session-keys)" = "$1" ] || return 1
    done
}
check "every node holds the stack's session keys (root:rananeeti 0640)" same_keys "$FIRST_KEY"

start_serve() {  # start_serve NODE: as systemd would (the stub)
    in_node "$1" systemctl start rananeeti.service
}
url() { echo "http://127.0.0.1:${PORTS[$1]}"; }
operator_url() { echo "http://127.0.0.1:${OPERATOR_PORTS[$1]}"; }
# The details of readiness (lag, intake) are on the operator listener; the public one says only the status.
readyz_field() { curl -sS --max-time 5 "$(operator_url "$1")/readyz" | jq -r "$2"; }
ready() { [ "$(curl -s -o /dev/null -w '%{http_code}' --max-time 5 "$(url "$1")/readyz")" = 200 ]; }
lag_zero() { [ "$(readyz_field "$1" '.projection.lagEvents')" = 0 ]; }

# post NODE NAME: a reservation; prints the HTTP status, records the digest when stored, and keeps the private
# link the node handed out (the answer's Location) in $T/NODE/last-link.
post() {
    local answer status
    answer=$(curl -sS --max-time 10 -D "$T/post-headers" -w '\n%{http_code}' -H 'Content-Type: application/json' \
        --data-binary "{\"name\": \"$2\", \"people\": 2, \"datetime\": \"2031-05-0$((RANDOM % 9 + 1))T19:00\"}" \
        "$(url "$1")/api/v1/reservations")
    status=$(tail -n 1 <<<"$answer")
    if [ "$status" = 201 ] || [ "$status" = 200 ]; then
        head -n 1 <<<"$answer" | jq -r .digest >> "$T/acknowledged"
        sed -n 's/^[Ll]ocation: *//p' "$T/post-headers" | tr -d '\r' > "$T/$1/last-link"
    fi
    echo "$status"
}
# opens NODE LINK: the HTTP status of a private link on a node (no cookie, no sign-in: the link alone).
opens() { curl -s -o /dev/null -w '%{http_code}' --max-time 10 "$(url "$1")$2"; }
opens_everywhere() {  # opens_everywhere LINK NODE...: 200 on each
    local link=$1 node; shift
    for node in "$@"; do [ "$(opens "$node" "$link")" = 200 ] || { echo "$node: $(opens "$node" "$link")"; return 1; }; done
}
: > "$T/acknowledged"
post_many() {  # post_many NODE COUNT LABEL: all must be stored
    local i status bad=0
    for i in $(seq "$2"); do
        status=$(post "$1" "$3 $1 $i")
        [ "$status" = 201 ] || bad=$((bad + 1))
    done
    if [ "$bad" -eq 0 ]; then ok "$1: $2 reservations taken ($3)"; else no "$1: $bad of $2 reservations not taken ($3)"; fi
}

# ------------------------------------------------------------------ 1. four nodes, the database up
for node in "${node_ids[@]}"; do start_serve "$node"; done
for node in "${node_ids[@]}"; do wait_for "$node: ready" 90 ready "$node" || exit 1; done
say "four nodes ready"
for node in "${node_ids[@]}"; do post_many "$node" 10 "before"; done
for node in "${node_ids[@]}"; do wait_for "$node: projected (lag 0)" 60 lag_zero "$node"; done
# A guest's private link from a1 opens wherever the load balancer sends them: every node checks it with the
# same keys (the reservation itself comes from the database).
LINK=$(cat "$T/a1/last-link")
check "a1's answer carries a private link ($LINK)" grep -Eq '^/api/v1/reservations/[0-9a-f]{20}\?token=[A-Za-z0-9_-]{22}$' <<<"$LINK"
check "a1's private link opens on a1, a2, b1 and b2 (200): one set of session keys" opens_everywhere "$LINK" a1 a2 b1 b2
check "the link with another token opens nowhere (401)" test "$(opens b1 "${LINK%??}AA")" = 401
# The backup that step 8 restores: the database as it is now, before everything below.
pg_dump -Fc -f "$T/backup.dump" "$OWNER_DB"

# ------------------------------------------------------------------ 2. the database stops
"$ROOT/scripts/private-postgres" stop-immediate "$PG_DIR"
say "PostgreSQL stopped"
for node in "${node_ids[@]}"; do post_many "$node" 8 "outage"; done

# ------------------------------------------------------------------ 3. scale-in 4 -> 2 during the outage
# a2 and b2 give up on the database after 6 s; a1 (retired in step 7, when the database comes back) waits
# up to 2 minutes, as a real node waits up to DrainMinutes.
for node in "${node_ids[@]}"; do
    patience=6
    [ "$node" = a1 ] && patience=120
    # exec all the way down, so that $! is the agent itself (cleanup ends it by that number)
    ( exec nsenter -t "${HOLDERS[$node]}" -m -- env PATH="$T/bin:$PATH" FAKE_INSTANCE_ID="${INSTANCE[$node]}" \
        FAKE_AZ="${ZONE[$node]}" NODE_DIR="$T/$node" RANANEETI_LIFECYCLE_POLL_SECONDS=0.5 RANANEETI_DRAIN_TRY_SECONDS=2 \
        RANANEETI_DRAIN_SECONDS=$patience /opt/rananeeti/aws/rananeeti-lifecycle ) > "$T/$node/agent-lifecycle.log" 2>&1 &
    BACKGROUND+=($!)
done
state_set 'for i in ("i-0a2", "i-0b2"): st["instances"][i]["lifecycle"] = "Terminating:Wait"'
say "the group retires a2 and b2"
draining() { [ "$(readyz_field "$1" .status)" = draining ]; }
for node in a2 b2; do
    if wait_for "$node: says draining" 60 draining "$node"; then
        ok "$node: /readyz says draining"
        check "$node: a new reservation is refused (503) while draining" test "$(post "$node" "late $node")" = 503
    fi
done
completed() { [ "$(state ".completed[\"$1\"] // empty")" != "" ]; }
for node in a2 b2; do wait_for "$node: lifecycle action completed" 120 completed "${INSTANCE[$node]}"; done
for node in a2 b2; do
    volume=vol-0$node
    check "$node: gave up on the database (ABANDON)" test "$(state ".completed[\"${INSTANCE[$node]}\"]")" = ABANDON
    check "$node: kept the hook alive with heartbeats" test "$(state "[.heartbeats[] | select(. == \"${INSTANCE[$node]}\")] | length")" -ge 1
    check "$node: tagged its volume with the 8 events only on it" test "$(state ".volumes[\"$volume\"].Tags[] | select(.Key == \"rananeeti:backlog\") | .Value")" = 8
    check "$node: its volume is free" test "$(state ".volumes[\"$volume\"].State")" = available
    check "$node: stopped the service" process_gone "$(cat "$T/$node/serve.pid")"
    check "$node: unmounted the log" bash -c "! nsenter -t ${HOLDERS[$node]} -m mountpoint -q /var/lib/rananeeti"
done
for node in a1 b1; do check "$node: still ready" ready "$node"; done

# ------------------------------------------------------------------ 4. orphan jobs while the database is down
for node in a1 b1; do
    in_node "$node" env RANANEETI_ORPHAN_DRAIN_SECONDS=2 /opt/rananeeti/aws/rananeeti-orphans > "$T/$node/agent-orphans-1.log" 2>&1 || true
done
last_metric() { state "[.metrics[] | select(.name == \"$1\" and (.dimensions | contains(\"NodeId\") | not))] | last | .value // \"none\""; }
check "orphan job, database down: the orphans are counted (OrphanedLogVolumes 2)" test "$(last_metric OrphanedLogVolumes)" = 2
for node in a2 b2; do
    check "vol-0$node: still free after a failed projection" test "$(state ".volumes[\"vol-0$node\"].State")" = available
done
check "each orphan job attached only its own zone's orphan" bash -c \
    "grep -q 'attach-volume --volume-id vol-0a2 --instance-id i-0a1' '$FAKE_AWS_LOG' && grep -q 'attach-volume --volume-id vol-0b2 --instance-id i-0b1' '$FAKE_AWS_LOG' && ! grep -q 'attach-volume --volume-id vol-0b2 --instance-id i-0a1' '$FAKE_AWS_LOG'"

# ------------------------------------------------------------------ 5. the database is back; the orphans are projected
"$ROOT/scripts/private-postgres" restart "$PG_DIR"
say "PostgreSQL started again"
if [ "$SABOTAGE" != no-orphan-job ]; then
    for node in a1 b1; do
        in_node "$node" env RANANEETI_ORPHAN_DRAIN_SECONDS=60 /opt/rananeeti/aws/rananeeti-orphans > "$T/$node/agent-orphans-2.log" 2>&1 || true
    done
fi
for node in a2 b2; do
    check "vol-0$node: projected by the orphan job (backlog 0)" test "$(state ".volumes[\"vol-0$node\"].Tags[] | select(.Key == \"rananeeti:backlog\") | .Value")" = 0
    check "vol-0$node: detached again" test "$(state ".volumes[\"vol-0$node\"].State")" = available
done
check "no orphan left (OrphanedLogVolumes 0)" test "$(last_metric OrphanedLogVolumes)" = 0
for node in a1 b1; do wait_for "$node: projected (lag 0)" 60 lag_zero "$node"; done

# ------------------------------------------------------------------ 6. every reservation, once
sql() { psql -X -A -t -q -v ON_ERROR_STOP=1 "$OWNER_DB" -c "$1"; }
sort -u "$T/acknowledged" > "$T/acknowledged.sorted"
sql "SELECT trim(ordrdgst) FROM cafe.ordersraw ORDER BY 1" > "$T/stored"
missing=$(comm -23 "$T/acknowledged.sorted" "$T/stored" | wc -l)
foreign=$(comm -13 "$T/acknowledged.sorted" "$T/stored" | wc -l)
check "every acknowledged reservation is in cafe.ordersraw ($(wc -l < "$T/acknowledged.sorted") acknowledged, $missing missing)" test "$missing" -eq 0
check "nothing in cafe.ordersraw that no node acknowledged ($foreign)" test "$foreign" -eq 0
check "no digest twice" test "$(sql "SELECT count(*) - count(DISTINCT ordrdgst) FROM cafe.ordersraw")" = 0
for node in "${node_ids[@]}"; do
    check "node vol-0$node: checkpoint at its log's end (18)" test "$(sql "SELECT next_offset FROM cafe.projector_checkpoints WHERE node_id = 'vol-0$node'")" = 18
done

# ------------------------------------------------------------------ 7. the session keys rotated
# The operator's rotation (deployment/README.md, "Sign-in and sessions on AWS"): a new key first, the old one
# second, in the stack's secret; each node's rananeeti-db-config (its timer) takes them and restarts the service.
restarts() { grep -c 'systemctl try-restart rananeeti.service' "$FAKE_AWS_LOG" || true; }
NEW_KEY=$(new_key)
state_set "st['secrets']['session-keys'] = '$NEW_KEY\\n$FIRST_KEY'"
before=$(restarts)
for node in a1 b1; do in_node "$node" /opt/rananeeti/aws/rananeeti-db-config 2>> "$T/$node/agent-db-config.log"; done
check "rotation: each node restarted once for its new keys" test "$(restarts)" = $((before + 2))
keys_are() {  # keys_are NODE TEXT
    [ "$(in_node "$1" cat /etc/rananeeti/session-keys)" = "$2" ]
}
check "rotation: a1 holds the new key first, the old one second" keys_are a1 "$NEW_KEY"$'\n'"$FIRST_KEY"
check "rotation: b1 too" keys_are b1 "$NEW_KEY"$'\n'"$FIRST_KEY"
for node in a1 b1; do wait_for "$node: ready after the rotation" 90 ready "$node"; done
check "rotation: the link made under the old key still opens on a1 and b1" opens_everywhere "$LINK" a1 b1
NEW_LINK=$(curl -s --max-time 10 "$(url a1)$LINK" | jq -r '.links.self // empty')
check "rotation: a1 now hands out links under the new key" test -n "$NEW_LINK" -a "$NEW_LINK" != "$LINK"
check "rotation: a1's new link opens on b1" opens_everywhere "$NEW_LINK" b1
before=$(restarts)
in_node a1 /opt/rananeeti/aws/rananeeti-db-config 2>> "$T/a1/agent-db-config.log"
check "rotation: keys unchanged, no restart" test "$(restarts)" = "$before"
state_set "st['secrets']['session-keys'] = 'not-a-key'"
if in_node a1 /opt/rananeeti/aws/rananeeti-db-config 2>> "$T/a1/agent-db-config.log"; then
    no "a secret that holds no keys must be refused"
else
    ok "a secret that holds no keys is refused"
fi
check "... the last good keys kept, no restart" bash -c "test '$(restarts)' = '$before' && grep -q 'does not hold session keys' '$T/a1/agent-db-config.log'"
check "... the last good keys kept" keys_are a1 "$NEW_KEY"$'\n'"$FIRST_KEY"
state_set "st['secrets']['session-keys'] = '$NEW_KEY\\n$FIRST_KEY'"

# ------------------------------------------------------------------ 8. drill: Aurora restored from a backup
# The backup was taken after step 1; since then the outage, the retirements and these came.
for node in a1 b1; do post_many "$node" 4 "after the backup"; done
for node in a1 b1; do wait_for "$node: projected (lag 0)" 60 lag_zero "$node"; done
# The restore, into a new database (as a restored cluster is new); then the stack's parameter names it
# (DatabaseHostsOverride), and each node's rananeeti-db-config - here run at once, as its timer would within
# 5 minutes - follows it.
psql -X -q -v ON_ERROR_STOP=1 "$OWNER_DB" -c "CREATE DATABASE restored" >/dev/null
pg_restore -d "host=127.0.0.1 port=$PRIVATE_PG_PORT user=postgres dbname=restored" "$T/backup.dump"
RESTORED_DB="host=127.0.0.1 port=$PRIVATE_PG_PORT user=postgres dbname=restored"
check "the restored database lacks what came after the backup" test "$(psql -X -A -t -q "$RESTORED_DB" -c "SELECT count(*) FROM cafe.ordersraw")" = 40
state_set "st['parameters']['/rananeeti/cafe/database'] = 'host=127.0.0.1 port=$PRIVATE_PG_PORT dbname=restored'"
before=$(restarts)
for node in a1 b1; do
    in_node "$node" /opt/rananeeti/aws/rananeeti-db-config 2>> "$T/$node/agent-db-config.log"
    check "$node: follows the stack's parameter to the restored database" in_node "$node" grep -qx 'dbname=restored' /etc/rananeeti/pg_service.conf
done
check "the nodes were restarted onto it" test "$(restarts)" -ge $((before + 2))
for node in a1 b1; do wait_for "$node: ready again" 90 ready "$node"; wait_for "$node: the rewind healed (lag 0)" 90 lag_zero "$node"; done
# The runbook: every retired log may hold events the restored database lost; retag them, and the orphan
# jobs project them again (rows already there are left alone).
if [ "$SABOTAGE" != no-retag ]; then
    "$T/bin/aws" ec2 create-tags --resources vol-0a2 vol-0b2 --tags Key=rananeeti:backlog,Value=unknown
    for node in a1 b1; do
        in_node "$node" env RANANEETI_ORPHAN_DRAIN_SECONDS=60 /opt/rananeeti/aws/rananeeti-orphans > "$T/$node/agent-orphans-3.log" 2>&1 || true
    done
fi
rsql() { psql -X -A -t -q -v ON_ERROR_STOP=1 "$RESTORED_DB" -c "$1"; }
sort -u "$T/acknowledged" > "$T/acknowledged.sorted"
rsql "SELECT trim(ordrdgst) FROM cafe.ordersraw ORDER BY 1" > "$T/restored"
missing=$(comm -23 "$T/acknowledged.sorted" "$T/restored" | wc -l)
check "restored database: every acknowledged reservation is back ($(wc -l < "$T/acknowledged.sorted") acknowledged, $missing missing)" test "$missing" -eq 0
check "restored database: no digest twice" test "$(rsql "SELECT count(*) - count(DISTINCT ordrdgst) FROM cafe.ordersraw")" = 0
check "restored database: a1 and b1 at their logs' ends (22)" test "$(rsql "SELECT string_agg(next_offset::text, ',' ORDER BY node_id) FROM cafe.projector_checkpoints WHERE node_id IN ('vol-0a1', 'vol-0b1')")" = 22,22
OWNER_DB=$RESTORED_DB

# ------------------------------------------------------------------ 9. drill: a zone lost with a backlog in it
"$ROOT/scripts/private-postgres" stop-immediate "$PG_DIR"
post_many b1 3 "zone b's last"
# The snapshot: Data Lifecycle Manager's, or one taken by hand; crash-consistent, as a frozen copy is.
in_node b1 fsfreeze -f /var/lib/rananeeti
cp --sparse=always "$T/b1/volume.img" "$T/b1-snapshot.img"
in_node b1 fsfreeze -u /var/lib/rananeeti
# Zone b is gone: b1 with it, no drain; its volume stays attached to an instance nobody can reach.
kill -KILL "$(cat "$T/b1/serve.pid")"
wait_for "b1: its serve is gone with the zone" 30 process_gone "$(cat "$T/b1/serve.pid")" || exit 1
"$ROOT/scripts/private-postgres" restart "$PG_DIR"
# The runbook: a volume from the snapshot in zone a, tagged as a copy of b1's (never a slot: no node may run
# it as its own), with the backlog unknown.
COPY_LOOP=$(losetup --find --show "$T/b1-snapshot.img")
LOOPS+=("$COPY_LOOP")
state_set "st['volumes']['vol-0b1copy'] = {'VolumeId': 'vol-0b1copy', 'AvailabilityZone': 'eu-west-1a', 'State': 'available',
    'Attachments': [], 'loop': '$COPY_LOOP', 'Tags': [{'Key': 'rananeeti:stack', 'Value': 'cafe'},
    {'Key': 'rananeeti:node-id', 'Value': 'vol-0b1'}, {'Key': 'rananeeti:copy-of', 'Value': 'vol-0b1'},
    {'Key': 'rananeeti:backlog', 'Value': 'unknown'}]}"
in_node a1 env RANANEETI_ORPHAN_DRAIN_SECONDS=60 /opt/rananeeti/aws/rananeeti-orphans > "$T/a1/agent-orphans-4.log" 2>&1 || true
check "the copy was projected in zone a (backlog 0)" test "$(state '.volumes["vol-0b1copy"].Tags[] | select(.Key == "rananeeti:backlog") | .Value')" = 0
missing=$(tail -n 3 "$T/acknowledged" | while read -r d; do [ "$(rsql "SELECT count(*) FROM cafe.ordersraw WHERE ordrdgst = '$d'")" = 1 ] || echo "$d"; done | wc -l)
check "zone b's last reservations are in the database ($missing missing)" test "$missing" -eq 0
check "b1's checkpoint at the copy's end (25)" test "$(rsql "SELECT next_offset FROM cafe.projector_checkpoints WHERE node_id = 'vol-0b1'")" = 25
# The zone returns: b1 runs on its own volume again, as the node it always was.
start_serve b1
wait_for "b1: ready on its own volume again" 90 ready b1
post_many b1 1 "zone b back"
wait_for "b1: projected (lag 0)" 60 lag_zero b1
check "b1 continues after the copy: checkpoint 26, nothing twice" test "$(rsql "SELECT next_offset FROM cafe.projector_checkpoints WHERE node_id = 'vol-0b1'")" = 26
check "no digest twice after the zone came back" test "$(rsql "SELECT count(*) - count(DISTINCT ordrdgst) FROM cafe.ordersraw")" = 0

# ------------------------------------------------------------------ 10. a retirement the database's return ends in time
post_many a1 3 "late"
"$ROOT/scripts/private-postgres" stop-immediate "$PG_DIR"
post_many a1 2 "second outage"
state_set 'st["instances"]["i-0a1"]["lifecycle"] = "Terminating:Wait"'
if wait_for "a1: says draining" 60 draining a1; then
    "$ROOT/scripts/private-postgres" restart "$PG_DIR"
    wait_for "a1: lifecycle action completed" 120 completed i-0a1
    check "a1: drained in time, the termination goes on (CONTINUE)" test "$(state '.completed["i-0a1"]')" = CONTINUE
    check "a1: volume tagged backlog 0" test "$(state '.volumes["vol-0a1"].Tags[] | select(.Key == "rananeeti:backlog") | .Value')" = 0
    check "a1: its last reservations are in the database" test "$(rsql "SELECT next_offset FROM cafe.projector_checkpoints WHERE node_id = 'vol-0a1'")" = 27
fi

passed=$(grep -c '^ok ' "$RESULTS" || true)
failed=$(grep -c '^FAIL ' "$RESULTS" || true)
say "$passed of $((passed + failed)) checks hold"
[ "$failed" -eq 0 ]
