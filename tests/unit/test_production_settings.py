"""ENVIRONMENT=production refuses to start without the secrets a service needs, naming the
variable; local and test keep their conveniences."""

from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from services.ingest.settings import IngestSettings
from services.publisher.settings import PublisherSettings
from services.router.settings import RouterSettings
from shared.runtime.settings import CommonSettings

SERVICES: list[type[CommonSettings]] = [IngestSettings, RouterSettings, PublisherSettings]
SECRET = "Zq8v2LkP0wX9sRt4Yb7nMc1dHf6gJa3e"


def production(tmp_path: Path, **overrides: Any) -> dict[str, Any]:
    """Everything production needs, then `overrides` (None removes a value)."""
    values: dict[str, Any] = {
        "environment": "production",
        "database_url": "postgresql+asyncpg://planb@db/planb",
        "tokens_file": tmp_path / "tokens.json",
        "console_secret": SECRET,
        # the router's database (here the same URL as everyone's): where personal tokens are
        "accounts_database_url": "postgresql+asyncpg://planb@db/planb",
    }
    values |= overrides
    return {name: value for name, value in values.items() if value is not None}


@pytest.mark.parametrize("settings_class", SERVICES)
def test_a_complete_production_configuration_is_accepted(
    settings_class: type[CommonSettings], tmp_path: Path
) -> None:
    settings = settings_class(**production(tmp_path))
    assert settings.environment == "production"
    assert settings.creates_topics is False


@pytest.mark.parametrize("settings_class", SERVICES)
def test_every_service_refuses_production_without_a_tokens_file(
    settings_class: type[CommonSettings], tmp_path: Path
) -> None:
    with pytest.raises(
        ValidationError, match="TOKENS_FILE must be set when ENVIRONMENT=production"
    ):
        settings_class(**production(tmp_path, tokens_file=None))


@pytest.mark.parametrize("settings_class", SERVICES)
def test_every_service_refuses_production_without_a_database_url(
    settings_class: type[CommonSettings], tmp_path: Path
) -> None:
    with pytest.raises(ValidationError, match="DATABASE_URL must be set"):
        settings_class(**production(tmp_path, database_url=None))


@pytest.mark.parametrize("settings_class", SERVICES)
def test_every_service_refuses_sasl_without_its_credentials(
    settings_class: type[CommonSettings], tmp_path: Path
) -> None:
    sasl = {"kafka_security_protocol": "SASL_SSL", "kafka_sasl_mechanism": "SCRAM-SHA-512"}
    with pytest.raises(ValidationError, match="needs KAFKA_SASL_USERNAME, KAFKA_SASL_PASSWORD"):
        settings_class(**production(tmp_path, **sasl))


def test_the_router_refuses_production_without_a_console_secret(tmp_path: Path) -> None:
    with pytest.raises(ValidationError, match="CONSOLE_SECRET must be set when ENVIRONMENT"):
        RouterSettings(**production(tmp_path, console_secret=None))


@pytest.mark.parametrize("environment", ["local", "test"])
def test_local_and_test_need_none_of_them_and_create_topics(
    environment: str, tmp_path: Path
) -> None:
    settings = RouterSettings(environment=environment, data_dir=tmp_path)  # type: ignore[arg-type]
    assert settings.console_secret is None
    assert settings.resolved_tokens_file() == tmp_path / "tokens.json"
    assert settings.creates_topics is True


@pytest.mark.parametrize("settings_class", [IngestSettings, PublisherSettings])
def test_ingest_and_publisher_refuse_production_without_the_accounts_database(
    settings_class: type[CommonSettings], tmp_path: Path
) -> None:
    with pytest.raises(ValidationError, match="ACCOUNTS_DATABASE_URL must be set"):
        settings_class(**production(tmp_path, accounts_database_url=None))


def test_the_router_keeps_the_accounts_in_its_own_database(tmp_path: Path) -> None:
    assert RouterSettings(**production(tmp_path, accounts_database_url=None))
    with pytest.raises(ValidationError, match="must be its own DATABASE_URL"):
        RouterSettings(**production(tmp_path, accounts_database_url="sqlite+aiosqlite:///x"))
