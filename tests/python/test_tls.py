"""TLS: ws:// and wss:// on one port, a combined PEM, and --ssl-only."""

from __future__ import annotations

import os
import ssl

import pytest
import websockets

from support import (
    BULK_TIMEOUT,
    STEP_TIMEOUT,
    MiB,
    RawResponse,
    TcpTarget,
    echo,
    raw_upgrade,
    within,
    ws_connect,
)


def client_context(certs) -> ssl.SSLContext:
    """A client that trusts only the test certificate and checks the host name."""
    return ssl.create_default_context(cafile=str(certs.cert))


async def assert_echoes(url: str, size: int, **options) -> None:
    payload = os.urandom(size)
    async with ws_connect(url, subprotocols=["binary"], **options) as ws:
        await within(STEP_TIMEOUT, ws.send(payload))
        received = bytearray()
        while len(received) < size:
            received += await within(BULK_TIMEOUT, ws.recv())
    assert bytes(received) == payload


async def test_plain_and_tls_share_one_port(websockify, certs):
    async with TcpTarget(echo) as target:
        proxy = websockify(target.address, "--cert", str(certs.cert), "--key", str(certs.key))
        await assert_echoes(proxy.url("wss"), 4 * MiB, ssl=client_context(certs))
        await assert_echoes(proxy.url("ws"), 4 * MiB)
        await assert_echoes(proxy.url("wss"), 1024, ssl=client_context(certs))


async def test_combined_cert_and_key_in_one_pem(websockify, certs):
    async with TcpTarget(echo) as target:
        proxy = websockify(target.address, "--cert", str(certs.combined))
        await assert_echoes(proxy.url("wss"), MiB, ssl=client_context(certs))


async def test_ssl_only_refuses_plain_websocket(websockify, certs):
    async with TcpTarget(echo) as target:
        proxy = websockify(
            target.address, "--cert", str(certs.cert), "--key", str(certs.key), "--ssl-only"
        )
        response = await raw_upgrade(proxy.host, proxy.port)
        if isinstance(response, RawResponse):
            assert response.status != 101, "plain ws:// was upgraded despite --ssl-only"

        with pytest.raises((websockets.InvalidHandshake, OSError, EOFError)):
            async with ws_connect(proxy.url("ws")):
                pass

        await assert_echoes(proxy.url("wss"), MiB, ssl=client_context(certs))
