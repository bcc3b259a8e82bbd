"""The demo sandbox: every platform peer on one loopback port, each under its own prefix.

    python -m shared.devtools.sandbox [--port 9100]

prints the base URLs and the credentials to put in the environment, and serves until
interrupted; `GET /<platform>/` lists what was posted there.
"""

import argparse
from dataclasses import dataclass, field

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse
from starlette.routing import Mount, Route

from shared.devtools.sandbox import (
    BlueskyPeer,
    MastodonPeer,
    Peer,
    SlackPeer,
    TelegramPeer,
    WebhookPeer,
    XPeer,
)


@dataclass
class Sandbox:
    """A fresh peer per platform, mounted under `/<name>` of one app."""

    mastodon: MastodonPeer = field(default_factory=MastodonPeer)
    bluesky: BlueskyPeer = field(default_factory=BlueskyPeer)
    x: XPeer = field(default_factory=XPeer)
    telegram: TelegramPeer = field(default_factory=TelegramPeer)
    slack: SlackPeer = field(default_factory=SlackPeer)
    webhook: WebhookPeer = field(default_factory=WebhookPeer)

    def peers(self) -> list[Peer]:
        return [self.mastodon, self.bluesky, self.x, self.telegram, self.slack, self.webhook]

    def app(self) -> Starlette:
        async def index(request: Request) -> HTMLResponse:
            links = "".join(
                f'<li><a href="/{peer.name}/">{peer.name}</a> ({len(peer.posts)} posts)</li>'
                for peer in self.peers()
            )
            return HTMLResponse(f"<!doctype html><title>Plan B sandbox</title><ul>{links}</ul>")

        mounts = [Mount(f"/{peer.name}", app=peer.app) for peer in self.peers()]
        return Starlette(routes=[Route("/", index), *mounts])

    def describe(self, base: str) -> str:
        """The URLs and environment values that point Plan B's channels at the sandbox."""
        return "\n".join(
            [
                f"mastodon  url: {base}/mastodon  MASTODON_ACCESS_TOKEN={self.mastodon.token}",
                f"bluesky   url: {base}/bluesky  BLUESKY_IDENTIFIER={self.bluesky.handle} "
                f"BLUESKY_APP_PASSWORD={self.bluesky.password}",
                f"x         url: {base}/x  X_ACCESS_TOKEN={self.x.token}",
                f"telegram  url: {base}/telegram  TELEGRAM_BOT_TOKEN={self.telegram.token} "
                f"TELEGRAM_CHAT_ID=@{self.telegram.channel_username}",
                f"slack     SLACK_WEBHOOK_URL={base}/slack{self.slack.path}",
                f"webhook   url: {base}/webhook{self.webhook.path}  "
                f"WEBHOOK_SECRET={self.webhook.secret}",
            ]
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=9100)
    args = parser.parse_args()
    sandbox = Sandbox()
    print(sandbox.describe(f"http://{args.host}:{args.port}"), flush=True)
    uvicorn.run(sandbox.app(), host=args.host, port=args.port, log_level="info")


if __name__ == "__main__":
    main()
