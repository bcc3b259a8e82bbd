"""docs/configuration.md, generated from the services' pydantic-settings classes.

    python -m shared.devtools.configdoc > docs/configuration.md        (`make docs`)

A setting's meaning is its `Field(description=...)`; `MEANINGS` covers the older fields
that have none. `tests/unit/test_docs_generated.py` fails when the table is stale.
"""

from enum import Enum
from pathlib import Path
from typing import Any

from pydantic import SecretStr
from pydantic.fields import FieldInfo
from pydantic_core import PydanticUndefined

from shared.runtime.registry import registered_services
from shared.runtime.settings import CommonSettings

# Meanings of fields declared without a description (a new field should carry its own).
MEANINGS = {
    "service_name": "names the service in logs, client ids and its default SQLite file",
    "environment": "`local`, `test` or `production`; production refuses unsafe defaults "
    "(no `DATABASE_URL`, `TOKENS_FILE`, router `CONSOLE_SECRET`, ingest's and publisher's "
    "`ACCOUNTS_DATABASE_URL`, weak secrets) and never "
    "creates topics (run `planb topics create`; services wait, not ready)",
    "kafka_bootstrap_servers": "Kafka to use (`make run`: the embedded broker)",
    "topic_prefix": "topic names are `<prefix>.incidents` etc.",
    "topic_partitions": "partitions per topic: of the topics services create at start when "
    "missing (local, test) and `planb topics create`'s default",
    "kafka_session_timeout_ms": "consumer-group session timeout",
    "kafka_request_timeout_ms": "how long a send may wait for Kafka (ingest then queues)",
    "data_dir": "where SQLite files, tokens and logs live",
    "database_url": "the service's own database, e.g. `postgresql+asyncpg://user:pw@host/"
    "planb_router`; unset: SQLite `DATA_DIR/<service>.db`",
    "tokens_file": "hashed bearer tokens (`name`, `role`, `sha256`); required in production; "
    "unset: `DATA_DIR/tokens.json`",
    "config_dir": "where `channels.yaml`, `policy.yaml` and `alertmanager.yaml` are",
    "channels_file": "channel list; unset: `CONFIG_DIR/channels.yaml`",
    "public_base_url": "base URL of the public status page, for links",
    "log_level": "`DEBUG`, `INFO`, `WARNING`, `ERROR`",
    "rate_limit_per_minute": "per-token request limit",
    "rate_limit_burst": "per-token burst above the steady rate",
    "idempotency_ttl_hours": "how long an `Idempotency-Key` is remembered",
    "alertmanager_rate_limit_per_minute": "Alertmanager's own request limit",
    "alertmanager_mapping_file": "label → severity/services/regions; unset: "
    "`CONFIG_DIR/alertmanager.yaml`",
    "policy_file": "pause and approval policy; unset: `CONFIG_DIR/policy.yaml`",
    "status_page_title": "heading of the public status page",
    "status_page_incidents": "incidents the status page and feed show",
    "channel_timeout_seconds": "HTTP timeout of one platform call",
    "quick_retry_max_wait_seconds": "longest wait between in-call tries",
    "retry_base_seconds": "first wait of the durable retry schedule (doubles, with jitter)",
    "retry_max_seconds": "longest wait of the durable retry schedule",
    "retry_deadline_minutes": "give up on a delivery this long after it was requested",
    "breaker_threshold": "consecutive failures that open a channel's circuit breaker",
    "breaker_cooldown_seconds": "how long an open breaker rests before one trial post",
}

OUTSIDE = [
    (
        "channel credentials",
        "named per channel by `credentials_env` in `channels.yaml` (e.g. `MASTODON_NORTH_TOKEN`)",
        "publisher",
        "never in a file, never logged; a missing one fails that channel's deliveries only",
    ),
    (
        "`TEST_DATABASE_URL`",
        "unset (SQLite per test)",
        "tests",
        "a PostgreSQL server for the suite: each test gets a database of its own there "
        "(`make test-postgres`)",
    ),
]


def settings_classes() -> dict[str, type[CommonSettings]]:
    """Each registered service's settings class, in start-up order."""
    return {name: s.settings_class for name, s in registered_services().items()}


def rows() -> list[tuple[str, str, str, str]]:
    """(variable, default, read by, meaning), common settings first, then by service."""
    classes = settings_classes()
    names = list(CommonSettings.model_fields)
    for cls in classes.values():
        names += [n for n in cls.model_fields if n not in names]
    table = []
    for name in names:
        readers = [s for s, cls in classes.items() if name in cls.model_fields]
        fields = [classes[s].model_fields[name] for s in readers]
        defaults = [_default(f) for f in fields]
        if len(set(defaults)) == 1:
            default = defaults[0]
        else:
            default = " / ".join(f"{d} ({s})" for s, d in zip(readers, defaults, strict=True))
        read_by = "all" if len(readers) == len(classes) else ", ".join(readers)
        table.append((_variable(name, fields[0]), default, read_by, _meaning(name, fields[0])))
    return table


def _variable(name: str, field: FieldInfo) -> str:
    alias = field.validation_alias if isinstance(field.validation_alias, str) else None
    return f"`{(alias or name).upper()}`"


def _default(field: FieldInfo) -> str:
    value: Any = field.get_default(call_default_factory=True, validated_data={})
    if value is PydanticUndefined:
        return "required"
    if value is None:
        return "unset"
    if isinstance(value, SecretStr):
        return "(secret)"
    if isinstance(value, Enum):
        value = value.value
    if isinstance(value, Path):
        value = str(value)
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return f"`{value}`"


def _meaning(name: str, field: FieldInfo) -> str:
    text = field.description or MEANINGS.get(name, "")
    annotation = str(field.annotation)
    if "SecretStr" in annotation:
        text = (text + "; secret: never logged").lstrip("; ")
    bounds = [
        f"{symbol} {getattr(m, attr)}"
        for m in field.metadata
        for attr, symbol in (("ge", "≥"), ("gt", ">"), ("le", "≤"), ("lt", "<"))
        if getattr(m, attr, None) is not None
    ]
    if bounds:
        text += f" ({', '.join(bounds)})"
    return text.replace("|", "\\|")


def render() -> str:
    lines = [
        "# Configuration",
        "",
        "<!-- Generated by `python -m shared.devtools.configdoc` (make docs) from the settings "
        "classes in shared/runtime/settings.py and services/*/settings.py; "
        "do not edit by hand. -->",
        "",
        "Every service reads environment variables (no prefix, case-insensitive); each reads "
        "the ones its settings class declares. Values are validated at start: a bad one stops "
        "the service with a message naming it.",
        "",
        "| variable | default | read by | meaning |",
        "| --- | --- | --- | --- |",
    ]
    lines += [f"| {v} | {d} | {r} | {m} |" for v, d, r, m in rows()]
    lines += [
        "",
        "Outside the settings classes:",
        "",
        "| variable | default | read by | meaning |",
        "| --- | --- | --- | --- |",
    ]
    lines += [f"| {v} | {d} | {r} | {m} |" for v, d, r, m in OUTSIDE]
    return "\n".join(lines) + "\n"


def main() -> int:
    print(render(), end="")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
