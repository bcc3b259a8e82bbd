"""What every loopback platform peer shares: a record of requests and posts, and faults on cue.

A peer is a small Starlette app that speaks one platform's API subset. Tests (and the demo
sandbox) script it between requests:

    peer.fail_next(503)                          the next API call answers 503 (platform's shape)
    peer.fail_next(429, headers={"Retry-After": "1"}, times=2)
    peer.rate_limit(2)                           a 429 with this platform's own retry hint
    peer.delay = 0.5                             accept the post, then answer this late

and read what happened: `peer.posts` (accepted posts, in order) and `peer.requests` (every
API call, including refused ones).
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
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, PlainTextResponse, Response
from starlette.routing import BaseRoute, Route


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
        self._failures: deque[ScriptedFailure] = deque()
        self._lock = threading.Lock()
        self.app = Starlette(routes=[*self.routes(), Route("/", self.timeline_page)])

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

    async def timeline_page(self, request: Request) -> HTMLResponse:
        """A plain page listing what was posted, newest first, for the demo sandbox."""
        rows = "".join(
            f"<tr><td>{html.escape(post.id)}</td><td>{html.escape(str(post.reply_to or ''))}</td>"
            f"<td>{html.escape(post.text)}</td></tr>"
            for post in reversed(self.posts)
        )
        return HTMLResponse(
            f"<!doctype html><title>{self.name} sandbox</title><h1>{self.name} sandbox</h1>"
            f"<table><tr><th>id</th><th>reply to</th><th>text</th></tr>{rows}</table>"
        )
