#!/usr/bin/env bash
# TESTSCRIPT for the stand-in package harness-probe (tests/vm/probe), run by
#   scripts/chroot-test DEB tests/vm/probe-test.sh   (HARNESS_MODE=chroot)
#   scripts/vm-test     DEB tests/vm/probe-test.sh   (HARNESS_MODE=vm)
# after the harness installed the .deb. In a chroot it checks what was
# installed; in the VM, under the real systemd, it also starts, queries, stops
# and purges the package. Every wait is bounded.
set -Eeuo pipefail

fail() { echo "FAIL: $*" >&2; exit 1; }
ok() { echo "ok: $*"; }
# retry SECONDS CMD...: until CMD succeeds, at most SECONDS.
retry() {
  local deadline=$((SECONDS + $1)); shift
  until "$@" >/dev/null 2>&1; do
    [ $SECONDS -lt $deadline ] || return 1
    sleep 0.5
  done
}

files=(
  /usr/lib/systemd/system/probe@.service
  /usr/lib/systemd/system/probe-echo.socket
  /usr/lib/systemd/system/probe-echo@.service
  /usr/lib/sysusers.d/harness-probe.conf
  /usr/share/harness-probe/www/index.html
)
echo "mode=${HARNESS_MODE:?} pkg=${HARNESS_PKG:?} deb=${HARNESS_DEB:?}"

# --- what both modes check: the package is installed, with its files and user
dpkg-query -W -f='${Status}\n' harness-probe | grep -qx 'install ok installed' || fail "harness-probe not installed"
for f in "${files[@]}"; do [ -f "$f" ] || fail "missing $f"; done
ok "all ${#files[@]} files installed"
getent passwd harness-probe >/dev/null || fail "system user harness-probe not created"
[ "$(stat -c %U /var/lib/harness-probe)" = harness-probe ] || fail "/var/lib/harness-probe not owned by harness-probe"
ok "system user and state directory created by postinst"
systemd-analyze verify /usr/lib/systemd/system/probe@8000.service /usr/lib/systemd/system/probe-echo.socket \
  || fail "systemd-analyze verify found problems"
ok "units verify"

if [ "$HARNESS_MODE" = chroot ]; then
  # No systemd here: the postinst must not have tried to start anything.
  ! pgrep -f 'http.server' >/dev/null || fail "a probe server is running in the chroot"
  ok "nothing started in the chroot"
  exit 0
fi

# --- VM: the real systemd is PID 1
[ "$(cat /proc/1/comm)" = systemd ] || fail "PID 1 is $(cat /proc/1/comm), not systemd"
ok "PID 1 is systemd $(systemctl --version | head -n1)"

systemctl start probe@8000.service
systemctl is-active --quiet probe@8000.service || fail "probe@8000 not active"
retry 30 curl -fsS http://127.0.0.1:8000/ || fail "probe@8000 does not answer on 127.0.0.1:8000 after 30 s"
curl -fsS http://127.0.0.1:8000/ | grep -q harness-probe-is-serving || fail "unexpected page from probe@8000"
ok "probe@8000 serves the page"
[ "$(systemctl show -P User probe@8000.service)" = harness-probe ] || fail "probe@8000 not running as harness-probe"
[ "$(ps -o user= -p "$(systemctl show -P MainPID probe@8000.service)")" = harness-probe ] \
  || fail "the server process is not owned by harness-probe"
ok "runs as harness-probe"
# shellcheck disable=SC2016  # expanded by sh
retry 10 sh -c '[ "$(journalctl -u probe@8000.service -o cat --no-pager | wc -l)" -gt 0 ]' \
  || fail "no journal lines for probe@8000"
journalctl -u probe@8000.service --no-pager | tail -n 5
ok "journalctl -u probe@8000 has lines"

systemctl start probe-echo.socket
reply=$(timeout 20 bash -c 'exec 3<>/dev/tcp/127.0.0.1/8001; cat <&3') || fail "no reply from probe-echo.socket"
[ "$reply" = probe-echo-ok ] || fail "probe-echo.socket answered '$reply'"
ok "socket activation: probe-echo.socket answered"

systemctl stop probe@8000.service probe-echo.socket
! systemctl is-active --quiet probe@8000.service || fail "probe@8000 still active after stop"
! curl -fsS -m 2 http://127.0.0.1:8000/ >/dev/null 2>&1 || fail "port 8000 still answers after stop"
ok "stopped"

dpkg --purge harness-probe
! dpkg-query -W -f='${Status}\n' harness-probe 2>/dev/null | grep -q installed || fail "still installed after purge"
for f in "${files[@]}" /var/lib/harness-probe; do [ ! -e "$f" ] || fail "$f left after purge"; done
systemctl daemon-reload
[ "$(systemctl show -P LoadState probe@8000.service)" = not-found ] || fail "probe@8000 still known to systemd after purge"
ok "purged: files, state directory and units gone"
