"""A `make` target started the way the README says (from the repository's root, in its own
process group as a shell would), and stopped the way a person does: Ctrl-C, which is SIGINT
to the whole group."""

import os
import signal
import subprocess
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
# The target runs on its own defaults, not on whatever the test session points at.
CLEARED = (
    "KAFKA_BOOTSTRAP_SERVERS",
    "CHANNELS_FILE",
    "DATABASE_URL",
    "DATA_DIR",
    "TOPIC_PREFIX",
    "MAKEFLAGS",
    "MFLAGS",
    "MAKELEVEL",
)


def _as_a_terminal_would() -> None:
    """Ctrl-C at its default, as an interactive shell sets it for a foreground job: a test
    run started in the background of a non-interactive shell inherits SIGINT *ignored*, and
    make (not Python, which handles it itself) would then let it pass and exit 0."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def start(target: str, variables: dict[str, str], log_path: Path) -> subprocess.Popen[bytes]:
    """`make <target> NAME="value" ...` from the repository's root, output to `log_path`."""
    env = {k: v for k, v in os.environ.items() if k not in CLEARED}
    command = ["make", "--no-print-directory", target]
    command += [f"{name}={value}" for name, value in variables.items()]
    with log_path.open("w") as log:
        return subprocess.Popen(
            command,
            cwd=ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            preexec_fn=_as_a_terminal_would,
        )


def wait_for(log_path: Path, needle: str, process: subprocess.Popen[bytes], within: float) -> str:
    """The log once it says `needle`; fails if the target exits or takes longer."""
    deadline = time.monotonic() + within
    while needle not in (text := log_path.read_text()):
        assert process.poll() is None, f"make exited early:\n{text}"
        assert time.monotonic() < deadline, f"no {needle!r} within {within} s:\n{text}"
        time.sleep(0.2)
    return text


def descendants(pid: int) -> list[int]:
    """Every process below `pid` (children, theirs, ...)."""
    found = subprocess.run(["pgrep", "-P", str(pid)], capture_output=True, text=True, check=False)
    children = [int(p) for p in found.stdout.split()]
    return children + [grandchild for child in children for grandchild in descendants(child)]


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def ctrl_c(process: subprocess.Popen[bytes], timeout: float = 30) -> int:
    """SIGINT to the make's process group, as Ctrl-C in its terminal; make's exit status."""
    os.killpg(process.pid, signal.SIGINT)
    return process.wait(timeout=timeout)


def kill(process: subprocess.Popen[bytes]) -> None:
    """Clean up after a failed test: the whole group, at once."""
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()
