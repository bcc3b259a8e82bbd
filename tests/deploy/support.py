"""What tests/deploy needs to read the deploy files as their consumers would: Compose's
variable interpolation, a service's settings built from an environment alone, and
deploy/create-topics.sh run against a stand-in for Kafka's `kafka-topics.sh`."""

import importlib
import os
import re
import subprocess
from pathlib import Path

import pytest
from pydantic import ValidationError

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "deploy" / "create-topics.sh"
# What each service must be given with ENVIRONMENT=production, by name, whether or not its
# settings refuse to start without it yet (CONSOLE_SECRET: one for every router replica).
REQUIRED_BY_NAME = {
    "ingest": {"DATABASE_URL", "TOKENS_FILE", "ACCOUNTS_DATABASE_URL"},
    "router": {"DATABASE_URL", "TOKENS_FILE", "CONSOLE_SECRET"},
    "publisher": {"DATABASE_URL", "TOKENS_FILE", "ACCOUNTS_DATABASE_URL"},
}

# ${VAR}, ${VAR:-default}, ${VAR-default}, ${VAR:?message}, ${VAR?message} (compose-spec,
# "Interpolation"); `$$` is a literal dollar.
VARIABLE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?:(:?[-?])([^}]*))?\}")


def required_variables(text: str) -> set[str]:
    """The variables Compose refuses to start without (`${VAR:?...}` / `${VAR?...}`)."""
    return {m[1] for m in VARIABLE.finditer(text) if m[2] in (":?", "?")}


def interpolate(value: str, given: dict[str, str]) -> str:
    """`value` as Compose resolves it with `given` as the shell environment / `.env`."""

    def one(match: re.Match[str]) -> str:
        name, operator, argument = match[1], match[2], match[3]
        if name in given and (given[name] or operator in ("-", "?")):
            return given[name]
        if operator in (":-", "-"):
            return argument
        if operator in (":?", "?"):
            raise ValueError(f"compose refuses to start: {name}: {argument}")
        return ""

    return VARIABLE.sub(one, value.replace("$$", "\0")).replace("\0", "$")


def settings_error(
    service: str, env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> str | None:
    """Why `service`'s settings refuse `env` as the whole environment, or None if they take it.

    The settings are the service's own (`services.<name>.settings.get_settings`); every
    variable they read is first removed from this process's environment, so nothing but
    `env` is seen.
    """
    module = importlib.import_module(f"services.{service}.settings")
    for name in list(os.environ):
        monkeypatch.delenv(name)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    try:
        module.get_settings()
    except ValidationError as error:
        return str(error)
    return None


def run_topics_script(
    tmp_path: Path,
    env: dict[str, str],
    *args: str,
    existing: list[str] | None = None,
    at_first: list[str] | None = None,
) -> tuple[subprocess.CompletedProcess[str], list[list[str]]]:
    """Run create-topics.sh with `env`; `kafka-topics.sh` is a stand-in that records its
    arguments and, to `--list`, answers `at_first` the first two times and `existing` after
    that. Returns the run and the recorded calls."""
    log = tmp_path / "calls"
    listed = tmp_path / "listed"
    listed.write_text("\n".join(existing or []) + "\n")
    first = tmp_path / "first"
    first.write_text("\n".join(at_first or []) + "\n")
    fake = tmp_path / "kafka-topics.sh"
    fake.write_text(
        "#!/usr/bin/env bash\n"
        'printf "%s\\n" "$*" >> "$FAKE_LOG"\n'
        'if [[ " $* " == *" --list "* ]]; then\n'
        '    n=$(( $(cat "$FAKE_COUNT" 2>/dev/null || echo 0) + 1 )); echo "$n" > "$FAKE_COUNT"\n'
        '    if (( n < 3 )); then cat "$FAKE_FIRST"; else cat "$FAKE_LISTED"; fi\n'
        "fi\n"
    )
    fake.chmod(0o755)
    run_env = {
        "PATH": os.environ["PATH"],
        **env,
        "KAFKA_TOPICS": str(fake),
        "FAKE_LOG": str(log),
        "FAKE_COUNT": str(tmp_path / "count"),
        "FAKE_LISTED": str(listed),
        "FAKE_FIRST": str(first),
        "WAIT_SECONDS": "0",
    }
    result = subprocess.run(
        ["bash", str(SCRIPT), *args],
        env=run_env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    calls = [line.split() for line in log.read_text().splitlines()] if log.exists() else []
    return result, calls
