"""How a channel with several languages posts an approved draft (docs/design.md, Languages).

The status page serves each language on its own page, so it gets one post per language.
Any other platform gets one post with every language, a blank line between them, when that
fits its limit (the link once, at the end, where a text ends with it bare); otherwise one
post per language, main language first, sent in that order on the channel's key, so the
publisher threads them as replies to each other where the platform threads (Mastodon,
Bluesky, X, Telegram), and posts them one after another elsewhere.
"""

from dataclasses import dataclass

from services.router.fitting import channel_limit
from services.router.models import DraftText
from shared.contract.channels import ChannelConfig, ChannelType


@dataclass(frozen=True)
class Post:
    """One message to publish: its text, its languages and the draft texts it carries."""

    languages: list[str]
    text: str
    rows: list[DraftText]


def posts_for(channel: ChannelConfig | None, rows: list[DraftText], *, link: str) -> list[Post]:
    """The posts one channel gets for its approved texts (`rows`, main language first)."""
    single = [Post([row.language], row.text, [row]) for row in rows]
    if len(rows) < 2 or channel is None or channel.type is ChannelType.STATUSPAGE:
        return single
    together = combine([row.text for row in rows], link=link)
    if channel_limit(channel).measure(together).fits:
        return [Post([row.language for row in rows], together, rows)]
    return single


def combine(texts: list[str], *, link: str) -> str:
    """The texts one after another, a blank line between; a bare link that ends every text
    but the last is left out there, so it is read (and counted) once."""
    parts = [_without_link(text, link) for text in texts[:-1]]
    return "\n\n".join([*parts, texts[-1]])


def _without_link(text: str, link: str) -> str:
    """`text` without its closing link when the link stands alone at the end (not after a
    "Details:" that would be left dangling)."""
    if not link or not text.endswith(link):
        return text
    body = text[: -len(link)].rstrip()
    return text if not body or body.endswith(":") else body
