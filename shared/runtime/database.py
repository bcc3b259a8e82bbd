"""Async database access: one engine per service, SQLite by default, PostgreSQL by URL.

The inbox (handled event ids) and the outbox (events waiting for Kafka) live here because
every service needs them in the same transaction as its own state changes.
"""

import asyncio
import contextlib
import hashlib
from collections.abc import AsyncIterator, Callable, Iterable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import DateTime, Integer, LargeBinary, MetaData, String, Table, event, insert, text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, SessionTransaction, mapped_column
from sqlalchemy.types import TypeDecorator

from shared.contract.events import utcnow
from shared.runtime.private_files import private_database_file
from shared.runtime.wakeup import wait_for_wakeup

READ_ONLY = "planb_read_only"


class UTCDateTime(TypeDecorator[datetime]):
    """Timestamps stored as UTC and always read back timezone-aware (SQLite drops offsets)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime refused: store UTC-aware timestamps")
        return value.astimezone(tz=utcnow().tzinfo)

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None or value.tzinfo is not None:
            return value
        return value.replace(tzinfo=utcnow().tzinfo)


class SharedBase(DeclarativeBase):
    """Tables every service has: the inbox and the outbox."""


class InboxEntry(SharedBase):
    """An event id this service has handled; inserting it twice fails, so redeliveries no-op."""

    __tablename__ = "inbox"
    event_id: Mapped[str] = mapped_column(String(200), primary_key=True)
    topic: Mapped[str] = mapped_column(String(255))
    handled_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class OutboxEntry(SharedBase):
    """A record committed with the state change that caused it, waiting to be sent to Kafka."""

    __tablename__ = "outbox"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    topic: Mapped[str] = mapped_column(String(255))
    key: Mapped[str] = mapped_column(String(255))
    value: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


async def lock_key(session: AsyncSession, key: str) -> None:
    """Serialize transactions that work on `key` (e.g. "create this row if it is missing")
    until this one ends. PostgreSQL: a transaction-level advisory lock, since SELECT ... FOR
    UPDATE locks nothing while the row does not exist yet. SQLite: writers already take
    turns (BEGIN IMMEDIATE), so nothing to do."""
    if session.get_bind().dialect.name != "postgresql":
        return
    await session.execute(text("SELECT pg_advisory_xact_lock(:id)"), {"id": _lock_id(key)})


async def try_lock_key(session: AsyncSession, key: str) -> bool:
    """`lock_key` if no other transaction holds it, without waiting: False if one does. For
    a transaction that takes several keys in no set order, where waiting could deadlock."""
    if session.get_bind().dialect.name != "postgresql":
        return True
    query = text("SELECT pg_try_advisory_xact_lock(:id)")
    return bool(await session.scalar(query, {"id": _lock_id(key)}))


def _lock_id(key: str) -> int:
    return int.from_bytes(hashlib.sha256(key.encode()).digest()[:8], "big", signed=True)


# SQLAlchemy fires before_commit, after_commit and after_rollback at a savepoint's end too
# (`begin_nested`), so what a transaction stages is kept per session and handled when the
# root transaction ends; a savepoint that rolls back takes back what was staged inside it.
_PENDING = "planb_pending"
Into = Table | type[DeclarativeBase]


@dataclass
class _Pending:
    """Rows to insert just before the transaction commits and callbacks to call just after."""

    inserts: list[tuple[Into, dict[str, Any]]] = field(default_factory=list)
    callbacks: list[Callable[[], None]] = field(default_factory=list)
    marks: dict[SessionTransaction, tuple[int, int]] = field(default_factory=dict)
    """How much was staged when each savepoint began."""


def stage_insert(session: AsyncSession, table: Into, rows: Iterable[dict[str, Any]]) -> None:
    """Insert `rows` into `table` just before the transaction commits: one multi-row INSERT
    per table for everything staged (an ORM object costs ~0.15 ms each on SQLite), in the
    order staged; nothing if the transaction, or the savepoint they were staged in, rolls
    back."""
    _pending(session).inserts.extend((table, row) for row in rows)


async def write_staged(session: AsyncSession) -> None:
    """Insert what is staged now, so the transaction's own queries see it (not in a savepoint)."""
    await session.run_sync(_write)


def after_commit(session: AsyncSession, callback: Callable[[], None]) -> None:
    """Call `callback` once the session's transaction commits (never if it rolls back, nor
    at a savepoint's release); a callback already waiting is not added twice."""
    callbacks = _pending(session).callbacks
    if callback not in callbacks:
        callbacks.append(callback)


def _pending(session: AsyncSession) -> _Pending:
    sync = session.sync_session
    pending: _Pending | None = sync.info.get(_PENDING)
    if pending is None:
        pending = sync.info[_PENDING] = _Pending()
        event.listen(sync, "after_transaction_create", _mark_savepoint)
        event.listen(sync, "before_commit", _insert_staged)
        event.listen(sync, "after_commit", _call_back)
        event.listen(sync, "after_soft_rollback", _take_back)
        event.listen(sync, "after_transaction_end", _forget)
        savepoint = sync.get_nested_transaction()
        while savepoint is not None and savepoint.nested:
            pending.marks[savepoint] = (0, 0)
            savepoint = savepoint.parent
    return pending


def _mark_savepoint(sync: Session, transaction: SessionTransaction) -> None:
    if transaction.nested:
        pending: _Pending = sync.info[_PENDING]
        pending.marks[transaction] = (len(pending.inserts), len(pending.callbacks))


def _insert_staged(sync: Session) -> None:
    if not sync.in_nested_transaction():  # a savepoint's release keeps it for the transaction
        _write(sync)


def _write(sync: Session) -> None:
    pending: _Pending | None = sync.info.get(_PENDING)
    if pending is None:  # nothing was ever staged in this session
        return
    assert not sync.in_nested_transaction(), "a savepoint could roll back rows staged before it"
    by_table: dict[Into, list[dict[str, Any]]] = {}
    for table, row in pending.inserts:
        by_table.setdefault(table, []).append(row)
    pending.inserts = []
    if by_table:
        sync.flush()  # rows staged may refer to ORM objects not yet flushed
    for table, rows in by_table.items():
        sync.execute(insert(table), rows)


def _call_back(sync: Session) -> None:
    if sync.in_nested_transaction():
        return
    pending: _Pending = sync.info[_PENDING]
    callbacks, pending.callbacks = pending.callbacks, []
    for callback in callbacks:
        callback()


def _take_back(sync: Session, transaction: SessionTransaction) -> None:
    pending: _Pending = sync.info[_PENDING]
    if (mark := pending.marks.pop(transaction, None)) is not None:
        del pending.inserts[mark[0] :]
        del pending.callbacks[mark[1] :]


def _forget(sync: Session, transaction: SessionTransaction) -> None:
    if transaction.parent is None:  # the root transaction ended: committed or not
        sync.info[_PENDING] = _Pending()


class Database:
    """Owns the engine and hands out sessions; created in a service's lifespan."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.is_sqlite = make_url(url).get_backend_name() == "sqlite"
        self.engine: AsyncEngine = create_engine_for(url)
        self._sessions = async_sessionmaker(self.engine, expire_on_commit=False)
        self._open = 0
        self._closing = False
        self._drained = asyncio.Event()
        self._writer: asyncio.Lock | contextlib.nullcontext[None] = (
            asyncio.Lock() if self.is_sqlite else contextlib.nullcontext()
        )
        self._readers = async_sessionmaker(
            self.engine.execution_options(**{READ_ONLY: True}), expire_on_commit=False
        )

    async def create_all(self, *metadatas: MetaData) -> None:
        """Create missing tables: a shortcut for tests; services migrate
        (`shared.runtime.migrations`)."""
        async with self.engine.begin() as conn:
            for metadata in (SharedBase.metadata, *metadatas):
                await conn.run_sync(metadata.create_all)

    @asynccontextmanager
    async def sessions(self) -> AsyncIterator[AsyncSession]:
        """A session for writing; none is handed out once `quiesce` has begun."""
        if self._closing:
            await asyncio.Event().wait()  # shutting down: the task is cancelled here, cleanly
        self._open += 1
        try:
            async with self._sessions() as session:
                yield session
        finally:
            self._open -= 1
            if self._open == 0:
                self._drained.set()

    async def quiesce(self, grace_seconds: float = 5.0) -> int:
        """Stop handing out write sessions and let those open finish (up to `grace_seconds`);
        returns how many were still open. Cancelling a task inside one instead can orphan a
        connection that goes on to take SQLite's write lock, which nobody then releases."""
        self._closing = True
        if self._open:
            self._drained.clear()
            await wait_for_wakeup(self._drained, grace_seconds)
        return self._open

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[AsyncSession]:
        """A session whose work commits on success and rolls back on any exception.

        On SQLite, this process's writers queue on an asyncio lock first: SQLite admits one
        writer, and its busy handler sleeps in growing steps (up to 100 ms) before trying
        again, while the lock hands over the moment the writer before commits."""
        async with self._writer, self.sessions() as session, session.begin():
            yield session

    @asynccontextmanager
    async def reader(self) -> AsyncIterator[AsyncSession]:
        """A session for reads only: on SQLite it doesn't queue behind writers."""
        async with self._readers() as session:
            yield session

    async def ping(self) -> None:
        async with self.engine.connect() as conn:
            await conn.execute(text("SELECT 1"))

    async def dispose(self) -> None:
        await self.engine.dispose()


def create_engine_for(url: str, *, migrations: bool = False) -> AsyncEngine:
    """An engine for `url`; on SQLite with the pragmas and `BEGIN IMMEDIATE` writers need.

    `migrations=True` leaves SQLite's foreign keys off, as its manual asks for schema
    changes: batch migrations rebuild a table by copying it, and with them on, dropping the
    old copy would cascade or fail. PostgreSQL engines are the same either way.
    """
    if make_url(url).get_backend_name() != "sqlite":
        return create_async_engine(url, pool_pre_ping=True)
    database = make_url(url).database
    if database and database != ":memory:":
        private_database_file(Path(database))
    # readers don't queue (only writers take turns), so a publisher's per-channel
    # dispatchers read at once: keep enough connections that none is opened per read
    engine = create_async_engine(url, connect_args={"timeout": 30}, pool_size=20)

    @event.listens_for(engine.sync_engine, "connect")
    def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
        cursor = dbapi_conn.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute(f"PRAGMA foreign_keys={'OFF' if migrations else 'ON'}")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.close()
        # Let SQLAlchemy's "begin" event issue BEGIN IMMEDIATE: a deferred transaction that
        # later writes can fail with "database is locked" instead of waiting its turn.
        dbapi_conn.isolation_level = None

    @event.listens_for(engine.sync_engine, "begin")
    def _begin(conn: Any) -> None:
        read_only = conn.get_execution_options().get(READ_ONLY, False)
        conn.exec_driver_sql("BEGIN" if read_only else "BEGIN IMMEDIATE")

    return engine
