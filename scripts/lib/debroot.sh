# shellcheck shell=bash
# shellcheck disable=SC2317  # functions below run via trap / by callers
# A cached, offline Debian root (bookworm by default) for package tests:
# scripts/chroot-test runs a test in a copy of it, scripts/vm-test boots a copy
# of it under qemu with the real systemd as PID 1.
#
# Source it after scripts/lib/common.sh (it uses log, die, need_packages), as
# root. The root's files are never written after the build: every run lays an
# overlay over it. Then:
#   debroot_ensure               builds the root once, sets DEBROOT (its path)
#   debroot_mkimage UPPER IMG    an ext4 image of $DEBROOT with the files of
#                                directory UPPER laid over it
#   debroot_run [--host-net] [--overlay DIR] [--bind SRC DST]... ROOT CMD...
#                                runs CMD chrooted in ROOT, in private mount, PID,
#                                UTS and network (only loopback; --host-net: the
#                                host's) namespaces: /proc, /sys (read-only),
#                                a minimal /dev and a tmpfs /run are mounted there,
#                                and every mount and process started inside goes
#                                away with the namespaces when CMD ends. With
#                                --overlay, ROOT is only read: writes go to
#                                DIR/upper (kept across calls with the same DIR)
#   debroot_harness_files UPPER DEB TESTSCRIPT MODE TIMEOUT [FILE...]
#                                /harness/run and what it needs, under UPPER
#   debroot_rmtree DIR           deletes DIR, refusing if anything is mounted in it
#   debroot_pkg_snapshot ROOT    "name version" of every installed package
#   debroot_pkg_diff BEFORE AFTER  prints what was installed/removed/changed
#
# The root: debootstrap --variant=minbase plus DEBROOT_PACKAGES (no
# Recommends), a hostname, an empty machine-id, boot-time timers and gettys
# masked, and apt pointed only at a local file: repository (/var/local/debs,
# holding DEBROOT_LOCAL_DEBS) so that apt inside works with no network and never
# tries one. It lives under $DEBROOT_CACHE/<suite>-<stamp>/root; the stamp hashes
# everything that shapes it (suite, mirror, package lists, debroot_customize,
# DEBROOT_FORMAT), so changing any of these rebuilds it on the next use. The
# downloaded .debs stay in $DEBROOT_CACHE/archives, so a rebuild downloads only
# what changed. DEBROOT_REBUILD=1 forces a rebuild. Roots of other stamps are
# deleted once unused and older than the DEBROOT_KEEP (2) most recently used.

DEBROOT_SUITE="${DEBROOT_SUITE:-bookworm}"
DEBROOT_MIRROR="${DEBROOT_MIRROR:-http://deb.debian.org/debian}"
DEBROOT_CACHE="${DEBROOT_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/websockify-rs/debroot}"
DEBROOT_HOSTNAME="${DEBROOT_HOSTNAME:-wsrs-test}"
# Bump to force every cached root to be rebuilt.
DEBROOT_FORMAT=1
# What a test of the websockify-rs package may need at run time, besides what
# the package itself pulls in (novnc brings Python websockify, numpy, nodejs;
# pebble, the ACME test CA, is for tests/vm/acme-test.sh).
DEBROOT_PACKAGES=(
  systemd systemd-sysv udev dbus kmod linux-image-amd64 initramfs-tools apt-utils
  novnc python3 python3-websockets curl ca-certificates iproute2 procps openssl socat
  pebble
)
# Per suite, what only that suite's root needs: trixie's lintian checks the
# package with Debian 13's rules (scripts/check-deb --suite trixie).
case $DEBROOT_SUITE in
  trixie) DEBROOT_PACKAGES+=(lintian) ;;
esac
# Packages whose .debs go into the root's local apt repository, so that a test
# can reinstall them offline (e.g. after websockify-rs replaced them).
DEBROOT_LOCAL_DEBS=(websockify python3-websockify novnc)
# Units that slow a boot down or wait for things a test VM does not have.
DEBROOT_MASK_UNITS=(
  apt-daily.timer apt-daily-upgrade.timer dpkg-db-backup.timer e2scrub_all.timer
  fstrim.timer logrotate.timer man-db.timer systemd-tmpfiles-clean.timer
  e2scrub_reap.service getty@tty1.service serial-getty@ttyS0.service
  systemd-networkd-wait-online.service networking.service
)

debroot_need_root() {
  [ "$(id -u)" -eq 0 ] || die "$(basename "$0") needs root (debootstrap, chroot, mount namespaces)"
}

# The stamp: a hash of everything that decides what the root contains.
debroot_stamp() {
  {
    printf 'format=%s suite=%s mirror=%s arch=%s hostname=%s\n' \
      "$DEBROOT_FORMAT" "$DEBROOT_SUITE" "$DEBROOT_MIRROR" "$(dpkg --print-architecture)" "$DEBROOT_HOSTNAME"
    printf 'packages=%s\n' "${DEBROOT_PACKAGES[*]}"
    printf 'local=%s\n' "${DEBROOT_LOCAL_DEBS[*]}"
    printf 'mask=%s\n' "${DEBROOT_MASK_UNITS[*]}"
    declare -f debroot_customize
  } | sha256sum | cut -c1-12
}

# debroot_ensure: the cached root for the current stamp, built if missing.
# Sets DEBROOT. Builds are serialised by $DEBROOT_CACHE/.lock, so parallel runs
# build a root once. The caller then holds a shared lock on the root's
# use.lock until it exits, so that no other run deletes the root under it.
# Roots of other stamps (other branches, older versions of this file) are
# kept while in use or among the DEBROOT_KEEP (2) most recently used.
debroot_ensure() {
  debroot_need_root
  local stamp dir lock_fd use_fd
  stamp=$(debroot_stamp)
  dir="$DEBROOT_CACHE/$DEBROOT_SUITE-$stamp"
  mkdir -p "$DEBROOT_CACHE/archives/partial" || die "cannot create $DEBROOT_CACHE"
  exec {lock_fd}>"$DEBROOT_CACHE/.lock"
  if ! flock -n "$lock_fd"; then
    log "another run is building a root; waiting for $DEBROOT_CACHE/.lock (max 30 min)"
    flock -w 1800 "$lock_fd" || die "timed out waiting for the lock $DEBROOT_CACHE/.lock"
  fi
  if [ "${DEBROOT_REBUILD:-0}" = 1 ] && [ -e "$dir" ]; then
    log "DEBROOT_REBUILD=1: discarding $dir"
    _debroot_remove_unused "$dir" 600 || die "cannot rebuild $dir: another run is still using it"
  fi
  if [ ! -f "$dir/complete" ]; then
    [ ! -e "$dir" ] || debroot_rmtree "$dir"   # an interrupted build
    log "building the $DEBROOT_SUITE root $dir (first run for this stamp: several minutes)"
    local t0=$SECONDS
    mkdir -p "$dir"
    debroot_build "$dir/root" || die "building the $DEBROOT_SUITE root failed (see above); nothing was cached"
    debroot_pkg_snapshot "$dir/root" >"$dir/packages.txt"
    debroot_stamp >"$dir/stamp"
    touch "$dir/complete"
    log "root built in $((SECONDS - t0)) s: $(du -sh "$dir/root" | cut -f1), $(wc -l <"$dir/packages.txt") packages"
  fi
  exec {use_fd}>>"$dir/use.lock"
  flock -s "$use_fd"
  touch "$dir/use.lock"   # its mtime: when the root was last used
  # Prune roots of other stamps beyond the most recently used ones; skip
  # those in use. Their .debs stay in archives/.
  local old n=0
  while read -r old; do
    n=$((n + 1))
    [ "$n" -gt "${DEBROOT_KEEP:-2}" ] || continue
    _debroot_remove_unused "$old" 0 && log "removed the unused root $old"
  done < <(echo "$dir"; _debroot_by_last_use "$dir")
  exec {lock_fd}>&-
  DEBROOT="$dir/root"
}

# _debroot_by_last_use EXCEPT: the cached roots but EXCEPT, most recently used first.
_debroot_by_last_use() {
  local d t
  for d in "$DEBROOT_CACHE/$DEBROOT_SUITE"-*/; do
    d=${d%/}
    if [ ! -d "$d" ] || [ "$d" = "$1" ]; then continue; fi
    t=$(stat -c %Y "$d/use.lock" 2>/dev/null || stat -c %Y "$d")
    echo "$t $d"
  done | sort -rn | cut -d' ' -f2-
}

# _debroot_remove_unused DIR WAIT_S: delete a cached root unless a run holds
# its use.lock (waiting up to WAIT_S for it to be free); 1 if still in use.
_debroot_remove_unused() {
  local fd
  exec {fd}>>"$1/use.lock"
  if flock -x -w "$2" "$fd"; then
    debroot_rmtree "$1"
    exec {fd}>&-
  else
    exec {fd}>&-
    return 1
  fi
}

# debroot_build DIR: debootstrap + packages + debroot_customize into DIR.
debroot_build() {
  local root=$1 archives="$DEBROOT_CACHE/archives"
  need_packages debootstrap dpkg-dev
  log "debootstrap --variant=minbase $DEBROOT_SUITE from $DEBROOT_MIRROR"
  # In its own mount namespace: debootstrap mounts /proc and /sys in the
  # target and leaves them behind when it fails.
  unshare --mount --propagation private -- \
    debootstrap --variant=minbase --cache-dir="$archives" "$DEBROOT_SUITE" "$root" "$DEBROOT_MIRROR" \
    >"$root.debootstrap.log" 2>&1 \
    || { tail -n 30 "$root.debootstrap.log" >&2; [ ! -f "$root/debootstrap/debootstrap.log" ] \
         || tail -n 30 "$root/debootstrap/debootstrap.log" >&2; die "debootstrap failed (log: $root.debootstrap.log)"; }
  cp /etc/resolv.conf "$root/etc/resolv.conf" 2>/dev/null || true
  log "installing into the root: ${DEBROOT_PACKAGES[*]}"
  debroot_run --host-net --bind "$archives" /var/cache/apt/archives "$root" \
    apt-get -q -o Acquire::Retries=3 update || die "apt-get update in the root failed"
  debroot_run --host-net --bind "$archives" /var/cache/apt/archives "$root" \
    apt-get -q -y -o Acquire::Retries=3 --no-install-recommends install "${DEBROOT_PACKAGES[@]}" \
    || die "apt-get install in the root failed"
  debroot_run --host-net --bind "$archives" /var/cache/apt/archives "$root" \
    apt-get -q -y --download-only -o Acquire::Retries=3 --no-install-recommends --reinstall install "${DEBROOT_LOCAL_DEBS[@]}" \
    || die "downloading ${DEBROOT_LOCAL_DEBS[*]} failed"
  # The local repository: the exact .debs of DEBROOT_LOCAL_DEBS.
  local p v f
  mkdir -p "$root/var/local/debs"
  for p in "${DEBROOT_LOCAL_DEBS[@]}"; do
    # shellcheck disable=SC2016  # a dpkg-query format
    v=$(debroot_run "$root" dpkg-query -W -f='${Version}' "$p" 2>/dev/null) \
      || v=$(debroot_run "$root" apt-cache policy "$p" | awk '/Candidate:/ {print $2}')
    # apt names the file with the epoch as "%3a" (novnc_1%3a1.6.0-2_all.deb)
    f=$(find "$archives" -maxdepth 1 -name "${p}_${v/:/%3a}_*.deb" | head -n1)
    [ -n "$f" ] || die "no .deb of $p $v in $archives"
    cp "$f" "$root/var/local/debs/"
  done
  # A Release file naming the one index, or apt probes for every compressed
  # variant of Packages and prints an error for each missing one.
  (cd "$root/var/local/debs" && dpkg-scanpackages --multiversion . /dev/null 2>/dev/null >Packages \
    && printf 'Origin: websockify-rs-harness\nLabel: local\nDate: %s\nSHA256:\n %s %s Packages\n' \
         "$(LC_ALL=C date -Ru)" "$(sha256sum <Packages | cut -d' ' -f1)" "$(stat -c %s Packages)" >Release) \
    || die "indexing the local repository failed"
  debroot_customize "$root"
  # Offline from here on: apt knows only the local repository.
  debroot_run "$root" apt-get -q update || die "apt-get update (local repository) in the root failed"
  debroot_run "$root" apt-get clean
}

# debroot_customize ROOT: the settings a test machine needs. Part of the
# stamp: changing this function rebuilds the root.
debroot_customize() {
  local root=$1 u
  echo "$DEBROOT_HOSTNAME" >"$root/etc/hostname"
  printf '127.0.0.1\tlocalhost\n127.0.1.1\t%s\n::1\t\tlocalhost ip6-localhost ip6-loopback\n' \
    "$DEBROOT_HOSTNAME" >"$root/etc/hosts"
  # Each run gets its own machine-id (debroot_harness_files); the root has none.
  : >"$root/etc/machine-id"
  rm -f "$root/var/lib/dbus/machine-id"
  echo "/dev/vda / ext4 rw,relatime 0 0" >"$root/etc/fstab"
  for u in "${DEBROOT_MASK_UNITS[@]}"; do ln -sfn /dev/null "$root/etc/systemd/system/$u"; done
  # No network: apt reads only the local repository; no translations.
  rm -f "$root/etc/apt/sources.list.d/"*
  echo 'deb [trusted=yes] file:/var/local/debs ./' >"$root/etc/apt/sources.list"
  printf 'Acquire::Languages "none";\nDpkg::Use-Pty "0";\n' >"$root/etc/apt/apt.conf.d/99harness"
  rm -rf "$root/var/lib/apt/lists/"*
  : >"$root/etc/resolv.conf"
  # Root logs in on the console without a password (debugging a kept image).
  sed -i 's/^root:[^:]*:/root::/' "$root/etc/shadow"
  # A small, fast initrd: only what booting from virtio-blk ext4 needs.
  echo 'MODULES=list' >"$root/etc/initramfs-tools/conf.d/harness.conf"
  echo 'COMPRESS=gzip' >>"$root/etc/initramfs-tools/conf.d/harness.conf"
  printf '%s\n' virtio_pci virtio_blk ext4 >"$root/etc/initramfs-tools/modules"
  debroot_run "$root" update-initramfs -u -k all || die "update-initramfs in the root failed"
}

# debroot_mkimage UPPER IMAGE [EXTRA_MIB]: an ext4 file system image of the
# cached root with the files of UPPER laid over it (a per-run copy without
# copying: overlayfs, lower=$DEBROOT, upper=UPPER, read by mke2fs -d). UPPER
# holds only what a run adds or replaces; a directory in UPPER replaces the
# owner and mode of the same directory in the root, so create the usual
# root:root 0755 ones only. The image has EXTRA_MIB (default 768) MiB free.
debroot_mkimage() {
  local upper=$1 img=$2 extra=${3:-768} size ovl
  [ -n "${DEBROOT:-}" ] || die "debroot_mkimage: call debroot_ensure first"
  size=$(( $(du -s --block-size=1M "$DEBROOT" "$upper" | awk '{s += $1} END {print s}') + extra ))
  ovl=$(mktemp -d "$(dirname "$img")/.ovl.XXXXXX")
  mkdir "$ovl/work" "$ovl/merged"
  rm -f "$img"
  truncate -s "${size}M" "$img"
  # shellcheck disable=SC2016  # expanded by the inner sh
  unshare --mount --propagation private -- sh -ec '
    mount -t overlay overlay -o "lowerdir=$1,upperdir=$2,workdir=$3/work" "$3/merged"
    mke2fs -q -F -t ext4 -L wsrs-root -d "$3/merged" "$4"' \
    mke2fs-overlay "$DEBROOT" "$upper" "$ovl" "$img" \
    || { debroot_rmtree "$ovl"; die "building the image $img (mke2fs -d over an overlay of $DEBROOT) failed"; }
  debroot_rmtree "$ovl"
}

# debroot_rmtree DIR: rm -rf DIR, but never while anything is mounted below it
# (that would delete through a bind mount into the host).
debroot_rmtree() {
  local dir
  dir=$(realpath -m "$1")
  case "$dir" in /|/bin|/boot|/dev|/etc|/home|/proc|/root|/sys|/usr|/var|"$HOME") die "debroot_rmtree: refusing to delete $dir";; esac
  [ -e "$dir" ] || return 0
  if awk -v d="$dir" '$5 == d || index($5, d "/") == 1 {found=1} END {exit !found}' /proc/self/mountinfo; then
    die "not deleting $dir: something is still mounted below it (see /proc/self/mountinfo); unmount it and delete it by hand"
  fi
  rm -rf --one-file-system -- "$dir"
}

# The script that runs as PID 1 of the new namespaces: it mounts the API file
# systems and runs the command chrooted. It stays outside the chroot itself, so
# that tools inside (systemctl, deb-systemd-invoke) see a chroot and do not try
# to talk to a systemd.
# shellcheck disable=SC2016  # expanded by the inner bash
_DEBROOT_INNER='
set -eu
root=$1; own_net=$2; overlay=$3; nbind=$4; shift 4
if [ -n "$overlay" ]; then
  mkdir -p "$overlay/upper" "$overlay/ovl-work" "$overlay/merged"
  mount -t overlay overlay -o "lowerdir=$root,upperdir=$overlay/upper,workdir=$overlay/ovl-work" "$overlay/merged"
  root=$overlay/merged
fi
while [ "$nbind" -gt 0 ]; do
  mkdir -p "$root$2"; mount --bind "$1" "$root$2"; shift 2; nbind=$((nbind - 1))
done
mount -t proc -o nosuid,nodev,noexec proc "$root/proc"
mount -t sysfs -o ro,nosuid,nodev,noexec sysfs "$root/sys"
mount -t tmpfs -o mode=0755,nosuid,size=16m dev "$root/dev"
for n in null:1:3 zero:1:5 full:1:7 random:1:8 urandom:1:9 tty:5:0; do
  IFS=: read -r name maj min <<EOF
$n
EOF
  mknod -m 0666 "$root/dev/$name" c "$maj" "$min"
done
mkdir "$root/dev/pts" "$root/dev/shm"
mount -t devpts -o newinstance,ptmxmode=0666,mode=0620 devpts "$root/dev/pts"
ln -s pts/ptmx "$root/dev/ptmx"
mount -t tmpfs -o mode=1777,nosuid,nodev shm "$root/dev/shm"
ln -s /proc/self/fd "$root/dev/fd"
ln -s /proc/self/fd/0 "$root/dev/stdin"
ln -s /proc/self/fd/1 "$root/dev/stdout"
ln -s /proc/self/fd/2 "$root/dev/stderr"
mount -t tmpfs -o mode=0755,nosuid,nodev run "$root/run"
mkdir -p "$root/run/lock"
hostname "$DEBROOT_HOSTNAME"
# A network namespace of its own (unless --host-net) has only loopback, down.
[ "$own_net" = 0 ] || chroot "$root" ip link set lo up || echo "debroot_run: could not bring up lo (no iproute2 in the root?)" >&2
rc=0
chroot "$root" /usr/bin/env -i \
  PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
  HOME=/root LANG=C.UTF-8 TERM="${TERM:-dumb}" DEBIAN_FRONTEND=noninteractive \
  "$@" || rc=$?
exit "$rc"
'

# debroot_run [--host-net] [--overlay DIR] [--bind SRC DST]... ROOT CMD...: see the header.
debroot_run() {
  local binds=() n=0 overlay="" net=(--net) own_net=1
  if [ "${1:-}" = --host-net ]; then net=(); own_net=0; shift; fi
  if [ "${1:-}" = --overlay ]; then overlay=$2; shift 2; fi
  while [ "${1:-}" = --bind ]; do binds+=("$2" "$3"); n=$((n + 1)); shift 3; done
  local root=$1; shift
  [ -x "$root/usr/bin/env" ] || die "debroot_run: $root is not a root file system"
  # setpriv --pdeathsig: if the shell that called this dies, unshare dies,
  # and with it (--kill-child) everything in the namespaces.
  DEBROOT_HOSTNAME="$DEBROOT_HOSTNAME" setpriv --pdeathsig KILL -- \
    unshare --mount --pid --uts "${net[@]}" --fork --kill-child --propagation private -- \
    bash -c "$_DEBROOT_INNER" debroot-run "$root" "$own_net" "$overlay" "$n" "${binds[@]}" "$@"
}

# debroot_harness_files UPPER DEB TESTSCRIPT MODE TEST_TIMEOUT [FILE...]: the
# files a test run adds to the root, under UPPER (the upper layer of an
# overlay): a machine-id, and /harness with DEB, TESTSCRIPT as test.sh (and
# the lib.sh beside it, if there is one, as lib.sh), each FILE under
# /harness/files/, and the runner /harness/run. The runner (bash,
# as root, inside the root) installs DEB with apt-get, prints what apt
# installed, removed or changed, runs test.sh with HARNESS_MODE=MODE
# HARNESS_DEB HARNESS_PKG HARNESS_FILES (the FILEs' paths inside, separated
# by spaces), bounded by TEST_TIMEOUT seconds,
# and reports both exit statuses in lines HARNESS-INSTALL-STATUS=N and
# HARNESS-TEST-STATUS=N and in the files /harness/install-status and
# /harness/test-status (no test-status: the test did not run).
debroot_harness_files() {
  local upper=$1 deb=$2 test_script=$3 mode=$4 test_timeout=$5 pkg f lib files=()
  shift 5
  pkg=$(dpkg-deb -f "$deb" Package) || die "$deb is not a .deb"
  mkdir -p "$upper/etc" "$upper/harness/files"
  tr -d '-' </proc/sys/kernel/random/uuid >"$upper/etc/machine-id"
  cp "$deb" "$upper/harness/"
  cp "$test_script" "$upper/harness/test.sh"
  # The shell library the test scripts beside TESTSCRIPT source (tests/vm/lib.sh).
  lib="$(dirname "$test_script")/lib.sh"
  [ ! -e "$lib" ] || cp "$lib" "$upper/harness/lib.sh" || die "cannot copy $lib into the harness"
  for f in "$@"; do
    [ ! -e "$upper/harness/files/$(basename "$f")" ] || die "two harness files named $(basename "$f")"
    cp "$f" "$upper/harness/files/" || die "cannot copy $f into the harness"
    files+=("/harness/files/$(basename "$f")")
  done
  printf 'HARNESS_MODE=%q\nHARNESS_DEB=%q\nHARNESS_PKG=%q\nHARNESS_TEST_TIMEOUT=%q\nHARNESS_FILES=%q\n' \
    "$mode" "/harness/$(basename "$deb")" "$pkg" "$test_timeout" "${files[*]}" >"$upper/harness/env"
  {
    echo '#!/bin/bash'
    echo '# Written by scripts/lib/debroot.sh (debroot_harness_files): install, test, report.'
    echo 'set -uo pipefail'
    echo '. /harness/env'
    echo 'export DEBIAN_FRONTEND=noninteractive'
    declare -f debroot_pkg_snapshot debroot_pkg_diff
    cat <<'EOF'
debroot_pkg_snapshot "" >/harness/before.txt
echo "== apt-get install $HARNESS_DEB ($HARNESS_PKG)"
apt-get install -y -q "$HARNESS_DEB"
install_rc=$?
debroot_pkg_snapshot "" >/harness/after.txt
echo "== package changes made by apt-get install ($HARNESS_PKG):"
debroot_pkg_diff /harness/before.txt /harness/after.txt
echo "$install_rc" >/harness/install-status
echo "HARNESS-INSTALL-STATUS=$install_rc"
[ "$install_rc" -eq 0 ] || exit 0
echo "== running TESTSCRIPT ($HARNESS_MODE, timeout ${HARNESS_TEST_TIMEOUT}s)"
t0=$(cut -d' ' -f1 /proc/uptime)
timeout -k 10 "$HARNESS_TEST_TIMEOUT" \
  env HARNESS_MODE="$HARNESS_MODE" HARNESS_DEB="$HARNESS_DEB" HARNESS_PKG="$HARNESS_PKG" \
  HARNESS_FILES="$HARNESS_FILES" bash /harness/test.sh </dev/null
test_rc=$?
[ "$test_rc" -ne 124 ] || echo "TESTSCRIPT timed out after ${HARNESS_TEST_TIMEOUT}s"
echo "== TESTSCRIPT took $(awk -v t0="$t0" '{printf "%.1f", $1 - t0}' /proc/uptime)s"
if [ "$test_rc" -ne 0 ] && [ "$HARNESS_MODE" = vm ]; then
  echo "== the VM's journal (last 150 lines), since TESTSCRIPT failed:"
  journalctl -b --no-pager -n 150 -o short-monotonic
fi
echo "$test_rc" >/harness/test-status
echo "HARNESS-TEST-STATUS=$test_rc"
exit 0
EOF
  } >"$upper/harness/run"
  chmod 0755 "$upper/harness" "$upper/harness/files" "$upper/harness/run"
}

# debroot_pkg_snapshot ROOT: "name version" per installed package, sorted.
debroot_pkg_snapshot() {
  # shellcheck disable=SC2016  # dpkg-query format, not shell
  dpkg-query --admindir="$1/var/lib/dpkg" -W -f='${db:Status-Abbrev} ${binary:Package} ${Version}\n' \
    | awk '$1 ~ /^.i/ {print $2, $3}' | sort
}

# debroot_pkg_diff BEFORE AFTER: what changed between two snapshots.
debroot_pkg_diff() {
  awk '
    NR == FNR { before[$1] = $2; next }
    { after[$1] = $2 }
    END {
      for (p in after) if (!(p in before)) print "  installed: " p " " after[p]
      for (p in before) if (!(p in after)) print "  REMOVED:   " p " " before[p]
      for (p in after) if ((p in before) && before[p] != after[p]) print "  changed:   " p " " before[p] " -> " after[p]
    }' "$1" "$2" | sort -k1,1 -k2,2 | grep . || echo "  (no package installed, removed or changed)"
}
