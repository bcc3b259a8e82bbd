"""The sandbox of `planb demo` and `planb run`: Mastodon- and Bluesky-compatible servers on
loopback, the channels file that points Plan B at them, and sample promotions for them.

They are the peers of `shared.devtools.sandbox` (real HTTP servers speaking the platforms'
APIs, each with a read-only timeline page at `/` and `/timeline.json`), run in this
process's threads, so they end with it.
"""

import asyncio
from contextlib import ExitStack
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

import httpx

from shared.devtools.sandbox import BlueskyPeer, MastodonPeer, Peer, serve

CHANNELS_YAML = """\
# Written by `{by}`; rewritten at each start.
channels:
  - id: status
    type: statuspage
    name: Public status page
    marketing: false
    tags: {{regions: [all]}}
  - id: north-mastodon
    type: mastodon
    name: North (Mastodon)
    url: {north}
    marketing: true
    tags: {{regions: [north]}}
    credentials_env: {{access_token: DEMO_NORTH_MASTODON_TOKEN}}
  - id: south-bluesky
    type: bluesky
    name: South (Bluesky)
    url: {south}
    marketing: true
    tags: {{regions: [south]}}
    credentials_env:
      identifier: DEMO_SOUTH_BLUESKY_IDENTIFIER
      app_password: DEMO_SOUTH_BLUESKY_PASSWORD
  - id: trains-mastodon
    type: mastodon
    name: Trains department (Mastodon)
    url: {trains}
    marketing: false
    tags: {{departments: [trains]}}
    credentials_env: {{access_token: DEMO_TRAINS_MASTODON_TOKEN}}
"""

OFFERS = {
    "north-mastodon": "Highland weekends: two for one on northern day returns",
    "south-bluesky": "South coast summer: kids travel free on every beach train",
}


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
        titles = (
            "North · Mastodon @planb_north",
            "South · Bluesky @planb-south.bsky.test",
            "Trains department · Mastodon @planb_trains",
        )
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

    def write_channels(self, path: Path, by: str) -> None:
        """The channels file for the sandbox accounts and the status page (`by` wrote it)."""
        path.write_text(CHANNELS_YAML.format(by=by, **self.urls))


def promotions(start: datetime, every: float, per_channel: int) -> list[dict[str, str]]:
    """`POST /v1/marketing/posts` bodies: `per_channel` offers on north and south, `every`
    seconds apart from `start`, the south half a period after the north."""
    return [
        {
            "channel_id": channel_id,
            "text": f"{offer} (offer #{n + 1})",
            "publish_at": (start + timedelta(seconds=n * every + offset * every / 2)).isoformat(),
        }
        for offset, (channel_id, offer) in enumerate(OFFERS.items())
        for n in range(per_channel)
    ]


async def schedule(
    http: httpx.AsyncClient, router: str, token: str, *, posts: list[dict[str, str]]
) -> None:
    """Schedule the promotions through the router's marketing API, 20 at a time."""
    for chunk in range(0, len(posts), 20):
        answers = await asyncio.gather(
            *(
                http.post(
                    f"{router}/v1/marketing/posts",
                    headers={"Authorization": f"Bearer {token}"},
                    json=post,
                )
                for post in posts[chunk : chunk + 20]
            )
        )
        for answer in answers:
            answer.raise_for_status()
