"""Bluesky (atproto): a session from `createSession`, posts via `createRecord`.

Session: created once with the handle and an app password, its `accessJwt` reused for
every post; when the PDS answers `ExpiredToken` (400) or `InvalidToken` (401) the session is
renewed with `refreshSession` (a new session only if the refresh is refused) and the post
is tried once more.
Never twice: atproto has no idempotency key, so a retry after a timeout could post again.
To prevent that, each post's record key (`rkey`) is a valid TID derived from the message
id: a repeat targets the same record, which the PDS refuses (today a 500
InternalServerError, see bluesky-social/atproto#3718; an explicit error is proposed in
#4728). On any such refusal the adapter reads the record back with `getRecord`, and if it
holds this text, reports the earlier post as the result.
Threads: `reply.root` and `reply.parent` each need the uri *and* cid, kept in `ThreadRef`.
Links: URLs become link facets indexed in UTF-8 bytes. Length: 300 graphemes.
"""

import asyncio
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
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
    seconds_until_epoch,
    send,
    short_text,
    thread_after,
)
from services.publisher.channels.platforms.atproto import link_facets, record_key_for
from services.publisher.channels.protocol import (
    OutgoingPost,
    PermanentChannelError,
    Posted,
    RetryableChannelError,
)
from shared.contract.channels import ChannelConfig
from shared.contract.textlength import graphemes

logger = logging.getLogger(__name__)

DEFAULT_BASE_URL = "https://bsky.social"
DEFAULT_MAX_LENGTH = 300
POST_COLLECTION = "app.bsky.feed.post"
_RENEW_ERRORS = frozenset({"ExpiredToken", "InvalidToken"})
_TAKEN_ERRORS = frozenset({"RecordAlreadyExists", "AlreadyExists", "InvalidSwap"})


def _error_name(response: httpx.Response) -> str:
    return str(optional_json(response).get("error") or "")


def _reason(response: httpx.Response) -> str:
    """XRPC errors are `{"error": name, "message": text}`."""
    body = optional_json(response)
    parts = [str(body[key]) for key in ("error", "message") if body.get(key)]
    return ": ".join(parts) or short_text(response)


@dataclass(frozen=True)
class _Session:
    did: str
    access_jwt: str
    refresh_jwt: str


class BlueskyChannel:
    """One Bluesky account, signed in with an app password."""

    idempotent: ClassVar[bool] = True

    def __init__(
        self,
        *,
        channel_id: str,
        identifier: str,
        app_password: str,
        client: httpx.AsyncClient,
        base_url: str = DEFAULT_BASE_URL,
        max_length: int = DEFAULT_MAX_LENGTH,
        app_url: str = "https://bsky.app",
    ) -> None:
        self.channel_id = channel_id
        self.base_url = base_url.rstrip("/")
        self.max_length = max_length
        self.app_url = app_url.rstrip("/")
        self._identifier = identifier
        self._password = app_password
        self._client = client
        self._session: _Session | None = None
        self._lock = asyncio.Lock()

    @classmethod
    def from_config(
        cls, channel: ChannelConfig, env: Mapping[str, str], client: httpx.AsyncClient
    ) -> "BlueskyChannel":
        """Build from the channels file: `credentials_env.identifier` and `.app_password`."""
        return cls(
            channel_id=channel.id,
            identifier=require_env(channel, env, "identifier"),
            app_password=require_env(channel, env, "app_password"),
            client=client,
            base_url=require_url(channel, DEFAULT_BASE_URL),
            max_length=channel.max_chars or DEFAULT_MAX_LENGTH,
        )

    def length(self, text: str) -> int:
        return graphemes(text)

    async def send(self, post: OutgoingPost) -> Posted:
        check_length(self, post.text)
        rkey = record_key_for(post.idempotency_key)
        session = await self._current_session(post)
        response = await self._create_record(session, rkey, post)
        if response.status_code in (400, 401) and _error_name(response) in _RENEW_ERRORS:
            logger.info("channel %s: session expired; renewing it", self.channel_id)
            session = await self._renew(session, post)
            response = await self._create_record(session, rkey, post)
        if (
            response.status_code >= 500
            or response.status_code == 409
            or (_error_name(response) in _TAKEN_ERRORS)
        ):
            existing = await self._existing(session, rkey, post)
            if existing is not None:
                return existing
        raise_for_status(
            response,
            channel_id=self.channel_id,
            reason=_reason(response),
            retry_after=retry_hint(
                response, reset=seconds_until_epoch(response.headers.get("ratelimit-reset"))
            ),
        )
        created = json_object(response, channel_id=self.channel_id)
        logger.info(
            "channel %s: message %s posted as %s",
            self.channel_id,
            post.idempotency_key,
            created.get("uri"),
        )
        return self._posted(session, rkey, post=post, body=created)

    def _record(self, post: OutgoingPost) -> dict[str, Any]:
        """The `app.bsky.feed.post` record: text, time, link facets, reply refs."""
        created_at = datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
        record: dict[str, Any] = {
            "$type": POST_COLLECTION,
            "text": post.text,
            "createdAt": created_at,
        }
        facets = link_facets(post.text, post.link)
        if facets:
            record["facets"] = facets
        if post.reply_to is not None:
            ref = post.reply_to
            if not ref.root_cid or not ref.parent_cid:
                raise PermanentChannelError(
                    f"{self.channel_id}: a Bluesky reply needs the cid of its root and parent"
                )
            record["reply"] = {
                "root": {"uri": ref.root_id, "cid": ref.root_cid},
                "parent": {"uri": ref.parent_id, "cid": ref.parent_cid},
            }
        return record

    async def _create_record(
        self, session: _Session, rkey: str, post: OutgoingPost
    ) -> httpx.Response:
        return await send(
            self._client,
            "POST",
            f"{self.base_url}/xrpc/com.atproto.repo.createRecord",
            channel_id=self.channel_id,
            message_id=post.idempotency_key,
            json={
                "repo": session.did,
                "collection": POST_COLLECTION,
                "rkey": rkey,
                "record": self._record(post),
            },
            headers={"Authorization": f"Bearer {session.access_jwt}"},
        )

    async def _existing(self, session: _Session, rkey: str, post: OutgoingPost) -> Posted | None:
        """The record an earlier attempt made under `rkey`, if it holds this post's text."""
        try:
            response = await send(
                self._client,
                "GET",
                f"{self.base_url}/xrpc/com.atproto.repo.getRecord",
                channel_id=self.channel_id,
                message_id=post.idempotency_key,
                params={"repo": session.did, "collection": POST_COLLECTION, "rkey": rkey},
            )
        except RetryableChannelError:
            return None
        if response.status_code != 200:
            return None
        found = json_object(response, channel_id=self.channel_id)
        value = found.get("value")
        if not isinstance(value, dict) or value.get("text") != post.text:
            return None
        logger.info(
            "channel %s: message %s was already posted as %s; not posting again",
            self.channel_id,
            post.idempotency_key,
            found.get("uri"),
        )
        return self._posted(session, rkey, post=post, body=found)

    def _posted(
        self, session: _Session, rkey: str, *, post: OutgoingPost, body: dict[str, Any]
    ) -> Posted:
        uri, cid = body.get("uri"), body.get("cid")
        if not isinstance(uri, str) or not isinstance(cid, str):
            raise RetryableChannelError(f"{self.channel_id}: the answer has no uri and cid")
        return Posted(
            remote_id=uri,
            url=f"{self.app_url}/profile/{session.did}/post/{rkey}",
            thread=thread_after(post.reply_to, uri, cid),
        )

    async def _current_session(self, post: OutgoingPost) -> _Session:
        """The session in use, created on first need (createSession is rate limited: reuse it)."""
        async with self._lock:
            if self._session is None:
                self._session = await self._sign_in(post)
            return self._session

    async def _renew(self, stale: _Session, post: OutgoingPost) -> _Session:
        """A fresh session: refreshed from `stale`, unless another post already did that."""
        async with self._lock:
            if self._session is not None and self._session != stale:
                return self._session
            response = await send(
                self._client,
                "POST",
                f"{self.base_url}/xrpc/com.atproto.server.refreshSession",
                channel_id=self.channel_id,
                message_id=post.idempotency_key,
                headers={"Authorization": f"Bearer {stale.refresh_jwt}"},
            )
            if response.status_code in (400, 401):
                logger.info(
                    "channel %s: refresh refused (%s); signing in again",
                    self.channel_id,
                    _reason(response),
                )
                self._session = await self._sign_in(post)
            else:
                self._session = self._session_from(response)
            return self._session

    async def _sign_in(self, post: OutgoingPost) -> _Session:
        response = await send(
            self._client,
            "POST",
            f"{self.base_url}/xrpc/com.atproto.server.createSession",
            channel_id=self.channel_id,
            message_id=post.idempotency_key,
            json={"identifier": self._identifier, "password": self._password},
        )
        logger.info("channel %s: createSession answered %s", self.channel_id, response.status_code)
        return self._session_from(response)

    def _session_from(self, response: httpx.Response) -> _Session:
        raise_for_status(
            response,
            channel_id=self.channel_id,
            reason=_reason(response),
            retry_after=retry_hint(
                response, reset=seconds_until_epoch(response.headers.get("ratelimit-reset"))
            ),
        )
        body = json_object(response, channel_id=self.channel_id)
        try:
            return _Session(
                did=str(body["did"]),
                access_jwt=str(body["accessJwt"]),
                refresh_jwt=str(body["refreshJwt"]),
            )
        except KeyError as exc:
            raise RetryableChannelError(f"{self.channel_id}: session answer lacks {exc}") from exc
