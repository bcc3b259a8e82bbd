"""The installed `planb` behaves like a conventional command line: alone it prints its help,
`--version` answers, and a port already taken is named with the flag that moves it."""

import importlib.metadata
import socket
import subprocess
import sys
from pathlib import Path

PLANB = Path(sys.executable).parent / "planb"


def planb(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(PLANB), *args], capture_output=True, text=True, timeout=60, cwd=cwd, check=False
    )


def test_planb_alone_prints_its_help_and_succeeds() -> None:
    answer = planb()
    assert answer.returncode == 0
    assert answer.stdout.startswith("usage: planb")
    for command in ("run", "broker", "tokens", "demo", "topics"):
        assert f"\n    {command} " in answer.stdout


def test_version() -> None:
    answer = planb("--version")
    assert answer.returncode == 0
    assert answer.stdout.strip() == f"planb {importlib.metadata.version('planb')}"


def test_a_port_in_use_is_named_with_the_flag_that_moves_it(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        answer = planb(
            "run", "--no-sandbox", "--router-port", str(port), "--data-dir", str(tmp_path)
        )
    assert answer.returncode == 1
    assert f"port {port} is already in use" in answer.stderr
    assert f"--router-port {port + 100}" in answer.stderr
    assert 'make run RUN_ARGS="..."' in answer.stderr
