"""Which platform module (`platforms/`) serves which network channel type, for the dispatcher.

    channel = build_http_channel(config, os.environ, client)   # one per configured channel

`client` is the publisher's one long-lived `httpx.AsyncClient` (created in `lifespan`,
with the timeouts the engine wants); credentials are read from `env` here, once, and a
missing one is a `ValueError` that names the variable.
"""

from collections.abc import Callable, Mapping

import httpx

from services.publisher.channels.platforms.bluesky import BlueskyChannel
from services.publisher.channels.platforms.mastodon import MastodonChannel
from services.publisher.channels.platforms.slack import SlackChannel
from services.publisher.channels.platforms.telegram import TelegramChannel
from services.publisher.channels.platforms.webhook import WebhookChannel
from services.publisher.channels.platforms.x import XChannel
from services.publisher.channels.protocol import Channel
from shared.contract.channels import ChannelConfig, ChannelType

ChannelFactory = Callable[[ChannelConfig, Mapping[str, str], httpx.AsyncClient], Channel]

HTTP_CHANNEL_FACTORIES: dict[ChannelType, ChannelFactory] = {
    ChannelType.MASTODON: MastodonChannel.from_config,
    ChannelType.BLUESKY: BlueskyChannel.from_config,
    ChannelType.X: XChannel.from_config,
    ChannelType.TELEGRAM: TelegramChannel.from_config,
    ChannelType.SLACK: SlackChannel.from_config,
    ChannelType.WEBHOOK: WebhookChannel.from_config,
}


def build_http_channel(
    channel: ChannelConfig, env: Mapping[str, str], client: httpx.AsyncClient
) -> Channel:
    """The adapter for `channel`; `ValueError` if its type has none or a credential is unset."""
    factory = HTTP_CHANNEL_FACTORIES.get(channel.type)
    if factory is None:
        raise ValueError(
            f"channel {channel.id!r}: type {channel.type.value} has no network adapter"
        )
    return factory(channel, env, client)
