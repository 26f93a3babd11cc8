"""Subprotocol negotiation: `binary` when offered, `base64` text mode, or none."""

from __future__ import annotations

import base64
import os

import pytest

from support import (
    BULK_TIMEOUT,
    STEP_TIMEOUT,
    MiB,
    RawResponse,
    Received,
    TcpTarget,
    b64decode_strict,
    echo,
    random_chunks,
    raw_upgrade,
    read_binary_until_close,
    receive_until_close,
    sink,
    source,
    within,
    ws_connect,
)


@pytest.mark.parametrize(
    "offer", [["binary"], ["binary", "base64"], ["base64", "binary"]], ids=", ".join
)
async def test_offering_binary_selects_binary(websockify, offer):
    async with TcpTarget(echo) as target:
        proxy = websockify(target.address)
        async with ws_connect(proxy.url(), subprotocols=offer) as ws:
            assert ws.subprotocol == "binary"
            await within(STEP_TIMEOUT, ws.send(b"\x00\x01\xffRFB"))
            assert await within(STEP_TIMEOUT, ws.recv()) == b"\x00\x01\xffRFB"


@pytest.mark.parametrize(
    "header",
    ["binary, base64", "base64 ,binary", "base64,binary", " binary ", "foo, binary", "base64 , binary"],
)
async def test_binary_is_found_whatever_the_whitespace(websockify, header):
    async with TcpTarget(echo) as target:
        proxy = websockify(target.address)
        response = await raw_upgrade(
            proxy.host, proxy.port, {"Sec-WebSocket-Protocol": header}
        )
    assert isinstance(response, RawResponse), f"no HTTP response, got {response!r}"
    assert response.status == 101, response.status_line
    assert response.headers.get("sec-websocket-protocol") == "binary"


async def test_no_offer_means_no_subprotocol_and_binary_frames(websockify):
    async with TcpTarget(echo) as target:
        proxy = websockify(target.address)
        async with ws_connect(proxy.url()) as ws:
            assert ws.subprotocol is None
            assert "Sec-WebSocket-Protocol" not in ws.response.headers
            await within(STEP_TIMEOUT, ws.send(b"hello"))
            reply = await within(STEP_TIMEOUT, ws.recv())
            assert isinstance(reply, bytes), f"expected a binary frame, got text {reply!r}"
            assert reply == b"hello"


async def test_base64_only_client_text_arrives_decoded_at_target(websockify):
    payload = os.urandom(2 * MiB)
    async with TcpTarget(sink(keep=True)) as target:
        proxy = websockify(target.address)
        async with ws_connect(proxy.url(), subprotocols=["base64"]) as ws:
            assert ws.subprotocol == "base64"
            for chunk in random_chunks(payload, seed=2, max_size=64 * 1024):
                await within(STEP_TIMEOUT, ws.send(base64.b64encode(chunk).decode("ascii")))
            await within(STEP_TIMEOUT, ws.close())
        got = await target.next_result(BULK_TIMEOUT)
    assert isinstance(got, Received)
    assert got.nbytes == len(payload)
    assert got.data == payload


async def test_base64_only_target_bytes_arrive_as_base64_text(websockify):
    payload = os.urandom(2 * MiB) + b"\x00tail"
    async with TcpTarget(source(payload)) as target:
        proxy = websockify(target.address)
        async with ws_connect(proxy.url(), subprotocols=["base64"]) as ws:
            assert ws.subprotocol == "base64"
            received = bytearray()

            def take(message: bytes | str) -> None:
                assert isinstance(message, str), "base64 mode must send text frames"
                received.extend(b64decode_strict(message))

            await within(BULK_TIMEOUT, receive_until_close(ws, take))
    assert len(received) == len(payload)
    assert bytes(received) == payload


async def test_binary_mode_target_bytes_arrive_as_binary_frames(websockify):
    payload = os.urandom(MiB)
    async with TcpTarget(source(payload)) as target:
        proxy = websockify(target.address)
        async with ws_connect(proxy.url(), subprotocols=["binary"]) as ws:
            data, _ = await within(BULK_TIMEOUT, read_binary_until_close(ws))
    assert data == payload
