#!/usr/bin/env python3
"""Live sessions across administrative steps (reload, package upgrade, stop).

Used by tests/vm/upgrade-test.sh in the VM, with Debian's python3-websockets
(10.4 on Debian 12, 15 on Debian 13). Opens N ws:// and N wss:// sessions to
an echo target, each streaming a counting pattern (one message every 20 ms),
then runs each --step command in turn. Around each step it checks:

- every session expected to survive the step echoes more messages after it,
  and everything it got back is exactly what it sent (byte for byte, in
  order), with no close frame;
- every session expected to close at the step (--closes CLASS:STEP:CODE)
  gets a close frame with that code;
- fresh sessions opened every 100 ms while the step runs are all served
  (one echoed message each).

It prints one "ok - ..." line per check and the longest gap each class of
session saw between two echoed messages (the pause of a hand-over), and
exits 1 at the first broken check ("FAIL - ...").
"""

import argparse
import asyncio
import ssl
import subprocess
import sys
import time

import websockets

PERIOD = 0.02  # one message per session every 20 ms
PROGRESS = 10  # messages each surviving session must echo after a step
STEP_TIMEOUT = 120.0


def fail(msg):
    print(f"FAIL - {msg}", flush=True)
    sys.exit(1)


def tls_context(url):
    if not url.startswith("wss:"):
        return None
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE  # the package's self-signed certificate
    return ctx


def close_code(exc):
    rcvd = getattr(exc, "rcvd", None)
    return rcvd.code if rcvd is not None else None


class Session:
    """One streaming session: what it sent, what came back, how it ended."""

    def __init__(self, cls, url, index):
        self.cls, self.url, self.index = cls, url, index
        self.sent = bytearray()
        self.got = bytearray()
        self.messages = 0  # echoed messages received
        self.code = None  # close code received, once closed
        self.closed = asyncio.Event()
        self.last = None
        self.gap = 0.0  # longest time between two echoed messages
        self.error = None

    def name(self):
        return f"{self.cls} session {self.index}"

    async def run(self, opened):
        try:
            async with websockets.connect(
                self.url, ssl=tls_context(self.url), open_timeout=20,
                close_timeout=5, ping_interval=None,
            ) as ws:
                opened.set()
                await asyncio.gather(self.send(ws), self.receive(ws))
        except websockets.ConnectionClosed as e:
            self.code = close_code(e)
        except Exception as e:  # noqa: BLE001 - reported as the session's end
            self.error = repr(e)
        finally:
            opened.set()
            self.closed.set()

    async def send(self, ws):
        seq = 0
        while True:
            msg = (b"%s:%d:%08d;" % (self.cls.encode(), self.index, seq)) * 4
            self.sent += msg
            await ws.send(msg)
            seq += 1
            await asyncio.sleep(PERIOD)

    async def receive(self, ws):
        while True:
            data = await ws.recv()
            now = time.monotonic()
            if self.last is not None:
                self.gap = max(self.gap, now - self.last)
            self.last = now
            self.got += data
            self.messages += 1
            if self.sent[: len(self.got)] != self.got:
                self.error = f"echo differs from what was sent at byte {first_diff(self.sent, self.got)}"
                await ws.close()
                return


def first_diff(a, b):
    for i, (x, y) in enumerate(zip(a, b)):
        if x != y:
            return i
    return min(len(a), len(b))


async def newcomer(url, ends_with, stop, failures, served):
    """Opens a fresh session every 100 ms until `stop`: each must echo. A
    session of a class the step closes (`ends_with`, its close code) may end
    with that code, as the long-lived ones of its class do: a wss:// session
    that opened just before the hand-over is closed with 1012 like them."""
    while not stop.is_set():
        try:
            async with websockets.connect(url, ssl=tls_context(url), open_timeout=30) as ws:
                await ws.send(b"newcomer")
                reply = await asyncio.wait_for(ws.recv(), 30)
                if reply != b"newcomer":
                    failures.append(f"echo {reply!r}")
                else:
                    served.append(1)
        except websockets.ConnectionClosed as e:
            if ends_with is None or close_code(e) != ends_with:
                failures.append(repr(e))
        except Exception as e:  # noqa: BLE001 - counted as a refused newcomer
            failures.append(repr(e))
        await asyncio.sleep(0.1)


async def until(cond, what):
    deadline = time.monotonic() + STEP_TIMEOUT
    while not cond():
        if time.monotonic() > deadline:
            fail(f"timed out waiting: {what}")
        await asyncio.sleep(0.05)


async def step(label, command, sessions, closes, urls):
    open_now = [s for s in sessions if not s.closed.is_set()]
    for s in open_now:
        s.gap = 0.0
    before = {id(s): s.messages for s in open_now}
    stop, failures, served = asyncio.Event(), [], []
    comers = [asyncio.ensure_future(newcomer(u, closes.get((c, label)), stop, failures, served))
              for c, u in urls]
    started = time.monotonic()
    done = await asyncio.to_thread(subprocess.run, command, shell=True,
                                   capture_output=True, text=True)
    took = time.monotonic() - started
    if done.returncode != 0:
        fail(f"step {label}: `{command}` exited {done.returncode}: {done.stdout}{done.stderr}")
    ending = [s for s in open_now if closes.get((s.cls, label))]
    staying = [s for s in open_now if not closes.get((s.cls, label))]
    if label != "stop":
        await until(lambda: all(s.messages >= before[id(s)] + PROGRESS or s.closed.is_set()
                                for s in staying),
                    f"{label}: every surviving session echoes {PROGRESS} more messages")
        for s in staying:
            if s.closed.is_set():
                fail(f"{label}: {s.name()} ended (close {s.code}, {s.error}) but should go on")
        await until(lambda: len(served) >= 1, f"{label}: a newcomer served")
    await until(lambda: all(s.closed.is_set() for s in ending), f"{label}: the sessions to close close")
    stop.set()
    await asyncio.gather(*comers)
    for s in staying:
        if s.error:
            fail(f"{label}: {s.name()}: {s.error}")
    for s in ending:
        want = closes[(s.cls, label)]
        if s.code != want:
            fail(f"{label}: {s.name()} ended with close {s.code} ({s.error}), not {want}")
    if failures and label != "stop":
        fail(f"{label}: {len(failures)} newcomer sessions failed during the step: {failures[:3]}")
    for cls in sorted({s.cls for s in open_now}):
        mine = [s for s in open_now if s.cls == cls]
        worst = max(s.gap for s in mine)
        fate = f"closed {closes[(cls, label)]}" if closes.get((cls, label)) else "went on byte-exact, no close"
        print(f"ok - {label} ({took:.1f} s): {len(mine)} {cls} sessions {fate}; "
              f"longest gap between echoes {worst * 1000:.0f} ms", flush=True)
    if label != "stop":
        print(f"ok - {label}: {len(served)} sessions opened during the step, all served", flush=True)


async def main():
    p = argparse.ArgumentParser()
    p.add_argument("--ws", required=True, help="ws:// URL")
    p.add_argument("--wss", required=True, help="wss:// URL")
    p.add_argument("--n", type=int, default=10, help="sessions of each class")
    p.add_argument("--step", action="append", default=[], help="LABEL=COMMAND")
    p.add_argument("--closes", action="append", default=[], help="CLASS:LABEL:CODE")
    a = p.parse_args()
    closes = {}
    for c in a.closes:
        cls, label, code = c.split(":")
        closes[(cls, label)] = int(code)
    sessions = [Session(cls, url, i) for cls, url in (("ws", a.ws), ("wss", a.wss))
                for i in range(a.n)]
    tasks = []
    for s in sessions:
        opened = asyncio.Event()
        tasks.append(asyncio.ensure_future(s.run(opened)))
        await opened.wait()
        if s.closed.is_set():
            fail(f"{s.name()} did not open: close {s.code}, {s.error}")
    await until(lambda: all(s.messages >= PROGRESS for s in sessions), "every session streams")
    print(f"ok - {len(sessions)} sessions streaming ({a.n} ws://, {a.n} wss://)", flush=True)
    for st in a.step:
        label, command = st.split("=", 1)
        await step(label, command, sessions, closes, [("ws", a.ws), ("wss", a.wss)])
    for t in tasks:
        t.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)


if __name__ == "__main__":
    asyncio.run(main())
