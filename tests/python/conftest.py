"""Fixtures: the websockify binary under test, running proxies, certificates.

`async def` tests are run here with `asyncio.run`, each under a deadline, so
the suite needs no asyncio plugin and no test can hang.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import os
import socket
import subprocess
import time
from pathlib import Path
from typing import Callable, Iterator

import pytest

from support import free_port, host_port

#: Hard deadline for any single test.
TEST_TIMEOUT = 45.0
#: How long a proxy may take to start accepting connections.
STARTUP_TIMEOUT = 15.0


# --------------------------------------------------------------------------
# Running async tests, and refusing a run in which no test ran
# --------------------------------------------------------------------------


@pytest.hookimpl(tryfirst=True)
def pytest_pyfunc_call(pyfuncitem: pytest.Function) -> bool | None:
    if not inspect.iscoroutinefunction(pyfuncitem.obj):
        return None
    wanted = inspect.signature(pyfuncitem.obj).parameters
    kwargs = {name: value for name, value in pyfuncitem.funcargs.items() if name in wanted}
    asyncio.run(asyncio.wait_for(pyfuncitem.obj(**kwargs), TEST_TIMEOUT))
    return True


_tests_run = 0


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    global _tests_run
    if report.when == "call":
        _tests_run += 1


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    if exitstatus == pytest.ExitCode.OK and _tests_run == 0:
        session.exitstatus = pytest.ExitCode.NO_TESTS_COLLECTED


# --------------------------------------------------------------------------
# The proxy under test
# --------------------------------------------------------------------------


@pytest.fixture(scope="session")
def websockify_bin() -> Path:
    default = Path(__file__).resolve().parents[2] / "target" / "debug" / "websockify"
    path = Path(os.environ.get("WEBSOCKIFY_BIN", default)).resolve()
    if not os.access(path, os.X_OK):
        pytest.fail(f"websockify binary not found or not executable: {path} (set WEBSOCKIFY_BIN)")
    return path


class Proxy:
    """One websockify process listening on `host:port`, logging to a file."""

    def __init__(self, binary: Path, log_path: Path, host: str, target: str, options: list[str]):
        self.host = host
        self.port = free_port(host)
        self.log_path = log_path
        self.command = [str(binary), *options, host_port(host, self.port), target]
        with open(log_path, "wb") as log:
            self.process = subprocess.Popen(
                self.command, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT
            )
        self._wait_until_accepting()

    def url(self, scheme: str = "ws", path: str = "/") -> str:
        return f"{scheme}://{host_port(self.host, self.port)}{path}"

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def _wait_until_accepting(self) -> None:
        deadline = time.monotonic() + STARTUP_TIMEOUT
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(
                    f"{self.command} exited with {self.process.returncode} before listening:\n"
                    + self.log()
                )
            try:
                socket.create_connection((self.host, self.port), timeout=0.5).close()
                return
            except OSError:
                time.sleep(0.02)  # poll interval, not a guess at readiness
        self.stop()
        raise RuntimeError(f"{self.command} not accepting within {STARTUP_TIMEOUT}s:\n" + self.log())

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=5)


ProxyFactory = Callable[..., Proxy]


@contextlib.contextmanager
def proxy_factory(binary: Path, log_dir: Path) -> Iterator[ProxyFactory]:
    """Start proxies: `start(target_address, *options, host="127.0.0.1")`.

    Every proxy started is stopped at the end and its log printed, so a
    failing test shows what the proxy said.
    """
    proxies: list[Proxy] = []

    def start(target: str, *options: str, host: str = "127.0.0.1") -> Proxy:
        log_path = log_dir / f"websockify-{len(proxies)}.log"
        proxy = Proxy(binary, log_path, host, target, list(options))
        proxies.append(proxy)
        return proxy

    try:
        yield start
    finally:
        for proxy in proxies:
            proxy.stop()
            print(f"--- {' '.join(proxy.command)} (exit {proxy.process.returncode})")
            print(proxy.log())


@pytest.fixture
def websockify(websockify_bin: Path, tmp_path: Path) -> Iterator[ProxyFactory]:
    """Proxies that live for one test."""
    with proxy_factory(websockify_bin, tmp_path) as start:
        yield start


@pytest.fixture(scope="module")
def module_websockify(
    websockify_bin: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ProxyFactory]:
    """Proxies shared by the tests of one module (for read-only HTTP checks)."""
    with proxy_factory(websockify_bin, tmp_path_factory.mktemp("logs")) as start:
        yield start


# --------------------------------------------------------------------------
# Certificates
# --------------------------------------------------------------------------


class Certs:
    def __init__(self, directory: Path) -> None:
        self.cert = directory / "c.pem"
        self.key = directory / "k.pem"
        self.combined = directory / "combined.pem"


@pytest.fixture(scope="session")
def certs(tmp_path_factory: pytest.TempPathFactory) -> Certs:
    """A self-signed certificate for 127.0.0.1 / ::1 / localhost, as users make one."""
    found = Certs(tmp_path_factory.mktemp("certs"))
    subprocess.run(
        [
            "openssl", "req", "-x509", "-nodes", "-newkey", "rsa:2048", "-days", "2",
            "-keyout", str(found.key), "-out", str(found.cert), "-subj", "/CN=localhost",
            "-addext", "subjectAltName=IP:127.0.0.1,IP:::1,DNS:localhost",
        ],
        check=True,
        capture_output=True,
        timeout=60,
    )
    found.combined.write_bytes(found.cert.read_bytes() + found.key.read_bytes())
    return found
