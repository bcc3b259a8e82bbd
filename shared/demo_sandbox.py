"""The sandbox of `planb demo`: Mastodon- and Bluesky-compatible servers on loopback.

They are the peers of `shared.devtools.sandbox` (real HTTP servers speaking the platforms'
APIs, each with a read-only timeline page at `/` and `/timeline.json`), run in this
process's threads, so they end with it.
"""

from contextlib import ExitStack
from dataclasses import dataclass

from shared.devtools.sandbox import BlueskyPeer, MastodonPeer, Peer, serve


@dataclass
class Account:
    """One sandbox account and the Plan B channel that posts to it."""

    channel_id: str
    label: str
    peer: Peer
    url: str = ""
    seen: int = 0


@dataclass
class Sandbox:
    """Loopback Mastodon and Bluesky servers: north (Mastodon), south (Bluesky), trains."""

    north: Account
    south: Account
    trains: Account

    @classmethod
    def start(cls, stack: ExitStack, first_port: int) -> "Sandbox":
        north = MastodonPeer(token="demo-north-token", account="planb_north")
        south = BlueskyPeer(handle="planb-south.bsky.test", password="demo-sout-hblu-esky")
        trains = MastodonPeer(token="demo-trains-token", account="planb_trains")
        sandbox = cls(
            Account("north-mastodon", "north  (Mastodon)", north),
            Account("south-bluesky", "south  (Bluesky) ", south),
            Account("trains-mastodon", "trains (Mastodon)", trains),
        )
        titles = ("North · Mastodon @planb_north", "South · Bluesky @planb-south.bsky.test")
        titles += ("Trains department · Mastodon @planb_trains",)
        for offset, (account, title) in enumerate(zip(sandbox.accounts(), titles, strict=True)):
            account.peer.title = f"{title} (Plan B sandbox)"
            port = first_port + offset if first_port else 0
            account.url = stack.enter_context(serve(account.peer.app, port=port))
        return sandbox

    def accounts(self) -> list[Account]:
        return [self.north, self.south, self.trains]

    @property
    def urls(self) -> dict[str, str]:
        return {"north": self.north.url, "south": self.south.url, "trains": self.trains.url}

    def credentials(self) -> dict[str, str]:
        """The environment the publisher reads the sandbox accounts' credentials from."""
        north, south, trains = (a.peer for a in self.accounts())
        assert isinstance(north, MastodonPeer)
        assert isinstance(trains, MastodonPeer)
        assert isinstance(south, BlueskyPeer)
        return {
            "DEMO_NORTH_MASTODON_TOKEN": north.token,
            "DEMO_SOUTH_BLUESKY_IDENTIFIER": south.handle,
            "DEMO_SOUTH_BLUESKY_PASSWORD": south.password,
            "DEMO_TRAINS_MASTODON_TOKEN": trains.token,
        }
