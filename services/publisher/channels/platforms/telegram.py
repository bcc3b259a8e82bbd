"""Telegram: the Bot API's `sendMessage` to a channel the bot may post in.

Never twice: the Bot API takes no idempotency key, so a retry after a timeout could post
twice. Threads: a follow-up replies (`reply_parameters.message_id`) to the previous
message, and still goes out if that message was deleted (`allow_sending_without_reply`).
Length: 4096 characters after entity parsing, counted in UTF-16 code units; plain text is
sent (no `parse_mode`), so the count is of the text itself.
Rate limits: 429 with `parameters.retry_after` in the body (`{"ok": false, ...}`).
"""

import logging
from collections.abc import Mapping
from typing import Any, ClassVar

import httpx

from services.publisher.channels.http_support import (
    check_length,
    json_object,
    optional_json,
    raise_for_status,
    require_env,
    require_url,
    retry_hint,
    send,
    short_text,
    thread_after,
)
from services.publisher.channels.protocol import (
    OutgoingPost,
    PermanentChannelError,
    Posted,
    RetryableChannelError,
)
from shared.contract.channels import ChannelConfig
from shared.contract.textlength import utf16_length

logger = logging.getLogger(__name__)

DEFAULT_BASE_URL = "https://api.telegram.org"
DEFAULT_MAX_LENGTH = 4096


def retry_after_from_body(response: httpx.Response) -> float | None:
    """Telegram's flood-control hint: `{"parameters": {"retry_after": seconds}}`."""
    parameters = optional_json(response).get("parameters")
    if isinstance(parameters, dict) and isinstance(parameters.get("retry_after"), int | float):
        return max(0.0, float(parameters["retry_after"]))
    return None


class TelegramChannel:
    """One Telegram channel (or group), posted to by one bot."""

    idempotent: ClassVar[bool] = False

    def __init__(
        self,
        *,
        channel_id: str,
        bot_token: str,
        chat_id: str,
        client: httpx.AsyncClient,
        base_url: str = DEFAULT_BASE_URL,
        max_length: int = DEFAULT_MAX_LENGTH,
    ) -> None:
        self.channel_id = channel_id
        self.base_url = base_url.rstrip("/")
        self.chat_id = chat_id
        self.max_length = max_length
        self._token = bot_token
        self._client = client

    @classmethod
    def from_config(
        cls, channel: ChannelConfig, env: Mapping[str, str], client: httpx.AsyncClient
    ) -> "TelegramChannel":
        """Build from the channels file: `credentials_env.bot_token` and `.chat_id`."""
        return cls(
            channel_id=channel.id,
            bot_token=require_env(channel, env, "bot_token"),
            chat_id=require_env(channel, env, "chat_id"),
            client=client,
            base_url=require_url(channel, DEFAULT_BASE_URL),
            max_length=channel.max_chars or DEFAULT_MAX_LENGTH,
        )

    def length(self, text: str) -> int:
        return utf16_length(text)

    async def send(self, post: OutgoingPost) -> Posted:
        check_length(self, post.text)
        payload: dict[str, Any] = {
            "chat_id": self.chat_id,
            "text": post.text,
            "link_preview_options": {"is_disabled": True},
        }
        if post.reply_to is not None:
            if not post.reply_to.parent_id.isdigit():
                raise PermanentChannelError(
                    f"{self.channel_id}: cannot reply to {post.reply_to.parent_id!r}: "
                    "Telegram message ids are numbers"
                )
            payload["reply_parameters"] = {
                "message_id": int(post.reply_to.parent_id),
                "allow_sending_without_reply": True,
            }
        response = await send(
            self._client,
            "POST",
            # The token is part of the path; never log this URL.
            f"{self.base_url}/bot{self._token}/sendMessage",
            channel_id=self.channel_id,
            message_id=post.idempotency_key,
            json=payload,
        )
        raise_for_status(
            response,
            channel_id=self.channel_id,
            reason=str(optional_json(response).get("description") or short_text(response)),
            retry_after=retry_hint(response, reset=retry_after_from_body(response)),
        )
        result = json_object(response, channel_id=self.channel_id).get("result")
        if not isinstance(result, dict) or "message_id" not in result:
            raise RetryableChannelError(f"{self.channel_id}: the answer has no message_id")
        message_id = str(result["message_id"])
        logger.info(
            "channel %s: message %s posted as %s", self.channel_id, post.idempotency_key, message_id
        )
        return Posted(
            remote_id=message_id,
            url=self._message_url(result, message_id),
            thread=thread_after(post.reply_to, message_id),
        )

    def _message_url(self, result: dict[str, Any], message_id: str) -> str | None:
        """`https://t.me/<username>/<id>` for a public channel; private ones have no link."""
        chat = result.get("chat")
        username = chat.get("username") if isinstance(chat, dict) else None
        if not username and self.chat_id.startswith("@"):
            username = self.chat_id[1:]
        return f"https://t.me/{username}/{message_id}" if username else None
