#!/usr/bin/env bash
# deployment/tests/bootstrap-simulation.sh USER_DATA_SCRIPT
#
# Runs a node's first boot - the launch template's user data (rendered by scripts/check-deployment), which
# fetches the release and runs its aws/node-bootstrap (deployment/aws) - on this machine as if it were a new
# EC2 instance, without AWS: the AWS CLI is deployment/tests/fake-aws.py, and the instance metadata service,
# apt, the agents' downloads, psql, the program and systemd are stubs; each EBS log volume is a loop device,
# and EFS is a directory shared by the instances. Everything an instance writes (/etc, /opt, /var/lib,
# /var/log, /usr/local/sbin, /run, /mnt, /tmp) lands in a private mount namespace that disappears afterwards;
# the file systems it formats and mounts are real.
#
# Scenarios:
#   fresh        first boot: takes a fresh volume, formats it, node id = volume id; the service's own login
#                (never the master's) in its settings, the database's address from the stack's parameter,
#                migrations as the master user through a private file that is gone afterwards; the agents
#   reattach     replacement: the lost node's instance is still running but being retired by the group
#                (Terminating:Wait, draining): it waits for that volume, takes it (not the fresh one), keeps
#                its node id and its data
#   backlog      of two logs free in the zone, the one with events the database may lack comes first
#   loop         the third instance on one log within an hour: a replacement loop, reported (metric)
#   guard        a volume tagged with a node id but blank is never formatted
#   sign-in      SignIn Cognito: the provider, the client, the callback, the staff rule and the require-sign-in
#                setting in the service's environment; the client secret and the session keys only in their
#                files (root:rananeeti 0640), never in the environment
#   bad-keys     a session keys secret the service would refuse: the bootstrap stops and says why, the service
#                is never started
#   efs-race     LogStorage efs: two instances boot at once next to one node directory that no node runs:
#                exactly one of them runs it (the writer lock decides), the other makes a new one
#   efs-late     the race lost for certain: the log looked free, but another node took it before the service
#                started; the service cannot lock it, and the instance moves on to a directory of its own
#
# Needs root, unshare, losetup, mkfs.ext4, flock, jq. Prints one line per assertion; exits 1 if any failed,
# 3 if the machine cannot run it.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
USER_DATA=${1:?usage: bootstrap-simulation.sh USER_DATA_SCRIPT}
DEPLOY=$HERE/..
UNIT=$DEPLOY/systemd/rananeeti.service

for tool in unshare losetup mkfs.ext4 blkid flock jq python3; do
    command -v "$tool" >/dev/null 2>&1 || { echo "cannot simulate: $tool is missing"; exit 3; }
done
[ "$(id -u)" -eq 0 ] || { echo "cannot simulate: needs root"; exit 3; }
unshare -m --fork true 2>/dev/null || { echo "cannot simulate: no mount namespaces here"; exit 3; }

T=$(mktemp -d /var/tmp/rananeeti-bootstrap.XXXXXX)
LOOPS=()
cleanup() {
    local l pid
    cat "$T"/*.serve-pids 2>/dev/null | while read -r pid; do kill "$pid" 2>/dev/null || true; done
    for l in "${LOOPS[@]}"; do losetup -d "$l" 2>/dev/null || true; done
    rm -rf "$T"
}
trap cleanup EXIT

mkdir -p "$T/bin" "$T/by-id" "$T/efs" "$T/release/rananeeti-0.0.0-test/bin" "$T/release/rananeeti-0.0.0-test/systemd"
cp "$USER_DATA" "$T/user-data.sh"

# A release tarball with one top-level directory, as scripts/package makes it: the real node scripts, a stub
# program. The program's `serve` holds the log's writer lock as the real one does (flock on writer.lock).
R=$T/release/rananeeti-0.0.0-test
cat > "$R/bin/rananeeti" <<'EOF'
#!/bin/bash
case "$1" in
    --version) echo "rananeeti 0.0.0-test" ;;
    db) echo "rananeeti db $2 PGUSER=${PGUSER:-} PGPASSFILE=${PGPASSFILE:-} $(cat "${PGPASSFILE:-/dev/null}" 2>/dev/null | cut -d: -f4)" >> "$FAKE_AWS_LOG" ;;
    serve)
        exec 9>> "$RANANEETI_DATA_DIR/writer.lock"
        if ! flock -n 9; then
            echo "rananeeti: The event log in this directory is already open for writing by another process."
            exit 1
        fi
        touch /run/rananeeti.ready
        exec /usr/bin/sleep 600 ;;
    *) echo "stub rananeeti: $*" >> "$FAKE_AWS_LOG" ;;
esac
EOF
chmod 0755 "$R/bin/rananeeti"
cp "$UNIT" "$R/systemd/rananeeti.service"
cp -r "$DEPLOY/aws" "$R/aws"
tar -czf "$T/release.tar.gz" -C "$T/release" rananeeti-0.0.0-test

# Stubs for what a test machine lacks or must not do.
# The system's python3 when there is one: a version manager's shim costs a noticeable start per call.
PYTHON=$(command -v /usr/bin/python3 || command -v python3)
sed "1s|.*|#!$PYTHON|" "$HERE/fake-aws.py" > "$T/bin/aws"
cat > "$T/bin/curl" <<'EOF'
#!/bin/bash
# IMDSv2, downloads and the local readiness probe.
out="" url=""
while [ $# -gt 0 ]; do
    case "$1" in
        -o) out=$2; shift ;;
        http*) url=$1 ;;
    esac
    shift
done
echo "curl $url" >> "$FAKE_AWS_LOG"
case "$url" in
    */latest/api/token) echo token ;;
    */meta-data/instance-id) echo "$FAKE_INSTANCE_ID" ;;
    */meta-data/placement/availability-zone) echo "$FAKE_AZ" ;;
    *amazon-ssm-agent.deb|*amazon-cloudwatch-agent.deb) exit 22 ;;
    *truststore.pki.rds.amazonaws.com*) echo "FAKE RDS CA" > "$out" ;;
    http://127.0.0.1:8080/readyz) echo '{"status": "ready"}' ;;
    http://127.0.0.1:9090/readyz) echo '{"status": "ready", "projection": {"lagEvents": 0}}' ;;
    *) echo "fake curl: unexpected $url" >&2; exit 22 ;;
esac
EOF
cat > "$T/bin/dpkg-query" <<'EOF'
#!/bin/sh
# A prepared image: everything but lz4 is there already.
[ "$3" = lz4 ] || [ "$4" = lz4 ] && exit 1
echo "install ok installed"
EOF
cat > "$T/bin/psql" <<'EOF'
#!/bin/bash
# The service's login does not work yet (first boot); everything else succeeds. What psql is given is logged.
echo "psql $*" >> "$FAKE_AWS_LOG"
case "$*" in *"SELECT 1"*) exit 2 ;; esac
{ echo "--- psql stdin (PGUSER=${PGUSER:-})"; cat; } >> "$FAKE_AWS_LOG.sql"
EOF
cat > "$T/bin/systemctl" <<'EOF'
#!/bin/bash
# systemd for the simulation: `start rananeeti.service` runs the stub program's serve, as the unit would.
echo "systemctl $*" >> "$FAKE_AWS_LOG"
case "$1 ${2:-}" in
    "is-active "*) exit 3 ;;
    "start rananeeti.service")
        rm -f /run/rananeeti.ready
        (set -a; . /etc/rananeeti/rananeeti.env; set +a
         exec setsid /opt/rananeeti/bin/rananeeti serve > /run/rananeeti.log 2>&1 < /dev/null) &
        echo $! >> "$SERVE_PIDS"
        for _ in $(seq 100); do
            [ -e /run/rananeeti.ready ] && exit 0
            kill -0 $! 2>/dev/null || exit 1
            /usr/bin/sleep 0.05
        done
        exit 1 ;;
esac
exit 0
EOF
cat > "$T/bin/journalctl" <<'EOF'
#!/bin/sh
cat /run/rananeeti.log 2>/dev/null
EOF
for cmd in apt-get dpkg udevadm; do
    # shellcheck disable=SC2016  # $* and $FAKE_AWS_LOG belong to the stub
    printf '#!/bin/sh\necho "%s $*" >> "$FAKE_AWS_LOG"\n' "$cmd" > "$T/bin/$cmd"
done
cat > "$T/bin/systemd-run" <<'EOF'
#!/bin/sh
echo "systemd-run $*" >> "$FAKE_AWS_LOG"
EOF
printf '#!/bin/sh\nexec /usr/bin/sleep 0.05\n' > "$T/bin/sleep"
chmod 0755 "$T"/bin/*
mkdir -p "$T/bin-late"
cat > "$T/bin-late/flock" <<'EOF'
#!/bin/sh
# The bootstrap's look at a writer lock (flock -n FILE true) says "free", whoever holds it.
[ "$1" = -n ] && [ "$3" = true ] && exit 0
exec /usr/bin/flock "$@"
EOF
chmod 0755 "$T/bin-late/flock"

# Volumes in zone a (loop devices), one in zone b (never attachable here).
new_loop() {  # new_loop NAME: attaches a blank image, sets LOOP (not in a subshell: LOOPS must see it)
    truncate -s 64M "$T/$1.img"
    LOOP=$(losetup --find --show "$T/$1.img")
    LOOPS+=("$LOOP")
}
new_loop vol-0a1; LOOP_A1=$LOOP
new_loop vol-0a2; LOOP_A2=$LOOP
new_loop vol-0a3; LOOP_A3=$LOOP

vol() {  # vol ID ZONE STATE LOOP [NODE_ID] [ATTACHED_TO] [BACKLOG]
    local tags='[{"Key":"rananeeti:stack","Value":"cafe"},{"Key":"rananeeti:log-slot","Value":"x"}]'
    [ -n "${5:-}" ] && tags=$(jq -c --arg n "$5" '. + [{"Key":"rananeeti:node-id","Value":$n}]' <<<"$tags")
    [ -n "${7:-}" ] && tags=$(jq -c --arg b "$7" '. + [{"Key":"rananeeti:backlog","Value":$b}]' <<<"$tags")
    local att='[]'
    [ -n "${6:-}" ] && att=$(jq -nc --arg i "$6" '[{InstanceId: $i, State: "attached"}]')
    jq -nc --arg id "$1" --arg az "$2" --arg s "$3" --arg loop "$4" --argjson tags "$tags" --argjson att "$att" \
        '{VolumeId: $id, AvailabilityZone: $az, State: $s, Tags: $tags, Attachments: $att, loop: $loop}'
}
# The session keys as the stack's secret makes them (64 letters and digits), and Cognito's client secret.
SESSION_KEYS=Zk3mQ9pL2xV7aB4nR8tY1wE6uI0oP5sD3fG7hJ2kL9zX4cV8bN1mQ6wE0rT5yU3i
CLIENT_SECRET=c1ient-s3cret-0f-the-p00l
export SESSION_KEYS CLIENT_SECRET
state() {  # state VOLUMES-JSON-OBJECT INSTANCES-JSON-OBJECT EVENTS-JSON-ARRAY [SESSION-KEYS]
    jq -n --argjson v "$1" --argjson i "$2" --argjson e "$3" --arg keys "${4:-$SESSION_KEYS}" --arg client "$CLIENT_SECRET" \
        '{volumes: $v, instances: $i, events: $e, signals: [], metrics: [], describe_calls: 0,
          secrets: {"sample-MasterSecretArn": "{\"username\": \"cafeadmin\", \"password\": \"p:w\\\\x\"}",
                    "sample-AppSecretArn": "{\"username\": \"rananeeti_app\", \"password\": \"s3rv1ce\"}",
                    "sample-SessionKeysSecretArn": $keys, "cognito-client-secret-arn": $client},
          parameters: {"/rananeeti/cafe/database": "host=cafe.cluster-x.eu-west-1.rds.amazonaws.com,cafe-a.x.eu-west-1.rds.amazonaws.com port=5432 dbname=cafe"}}' > "$T/state.json"
}

# What runs inside the private mount namespace: the first boot, then the scenario's assertions (the
# namespace's files vanish with it).
cat > "$T/inside.sh" <<'EOF'
#!/bin/bash
set -uo pipefail
scenario=$1 instance=${2:-$1}
# Out of the working directory first: it may be under /tmp, which is hidden below, and a program started
# there (pyenv's python3 shim, for one) fails when it cannot enter it.
cd "$T" || exit 1
mount --make-rprivate /
cp -a /etc "$T/etc-$instance" && mount --bind "$T/etc-$instance" /etc
for d in /opt /usr/local/sbin /var/lib /var/log /run /mnt /tmp; do mount -t tmpfs tmpfs "$d"; done
mkdir -p /mnt/rananeeti-efs && mount --bind "$T/efs" /mnt/rananeeti-efs
[ "$scenario" = efs-race ] || rm -f "$T"/by-id/*
ud=$T/user-data.sh
if [ "$scenario" = efs-race ] || [ "$scenario" = efs-late ]; then
    # One copy per instance: the two instances of this scenario boot at the same time.
    ud=$T/user-data-efs-$instance.sh
    sed -e "s/^LOG_STORAGE=.*/LOG_STORAGE='efs'/" "$T/user-data.sh" > "$ud"
fi
if [ "$scenario" = sign-in ]; then
    # The stack's settings with SignIn Cognito, as the template renders them.
    ud=$T/user-data-sign-in.sh
    sed -e "s|^SIGN_IN=.*|SIGN_IN='Cognito'|" \
        -e "s|^OIDC_ISSUER=.*|OIDC_ISSUER='https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_AbCdEf123'|" \
        -e "s|^OIDC_CLIENT_ID=.*|OIDC_CLIENT_ID='4example0client0id0of0the0site'|" \
        -e "s|^OIDC_CLIENT_SECRET_ARN=.*|OIDC_CLIENT_SECRET_ARN='cognito-client-secret-arn'|" \
        -e "s|^OIDC_REDIRECT_URL=.*|OIDC_REDIRECT_URL='https://cafe.example.org/signin/callback'|" \
        -e "s|^STAFF_CLAIM=.*|STAFF_CLAIM='cognito:groups=staff'|" \
        -e "s|^STAFF_SUBJECTS=.*|STAFF_SUBJECTS='auth0\|0123,9f8e'|" "$T/user-data.sh" > "$ud"
fi
path=$T/bin:$PATH
# efs-late: the look at the writer lock says free, whoever holds it (as when the holder took it a moment later).
[ "$scenario" = efs-late ] && path=$T/bin-late:$path
PATH="$path" RANANEETI_BY_ID="$T/by-id" bash "$ud" > "$T/$instance.out" 2>&1
echo $? > "$T/$instance.rc"
ok() { echo "ok   $scenario: $*"; }
no() { echo "FAIL $scenario: $*"; }
check() { local what=$1; shift; if "$@" >/dev/null 2>&1; then ok "$what"; else no "$what"; fi; }
signals() { jq -r '.signals | join(",")' "$T/state.json"; }
tag() { jq -r --arg v "$1" --arg k "$2" '.volumes[$v].Tags[] | select(.Key == $k) | .Value' "$T/state.json"; }
envv() { sed -n "s/^$1=//p" /etc/rananeeti/rananeeti.env; }
metric() { jq -r --arg n "$1" '[.metrics[] | select(.name == $n)] | last | .value // "none"' "$T/state.json"; }
case "$scenario" in
fresh)
    check "bootstrap exits 0" test "$(cat "$T/fresh.rc")" = 0
    check "signals SUCCESS" test "$(signals)" = SUCCESS
    check "runs the bootstrap from the release" test -x /opt/rananeeti/aws/node-bootstrap
    check "installs only what the image lacks" grep -qx 'apt-get install -y -q --no-install-recommends lz4' "$FAKE_AWS_LOG"
    check "attaches the first fresh volume of its zone" grep -q 'attach-volume --volume-id vol-0a1 --instance-id i-0new' "$FAKE_AWS_LOG"
    check "formats it (ext4, label rananeeti-log)" test "$(blkid -s LABEL -o value "$LOOP_A1")" = rananeeti-log
    check "mounts it at /var/lib/rananeeti" mountpoint -q /var/lib/rananeeti
    check "fstab mounts it by UUID with nofail" grep -q "^UUID=$(blkid -s UUID -o value "$LOOP_A1") /var/lib/rananeeti ext4 .*nofail" /etc/fstab
    check "node id file = volume id" test "$(cat /var/lib/rananeeti/node-id)" = vol-0a1
    check "volume tagged with its node id" test "$(tag vol-0a1 rananeeti:node-id)" = vol-0a1
    check "volume's backlog unknown while a node runs it" test "$(tag vol-0a1 rananeeti:backlog)" = unknown
    check "boot recorded on the volume" test "$(wc -l < /var/lib/rananeeti/boots)" = 1
    check "log directory owned by rananeeti" test "$(stat -c %U /var/lib/rananeeti/log)" = rananeeti
    check "env file is root:root 0600" test "$(stat -c %U:%G:%a /etc/rananeeti/rananeeti.env)" = root:root:600
    check "env: node id" test "$(envv RANANEETI_NODE_ID)" = vol-0a1
    check "env: data dir" test "$(envv RANANEETI_DATA_DIR)" = /var/lib/rananeeti/log
    check "env: listens for the load balancer" test "$(envv RANANEETI_LISTEN)" = 0.0.0.0:8080
    check "env: posts rate-limited per client" test "$(envv RANANEETI_POST_RATE_LIMIT)" = 5/20
    check "env: X-Forwarded-For believed from the load balancer's subnets only" test "$(envv RANANEETI_TRUSTED_PROXIES)" = 10.40.0.0/20,10.40.16.0/20
    check "env: the database by libpq service" test "$(envv RANANEETI_DATABASE)" = service=rananeeti
    check "service file: hosts from the stack's parameter" grep -qx 'host=cafe.cluster-x.eu-west-1.rds.amazonaws.com,cafe-a.x.eu-west-1.rds.amazonaws.com' /etc/rananeeti/pg_service.conf
    check "service file: writer-seeking, verified TLS" bash -c "grep -qx 'target_session_attrs=read-write' /etc/rananeeti/pg_service.conf && grep -qx 'sslmode=verify-full' /etc/rananeeti/pg_service.conf"
    check "env: the service's own login, not the master" test "$(envv PGUSER)" = rananeeti_app
    check "pgpass: the service's password, rananeeti 0600" bash -c "test \"\$(stat -c %U:%a /etc/rananeeti/pgpass)\" = rananeeti:600 && test \"\$(cat /etc/rananeeti/pgpass)\" = '*:*:*:rananeeti_app:s3rv1ce'"
    check "no master password anywhere in /etc/rananeeti" bash -c '! grep -rq "cafeadmin\|p\\\\:w" /etc/rananeeti'
    check "migrations as the master user" grep -q 'rananeeti db migrate PGUSER=cafeadmin PGPASSFILE=/run/rananeeti-migrate\.[A-Za-z0-9]*/pgpass cafeadmin' "$FAKE_AWS_LOG"
    check "the master's password file is gone afterwards" bash -c '! ls -d /run/rananeeti-migrate.* 2>/dev/null'
    check "the service's login made a member of rananeeti_service, as the master" bash -c "grep -q 'PGUSER=cafeadmin' '$FAKE_AWS_LOG.sql' && grep -q 'GRANT rananeeti_service TO' '$FAKE_AWS_LOG.sql'"
    check "no password on a command line" bash -c "! grep -E '^psql .*(s3rv1ce|p:w)' '$FAKE_AWS_LOG'"
    check "unit installed from the release" cmp -s /etc/systemd/system/rananeeti.service "$T/release/rananeeti-0.0.0-test/systemd/rananeeti.service"
    check "drop-in refuses to run off the volume" grep -q '^AssertPathIsMountPoint=/var/lib/rananeeti$' /etc/systemd/system/rananeeti.service.d/10-aws.conf
    check "binary in /opt/rananeeti/bin" test -x /opt/rananeeti/bin/rananeeti
    check "agent units installed" bash -c 'for u in rananeeti-lifecycle.service rananeeti-orphans.timer rananeeti-health.timer rananeeti-db-config.timer rananeeti-journal.service; do test -f /etc/systemd/system/$u || exit 1; done'
    check "service enabled" grep -q 'systemctl enable --now rananeeti.service' "$FAKE_AWS_LOG"
    check "drain, orphan and health agents enabled" grep -q 'systemctl enable --now rananeeti-lifecycle.service rananeeti-health.timer rananeeti-orphans.timer' "$FAKE_AWS_LOG"
    check "journal export and database settings enabled" grep -q 'systemctl enable --now rananeeti-journal.service rananeeti-db-config.timer' "$FAKE_AWS_LOG"
    check "SSM and CloudWatch agent failures are not fatal" bash -c "grep -q 'warning: SSM agent not installed' '$T/fresh.out' && grep -q 'warning: CloudWatch agent not installed' '$T/fresh.out'"
    check "env: the session keys file" test "$(envv RANANEETI_SESSION_KEYS_FILE)" = /etc/rananeeti/session-keys
    check "session keys from the stack's secret, root:rananeeti 0640" bash -c "test \"\$(stat -c %U:%G:%a /etc/rananeeti/session-keys)\" = root:rananeeti:640 && test \"\$(cat /etc/rananeeti/session-keys)\" = '$SESSION_KEYS'"
    check "SignIn None: no sign-in settings, no client secret file" bash -c "! grep -q '^RANANEETI_OIDC\|^RANANEETI_REQUIRE_SIGN_IN\|^RANANEETI_STAFF' /etc/rananeeti/rananeeti.env && test ! -e /etc/rananeeti/oidc-client-secret"
    check "no session key in the environment file" bash -c "! grep -qF '$SESSION_KEYS' /etc/rananeeti/rananeeti.env"
    echo "reservation data" > /var/lib/rananeeti/log/00000000000000000000
    ;;
sign-in)
    check "bootstrap exits 0" test "$(cat "$T/sign-in.rc")" = 0
    check "signals SUCCESS" test "$(signals)" = SUCCESS
    # As the service will see it: systemd and the shell both read the single quotes.
    senv() { (set -a; . /etc/rananeeti/rananeeti.env; set +a; printenv "$1"); }
    check "env: the issuer, the user pool" test "$(senv RANANEETI_OIDC_ISSUER)" = https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_AbCdEf123
    check "env: the site's client id" test "$(senv RANANEETI_OIDC_CLIENT_ID)" = 4example0client0id0of0the0site
    check "env: the callback on the site's name" test "$(senv RANANEETI_OIDC_REDIRECT_URL)" = https://cafe.example.org/signin/callback
    check "env: staff are the pool's group staff" test "$(senv RANANEETI_STAFF_CLAIM)" = cognito:groups=staff
    check "env: staff subjects, a | kept" test "$(senv RANANEETI_STAFF_SUBJECTS)" = 'auth0|0123,9f8e'
    check "env: booking needs sign-in" test "$(senv RANANEETI_REQUIRE_SIGN_IN)" = true
    check "env: the client secret by its file" test "$(senv RANANEETI_OIDC_CLIENT_SECRET_FILE)" = /etc/rananeeti/oidc-client-secret
    check "env: the session keys file" test "$(senv RANANEETI_SESSION_KEYS_FILE)" = /etc/rananeeti/session-keys
    check "client secret from its secret, root:rananeeti 0640" bash -c "test \"\$(stat -c %U:%G:%a /etc/rananeeti/oidc-client-secret)\" = root:rananeeti:640 && test \"\$(cat /etc/rananeeti/oidc-client-secret)\" = '$CLIENT_SECRET'"
    check "session keys root:rananeeti 0640" test "$(stat -c %U:%G:%a /etc/rananeeti/session-keys)" = root:rananeeti:640
    check "no secret in the environment file" bash -c "! grep -qF -e '$CLIENT_SECRET' -e '$SESSION_KEYS' /etc/rananeeti/rananeeti.env && ! grep -q '^RANANEETI_OIDC_CLIENT_SECRET=\|^RANANEETI_SESSION_KEYS=' /etc/rananeeti/rananeeti.env"
    check "no secret on a command line or in the bootstrap's output" bash -c "! grep -qF -e '$CLIENT_SECRET' -e '$SESSION_KEYS' '$FAKE_AWS_LOG' '$T/sign-in.out'"
    ;;
bad-keys)
    check "bootstrap fails" test "$(cat "$T/bad-keys.rc")" != 0
    check "signals FAILURE" test "$(signals)" = FAILURE
    check "says why" grep -q 'does not hold session keys' "$T/bad-keys.out"
    check "writes no keys file" test ! -e /etc/rananeeti/session-keys
    check "service not started" bash -c '! grep -q "enable --now rananeeti.service" "$FAKE_AWS_LOG"'
    ;;
reattach)
    check "bootstrap exits 0" test "$(cat "$T/reattach.rc")" = 0
    check "signals SUCCESS" test "$(signals)" = SUCCESS
    check "asks the group whether the running holder is being retired" grep -q 'describe-auto-scaling-instances --instance-ids i-0dead' "$FAKE_AWS_LOG"
    check "waits for the lost node's volume" grep -q 'still attached to an instance that is going away: i-0dead' "$T/reattach.out"
    check "never takes the fresh volume" bash -c '! grep -q "attach-volume --volume-id vol-0a2" "$FAKE_AWS_LOG"'
    check "attaches the lost node's volume" grep -q 'attach-volume --volume-id vol-0a1 --instance-id i-0repl' "$FAKE_AWS_LOG"
    check "does not reformat it" test "$(blkid -s UUID -o value "$LOOP_A1")" = "$FRESH_UUID"
    check "keeps the log" grep -q 'reservation data' /var/lib/rananeeti/log/00000000000000000000
    check "runs as the lost node" test "$(envv RANANEETI_NODE_ID)" = vol-0a1
    check "volume tag names the new instance" test "$(tag vol-0a1 rananeeti:instance)" = i-0repl
    check "second boot on this log recorded" test "$(wc -l < /var/lib/rananeeti/boots)" = 2
    check "no replacement loop reported yet" test "$(metric ReplacementLoop)" = none
    ;;
backlog)
    check "bootstrap exits 0" test "$(cat "$T/backlog.rc")" = 0
    check "takes the log the database may lack events of" grep -q 'attach-volume --volume-id vol-0a3 --instance-id i-0back' "$FAKE_AWS_LOG"
    check "not the settled one" bash -c '! grep -q "attach-volume --volume-id vol-0a1" "$FAKE_AWS_LOG"'
    check "runs as that node" test "$(envv RANANEETI_NODE_ID)" = vol-0a3
    ;;
loop)
    check "bootstrap exits 0 (the instance stays)" test "$(cat "$T/loop.rc")" = 0
    check "third boot on this log within the hour" test "$(wc -l < /var/lib/rananeeti/boots)" = 3
    check "says it is a replacement loop" grep -q 'a replacement loop' "$T/loop.out"
    check "reports it (metric ReplacementLoop 1)" test "$(metric ReplacementLoop)" = 1
    ;;
guard)
    check "bootstrap fails" test "$(cat "$T/guard.rc")" != 0
    check "signals FAILURE" test "$(signals)" = FAILURE
    check "says why" grep -q 'refusing to format it' "$T/guard.out"
    check "leaves the volume blank" test -z "$(blkid -p -s TYPE -o value "$LOOP_A2")"
    check "service not started" bash -c '! grep -q "enable --now rananeeti.service" "$FAKE_AWS_LOG"'
    ;;
efs-late)
    check "bootstrap exits 0" test "$(cat "$T/efs-late.rc")" = 0
    check "tried the log that looked free, and found it taken" grep -q 'n-i-0old was taken by another node a moment ago' "$T/efs-late.out"
    check "runs a node directory of its own" test "$(envv RANANEETI_NODE_ID)" = n-i-0late
    check "the log it lost stays with its holder" bash -c "! flock -n '$T/efs/nodes/n-i-0old/log/writer.lock' true"
    ;;
efs-race)
    check "$instance: bootstrap exits 0" test "$(cat "$T/$instance.rc")" = 0
    check "$instance: runs one node directory, bound at /var/lib/rananeeti" mountpoint -q /var/lib/rananeeti
    envv RANANEETI_NODE_ID > "$T/$instance.node"
    ;;
esac
EOF
chmod 0755 "$T/inside.sh"

export T FAKE_AWS_STATE=$T/state.json FAKE_AWS_BYID=$T/by-id FAKE_AWS_RELEASE=$T/release.tar.gz
export FAKE_AZ=eu-west-1a LOOP_A1 LOOP_A2 LOOP_A3
RESULTS=$T/results

run() {  # run SCENARIO INSTANCE_ID
    export FAKE_AWS_LOG=$T/$1.calls FAKE_INSTANCE_ID=$2 SERVE_PIDS=$T/$1.serve-pids
    : > "$FAKE_AWS_LOG"
    unshare -m --fork "$T/inside.sh" "$1" | tee -a "$RESULTS"
    if grep -q "^FAIL $1:" "$RESULTS"; then
        echo "---- $1: bootstrap output"; tail -n 25 "$T/$1.out"
        echo "---- $1: calls"; tail -n 25 "$FAKE_AWS_LOG"
    fi
}
: > "$RESULTS"
format_log() {  # format_log LOOP NODE_ID: a volume that already holds a node's log
    mkfs.ext4 -q -L rananeeti-log "$1"
    mkdir -p "$T/setup" && mount "$1" "$T/setup"
    echo "$2" > "$T/setup/node-id" && mkdir -p "$T/setup/log"
    umount "$T/setup"
}

# 1. First boot: the zone's volumes fresh.
state "{\"vol-0a1\": $(vol vol-0a1 eu-west-1a available "$LOOP_A1"),
        \"vol-0a2\": $(vol vol-0a2 eu-west-1a available "$LOOP_A2"),
        \"vol-0b1\": $(vol vol-0b1 eu-west-1b available /dev/null)}" '{}' '[]'
run fresh i-0new
FRESH_UUID=$(blkid -s UUID -o value "$LOOP_A1" || true)
export FRESH_UUID

# 2. That instance is being retired: still running, draining in Terminating:Wait, its volume attached, while
#    a fresh volume is free. The replacement must wait for the log and take it.
state "{\"vol-0a1\": $(vol vol-0a1 eu-west-1a in-use "$LOOP_A1" vol-0a1 i-0dead unknown),
        \"vol-0a2\": $(vol vol-0a2 eu-west-1a available "$LOOP_A2"),
        \"vol-0b1\": $(vol vol-0b1 eu-west-1b available /dev/null)}" \
      '{"i-0dead": {"state": "running", "lifecycle": "Terminating:Wait", "group": "cafe-NodeGroup"}}' \
      '[{"after_calls": 3, "volume": "vol-0a1", "state": "available"}]'
run reattach i-0repl

# 3. Two logs free: vol-0a1 settled (backlog 0), vol-0a3 with events the database may lack.
format_log "$LOOP_A3" vol-0a3
state "{\"vol-0a1\": $(vol vol-0a1 eu-west-1a available "$LOOP_A1" vol-0a1 "" 0),
        \"vol-0a3\": $(vol vol-0a3 eu-west-1a available "$LOOP_A3" vol-0a3 "" 7)}" '{}' '[]'
run backlog i-0back

# 4. The first log again, a third instance within the hour.
state "{\"vol-0a1\": $(vol vol-0a1 eu-west-1a available "$LOOP_A1" vol-0a1 "" unknown)}" '{}' '[]'
run loop i-0third

# 5. A volume that claims a node but has no file system is left alone.
state "{\"vol-0a2\": $(vol vol-0a2 eu-west-1a available "$LOOP_A2" vol-0a2)}" '{}' '[]'
run guard i-0guard

# 6. SignIn Cognito, on a log that is free (the first one, settled).
state "{\"vol-0a1\": $(vol vol-0a1 eu-west-1a available "$LOOP_A1" vol-0a1 "" 0)}" '{}' '[]'
run sign-in i-0sign

# 7. The stack's session keys secret holds something the service would refuse.
state "{\"vol-0a1\": $(vol vol-0a1 eu-west-1a available "$LOOP_A1" vol-0a1 "" 0)}" '{}' '[]' 'not-a-key'
run bad-keys i-0badkeys

# 8. EFS: a node directory no node runs, and two instances booting at once.
mkdir -p "$T/efs/nodes/n-i-0old/log"
echo n-i-0old > "$T/efs/nodes/n-i-0old/node-id"
state '{}' '{}' '[]'
export FAKE_AWS_LOG=$T/efs-race.calls SERVE_PIDS=$T/efs-race.serve-pids
: > "$FAKE_AWS_LOG"
FAKE_INSTANCE_ID=i-0east unshare -m --fork "$T/inside.sh" efs-race i-0east > "$T/efs-east.results" &
east=$!
FAKE_INSTANCE_ID=i-0west unshare -m --fork "$T/inside.sh" efs-race i-0west > "$T/efs-west.results" &
west=$!
wait "$east" "$west" || true
cat "$T/efs-east.results" "$T/efs-west.results" | tee -a "$RESULTS"
ok_efs() { echo "ok   efs-race: $*" | tee -a "$RESULTS"; }
no_efs() { echo "FAIL efs-race: $*" | tee -a "$RESULTS"; }
nodes=$(sort "$T/i-0east.node" "$T/i-0west.node" 2>/dev/null | tr '\n' ' ')
if [ "$(grep -c '^n-i-0old$' "$T/i-0east.node" "$T/i-0west.node" 2>/dev/null | awk -F: '{s += $2} END {print s + 0}')" = 1 ]; then
    ok_efs "exactly one instance runs the orphaned node directory ($nodes)"
else
    no_efs "the orphaned node directory must be run by exactly one instance (got: $nodes)"
fi
if grep -Eq '^n-i-0(east|west)$' "$T/i-0east.node" "$T/i-0west.node" 2>/dev/null; then
    ok_efs "the other made a node directory of its own"
else
    no_efs "the other instance has no node directory of its own ($nodes)"
fi
if flock -n "$T/efs/nodes/n-i-0old/log/writer.lock" true; then
    no_efs "nobody holds the orphaned log's writer lock"
else
    ok_efs "the orphaned log's writer lock is held"
fi
if [ "$(jq -r '.signals | sort | join(",")' "$T/state.json")" = SUCCESS,SUCCESS ]; then
    ok_efs "both signal SUCCESS"
else
    no_efs "both must signal SUCCESS (got $(jq -c .signals "$T/state.json"))"
fi

# 9. The race lost for certain.
export FAKE_AWS_LOG=$T/efs-late.calls SERVE_PIDS=$T/efs-late.serve-pids
: > "$FAKE_AWS_LOG"
FAKE_INSTANCE_ID=i-0late unshare -m --fork "$T/inside.sh" efs-late | tee -a "$RESULTS"

if grep -q '^FAIL efs-race' "$RESULTS"; then
    for i in i-0east i-0west; do echo "---- efs-race $i: bootstrap output"; tail -n 25 "$T/$i.out"; done
    echo "---- efs-race: calls"; tail -n 40 "$FAKE_AWS_LOG"
fi
passed=$(grep -c '^ok ' "$RESULTS" || true)
failed=$(grep -c '^FAIL ' "$RESULTS" || true)
echo "$passed of $((passed + failed)) assertions hold"
[ "$failed" -eq 0 ]
