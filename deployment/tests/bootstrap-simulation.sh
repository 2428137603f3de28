#!/usr/bin/env bash
# deployment/tests/bootstrap-simulation.sh USER_DATA_SCRIPT
#
# Runs the node bootstrap (the launch template's user data, rendered by
# scripts/check-deployment) on this machine as if it were a new EC2 instance,
# without AWS: the AWS CLI is deployment/tests/fake-aws.py, the instance
# metadata service, apt, the SSM agent download and systemd are stubs, and
# each EBS log volume is a loop device. Everything the script writes (/etc,
# /opt, /var/lib, /usr/local/sbin, /tmp) lands in a private mount namespace
# that disappears afterwards; the file systems it formats and mounts are real.
#
# Scenarios:
#   fresh      first boot: takes a fresh volume, formats it, node id = volume id
#   reattach   replacement: waits for the lost node's volume to be released,
#              takes it (not the fresh one), keeps its node id and its data
#   guard      a volume tagged with a node id but blank is never formatted
#
# Needs root, unshare (util-linux), losetup, mkfs.ext4, jq. Prints one line
# per assertion; exits 1 if any failed, 3 if the machine cannot run it.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
USER_DATA=${1:?usage: bootstrap-simulation.sh USER_DATA_SCRIPT}
UNIT=$HERE/../systemd/rananeeti.service

for tool in unshare losetup mkfs.ext4 blkid jq python3; do
    command -v "$tool" >/dev/null 2>&1 || { echo "cannot simulate: $tool is missing"; exit 3; }
done
[ "$(id -u)" -eq 0 ] || { echo "cannot simulate: needs root"; exit 3; }
unshare -m --fork true 2>/dev/null || { echo "cannot simulate: no mount namespaces here"; exit 3; }

T=$(mktemp -d /var/tmp/rananeeti-bootstrap.XXXXXX)
LOOPS=()
cleanup() {
    local l
    for l in "${LOOPS[@]}"; do losetup -d "$l" 2>/dev/null || true; done
    rm -rf "$T"
}
trap cleanup EXIT

mkdir -p "$T/bin" "$T/by-id" "$T/release/rananeeti-0.0.0-test/bin" "$T/release/rananeeti-0.0.0-test/systemd"
# The bootstrap, with /dev/disk/by-id (absent in a container) moved into $T.
sed "s#/dev/disk/by-id/#$T/by-id/#g" "$USER_DATA" > "$T/user-data.sh"

# A release tarball with one top-level directory, as scripts/package makes it.
printf '#!/bin/sh\necho "rananeeti 0.0.0-test"\n' > "$T/release/rananeeti-0.0.0-test/bin/rananeeti"
chmod 0755 "$T/release/rananeeti-0.0.0-test/bin/rananeeti"
cp "$UNIT" "$T/release/rananeeti-0.0.0-test/systemd/rananeeti.service"
tar -czf "$T/release.tar.gz" -C "$T/release" rananeeti-0.0.0-test

# Stubs for what a test machine lacks or must not do.
cp "$HERE/fake-aws.py" "$T/bin/aws"
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
    *amazon-ssm-agent.deb) exit 22 ;;
    *truststore.pki.rds.amazonaws.com*) echo "FAKE RDS CA" > "$out" ;;
    http://127.0.0.1:8080/readyz) exit 0 ;;
    *) echo "fake curl: unexpected $url" >&2; exit 22 ;;
esac
EOF
for cmd in apt-get dpkg udevadm; do
    # shellcheck disable=SC2016  # $* and $FAKE_AWS_LOG belong to the stub
    printf '#!/bin/sh\necho "%s $*" >> "$FAKE_AWS_LOG"\n' "$cmd" > "$T/bin/$cmd"
done
cat > "$T/bin/systemctl" <<'EOF'
#!/bin/sh
echo "systemctl $*" >> "$FAKE_AWS_LOG"
[ "$1" = is-active ] && exit 3
exit 0
EOF
cat > "$T/bin/systemd-run" <<'EOF'
#!/bin/sh
echo "systemd-run $*" >> "$FAKE_AWS_LOG"
EOF
printf '#!/bin/sh\nexec /usr/bin/sleep 0.05\n' > "$T/bin/sleep"
chmod 0755 "$T"/bin/*

# Two volumes in zone a (loop devices), one in zone b (never attachable here).
new_loop() {  # new_loop NAME: attaches a blank image, sets LOOP (not in a subshell: LOOPS must see it)
    truncate -s 64M "$T/$1.img"
    LOOP=$(losetup --find --show "$T/$1.img")
    LOOPS+=("$LOOP")
}
new_loop vol-0a1; LOOP_A1=$LOOP
new_loop vol-0a2; LOOP_A2=$LOOP

vol() {  # vol ID ZONE STATE LOOP [NODE_ID] [ATTACHED_TO]
    local tags='[{"Key":"rananeeti:stack","Value":"cafe"},{"Key":"rananeeti:log-slot","Value":"x"}]'
    [ -n "${5:-}" ] && tags=$(jq -c --arg n "$5" '. + [{"Key":"rananeeti:node-id","Value":$n}]' <<<"$tags")
    local att='[]'
    [ -n "${6:-}" ] && att=$(jq -nc --arg i "$6" '[{InstanceId: $i, State: "attached"}]')
    jq -nc --arg id "$1" --arg az "$2" --arg s "$3" --arg loop "$4" --argjson tags "$tags" --argjson att "$att" \
        '{VolumeId: $id, AvailabilityZone: $az, State: $s, Tags: $tags, Attachments: $att, loop: $loop}'
}
state() {  # state VOLUMES-JSON-OBJECT INSTANCES-JSON-OBJECT EVENTS-JSON-ARRAY
    jq -n --argjson v "$1" --argjson i "$2" --argjson e "$3" \
        '{volumes: $v, instances: $i, events: $e, signals: [], describe_calls: 0,
          secret: "{\"username\": \"cafeadmin\", \"password\": \"p:w\\\\x\"}"}' > "$T/state.json"
}

# What runs inside the private mount namespace: the bootstrap, then the
# scenario's assertions (the namespace's files vanish with it).
cat > "$T/inside.sh" <<'EOF'
#!/bin/bash
set -uo pipefail
scenario=$1
# Out of the working directory first: it may be under /tmp, which is hidden below, and a program started
# there (pyenv's python3 shim, for one) fails when it cannot enter it.
cd "$T" || exit 1
mount --make-rprivate /
cp -a /etc "$T/etc-$scenario" && mount --bind "$T/etc-$scenario" /etc
for d in /opt /usr/local/sbin /var/lib /tmp; do mount -t tmpfs tmpfs "$d"; done
rm -f "$T"/by-id/*
PATH="$T/bin:$PATH" bash "$T/user-data.sh" > "$T/$scenario.out" 2>&1
echo $? > "$T/$scenario.rc"
ok() { echo "ok   $scenario: $*"; }
no() { echo "FAIL $scenario: $*"; }
check() { local what=$1; shift; if "$@" >/dev/null 2>&1; then ok "$what"; else no "$what"; fi; }
signals() { jq -r '.signals | join(",")' "$T/state.json"; }
node_tag() { jq -r --arg v "$1" '.volumes[$v].Tags[] | select(.Key == "rananeeti:node-id") | .Value' "$T/state.json"; }
envv() { sed -n "s/^$1=//p" /etc/rananeeti/rananeeti.env; }
case "$scenario" in
fresh)
    check "bootstrap exits 0" test "$(cat "$T/fresh.rc")" = 0
    check "signals SUCCESS" test "$(signals)" = SUCCESS
    check "attaches the first fresh volume of its zone" grep -q 'attach-volume --volume-id vol-0a1 --instance-id i-0new' "$FAKE_AWS_LOG"
    check "formats it (ext4, label rananeeti-log)" test "$(blkid -s LABEL -o value "$LOOP_A1")" = rananeeti-log
    check "mounts it at /var/lib/rananeeti" mountpoint -q /var/lib/rananeeti
    check "fstab mounts it by UUID with nofail" grep -q "^UUID=$(blkid -s UUID -o value "$LOOP_A1") /var/lib/rananeeti ext4 .*nofail" /etc/fstab
    check "node id file = volume id" test "$(cat /var/lib/rananeeti/node-id)" = vol-0a1
    check "volume tagged with its node id" test "$(node_tag vol-0a1)" = vol-0a1
    check "log directory owned by rananeeti" test "$(stat -c %U /var/lib/rananeeti/log)" = rananeeti
    check "env file is root:root 0600" test "$(stat -c %U:%G:%a /etc/rananeeti/rananeeti.env)" = root:root:600
    check "env: node id" test "$(envv RANANEETI_NODE_ID)" = vol-0a1
    check "env: data dir" test "$(envv RANANEETI_DATA_DIR)" = /var/lib/rananeeti/log
    check "env: listens for the load balancer" test "$(envv RANANEETI_LISTEN)" = 0.0.0.0:8080
    check "env: writer-seeking, verified TLS" grep -q '^RANANEETI_DATABASE=".*target_session_attrs=read-write.*sslmode=verify-full' /etc/rananeeti/rananeeti.env
    check "env: user from the secret" test "$(envv PGUSER)" = cafeadmin
    check "env: no password" bash -c '! grep -qi "password=\|p:w" /etc/rananeeti/rananeeti.env'
    check "pgpass is rananeeti 0600" test "$(stat -c %U:%a /etc/rananeeti/pgpass)" = rananeeti:600
    check "pgpass escapes : and \\" test "$(cat /etc/rananeeti/pgpass)" = '*:*:*:cafeadmin:p\:w\\x'
    check "unit installed from the release" cmp -s /etc/systemd/system/rananeeti.service "$T/release/rananeeti-0.0.0-test/systemd/rananeeti.service"
    check "drop-in refuses to run off the volume" grep -q '^AssertPathIsMountPoint=/var/lib/rananeeti$' /etc/systemd/system/rananeeti.service.d/10-aws.conf
    check "binary in /opt/rananeeti/bin" test -x /opt/rananeeti/bin/rananeeti
    check "db migrate run as the service user" grep -q 'systemd-run .*--uid=rananeeti .*rananeeti db migrate' "$FAKE_AWS_LOG"
    check "service and password refresh enabled" grep -q 'systemctl enable --now rananeeti-db-secret.timer rananeeti.service' "$FAKE_AWS_LOG"
    check "SSM agent failure is not fatal" grep -q 'warning: SSM agent not installed' "$T/fresh.out"
    echo "reservation data" > /var/lib/rananeeti/log/00000000000000000000
    ;;
reattach)
    check "bootstrap exits 0" test "$(cat "$T/reattach.rc")" = 0
    check "signals SUCCESS" test "$(signals)" = SUCCESS
    check "waits for the lost node's volume" grep -q 'still attached to a stopping instance: i-0dead' "$T/reattach.out"
    check "never takes the fresh volume" bash -c '! grep -q "attach-volume --volume-id vol-0a2" "$FAKE_AWS_LOG"'
    check "attaches the lost node's volume" grep -q 'attach-volume --volume-id vol-0a1 --instance-id i-0repl' "$FAKE_AWS_LOG"
    check "does not reformat it" test "$(blkid -s UUID -o value "$LOOP_A1")" = "$FRESH_UUID"
    check "keeps the log" grep -q 'reservation data' /var/lib/rananeeti/log/00000000000000000000
    check "runs as the lost node" test "$(envv RANANEETI_NODE_ID)" = vol-0a1
    check "volume tag names the new instance" bash -c "jq -e '.volumes[\"vol-0a1\"].Tags[] | select(.Key == \"rananeeti:instance\" and .Value == \"i-0repl\")' '$T/state.json'"
    ;;
guard)
    check "bootstrap fails" test "$(cat "$T/guard.rc")" != 0
    check "signals FAILURE" test "$(signals)" = FAILURE
    check "says why" grep -q 'refusing to format it' "$T/guard.out"
    check "leaves the volume blank" test -z "$(blkid -p -s TYPE -o value "$LOOP_A2")"
    check "service not started" bash -c '! grep -q "enable --now" "$FAKE_AWS_LOG"'
    ;;
esac
EOF
chmod 0755 "$T/inside.sh"

export T FAKE_AWS_STATE=$T/state.json FAKE_AWS_BYID=$T/by-id FAKE_AWS_RELEASE=$T/release.tar.gz
export FAKE_AZ=eu-west-1a LOOP_A1 LOOP_A2
RESULTS=$T/results

run() {  # run SCENARIO INSTANCE_ID
    export FAKE_AWS_LOG=$T/$1.calls FAKE_INSTANCE_ID=$2
    : > "$FAKE_AWS_LOG"
    unshare -m --fork "$T/inside.sh" "$1" | tee -a "$RESULTS"
    if grep -q "^FAIL $1:" "$RESULTS"; then
        echo "---- $1: bootstrap output"; tail -n 25 "$T/$1.out"
        echo "---- $1: calls"; tail -n 25 "$FAKE_AWS_LOG"
    fi
}
: > "$RESULTS"

# 1. First boot: both zone-a volumes fresh.
state "{\"vol-0a1\": $(vol vol-0a1 eu-west-1a available "$LOOP_A1"),
        \"vol-0a2\": $(vol vol-0a2 eu-west-1a available "$LOOP_A2"),
        \"vol-0b1\": $(vol vol-0b1 eu-west-1b available /dev/null)}" '{}' '[]'
run fresh i-0new
FRESH_UUID=$(blkid -s UUID -o value "$LOOP_A1" || true)
export FRESH_UUID

# 2. That instance died; its volume (now holding a log) is still attached
#    while a fresh volume is free. The replacement must wait and take the log.
state "{\"vol-0a1\": $(vol vol-0a1 eu-west-1a in-use "$LOOP_A1" vol-0a1 i-0dead),
        \"vol-0a2\": $(vol vol-0a2 eu-west-1a available "$LOOP_A2"),
        \"vol-0b1\": $(vol vol-0b1 eu-west-1b available /dev/null)}" \
      '{"i-0dead": "shutting-down"}' '[{"after_calls": 3, "volume": "vol-0a1", "state": "available"}]'
run reattach i-0repl

# 3. A volume that claims a node but has no file system is left alone.
state "{\"vol-0a2\": $(vol vol-0a2 eu-west-1a available "$LOOP_A2" vol-0a2)}" '{}' '[]'
run guard i-0guard

passed=$(grep -c '^ok ' "$RESULTS" || true)
failed=$(grep -c '^FAIL ' "$RESULTS" || true)
echo "$passed of $((passed + failed)) assertions hold"
[ "$failed" -eq 0 ]
