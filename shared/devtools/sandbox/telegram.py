"""The Telegram Bot API's `sendMessage` (and `getMe`), posting to one channel.

    POST /bot<token>/sendMessage   JSON or form: chat_id, text, reply_parameters /
                                   reply_to_message_id (deprecated), link_preview_options
    GET  /bot<token>/getMe

Answers are `{"ok": true, "result": Message}` or `{"ok": false, "error_code": n,
"description": "..."}` with Telegram's descriptions: 401 Unauthorized (wrong token), 400
"chat not found", "message text is empty", "message is too long" (UTF-16 code units over
4096), "message to be replied not found" (unless `allow_sending_without_reply`); 429
carries `parameters.retry_after`.
"""

import json
import time
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from shared.contract.textlength import utf16_length
from shared.devtools.sandbox.base import Peer, RecordedPost


class TelegramPeer(Peer):
    name = "telegram"

    def __init__(
        self,
        *,
        token: str = "123456789:AAplanb-loopback-test-token",
        channel_username: str = "planb_status",
        chat_numeric_id: int = -1001234567890,
        max_length: int = 4096,
    ) -> None:
        self.token = token
        self.channel_username = channel_username
        self.chat_numeric_id = chat_numeric_id
        self.max_length = max_length
        self.messages: dict[int, dict[str, Any]] = {}
        super().__init__()

    def routes(self) -> list[BaseRoute]:
        return [
            Route("/bot{token}/sendMessage", self.send_message, methods=["POST"]),
            Route("/bot{token}/getMe", self.get_me, methods=["GET", "POST"]),
        ]

    def error(self, status: int, message: str, headers: dict[str, str] | None = None) -> Response:
        body = {"ok": False, "error_code": status, "description": message}
        return JSONResponse(body, status, headers=headers)

    def rate_limit(self, seconds: int) -> None:
        self.fail_next(
            429,
            body={
                "ok": False,
                "error_code": 429,
                "description": f"Too Many Requests: retry after {seconds}",
                "parameters": {"retry_after": seconds},
            },
        )

    def _chat(self) -> dict[str, Any]:
        return {
            "id": self.chat_numeric_id,
            "title": "Plan B status",
            "username": self.channel_username,
            "type": "channel",
        }

    async def _params(self, request: Request) -> dict[str, Any]:
        if request.headers.get("content-type", "").startswith("application/json"):
            return await self.json_body(request) or {}
        params: dict[str, Any] = dict(await request.form())
        for field in ("reply_parameters", "link_preview_options"):  # JSON-serialised in forms
            if isinstance(params.get(field), str):
                try:
                    params[field] = json.loads(params[field])
                except ValueError:
                    params[field] = None
        return params

    def _reply_target(self, params: dict[str, Any]) -> tuple[int | None, bool]:
        """(message id to reply to, whether to send anyway if it is gone)."""
        reply = params.get("reply_parameters")
        if isinstance(reply, dict) and "message_id" in reply:
            return int(reply["message_id"]), bool(reply.get("allow_sending_without_reply"))
        if params.get("reply_to_message_id") is not None:
            return int(params["reply_to_message_id"]), bool(
                params.get("allow_sending_without_reply")
            )
        return None, False

    async def send_message(self, request: Request) -> Response:
        if (scripted := await self.intercept(request)) is not None:
            return scripted
        if request.path_params["token"] != self.token:
            return self.error(401, "Unauthorized")
        params = await self._params(request)
        chat_id = str(params.get("chat_id", ""))
        if chat_id not in (f"@{self.channel_username}", str(self.chat_numeric_id)):
            return self.error(400, "Bad Request: chat not found")
        text = str(params.get("text") or "")
        if not text.strip():
            return self.error(400, "Bad Request: message text is empty")
        if utf16_length(text) > self.max_length:
            return self.error(400, "Bad Request: message is too long")
        try:
            reply_to, send_anyway = self._reply_target(params)
        except (TypeError, ValueError):
            return self.error(400, "Bad Request: invalid reply parameters")
        if reply_to is not None and reply_to not in self.messages:
            if not send_anyway:
                return self.error(400, "Bad Request: message to be replied not found")
            reply_to = None
        message: dict[str, Any] = {
            "message_id": len(self.messages) + 1,
            "sender_chat": self._chat(),
            "chat": self._chat(),
            "date": int(time.time()),
            "text": text,
        }
        if reply_to is not None:
            message["reply_to_message"] = self.messages[reply_to]
        self.messages[message["message_id"]] = message
        self.record(
            RecordedPost(str(message["message_id"]), text, reply_to, dict(request.headers), params)
        )
        await self.pause()
        return JSONResponse({"ok": True, "result": message})

    async def get_me(self, request: Request) -> Response:
        if request.path_params["token"] != self.token:
            return self.error(401, "Unauthorized")
        bot = {"id": int(self.token.split(":")[0]), "is_bot": True, "first_name": "Plan B"}
        return JSONResponse({"ok": True, "result": bot})
