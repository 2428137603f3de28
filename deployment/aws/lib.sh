# shellcheck shell=bash disable=SC2034  # the variables are for the scripts that source this
# Shared by the node scripts in deployment/aws, which ship in the release as /opt/rananeeti/aws and run as
# root on the stack's instances (deployment/README.md, "What runs on a node"). Sourced, never run.
#
# The stack's settings come from /etc/rananeeti/stack.env, written by the launch template's user data.

CONF=/etc/rananeeti
STATE=/var/lib/rananeeti
# The log volumes' device links; NVMe names carry the volume id.
BY_ID=${RANANEETI_BY_ID:-/dev/disk/by-id}
BIN=/opt/rananeeti/bin/rananeeti
# shellcheck source=/dev/null
. "$CONF/stack.env"
export AWS_DEFAULT_REGION
: "${LOG_TAG:=rananeeti}"

log() { echo "$LOG_TAG: $*" >&2; }

# imds PATH: instance metadata (IMDSv2).
imds() {
    local token
    token=$(curl -fsS --max-time 5 -X PUT -H 'X-aws-ec2-metadata-token-ttl-seconds: 300' http://169.254.169.254/latest/api/token)
    curl -fsS --max-time 5 -H "X-aws-ec2-metadata-token: $token" "http://169.254.169.254/latest/meta-data/$1"
}

# The node's settings once the bootstrap wrote them: NODE_ID, VOLUME_ID (EBS), the listen address.
load_node() {
    NODE_ID=$(cat "$STATE/node-id" 2>/dev/null || true)
    VOLUME_ID=$(cat "$CONF/volume-id" 2>/dev/null || true)
    INSTANCE_ID=${INSTANCE_ID:-$(imds instance-id)}
    AZ=${AZ:-$(imds placement/availability-zone)}
}

# node_url: where this node's service answers on this host (RANANEETI_LISTEN from its env file; a wildcard
# address listens on loopback too).
node_url() {
    local listen
    listen=$(sed -n 's/^RANANEETI_LISTEN=//p' "$CONF/rananeeti.env" 2>/dev/null | tail -n 1)
    listen=${listen:-0.0.0.0:8080}
    echo "http://127.0.0.1:${listen##*:}"
}

# operator_url: where this node's operator endpoints answer (RANANEETI_OPERATOR_LISTEN from its env file,
# loopback 9090 by default): /metrics, the details of /readyz. The public listener's /readyz says only the status.
operator_url() {
    local listen
    listen=$(sed -n 's/^RANANEETI_OPERATOR_LISTEN=//p' "$CONF/rananeeti.env" 2>/dev/null | tail -n 1)
    listen=${listen:-127.0.0.1:9090}
    echo "http://127.0.0.1:${listen##*:}"
}

# readyz: the node's /readyz body with its details, from the operator listener (empty when it does not
# answer within 5 s).
readyz() {
    curl -sS --max-time 5 "$(operator_url)/readyz" 2>/dev/null || true
}

# put_metric NAME VALUE [UNIT]: one CloudWatch data point, once per stack and once per node, so that an
# alarm on the stack's dimension sees every node (Maximum) and a person can find which one.
put_metric() {
    local unit=${3:-Count}
    aws cloudwatch put-metric-data --namespace "$METRICS_NAMESPACE" --metric-data \
        "MetricName=$1,Value=$2,Unit=$unit,Dimensions=[{Name=Stack,Value=$STACK}]" \
        "MetricName=$1,Value=$2,Unit=$unit,Dimensions=[{Name=Stack,Value=$STACK},{Name=NodeId,Value=${NODE_ID:-none}}]" \
        >/dev/null 2>&1 || log "warning: could not publish $1"
}

# tag_volume VOLUME KEY=VALUE...: tags a log volume (the node role may set only the rananeeti:* keys it lists).
tag_volume() {
    local volume=$1 tags=() pair
    shift
    for pair in "$@"; do tags+=("Key=${pair%%=*},Value=${pair#*=}"); done
    aws ec2 create-tags --resources "$volume" --tags "${tags[@]}" || log "warning: could not tag $volume"
}

# boots_in_last_hour: how many instances started on this log in the last hour (the volume keeps the record).
boots_in_last_hour() {
    local now
    now=$(date +%s)
    awk -v since=$((now - 3600)) '$1 >= since' "$STATE/boots" 2>/dev/null | wc -l
}

# ctl ARGS: the CLI as the service runs it (its user, its environment).
ctl() {
    systemd-run --quiet --wait --pipe --collect --uid=rananeeti --gid=rananeeti \
        -p EnvironmentFile="$CONF/rananeeti.env" "$BIN" "$@"
}
