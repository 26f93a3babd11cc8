"""Helpers shared by the test modules: targets, WebSocket and HTTP clients.

Everything here talks to loopback only.  The "targets" are small asyncio TCP
servers standing in for a VNC server; the proxy under test connects to them.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import http.client
import os
import random
import socket
import ssl
from dataclasses import dataclass
from typing import Awaitable, Callable, Iterator, TypeVar

import websockets
from websockets.asyncio.client import ClientConnection, connect
from websockets.client import ClientProtocol
from websockets.frames import Frame
from websockets.http11 import Response
from websockets.uri import parse_uri

T = TypeVar("T")

MiB = 1024 * 1024

#: Bound for one network step (a connect, a handshake, one message).
STEP_TIMEOUT = 5.0
#: Bound for a bulk transfer of tens of MiB through a debug build.
BULK_TIMEOUT = 30.0


async def within(seconds: float, awaitable: Awaitable[T]) -> T:
    """Await with a deadline; a hang becomes a TimeoutError, never a stuck suite."""
    return await asyncio.wait_for(awaitable, seconds)


def free_port(host: str = "127.0.0.1") -> int:
    """A port nothing listens on right now (bind to 0, read it back, release)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.bind((host, 0))
        return probe.getsockname()[1]


def host_port(host: str, port: int) -> str:
    """`host:port` as the websockify command line and URLs spell it."""
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def random_chunks(data: bytes, seed: int, max_size: int) -> Iterator[memoryview]:
    """Split `data` into messages of random sizes between 1 byte and `max_size`."""
    rng = random.Random(seed)
    view = memoryview(data)
    offset = 0
    while offset < len(data):
        size = rng.randint(1, max_size)
        yield view[offset : offset + size]
        offset += size


# --------------------------------------------------------------------------
# Targets
# --------------------------------------------------------------------------

Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[object]]


class TcpTarget:
    """An asyncio TCP server; each connection runs `handler`.

    Whatever a handler returns (or raises) is queued, one entry per
    connection, and read back with `next_result()`.
    """

    def __init__(self, handler: Handler, host: str = "127.0.0.1") -> None:
        self.handler = handler
        self.host = host
        self.port = 0
        self.address = ""
        self._results: asyncio.Queue[tuple[object, BaseException | None]] = asyncio.Queue()
        self._server: asyncio.Server | None = None

    async def __aenter__(self) -> "TcpTarget":
        self._server = await asyncio.start_server(self._serve, self.host, 0)
        self.port = self._server.sockets[0].getsockname()[1]
        self.address = host_port(self.host, self.port)
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        assert self._server is not None
        self._server.close()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            result = await self.handler(reader, writer)
        except Exception as error:  # reported to the test through next_result()
            self._results.put_nowait((None, error))
        else:
            self._results.put_nowait((result, None))
        finally:
            writer.close()

    async def next_result(self, timeout: float = STEP_TIMEOUT) -> object:
        """The outcome of the next connection the proxy made to this target."""
        result, error = await within(timeout, self._results.get())
        if error is not None:
            raise error
        return result


async def echo(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> int:
    """Send back every byte received until EOF; returns the byte count."""
    total = 0
    while data := await reader.read(256 * 1024):
        total += len(data)
        writer.write(data)
        await writer.drain()
    return total


def source(data: bytes) -> Handler:
    """A target that sends `data`, then closes its connection."""

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> int:
        writer.write(data)
        await writer.drain()
        return len(data)

    return handler


@dataclass
class Received:
    """What a sink target saw on one connection."""

    nbytes: int
    sha256: str
    data: bytes
    ended_with_eof: bool


def sink(start_delay: float = 0.0, keep: bool = False, until: int | None = None) -> Handler:
    """A target that reads until EOF and reports what it got.

    `start_delay` makes it slow to start reading, so data piles up inside the
    proxy; `keep` keeps the bytes themselves (for small transfers); `until`
    stops reading after that many bytes instead of waiting for EOF.
    """

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> Received:
        await asyncio.sleep(start_delay)
        digest = hashlib.sha256()
        kept = bytearray()
        nbytes = 0
        eof = True
        try:
            while until is None or nbytes < until:
                data = await reader.read(256 * 1024)
                if not data:
                    break
                nbytes += len(data)
                digest.update(data)
                if keep:
                    kept += data
            else:
                eof = False  # stopped at `until`, not at EOF
        except ConnectionResetError:
            eof = False
        return Received(nbytes, digest.hexdigest(), bytes(kept), eof)

    return handler


# --------------------------------------------------------------------------
# WebSocket clients
# --------------------------------------------------------------------------


def ws_connect(url: str, **options: object) -> connect:
    """A `websockets` client as a browser would use it, with no message size cap."""
    settings: dict[str, object] = dict(
        proxy=None,
        max_size=None,
        open_timeout=STEP_TIMEOUT,
        close_timeout=STEP_TIMEOUT,
    )
    settings.update(options)
    return connect(url, **settings)


@dataclass
class Closed:
    """How a connection ended, as seen by the client."""

    code: int | None  # None: no close frame arrived
    reason: str | None


async def receive_until_close(
    ws: ClientConnection, on_message: Callable[[bytes | str], None]
) -> Closed:
    """Feed every incoming message to `on_message` until the server closes."""
    try:
        while True:
            on_message(await ws.recv())
    except websockets.ConnectionClosed as closed:
        if closed.rcvd is None:
            return Closed(None, None)
        return Closed(closed.rcvd.code, closed.rcvd.reason)


async def read_binary_until_close(ws: ClientConnection) -> tuple[bytes, Closed]:
    """All bytes of all binary messages until the close; text messages fail."""
    buffer = bytearray()

    def take(message: bytes | str) -> None:
        assert isinstance(message, bytes), f"expected a binary frame, got text {message[:60]!r}"
        buffer.extend(message)

    closed = await receive_until_close(ws, take)
    return bytes(buffer), closed


class ManualClient:
    """A WebSocket client driven by hand over websockets' Sans-I/O layer.

    It sees every frame, pings included, and writes nothing after the
    handshake unless `answer_pings` is set: a peer that stops answering.
    """

    def __init__(self, url: str, answer_pings: bool, subprotocols: list[str] | None = None):
        self.url = url
        self.answer_pings = answer_pings
        self.protocol = ClientProtocol(
            parse_uri(url), subprotocols=subprotocols, max_size=None
        )
        self._pending: list[Frame] = []

    async def __aenter__(self) -> "ManualClient":
        uri = parse_uri(self.url)
        self.reader, self.writer = await within(
            STEP_TIMEOUT, asyncio.open_connection(uri.host, uri.port)
        )
        self.protocol.send_request(self.protocol.connect())
        await self._flush()
        while True:
            events = await self._read_events()
            if events is None:
                raise ConnectionError("connection closed during the handshake")
            if events and isinstance(events[0], Response):
                assert events[0].status_code == 101, f"handshake failed: {events[0].status_code}"
                self._pending.extend(events[1:])
                return self

    async def __aexit__(self, *exc_info: object) -> None:
        self.writer.close()

    async def next_frame(self, timeout: float) -> Frame | None:
        """The next frame from the server, or None once it closed the connection."""
        async with asyncio.timeout(timeout):
            while not self._pending:
                events = await self._read_events()
                if events is None:
                    return None
                self._pending.extend(events)
                if self.answer_pings:
                    await self._flush()
            return self._pending.pop(0)

    async def _read_events(self) -> list | None:
        data = await self.reader.read(65536)
        if not data:
            return None
        self.protocol.receive_data(data)
        return self.protocol.events_received()

    async def _flush(self) -> None:
        for data in self.protocol.data_to_send():
            self.writer.write(data)
        await self.writer.drain()


def b64decode_strict(text: str) -> bytes:
    return base64.b64decode(text.encode("ascii"), validate=True)


# --------------------------------------------------------------------------
# Raw HTTP, so that nothing normalises what we send
# --------------------------------------------------------------------------


@dataclass
class RawResponse:
    status_line: str
    headers: dict[str, str]  # lower-case names

    @property
    def status(self) -> int:
        return int(self.status_line.split()[1])


async def raw_upgrade(
    host: str,
    port: int,
    extra_headers: dict[str, str] | None = None,
    ssl_context: ssl.SSLContext | None = None,
) -> RawResponse | bytes:
    """Send a WebSocket upgrade request by hand.

    Returns the parsed response head, or the raw bytes received if they are
    not an HTTP response (for example a TLS alert, or b"" when the server just
    closed the connection).
    """
    key = base64.b64encode(os.urandom(16)).decode()
    lines = [
        "GET / HTTP/1.1",
        f"Host: {host_port(host, port)}",
        "Upgrade: websocket",
        "Connection: Upgrade",
        f"Sec-WebSocket-Key: {key}",
        "Sec-WebSocket-Version: 13",
    ]
    lines += [f"{name}: {value}" for name, value in (extra_headers or {}).items()]
    request = ("\r\n".join(lines) + "\r\n\r\n").encode()

    reader, writer = await within(
        STEP_TIMEOUT, asyncio.open_connection(host, port, ssl=ssl_context)
    )
    try:
        writer.write(request)
        await within(STEP_TIMEOUT, writer.drain())
        head = bytearray()
        while b"\r\n\r\n" not in head and len(head) < 65536:
            try:
                chunk = await within(STEP_TIMEOUT, reader.read(4096))
            except (ConnectionError, ssl.SSLError):
                break
            if not chunk:
                break
            head += chunk
    finally:
        writer.close()

    if not head.startswith(b"HTTP/"):
        return bytes(head)
    text = bytes(head).split(b"\r\n\r\n", 1)[0].decode("latin-1")
    status_line, *header_lines = text.split("\r\n")
    headers = {}
    for line in header_lines:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    return RawResponse(status_line, headers)


@dataclass
class HttpResponse:
    status: int
    headers: dict[str, str]  # lower-case names
    body: bytes


def http_get(host: str, port: int, path: str, timeout: float = STEP_TIMEOUT) -> HttpResponse:
    """GET `path` exactly as written (http.client does not normalise it)."""
    conn = http.client.HTTPConnection(host, port, timeout=timeout)
    try:
        conn.request("GET", path)
        response = conn.getresponse()
        body = response.read()
        headers = {name.lower(): value for name, value in response.getheaders()}
        return HttpResponse(response.status, headers, body)
    finally:
        conn.close()
