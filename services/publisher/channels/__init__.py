"""Channels: the one protocol and its plumbing here, one module per platform in `platforms/`."""

from services.publisher.channels.protocol import (
    Channel,
    ChannelError,
    OutgoingPost,
    PermanentChannelError,
    Posted,
    RetryableChannelError,
    ThreadRef,
)
from services.publisher.channels.registry import ChannelRegistry, build_registry, load_registry

__all__ = [
    "Channel",
    "ChannelError",
    "ChannelRegistry",
    "OutgoingPost",
    "PermanentChannelError",
    "Posted",
    "RetryableChannelError",
    "ThreadRef",
    "build_registry",
    "load_registry",
]
