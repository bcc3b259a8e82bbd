"""What every loopback platform peer shares: a record of requests and posts, and faults on cue.

A peer is a small Starlette app that speaks one platform's API subset. Tests (and the demo
sandbox) script it between requests:

    peer.fail_next(503)                          the next API call answers 503 (platform's shape)
    peer.fail_next(429, headers={"Retry-After": "1"}, times=2)
    peer.rate_limit(2)                           a 429 with this platform's own retry hint
    peer.delay = 0.5                             accept the post, then answer this late
    peer.storm(30)                               refuse everything for 30 s (faults.py)

and read what happened: `peer.posts` (accepted posts, in order), `peer.requests` (every
API call, including refused ones) and `peer.answers` (every request with the peer's
arrival and answer times, and the instant a Retry-After named).
"""

import asyncio
import html
import json
import threading
from collections import deque
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import Any

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, PlainTextResponse, Response
from starlette.routing import BaseRoute, Route

from shared.devtools.sandbox.faults import Answer, AnswerRecorder, Storm


@dataclass(frozen=True)
class SeenRequest:
    """One API call as the peer received it."""

    method: str
    path: str
    headers: dict[str, str]
    body: bytes


@dataclass
class RecordedPost:
    """A post the peer accepted; `reply_to` is what it threads under, in the platform's terms."""

    id: str
    text: str
    reply_to: Any
    headers: dict[str, str]
    payload: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class ScriptedFailure:
    status: int
    headers: dict[str, str]
    body: Any


class Peer:
    """Base for the platform peers; subclasses add routes and their error shape."""

    name = "peer"

    def __init__(self) -> None:
        self.posts: list[RecordedPost] = []
        self.requests: list[SeenRequest] = []
        self.delay = 0.0
        self.title: str | None = None  # the timeline page's heading
        self.answers: list[Answer] = []
        self._storm: Storm | None = None
        self._failures: deque[ScriptedFailure] = deque()
        self._lock = threading.Lock()
        self.app = Starlette(
            routes=[
                *self.routes(),
                Route("/", self.timeline_page),
                Route("/timeline.json", self.timeline_json),
            ],
            middleware=[Middleware(AnswerRecorder, note=self._note_answer)],
        )

    def routes(self) -> list[BaseRoute]:
        """The platform's API routes."""
        raise NotImplementedError

    def error(self, status: int, message: str, headers: dict[str, str] | None = None) -> Response:
        """An error answer in the platform's own shape."""
        return PlainTextResponse(message, status_code=status, headers=headers)

    def fail_next(
        self,
        status: int,
        *,
        headers: dict[str, str] | None = None,
        body: Any = None,
        times: int = 1,
    ) -> None:
        """Answer the next `times` API calls with `status` (body in the platform's shape)."""
        with self._lock:
            for _ in range(times):
                self._failures.append(ScriptedFailure(status, dict(headers or {}), body))

    def rate_limit(self, seconds: int) -> None:
        """The next call is refused with 429 and a hint to wait `seconds` (as HTTP says)."""
        self.fail_next(429, headers={"Retry-After": str(seconds)})

    def storm(self, seconds: float) -> Storm:
        """Refuse every API call for `seconds` with 503/429 and a Retry-After, then heal."""
        self._storm = Storm(seconds)
        return self._storm

    def _note_answer(self, answer: Answer) -> None:
        with self._lock:
            self.answers.append(answer)

    def hits(self, path: str, method: str = "POST") -> int:
        """How many calls reached `path`, refused ones included."""
        return sum(1 for seen in self.requests if seen.path == path and seen.method == method)

    async def intercept(self, request: Request) -> Response | None:
        """Record the call; answer with the next scripted failure, if one is queued."""
        body = await request.body()
        with self._lock:
            self.requests.append(
                SeenRequest(request.method, request.url.path, dict(request.headers), body)
            )
            failure = self._failures.popleft() if self._failures else None
        storm = self._storm.refusal() if failure is None and self._storm is not None else None
        if storm is not None:
            return self.error(storm.status, HTTPStatus(storm.status).phrase, storm.headers)
        if failure is None:
            return None
        if failure.body is None:
            return self.error(failure.status, HTTPStatus(failure.status).phrase, failure.headers)
        if isinstance(failure.body, str):
            return PlainTextResponse(failure.body, failure.status, headers=failure.headers)
        return JSONResponse(failure.body, failure.status, headers=failure.headers)

    def record(self, post: RecordedPost) -> None:
        with self._lock:
            self.posts.append(post)

    async def pause(self) -> None:
        """Answer late when `delay` is set, after accepting the post (a timeout's worst case)."""
        if self.delay > 0:
            await asyncio.sleep(self.delay)

    async def json_body(self, request: Request) -> dict[str, Any] | None:
        """The request's JSON object, or None if it is not one."""
        try:
            body = json.loads(await request.body())
        except (ValueError, UnicodeDecodeError):
            return None
        return body if isinstance(body, dict) else None

    def parent_of(self, post: RecordedPost) -> str | None:
        """The id of the post `post` replies to (Bluesky's `reply.parent.uri`), or None."""
        reply = post.reply_to
        if isinstance(reply, dict):
            parent = reply.get("parent")
            return str(parent.get("uri")) if isinstance(parent, dict) else None
        return str(reply) if reply else None

    def threads(self) -> list[tuple[RecordedPost, int]]:
        """Every post with its depth: top-level posts newest first, replies under their parent
        (oldest reply first, as a thread reads)."""
        with self._lock:
            posts = list(self.posts)
        ids = {post.id for post in posts}
        children: dict[str, list[RecordedPost]] = {}
        roots: list[RecordedPost] = []
        for post in posts:
            parent = self.parent_of(post)
            if parent is not None and parent in ids:
                children.setdefault(parent, []).append(post)
            else:
                roots.append(post)
        ordered: list[tuple[RecordedPost, int]] = []

        def walk(post: RecordedPost, depth: int) -> None:
            ordered.append((post, depth))
            for child in children.get(post.id, []):
                walk(child, depth + 1)

        for root in reversed(roots):
            walk(root, 0)
        return ordered

    async def timeline_json(self, request: Request) -> JSONResponse:
        """The timeline as data: newest thread first, each post with its parent and depth."""
        return JSONResponse(
            [
                {"id": post.id, "text": post.text, "reply_to": self.parent_of(post), "depth": depth}
                for post, depth in self.threads()
            ]
        )

    async def timeline_page(self, request: Request) -> HTMLResponse:
        """A read-only page of what was posted, newest first, replies indented under their
        parent, for the demo sandbox (refreshes itself every 2 s)."""
        items = "".join(
            f'<li class="post{" reply" if depth else ""}" style="margin-left:{depth * 2}rem">'
            f"<p>{html.escape(post.text)}</p><small>{html.escape(post.id)}"
            f"{' · reply' if depth else ''}</small></li>"
            for post, depth in self.threads()
        )
        empty = "" if items else "<p>Nothing posted yet.</p>"
        title = html.escape(self.title or f"{self.name} sandbox")
        return HTMLResponse(
            f'<!doctype html><html lang="en"><meta charset="utf-8">'
            f'<meta name="viewport" content="width=device-width, initial-scale=1">'
            f'<meta http-equiv="refresh" content="2"><title>{title}</title>'
            f"<style>{_TIMELINE_CSS}</style><h1>{title}</h1>"
            f"<p class=note>{len(self.posts)} posts, newest first; replies sit under the post "
            f"they answer.</p>{empty}<ol>{items}</ol></html>"
        )


_TIMELINE_CSS = (
    "body{font:16px/1.4 system-ui,sans-serif;max-width:40rem;margin:1rem auto;padding:0 1rem;"
    "color:#1a1a1a;background:#f4f5f7}h1{font-size:1.3rem}.note{color:#555}"
    "ol{list-style:none;padding:0}.post{background:#fff;border:1px solid #d8dbe0;"
    "border-radius:8px;padding:.5rem .8rem;margin:.5rem 0}.post p{margin:0 0 .3rem;"
    "white-space:pre-wrap}.post small{color:#777;word-break:break-all}"
    ".reply{border-left:4px solid #4a7bd0}"
)
