"""Threads: where an incident's thread stands on each channel (its first post and its
latest), kept in the database so follow-ups thread correctly across restarts."""

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from services.publisher.channels.protocol import Posted, ThreadRef
from services.publisher.models import ChannelThread
from shared.contract.events import MessageKind, PublishRequested, utcnow


async def thread_for(session: AsyncSession, message: PublishRequested) -> ThreadRef | None:
    if message.incident is None or message.kind is not MessageKind.STATUS_UPDATE:
        return None
    thread = await session.get(ChannelThread, (message.incident.incident_id, message.channel_id))
    return None if thread is None else _ref(thread)


async def threads_for(
    session: AsyncSession, messages: list[PublishRequested]
) -> dict[tuple[str, str], ThreadRef]:
    """`thread_for` of many status updates in one query, by (incident id, channel id)."""
    incidents = {m.incident.incident_id for m in messages if m.incident is not None}
    if not incidents:
        return {}
    channels = {m.channel_id for m in messages}
    query = select(ChannelThread).where(
        ChannelThread.incident_id.in_(incidents), ChannelThread.channel_id.in_(channels)
    )
    return {(t.incident_id, t.channel_id): _ref(t) for t in await session.scalars(query)}


def _ref(thread: ChannelThread) -> ThreadRef:
    return ThreadRef(
        root_id=thread.root_id,
        root_cid=thread.root_cid,
        parent_id=thread.parent_id,
        parent_cid=thread.parent_cid,
    )


_ABSENT = "planb_threads_absent"


async def read_threads(session: AsyncSession, messages: list[PublishRequested]) -> None:
    """The threads of `messages` in one query, so that `advance_thread` reads none of them
    again: those found are in the session, those missing are noted in it."""
    found = await threads_for(session, messages)
    absent: set[tuple[str, str]] = session.info.setdefault(_ABSENT, set())
    for message in messages:
        if message.incident is not None:
            key = (message.incident.incident_id, message.channel_id)
            if key not in found:
                absent.add(key)


async def advance_thread(session: AsyncSession, message: PublishRequested, posted: Posted) -> None:
    """The incident's thread on this channel now continues under this post."""
    if (
        message.incident is None
        or message.kind is not MessageKind.STATUS_UPDATE
        or posted.thread is None
    ):
        return
    key = (message.incident.incident_id, message.channel_id)
    absent: set[tuple[str, str]] = session.info.get(_ABSENT, set())
    thread = None if key in absent else await session.get(ChannelThread, key)
    absent.discard(key)
    if thread is None:
        thread = ChannelThread(incident_id=key[0], channel_id=key[1])
        session.add(thread)
    thread.root_id, thread.root_cid = posted.thread.root_id, posted.thread.root_cid
    thread.parent_id, thread.parent_cid = posted.thread.parent_id, posted.thread.parent_cid
    thread.updated_at = utcnow()
