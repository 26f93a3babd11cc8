#!/usr/bin/env bash
# websockify-rs beside Debian's python3-websockify (a library: OpenStack's
# nova-novncproxy imports it), run by scripts/chroot-test after the harness
# installed websockify-rs into a root where python3-websockify was already
# installed (noVNC pulled it in). Both orders:
#   1. library first, then ours (the harness did that): both installed, ours
#      at /usr/bin/websockify, Python's diverted to /usr/bin/websockify.python3
#   2. purge ours: Python's /usr/bin/websockify is back, no diversion left
#   3. ours first, then the library: remove the library, install ours, install
#      the library again (offline, from the root's local repository)
#   4. purge ours again: Python's binary is back
# In each state: `python3 -c 'import websockify'` works and `websockify
# --version` is ours (or, after a purge, /usr/bin/websockify is Python's).
# Prints "ok - ..." per check and fails at the first broken one.
set -Eeuo pipefail
PKG=${HARNESS_PKG:-websockify-rs}
DEB=${HARNESS_DEB:?HARNESS_DEB: the .deb of websockify-rs}
LIB=python3-websockify
DIVERTED=/usr/bin/websockify.python3
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

installed() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q 'install ok installed'; }
apt_q() { apt-get -q -y "$@" >/tmp/apt.log 2>&1 || { cat /tmp/apt.log; fail "apt-get $*"; }; }
ours_version="websockify $(dpkg-deb -f "$DEB" Version | sed 's/-[^-]*$//')"
python_shebang() { head -n1 "$1" | grep -q '^#!.*python3'; }

# Both installed: ours answers as websockify, Python's is diverted aside and
# still runs, the library imports.
check_both() {
  local when=$1 v
  installed "$PKG" || fail "$when: $PKG not installed"
  installed "$LIB" || fail "$when: $LIB not installed"
  v=$(websockify --version 2>&1) || fail "$when: websockify --version failed: $v"
  [ "$v" = "$ours_version" ] || fail "$when: websockify --version is '$v', not ours ('$ours_version')"
  [ "$(command -v websockify)" = /usr/bin/websockify ] || fail "$when: websockify on PATH is $(command -v websockify)"
  dpkg-divert --list /usr/bin/websockify | grep -qF "diversion of /usr/bin/websockify to $DIVERTED by $PKG" \
    || fail "$when: no diversion: $(dpkg-divert --list '*websockify*')"
  python_shebang "$DIVERTED" || fail "$when: $DIVERTED is not Python's script"
  "$DIVERTED" --help >/tmp/py-help.txt 2>&1 || fail "$when: $DIVERTED --help: $(cat /tmp/py-help.txt)"
  python3 -c 'import websockify, websockify.websocketproxy' || fail "$when: python3 -c 'import websockify'"
  ok "$when: websockify --version: $v; Python's script at $DIVERTED runs; import websockify works"
}

# Ours purged: /usr/bin/websockify is Python's again, owned by the library.
check_python_back() {
  local when=$1
  installed "$PKG" && fail "$when: $PKG still installed"
  [ -z "$(dpkg-divert --list '*websockify*')" ] || fail "$when: diversion left: $(dpkg-divert --list '*websockify*')"
  [ ! -e "$DIVERTED" ] || fail "$when: $DIVERTED left behind"
  python_shebang /usr/bin/websockify || fail "$when: /usr/bin/websockify is not Python's: $(head -c 200 /usr/bin/websockify | head -n1)"
  dpkg -S /usr/bin/websockify | grep -q "^$LIB: /usr/bin/websockify\$" || fail "$when: dpkg -S: $(dpkg -S /usr/bin/websockify)"
  websockify --help >/tmp/py-help.txt 2>&1 || fail "$when: Python's websockify --help: $(cat /tmp/py-help.txt)"
  grep -q -- '--config' /tmp/py-help.txt && fail "$when: websockify --help is still ours"
  python3 -c 'import websockify' || fail "$when: python3 -c 'import websockify'"
  ok "$when: purge restored Python's /usr/bin/websockify ($LIB), no diversion left, import works"
}

echo "== 1. $LIB installed first, then $PKG (by the harness)"
check_both "library first"
apt_q install --reinstall "$LIB"
check_both "library reinstalled under the diversion"
apt_q install --reinstall "$DEB"
check_both "$PKG reinstalled"

echo "== 2. purge $PKG"
apt_q purge "$PKG"
check_python_back "after purge (library first)"

echo "== 3. $PKG installed first, then $LIB"
apt_q purge "$LIB"
[ ! -e /usr/bin/websockify ] || fail "/usr/bin/websockify left after purging $LIB"
apt_q install "$DEB"
installed "$LIB" && fail "installing $PKG pulled $LIB in"
installed novnc || fail "novnc not installed with $PKG"
[ "$(websockify --version)" = "$ours_version" ] || fail "websockify --version without the library: $(websockify --version)"
[ ! -e "$DIVERTED" ] || fail "$DIVERTED exists before the library is installed"
ok "$PKG alone: websockify --version: $(websockify --version), novnc installed, no $DIVERTED"
apt_q install "$LIB"
check_both "ours first"

echo "== 4. purge $PKG"
apt_q purge "$PKG"
check_python_back "after purge (ours first)"
