"""deploy/README.md's docker compose block, run as a reader runs it, up to the one command no
machine here can run (`docker compose up`: no Docker engine): the token files and the
`.env` it makes are what Compose and the services then take."""

import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from shared.web.auth import Role, TokenStore
from tests.deploy.support import interpolate, required_variables, settings_error

ROOT = Path(__file__).resolve().parents[2]
DEPLOY_README = ROOT / "deploy" / "README.md"
NOT_HERE = "docker compose "  # needs a Docker engine


def compose_block() -> list[str]:
    """The command lines of the first ```sh block under "## docker compose"."""
    section = DEPLOY_README.read_text().split("## docker compose", 1)[1]
    block = re.search(r"```sh\n(.*?)```", section, re.S)
    assert block is not None, "deploy/README.md lost its docker compose block"
    return [line for line in block[1].splitlines() if line.strip()]


def test_the_block_ends_with_compose_up_and_everything_before_it_runs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    lines = compose_block()
    assert lines[-1].startswith("docker compose up")
    runnable = [line for line in lines if not line.startswith(NOT_HERE)]
    assert len(runnable) == len(lines) - 1
    # A checkout of its own: the block writes into deploy/ and .env beside the compose file.
    (tmp_path / "deploy").mkdir()
    (tmp_path / ".venv").symlink_to(Path(sys.executable).parents[1])
    for line in runnable:
        result = subprocess.run(
            ["bash", "-euo", "pipefail", "-c", line],
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert result.returncode == 0, f"{line}\n{result.stdout}{result.stderr}"

    tokens = tmp_path / "deploy" / "tokens.json"
    assert tokens.stat().st_mode & 0o777 == 0o644  # readable by the services' uid
    plain = json.loads((tmp_path / "deploy" / "dev-tokens.json").read_text())
    store = TokenStore.from_file(tokens)
    principal = store.authenticate(plain["duty_manager"])
    assert principal is not None
    assert principal.roles == {Role.DUTY_MANAGER}
    assert all(token not in tokens.read_text() for token in plain.values())  # digests only

    dotenv = dict(
        line.split("=", 1) for line in (tmp_path / ".env").read_text().splitlines() if line
    )
    assert re.fullmatch(r"[0-9a-f]{64}", dotenv["CONSOLE_SECRET"])
    compose_text = (ROOT / "docker-compose.yml").read_text()
    assert required_variables(compose_text) <= set(dotenv)
    router: dict[str, Any] = yaml.safe_load(compose_text)["services"]["router"]
    env = {k: interpolate(str(v), dotenv) for k, v in router["environment"].items()}
    env["TOKENS_FILE"] = str(tokens)  # where Compose mounts it, here
    assert env["CONSOLE_SECRET"] == dotenv["CONSOLE_SECRET"]
    assert settings_error("router", env, monkeypatch) is None
    assert os.access(tokens, os.R_OK)
