"""Pages for every list that grows: a `limit` with a cap and an opaque `cursor`.

The body stays the list it was; the next page's address comes in a `Link: <…>; rel="next"`
header (RFC 8288), absent on the last page. Keyset, not offset: a page starts after the
last row's sort key, so page 1,000 costs what page 1 does and rows added meanwhile don't
shift what follows. A row whose sort key changes between two pages (a draft that becomes
overdue) may show twice or not at all; re-read from the first page for a consistent view.
"""

import json
from base64 import urlsafe_b64decode, urlsafe_b64encode
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any, TypeVar

from fastapi import Query, Request, Response
from sqlalchemy import ColumnElement, Select, and_, or_
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import InstrumentedAttribute

from shared.web.problems import Problem

T = TypeVar("T")

CursorParam = Annotated[
    str | None,
    Query(max_length=512, description="The next page: from the `Link: rel=next` header"),
]


@dataclass(frozen=True)
class SortKey:
    """One part of a list's order: the SQL expression, and how to read it off a row."""

    column: ColumnElement[Any] | InstrumentedAttribute[Any]
    of: Callable[[Any], Any]
    kind: type[str | int | datetime] = str
    """What its values are (str, int or datetime): a cursor carrying another is refused."""
    descending: bool = False


def _after(keys: Sequence[SortKey], values: Sequence[Any]) -> ColumnElement[bool]:
    """Rows that come after the row whose sort key is `values`."""
    key, value = keys[0], values[0]
    beyond: ColumnElement[bool] = key.column < value if key.descending else key.column > value
    if len(keys) == 1:
        return beyond
    return or_(beyond, and_(key.column == value, _after(keys[1:], values[1:])))


def encode_cursor(values: Sequence[Any]) -> str:
    tagged = [["t", v.isoformat()] if isinstance(v, datetime) else ["v", v] for v in values]
    return urlsafe_b64encode(json.dumps(tagged).encode()).decode().rstrip("=")


def decode_cursor(cursor: str, keys: Sequence[SortKey]) -> list[Any]:
    """The sort key a cursor carries; a 400 problem for one this list did not give out."""
    invalid = Problem(400, "Invalid cursor", "Use the cursor a page's Link header gave.")
    try:
        tagged = json.loads(urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
        values = [datetime.fromisoformat(v) if tag == "t" else v for tag, v in tagged]
    except (ValueError, TypeError) as exc:
        raise invalid from exc
    if len(values) != len(keys):
        raise invalid
    if not all(_fits(value, key.kind) for value, key in zip(values, keys, strict=True)):
        raise invalid
    return values


def _fits(value: Any, kind: type[str | int | datetime]) -> bool:
    if kind is int:  # what a database integer holds, and not a bool
        return type(value) is int and -(2**63) <= value < 2**63
    if kind is datetime:
        return isinstance(value, datetime) and value.tzinfo is not None
    return isinstance(value, str) and "\x00" not in value  # PostgreSQL's text holds no NUL


async def fetch_page(
    session: AsyncSession,
    query: Select[T],
    keys: Sequence[SortKey],
    *,
    limit: int,
    cursor: str | None,
) -> tuple[list[T], str | None]:
    """Up to `limit` rows of `query` in the keys' order after `cursor`, and the next cursor
    (None on the last page)."""
    if cursor is not None:
        query = query.where(_after(keys, decode_cursor(cursor, keys)))
    order = [k.column.desc() if k.descending else k.column.asc() for k in keys]
    rows = list((await session.scalars(query.order_by(*order).limit(limit + 1))).all())
    if len(rows) <= limit:
        return rows, None
    last = rows[limit - 1]
    return rows[:limit], encode_cursor([key.of(last) for key in keys])


def link_next(request: Request, response: Response, cursor: str | None) -> None:
    """`Link: <same path and query, this cursor>; rel="next"` when there is a next page."""
    if cursor is not None:
        url = request.url.include_query_params(cursor=cursor)
        response.headers["Link"] = f'<{url.path}?{url.query}>; rel="next"'
