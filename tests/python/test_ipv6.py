"""IPv6 loopback on both sides of the proxy."""

from __future__ import annotations

import os
import socket

import pytest

from support import BULK_TIMEOUT, STEP_TIMEOUT, TcpTarget, echo, within, ws_connect


def ipv6_loopback_available() -> bool:
    try:
        with socket.socket(socket.AF_INET6, socket.SOCK_STREAM) as probe:
            probe.bind(("::1", 0))
        return True
    except OSError:
        return False


@pytest.mark.skipif(not ipv6_loopback_available(), reason="no IPv6 loopback on this machine")
async def test_ipv6_listen_and_target(websockify):
    payload = os.urandom(256 * 1024)
    async with TcpTarget(echo, host="::1") as target:
        proxy = websockify(target.address, host="::1")
        assert proxy.url().startswith("ws://[::1]:")
        async with ws_connect(proxy.url(), subprotocols=["binary"]) as ws:
            await within(STEP_TIMEOUT, ws.send(payload))
            received = bytearray()
            while len(received) < len(payload):
                received += await within(BULK_TIMEOUT, ws.recv())
    assert bytes(received) == payload
