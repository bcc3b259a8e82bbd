"""The router's gauges for the on-call questions ("is anything waiting for a duty manager?",
"why is this channel silent?"), read from its database by the metrics snapshot
(shared/runtime/metrics.py: refreshed by a loop, never queried by a scrape).

Labels are bounded: severities are four, causes two, channels those configured.
"""

from collections.abc import Sequence

from prometheus_client.core import GaugeMetricFamily, Metric
from sqlalchemy import func, select

from services.router.models import ChannelPause, Draft, Incident, MarketingPost
from shared.contract.channels import ChannelConfig
from shared.contract.events import Severity
from shared.runtime.database import Database
from shared.runtime.metrics import Source


def router_source(database: Database, channels: Sequence[ChannelConfig]) -> Source:
    async def families() -> list[Metric]:
        async with database.sessions() as session:
            drafts = (
                await session.execute(
                    select(Incident.severity, func.count(), func.count(Draft.overdue_at))
                    .join(Incident, Incident.id == Draft.incident_id)
                    .where(Draft.state == "pending")
                    .group_by(Incident.severity)
                )
            ).all()
            pauses = (
                await session.execute(
                    select(ChannelPause.channel_id, ChannelPause.incident_id.is_(None))
                    .where(ChannelPause.released_at.is_(None))
                    .distinct()
                )
            ).all()
            counted = await session.execute(
                select(MarketingPost.channel_id, func.count())
                .where(MarketingPost.state == "held")
                .group_by(MarketingPost.channel_id)
            )
            held: dict[str, int] = dict(counted.all())
        return [*_drafts(drafts), *_pauses(pauses, channels), _held(held, channels)]

    return families


def _drafts(rows: Sequence[tuple[str, int, int]]) -> list[Metric]:
    pending = GaugeMetricFamily(
        "planb_router_drafts_pending",
        "Drafts waiting for a duty manager's decision, by the incident's severity",
        labels=["incident_severity"],
    )
    overdue = GaugeMetricFamily(
        "planb_router_drafts_overdue",
        "Pending drafts past the policy's escalation limit, by the incident's severity",
        labels=["incident_severity"],
    )
    counts = {severity: (count, late) for severity, count, late in rows}
    for severity in Severity:
        count, late = counts.get(severity.value, (0, 0))
        pending.add_metric([severity.value], count)
        overdue.add_metric([severity.value], late)
    return [pending, overdue]


def _pauses(rows: Sequence[tuple[str, bool]], channels: Sequence[ChannelConfig]) -> list[Metric]:
    by_hand = {channel for channel, manual in rows if manual}
    by_incident = {channel for channel, manual in rows if not manual}
    paused = GaugeMetricFamily(
        "planb_router_channels_paused",
        "Channels paused, by cause: an incident's policy, or a person (a channel paused both "
        "ways counts under each)",
        labels=["cause"],
    )
    paused.add_metric(["incident"], len(by_incident))
    paused.add_metric(["manual"], len(by_hand))
    channel_paused = GaugeMetricFamily(
        "planb_router_channel_paused",
        "1 while the channel is paused (by an incident or by hand)",
        labels=["channel"],
    )
    for channel in channels:
        channel_paused.add_metric([channel.id], float(channel.id in by_hand | by_incident))
    return [paused, channel_paused]


def _held(counts: dict[str, int], channels: Sequence[ChannelConfig]) -> Metric:
    held = GaugeMetricFamily(
        "planb_router_posts_held",
        "Marketing posts held by a pause, waiting for a resume decision, by channel",
        labels=["channel"],
    )
    for channel in channels:
        held.add_metric([channel.id], counts.get(channel.id, 0))
    return held
