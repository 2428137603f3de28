#!/bin/bash
# install.sh: installs this Rananeeti release on a Debian 12 (or Ubuntu) host. It ships at the top of the
# release tarball made by scripts/package; run it from the unpacked directory, as root:
#
#   tar -xf rananeeti-VERSION-linux-x86_64.tar.gz && sudo rananeeti-VERSION-linux-x86_64/install.sh
#
# Options:
#   --no-systemd    no unit file, no systemctl (containers, chroots)
#   --no-packages   do not run apt-get; only check that the runtime libraries are there
#   --node-id ID    the node id for a new /etc/rananeeti/rananeeti.env (default: the one in
#                   /var/lib/rananeeti/node-id, else HOSTNAME-RANDOM, chosen once and kept there)
#   -h, --help      this text
#
# What it does (the paths are those of deployment/README.md, the unit and the AWS bootstrap):
#   apt-get install liblz4-1 libb2-1 libpq5 libcurl4 (runtime libraries) and lz4 jq (auditors' tools)
#   system user and group rananeeti (home /var/lib/rananeeti, no login shell)
#   /opt/rananeeti/bin/rananeeti       the program (root-owned), and the link /usr/local/bin/rananeeti
#   /opt/rananeeti/schema/*.sql        the schema (the program carries it too: rananeeti db migrate)
#   /opt/rananeeti/...                 the rest of the release: unit, env file, README, LIBRARIES, VERSION, aws/
#   /etc/systemd/system/rananeeti.service   the unit (replaced on every install: local changes go in drop-ins)
#   /etc/rananeeti/rananeeti.env       configuration, root:root 0600; an existing one is never overwritten
#   /var/lib/rananeeti/, .../log/      state and the event log, rananeeti:rananeeti 0750
#   /var/lib/rananeeti/node-id         the node id that belongs to this log
# It does not start the service: set the database up first (it prints the next steps).
# Safe to run again, also to upgrade (restart the service afterwards to run the new program).
set -euo pipefail

PREFIX=/opt/rananeeti
CONF=/etc/rananeeti
STATE=/var/lib/rananeeti
UNIT_DIR=/etc/systemd/system
LINK=/usr/local/bin/rananeeti
RUNTIME_PACKAGES=(liblz4-1 libb2-1 libpq5 libcurl4 lz4 jq)

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd -P)
SYSTEMD=yes
PACKAGES=yes
NODE_ID=""

say() { echo "install.sh: $*"; }
die() { echo "install.sh: error: $*" >&2; exit 1; }
usage() { sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed -e '$d' -e 's/^# \{0,1\}//'; }

while [ $# -gt 0 ]; do
    case "$1" in
        --no-systemd) SYSTEMD=no ;;
        --no-packages) PACKAGES=no ;;
        --node-id) [ $# -ge 2 ] || die "--node-id needs a value"; NODE_ID=$2; shift ;;
        --node-id=*) NODE_ID=${1#--node-id=} ;;
        -h|--help) usage; exit 0 ;;
        *) die "unknown option '$1' (see --help)" ;;
    esac
    shift
done

[ "$(id -u)" -eq 0 ] || die "run me as root (sudo $0)"
valid_node_id() { [[ "$1" =~ ^[A-Za-z0-9._-]{1,64}$ ]]; }
[ -z "$NODE_ID" ] || valid_node_id "$NODE_ID" || die "a node id is 1-64 characters of A-Z a-z 0-9 . _ -"

# ------------------------------------------------------------------ the release itself
for f in bin/rananeeti systemd/rananeeti.service rananeeti.env; do
    [ -f "$HERE/$f" ] || die "$HERE/$f is missing: run install.sh from the unpacked release tarball"
done
compgen -G "$HERE/schema/*.sql" >/dev/null || die "$HERE/schema/ holds no .sql files"
if [ -f "$HERE/SHA256SUMS" ]; then
    (cd "$HERE" && sha256sum --quiet --strict -c SHA256SUMS) \
        || die "the files in $HERE do not match SHA256SUMS: a damaged or changed release"
    say "release files match SHA256SUMS"
fi
[ "$(uname -m)" = x86_64 ] || die "this release is for x86_64 Linux, this machine is $(uname -m)"

# ------------------------------------------------------------------ packages
export DEBIAN_FRONTEND=noninteractive
missing=()
for p in "${RUNTIME_PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ "${#missing[@]}" -eq 0 ]; then
    say "packages already installed: ${RUNTIME_PACKAGES[*]}"
elif [ "$PACKAGES" = no ]; then
    say "warning: --no-packages, and these are not installed: ${missing[*]}"
else
    command -v apt-get >/dev/null 2>&1 || die "no apt-get here; install ${missing[*]} by hand, then run me with --no-packages"
    say "installing ${missing[*]} with apt-get"
    apt-get update -qq || die "apt-get update failed (network? /etc/apt/sources.list?)"
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null \
        || die "apt-get install ${missing[*]} failed"
fi

# ------------------------------------------------------------------ user
if getent passwd rananeeti >/dev/null; then
    say "user rananeeti exists"
else
    useradd --system --user-group --home-dir "$STATE" --no-create-home --shell /usr/sbin/nologin rananeeti \
        || die "could not create the system user rananeeti"
    say "created system user rananeeti"
fi

# ------------------------------------------------------------------ /opt/rananeeti
install -d -o root -g root -m 0755 "$PREFIX" "$PREFIX/bin" "$PREFIX/schema" "$PREFIX/systemd"
if [ "$HERE" = "$(cd "$PREFIX" && pwd -P)" ]; then
    say "the release is already unpacked in $PREFIX; installing from there"
else
    # The program is replaced by a rename, so a running service keeps its old file until it restarts.
    install -o root -g root -m 0755 "$HERE/bin/rananeeti" "$PREFIX/bin/.rananeeti.new"
    mv -f "$PREFIX/bin/.rananeeti.new" "$PREFIX/bin/rananeeti"
    rm -f "$PREFIX"/schema/*.sql
    install -o root -g root -m 0644 "$HERE"/schema/*.sql "$PREFIX/schema/"
    install -o root -g root -m 0644 "$HERE/systemd/rananeeti.service" "$PREFIX/systemd/"
    for unit in rananeeti-archive.service rananeeti-archive.timer; do
        if [ -f "$HERE/systemd/$unit" ]; then install -o root -g root -m 0644 "$HERE/systemd/$unit" "$PREFIX/systemd/"; fi
    done
    install -o root -g root -m 0644 "$HERE/rananeeti.env" "$PREFIX/rananeeti.env"
    for f in README LIBRARIES VERSION SHA256SUMS; do
        if [ -f "$HERE/$f" ]; then install -o root -g root -m 0644 "$HERE/$f" "$PREFIX/$f"; fi
    done
    install -o root -g root -m 0755 "$HERE/install.sh" "$PREFIX/install.sh"
    # The AWS node scripts (deployment/README.md, "What runs on a node"): unused on a single host, but part
    # of the release that SHA256SUMS describes.
    if [ -d "$HERE/aws" ]; then
        rm -rf "$PREFIX/aws"
        cp -R "$HERE/aws" "$PREFIX/aws"
    fi
fi
chown -R root:root "$PREFIX" && chmod -R go-w "$PREFIX"
say "installed $PREFIX/bin/rananeeti"

if [ -e "$LINK" ] && [ ! -L "$LINK" ]; then
    say "warning: $LINK was a regular file; replacing it with a link to $PREFIX/bin/rananeeti"
fi
install -d -m 0755 "$(dirname "$LINK")"
ln -sfn "$PREFIX/bin/rananeeti" "$LINK"

# The program must find every library it needs, and run.
if command -v ldd >/dev/null 2>&1 && ldd "$PREFIX/bin/rananeeti" | grep -q 'not found'; then
    ldd "$PREFIX/bin/rananeeti" | grep 'not found' >&2
    die "libraries missing for $PREFIX/bin/rananeeti (see LIBRARIES in the release for the Debian packages)"
fi
version=$("$PREFIX/bin/rananeeti" --version) || die "$PREFIX/bin/rananeeti --version failed"
say "rananeeti --version: $version"

# ------------------------------------------------------------------ state: /var/lib/rananeeti
install -d -o rananeeti -g rananeeti -m 0750 "$STATE" "$STATE/log"
say "data directory $STATE/log (rananeeti:rananeeti 0750)"

# ------------------------------------------------------------------ configuration: /etc/rananeeti
install -d -o root -g root -m 0755 "$CONF"
ENV_FILE=$CONF/rananeeti.env
if [ -e "$ENV_FILE" ]; then
    say "kept the existing $ENV_FILE (the release's version is $PREFIX/rananeeti.env)"
    [ -z "$NODE_ID" ] || say "warning: --node-id ignored: $ENV_FILE exists and keeps its RANANEETI_NODE_ID"
    mode=$(stat -c '%a' "$ENV_FILE")
    [ "$mode" = 600 ] || say "warning: $ENV_FILE has mode $mode; it may hold the admin token, 0600 is meant"
else
    # The node id belongs to the log: reuse the one kept with it, else choose one now and keep it there.
    stored=$(cat "$STATE/node-id" 2>/dev/null || true)
    if [ -n "$NODE_ID" ] && [ -n "$stored" ] && [ "$NODE_ID" != "$stored" ]; then
        die "--node-id $NODE_ID, but the log in $STATE belongs to node $stored ($STATE/node-id)"
    fi
    [ -n "$NODE_ID" ] || NODE_ID=$stored
    if [ -z "$NODE_ID" ]; then
        host=$(hostname -s 2>/dev/null | tr -cd 'A-Za-z0-9._-' || true)
        NODE_ID=${host:-node}-$(od -An -N4 -tx1 /dev/urandom | tr -d ' \n')
    fi
    valid_node_id "$NODE_ID" || die "bad node id '$NODE_ID' (in $STATE/node-id?)"
    if [ -z "$stored" ]; then
        printf '%s\n' "$NODE_ID" > "$STATE/node-id.new" && chmod 0644 "$STATE/node-id.new"
        mv "$STATE/node-id.new" "$STATE/node-id"
    fi
    tmp=$(mktemp "$CONF/.rananeeti.env.XXXXXX")
    sed "s/^RANANEETI_NODE_ID=.*/RANANEETI_NODE_ID=$NODE_ID/" "$HERE/rananeeti.env" > "$tmp"
    chown root:root "$tmp" && chmod 0600 "$tmp"
    mv "$tmp" "$ENV_FILE"
    say "wrote $ENV_FILE (root:root 0600), node id $NODE_ID (kept in $STATE/node-id)"
fi

# ------------------------------------------------------------------ systemd
if [ "$SYSTEMD" = no ]; then
    say "--no-systemd: no unit installed; run it as: rananeeti serve (with the settings of $ENV_FILE)"
else
    install -o root -g root -m 0644 "$HERE/systemd/rananeeti.service" "$UNIT_DIR/rananeeti.service"
    say "installed $UNIT_DIR/rananeeti.service"
    # The log archive (docs/ARCHIVE.md): installed, enabled by the operator once RANANEETI_ARCHIVE is set.
    for unit in rananeeti-archive.service rananeeti-archive.timer; do
        if [ -f "$HERE/systemd/$unit" ]; then install -o root -g root -m 0644 "$HERE/systemd/$unit" "$UNIT_DIR/$unit"; fi
    done
    if [ -d /run/systemd/system ] && command -v systemctl >/dev/null 2>&1; then
        systemctl daemon-reload
        if systemctl is-active --quiet rananeeti; then
            say "rananeeti is running the previous program: systemctl restart rananeeti to switch"
        fi
    else
        say "systemd is not running here: the unit takes effect at the next boot"
    fi
fi

echo
echo "Installed Rananeeti $version. Next steps (deployment/README.md, \"Single host with nginx\", has the details):"
echo "  1. edit $ENV_FILE: PGHOST, PGDATABASE, PGUSER (or RANANEETI_DATABASE)"
echo "  2. a database password, if any, into $CONF/pgpass (libpq password file; owner rananeeti, mode 0600)"
if [ "$SYSTEMD" = yes ]; then
    echo "  3. the schema:  systemd-run --wait --pipe --uid=rananeeti -p EnvironmentFile=$ENV_FILE $PREFIX/bin/rananeeti db migrate"
    echo "  4. the service: systemctl enable --now rananeeti && curl -s localhost:8080/readyz"
else
    echo "  3. the schema:  (set -a; . $ENV_FILE; set +a; runuser -u rananeeti -- $PREFIX/bin/rananeeti db migrate)"
    echo "  4. the node:    (set -a; . $ENV_FILE; set +a; exec runuser -u rananeeti -- $PREFIX/bin/rananeeti serve)"
fi
