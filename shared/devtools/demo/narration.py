"""How the demo speaks, and what it reads off the sandbox timelines.

Apart from the chapters (`story.py`) so that the story reads as the steps it takes: here
are the printing (a timestamped line, a block, the curl to run by hand) and the looks at the
sandbox timelines the chapters wait on and narrate.
"""

import asyncio
import json
import shlex
import textwrap
from datetime import datetime
from typing import Any

from shared.devtools.sandbox import RecordedPost
from shared.devtools.sandbox.accounts import Account, Sandbox


def say(message: str = "") -> None:
    """One narrated line, timestamped."""
    print(f"{datetime.now():%H:%M:%S}  {message}" if message else "", flush=True)


def show(lines: str) -> None:
    """A block (a curl, a URL) printed as is, indented under the line that introduced it."""
    print(textwrap.indent(lines, "          "), flush=True)


def curl(method: str, url: str, token: str, *, body: dict[str, Any] | None = None) -> str:
    """The curl that does what the story is about to do, to copy and run by hand."""
    parts = [f"curl -s -X {method} {url}", f"  -H 'Authorization: Bearer {token}'"]
    if body is not None:
        parts += ["  -H 'Content-Type: application/json'", f"  -d {shlex.quote(json.dumps(body))}"]
    return " \\\n".join(parts)


def promo_count(account: Account, promos: set[str]) -> int:
    """How many of the story's promotions reached `account`'s timeline."""
    return sum(1 for post in list(account.peer.posts) if post.text in promos)


def thread_roots(sandbox: Sandbox, promos: set[str]) -> dict[str, RecordedPost] | None:
    """Each account's first status post (the thread's root), once all three have one."""
    roots = {}
    for account in sandbox.accounts():
        found = [p for p in list(account.peer.posts) if p.text not in promos]
        if not found:
            return None
        roots[account.channel_id] = found[0]
    return roots


def replies_under(sandbox: Sandbox, roots: dict[str, RecordedPost], count: int) -> bool:
    """Whether every account has `count` posts in the thread under its first update."""
    for account in sandbox.accounts():
        thread = {roots[account.channel_id].id}
        for post in list(account.peer.posts):  # a reply comes after its parent
            if account.peer.parent_of(post) in thread:
                thread.add(post.id)
        if len(thread) - 1 < count:
            return False
    return True


async def watch_timelines(sandbox: Sandbox, promos: set[str]) -> None:
    """Narrate every post that reaches a sandbox timeline."""
    while True:
        for account in sandbox.accounts():
            posts = list(account.peer.posts)
            for post in posts[account.seen :]:
                if post.text in promos:
                    kind = "promotion"
                elif account.peer.parent_of(post):
                    kind = "reply    "
                else:
                    kind = "update   "
                say(f"   {account.label} {kind} {textwrap.shorten(post.text, 72)}")
            account.seen = len(posts)
        await asyncio.sleep(0.2)
