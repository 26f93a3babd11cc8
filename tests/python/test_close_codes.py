"""How connections end, as the WebSocket client sees it (close codes, data flushed)."""

from __future__ import annotations

import os

import pytest

from support import (
    BULK_TIMEOUT,
    STEP_TIMEOUT,
    MiB,
    Received,
    TcpTarget,
    echo,
    free_port,
    random_chunks,
    read_binary_until_close,
    receive_until_close,
    sha256,
    sink,
    source,
    within,
    ws_connect,
)


async def test_unreachable_target_closes_with_1011(websockify):
    proxy = websockify(f"127.0.0.1:{free_port()}")  # nothing listens there
    async with ws_connect(proxy.url(), subprotocols=["binary"]) as ws:
        closed = await within(STEP_TIMEOUT, receive_until_close(ws, lambda message: None))
    assert (closed.code, closed.reason) == (1011, "Failed to connect to downstream server")


@pytest.mark.parametrize("size", [12, 8 * MiB], ids=["12-bytes", "8-MiB"])
async def test_target_close_delivers_all_data_then_1000(websockify, size):
    # 12 bytes is an RFB version string: a target that greets and hangs up
    # at once must not lose its greeting (Python websockify #63, #513).
    payload = os.urandom(size)
    async with TcpTarget(source(payload)) as target:
        proxy = websockify(target.address)
        async with ws_connect(proxy.url(), subprotocols=["binary"]) as ws:
            data, closed = await within(BULK_TIMEOUT, read_binary_until_close(ws))
    got, sent = len(data), len(payload)
    assert got == sent, f"client got {got} of {sent} bytes"
    assert sha256(data) == sha256(payload)
    assert (closed.code, closed.reason) == (1000, "Target closed")


@pytest.mark.parametrize("offer", [["binary"], None], ids=["binary", "no-subprotocol"])
async def test_text_frame_in_binary_mode_closes_with_1003(websockify, offer):
    async with TcpTarget(echo) as target:
        proxy = websockify(target.address)
        async with ws_connect(proxy.url(), subprotocols=offer) as ws:
            await within(STEP_TIMEOUT, ws.send("text is not allowed here"))
            closed = await within(STEP_TIMEOUT, receive_until_close(ws, lambda message: None))
    assert closed.code == 1003, f"got close {closed}"


async def test_client_close_flushes_data_in_flight_to_target(websockify):
    payload = os.urandom(16 * MiB)
    # The target starts reading late, so most of the data is still inside the
    # proxy (or the socket buffers) when the client closes.
    async with TcpTarget(sink(start_delay=1.0)) as target:
        proxy = websockify(target.address)
        async with ws_connect(proxy.url(), subprotocols=["binary"]) as ws:
            for chunk in random_chunks(payload, seed=3, max_size=128 * 1024):
                await within(BULK_TIMEOUT, ws.send(chunk))
            await within(BULK_TIMEOUT, ws.close(1000, "bye"))
            assert ws.close_code == 1000, f"server answered the close with {ws.close_code}"
        got = await target.next_result(BULK_TIMEOUT)
    assert isinstance(got, Received)
    assert got.nbytes == len(payload), f"target got {got.nbytes} of {len(payload)} bytes"
    assert got.sha256 == sha256(payload)
    assert got.ended_with_eof, "target connection was reset instead of closed"
