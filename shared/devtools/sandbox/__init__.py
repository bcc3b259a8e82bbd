"""Loopback peers: real HTTP servers that speak each platform's API subset, for tests and the demo.

Start one with `shared.devtools.sandbox.server.serve(peer.app)`; run them all at once with
`python -m shared.devtools.sandbox` (the demo sandbox).
"""

from shared.devtools.sandbox.base import Peer, RecordedPost, SeenRequest
from shared.devtools.sandbox.bluesky import BlueskyPeer
from shared.devtools.sandbox.mastodon import MastodonPeer
from shared.devtools.sandbox.server import serve
from shared.devtools.sandbox.slack import SlackPeer
from shared.devtools.sandbox.telegram import TelegramPeer
from shared.devtools.sandbox.webhook import WebhookPeer
from shared.devtools.sandbox.x import XPeer

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
