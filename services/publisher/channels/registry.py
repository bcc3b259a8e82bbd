"""Which channel sends to which configured channel id; unsendable messages get a clear reason.

Every channel speaks the one `Channel` protocol; they differ in where they run. The built-in
status page writes in the delivery's own transaction, so the registry keeps a factory that
binds it to that session (`in_transaction`); network channels post over HTTP outside any
transaction, driven by the dispatcher (`network`).
"""

import logging
from collections.abc import Callable, Mapping

import httpx
from sqlalchemy.ext.asyncio import AsyncSession

from services.publisher.channels.http_channels import build_http_channel
from services.publisher.channels.platforms.statuspage import StatusPageChannel
from services.publisher.channels.protocol import Channel, PermanentChannelError
from shared.contract.channels import ChannelConfig, ChannelType, load_channels
from shared.contract.events import MessageKind, PublishRequested
from shared.runtime.settings import CommonSettings

log = logging.getLogger(__name__)

InTransaction = Callable[[AsyncSession], Channel]
"""A channel bound to the session of the delivery it sends, so both commit together."""

InTransactionFactory = Callable[[ChannelConfig, CommonSettings], InTransaction]

FACTORIES: dict[ChannelType, InTransactionFactory] = {
    ChannelType.STATUSPAGE: lambda channel, settings: (
        lambda session: StatusPageChannel(channel.id, settings.public_base_url, session)
    ),
}


class ChannelRegistry:
    """The configured channels, their adapters, and why a channel has none."""

    def __init__(
        self,
        channels: list[ChannelConfig],
        in_transaction: Mapping[str, InTransaction],
        network: Mapping[str, Channel] | None = None,
        unavailable: Mapping[str, str] | None = None,
    ) -> None:
        self.channels = list(channels)
        self._by_id = {channel.id: channel for channel in channels}
        self._in_transaction = dict(in_transaction)
        self.network = dict(network or {})
        self._unavailable = dict(unavailable or {})

    def get(self, channel_id: str) -> ChannelConfig | None:
        return self._by_id.get(channel_id)

    def has_adapter(self, channel_id: str) -> bool:
        return channel_id in self._in_transaction or channel_id in self.network

    def is_network(self, channel_id: str) -> bool:
        return channel_id in self.network

    def check(self, message: PublishRequested) -> ChannelConfig:
        """The channel `message` may go to, or `PermanentChannelError` saying why it may not."""
        channel = self._by_id.get(message.channel_id)
        if channel is None:
            raise PermanentChannelError(f"unknown channel {message.channel_id!r}")
        if message.kind is MessageKind.MARKETING and not channel.marketing:
            raise PermanentChannelError(f"channel {channel.id!r} does not take marketing posts")
        if not self.has_adapter(channel.id):
            reason = self._unavailable.get(
                channel.id, f"channel type {channel.type.value} has no adapter yet"
            )
            raise PermanentChannelError(reason)
        return channel

    def in_transaction(self, channel_id: str, session: AsyncSession) -> Channel:
        """A checked channel that is not a network channel, bound to the delivery's `session`."""
        return self._in_transaction[channel_id](session)


def build_registry(
    channels: list[ChannelConfig],
    settings: CommonSettings,
    *,
    client: httpx.AsyncClient | None = None,
    env: Mapping[str, str] | None = None,
) -> ChannelRegistry:
    """Adapters for every channel that can have one; a missing credential is logged and
    becomes the reason that channel's deliveries fail (the others still work)."""
    in_transaction = {c.id: FACTORIES[c.type](c, settings) for c in channels if c.type in FACTORIES}
    network: dict[str, Channel] = {}
    unavailable: dict[str, str] = {}
    if client is not None:
        for channel in channels:
            if channel.type in FACTORIES:
                continue
            try:
                network[channel.id] = build_http_channel(channel, env or {}, client)
            except ValueError as exc:
                unavailable[channel.id] = f"channel {channel.id!r} is not configured: {exc}"
                log.error("channel=%s not usable: %s", channel.id, exc)
    return ChannelRegistry(channels, in_transaction, network, unavailable)


def load_registry(
    settings: CommonSettings,
    *,
    client: httpx.AsyncClient | None = None,
    env: Mapping[str, str] | None = None,
) -> ChannelRegistry:
    """Read the channels file (`ConfigFileError` if it is missing or invalid) and build."""
    channels = load_channels(settings.resolved_channels_file())
    return build_registry(channels, settings, client=client, env=env)
