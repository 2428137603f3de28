#!/usr/bin/env bash
# deployment/tests/install-in-debootstrap.sh [TARBALL]: installs a release tarball on a clean Debian 12
# root file system and runs it there.
#
#   scripts/package && deployment/tests/install-in-debootstrap.sh      (default: the newest dist/*.tar.gz)
#   deployment/tests/install-in-debootstrap.sh --refresh TARBALL      download the base system again
#   deployment/tests/install-in-debootstrap.sh --check      only whether it can run here (exit 0, or 3 and why)
#
# Steps: `debootstrap --variant=minbase bookworm` into a temporary directory (from a cached download in
# .build/debootstrap/ after the first run; the mirror is the one in /etc/apt/sources.list(.d), or
# $DEBIAN_MIRROR), the tarball copied in, `install.sh --no-systemd` run inside `chroot` (with /proc mounted
# and the host's resolv.conf, so apt-get inside reaches the same mirror). Then, inside the chroot:
#   - rananeeti --version through /usr/local/bin, equal to the tarball's version
#   - modes and owners: program root 0755, env file root 0600, log directory rananeeti 0750, the node id
#   - as the rananeeti user: `rananeeti log append` of three reservations into /var/lib/rananeeti/log,
#     `rananeeti log verify`, and the stock tools `lz4 -dc SEGMENT | jq` print the same digests
#   - install.sh again (idempotent: the env file and node id untouched), from /opt/rananeeti itself, and
#     once without --no-systemd (the unit file lands in /etc/systemd/system)
# Prints the time of each step. Needs root, network access to the mirror, and about 400 MB of memory (a
# tmpfs; else the same in /var/tmp).
# Exit status: 0 passed, 1 failed, 3 this machine cannot run it (not root, no chroot/mount, no mirror).
# Mounts and the temporary root are removed on every exit.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$HERE/../.." && pwd)
SUITE=bookworm
CACHE_DIR=$REPO/.build/debootstrap

REFRESH=no
CHECK_ONLY=no
TARBALL=""
while [ $# -gt 0 ]; do
    case "$1" in
        --refresh) REFRESH=yes ;;
        --check) CHECK_ONLY=yes ;;
        -h|--help) sed -n '2,/^set -euo/p' "$0" | sed -e '$d' -e 's/^# \{0,1\}//'; exit 0 ;;
        -*) echo "unknown option '$1'" >&2; exit 2 ;;
        *) TARBALL=$1 ;;
    esac
    shift
done

T0=$SECONDS
step_start=$SECONDS
say() { printf '[%3ds] %s\n' "$((SECONDS - T0))" "$*"; }
step() { say "$* (step took $((SECONDS - step_start)) s)"; step_start=$SECONDS; }
die() { echo "install-in-debootstrap: FAILED: $*" >&2; exit 1; }
cannot() { echo "install-in-debootstrap: cannot run here: $*" >&2; exit 3; }

[ "$(id -u)" -eq 0 ] || cannot "needs root (debootstrap, chroot, mount)"
if [ "$CHECK_ONLY" = yes ]; then
    TARBALL=/dev/null
elif [ -z "$TARBALL" ]; then
    # shellcheck disable=SC2012 # the names are ours: rananeeti-VERSION-linux-x86_64.tar.gz
    TARBALL=$(ls -t "$REPO"/dist/rananeeti-*-linux-x86_64.tar.gz 2>/dev/null | head -n 1 || true)
    [ -n "$TARBALL" ] || die "no tarball in dist/: run scripts/package first"
fi
[ "$CHECK_ONLY" = yes ] || [ -f "$TARBALL" ] || die "no such tarball: $TARBALL"
[ "$CHECK_ONLY" = yes ] || TARBALL=$(cd "$(dirname "$TARBALL")" && pwd)/$(basename "$TARBALL")
NAME=$(basename "$TARBALL" .tar.gz)
VERSION=$(sed -E 's/^rananeeti-(.*)-linux-x86_64$/\1/' <<<"$NAME")

if ! command -v debootstrap >/dev/null 2>&1; then
    command -v apt-get >/dev/null 2>&1 || cannot "debootstrap is missing and there is no apt-get"
    say "installing debootstrap"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends debootstrap >/dev/null 2>&1 \
        || { DEBIAN_FRONTEND=noninteractive apt-get update -qq >/dev/null 2>&1 || true
             DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends debootstrap >/dev/null; } \
        || cannot "could not install debootstrap"
fi
for tool in chroot mount umount python3; do command -v "$tool" >/dev/null 2>&1 || cannot "$tool is missing"; done

# The Debian mirror this machine uses for bookworm: one-line or deb822 sources.
debian_mirror() {
    python3 - "$SUITE" /etc/apt/sources.list /etc/apt/sources.list.d/* <<'PY'
import re, sys
suite, files = sys.argv[1], sys.argv[2:]
for path in files:
    try:
        text = open(path).read()
    except OSError:
        continue
    if path.endswith(".sources"):
        for block in re.split(r"\n\s*\n", text):
            fields = {}
            for line in block.splitlines():
                m = re.match(r"^([A-Za-z-]+):\s*(.*)$", line)
                if m:
                    fields[m.group(1).lower()] = m.group(2).split()
            if "deb" in fields.get("types", []) and suite in fields.get("suites", []) and fields.get("uris"):
                print(fields["uris"][0]); sys.exit(0)
    else:
        for line in text.splitlines():
            words = re.sub(r"\[[^]]*\]", "", line.split("#")[0]).split()
            if len(words) >= 3 and words[0] == "deb" and words[2] == suite:
                print(words[1]); sys.exit(0)
sys.exit(1)
PY
}
MIRROR=${DEBIAN_MIRROR:-$(debian_mirror || true)}
[ -n "$MIRROR" ] || cannot "no Debian $SUITE mirror in /etc/apt/sources.list(.d); set DEBIAN_MIRROR"
if [ "$CHECK_ONLY" = yes ]; then
    python3 -c 'import sys, urllib.request; urllib.request.urlopen(sys.argv[1], timeout=15).read(1)' \
        "${MIRROR%/}/dists/$SUITE/Release" 2>/dev/null || cannot "the mirror $MIRROR does not answer"
    probe=$(mktemp -d)
    if mount -t proc proc "$probe" 2>/dev/null; then umount "$probe"; rmdir "$probe"; else rmdir "$probe"; cannot "cannot mount /proc here"; fi
    chroot / true 2>/dev/null || cannot "chroot does not work here"
    echo "install-in-debootstrap: can run here (mirror $MIRROR)"
    exit 0
fi
say "tarball $NAME, mirror $MIRROR"

W=$(mktemp -d /var/tmp/rananeeti-debootstrap.XXXXXX)
R=$W/root
# Everything under $W, deepest first.
mounted() { awk -v w="$W" '$2 == w || index($2, w "/") == 1 { print $2 }' /proc/self/mounts | sort -r; }
cleanup() {
    local rc=$? m
    trap - EXIT INT TERM
    for m in $(mounted); do umount "$m" 2>/dev/null || umount -l "$m" 2>/dev/null || true; done
    if [ -n "$(mounted)" ]; then
        echo "install-in-debootstrap: still mounted, NOT removing $W: $(mounted | tr '\n' ' ')" >&2
    else
        rm -rf --one-file-system "$W"
        say "removed the temporary root"
    fi
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# ------------------------------------------------------------------ the base system
# In memory when possible: dpkg's many fsyncs and removing 200 MB of small files cost a minute on disk.
if mount -t tmpfs -o size=1200m,mode=0755 rananeeti-debootstrap "$W" 2>/dev/null; then
    say "temporary root in memory (tmpfs at $W)"
else
    say "temporary root on disk ($W)"
fi
CACHE=$CACHE_DIR/$SUITE-minbase-amd64.tgz
if [ "$REFRESH" = yes ] || [ ! -s "$CACHE" ]; then
    mkdir -p "$CACHE_DIR"
    say "downloading the $SUITE minbase packages into ${CACHE#"$REPO"/} (once)"
    debootstrap --variant=minbase --arch=amd64 --make-tarball="$CACHE.tmp" "$SUITE" "$W/download" "$MIRROR" \
        > "$W/download.log" 2>&1 || { tail -n 5 "$W/download.log" >&2; rm -f "$CACHE.tmp"; cannot "debootstrap could not download from $MIRROR"; }
    mv "$CACHE.tmp" "$CACHE"
    rm -rf "$W/download"
    step "downloaded"
fi
if ! debootstrap --variant=minbase --arch=amd64 --unpack-tarball="$CACHE" "$SUITE" "$R" "$MIRROR" > "$W/debootstrap.log" 2>&1; then
    tail -n 5 "$W/debootstrap.log" >&2
    die "debootstrap failed (a stale cache? run with --refresh)"
fi
step "debootstrap --variant=minbase $SUITE: $(du -sh "$R" | cut -f1)"

# ------------------------------------------------------------------ the chroot
cp -L /etc/resolv.conf "$R/etc/resolv.conf" 2>/dev/null || true
mount -t proc proc "$R/proc" || cannot "cannot mount /proc in the chroot"
# A private pty instance keeps apt-get from complaining; not needed, so a failure here is fine.
mkdir -p "$R/dev/pts"
mount -t devpts -o newinstance,ptmxmode=0666,mode=620 devpts "$R/dev/pts" 2>/dev/null || true
cp "$TARBALL" "$R/tmp/"
in_root() {
    chroot "$R" /usr/bin/env -i PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin HOME=/root \
        LC_ALL=C.UTF-8 DEBIAN_FRONTEND=noninteractive /bin/bash -c "$1"
}
in_root "cd /tmp && tar -xzf $NAME.tar.gz" || die "could not unpack the tarball in the chroot"
in_root "command -v rananeeti || command -v lz4 || command -v jq" >/dev/null 2>&1 && die "the clean root already has rananeeti, lz4 or jq"

if ! in_root "/tmp/$NAME/install.sh --no-systemd" > "$W/install-1.log" 2>&1; then
    sed 's/^/    /' "$W/install-1.log" >&2
    die "install.sh --no-systemd failed"
fi
sed 's/^/    /' "$W/install-1.log"
step "install.sh --no-systemd"

# ------------------------------------------------------------------ what it installed
FAILS=()
check() { FAILS+=("$*"); echo "  FAIL: $*" >&2; }
got=$(in_root "rananeeti --version" 2>&1) || check "rananeeti --version failed: $got"
[ "$got" = "$VERSION" ] || check "rananeeti --version printed '$got', expected '$VERSION'"
say "rananeeti --version: $got"
expect_stat() {  # PATH "OWNER:GROUP MODE"
    local got
    got=$(in_root "stat -c '%U:%G %a' $1" 2>&1) || got="missing"
    [ "$got" = "$2" ] || check "$1 is '$got', expected '$2'"
}
expect_stat /opt/rananeeti/bin/rananeeti "root:root 755"
expect_stat /etc/rananeeti/rananeeti.env "root:root 600"
expect_stat /var/lib/rananeeti "rananeeti:rananeeti 750"
expect_stat /var/lib/rananeeti/log "rananeeti:rananeeti 750"
in_root "test \"\$(readlink /usr/local/bin/rananeeti)\" = /opt/rananeeti/bin/rananeeti" \
    || check "/usr/local/bin/rananeeti is not a link to /opt/rananeeti/bin/rananeeti"
in_root "ls /opt/rananeeti/schema/*.sql >/dev/null" || check "no schema in /opt/rananeeti/schema"
in_root "test ! -e /etc/systemd/system/rananeeti.service" || check "--no-systemd installed a unit anyway"
node_id=$(in_root "cat /var/lib/rananeeti/node-id" 2>/dev/null || true)
[ -n "$node_id" ] || check "no /var/lib/rananeeti/node-id"
in_root "grep -qx 'RANANEETI_NODE_ID=$node_id' /etc/rananeeti/rananeeti.env" \
    || check "the env file does not name the node id $node_id"
in_root "ldd /opt/rananeeti/bin/rananeeti" > "$W/ldd.txt" 2>&1 || check "ldd failed in the chroot"
! grep -q 'not found' "$W/ldd.txt" || check "libraries not found in the clean root: $(grep 'not found' "$W/ldd.txt" | tr -s ' \t' ' ')"

# A tiny log, written as the service user into the installed data directory, verified two ways.
# shellcheck disable=SC2016 # expanded inside the chroot
in_root 'printf "%s\n" \
    "{\"name\": \"Bob\", \"people\": 2, \"datetime\": \"2020-11-16T20:00\", \"notes\": \"window seat, café\"}" \
    "{\"name\": \"Ana\", \"people\": 4, \"datetime\": \"2026-12-24T19:00\"}" \
    "{\"name\": \"Chroot\", \"people\": 1, \"datetime\": \"2026-12-31T23:00\", \"notes\": \"clean root\"}" \
  | runuser -u rananeeti -- rananeeti log append /var/lib/rananeeti/log --node-id "$(cat /var/lib/rananeeti/node-id)"' \
  > "$W/append.txt" 2> "$W/append.err" || check "rananeeti log append as user rananeeti failed: $(tail -n 2 "$W/append.err")"
grep -q ' 2e401f4cba1d2e90f354$' "$W/append.txt" \
    || check "log append did not print the documented digest 2e401f4cba1d2e90f354 for Bob: $(tr '\n' ' ' < "$W/append.txt")"
[ "$(wc -l < "$W/append.txt")" = 3 ] || check "log append printed $(wc -l < "$W/append.txt") lines for 3 reservations"
in_root "rananeeti log verify /var/lib/rananeeti/log" > "$W/verify.txt" 2>&1 \
    || check "rananeeti log verify failed: $(tail -n 3 "$W/verify.txt")"
sed 's/^/    /' "$W/verify.txt"
# log append prints in input order; concurrent appends may take offsets in another order. Compare by offset.
in_root "set -o pipefail; lz4 -dc /var/lib/rananeeti/log/00000000000000000000.lz4 | jq -r '\"\\(.offset) \\(.digest)\"'" \
    > "$W/lz4.txt" 2> "$W/lz4.err" || check "lz4 -dc | jq failed: $(tail -n 2 "$W/lz4.err")"
[ "$(sort -n "$W/append.txt")" = "$(cat "$W/lz4.txt")" ] \
    || check "lz4 -dc | jq shows other offsets and digests than log append printed: $(tr '\n' ' ' < "$W/lz4.txt")/ $(tr '\n' ' ' < "$W/append.txt")"
step "log append, verify and lz4 | jq in the chroot"

# ------------------------------------------------------------------ again: idempotent
before=$(in_root "sha256sum /etc/rananeeti/rananeeti.env /var/lib/rananeeti/node-id")
in_root "/tmp/$NAME/install.sh --no-systemd" > "$W/install-2.log" 2>&1 \
    || check "install.sh --no-systemd failed the second time: $(tail -n 3 "$W/install-2.log")"
grep -q 'kept the existing /etc/rananeeti/rananeeti.env' "$W/install-2.log" || check "the second run did not keep the env file"
in_root "/opt/rananeeti/install.sh --no-systemd --no-packages" > "$W/install-3.log" 2>&1 \
    || check "install.sh from /opt/rananeeti failed: $(tail -n 3 "$W/install-3.log")"
in_root "/tmp/$NAME/install.sh --no-packages" > "$W/install-4.log" 2>&1 \
    || check "install.sh (with systemd) failed: $(tail -n 3 "$W/install-4.log")"
expect_stat /etc/systemd/system/rananeeti.service "root:root 644"
after=$(in_root "sha256sum /etc/rananeeti/rananeeti.env /var/lib/rananeeti/node-id")
[ "$before" = "$after" ] || check "running install.sh again changed the env file or the node id"
in_root "rananeeti log verify /var/lib/rananeeti/log" >/dev/null 2>&1 || check "the log does not verify after the reinstall"
step "install.sh three more times (again, from /opt/rananeeti, with the unit)"

if [ "${#FAILS[@]}" -gt 0 ]; then
    echo "install-in-debootstrap: FAILED, ${#FAILS[@]} check(s):" >&2
    printf '  %s\n' "${FAILS[@]}" >&2
    exit 1
fi
say "install-in-debootstrap: all checks passed in $((SECONDS - T0)) s"
