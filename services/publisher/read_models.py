"""Read models for the status page and the delivery API (keyword-only, read-only queries)."""

from collections.abc import Mapping
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from services.publisher.breaker import Breaker
from services.publisher.channels import ChannelRegistry
from services.publisher.channels.platforms.statuspage import status_page_url
from services.publisher.models import ChannelPause, Delivery, DeliveryState, StatusEntry
from services.publisher.schemas import (
    ChannelHealth,
    DeliveryOut,
    IncidentOut,
    StatusBoard,
    StatusUpdateOut,
)
from shared.contract.events import IncidentStatus, Severity, utcnow
from shared.web.paging import SortKey, fetch_page


async def status_board(
    session: AsyncSession, *, title: str, public_base_url: str, incidents: int, updates: int
) -> StatusBoard:
    """The `incidents` most recently updated incidents, open ones first, each with its
    `updates` newest updates (an incident's list grows with every update it gets)."""
    last_update = func.max(StatusEntry.published_at)
    recent = (
        select(StatusEntry.incident_id)
        .group_by(StatusEntry.incident_id)
        .order_by(last_update.desc())
        .limit(incidents)
        .scalar_subquery()
    )
    newest_first = (StatusEntry.published_at.desc(), StatusEntry.id.desc())
    rank = func.row_number().over(partition_by=StatusEntry.incident_id, order_by=newest_first)
    ranked = (
        select(StatusEntry.id, rank.label("n")).where(StatusEntry.incident_id.in_(recent))
    ).subquery()
    entries = (
        await session.scalars(
            select(StatusEntry)
            .join(ranked, ranked.c.id == StatusEntry.id)
            .where(ranked.c.n <= updates)
            .order_by(*newest_first)
        )
    ).all()
    first_query = (
        select(StatusEntry.incident_id, func.min(StatusEntry.published_at))
        .where(StatusEntry.incident_id.in_(recent))
        .group_by(StatusEntry.incident_id)
    )
    first_published: dict[str, datetime] = {
        str(row[0]): row[1] for row in (await session.execute(first_query)).all()
    }
    grouped: dict[str, list[StatusEntry]] = {}
    for entry in entries:
        grouped.setdefault(entry.incident_id, []).append(entry)
    board = [
        IncidentOut(
            incident_id=incident_id,
            title=rows[0].title,
            severity=Severity(rows[0].severity),
            status=IncidentStatus(rows[0].status),
            url=status_page_url(public_base_url, incident_id),
            first_published_at=first_published[incident_id],
            updated_at=rows[0].published_at,
            updates=[StatusUpdateOut.model_validate(row) for row in rows],
        )
        for incident_id, rows in grouped.items()
    ]
    board.sort(key=lambda incident: incident.status is IncidentStatus.RESOLVED)
    return StatusBoard(
        title=title,
        url=status_page_url(public_base_url),
        operational=all(i.status is IncidentStatus.RESOLVED for i in board),
        generated_at=utcnow(),
        incidents=board,
    )


DELIVERY_ORDER = [
    SortKey(Delivery.updated_at, lambda d: d.updated_at, datetime, descending=True),
    SortKey(Delivery.message_id, lambda d: d.message_id, descending=True),
]


async def find_deliveries(
    session: AsyncSession,
    *,
    message_id: str | None,
    incident_id: str | None,
    limit: int,
    cursor: str | None = None,
) -> tuple[list[DeliveryOut], str | None]:
    """Newest first, narrowed by whichever filters are given; a page and the next cursor."""
    query = select(Delivery)
    if message_id is not None:
        query = query.where(Delivery.message_id == message_id)
    if incident_id is not None:
        query = query.where(Delivery.incident_id == incident_id)
    rows, following = await fetch_page(session, query, DELIVERY_ORDER, limit=limit, cursor=cursor)
    return [DeliveryOut.model_validate(row) for row in rows], following


async def channel_health(
    session: AsyncSession, *, channels: ChannelRegistry, breakers: Mapping[str, Breaker]
) -> list[ChannelHealth]:
    """Each configured channel: pause state, delivery counts by outcome, breaker state."""
    counts: dict[tuple[str, str], int] = {
        (channel_id, state): int(count)
        for channel_id, state, count in (
            await session.execute(
                select(Delivery.channel_id, Delivery.state, func.count()).group_by(
                    Delivery.channel_id, Delivery.state
                )
            )
        ).all()
    }
    pauses = {row.channel_id: row for row in (await session.scalars(select(ChannelPause))).all()}
    health = []
    for channel in channels.channels:
        pause = pauses.get(channel.id)
        breaker = breakers.get(channel.id) or Breaker()
        health.append(
            ChannelHealth(
                id=channel.id,
                type=channel.type,
                name=channel.name,
                marketing=channel.marketing,
                adapter=channels.has_adapter(channel.id),
                paused=bool(pause and pause.paused),
                pause_reason=pause.reason if pause and pause.paused else None,
                published=counts.get((channel.id, DeliveryState.PUBLISHED.value), 0),
                failed=counts.get((channel.id, DeliveryState.FAILED.value), 0),
                held=counts.get((channel.id, DeliveryState.HELD.value), 0),
                queued=counts.get((channel.id, DeliveryState.PENDING.value), 0)
                + counts.get((channel.id, DeliveryState.SENDING.value), 0),
                breaker=breaker.state,
                consecutive_failures=breaker.consecutive_failures,
                last_success_at=breaker.last_success_at,
                last_failure_at=breaker.last_failure_at,
                last_error=breaker.last_error,
            )
        )
    return health
