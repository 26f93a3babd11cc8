"""--heartbeat: pings keep quiet sessions alive; a peer that stops answering is closed."""

from __future__ import annotations

import asyncio

import pytest
from websockets.frames import Opcode

from support import ManualClient, TcpTarget, echo

#: Long enough for a 1 s heartbeat to notice a silent peer, with slack for CI.
DEAD_PEER_DEADLINE = 15.0


async def test_quiet_session_gets_pings(websockify):
    async with TcpTarget(echo) as target:
        proxy = websockify(target.address, "--heartbeat", "1")
        async with ManualClient(proxy.url(), answer_pings=True, subprotocols=["binary"]) as client:
            # Longer than a silent peer survives (see the next test).
            for _ in range(4):
                frame = await client.next_frame(timeout=3.0)
                assert frame is not None, "proxy closed a session that answers pings"
                assert frame.opcode == Opcode.PING, f"expected a ping, got {frame}"


async def test_peer_that_never_answers_pings_is_closed(websockify):
    async with TcpTarget(echo) as target:
        proxy = websockify(target.address, "--heartbeat", "1")
        async with ManualClient(proxy.url(), answer_pings=False, subprotocols=["binary"]) as client:
            pings = 0
            try:
                async with asyncio.timeout(DEAD_PEER_DEADLINE):
                    while (frame := await client.next_frame(DEAD_PEER_DEADLINE)) is not None:
                        if frame.opcode == Opcode.CLOSE:
                            break
                        assert frame.opcode == Opcode.PING, f"unexpected {frame}"
                        pings += 1
            except TimeoutError:
                pytest.fail(f"still open after {DEAD_PEER_DEADLINE}s and {pings} unanswered pings")
            assert pings >= 1, "closed before ever pinging"
