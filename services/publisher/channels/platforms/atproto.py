"""atproto building blocks the Bluesky adapter needs: record keys (TIDs) and link facets."""

import hashlib
from typing import Any

from shared.contract.textlength import find_urls, utf8_offsets

_TID_ALPHABET = "234567abcdefghijklmnopqrstuvwxyz"
_TID_BASE_MICROS = 1_704_067_200_000_000  # 2024-01-01T00:00:00Z


def record_key_for(idempotency_key: str) -> str:
    """A TID (13 base32-sortable characters) that is always the same for the same key.

    TIDs are 64 bits: a zero, 53 bits of microseconds, 10 bits of clock id. Bluesky's
    AppView only indexes posts whose rkey is a TID, so this one is well-formed, with a
    timestamp in a fixed window in the past (never in the future).
    """
    number = int.from_bytes(hashlib.sha256(f"planb:{idempotency_key}".encode()).digest()[:8])
    micros = _TID_BASE_MICROS + (number >> 10) % (1 << 40)
    value = (micros << 10) | (number & 0x3FF)
    return "".join(_TID_ALPHABET[(value >> shift) & 31] for shift in range(60, -1, -5))


def link_facets(text: str, link: str | None = None) -> list[dict[str, Any]]:
    """Link facets for every URL in `text` (and `link` wherever it appears), in UTF-8 bytes."""
    spans = set(find_urls(text))
    if link:
        start = text.find(link)
        if start >= 0 and not any(s <= start < e for s, e in spans):
            spans.add((start, start + len(link)))
    facets = []
    for start, end in sorted(spans):
        byte_start, byte_end = utf8_offsets(text, start, end)
        uri = text[start:end]
        if "://" not in uri:
            uri = f"https://{uri}"
        facets.append(
            {
                "index": {"byteStart": byte_start, "byteEnd": byte_end},
                "features": [{"$type": "app.bsky.richtext.facet#link", "uri": uri}],
            }
        )
    return facets
