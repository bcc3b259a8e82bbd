"""Runs the services as child processes for `planb run`: waits for readiness, stops them
all (in reverse order) on Ctrl-C, SIGTERM or when any of them dies.

Children get SIGTERM from the kernel if the supervisor itself is killed (Linux
`PR_SET_PDEATHSIG`), so even `kill -9` of `planb run` leaves no orphan services.
"""

import asyncio
import ctypes
import os
import signal
import subprocess
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

import httpx

from shared.runtime.registry import registered_services
from shared.runtime.wakeup import wait_for_wakeup

PR_SET_PDEATHSIG = 1


@dataclass(frozen=True)
class ServiceSpec:
    name: str
    factory: str
    port: int
    env: Mapping[str, str] = field(default_factory=dict)
    """This service's own settings (e.g. its DATABASE_URL), over the supervisor's `env`."""
    log_file: Path | None = None
    """Where its output goes (appended); None: the supervisor's own terminal."""


def service_ports(args: object) -> dict[str, int]:
    """Each registered service's port from the command's `--<service>-port` flag."""
    return {name: int(getattr(args, f"{name}_port")) for name in registered_services()}


def port_flags(ports: dict[str, int]) -> list[tuple[str, int]]:
    """(flag, port) pairs for `busy_port`, so a taken port is named with its flag."""
    return [(f"--{name}-port", port) for name, port in ports.items()]


def service_specs(ports: dict[str, int]) -> list[ServiceSpec]:
    """One spec per registered service, in start-up order, each on its port."""
    return [
        ServiceSpec(name, service.app_factory, ports[name])
        for name, service in registered_services().items()
    ]


def _die_with_parent() -> None:
    if sys.platform.startswith("linux"):
        ctypes.CDLL(None).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)


class Supervisor:
    def __init__(self, specs: list[ServiceSpec], *, host: str, env: dict[str, str]) -> None:
        self.specs = specs
        self.host = host
        self.env = env
        self.processes: dict[str, subprocess.Popen[bytes]] = {}

    def _spawn(self, spec: ServiceSpec) -> subprocess.Popen[bytes]:
        if spec.log_file is None:
            return self._popen(spec, None)
        with spec.log_file.open("ab") as log:  # the child keeps its own copy of the file
            return self._popen(spec, log)

    def _popen(self, spec: ServiceSpec, log: IO[bytes] | None) -> subprocess.Popen[bytes]:
        command = [
            sys.executable,
            "-m",
            "uvicorn",
            "--factory",
            spec.factory,
            "--host",
            self.host,
            "--port",
            str(spec.port),
            "--no-access-log",
            "--log-level",
            "warning",
        ]
        return subprocess.Popen(
            command,
            env={**os.environ, **self.env, **spec.env},
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT if log else None,
            start_new_session=True,  # Ctrl-C reaches only us; we stop children in order
            preexec_fn=_die_with_parent,
        )

    async def run(self, *, ready_timeout: float, on_ready: Callable[[], None]) -> int:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        try:
            if not await self.start(ready_timeout=ready_timeout, stop=stop):
                return 1 if not stop.is_set() else 0
            on_ready()
            return await self._watch(stop)
        finally:
            self.stop_all()

    async def start(self, *, ready_timeout: float, stop: asyncio.Event | None = None) -> bool:
        """Spawn every service in order and wait until all answer /readyz (False: one died
        or was not ready in time, or `stop` was set). The bench starts its services here."""
        for spec in self.specs:
            self.processes[spec.name] = self._spawn(spec)
            print(f"[planb] started {spec.name} (pid {self.processes[spec.name].pid})", flush=True)
        return await self._wait_ready(ready_timeout, stop or asyncio.Event())

    async def _wait_ready(self, limit: float, stop: asyncio.Event) -> bool:
        deadline = asyncio.get_running_loop().time() + limit
        pending = {spec.name: spec for spec in self.specs}
        async with httpx.AsyncClient(timeout=2) as client:
            while pending and not stop.is_set():
                for name, spec in list(pending.items()):
                    if self.processes[name].poll() is not None:
                        where = spec.log_file or "its log above"
                        print(
                            f"[planb] {name} exited during start-up; see {where}",
                            file=sys.stderr,
                        )
                        return False
                    try:
                        response = await client.get(f"http://{self.host}:{spec.port}/readyz")
                        if response.status_code == 200:
                            print(f"[planb] {name} ready on port {spec.port}", flush=True)
                            del pending[name]
                    except httpx.HTTPError:
                        pass
                if asyncio.get_running_loop().time() > deadline:
                    print(
                        f"[planb] not ready after {limit:.0f}s: {', '.join(pending)}",
                        file=sys.stderr,
                    )
                    return False
                await asyncio.sleep(0.2)
        return not pending

    async def _watch(self, stop: asyncio.Event) -> int:
        while not stop.is_set():
            for name, process in self.processes.items():
                if process.poll() is not None:
                    print(
                        f"[planb] {name} exited with code {process.returncode}; stopping",
                        file=sys.stderr,
                    )
                    return 1
            await wait_for_wakeup(stop, 0.5)
        print("\n[planb] stopping…", flush=True)
        return 0

    def stop_all(self, timeout: float = 10.0) -> None:
        for name in reversed(list(self.processes)):
            process = self.processes[name]
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        for name, process in self.processes.items():
            try:
                process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                print(f"[planb] {name} did not stop in {timeout:.0f}s; killing it", file=sys.stderr)
                process.kill()
                process.wait()
        self.processes.clear()
