"""Channel adapters: one module per platform behind the `ChannelAdapter` protocol."""

from services.publisher.channels.base import ChannelAdapter, ChannelError, Sent
from services.publisher.channels.registry import ChannelRegistry, build_registry, load_registry

__all__ = [
    "ChannelAdapter",
    "ChannelError",
    "ChannelRegistry",
    "Sent",
    "build_registry",
    "load_registry",
]
