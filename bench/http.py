"""A lean HTTP/1.1 keep-alive client for the load: httpx costs the bench process ~1 ms of CPU
a request, enough to be the bottleneck against a service on the next core; this costs a
fraction of that (measured beside the HTTP floor: `bench/httpfloor.py`).

Only what the bench sends needs: one request at a time per connection, a JSON body, an
answer with Content-Length (uvicorn's for a JSON response).
"""

import asyncio
import contextlib
import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import httpx

Post = Callable[[str, dict[str, Any], dict[str, str]], Awaitable[tuple[int, bytes]]]
"""post(path, json body, headers) → (status, body): what the load sends through, this
client or httpx (the in-process mode's ASGI transport)."""
FAILURES = (OSError, EOFError, ValueError, httpx.HTTPError)
"""What a `Post` raises when the request got no answer (refused, reset, cut short)."""


class Connection:
    """One keep-alive connection; `post` is not safe to call concurrently on it."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, host: str):
        self.reader = reader
        self.writer = writer
        self.host = host

    @classmethod
    async def open(cls, url: str) -> "Connection":
        parts = urlsplit(url)
        if not parts.hostname or not parts.port:
            raise ValueError(f"need host:port in {url}")
        reader, writer = await asyncio.open_connection(parts.hostname, parts.port)
        return cls(reader, writer, f"{parts.hostname}:{parts.port}")

    async def post(
        self, path: str, body: dict[str, Any], headers: dict[str, str]
    ) -> tuple[int, bytes]:
        payload = json.dumps(body, separators=(",", ":")).encode()
        head = "".join(f"{k}: {v}\r\n" for k, v in headers.items())
        self.writer.write(
            f"POST {path} HTTP/1.1\r\nHost: {self.host}\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(payload)}\r\n{head}\r\n".encode()
            + payload
        )
        return await self._answer()

    async def _answer(self) -> tuple[int, bytes]:
        head = await self.reader.readuntil(b"\r\n\r\n")
        lines = head.split(b"\r\n")
        status = int(lines[0].split(b" ", 2)[1])
        length = 0
        for line in lines[1:]:
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"content-length":
                length = int(value)
            elif name.strip().lower() == b"transfer-encoding":
                raise ValueError("chunked answers are not supported by the bench's client")
        return status, await self.reader.readexactly(length) if length else b""

    async def close(self) -> None:
        self.writer.close()
        with contextlib.suppress(OSError):
            await self.writer.wait_closed()


@dataclass
class Pool:
    """Keep-alive connections to one server, opened as concurrency needs them (an open-loop
    load takes one per request in flight), closed together."""

    url: str
    idle: list[Connection] = field(default_factory=list)
    opened: int = 0

    async def post(
        self, path: str, body: dict[str, Any], headers: dict[str, str]
    ) -> tuple[int, bytes]:
        if self.idle:
            connection = self.idle.pop()
            try:
                return await self._send(connection, path, body, headers)
            except (ConnectionError, asyncio.IncompleteReadError):
                pass  # the server closed it while idle (uvicorn: after 5 s): a fresh one
        return await self._send(await self._open(), path, body, headers)

    async def _send(
        self, connection: Connection, path: str, body: dict[str, Any], headers: dict[str, str]
    ) -> tuple[int, bytes]:
        try:
            answer = await connection.post(path, body, headers)
        except BaseException:
            await connection.close()
            raise
        self.idle.append(connection)
        return answer

    async def _open(self) -> Connection:
        self.opened += 1
        return await Connection.open(self.url)

    async def close(self) -> None:
        for connection in self.idle:
            await connection.close()
        self.idle.clear()
