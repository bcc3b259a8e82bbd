"""Which adapter sends to which configured channel; unsendable messages get a clear reason."""

from collections.abc import Callable, Mapping

from services.publisher.channels.base import ChannelAdapter, ChannelError
from services.publisher.channels.statuspage import StatusPageAdapter
from shared.channels import ChannelConfig, ChannelType, load_channels
from shared.events import MessageKind, PublishRequested
from shared.settings import CommonSettings

AdapterFactory = Callable[[ChannelConfig, CommonSettings], ChannelAdapter]

FACTORIES: dict[ChannelType, AdapterFactory] = {
    ChannelType.STATUSPAGE: lambda _channel, settings: StatusPageAdapter(settings.public_base_url),
}


class ChannelRegistry:
    """The configured channels and the adapters built for those whose type has one."""

    def __init__(
        self, channels: list[ChannelConfig], adapters: Mapping[str, ChannelAdapter]
    ) -> None:
        self.channels = list(channels)
        self._by_id = {channel.id: channel for channel in channels}
        self._adapters = dict(adapters)

    def get(self, channel_id: str) -> ChannelConfig | None:
        return self._by_id.get(channel_id)

    def has_adapter(self, channel_id: str) -> bool:
        return channel_id in self._adapters

    def adapter_for(self, message: PublishRequested) -> ChannelAdapter:
        """The adapter to send `message` with, or `ChannelError` saying why there is none."""
        channel = self._by_id.get(message.channel_id)
        if channel is None:
            raise ChannelError(f"unknown channel {message.channel_id!r}")
        if message.kind is MessageKind.MARKETING and not channel.marketing:
            raise ChannelError(f"channel {channel.id!r} does not take marketing posts")
        adapter = self._adapters.get(channel.id)
        if adapter is None:
            raise ChannelError(f"channel type {channel.type.value} has no adapter yet")
        return adapter


def build_registry(channels: list[ChannelConfig], settings: CommonSettings) -> ChannelRegistry:
    adapters = {
        channel.id: FACTORIES[channel.type](channel, settings)
        for channel in channels
        if channel.type in FACTORIES
    }
    return ChannelRegistry(channels, adapters)


def load_registry(settings: CommonSettings) -> ChannelRegistry:
    """Read the channels file (`ConfigFileError` if it is missing or invalid) and build."""
    return build_registry(load_channels(settings.resolved_channels_file()), settings)
