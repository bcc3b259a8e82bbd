"""A Bluesky PDS's session and repo XRPC methods, enough to post and thread.

    POST /xrpc/com.atproto.server.createSession    identifier + password -> JWT pair
    POST /xrpc/com.atproto.server.refreshSession   Bearer refreshJwt -> new pair (rotated)
    POST /xrpc/com.atproto.repo.createRecord       Bearer accessJwt; app.bsky.feed.post only
    GET  /xrpc/com.atproto.repo.getRecord          repo, collection, rkey

Errors are XRPC's `{"error": name, "message": text}`: 400 ExpiredToken for an expired
access token (as the reference PDS does), 401 InvalidToken / AuthMissing, 400
InvalidRequest for a record that breaks the lexicon (over 300 graphemes, bad facet
indexes, a reply without uri+cid, an rkey that is not a TID), and, like the PDS today, 500
InternalServerError for an rkey that is already taken. Stricter than a PDS in one way: a
reply must point at records this peer holds. `expire_tokens()` expires every access token.
"""

import base64
import hashlib
import itertools
import json
import re
import secrets
import time
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from shared.contract.textlength import graphemes
from shared.devtools.sandbox.base import Peer, RecordedPost

POST = "app.bsky.feed.post"
TID = re.compile(r"^[234567abcdefghij][234567abcdefghijklmnopqrstuvwxyz]{12}$")
_TID_ALPHABET = "234567abcdefghijklmnopqrstuvwxyz"
_ERROR_NAMES = {400: "InvalidRequest", 401: "AuthenticationRequired", 429: "RateLimitExceeded"}


def _cid(data: Any) -> str:
    """A CID-looking string (CIDv1, dag-cbor, sha256), stable for the same record."""
    digest = hashlib.sha256(json.dumps(data, sort_keys=True).encode()).digest()
    return "bafyrei" + base64.b32encode(digest).decode().lower().rstrip("=")[:52]


class BlueskyPeer(Peer):
    name = "bluesky"

    def __init__(
        self,
        *,
        handle: str = "planb.bsky.test",
        password: str = "abcd-efgh-ijkl-mnop",
        did: str = "did:plc:planbtest4peer2loopback",
        max_graphemes: int = 300,
    ) -> None:
        self.handle = handle
        self.password = password
        self.did = did
        self.max_graphemes = max_graphemes
        self.records: dict[str, dict[str, Any]] = {}  # rkey -> {"uri", "cid", "value"}
        self.sessions_created = 0
        self.refreshes = 0
        self._access: dict[str, bool] = {}  # token -> expired?
        self._refresh: set[str] = set()
        self._clock = itertools.count()
        super().__init__()

    def routes(self) -> list[BaseRoute]:
        return [
            Route("/xrpc/com.atproto.server.createSession", self.create_session, methods=["POST"]),
            Route(
                "/xrpc/com.atproto.server.refreshSession", self.refresh_session, methods=["POST"]
            ),
            Route("/xrpc/com.atproto.repo.createRecord", self.create_record, methods=["POST"]),
            Route("/xrpc/com.atproto.repo.getRecord", self.get_record),
        ]

    def error(self, status: int, message: str, headers: dict[str, str] | None = None) -> Response:
        name = _ERROR_NAMES.get(status, "InternalServerError" if status >= 500 else "Error")
        return self.xrpc_error(status, name, message, headers=headers)

    def xrpc_error(
        self, status: int, name: str, message: str, *, headers: dict[str, str] | None = None
    ) -> Response:
        return JSONResponse({"error": name, "message": message}, status, headers=headers)

    def rate_limit(self, seconds: int) -> None:
        reset = int(time.time() + seconds)
        self.fail_next(
            429,
            headers={
                "ratelimit-limit": "5000",
                "ratelimit-remaining": "0",
                "ratelimit-reset": str(reset),
                "ratelimit-policy": "5000;w=3600",
            },
            body={"error": "RateLimitExceeded", "message": "Rate Limit Exceeded"},
        )

    def expire_tokens(self) -> None:
        """Every access token issued so far is now expired (refresh tokens still work)."""
        for token in self._access:
            self._access[token] = True

    def revoke_refresh_tokens(self) -> None:
        """Refresh tokens stop working too, so only a new session helps."""
        self._refresh.clear()

    def _issue(self) -> dict[str, Any]:
        access, refresh = f"access-{secrets.token_hex(8)}", f"refresh-{secrets.token_hex(8)}"
        self._access[access] = False
        self._refresh.add(refresh)
        return {
            "did": self.did,
            "handle": self.handle,
            "accessJwt": access,
            "refreshJwt": refresh,
            "active": True,
        }

    def _bearer(self, request: Request) -> str | None:
        value = request.headers.get("authorization", "")
        return value.removeprefix("Bearer ") if value.startswith("Bearer ") else None

    async def create_session(self, request: Request) -> Response:
        if (scripted := await self.intercept(request)) is not None:
            return scripted
        body = await self.json_body(request) or {}
        for field in ("identifier", "password"):
            if not isinstance(body.get(field), str):
                return self.error(400, f'Input must have the property "{field}"')
        if body["identifier"] not in (self.handle, self.did) or body["password"] != self.password:
            return self.xrpc_error(401, "AuthenticationRequired", "Invalid identifier or password")
        self.sessions_created += 1
        return JSONResponse(self._issue())

    async def refresh_session(self, request: Request) -> Response:
        if (scripted := await self.intercept(request)) is not None:
            return scripted
        token = self._bearer(request)
        if token is None:
            return self.xrpc_error(401, "AuthMissing", "Authentication Required")
        if token not in self._refresh:
            return self.xrpc_error(400, "ExpiredToken", "Token has been revoked")
        self._refresh.discard(token)
        self.refreshes += 1
        return JSONResponse(self._issue())

    def _auth_failure(self, request: Request) -> Response | None:
        token = self._bearer(request)
        if token is None:
            return self.xrpc_error(401, "AuthMissing", "Authentication Required")
        if token not in self._access:
            return self.xrpc_error(401, "InvalidToken", "Token could not be verified")
        if self._access[token]:
            return self.xrpc_error(400, "ExpiredToken", "Token has expired")
        return None

    def _invalid_record(self, record: Any) -> str | None:
        """Why `record` breaks app.bsky.feed.post, or None."""
        if not isinstance(record, dict) or record.get("$type") != POST:
            return "Invalid app.bsky.feed.post record: Record/$type must be app.bsky.feed.post"
        text = record.get("text")
        if not isinstance(text, str) or not isinstance(record.get("createdAt"), str):
            return 'Invalid app.bsky.feed.post record: Record must have the property "text"'
        if graphemes(text) > self.max_graphemes:
            return (
                "Invalid app.bsky.feed.post record: Record/text must not be longer than "
                f"{self.max_graphemes} graphemes"
            )
        size = len(text.encode())
        for facet in record.get("facets") or []:
            index = facet.get("index") if isinstance(facet, dict) else None
            index = index if isinstance(index, dict) else {}
            start, end = index.get("byteStart"), index.get("byteEnd")
            if not (isinstance(start, int) and isinstance(end, int) and 0 <= start < end <= size):
                return "Invalid app.bsky.feed.post record: facet index out of range"
        reply = record.get("reply")
        if reply is not None:
            for part in ("root", "parent"):
                ref = reply.get(part) if isinstance(reply, dict) else None
                if not isinstance(ref, dict) or not ref.get("uri") or not ref.get("cid"):
                    return f"Invalid app.bsky.feed.post record: reply/{part} needs uri and cid"
                known = self.records.get(str(ref["uri"]).rsplit("/", 1)[-1])
                if known is None or known["cid"] != ref["cid"]:
                    return f"Invalid app.bsky.feed.post record: reply {part} not found"
        return None

    def _next_tid(self) -> str:
        value = ((time.time_ns() // 1000) << 10) | (next(self._clock) & 0x3FF)
        return "".join(_TID_ALPHABET[(value >> shift) & 31] for shift in range(60, -1, -5))

    async def create_record(self, request: Request) -> Response:
        if (scripted := await self.intercept(request)) is not None:
            return scripted
        if (refused := self._auth_failure(request)) is not None:
            return refused
        body = await self.json_body(request) or {}
        if body.get("repo") not in (self.did, self.handle):
            return self.error(400, "Input/repo must be the authenticated account")
        if body.get("collection") != POST:
            return self.error(400, f"this peer only takes {POST} records")
        rkey = body.get("rkey") or self._next_tid()
        if not isinstance(rkey, str) or not TID.match(rkey):
            return self.error(400, f"Invalid record key for {POST}: {rkey!r} is not a TID")
        record = body.get("record")
        if (problem := self._invalid_record(record)) is not None:
            return self.error(400, problem)
        assert isinstance(record, dict)  # _invalid_record checked it is one
        if rkey in self.records:  # the PDS answers a taken rkey with a 500 today
            return self.xrpc_error(500, "InternalServerError", "Internal Server Error")
        uri, cid = f"at://{self.did}/{POST}/{rkey}", _cid(record)
        self.records[rkey] = {"uri": uri, "cid": cid, "value": record}
        self.record(
            RecordedPost(uri, record["text"], record.get("reply"), dict(request.headers), body)
        )
        await self.pause()
        return JSONResponse(
            {
                "uri": uri,
                "cid": cid,
                "commit": {"cid": _cid([uri, cid]), "rev": self._next_tid()},
                "validationStatus": "valid",
            }
        )

    async def get_record(self, request: Request) -> Response:
        params = request.query_params
        found = self.records.get(params.get("rkey", ""))
        if params.get("repo") not in (self.did, self.handle) or found is None:
            uri = f"at://{params.get('repo')}/{params.get('collection')}/{params.get('rkey')}"
            return self.xrpc_error(400, "RecordNotFound", f"Could not locate record: {uri}")
        return JSONResponse(found)

    def linked_text(self, post: RecordedPost) -> list[str]:
        """The substrings the post's facets point at, sliced in UTF-8 bytes like a client does."""
        data = post.text.encode()
        return [
            data[f["index"]["byteStart"] : f["index"]["byteEnd"]].decode()
            for f in post.payload["record"].get("facets", [])
        ]
