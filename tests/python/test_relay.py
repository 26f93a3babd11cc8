"""Bytes go through the proxy unchanged, both ways, however they are framed."""

from __future__ import annotations

import asyncio
import hashlib
import os

from support import (
    BULK_TIMEOUT,
    MiB,
    Received,
    TcpTarget,
    echo,
    random_chunks,
    sha256,
    sink,
    within,
    ws_connect,
)


async def test_64mib_each_way_through_echo_with_random_message_sizes(websockify):
    payload = os.urandom(64 * MiB)
    async with TcpTarget(echo) as target:
        proxy = websockify(target.address)
        async with ws_connect(proxy.url(), subprotocols=["binary"]) as ws:

            async def send_all() -> None:
                for chunk in random_chunks(payload, seed=1, max_size=256 * 1024):
                    await ws.send(chunk)

            async def receive_all() -> str:
                digest = hashlib.sha256()
                received = 0
                while received < len(payload):
                    message = await ws.recv()
                    assert isinstance(message, bytes), "echoed data must come back as binary frames"
                    received += len(message)
                    digest.update(message)
                assert received == len(payload), f"received {received} bytes, sent {len(payload)}"
                return digest.hexdigest()

            _, echoed = await within(
                BULK_TIMEOUT, asyncio.gather(send_all(), receive_all())
            )
        assert echoed == sha256(payload)


async def test_16mib_single_message_arrives_intact_at_target(websockify):
    payload = os.urandom(16 * MiB)
    async with TcpTarget(sink(until=len(payload))) as target:
        proxy = websockify(target.address)
        async with ws_connect(proxy.url(), subprotocols=["binary"]) as ws:
            await within(BULK_TIMEOUT, ws.send(payload))
            got = await target.next_result(BULK_TIMEOUT)
    assert isinstance(got, Received)
    assert got.nbytes == len(payload)
    assert got.sha256 == sha256(payload)
