#!/usr/bin/env bash
# The websockify-rs package on a clean Debian 12 or 13, run by scripts/chroot-test
# (HARNESS_MODE=chroot: no systemd) and scripts/vm-test (HARNESS_MODE=vm: the
# real systemd as PID 1) after `apt-get install ./websockify-rs_*.deb`.
# Prints "ok - ..." per check and fails at the first broken one.
set -Eeuo pipefail
MODE=${HARNESS_MODE:-vm}
PKG=${HARNESS_PKG:-websockify-rs}
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

# A WebSocket client from Python's standard library (the root has no pip):
# connect, upgrade, send one masked binary frame, read the echo.
cat > /tmp/wsclient.py <<'PY'
import base64, os, socket, ssl, struct, sys, subprocess
def ws(url, payload, reload_unit=None):
    scheme, rest = url.split("://", 1)
    hostport, path = (rest.split("/", 1) + [""])[:2]
    host, port = hostport.rsplit(":", 1)
    s = socket.create_connection((host, int(port)), timeout=20)
    if scheme == "wss":
        ctx = ssl.create_default_context(cafile="/etc/websockify/ssl/websockify.crt")
        ctx.check_hostname = False
        s = ctx.wrap_socket(s, server_hostname=host)
    key = base64.b64encode(os.urandom(16)).decode()
    auth = os.environ.get("WS_AUTH")
    auth = f"Authorization: Basic {base64.b64encode(auth.encode()).decode()}\r\n" if auth else ""
    s.sendall((f"GET /{path} HTTP/1.1\r\nHost: {hostport}\r\nUpgrade: websocket\r\n{auth}"
               f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n").encode())
    head = b""
    while b"\r\n\r\n" not in head:
        chunk = s.recv(1)
        if not chunk: raise SystemExit("closed during handshake: %r" % head)
        head += chunk
    if not head.startswith(b"HTTP/1.1 101"): raise SystemExit("no upgrade: %r" % head)
    def echo(data):
        mask = os.urandom(4)
        s.sendall(struct.pack("!BB", 0x82, 0x80 | len(data)) + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(data)))
        got = b""
        while len(got) < len(data):
            h = s.recv(2)
            op, n = h[0] & 0x0f, h[1] & 0x7f
            if n == 126: n = struct.unpack("!H", s.recv(2))[0]
            body = b""
            while len(body) < n: body += s.recv(n - len(body))
            if op == 0x2: got += body
        assert got == data, (got, data)
    echo(payload)
    if reload_unit and reload_unit.startswith("cmd:"):
        # Any admin command while the session is open; it must go on after.
        subprocess.run(reload_unit[4:], shell=True, check=True)
        echo(payload + b" after the command")
    elif reload_unit:
        subprocess.run(["systemctl", "reload", reload_unit], check=True)
        echo(payload + b" after reload")
    s.close()
url, payload = sys.argv[1], sys.argv[2].encode()
ws(url, payload, sys.argv[3] if len(sys.argv) > 3 else None)
print("echo ok:", url)
PY

# ------------------------------------------------ OpenID Connect login ---
# oidc_check START: a static OpenID provider on loopback (its discovery
# document and one RSA key; nobody logs in here, tests/it/oidc.rs runs the
# whole flow against a real provider), an instance pointed at it with
# `websockifyctl add --oidc-issuer`, started by START ("systemd": add does it;
# "direct": websockify --config, as root), and a page request that must go to
# the provider's authorization endpoint with the client id, PKCE (S256),
# state and nonce. Removes the instance and stops the provider after.
oidc_check() {
  local idp=8444 port=6090 secret=/etc/websockify/oidcdesk.secret ws_pid="" no_systemd=()
  openssl genrsa 2048 2>/dev/null | openssl rsa -noout -modulus > /tmp/idp-modulus \
    || fail "openssl made no RSA key for the test provider"
  cat > /tmp/idp.py <<'PY'
import base64, json, sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
port, modulus = int(sys.argv[1]), open(sys.argv[2]).read().strip().split("=", 1)[1]
b64 = lambda b: base64.urlsafe_b64encode(b).rstrip(b"=").decode()
base = f"http://127.0.0.1:{port}"
docs = {
    "/.well-known/openid-configuration": {
        "issuer": base,
        "authorization_endpoint": base + "/auth",
        "token_endpoint": base + "/token",
        "jwks_uri": base + "/jwks",
        "response_types_supported": ["code"],
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": ["RS256"],
        "scopes_supported": ["openid", "profile"],
        "code_challenge_methods_supported": ["S256"],
    },
    "/jwks": {"keys": [{"kty": "RSA", "use": "sig", "alg": "RS256", "kid": "k1",
                        "n": b64(bytes.fromhex(modulus)), "e": "AQAB"}]},
}
class Handler(BaseHTTPRequestHandler):
    def do_GET(self):
        doc = docs.get(self.path)
        body = json.dumps(doc).encode() if doc else b"not found"
        self.send_response(200 if doc else 404)
        self.send_header("Content-Type", "application/json" if doc else "text/plain")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
ThreadingHTTPServer(("127.0.0.1", port), Handler).serve_forever()
PY
  python3 /tmp/idp.py "$idp" /tmp/idp-modulus 2>/tmp/idp.log &
  local idp_pid=$!
  wait_port "$idp" || { cat /tmp/idp.log; fail "the test OpenID provider did not start"; }
  printf 'client-s3cret\n' > "$secret"
  chown root:websockify "$secret"
  chmod 640 "$secret"
  [ "$1" = systemd ] || no_systemd=(--no-systemd)
  websockifyctl "${no_systemd[@]}" add oidcdesk --target 127.0.0.1:5901 --listen "127.0.0.1:$port" \
    --oidc-issuer "http://127.0.0.1:$idp" --oidc-client-id websockify \
    --oidc-client-secret-file "$secret" > /tmp/oidc-add.txt 2>&1 \
    || { cat /tmp/oidc-add.txt; fail "websockifyctl add oidcdesk --oidc-issuer"; }
  cat /tmp/oidc-add.txt
  grep -q "no access control" /tmp/oidc-add.txt && fail "websockifyctl add warned that an OIDC instance has no access control"
  for line in "oidc-issuer = \"http://127.0.0.1:$idp\"" 'oidc-client-id = "websockify"' \
              "oidc-client-secret-file = \"$secret\""; do
    grep -qxF "$line" /etc/websockify/oidcdesk.conf || fail "oidcdesk.conf has no line: $line"
  done
  if [ "$1" = systemd ]; then
    systemctl is-active --quiet websockify@oidcdesk || fail "websockify@oidcdesk active after add"
  else
    websockify --config /etc/websockify/oidcdesk.conf 2>/tmp/oidcdesk.log &
    ws_pid=$!
    wait_port "$port" || { cat /tmp/oidcdesk.log; fail "websockify --config oidcdesk.conf did not start"; }
  fi
  ok "websockifyctl add oidcdesk --oidc-issuer http://127.0.0.1:$idp: the oidc-* keys written, instance started ($1)"
  websockifyctl "${no_systemd[@]}" status oidcdesk > /tmp/oidc-status.txt 2>&1 || true
  grep -qF "oidc: http://127.0.0.1:$idp  [discovery answers, 1 keys]" /tmp/oidc-status.txt \
    || { cat /tmp/oidc-status.txt; fail "websockifyctl status oidcdesk does not say the issuer's discovery answers"; }
  ok "websockifyctl status oidcdesk: the issuer's discovery document and key answer"
  cat > /tmp/oidc-page.py <<'PY'
import http.client, ssl, sys, urllib.parse
page, auth = urllib.parse.urlsplit(sys.argv[1]), sys.argv[2]
ctx = ssl.create_default_context(cafile="/etc/websockify/ssl/websockify.crt")
ctx.check_hostname = False
c = http.client.HTTPSConnection(page.hostname, page.port, context=ctx, timeout=20)
c.request("GET", page.path)  # http.client follows no redirect
r = c.getresponse()
loc, cookies = r.getheader("Location", ""), r.getheader("Set-Cookie", "")
print(r.status, loc)
assert r.status == 302, f"status {r.status}, not 302"
assert loc.startswith(auth + "?"), f"Location {loc!r} is not the authorization endpoint {auth}"
q = urllib.parse.parse_qs(urllib.parse.urlsplit(loc).query)
one = lambda k: (q.get(k) or [""])[0]
assert one("client_id") == "websockify", f"client_id {q.get('client_id')}"
assert one("response_type") == "code", f"response_type {q.get('response_type')}"
assert one("code_challenge_method") == "S256", f"code_challenge_method {q.get('code_challenge_method')}"
for k in ("code_challenge", "state", "nonce"):
    assert len(one(k)) >= 32, f"no {k} in {loc}"
assert "openid" in one("scope").split(), f"scope {q.get('scope')}"
assert one("redirect_uri") == f"https://{page.netloc}/oidc/callback", f"redirect_uri {q.get('redirect_uri')}"
assert f"websockify_oidc_state={one('state')};" in cookies, f"no state cookie for this state: {cookies!r}"
PY
  if ! python3 /tmp/oidc-page.py "https://127.0.0.1:$port/vnc.html" "http://127.0.0.1:$idp/auth"; then
    if [ "$1" = systemd ]; then journalctl -u websockify@oidcdesk --no-pager | tail -n 20; else cat /tmp/oidcdesk.log; fi
    fail "a page request without a login is not sent to the provider"
  fi
  ok "a page request without a login: 302 to the provider's authorization endpoint with client_id, S256 PKCE, state (also this browser's cookie) and nonce"
  if [ "$1" = systemd ]; then
    websockifyctl remove oidcdesk || fail "websockifyctl remove oidcdesk"
    if systemctl is-active --quiet websockify@oidcdesk; then fail "websockify@oidcdesk still active after remove"; fi
  else
    kill "$ws_pid"
    wait "$ws_pid" || true
    rm /etc/websockify/oidcdesk.conf
  fi
  kill "$idp_pid"
  wait "$idp_pid" || true
  rm "$secret"
  ok "oidcdesk removed, the test provider stopped"
}

# ----------------------------------------------------------------- common ---
[ "$(dpkg-query -W -f='${Status}' "$PKG")" = "install ok installed" ] || fail "$PKG not installed"
websockify --version | grep '^websockify ' >/dev/null || fail "websockify --version: $(websockify --version)"
ok "websockify --version: $(websockify --version)"
websockify --help | grep -- '--config' >/dev/null || fail "/usr/bin/websockify is websockify-rs (has --config)"
ok "/usr/bin/websockify is websockify-rs (has --config)"
dpkg-query -W -f='${Status}' novnc | grep 'install ok installed' >/dev/null || fail "novnc installed (its websockify dependency is met by $PKG)"
ok "novnc installed (its websockify dependency is met by $PKG)"
# noVNC pulled Python's websockify into the root: its library stays (only the
# websockify binary package goes), its script is diverted aside.
dpkg-query -W -f='${Status}' python3-websockify | grep 'install ok installed' >/dev/null \
  || fail "python3-websockify was removed"
if dpkg-query -W -f='${Status}' websockify 2>/dev/null | grep 'install ok installed' >/dev/null; then
  fail "the websockify binary package is still installed"
fi
dpkg-divert --list /usr/bin/websockify | grep -F "to /usr/bin/websockify.python3 by $PKG" >/dev/null \
  || fail "/usr/bin/websockify not diverted: $(dpkg-divert --list '*websockify*')"
ok "python3-websockify kept (its script diverted to /usr/bin/websockify.python3), the websockify package replaced"
crt=/etc/websockify/ssl/websockify.crt key=/etc/websockify/ssl/websockify.key
[ -f "$crt" ] && [ -f "$key" ] || fail "no generated certificate"
[ "$(stat -c '%U:%G %a' "$key")" = "root:websockify 640" ] || fail "key is $(stat -c '%U:%G %a' "$key")"
ok "certificate generated; key root:websockify 0640"
sans=$(openssl x509 -in "$crt" -noout -ext subjectAltName)
echo "$sans" | grep "DNS:$(hostname)" >/dev/null || fail "hostname $(hostname) not in SANs: $sans"
ok "SANs: $(echo "$sans" | tail -n1 | xargs)"
[ -z "$(ls /etc/websockify/*.conf 2>/dev/null)" ] || fail "a live conf was shipped in /etc/websockify"
ok "no live conf shipped; examples in /usr/share/doc/$PKG/examples: $(ls /usr/share/doc/"$PKG"/examples | xargs)"
man -w websockify >/dev/null 2>&1 || [ -f /usr/share/man/man1/websockify.1.gz ] || fail "no websockify(1)"
[ -f /usr/share/man/man5/websockify.conf.5.gz ] || fail "no websockify.conf(5)"
ok "man pages installed"

socat TCP-LISTEN:5901,bind=127.0.0.1,reuseaddr,fork EXEC:cat &
wait_port 5901 || fail "echo target did not start"

if [ "$MODE" = chroot ]; then
  sum=$(sha256sum "$crt" "$key")
  websockify --cert "$crt" --key "$key" 127.0.0.1:6080 127.0.0.1:5901 2>/tmp/ws.log &
  wait_port 6080 || { cat /tmp/ws.log; fail "proxy did not start"; }
  python3 /tmp/wsclient.py ws://127.0.0.1:6080/websockify hello || fail "ws:// session through the proxy"
  ok "ws:// session through the proxy"
  python3 /tmp/wsclient.py wss://127.0.0.1:6080/websockify hello || fail "wss:// session with the generated certificate"
  ok "wss:// session with the generated certificate"
  kill %2 || true
  oidc_check direct
  apt-get install -y --reinstall "${HARNESS_DEB:?}" >/dev/null
  [ "$(sha256sum "$crt" "$key")" = "$sum" ] || fail "reinstall keeps the certificate"
  ok "reinstall keeps the certificate"
  files=$(dpkg -L "$PKG" | grep -v '^/\.$')
  printf 'listen = "6080"\ntarget = "localhost:5901"\n' > /etc/websockify/display9.conf
  apt-get remove -y "$PKG" >/dev/null
  [ -f "$crt" ] && [ -f "$key" ] && [ -f /etc/websockify/display9.conf ] || fail "remove kept the certificate and confs"
  head -n1 /usr/bin/websockify | grep python3 >/dev/null || fail "remove did not bring Python's /usr/bin/websockify back"
  [ -z "$(dpkg-divert --list '*websockify*')" ] || fail "remove left the diversion"
  ok "remove keeps the certificate and the admin's conf; Python's /usr/bin/websockify is back"
  apt-get purge -y "$PKG" >/dev/null
  left=$(for f in $files; do [ -f "$f" ] && ! dpkg -S "$f" >/dev/null 2>&1 && echo "$f"; done || true)
  [ -z "$left" ] || fail "purge left: $left"
  [ ! -e /etc/websockify/ssl ] || fail "purge left /etc/websockify/ssl"
  [ -f /etc/websockify/display9.conf ] || fail "purge removed the admin's conf"
  ok "purge removes every file of the package and the generated certificate, not the admin's conf"
  exit 0
fi

# --------------------------------------------------------- real systemd ---
cat > /etc/websockify/display1.conf <<CONF
listen = "127.0.0.1:6080"
target = "127.0.0.1:5901"
cert = "$crt"
key = "$key"
heartbeat = 20
CONF
websockify --config /etc/websockify/display1.conf --check || fail "conf checks"
ok "conf checks"
# Only where the unit's StateDirectory= and LogsDirectory= let it write (added
# after --check: run as root before the unit made the folder, it would fail).
printf 'record = "/var/lib/websockify/display1/session"\nlog-file = "/var/log/websockify/display1.log"\n' >> /etc/websockify/display1.conf
systemctl daemon-reload
systemctl enable --now websockify@display1
systemctl is-active --quiet websockify@display1 || { journalctl -u websockify@display1 --no-pager; fail "not active"; }
ok "systemctl enable --now websockify@display1: $(systemctl show -p User --value websockify@display1) user, status '$(systemctl show -p StatusText --value websockify@display1)'"
# systemd (252 on Debian 12, 257 on 13) took every directive of the shipped
# units and the generator's drop-ins without a complaint.
warn=$(journalctl -b --no-pager -o cat _PID=1 | grep -E 'websockify' \
  | grep -iE 'unknown|ignoring|deprecated|obsolete|not supported|invalid' || true)
[ -z "$warn" ] || fail "systemd $(systemctl --version | awk 'NR==1 {print $2}') warns about our units: $warn"
ok "systemd $(systemctl --version | awk 'NR==1 {print $2}') logged no warning about the units"
python3 /tmp/wsclient.py ws://127.0.0.1:6080/websockify "plain" || fail "ws:// session"
ok "ws:// session"
python3 /tmp/wsclient.py wss://127.0.0.1:6080/websockify "tls" || fail "wss:// session with the generated certificate"
ok "wss:// session with the generated certificate"
python3 /tmp/wsclient.py ws://127.0.0.1:6080/websockify "reload" websockify@display1.service || fail "session survives systemctl reload"
ok "session survives systemctl reload"
systemctl is-active --quiet websockify@display1 || fail "still active after reload"
ok "still active after reload"
# A conf the instance refuses: systemctl reload fails (ExecReload= waits for
# the outcome) and says why, the live session goes on, the old target stays.
cp /etc/websockify/display1.conf /tmp/display1.conf.good
sed -i 's|^target = .*|target = "127.0.0.1:notaport"|' /etc/websockify/display1.conf
python3 /tmp/wsclient.py ws://127.0.0.1:6080/websockify "refused" \
  "cmd:! systemctl reload websockify@display1 2>/tmp/reload.err" \
  || fail "systemctl reload of a broken conf did not fail, or the session broke: $(cat /tmp/reload.err)"
cat /tmp/reload.err
grep -q 'failed' /tmp/reload.err || fail "systemctl reload printed no failure: $(cat /tmp/reload.err)"
reason=""
for _ in $(seq 1 50); do
  reason=$(journalctl -u websockify@display1 --no-pager -o cat \
    | grep 'display1: reload failed.*display1.conf:2.*notaport' || true)
  [ -n "$reason" ] && break
  sleep 0.2
done
[ -n "$reason" ] || { journalctl -u websockify@display1 --no-pager | tail -n 20; fail "journalctl -u websockify@display1 has no reason for the refused reload"; }
echo "$reason"
systemctl show -p StatusText --value websockify@display1 | grep -q 'reload failed.*notaport' \
  || fail "status line after the refused reload: $(systemctl show -p StatusText --value websockify@display1)"
systemctl is-active --quiet websockify@display1 || fail "still active after the refused reload"
python3 /tmp/wsclient.py ws://127.0.0.1:6080/websockify "old target" || fail "a new session after the refused reload (old target)"
ok "systemctl reload of a broken conf fails with the reason in the journal and StatusText; sessions and the old target stay"
cp /tmp/display1.conf.good /etc/websockify/display1.conf
systemctl reload websockify@display1 || fail "systemctl reload after the conf was fixed"
if systemctl show -p StatusText --value websockify@display1 | grep -q 'reload failed'; then
  fail "status line still says the reload failed: $(systemctl show -p StatusText --value websockify@display1)"
fi
python3 /tmp/wsclient.py ws://127.0.0.1:6080/websockify "fixed" || fail "a session after the fixed reload"
ok "the fixed conf reloads"
journalctl -u websockify@display1 -o verbose --no-pager > /tmp/journal.txt
for field in INSTANCE=display1 CLIENT=127.0.0.1 TARGET_ADDR=127.0.0.1:5901 CLOSE_CODE= BYTES_TO_CLIENT= DURATION_S=; do
  grep -q "$field" /tmp/journal.txt || fail "journal has no $field"
done
ok "journal entries carry INSTANCE, CLIENT, TARGET_ADDR, BYTES_TO_CLIENT, DURATION_S, CLOSE_CODE"
rec=/var/lib/websockify/display1/session.1
[ -f "$rec" ] && head -n1 "$rec" | grep -qxF 'var VNC_frame_data = [' && tail -n1 "$rec" | grep -qxF "'EOF'];" \
  || fail "a complete recording at $rec"
[ "$(stat -c '%a %U' "$rec")" = "600 websockify" ] || fail "recording not private: $(stat -c '%a %U' "$rec")"
grep -q "session closed" /var/log/websockify/display1.log || fail "log-file under /var/log/websockify"
ok "record and log-file write under /var/lib/websockify/display1 and /var/log/websockify"
# The installed, running unit's exposure, as tests/it/systemd.rs checks the
# shipped files offline: at most 1.5 ("OK"), or the test fails.
exposure=$(systemd-analyze security websockify@display1.service --no-pager | tail -n1)
echo "$exposure"
level=$(printf '%s\n' "$exposure" | sed -n 's/.*Overall exposure level for [^:]*: \([0-9.]*\).*/\1/p')
[ -n "$level" ] || fail "systemd-analyze security printed no exposure level: $exposure"
awk -v l="$level" 'BEGIN { exit !(l <= 1.5) }' || fail "systemd-analyze security: exposure $level > 1.5"
ok "systemd-analyze security: exposure $level <= 1.5"
systemctl stop websockify@display1
if systemctl is-active --quiet websockify@display1; then fail "still active after stop"; fi
ok "systemctl stop"

# Socket activation: the generator gave websockify@display1.socket the conf's address.
systemctl cat websockify@display1.socket | grep 'ListenStream=127.0.0.1:6080' >/dev/null || fail "generator drop-in: ListenStream=127.0.0.1:6080"
ok "generator drop-in: ListenStream=127.0.0.1:6080"
systemctl start websockify@display1.socket
if systemctl is-active --quiet websockify@display1.service; then fail "service running before any connection"; fi
ok "service not running before the first connection"
python3 /tmp/wsclient.py ws://127.0.0.1:6080/websockify "activated" || fail "first connection served through socket activation"
ok "first connection served through socket activation"
systemctl is-active --quiet websockify@display1.service || fail "service started by the socket"
ok "service started by the socket"
journal_has websockify@display1 'passed in by systemd' || fail "daemon used the passed socket"
ok "daemon used the passed socket"
systemctl stop websockify@display1.socket websockify@display1.service

# -------------------------------------------- websockifyctl, as an admin ---
# From the installed package to a desktop behind a password in one command.
echo 'alice-s3cret' | websockifyctl add desk --target localhost:5901 --user alice --stdin > /tmp/add.txt \
  || { cat /tmp/add.txt; journalctl -u websockify@desk --no-pager | tail -n 20; fail "websockifyctl add desk --user alice"; }
cat /tmp/add.txt
port=$(sed -n 's|.*https://[^ ]*:\([0-9][0-9]*\)/vnc.html.*|\1|p' /tmp/add.txt | head -n1)
[ -n "$port" ] || fail "websockifyctl add printed no https:// URL"
grep -qi 'sha-\?256' /tmp/add.txt || fail "websockifyctl add printed no certificate fingerprint"
systemctl is-active --quiet websockify@desk || fail "websockify@desk active after add"
ok "websockifyctl add desk --target localhost:5901 --user alice: active, https on port $port"
status() { python3 - "$1" "${2:-}" <<'PY'
import base64, ssl, sys, urllib.request
req = urllib.request.Request(sys.argv[1])
if sys.argv[2]:
    req.add_header("Authorization", "Basic " + base64.b64encode(sys.argv[2].encode()).decode())
ctx = ssl.create_default_context(cafile="/etc/websockify/ssl/websockify.crt")
ctx.check_hostname = False
try:
    print(urllib.request.urlopen(req, context=ctx, timeout=10).status)
except urllib.error.HTTPError as e:
    print(e.code)
PY
}
[ "$(status "https://127.0.0.1:$port/vnc.html")" = 401 ] || fail "noVNC page without the password is not 401"
[ "$(status "https://127.0.0.1:$port/vnc.html" alice:alice-s3cret)" = 200 ] || fail "noVNC page with alice's password is not 200"
ok "https page: 401 without the password, 200 with alice's"
WS_AUTH=alice:wrong python3 /tmp/wsclient.py "wss://127.0.0.1:$port/websockify" x 2>/dev/null && fail "a wrong password opened a session"
ok "a wrong password opens no session"
WS_AUTH=alice:alice-s3cret python3 /tmp/wsclient.py "wss://127.0.0.1:$port/websockify" "desk" \
  "cmd:websockifyctl sessions desk | grep 127.0.0.1 && websockifyctl cert renew" \
  || fail "session with alice's password, listed by websockifyctl sessions, alive across cert renew"
ok "wss session with alice's password; websockifyctl sessions lists it; it survives websockifyctl cert renew"
# The journal names the user: `journalctl USER=alice` answers when alice was
# connected (journald may take a moment to have the closed line).
has_alice_session() { grep -q 'session open.*user "alice"' <<<"$1" && grep -q 'session closed.*user "alice"' <<<"$1"; }
seen=""
for _ in $(seq 1 50); do
  seen=$(journalctl -u websockify@desk USER=alice --no-pager -o cat || true)
  has_alice_session "$seen" && break
  sleep 0.2
done
has_alice_session "$seen" || { journalctl -u websockify@desk -o verbose --no-pager | tail -n 60
  fail "journalctl -u websockify@desk USER=alice has no open and closed lines of alice's session: $seen"; }
printf '%s\n' "$seen"
ok "journalctl -u websockify@desk USER=alice: alice's session, open and closed"
websockifyctl status desk || fail "websockifyctl status desk"
ok "websockifyctl status desk"
# websockifyctl's own reloads (cert renew here) report a refused conf with
# the instance's reason, not "reloaded".
cp /etc/websockify/desk.conf /tmp/desk.conf.good
sed -i 's|^target = .*|target = "localhost:notaport"|' /etc/websockify/desk.conf
if websockifyctl cert renew >/tmp/renew.out 2>/tmp/renew.err; then
  fail "cert renew succeeded while desk refused its conf: $(cat /tmp/renew.out /tmp/renew.err)"
fi
cat /tmp/renew.out /tmp/renew.err
grep -q 'reloaded websockify@desk' /tmp/renew.out && fail "cert renew said it reloaded desk"
grep -q 'websockify@desk.*notaport' /tmp/renew.err || fail "cert renew did not give desk's reason"
cp /tmp/desk.conf.good /etc/websockify/desk.conf
websockifyctl cert renew >/tmp/renew.out || fail "cert renew with desk's conf fixed"
grep -q 'reloaded websockify@desk' /tmp/renew.out || fail "cert renew did not reload desk: $(cat /tmp/renew.out)"
ok "websockifyctl cert renew reports desk's refused reload with the reason, then reloads it once fixed"
websockifyctl remove desk || fail "websockifyctl remove desk"
if systemctl is-active --quiet websockify@desk; then fail "websockify@desk still active after remove"; fi
ls /etc/websockify/desk.conf.removed-* >/dev/null || fail "remove did not move the conf aside"
ok "websockifyctl remove desk: stopped, conf moved aside"
oidc_check systemd

files=$(dpkg -L "$PKG" | grep -v '^/\.$')
apt-get purge -y "$PKG" >/dev/null
left=$(for f in $files; do [ -f "$f" ] && ! dpkg -S "$f" >/dev/null 2>&1 && echo "$f"; done || true)
[ -z "$left" ] || fail "purge left: $left"
[ ! -e /etc/websockify/ssl ] || fail "purge left /etc/websockify/ssl"
ok "purge removes the package's files and the generated certificate (the admin's display1.conf stays)"
