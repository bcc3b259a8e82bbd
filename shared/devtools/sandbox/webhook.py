"""A reference receiver for Plan B's signed webhook, verifying as its docs tell receivers to.

    POST <path>   checks X-PlanB-Timestamp / X-PlanB-Signature over the raw body, dedupes
                  on Idempotency-Key, answers 200 {"id": "evt_<n>"}

Refusals are plain text: 401 `invalid signature` (wrong secret, tampered body, or a
timestamp outside the tolerance), 400 `invalid payload`; 429 and 5xx on cue.
"""

from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from shared.contract.webhook_signature import verify_signature
from shared.devtools.sandbox.base import Peer, RecordedPost

FIELDS = ("message_id", "channel_id", "text", "reply_to", "sent_at")


class WebhookPeer(Peer):
    name = "webhook"

    def __init__(
        self,
        *,
        secret: str = "webhook-shared-secret",
        path: str = "/hooks/planb",
        tolerance: int = 300,
    ) -> None:
        self.secret = secret
        self.path = path
        self.tolerance = tolerance
        self.events: dict[str, dict[str, Any]] = {}  # Idempotency-Key -> the answer given
        super().__init__()

    def routes(self) -> list[BaseRoute]:
        return [Route(self.path, self.receive, methods=["POST"])]

    async def receive(self, request: Request) -> Response:
        if (scripted := await self.intercept(request)) is not None:
            return scripted
        body = await request.body()
        if not verify_signature(
            self.secret,
            timestamp=request.headers.get("x-planb-timestamp", ""),
            body=body,
            signature=request.headers.get("x-planb-signature", ""),
            tolerance=self.tolerance,
        ):
            return self.error(401, "invalid signature")
        payload = await self.json_body(request)
        if payload is None or any(field not in payload for field in FIELDS):
            return self.error(400, "invalid payload")
        key = request.headers.get("idempotency-key") or str(payload["message_id"])
        if key in self.events:
            return JSONResponse({**self.events[key], "duplicate": True})
        answer = {"id": f"evt_{len(self.events) + 1}"}
        self.events[key] = answer
        self.record(
            RecordedPost(
                answer["id"],
                str(payload["text"]),
                payload["reply_to"],
                dict(request.headers),
                payload,
            )
        )
        await self.pause()
        return JSONResponse(answer)
