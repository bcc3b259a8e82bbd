"""Alembic migrations, one history per service, on SQLite and PostgreSQL alike.

Each service keeps its history in `services/<service>/migrations/` (a thin `env.py` that
calls `run_env` with the service's metadata; the shared inbox and outbox are added here).
A service upgrades its database to `head` in its lifespan, so a fresh database and an old
one both end up on the schema its code expects. On PostgreSQL the upgrade holds an advisory
lock, so replicas starting together migrate once; SQLite's `BEGIN IMMEDIATE` does the same.
Services are found through their registrations (`shared.runtime.registry`); the command line
is `python -m shared.devtools.migrate`.
"""

import asyncio
from pathlib import Path
from typing import Any, Literal

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.migration import MigrationContext
from sqlalchemy import Connection, MetaData
from sqlalchemy.types import TypeDecorator

from shared.runtime import registry
from shared.runtime.database import SharedBase, create_engine_for

# One lock id for every Plan B migration; services have their own databases anyway.
ADVISORY_LOCK_ID = 0x706C616E62  # "planb"


def script_location(service: str) -> Path:
    return registry.service(service).migrations_dir


def alembic_config(service: str, url: str | None = None) -> Config:
    """An Alembic `Config` built in code (no alembic.ini): where the history is, which URL."""
    config = Config()
    config.set_main_option("script_location", str(script_location(service)))
    config.set_main_option("path_separator", "os")
    if url is not None:
        config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    config.set_main_option("file_template", "%%(year)d%%(month).2d%%(day).2d_%%(rev)s_%%(slug)s")
    # new revisions come out lint-clean
    config.set_section_option("post_write_hooks", "hooks", "ruff_format, ruff_fix")
    config.set_section_option("post_write_hooks", "ruff_fix.type", "module")
    config.set_section_option("post_write_hooks", "ruff_fix.module", "ruff")
    config.set_section_option(
        "post_write_hooks", "ruff_fix.options", "check --fix --quiet REVISION_SCRIPT_FILENAME"
    )
    config.set_section_option("post_write_hooks", "ruff_format.type", "module")
    config.set_section_option("post_write_hooks", "ruff_format.module", "ruff")
    config.set_section_option(
        "post_write_hooks", "ruff_format.options", "format --quiet REVISION_SCRIPT_FILENAME"
    )
    config.attributes["service"] = service
    return config


def service_metadata(service: str) -> list[MetaData]:
    """The tables a service's history must produce: its own and the shared inbox/outbox."""
    return [SharedBase.metadata, registry.service(service).metadata]


# --- env.py ------------------------------------------------------------------------------


def run_env(*metadatas: MetaData) -> None:
    """The body of every service's `env.py`: migrate on the connection we were handed, or
    open one from `sqlalchemy.url` (a plain `alembic` command line)."""
    from alembic import context

    target = [SharedBase.metadata, *metadatas]
    connection = context.config.attributes.get("connection")
    if connection is not None:
        _run_on(connection, target)
        return
    url = context.config.get_main_option("sqlalchemy.url")
    if not url:
        raise RuntimeError("no database: set sqlalchemy.url or pass a connection")
    if context.is_offline_mode():
        context.configure(url=url, target_metadata=target, render_as_batch=True)
        with context.begin_transaction():
            context.run_migrations()
        return
    asyncio.run(_run_online(url, target))


def _render_item(kind: str, obj: Any, _context: Any) -> str | Literal[False]:
    """Write a column type as what the database stores (`UTCDateTime` is `DateTime` with a
    time zone), so a revision never imports application code that may change later."""
    if kind == "type" and isinstance(obj, TypeDecorator):
        return f"sa.{obj.impl!r}"
    return False


async def _run_online(url: str, target: list[MetaData]) -> None:
    engine = create_engine_for(url, migrations=True)
    try:
        async with engine.begin() as conn:
            await conn.run_sync(_run_on, target)
    finally:
        await engine.dispose()


def _run_on(connection: Connection, target: list[MetaData]) -> None:
    from alembic import context

    # batch mode: SQLite rebuilds a table for ALTERs it lacks; PostgreSQL just ALTERs.
    context.configure(
        connection=connection,
        target_metadata=target,
        render_as_batch=True,
        render_item=_render_item,
    )
    with context.begin_transaction():
        if connection.dialect.name == "postgresql":
            connection.exec_driver_sql(f"SELECT pg_advisory_xact_lock({ADVISORY_LOCK_ID})")
        context.run_migrations()


# --- what services and tools call --------------------------------------------------------


async def upgrade(url: str, service: str, revision: str = "head") -> None:
    """Bring `url`'s schema to `revision` (a service's lifespan does this before anything)."""
    await _with_connection(url, service, command.upgrade, revision)


async def downgrade(url: str, service: str, revision: str) -> None:
    await _with_connection(url, service, command.downgrade, revision)


async def differences(url: str, service: str) -> list[Any]:
    """What autogenerate would write for `url` (at head): empty when models and history agree."""
    engine = create_engine_for(url, migrations=True)
    target = service_metadata(service)
    try:
        async with engine.connect() as conn:
            return await conn.run_sync(
                lambda sync: compare_metadata(
                    MigrationContext.configure(sync, opts={"render_as_batch": True}),
                    # alembic annotates one MetaData; its AutogenContext takes a sequence too
                    target,  # type: ignore[arg-type]
                )
            )
    finally:
        await engine.dispose()


async def _with_connection(url: str, service: str, action: Any, *args: Any) -> None:
    config = alembic_config(service, url)
    engine = create_engine_for(url, migrations=True)
    try:
        async with engine.begin() as conn:

            def run(sync: Connection) -> None:
                config.attributes["connection"] = sync
                action(config, *args)

            await conn.run_sync(run)
    finally:
        await engine.dispose()
