"""Console sign-in: a signed, HTTP-only session cookie and per-session CSRF tokens.

The cookie holds a random session id, whether it is signed in, and an expiry, signed with
HMAC-SHA256; who is signed in, and until when, is on the server (`signins.py`), so signing
out or revoking the token ends the session wherever the cookie went. A visitor who is not
signed in gets an anonymous session too (cookie only), so the sign-in form carries a CSRF
token like every other form.
"""

import base64
import hashlib
import hmac
import json
import logging
import os
import secrets
import time
from dataclasses import dataclass
from pathlib import Path

from fastapi import Request, Response

from services.router.settings import RouterSettings

log = logging.getLogger(__name__)

COOKIE = "planb_console"
FLASH_COOKIE = "planb_console_flash"
COOKIE_PATH = "/console"
CSRF_FIELD = "csrf"
CSRF_HEADER = "x-csrf-token"


def load_secret(settings: RouterSettings) -> bytes:
    """CONSOLE_SECRET, or (outside production, where the settings require it) a random
    secret kept in DATA_DIR/console-secret (0600), made once."""
    if settings.console_secret is not None:
        return settings.console_secret.get_secret_value().encode()
    path: Path = settings.data_dir / "console-secret"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            pass  # another replica made it first: read theirs
        else:
            with os.fdopen(fd, "w") as handle:
                handle.write(secrets.token_urlsafe(48) + "\n")
    return path.read_text().strip().encode()


@dataclass(frozen=True)
class ConsoleSession:
    sid: str
    signed_in: bool
    expires: int


class Signer:
    """Signs and checks cookie values and CSRF tokens with one secret."""

    def __init__(self, secret: bytes, *, session_seconds: int) -> None:
        self._key = hashlib.sha256(b"planb-console|" + secret).digest()
        self.session_seconds = session_seconds

    def _mac(self, purpose: str, data: bytes) -> bytes:
        return hmac.new(self._key, purpose.encode() + b"|" + data, hashlib.sha256).digest()

    def sign(self, purpose: str, payload: dict[str, object]) -> str:
        data = json.dumps(payload, separators=(",", ":"), sort_keys=True).encode()
        return _b64(data) + "." + _b64(self._mac(purpose, data))

    def unsign(self, purpose: str, value: str | None) -> dict[str, object] | None:
        """The payload if `value` was signed by us for `purpose` and has not expired."""
        if not value or value.count(".") != 1:
            return None
        data_part, mac_part = value.split(".")
        try:
            data, mac = _unb64(data_part), _unb64(mac_part)
        except ValueError:
            return None
        if not hmac.compare_digest(mac, self._mac(purpose, data)):
            return None
        payload = json.loads(data)
        expires = payload.get("exp")
        if not isinstance(expires, int) or expires < time.time():
            return None
        return dict(payload)

    def csrf_token(self, session: ConsoleSession) -> str:
        return _b64(self._mac("csrf", session.sid.encode()))

    def csrf_ok(self, session: ConsoleSession, presented: str | None) -> bool:
        return bool(presented) and hmac.compare_digest(presented or "", self.csrf_token(session))

    def new_session(self, *, signed_in: bool) -> ConsoleSession:
        """A fresh session id (a new one at sign-in, so a planted id is worth nothing)."""
        expires = int(time.time()) + self.session_seconds
        return ConsoleSession(sid=secrets.token_urlsafe(24), signed_in=signed_in, expires=expires)

    def read(self, request: Request) -> ConsoleSession | None:
        payload = self.unsign("session", request.cookies.get(COOKIE))
        if payload is None:
            return None
        sid, signed_in, expires = payload.get("sid"), payload.get("in"), payload.get("exp")
        if not isinstance(sid, str) or not isinstance(expires, int):
            return None
        return ConsoleSession(sid, signed_in is True, expires)

    def write(self, response: Response, session: ConsoleSession) -> None:
        value = self.sign(
            "session", {"sid": session.sid, "in": session.signed_in, "exp": session.expires}
        )
        _set_cookie(response, COOKIE, value, max_age=self.session_seconds)

    def flash(self, response: Response, message: str, kind: str = "ok") -> None:
        """A one-time message for the page after a redirect (post, redirect, get)."""
        value = self.sign("flash", {"m": message[:500], "k": kind, "exp": int(time.time()) + 60})
        _set_cookie(response, FLASH_COOKIE, value, max_age=60)

    def take_flash(self, request: Request) -> tuple[str, str] | None:
        payload = self.unsign("flash", request.cookies.get(FLASH_COOKIE))
        if payload is None:
            return None
        return str(payload.get("m", "")), str(payload.get("k", "ok"))


def clear(response: Response, name: str) -> None:
    response.delete_cookie(name, path=COOKIE_PATH, secure=True, httponly=True, samesite="lax")


def _set_cookie(response: Response, name: str, value: str, *, max_age: int) -> None:
    # SameSite=Lax, not Strict: a duty manager opening a link from a pager or a chat app
    # must arrive signed in; cross-site form posts still carry no cookie, and every form
    # carries a CSRF token besides.
    response.set_cookie(
        name,
        value,
        max_age=max_age,
        path=COOKIE_PATH,
        secure=True,
        httponly=True,
        samesite="lax",
    )


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    try:
        return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (ValueError, TypeError) as exc:
        raise ValueError("not base64") from exc
