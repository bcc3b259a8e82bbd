"""Loopback peers: real HTTP servers that speak each platform's API subset, for tests and the demo.

Start one with `tests.peers.server.serve(peer.app)`; run them all at once with
`python -m tests.peers` (the demo sandbox).
"""

from tests.peers.base import Peer, RecordedPost, SeenRequest
from tests.peers.bluesky import BlueskyPeer
from tests.peers.mastodon import MastodonPeer
from tests.peers.server import serve
from tests.peers.slack import SlackPeer
from tests.peers.telegram import TelegramPeer
from tests.peers.webhook import WebhookPeer
from tests.peers.x import XPeer

__all__ = [
    "BlueskyPeer",
    "MastodonPeer",
    "Peer",
    "RecordedPost",
    "SeenRequest",
    "SlackPeer",
    "TelegramPeer",
    "WebhookPeer",
    "XPeer",
    "serve",
]
