"""Read models for the status page and the delivery API (keyword-only, read-only queries)."""

from collections.abc import Mapping

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


async def status_board(
    session: AsyncSession, *, title: str, public_base_url: str, incidents: int
) -> StatusBoard:
    """The `incidents` most recently updated incidents, open ones first."""
    last_update = func.max(StatusEntry.published_at)
    recent = (
        select(StatusEntry.incident_id)
        .group_by(StatusEntry.incident_id)
        .order_by(last_update.desc())
        .limit(incidents)
    )
    entries = (
        await session.scalars(
            select(StatusEntry)
            .where(StatusEntry.incident_id.in_(recent.scalar_subquery()))
            .order_by(StatusEntry.published_at.desc(), StatusEntry.id.desc())
        )
    ).all()
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
            first_published_at=rows[-1].published_at,
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


async def find_deliveries(
    session: AsyncSession, *, message_id: str | None, incident_id: str | None, limit: int
) -> list[DeliveryOut]:
    """Newest first, narrowed by whichever filters are given."""
    query = select(Delivery).order_by(Delivery.updated_at.desc()).limit(limit)
    if message_id is not None:
        query = query.where(Delivery.message_id == message_id)
    if incident_id is not None:
        query = query.where(Delivery.incident_id == incident_id)
    return [DeliveryOut.model_validate(row) for row in (await session.scalars(query)).all()]


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
