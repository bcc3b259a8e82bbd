"""How each platform measures a post, so a draft can be checked before it is sent.

No dependency on the rest of Plan B; the router checks drafts and the publisher checks posts
with the same rules:

    graphemes(text)          user-perceived characters (Bluesky, and the base of Mastodon's count)
    mastodon_length(text)    graphemes, with every URL counting 23 and `@user@domain` as `@user`
    x_weighted_length(text)  twitter-text v3: URLs 23, light ranges 1, emoji sequences and
                             everything else 2
    utf16_length(text)       UTF-16 code units (Telegram's 4096)
    sms_length(text)         GSM-7 septets (extension characters 2), or UCS-2 code units when
                             any character is outside GSM-7
    limit_for(type, ...)     a channel's limit and the counter that goes with it
"""

import re
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal, Protocol

import regex

URL_LENGTH = 23
"""What Mastodon and X count for any URL, whatever its real length (t.co / link shortening)."""

_GRAPHEME = regex.compile(r"\X")
_URL = re.compile(r"https?://[^\s<>\"'`]+", re.IGNORECASE)
_TRAILING = ".,;:!?'\"*"
_MASTODON_MENTION = re.compile(r"(?<![\w/@])@(\w+)@[\w.-]+\w", re.UNICODE)

# twitter-text v3 configuration: code point ranges (inclusive) that weigh 1; all else weighs 2.
_X_LIGHT_RANGES = ((0, 4351), (8192, 8205), (8208, 8223), (8242, 8247))
X_MAX_WEIGHTED_LENGTH = 280
_EMOJI_MARKERS = regex.compile(r"[\p{Extended_Pictographic}\p{Regional_Indicator}\u20e3\ufe0f]")


def graphemes(text: str) -> int:
    """Grapheme clusters: a flag, a family emoji or an accented letter each count one."""
    return len(_GRAPHEME.findall(text))


def find_urls(text: str) -> list[tuple[int, int]]:
    """(start, end) character spans of http(s) URLs, without trailing punctuation."""
    spans: list[tuple[int, int]] = []
    for match in _URL.finditer(text):
        start, end = match.span()
        while end > start and (
            text[end - 1] in _TRAILING
            or (text[end - 1] == ")" and text[start:end].count("(") < text[start:end].count(")"))
        ):
            end -= 1
        if end - start > len("https://"):
            spans.append((start, end))
    return spans


def _replace_urls(text: str, replacement: str) -> str:
    """`text` with every URL swapped for `replacement`."""
    parts: list[str] = []
    position = 0
    for start, end in find_urls(text):
        parts.append(text[position:start])
        parts.append(replacement)
        position = end
    parts.append(text[position:])
    return "".join(parts)


def mastodon_length(text: str, url_length: int = URL_LENGTH) -> int:
    """Mastodon's count: graphemes, URLs as `url_length`, remote mentions as the username."""
    countable = _replace_urls(text, "x" * url_length)
    countable = _MASTODON_MENTION.sub(r"@\1", countable)
    return graphemes(countable)


def _x_weight(code_point: int) -> int:
    """1 for the light ranges (Latin, Greek, Cyrillic, common punctuation...), 2 for the rest."""
    return 1 if any(low <= code_point <= high for low, high in _X_LIGHT_RANGES) else 2


def _x_segment_weight(segment: str) -> int:
    """Weighted length of text with no URLs in it; an emoji sequence weighs 2 as a whole."""
    total = 0
    for cluster in _GRAPHEME.findall(segment):
        if len(cluster) > 1 and _EMOJI_MARKERS.search(cluster):
            total += 2
        else:
            total += sum(_x_weight(ord(char)) for char in cluster)
    return total


def x_weighted_length(text: str) -> int:
    """twitter-text v3 weighted length after NFC normalisation (X's limit is 280)."""
    normalised = unicodedata.normalize("NFC", text)
    total = 0
    position = 0
    for start, end in find_urls(normalised):
        total += _x_segment_weight(normalised[position:start]) + URL_LENGTH
        position = end
    return total + _x_segment_weight(normalised[position:])


def utf16_length(text: str) -> int:
    """UTF-16 code units: what Telegram (and JavaScript) count; an emoji outside the BMP is 2."""
    return len(text.encode("utf-16-le")) // 2


def utf8_offsets(text: str, start: int, end: int) -> tuple[int, int]:
    """The UTF-8 byte span of the character span [start, end) (Bluesky facets index bytes)."""
    byte_start = len(text[:start].encode("utf-8"))
    return byte_start, byte_start + len(text[start:end].encode("utf-8"))


# GSM 03.38: the default alphabet (one septet each) and its extension table (escape + septet).
_GSM7_BASIC = frozenset(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
_GSM7_EXTENSION = frozenset("\f^{}\\[~]|€")
SMS_GSM7_LIMIT = 160
SMS_UCS2_LIMIT = 70


def is_gsm7(text: str) -> bool:
    """True when every character is in the GSM-7 alphabet or its extension table."""
    return all(char in _GSM7_BASIC or char in _GSM7_EXTENSION for char in text)


def sms_length(text: str) -> int:
    """Septets when the text is GSM-7 (extension characters take 2), else UCS-2 code units."""
    if is_gsm7(text):
        return sum(2 if char in _GSM7_EXTENSION else 1 for char in text)
    return utf16_length(text)


Counting = Literal["platform", "sms"]


@dataclass(frozen=True)
class Measured:
    """A text's length as one channel counts it, against that channel's limit."""

    length: int
    limit: int
    unit: str
    rule: str
    """How the platform counts, in words a duty manager can act on."""

    @property
    def fits(self) -> bool:
        return self.length <= self.limit

    @property
    def over(self) -> int:
        return max(0, self.length - self.limit)


class TextLimit(Protocol):
    @property
    def ellipsis(self) -> str:
        """What marks a shortened text, chosen so it doesn't change how the text is counted."""
        ...

    def measure(self, text: str) -> Measured: ...


@dataclass(frozen=True)
class CountedLimit:
    """A fixed limit in one unit, counted by `count`."""

    limit: int
    unit: str
    rule: str
    count: Callable[[str], int]
    ellipsis: str = "\u2026"

    def measure(self, text: str) -> Measured:
        return Measured(self.count(text), self.limit, self.unit, self.rule)


@dataclass(frozen=True)
class SmsLimit:
    """One SMS segment: its size depends on whether every character fits GSM-7."""

    rule: str = (
        "one SMS: 160 GSM-7 septets (€ [ ] { } ^ ~ | \\ count 2), "
        "or 70 UCS-2 code units once any character is outside GSM-7"
    )
    ellipsis: str = "..."  # "\u2026" is not GSM-7: it alone would shrink the SMS to 70

    def measure(self, text: str) -> Measured:
        if is_gsm7(text):
            return Measured(sms_length(text), SMS_GSM7_LIMIT, "GSM-7 septets", self.rule)
        return Measured(utf16_length(text), SMS_UCS2_LIMIT, "UCS-2 code units", self.rule)


_CHARACTERS = "characters (Unicode code points)"
_PLATFORM_LIMITS: dict[str, CountedLimit] = {
    "statuspage": CountedLimit(
        5000, "graphemes", "graphemes (what a reader sees as one)", graphemes
    ),
    "mastodon": CountedLimit(
        500,
        "characters",
        "graphemes; every link counts 23 and @user@server counts as @user",
        mastodon_length,
    ),
    "bluesky": CountedLimit(
        300, "graphemes", "graphemes (a flag or a family emoji counts 1)", graphemes
    ),
    "x": CountedLimit(
        X_MAX_WEIGHTED_LENGTH,
        "weighted characters",
        "weighted: links 23, Latin and common punctuation 1, CJK and emoji 2",
        x_weighted_length,
    ),
    "telegram": CountedLimit(
        4096, "UTF-16 code units", "UTF-16 code units (most emoji count 2)", utf16_length
    ),
    "slack": CountedLimit(40_000, "characters", _CHARACTERS, len),
    "webhook": CountedLimit(100_000, "characters", _CHARACTERS, len),
}


def limit_for(
    channel_type: str, *, max_chars: int | None = None, counting: Counting = "platform"
) -> TextLimit:
    """The limit a channel's posts must fit: the platform's (or `max_chars`), or one SMS."""
    if counting == "sms":
        return SmsLimit()
    try:
        platform = _PLATFORM_LIMITS[channel_type]
    except KeyError:
        raise ValueError(f"no length rule for channel type {channel_type!r}") from None
    if max_chars is None:
        return platform
    return CountedLimit(max_chars, platform.unit, platform.rule, platform.count)
