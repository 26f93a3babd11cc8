#!/usr/bin/env bash
# Built-in ACME under the real systemd, run by scripts/vm-test (HARNESS_MODE=vm)
# after `apt-get install ./websockify-rs_*.deb`: an instance with
# `acme-domain = ["vnc.example.test"]` behind websockify@acme1.socket on port
# 443 gets its certificate from Debian's pebble (the ACME test CA) running in
# the VM on loopback, with pebble-challtestsrv answering every name with
# 127.0.0.1, so that pebble's TLS-ALPN-01 validation (tlsPort 443) reaches the
# socket-activated listener. Then: curl trusting only pebble's root gets the
# noVNC page for the name, STATUS= shows the expiry, the state files are
# private to the service user, and a renewal (pebble issues 90 s certificates)
# keeps a wss session echoing while a new handshake sees the new serial.
# Last, with only the socket started, the first connection starts the service
# and its first order.
# Prints "ok - ..." per check and fails at the first broken one.
set -Eeuo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
[ "${HARNESS_MODE:-vm}" = vm ] || fail "needs systemd as PID 1 (scripts/vm-test), not $HARNESS_MODE"
NAME=vnc.example.test
UNIT=websockify@acme1
# pebble's certificates live this long; renewal comes 60 to 64.5 s after issue.
VALIDITY=90
# Under qemu TCG an order (key generation, validation, issue) takes seconds.
DEADLINE=180
for b in pebble pebble-challtestsrv curl openssl socat python3; do
  command -v "$b" >/dev/null || fail "$b is not in the VM's root (scripts/lib/debroot.sh DEBROOT_PACKAGES)"
done
ok "pebble $(dpkg-query -W -f='${Version}' pebble) in the VM"

# ------------------------------------------------------- pebble on loopback ---
# pebble's own HTTPS certificate for localhost, under a CA of its own; the CA
# is what the instance's `acme-ca` trusts, so it must be readable by the
# service user (the unit has PrivateTmp=: not under /tmp).
p=/etc/pebble-test
mkdir -p "$p"
pebble_certs() {
  cd "$p" \
  && openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 \
       -keyout ca.key -out ca.pem -subj /CN=pebble-test-ca \
  && openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
       -keyout pebble.key -out pebble.csr -subj /CN=localhost \
  && printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n' >leaf.ext \
  && openssl x509 -req -in pebble.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 2 \
       -extfile leaf.ext -out pebble.crt
}
(pebble_certs) >/tmp/openssl.log 2>&1 || { cat /tmp/openssl.log; fail "openssl: pebble's HTTPS certificate"; }
install -m 0644 "$p/ca.pem" /etc/websockify/pebble-ca.pem
cat >"$p/pebble.json" <<JSON
{"pebble": {
  "listenAddress": "127.0.0.1:14000",
  "managementListenAddress": "127.0.0.1:15000",
  "certificate": "$p/pebble.crt",
  "privateKey": "$p/pebble.key",
  "httpPort": 5002,
  "tlsPort": 443,
  "ocspResponderURL": "",
  "externalAccountBindingRequired": false,
  "certificateValidityPeriod": $VALIDITY
}}
JSON
# Every name is 127.0.0.1 (no AAAA), no challenge servers of its own.
systemd-run --quiet --unit=pebble-dns pebble-challtestsrv -defaultIPv4 127.0.0.1 -defaultIPv6= \
  -dns01 127.0.0.1:8053 -http01= -https01= -tlsalpn01= -management 127.0.0.1:8055
wait_port 8053 300 || { journalctl -u pebble-dns --no-pager; fail "pebble-challtestsrv did not listen on 8053"; }
# As tests/it/common/pebble.rs: no random validation delays, no rejected nonces,
# no authorization reuse (a renewal is validated anew).
systemd-run --quiet --unit=pebble -p WorkingDirectory="$p" \
  --setenv=PEBBLE_VA_NOSLEEP=1 --setenv=PEBBLE_WFE_NONCEREJECT=0 --setenv=PEBBLE_AUTHZREUSE=0 \
  pebble -config "$p/pebble.json" -dnsserver 127.0.0.1:8053
{ wait_port 14000 300 && wait_port 15000 300; } || { journalctl -u pebble --no-pager; fail "pebble did not listen on 14000/15000"; }
ok "pebble on 127.0.0.1:14000 (tlsPort 443, ${VALIDITY} s certificates), pebble-challtestsrv: every name is 127.0.0.1"
curl -sSf --cacert "$p/ca.pem" https://localhost:15000/roots/0 -o /tmp/pebble-root.pem \
  || fail "pebble's root from https://localhost:15000/roots/0"
openssl x509 -in /tmp/pebble-root.pem -noout >/dev/null || fail "pebble's /roots/0 is no PEM certificate"
ok "pebble's root: $(openssl x509 -in /tmp/pebble-root.pem -noout -subject)"

# ----------------------------------------------- the instance, on 443 -------
socat TCP-LISTEN:5901,bind=127.0.0.1,reuseaddr,fork EXEC:cat &
wait_port 5901 300 || fail "echo target did not start"
cat >/etc/websockify/acme1.conf <<CONF
listen = "127.0.0.1:443"
target = "127.0.0.1:5901"
web = "/usr/share/novnc"
acme-domain = ["$NAME"]
acme-email = "admin@example.test"
acme-directory = "https://localhost:14000/dir"
acme-ca = "/etc/websockify/pebble-ca.pem"
CONF
websockify --config /etc/websockify/acme1.conf --check || fail "the conf checks"
systemctl daemon-reload
systemctl cat "$UNIT.socket" | grep -x 'ListenStream=127.0.0.1:443' >/dev/null \
  || fail "generator drop-in: ListenStream=127.0.0.1:443: $(systemctl cat "$UNIT.socket")"
ok "generator drop-in: $UNIT.socket ListenStream=127.0.0.1:443"
t0=$SECONDS
systemctl start "$UNIT.socket"
systemctl start "$UNIT.service"
systemctl is-active --quiet "$UNIT.service" || { journalctl -u "$UNIT" --no-pager; fail "$UNIT not active"; }
journal_has "$UNIT" 'passed in by systemd' || fail "the daemon did not use the socket unit's listener"
ok "systemctl start $UNIT.socket $UNIT.service: active on the passed socket"

# What a browser sees: the noVNC page for the name, trusting only pebble's root.
page() {
  curl -sS --max-time 10 --cacert /tmp/pebble-root.pem --resolve "$NAME:443:127.0.0.1" \
    -o /dev/null -w '%{http_code}' "https://$NAME/vnc.html"
}
code="" last=""
until code=$(page 2>/tmp/curl.err); do
  last=$(head -n1 /tmp/curl.err)
  [ $((SECONDS - t0)) -lt $DEADLINE ] || { journalctl -u "$UNIT" -u pebble --no-pager | tail -n 40;
    fail "no certificate trusted by pebble's root within ${DEADLINE}s (curl: $last)"; }
  sleep 1
done
[ "$code" = 200 ] || fail "https://$NAME/vnc.html: HTTP $code"
ok "curl --cacert <pebble root> https://$NAME/vnc.html: verified, HTTP 200, $((SECONDS - t0)) s after the start (before: $last)"
line=$(journalctl -u "$UNIT" --no-pager -o cat | grep "ACME: new certificate for $NAME" | head -n1)
[ -n "$line" ] || fail "no 'ACME: new certificate for $NAME' in the journal"
ok "journal: $line"
status=""
for _ in $(seq 1 50); do
  status=$(systemctl show -p StatusText --value "$UNIT")
  case $status in *"ACME certificate until "*) break ;; esac
  sleep 0.2
done
case $status in *"ACME certificate until "*) ;; *) fail "StatusText has no ACME expiry: $status" ;; esac
ok "StatusText: $status"
st=/var/lib/websockify/acme1/acme
[ "$(stat -c '%a %U' "$st")" = "700 websockify" ] || fail "$st is $(stat -c '%a %U' "$st")"
files=$(find "$st" -type f | sort)
for f in account.json cert.pem key.pem; do echo "$files" | grep -qx "$st/$f" || fail "no $st/$f: $files"; done
for f in $files; do
  [ "$(stat -c '%a %U' "$f")" = "600 websockify" ] || fail "$f is $(stat -c '%a %U' "$f")"
done
ok "$st: 0700, and $(echo "$files" | xargs -n1 basename | xargs) each 0600, owned by websockify"

# ---------------------------------------------------------------- renewal ---
# A wss session opened on the first certificate echoes every second while new
# handshakes are made until one sees another serial; the old session then
# still echoes, byte-exact.
cat >/tmp/renew.py <<'PY'
import base64, os, socket, ssl, struct, sys, time
name, root, deadline = sys.argv[1], sys.argv[2], time.time() + float(sys.argv[3])
ctx = ssl.create_default_context(cafile=root)
def tls():
    return ctx.wrap_socket(socket.create_connection(("127.0.0.1", 443), timeout=20), server_hostname=name)
def serial(s):
    return s.getpeercert()["serialNumber"]
s = tls()
first = serial(s)
s.sendall((f"GET /websockify HTTP/1.1\r\nHost: {name}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
           f"Sec-WebSocket-Key: {base64.b64encode(os.urandom(16)).decode()}\r\nSec-WebSocket-Version: 13\r\n\r\n").encode())
head = b""
while b"\r\n\r\n" not in head:
    c = s.recv(1)
    if not c: sys.exit("closed during the handshake: %r" % head)
    head += c
if not head.startswith(b"HTTP/1.1 101"): sys.exit("no upgrade: %r" % head)
def recv(n):
    b = b""
    while len(b) < n:
        c = s.recv(n - len(b))
        if not c: raise SystemExit("the session was closed")
        b += c
    return b
def echo(data):
    mask = os.urandom(4)
    s.sendall(struct.pack("!BB", 0x82, 0x80 | len(data)) + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(data)))
    got = b""
    while len(got) < len(data):
        h = recv(2)
        body = recv(h[1] & 0x7f)
        if h[0] & 0x0f == 0x2: got += body
    if got != data: raise SystemExit(f"echo {got!r} != {data!r}")
n = 0
while True:
    n += 1
    echo(b"before the renewal %d" % n)
    new = serial(tls())
    if new != first: break
    if time.time() > deadline: sys.exit(f"no new serial within {sys.argv[3]} s (still {first}, {n} echoes)")
    time.sleep(1)
echo(b"after the renewal, on the old session")
print(f"serial {first} -> {new}; the session echoed {n + 1} times, byte-exact, across the renewal")
PY
out=$(python3 /tmp/renew.py "$NAME" /tmp/pebble-root.pem $((VALIDITY + 60))) \
  || { echo "$out"; journalctl -u "$UNIT" --no-pager | tail -n 30; fail "renewal under a live session"; }
ok "renewal: $out"
n=$(journalctl -u "$UNIT" --no-pager -o cat | grep -c "ACME: new certificate for $NAME")
[ "$n" -ge 2 ] || fail "the journal shows $n new certificates, not 2"
ok "journal: $n certificates issued; page still verified: HTTP $(page)"

# The socket alone, as after a reboot with only websockify@acme1.socket
# enabled: the first connection starts the service, which answers it with the
# temporary certificate and starts the first order. The state goes first, so
# that no kept certificate answers.
systemctl stop "$UNIT.socket" "$UNIT.service"
rm -rf /var/lib/websockify/acme1/acme
systemctl start "$UNIT.socket"
! systemctl is-active --quiet "$UNIT.service" || fail "$UNIT.service runs before any connection"
t0=$SECONDS
first=$(curl -sS --max-time 30 --insecure --resolve "$NAME:443:127.0.0.1" \
  -o /dev/null -w '%{http_code}' "https://$NAME/vnc.html") || fail "the first connection to the socket got no answer"
[ "$first" = 200 ] || fail "first connection: HTTP $first"
systemctl is-active --quiet "$UNIT.service" || fail "the first connection did not start $UNIT.service"
until code=$(page 2>/tmp/curl.err); do
  [ $((SECONDS - t0)) -lt $DEADLINE ] || { journalctl -u "$UNIT" --no-pager | tail -n 30;
    fail "socket only: no certificate trusted by pebble's root within ${DEADLINE}s (curl: $(head -n1 /tmp/curl.err))"; }
  sleep 1
done
ok "socket only: the first connection (HTTP $first, temporary certificate) started $UNIT.service; verified by pebble's root $((SECONDS - t0)) s later"
systemctl stop "$UNIT.socket" "$UNIT.service"
