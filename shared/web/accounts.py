"""Personal API tokens: a person's name, their roles, an optional expiry, digests only.

The tables live in the router's database (its migrations create them) and every service
reads them there (`ACCOUNTS_DATABASE_URL`, by default the router's local SQLite file), so
every replica of every service sees an issue, a rotation or a revocation with its next
request: there is no cache to wait out. `account_events` is the token lifecycle's outbox
for the audit log: whoever changes a token (the admin API, `planb tokens`) writes its event
in the same transaction, and the router moves it into its audit log and onto `planb.audit`.
"""

import asyncio
import logging
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, ClassVar

from sqlalchemy import JSON, String, select, update
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError, OperationalError, ProgrammingError
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from shared.contract.events import utcnow
from shared.runtime.database import Database, UTCDateTime
from shared.web.auth import Principal, Role, digest
from shared.web.problems import Problem

log = logging.getLogger(__name__)

LAST_USED_RESOLUTION = timedelta(minutes=1)
"""How stale `last_used_at` may be: uses are noted in memory and written this often, by a
loop, never by the request (a write there would queue every request behind the router
database's writer, and deadlock a request already holding it)."""


class AccountsBase(DeclarativeBase):
    """The accounts' tables; the router's `Base` shares this metadata, so its migrations
    create them."""

    type_annotation_map: ClassVar[dict[Any, Any]] = {
        datetime: UTCDateTime,
        dict[str, Any]: JSON,
        list[str]: JSON,
    }


class ApiToken(AccountsBase):
    """One personal token. Revoked and rotated-away rows stay, for the record."""

    __tablename__ = "api_tokens"
    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(100), index=True)
    live_name: Mapped[str | None] = mapped_column(
        String(100),
        unique=True,
        doc="The name while the token is live, NULL once revoked: one live token per person",
    )
    roles: Mapped[list[str]]
    sha256: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime]
    created_by: Mapped[str] = mapped_column(String(100))
    expires_at: Mapped[datetime | None]
    last_used_at: Mapped[datetime | None]
    revoked_at: Mapped[datetime | None]
    revoked_by: Mapped[str | None] = mapped_column(String(100))

    def principal(self) -> Principal:
        return Principal(name=self.name, roles=frozenset(Role(r) for r in self.roles))

    def live(self, now: datetime) -> bool:
        return self.revoked_at is None and (self.expires_at is None or now < self.expires_at)


class AccountEvent(AccountsBase):
    """A token issued, rotated or revoked, waiting for the router to put it in the audit log."""

    __tablename__ = "account_events"
    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    at: Mapped[datetime]
    actor: Mapped[str] = mapped_column(String(100))
    action: Mapped[str] = mapped_column(String(40))
    name: Mapped[str] = mapped_column(String(100))
    details: Mapped[dict[str, Any]]


async def live_token(session: Any, presented_digest: str, now: datetime) -> ApiToken | None:
    """The live token with this digest (not revoked, not expired), if any."""
    row: ApiToken | None = (
        await session.execute(select(ApiToken).where(ApiToken.sha256 == presented_digest))
    ).scalar_one_or_none()
    return row if row is not None and row.live(now) else None


def _no_tables(exc: Exception) -> bool:
    """The accounts' tables do not exist (SQLite says so; PostgreSQL: undefined table)."""
    if isinstance(exc, ProgrammingError):
        return True
    return isinstance(exc, OperationalError) and "no such table" in str(exc)


class Accounts:
    """A service's view of the personal tokens: one indexed read per request that presents
    a token the tokens file does not know."""

    def __init__(self, url: str, *, database: Database | None = None) -> None:
        self.url = url
        self._database = database
        self._owned = database is None
        self._used: dict[int, datetime] = {}
        self.flushed_at: datetime | None = None

    def _missing_file(self) -> bool:
        """An SQLite accounts file that does not exist yet (the router never ran): no tokens,
        and no empty file made in its place."""
        parsed = make_url(self.url)
        if parsed.get_backend_name() != "sqlite" or not parsed.database:
            return False
        return parsed.database != ":memory:" and not Path(parsed.database).exists()

    def database(self) -> Database | None:
        if self._database is None and not self._missing_file():
            self._database = Database(self.url)
        return self._database

    async def authenticate(self, token: str) -> Principal | None:
        database = self.database()
        if database is None:
            return None
        now = utcnow()
        try:
            async with database.reader() as session:
                row = await live_token(session, digest(token), now)
        except (DBAPIError, OSError) as exc:
            if _no_tables(exc):  # the router has not migrated yet: nobody is known, a 401
                log.warning("no personal tokens at %s yet: %s", self.url, exc)
                return None
            log.warning("personal tokens unreadable at %s: %s", self.url, exc)
            raise Problem(
                503,
                "Accounts unavailable",
                "The personal tokens cannot be read just now; try again shortly.",
                headers={"Retry-After": "5"},
            ) from None
        if row is None:
            return None
        if row.last_used_at is None or now - row.last_used_at >= LAST_USED_RESOLUTION:
            self._used[row.id] = now
        return row.principal()

    async def flush(self) -> int:
        """Write the uses noted since the last flush; how many tokens were touched."""
        used, self._used = self._used, {}
        database = self.database()
        if used and database is not None:
            try:
                async with database.transaction() as session:
                    for token_id, at in used.items():
                        await session.execute(
                            update(ApiToken).where(ApiToken.id == token_id).values(last_used_at=at)
                        )
            except DBAPIError:
                self._used = used | self._used  # next round, then
                raise
        self.flushed_at = utcnow()
        return len(used)

    async def record_uses(self) -> None:
        """The loop (supervised by the service) that writes `last_used_at`."""
        while True:
            await asyncio.sleep(LAST_USED_RESOLUTION.total_seconds())
            try:
                await self.flush()
            except DBAPIError as exc:  # the accounts' database away: not this loop's fault
                log.warning("token uses not recorded this round: %s", exc)

    async def last_flush(self) -> None:
        """At shutdown, before the database stops taking writes."""
        try:
            await self.flush()
        except DBAPIError as exc:
            log.warning("token uses not recorded at shutdown: %s", exc)

    async def close(self) -> None:
        if self._owned and self._database is not None:
            await self._database.dispose()
