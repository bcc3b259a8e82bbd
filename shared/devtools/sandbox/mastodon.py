"""A Mastodon instance's statuses API, enough to post, thread and read a public timeline.

    POST /api/v1/statuses           Bearer token; JSON or form; `Idempotency-Key` dedupes
    GET  /api/v1/statuses/{id}      one status
    GET  /api/v1/timelines/public   newest first
    GET  /api/v2/instance           the character limit, as clients discover it

Errors are `{"error": "..."}` with Mastodon's messages: 401 bad token, 422 validation
(blank text, over the limit), 404 unknown `in_reply_to_id`; 429 carries
`X-RateLimit-Reset` as an ISO 8601 time.
"""

import html
import itertools
from datetime import UTC, datetime, timedelta
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from shared.contract.textlength import URL_LENGTH, mastodon_length
from shared.devtools.sandbox.base import Peer, RecordedPost

VISIBILITIES = frozenset({"public", "unlisted", "private", "direct"})


class MastodonPeer(Peer):
    name = "mastodon"

    def __init__(
        self, *, token: str = "mastodon-test-token", max_chars: int = 500, account: str = "planb"
    ) -> None:
        self.token = token
        self.max_chars = max_chars
        self.account = account
        self.statuses: dict[str, dict[str, Any]] = {}
        self._by_key: dict[str, str] = {}
        self._ids = itertools.count(113_000_000_000_000_001)
        super().__init__()

    def routes(self) -> list[BaseRoute]:
        return [
            Route("/api/v1/statuses", self.create_status, methods=["POST"]),
            Route("/api/v1/statuses/{status_id}", self.get_status),
            Route("/api/v1/timelines/public", self.public_timeline),
            Route("/api/v2/instance", self.instance),
        ]

    def error(self, status: int, message: str, headers: dict[str, str] | None = None) -> Response:
        return JSONResponse({"error": message}, status, headers=headers)

    def rate_limit(self, seconds: int) -> None:
        reset = datetime.now(UTC) + timedelta(seconds=seconds)
        self.fail_next(
            429,
            headers={
                "X-RateLimit-Limit": "300",
                "X-RateLimit-Remaining": "0",
                "X-RateLimit-Reset": reset.isoformat(timespec="milliseconds").replace(
                    "+00:00", "Z"
                ),
            },
            body={"error": "Too many requests"},
        )

    async def _params(self, request: Request) -> dict[str, Any]:
        if request.headers.get("content-type", "").startswith("application/json"):
            return await self.json_body(request) or {}
        return dict(await request.form())

    async def create_status(self, request: Request) -> Response:
        if (scripted := await self.intercept(request)) is not None:
            return scripted
        if request.headers.get("authorization") != f"Bearer {self.token}":
            return self.error(401, "The access token is invalid")
        key = request.headers.get("idempotency-key")
        if key and key in self._by_key:
            return JSONResponse(self.statuses[self._by_key[key]])
        params = await self._params(request)
        text = str(params.get("status") or "")
        visibility = str(params.get("visibility") or "public")
        reply_to = params.get("in_reply_to_id")
        if not text.strip():
            return self.error(422, "Validation failed: Text can't be blank")
        if mastodon_length(text) > self.max_chars:
            return self.error(
                422, f"Validation failed: Text character limit of {self.max_chars} exceeded"
            )
        if visibility not in VISIBILITIES:
            return self.error(422, "Validation failed: Visibility is not included in the list")
        if reply_to is not None and str(reply_to) not in self.statuses:
            return self.error(404, "Record not found")
        status = self._status(
            request, text, visibility=visibility, reply_to=str(reply_to) if reply_to else None
        )
        self.statuses[status["id"]] = status
        if key:
            self._by_key[key] = status["id"]
        self.record(
            RecordedPost(
                status["id"], text, status["in_reply_to_id"], dict(request.headers), dict(params)
            )
        )
        await self.pause()
        return JSONResponse(status)

    def _status(
        self, request: Request, text: str, *, visibility: str, reply_to: str | None
    ) -> dict[str, Any]:
        """A Status entity with the fields clients read."""
        status_id = str(next(self._ids))
        base = str(request.base_url).rstrip("/")
        return {
            "id": status_id,
            "created_at": datetime.now(UTC).isoformat(timespec="milliseconds"),
            "in_reply_to_id": reply_to,
            "in_reply_to_account_id": "1" if reply_to else None,
            "visibility": visibility,
            "uri": f"{base}/users/{self.account}/statuses/{status_id}",
            "url": f"{base}/@{self.account}/{status_id}",
            "content": f"<p>{html.escape(text)}</p>",
            "account": {"id": "1", "username": self.account, "acct": self.account},
        }

    async def get_status(self, request: Request) -> Response:
        status = self.statuses.get(request.path_params["status_id"])
        return JSONResponse(status) if status else self.error(404, "Record not found")

    async def public_timeline(self, request: Request) -> Response:
        return JSONResponse(list(reversed(self.statuses.values())))

    async def instance(self, request: Request) -> Response:
        return JSONResponse(
            {
                "domain": request.url.hostname,
                "configuration": {
                    "statuses": {
                        "max_characters": self.max_chars,
                        "characters_reserved_per_url": URL_LENGTH,
                    }
                },
            }
        )
