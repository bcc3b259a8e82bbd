"""Pausing and releasing marketing on channels: by an incident (policy) or by a person.

A channel is paused while any of its `channel_pauses` rows is active, one row per incident
(or manual pause), so two overlapping incidents keep it paused until both are over. Pausing is
set-based: one statement holds every scheduled post on the paused channels, however many
(an incident's pause: after it commits, holds.py), one multi-row INSERT writes the pause
rows and one the audit entries (1,000 channels: ORM objects cost more than the rest of the
pause).
Each newly paused channel gets a `channel paused` record on `planb.outbound` (key = channel
id), the fence the publisher keeps: no marketing post it handles after that record goes out.
"""

from datetime import datetime
from typing import Any, NamedTuple

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from services.router.audit import Audited, record_audit, record_audits
from services.router.context import SOURCE, RouterContext
from services.router.holds import hold_scheduled_posts
from services.router.models import ChannelPause
from shared.contract.events import ChannelPaused, ChannelResumed, CloudEvent, derived_id
from shared.runtime.database import stage_insert, write_staged


async def active_pauses(
    session: AsyncSession, channel_ids: list[str] | None = None
) -> dict[str, list[ChannelPause]]:
    """Active pauses by channel (of `channel_ids`, or all)."""
    query = select(ChannelPause).where(ChannelPause.released_at.is_(None))
    if channel_ids is not None:
        query = query.where(ChannelPause.channel_id.in_(channel_ids))
    by_channel: dict[str, list[ChannelPause]] = {}
    for pause in await session.scalars(query.order_by(ChannelPause.id)):
        by_channel.setdefault(pause.channel_id, []).append(pause)
    return by_channel


class Paused(NamedTuple):
    channels: list[str]
    """Channels newly paused by this cause."""
    held_posts: int
    """Scheduled posts the pause held on them."""


async def pause_channels(
    ctx: RouterContext,
    session: AsyncSession,
    channel_ids: list[str],
    *,
    incident_id: str | None,
    reason: str,
    actor: str,
    cause_id: str,
    now: datetime,
    hold_later: bool = False,
    first: bool = False,
) -> Paused:
    """Pause `channel_ids` for this incident (or person): those newly paused by it, and how
    many scheduled posts that held; `hold_later`: none now, the holding job holds them once
    this commits (holds.py), so the pause's records don't wait for it; `first`: the
    incident was just raised, so it pauses nothing yet (no query for its pauses, and no
    flush of what the session holds before it).

    A channel this incident already pauses is left alone; a manual pause always adds a row.
    """
    if incident_id is not None and not first:
        await write_staged(session)  # pauses staged earlier in this transaction count too
        already = set(
            (
                await session.scalars(
                    select(ChannelPause.channel_id).where(
                        ChannelPause.incident_id == incident_id,
                        ChannelPause.released_at.is_(None),
                    )
                )
            ).all()
        )
        channel_ids = [c for c in channel_ids if c not in already]
    if not channel_ids:
        return Paused([], 0)
    held = 0
    if not hold_later:
        held = await hold_scheduled_posts(session, channel_ids, reason=f"paused: {reason}", now=now)
    # staged, not executed: an INSERT now would flush the incident first, and its draft
    # request after as an UPDATE (two statements more on the pause's path)
    stage_insert(
        session,
        ChannelPause,
        pause_rows(channel_ids, incident_id=incident_id, reason=reason, actor=actor, now=now),
    )
    announce_pauses(
        ctx,
        session,
        channel_ids,
        incident_id=incident_id,
        reason=reason,
        actor=actor,
        cause_id=cause_id,
        now=now,
    )
    if hold_later:  # asked after the fences: the commit wakes the relay first
        ctx.holds.defer(session, channel_ids, reason=reason)
    return Paused(channel_ids, held)


def pause_rows(
    channel_ids: list[str], *, incident_id: str | None, reason: str, actor: str, now: datetime
) -> list[dict[str, Any]]:
    """The `channel_pauses` rows pausing `channel_ids` for this cause."""
    pause = {"incident_id": incident_id, "reason": reason, "paused_by": actor, "paused_at": now}
    return [{**pause, "channel_id": c, "released_at": None} for c in channel_ids]


def announce_pauses(
    ctx: RouterContext,
    session: AsyncSession,
    channel_ids: list[str],
    *,
    incident_id: str | None,
    reason: str,
    actor: str,
    cause_id: str,
    now: datetime,
) -> None:
    """Stage each pause's `channel paused` fence on planb.outbound, then its audit entries."""
    for channel_id in channel_ids:  # the fences first: the relay sends them in id order
        record = ChannelPaused(
            channel_id=channel_id, incident_id=incident_id, reason=reason, paused_at=now
        )
        ctx.emit(
            session,
            topic=ctx.topics.outbound,
            key=channel_id,
            event=CloudEvent.wrap(
                record,
                source=SOURCE,
                subject=channel_id,
                id=derived_id(cause_id, "pause", channel_id),
            ),
        )
    details = {"incident_id": incident_id, "reason": reason}
    record_audits(
        ctx,
        session,
        [Audited(channel_id, details) for channel_id in channel_ids],
        actor=actor,
        action="channel.paused",
        entity_type="channel",
    )


async def release_pauses(
    ctx: RouterContext,
    session: AsyncSession,
    *,
    incident_id: str | None = None,
    channel_ids: list[str] | None = None,
    actor: str,
    cause_id: str,
    now: datetime,
) -> list[str]:
    """Release an incident's pauses (or the manual pauses of `channel_ids`); returns the
    channels no pause holds any more, each told to the publisher with `channel resumed`.

    Held posts stay held: they wait for a duty manager's decision (or the policy's cool-down).
    """
    statement = update(ChannelPause).where(ChannelPause.released_at.is_(None))
    if incident_id is not None:
        statement = statement.where(ChannelPause.incident_id == incident_id)
    else:
        statement = statement.where(
            ChannelPause.incident_id.is_(None), ChannelPause.channel_id.in_(channel_ids or [])
        )
    released = (
        await session.scalars(
            statement.values(released_at=now, released_by=actor)
            .returning(ChannelPause.channel_id)
            .execution_options(synchronize_session=False)
        )
    ).all()
    still_held = await active_pauses(session, sorted(set(released)))
    resumed = [c for c in sorted(set(released)) if c not in still_held]
    for channel_id in resumed:
        ctx.emit(
            session,
            topic=ctx.topics.outbound,
            key=channel_id,
            event=CloudEvent.wrap(
                ChannelResumed(channel_id=channel_id, incident_id=incident_id, resumed_at=now),
                source=SOURCE,
                subject=channel_id,
                id=derived_id(cause_id, "resume", channel_id),
            ),
        )
        record_audit(
            ctx,
            session,
            actor=actor,
            action="channel.resumed",
            entity_type="channel",
            entity_id=channel_id,
            details={"incident_id": incident_id},
        )
    return resumed


async def last_release(session: AsyncSession, channel_id: str) -> datetime | None:
    """When the channel's most recent pause was released (the start of a cool-down)."""
    return await session.scalar(
        select(func.max(ChannelPause.released_at)).where(ChannelPause.channel_id == channel_id)
    )
