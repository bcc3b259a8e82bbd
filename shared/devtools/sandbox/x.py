"""X's API v2 manage-posts endpoint, enough to post and thread.

    POST /2/tweets        Bearer user token; `text`, `reply.in_reply_to_tweet_id` -> 201
    GET  /2/tweets/{id}   one post

Errors are X's problem documents (`title`, `detail`, `type`, `status`; `errors[]` for
invalid requests): 401 bad token, 400 text too long (weighted, twitter-text v3), 403
duplicate text or a reply to a post that does not exist. Every answer carries the
`x-rate-limit-*` headers; `rate_limit(n)` refuses with 429 until `x-rate-limit-reset`.
"""

import itertools
import time
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from shared.contract.textlength import X_MAX_WEIGHTED_LENGTH, x_weighted_length
from shared.devtools.sandbox.base import Peer, RecordedPost

INVALID_REQUEST = "https://api.twitter.com/2/problems/invalid-request"
TOO_LONG = (
    "Your Tweet text is too long. For more information on how Twitter determines text "
    "length see https://github.com/twitter/twitter-text."
)


class XPeer(Peer):
    name = "x"

    def __init__(
        self, *, token: str = "x-user-access-token", max_weighted: int = X_MAX_WEIGHTED_LENGTH
    ) -> None:
        self.token = token
        self.max_weighted = max_weighted
        self.tweets: dict[str, dict[str, Any]] = {}
        self._ids = itertools.count(1_790_000_000_000_000_001)
        self._remaining = 100
        super().__init__()

    def routes(self) -> list[BaseRoute]:
        return [
            Route("/2/tweets", self.create_tweet, methods=["POST"]),
            Route("/2/tweets/{tweet_id}", self.get_tweet),
        ]

    def _limit_headers(self, remaining: int, reset_in: float = 900) -> dict[str, str]:
        return {
            "x-rate-limit-limit": "100",
            "x-rate-limit-remaining": str(remaining),
            "x-rate-limit-reset": str(int(time.time() + reset_in)),
        }

    def error(self, status: int, message: str, headers: dict[str, str] | None = None) -> Response:
        title = {401: "Unauthorized", 403: "Forbidden", 429: "Too Many Requests"}.get(
            status, "Error"
        )
        body = {"title": title, "detail": message, "type": "about:blank", "status": status}
        return JSONResponse(body, status, headers=headers)

    def invalid(self, message: str) -> Response:
        body = {
            "errors": [{"message": message}],
            "title": "Invalid Request",
            "detail": "One or more parameters to your request was invalid.",
            "type": INVALID_REQUEST,
        }
        return JSONResponse(body, 400)

    def rate_limit(self, seconds: int) -> None:
        self.fail_next(
            429,
            headers=self._limit_headers(0, reset_in=seconds),
            body={
                "title": "Too Many Requests",
                "detail": "Too Many Requests",
                "type": "about:blank",
                "status": 429,
            },
        )

    async def create_tweet(self, request: Request) -> Response:
        if (scripted := await self.intercept(request)) is not None:
            return scripted
        if request.headers.get("authorization") != f"Bearer {self.token}":
            return self.error(401, "Unauthorized")
        body = await self.json_body(request)
        if body is None:
            return self.invalid("Request body is not valid JSON")
        text = body.get("text")
        if not isinstance(text, str) or not text:
            return self.invalid("$.text: is missing but it is required")
        if x_weighted_length(text) > self.max_weighted:
            return self.invalid(TOO_LONG)
        reply = body.get("reply")
        parent = reply.get("in_reply_to_tweet_id") if isinstance(reply, dict) else None
        if parent is not None and str(parent) not in self.tweets:
            return self.error(
                403, "You attempted to reply to a Tweet that is deleted or not visible to you."
            )
        if any(tweet["text"] == text for tweet in self.tweets.values()):
            return self.error(403, "You are not allowed to create a Tweet with duplicate content.")
        tweet_id = str(next(self._ids))
        tweet = {"id": tweet_id, "text": text, "edit_history_tweet_ids": [tweet_id]}
        self.tweets[tweet_id] = {**tweet, "in_reply_to_tweet_id": parent}
        self.record(RecordedPost(tweet_id, text, parent, dict(request.headers), body))
        self._remaining = max(0, self._remaining - 1)
        await self.pause()
        return JSONResponse({"data": tweet}, 201, headers=self._limit_headers(self._remaining))

    async def get_tweet(self, request: Request) -> Response:
        tweet = self.tweets.get(request.path_params["tweet_id"])
        if tweet is None:
            return JSONResponse(
                {"errors": [{"title": "Not Found Error", "detail": "Could not find tweet"}]}
            )
        return JSONResponse({"data": tweet})
