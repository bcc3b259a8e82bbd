"""`planb tokens` on a real SQLite accounts database: issue (the secret shown once), list
without secrets, rotate, revoke, refusals as one line; and a local run's dev people."""

import asyncio
import json
from pathlib import Path

import pytest

from shared.contract.events import utcnow
from shared.devtools import cli
from shared.devtools.dev_accounts import DEV_PEOPLE, accounts_url, ensure_dev_accounts
from shared.runtime.database import Database
from shared.web import tokens


def planb(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = cli.main(["tokens", *args])
    out, err = capsys.readouterr()
    return code, out, err


def test_issue_list_rotate_revoke(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    where = ["--data-dir", str(tmp_path)]
    code, out, _ = planb(
        capsys,
        *where,
        "issue",
        "--name",
        "dana",
        "--role",
        "duty_manager",
        "--role",
        "operator",
        "--expires-in",
        "90d",
    )
    assert code == 0
    secret = next(word for word in out.split() if word.startswith("pb_"))
    assert "Shown this once" in out

    code, out, _ = planb(capsys, *where, "list", "--json")
    (listed,) = json.loads(out)
    assert listed["name"] == "dana"
    assert listed["roles"] == ["duty_manager", "operator"]
    assert listed["state"] == "active"
    assert listed["expires_at"] is not None
    assert secret not in out

    code, out, _ = planb(capsys, *where, "rotate", "dana")
    assert code == 0
    rotated = next(word for word in out.split() if word.startswith("pb_"))
    assert rotated != secret

    code, out, _ = planb(capsys, *where, "revoke", "dana")
    assert code == 0
    assert "revoked dana's token" in out
    code, _, err = planb(capsys, *where, "revoke", "dana")
    assert code == 1
    assert err == "planb tokens: dana has no live token\n"
    code, _, err = planb(
        capsys, *where, "issue", "--name", "x", "--role", "admin", "--expires-in", "soon"
    )
    assert code == 1
    assert "is not a duration" in err
    code, out, _ = planb(capsys, *where, "list", "--all")
    assert out.count("revoked") == 2  # the rotated-away token and the revoked one


def test_help_shows_examples(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        cli.main(["tokens", "--help"])
    out = capsys.readouterr().out
    assert "planb tokens issue --name dana --role duty_manager --expires-in 90d" in out


def test_dev_people_survive_restarts_and_a_revoked_one_is_replaced(tmp_path: Path) -> None:
    first = asyncio.run(ensure_dev_accounts(tmp_path))
    assert sorted(first) == sorted(DEV_PEOPLE)
    assert json.loads((tmp_path / "tokens.json").read_text()) == []
    assert asyncio.run(ensure_dev_accounts(tmp_path)) == first

    async def revoke_sam() -> None:
        database = Database(accounts_url(tmp_path))
        async with database.transaction() as session:
            await tokens.revoke(session, "sam", by="test", now=utcnow())
        await database.dispose()

    asyncio.run(revoke_sam())
    again = asyncio.run(ensure_dev_accounts(tmp_path))
    assert again["duty_manager_2"] != first["duty_manager_2"]
    assert {k: v for k, v in again.items() if k != "duty_manager_2"} == {
        k: v for k, v in first.items() if k != "duty_manager_2"
    }
