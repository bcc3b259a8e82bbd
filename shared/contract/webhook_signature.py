"""How Plan B signs what it POSTs to a webhook, and how a receiver checks it: part of the
contract with the organisation's own receivers (the webhook channel signs, receivers and the
sandbox's webhook peer verify). What a receiver gets:
`services/publisher/channels/platforms/webhook.py`."""

import hashlib
import hmac
import time

SIGNATURE_PREFIX = "sha256="


def sign(secret: str, timestamp: str, body: bytes) -> str:
    """`sha256=<hex HMAC-SHA256 of "{timestamp}.{body}">`, the `X-PlanB-Signature` value."""
    digest = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return SIGNATURE_PREFIX + digest.hexdigest()


def verify_signature(
    secret: str,
    *,
    timestamp: str,
    body: bytes | str,
    signature: str,
    tolerance: float = 300,
    now: float | None = None,
) -> bool:
    """True if `signature` signs `body` at `timestamp` with `secret`, within `tolerance` s."""
    try:
        signed_at = int(timestamp)
    except (TypeError, ValueError):
        return False
    if abs((time.time() if now is None else now) - signed_at) > tolerance:
        return False
    raw = body.encode() if isinstance(body, str) else body
    return hmac.compare_digest(sign(secret, timestamp, raw), signature)
