"""Dev tokens: one per role plus a second duty manager, kept across restarts."""

import json
from pathlib import Path

from shared.web.auth import Role, TokenStore, generate_dev_tokens


def test_one_token_per_role_and_a_second_duty_manager(tmp_path: Path) -> None:
    tokens = generate_dev_tokens(tmp_path)

    assert sorted(tokens) == ["admin", "duty_manager", "duty_manager_2", "marketing", "operator"]
    store = TokenStore.from_file(tmp_path / "tokens.json")
    second = store.authenticate(tokens["duty_manager_2"])
    assert second is not None
    assert (second.name, second.roles) == ("dev-duty_manager_2", {Role.DUTY_MANAGER})
    first = store.authenticate(tokens["duty_manager"])
    assert first is not None
    assert first.name == "dev-duty_manager"


def test_an_older_file_keeps_its_tokens_and_gains_the_second_duty_manager(tmp_path: Path) -> None:
    older = {role.value: f"pb_{role.value}_old" for role in Role}
    (tmp_path / "dev-tokens.json").write_text(json.dumps(older))

    tokens = generate_dev_tokens(tmp_path)

    assert {key: tokens[key] for key in older} == older
    assert tokens["duty_manager_2"].startswith("pb_duty_manager_2_")
    assert json.loads((tmp_path / "dev-tokens.json").read_text()) == tokens
    assert generate_dev_tokens(tmp_path) == tokens  # a restart changes nothing
