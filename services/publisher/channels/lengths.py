"""How each platform measures a post, so a draft can be checked before it is sent.

No dependency on the rest of Plan B (the router will reuse these for its drafts):

    graphemes(text)          user-perceived characters (Bluesky, and the base of Mastodon's count)
    mastodon_length(text)    graphemes, with every URL counting 23 and `@user@domain` as `@user`
    x_weighted_length(text)  twitter-text v3: URLs 23, light ranges 1, emoji sequences and
                             everything else 2
    utf16_length(text)       UTF-16 code units (Telegram's 4096)
"""

import re
import unicodedata

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
