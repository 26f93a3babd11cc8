"""Plain HTTP on the WebSocket port: 405 without --web, a safe static server with it."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from support import STEP_TIMEOUT, TcpTarget, echo, free_port, http_get, within, ws_connect

SECRET = b"TOP-SECRET: this file lives outside the web root"
PASSWD_MARKER = b"root:x:0:0"

#: What a safe server may answer for a path it must not serve.
REFUSED = {400, 403, 404}

FILES = {
    "index.html": (b"<!doctype html><title>index</title>", "text/html"),
    "vnc.html": (b"<!doctype html><title>noVNC</title>", "text/html"),
    "app.js": (b"console.log('hi');", ("text/javascript", "application/javascript")),
    "style.css": (b"body { color: black }", "text/css"),
    "logo.png": (b"\x89PNG\r\n\x1a\n" + bytes(64), "image/png"),
    "icon.svg": (b"<svg xmlns='http://www.w3.org/2000/svg'/>", "image/svg+xml"),
    "defaults.json": (b'{"autoconnect": false}', "application/json"),
}


@dataclass
class Site:
    web: Path  # index.html and friends, plus traps
    novnc: Path  # like /usr/share/novnc: vnc.html but no index.html
    bare: Path  # neither index.html nor vnc.html


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Site:
    root = tmp_path_factory.mktemp("site")
    outside = root / "outside"
    outside.mkdir()
    (outside / "secret.txt").write_bytes(SECRET)

    web = root / "web"
    web.mkdir()
    for name, (content, _) in FILES.items():
        (web / name).write_bytes(content)
    (web / "subdir").mkdir()
    (web / "subdir" / "listed-file-name.txt").write_bytes(b"inside")
    (web / "example.com").mkdir()
    (web / "example.com" / "listed-file-name.txt").write_bytes(b"inside")
    os.symlink(outside / "secret.txt", web / "link-to-secret.txt")
    os.symlink(outside, web / "link-to-outside")
    os.symlink("../outside/secret.txt", web / "relative-link.txt")

    novnc = root / "novnc"
    novnc.mkdir()
    (novnc / "vnc.html").write_bytes(FILES["vnc.html"][0])
    (novnc / "app").mkdir()
    (novnc / "app" / "ui.js").write_bytes(FILES["app.js"][0])

    bare = root / "bare"
    bare.mkdir()
    (bare / "listed-file-name.txt").write_bytes(b"inside")
    return Site(web, novnc, bare)


@pytest.fixture(scope="module")
def web(module_websockify, site):
    return module_websockify(f"127.0.0.1:{free_port()}", "--web", str(site.web))


def assert_not_served(proxy, path: str) -> None:
    response = http_get(proxy.host, proxy.port, path)
    assert SECRET not in response.body and PASSWD_MARKER not in response.body, (
        f"GET {path} leaked a file from outside the web root"
    )
    assert response.status in REFUSED, f"GET {path}: expected one of {REFUSED}, got {response.status}"


def assert_no_listing(proxy, path: str) -> None:
    response = http_get(proxy.host, proxy.port, path)
    assert b"listed-file-name" not in response.body, f"GET {path} returned a directory listing"
    assert response.status in {403, 404}, f"GET {path}: expected 403 or 404, got {response.status}"


def test_get_without_web_is_405(websockify):
    proxy = websockify(f"127.0.0.1:{free_port()}")
    assert http_get(proxy.host, proxy.port, "/").status == 405


@pytest.mark.parametrize("name", sorted(FILES))
def test_files_are_served_with_their_content_type(web, name):
    content, content_type = FILES[name]
    response = http_get(web.host, web.port, f"/{name}")
    assert response.status == 200
    assert response.body == content
    mime = response.headers.get("content-type", "").split(";")[0].strip()
    expected = content_type if isinstance(content_type, tuple) else (content_type,)
    assert mime in expected


def test_root_serves_index_html(web):
    response = http_get(web.host, web.port, "/")
    assert response.status == 200
    assert response.body == FILES["index.html"][0]


def test_root_serves_vnc_html_when_there_is_no_index(module_websockify, site):
    proxy = module_websockify(f"127.0.0.1:{free_port()}", "--web", str(site.novnc))
    response = http_get(proxy.host, proxy.port, "/")
    if 300 <= response.status < 400:  # a redirect to vnc.html on this host is fine too
        location = urlsplit(response.headers.get("location", ""))
        assert location.netloc in ("", f"127.0.0.1:{proxy.port}")
        assert location.path.endswith("vnc.html"), response.headers.get("location")
        response = http_get(proxy.host, proxy.port, location.path)
    assert response.status == 200
    assert response.body == FILES["vnc.html"][0]
    assert http_get(proxy.host, proxy.port, "/app/ui.js").body == FILES["app.js"][0]


def test_query_string_is_ignored_when_serving_files(module_websockify, site):
    # noVNC is opened as /vnc.html?host=...&port=...&autoconnect=true
    proxy = module_websockify(f"127.0.0.1:{free_port()}", "--web", str(site.novnc))
    response = http_get(proxy.host, proxy.port, "/vnc.html?autoconnect=true&path=websockify")
    assert response.status == 200
    assert response.body == FILES["vnc.html"][0]


async def test_websocket_upgrade_wins_over_static_files(module_websockify, site):
    # noVNC connects to ws://HOST:PORT/websockify on the port that served it.
    async with TcpTarget(echo) as target:
        proxy = module_websockify(target.address, "--web", str(site.web))
        for path in ("/websockify", "/", "/index.html"):
            async with ws_connect(proxy.url(path=path), subprotocols=["binary"]) as ws:
                await within(STEP_TIMEOUT, ws.send(b"RFB 003.008\n"))
                assert await within(STEP_TIMEOUT, ws.recv()) == b"RFB 003.008\n", path


def test_root_without_index_or_vnc_html_is_not_a_listing(module_websockify, site):
    proxy = module_websockify(f"127.0.0.1:{free_port()}", "--web", str(site.bare))
    assert_no_listing(proxy, "/")


@pytest.mark.parametrize("path", ["/subdir/", "/example.com/", "/subdir/."])
def test_no_directory_listing(web, path):
    assert_no_listing(web, path)


@pytest.mark.parametrize(
    "path",
    [
        "/../etc/passwd",
        "/%2e%2e/etc/passwd",
        "/..%2f..%2fetc/passwd",
        "/%2e%2e%2f%2e%2e%2fetc%2fpasswd",
        "/etc/passwd",
        "/../outside/secret.txt",
        "/%2e%2e/outside/secret.txt",
        "/..%2foutside%2fsecret.txt",
        "/subdir/../../outside/secret.txt",
        "/subdir/%2e%2e/%2e%2e/outside/secret.txt",
        "/..%5coutside%5csecret.txt",
        "/%252e%252e/outside/secret.txt",
    ],
)
def test_no_traversal_out_of_the_web_root(web, path):
    assert_not_served(web, path)


@pytest.mark.parametrize(
    "path",
    ["/link-to-secret.txt", "/relative-link.txt", "/link-to-outside/secret.txt"],
)
def test_symlinks_do_not_escape_the_web_root(web, path):
    assert_not_served(web, path)


@pytest.mark.parametrize(
    "path",
    [
        "//example.com/",
        "//example.com",
        "//example.com/%2e%2e",
        "//example.com/..%2f",
        "///example.com/",
        "/\\example.com/",
        "//subdir",
    ],
)
def test_no_redirect_to_another_host(web, path):
    response = http_get(web.host, web.port, path)
    if 300 <= response.status < 400:
        location = response.headers.get("location", "")
        assert not location.startswith(("//", "/\\", "\\")), f"GET {path} → Location: {location}"
        assert urlsplit(location).netloc in ("", f"127.0.0.1:{web.port}"), (
            f"GET {path} → Location: {location}"
        )
