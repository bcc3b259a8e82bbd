"""Services as real operating-system processes, for fault and scale-out tests.

Each `ServiceProcess` runs one service exactly as `planb run` and the container image do
(`uvicorn --factory services.<name>.main:create_app`), with its settings in environment
variables and its output in a log file, so a test can `kill -9` it and start it again:

    router = ServiceProcess("router", tmp_path, env={...})
    router.start()          # returns once /readyz answers 200
    router.kill()           # SIGKILL: no shutdown code runs
    router.start()          # same port, same database, same consumer group
"""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import IO, Literal

import httpx

from shared.devtools.broker import free_port
from shared.web.auth import generate_dev_tokens

Service = Literal["ingest", "router", "publisher"]


def service_environment(
    data_dir: Path,
    *,
    bootstrap_servers: str,
    topic_prefix: str,
    channels_file: Path,
    partitions: int = 2,
) -> dict[str, str]:
    """Settings every service in one test shares; tokens are created in `data_dir`."""
    generate_dev_tokens(data_dir)
    return {
        "ENVIRONMENT": "test",
        "KAFKA_BOOTSTRAP_SERVERS": bootstrap_servers,
        "TOPIC_PREFIX": topic_prefix,
        "TOPIC_PARTITIONS": str(partitions),
        "KAFKA_SESSION_TIMEOUT_MS": "6000",
        "DATA_DIR": str(data_dir),
        "TOKENS_FILE": str(data_dir / "tokens.json"),
        "CHANNELS_FILE": str(channels_file),
    }


class ServiceProcess:
    """One service in a process of its own, on a fixed port, restartable after a kill."""

    def __init__(
        self,
        service: Service,
        folder: Path,
        *,
        env: dict[str, str],
        name: str | None = None,
        port: int | None = None,
    ) -> None:
        self.service = service
        self.name = name or service
        self.env = env
        self.port = port or free_port()
        self.log_path = folder / f"{self.name}.log"
        self.process: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def pid(self) -> int:
        assert self.process is not None, f"{self.name} is not running"
        return self.process.pid

    def start(self, ready_timeout: float = 60.0) -> "ServiceProcess":
        """Spawn the service and wait until its /readyz answers 200."""
        assert not self.running, f"{self.name} is already running"
        self._log = self.log_path.open("ab")
        self._log.write(f"--- start {self.name} on port {self.port}\n".encode())
        self._log.flush()
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "uvicorn",
                "--factory",
                f"services.{self.service}.main:create_app",
                "--host",
                "127.0.0.1",
                "--port",
                str(self.port),
                "--no-access-log",
                "--log-level",
                "warning",
            ],
            env={**os.environ, **self.env},
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )
        self._wait_ready(ready_timeout)
        return self

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def kill(self) -> None:
        """SIGKILL: the process gets no chance to commit, flush or leave its group."""
        self._signal(signal.SIGKILL)

    def stop(self, timeout: float = 30.0) -> None:
        """SIGTERM and wait: a graceful stop (what an orchestrator does first)."""
        self._signal(signal.SIGTERM, timeout)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def _signal(self, sig: signal.Signals, timeout: float = 30.0) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(sig)
            try:
                self.process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)
        if self._log is not None:
            self._log.close()
            self._log = None

    def _wait_ready(self, limit: float) -> None:
        deadline = time.monotonic() + limit
        with httpx.Client(timeout=2) as client:
            while time.monotonic() < deadline:
                assert self.process is not None
                if self.process.poll() is not None:
                    raise AssertionError(f"{self.name} exited while starting:\n{self.log()}")
                try:
                    if client.get(f"{self.url}/readyz").status_code == 200:
                        return
                except httpx.HTTPError:
                    pass
                time.sleep(0.1)
        self.kill()
        raise AssertionError(f"{self.name} not ready in {limit:.0f}s:\n{self.log()}")

    def __enter__(self) -> "ServiceProcess":
        return self

    def __exit__(self, *_exc: object) -> None:
        self.stop()
