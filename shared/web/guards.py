"""Request guards every API shares, applied before routing: body size and content type, and
no NUL character anywhere.

A body over the limit is refused with 413 (declared length or counted while streaming), and a
body that is not JSON on a JSON API with 415, both as problem documents. Paths under
`form_prefixes` (a server-rendered console) also take HTML form bodies. A NUL (U+0000) in the
path, query or body is a 422: PostgreSQL cannot store it in text.
"""

import json
import re
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from shared.web.problems import PROBLEM_JSON, TYPE_BASE, instance_of

BODY_METHODS = {"POST", "PUT", "PATCH"}
FORM = "application/x-www-form-urlencoded"


class _TooLarge(Exception):
    pass


class BodyGuard:
    """Refuse oversized and non-JSON request bodies before they reach a route."""

    def __init__(
        self,
        app: ASGIApp,
        max_bytes: int = 64 * 1024,
        per_path: dict[str, int] | None = None,
        form_prefixes: tuple[str, ...] = (),
    ) -> None:
        self.app = app
        self.default_max_bytes = max_bytes
        self.per_path = per_path or {}
        self.form_prefixes = form_prefixes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] not in BODY_METHODS:
            await self.app(scope, receive, send)
            return
        limit = self.per_path.get(scope.get("path", ""), self.default_max_bytes)
        headers = {k.decode().lower(): v.decode("latin-1") for k, v in scope["headers"]}
        declared = headers.get("content-length")
        if declared is not None and declared.isdigit() and int(declared) > limit:
            await refuse(
                scope, send, status=413, title="Content Too Large", detail=_size_detail(limit)
            )
            return
        if declared not in (None, "0") or "transfer-encoding" in headers:
            media = headers.get("content-type", "").split(";")[0].strip().lower()
            is_form = media == FORM and scope.get("path", "").startswith(self.form_prefixes)
            if not _is_json(media) and not is_form:
                detail = f"Send the body as application/json, not {media or 'no content type'}."
                await refuse(scope, send, status=415, title="Unsupported Media Type", detail=detail)
                return
        received = 0
        response_started = False

        async def counting_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise _TooLarge
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal response_started
            if message["type"] == "http.response.start":
                response_started = True
            await send(message)

        try:
            await self.app(scope, counting_receive, tracking_send)
        except _TooLarge:
            if not response_started:
                await refuse(
                    scope, send, status=413, title="Content Too Large", detail=_size_detail(limit)
                )


# `\u0000` in JSON, unless its backslash is itself escaped (`\\u0000` is the text "\u0000")
NUL_IN_JSON = re.compile(rb"(?<!\\)(?:\\\\)*\\u0000")


class NulGuard:
    """Refuse a NUL character (U+0000) in the path, query or body with a 422 problem.

    PostgreSQL's text cannot hold it, so an id or a text carrying one was a 500 there (found
    by the API fuzz test), or worse, an incident ingest accepted and the router, unable to
    store it, dead-lettered. Refused on SQLite too, so both behave alike. Bodies are read
    whole (BodyGuard, outside this one, has already bounded them) and handed on unchanged.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        query = scope.get("query_string", b"").lower()
        if "\x00" in scope.get("path", "") or b"%00" in query or b"\x00" in query:
            await refuse(
                scope, send, status=422, title="NUL character", detail=_nul_detail("the URL")
            )
            return
        if scope["method"] not in BODY_METHODS:
            await self.app(scope, receive, send)
            return
        chunks: list[bytes] = []
        while True:
            message = await receive()
            if message["type"] != "http.request":
                return  # the client went away
            chunks.append(message.get("body", b""))
            if not message.get("more_body", False):
                break
        body = b"".join(chunks)
        headers = {k.decode().lower(): v.decode("latin-1") for k, v in scope["headers"]}
        is_form = headers.get("content-type", "").lower().startswith(FORM)
        if NUL_IN_JSON.search(body) or b"\x00" in body or (is_form and b"%00" in body.lower()):
            await refuse(
                scope, send, status=422, title="NUL character", detail=_nul_detail("the body")
            )
            return
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if replayed:
                return await receive()
            replayed = True
            return {"type": "http.request", "body": body, "more_body": False}

        await self.app(scope, replay, send)


def _nul_detail(where: str) -> str:
    return f"There is a NUL character (U+0000) in {where}; no text or id here may contain one."


async def refuse(scope: Scope, send: Send, *, status: int, title: str, detail: str) -> None:
    """Answer with a problem document before any route runs."""
    body: dict[str, Any] = {
        "type": TYPE_BASE + title.lower().replace(" ", "-"),
        "title": title,
        "status": status,
        "detail": detail,
        "instance": instance_of(scope.get("path", "")),
    }
    payload = json.dumps(body).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", PROBLEM_JSON.encode()),
                (b"content-length", str(len(payload)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": payload})


def _size_detail(limit: int) -> str:
    return f"Request bodies here are limited to {limit} bytes."


def _is_json(media: str) -> bool:
    return media == "application/json" or (
        media.startswith("application/") and media.endswith("+json")
    )
