"""A Slack incoming webhook: `POST {"text": ...}` to a secret URL, answered `ok`.

Errors are plain text, as Slack sends them: 404 `no_service` (unknown webhook URL), 400
`invalid_payload` (not JSON), 400 `no_text`, 410 `channel_is_archived` (after
`archive()`); 429 `rate_limited` with `Retry-After`.
"""

from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import BaseRoute, Route

from shared.devtools.sandbox.base import Peer, RecordedPost


class SlackPeer(Peer):
    name = "slack"

    def __init__(self, *, path: str = "/services/T0PLANB00/B0PLANB00/planbLoopbackSecret") -> None:
        self.path = path
        self.archived = False
        super().__init__()

    def routes(self) -> list[BaseRoute]:
        return [Route("/services/{rest:path}", self.incoming_webhook, methods=["POST"])]

    def rate_limit(self, seconds: int) -> None:
        self.fail_next(429, headers={"Retry-After": str(seconds)}, body="rate_limited")

    def archive(self) -> None:
        """The channel behind the webhook is archived: every post is refused for good."""
        self.archived = True

    async def incoming_webhook(self, request: Request) -> Response:
        if (scripted := await self.intercept(request)) is not None:
            return scripted
        if f"/services/{request.path_params['rest']}" != self.path:
            return self.error(404, "no_service")
        if self.archived:
            return self.error(410, "channel_is_archived")
        payload = await self.json_body(request)
        if payload is None:
            return self.error(400, "invalid_payload")
        text = payload.get("text")
        if (not isinstance(text, str) or not text.strip()) and not payload.get("blocks"):
            return self.error(400, "no_text")
        post_id = f"slack-{len(self.posts) + 1}"
        self.record(RecordedPost(post_id, str(text or ""), None, dict(request.headers), payload))
        await self.pause()
        return PlainTextResponse("ok", media_type="text/html")
