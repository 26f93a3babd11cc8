#!/usr/bin/env bash
# The upgrade from the previous release, run by scripts/chroot-test and
# scripts/vm-test with the previous release's .deb as DEB (installed by the
# harness; scripts/prev-release-deb builds it) and as extra files
# (/harness/files/..., HARNESS_FILES) the current .deb, the same build as a
# newer version (scripts/test makes it, VERSION+next) and handover-clients.py:
#   1. state an administrator has: an instance conf with an htpasswd file,
#      the certificate the old postinst made, state under /var/lib/websockify
#      (ACME account and certificates live there); in the VM the instance
#      runs (enabled, a password-protected session through it)
#   2. apt-get install of the current .deb over it
#   3. every file of that state is byte for byte, owner and mode what it was;
#      the old binary was not diverted aside; in the VM the instance runs
#      again, on the new binary (/proc/MAINPID/exe --version), and serves a
#      session with the same password
#   4. in the VM, live sessions across a reload, the upgrade to VERSION+next
#      (handed over in place: same PID, ws:// sessions go on byte-exact) and
#      a stop (1001)
#   5. python3-websockify (which 0.1.0 removed) installs beside us
#   6. purge: the diversion goes with the package, Python's script comes back
# Prints "ok - ..." per check and fails at the first broken one.
set -Eeuo pipefail
MODE=${HARNESS_MODE:-vm}
PKG=${HARNESS_PKG:-websockify-rs}
OLD_DEB=${HARNESS_DEB:?}
read -r NEW_DEB NEXT_DEB CLIENTS _ <<<"${HARNESS_FILES:?HARNESS_FILES: the current .deb, a newer build of it, handover-clients.py}"
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

version_of() { dpkg-deb -f "$1" Version; }
old_v=$(version_of "$OLD_DEB") new_v=$(version_of "$NEW_DEB") NEXT_V=$(version_of "$NEXT_DEB")
[ "$(dpkg-query -W -f='${Version}' "$PKG")" = "$old_v" ] || fail "$PKG $old_v is not the installed version"
[ "$(websockify --version)" = "websockify ${old_v%-*}" ] || fail "websockify --version before: $(websockify --version)"
dpkg --compare-versions "$new_v" gt "$old_v" || fail "$new_v is not newer than $old_v"
ok "previous release installed: $PKG $old_v ($(websockify --version)); upgrading to $new_v"

# ------------------------------------------------------------- the state ---
crt=/etc/websockify/ssl/websockify.crt key=/etc/websockify/ssl/websockify.key
[ -f "$crt" ] && [ -f "$key" ] || fail "the previous release made no certificate"
socat TCP-LISTEN:5901,bind=127.0.0.1,reuseaddr,fork EXEC:cat &
htpasswd=/etc/websockify/display1.htpasswd
printf 'alice:%s\n' "$(openssl passwd -apr1 'alice-s3cret')" >"$htpasswd"
chown root:websockify "$htpasswd"
chmod 0640 "$htpasswd"
cat >/etc/websockify/display1.conf <<CONF
# display 1, written for $old_v
listen = "127.0.0.1:6080"
target = "127.0.0.1:5901"
cert = "$crt"
key = "$key"
auth-file = "$htpasswd"
CONF
# What an ACME client keeps (an account key, an issued certificate): under
# the unit in the instance's state folder (acme-state's default there,
# /var/lib/websockify/NAME/acme, the service user's), outside one in
# /var/lib/websockify/acme; and a file of the administrator's own. State the
# package must never touch.
acme_state() { # acme_state DIR OWNER
  install -d -m 0700 -o "$2" -g "$2" "$1" "$1/account" "$1/certs"
  head -c 512 /dev/urandom | base64 >"$1/account/key.pem"
  printf '{"contact":["mailto:admin@example.org"]}\n' >"$1/account/account.json"
  cp "$crt" "$1/certs/vnc.example.org.crt"
  chown "$2:$2" "$1"/*/*
  chmod 0600 "$1"/*/*
}
install -d -m 0755 /var/lib/websockify
install -d -m 0700 -o websockify -g websockify /var/lib/websockify/display1
acme_state /var/lib/websockify/display1/acme websockify
acme_state /var/lib/websockify/acme root
echo "kept by the administrator" >/etc/websockify/NOTES
state() {
  find /etc/websockify /var/lib/websockify -print0 | sort -z | xargs -0 stat -c '%n %U:%G %a %F' >/tmp/state-meta.txt
  find /etc/websockify /var/lib/websockify -type f -print0 | sort -z | xargs -0 sha256sum
  cat /tmp/state-meta.txt
}
wait_port 5901 || fail "the echo target did not start"

# session AUTH: one wss:// session through 127.0.0.1:6080 with Basic AUTH;
# prints the HTTP status line of the upgrade.
session() {
  python3 - "$1" <<'PY'
import base64, os, socket, ssl, struct, sys
s = socket.create_connection(("127.0.0.1", 6080), timeout=20)
ctx = ssl.create_default_context(cafile="/etc/websockify/ssl/websockify.crt")
ctx.check_hostname = False
s = ctx.wrap_socket(s, server_hostname="127.0.0.1")
auth = base64.b64encode(sys.argv[1].encode()).decode()
key = base64.b64encode(os.urandom(16)).decode()
s.sendall((f"GET /websockify HTTP/1.1\r\nHost: 127.0.0.1:6080\r\nUpgrade: websocket\r\n"
           f"Connection: Upgrade\r\nAuthorization: Basic {auth}\r\n"
           f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n").encode())
head = b""
while b"\r\n\r\n" not in head:
    c = s.recv(1)
    if not c: break
    head += c
status = head.split(b"\r\n", 1)[0].decode()
print(status)
if not status.startswith("HTTP/1.1 101"): sys.exit(0)
data, mask = b"through the upgrade", os.urandom(4)
s.sendall(struct.pack("!BB", 0x82, 0x80 | len(data)) + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(data)))
h = s.recv(2)
body = b""
while len(body) < (h[1] & 0x7f): body += s.recv((h[1] & 0x7f) - len(body))
assert body == data, body
print("echo ok")
PY
}

if [ "$MODE" = vm ]; then
  systemctl enable --now websockify@display1
  systemctl is-active --quiet websockify@display1 || { journalctl -u websockify@display1 --no-pager; fail "websockify@display1 not active"; }
  wait_port 6080 || fail "websockify@display1 does not listen on 6080"
  old_pid=$(systemctl show -p MainPID --value websockify@display1)
  [ "$("/proc/$old_pid/exe" --version)" = "websockify ${old_v%-*}" ] || fail "the running instance is not ${old_v%-*}"
  [ "$(session alice:wrong | head -n1)" = "HTTP/1.1 401 Unauthorized" ] || fail "a wrong password was not refused before the upgrade"
  session alice:alice-s3cret | grep -q '^echo ok' || fail "no session with alice's password before the upgrade"
  ok "websockify@display1 runs $old_v (PID $old_pid): 401 with a wrong password, a wss session with alice's"
else
  websockify --config /etc/websockify/display1.conf --check || fail "the conf checks with $old_v"
  ok "the conf checks with $old_v"
fi
state >/tmp/state-before.txt
ok "state recorded: $(grep -c '^[0-9a-f]\{64\} ' /tmp/state-before.txt) files under /etc/websockify and /var/lib/websockify"

# -------------------------------------------------------------- upgrade ---
apt-get install -y -q "$NEW_DEB" >/tmp/upgrade.log 2>&1 || { cat /tmp/upgrade.log; fail "apt-get install $NEW_DEB (upgrade)"; }
grep -E 'Unpacking|Setting up|diversion|Removing' /tmp/upgrade.log | sed 's/^/  /'
[ "$(dpkg-query -W -f='${Version} ${Status}' "$PKG")" = "$new_v install ok installed" ] || fail "$PKG $new_v not installed after the upgrade"
[ "$(websockify --version)" = "websockify ${new_v%-*}" ] || fail "websockify --version after: $(websockify --version)"
ok "upgraded to $new_v: $(websockify --version)"

state >/tmp/state-after.txt
if ! diff /tmp/state-before.txt /tmp/state-after.txt >/tmp/state.diff; then
  cat /tmp/state.diff
  fail "the upgrade changed the confs, htpasswd, certificate or /var/lib/websockify (diff above)"
fi
ok "confs, htpasswd file, certificate and key, /var/lib/websockify: same bytes, owners and modes ($(grep -c '^[0-9a-f]\{64\} ' /tmp/state-after.txt) files)"
dpkg-divert --list /usr/bin/websockify | grep -qF "diversion of /usr/bin/websockify to /usr/bin/websockify.python3 by $PKG" \
  || fail "no diversion after the upgrade: $(dpkg-divert --list '*websockify*')"
[ ! -e /usr/bin/websockify.python3 ] || fail "the upgrade moved the old binary aside to /usr/bin/websockify.python3"
ok "diversion in place, the old binary not moved aside"

if [ "$MODE" = vm ]; then
  # The postinst try-restarts websockify.target; the instance is PartOf= it.
  deadline=$((SECONDS + 60))
  until systemctl is-active --quiet websockify@display1 \
    && pid=$(systemctl show -p MainPID --value websockify@display1) && [ "$pid" != 0 ] \
    && [ "$("/proc/$pid/exe" --version 2>/dev/null)" = "websockify ${new_v%-*}" ]; do
    [ $SECONDS -lt $deadline ] || { systemctl status websockify@display1 --no-pager || true; fail "websockify@display1 not running ${new_v%-*} 60 s after the upgrade"; }
    sleep 0.2
  done
  [ "$pid" != "$old_pid" ] || fail "the instance was not restarted (still PID $old_pid)"
  [ "$(readlink "/proc/$pid/exe")" = /usr/bin/websockify ] || fail "MainPID $pid runs $(readlink "/proc/$pid/exe")"
  systemctl is-enabled --quiet websockify@display1 || fail "websockify@display1 no longer enabled"
  wait_port 6080 || fail "websockify@display1 does not listen on 6080 after the upgrade"
  [ "$(session alice:wrong | head -n1)" = "HTTP/1.1 401 Unauthorized" ] || fail "a wrong password was not refused after the upgrade"
  session alice:alice-s3cret | grep -q '^echo ok' || fail "no session with alice's password after the upgrade"
  ok "websockify@display1 restarted on the new binary (PID $old_pid -> $pid, /proc/$pid/exe --version: websockify ${new_v%-*}), still enabled; 401 with a wrong password, a wss session with alice's"
  # Live sessions across what an administrator does to a running instance:
  # display2 serves ws:// and wss:// on one port, without a password, to
  # the echo target. websockify.target is active, as after a boot: the
  # upgrade must not restart the instances through it. The client
  # (handover-clients.py) keeps 10 ws:// and 10 wss:// sessions streaming a
  # counting pattern and opens fresh ones during each step:
  #   reload   a conf change and `systemctl reload`: every session goes on;
  #   upgrade  `apt-get install` of a newer build (the same binary as
  #            $NEXT_V): the postinst sends SIGUSR2, the daemon re-executes
  #            the new /usr/bin/websockify in place (same PID) and hands it
  #            the ws:// sessions, which go on byte-exact with no close frame;
  #            TLS cannot move without kernel TLS yet: wss:// gets 1012;
  #   stop     `systemctl stop`: what is left gets 1001, as before.
  cat >/etc/websockify/display2.conf <<CONF
listen = "127.0.0.1:6081"
target = "127.0.0.1:5901"
cert = "$crt"
key = "$key"
CONF
  systemctl start websockify.target websockify@display2
  wait_port 6081 || { journalctl -u websockify@display2 --no-pager; fail "websockify@display2 does not listen on 6081"; }
  pid2=$(systemctl show -p MainPID --value websockify@display2)
  same_process="test \"\$(systemctl show -p MainPID --value websockify@display2)\" = $pid2 \
    && test \"\$(readlink /proc/$pid2/exe)\" = /usr/bin/websockify \
    && test \"\$(/proc/$pid2/exe --version)\" = 'websockify ${NEXT_V%-*}'"
  python3 "$CLIENTS" --ws ws://127.0.0.1:6081/ --wss wss://127.0.0.1:6081/ --n 10 \
    --step "reload=printf 'heartbeat = 15\\n' >>/etc/websockify/display2.conf && systemctl reload websockify@display2" \
    --step "upgrade=apt-get install -y -q $NEXT_DEB >/tmp/next.log 2>&1 || { cat /tmp/next.log; false; }" \
    --closes wss:upgrade:1012 \
    --step "same-process=$same_process" \
    --step "stop=systemctl stop websockify@display2" --closes ws:stop:1001 \
    || { journalctl -u websockify@display2 --no-pager | tail -n 40; fail "live sessions across reload, upgrade and stop (above)"; }
  # The 10 streaming sessions, and any fresh one open at that moment.
  journal_has websockify@display2 'hand-over: [0-9]* sessions go on' \
    || { journalctl -u websockify@display2 --no-pager | tail -n 20; fail "no log line of the hand-over"; }
  moved=$(journalctl -u websockify@display2 --no-pager -o cat | sed -n 's/^hand-over: \([0-9]*\) sessions go on$/\1/p' | tail -n1)
  [ "${moved:-0}" -ge 10 ] || fail "the journal says $moved sessions went on after the hand-over, not the 10 streaming ones"
  ok "upgrade to $NEXT_V with websockify.target active: websockify@display2 kept PID $pid2 on the new binary; the journal says $moved sessions went on"
  pid=$(systemctl show -p MainPID --value websockify@display1)
  [ "$(readlink "/proc/$pid/exe")" = /usr/bin/websockify ] || fail "display1's MainPID $pid runs $(readlink "/proc/$pid/exe") after the hand-over"
  session alice:alice-s3cret | grep -q '^echo ok' || fail "no session with alice's password after the hand-over"
  ok "websockify@display1 handed over too (PID $pid, /usr/bin/websockify) and serves alice"
  systemctl stop websockify@display1
else
  websockify --config /etc/websockify/display1.conf --check || fail "the old conf checks with $new_v"
  ok "the conf written for $old_v checks with $new_v"
fi

# 0.1.0 removed Python's library; with the upgrade it may come back, beside us.
apt-get install -y -q python3-websockify >/tmp/lib.log 2>&1 || { cat /tmp/lib.log; fail "apt-get install python3-websockify after the upgrade"; }
[ "$(websockify --version)" = "websockify ${new_v%-*}" ] || fail "python3-websockify took /usr/bin/websockify: $(websockify --version)"
head -n1 /usr/bin/websockify.python3 | grep -q python3 || fail "Python's script is not at /usr/bin/websockify.python3"
python3 -c 'import websockify' || fail "python3 -c 'import websockify'"
ok "python3-websockify installable after the upgrade: its script at /usr/bin/websockify.python3, ours at /usr/bin/websockify"

apt-get purge -y -q "$PKG" >/tmp/purge.log 2>&1 || { cat /tmp/purge.log; fail "apt-get purge $PKG"; }
[ -z "$(dpkg-divert --list '*websockify*')" ] || fail "purge left a diversion: $(dpkg-divert --list '*websockify*')"
[ ! -e /usr/bin/websockify.python3 ] || fail "purge left /usr/bin/websockify.python3"
dpkg -S /usr/bin/websockify | grep -q '^python3-websockify: ' || fail "/usr/bin/websockify after purge: $(dpkg -S /usr/bin/websockify 2>&1)"
[ -f /etc/websockify/display1.conf ] && [ -f "$htpasswd" ] && [ -f /var/lib/websockify/acme/account/key.pem ] \
  || fail "purge removed the administrator's files"
ok "purge after the upgrade: no diversion, Python's /usr/bin/websockify back; the administrator's conf, htpasswd and ACME state stay"
