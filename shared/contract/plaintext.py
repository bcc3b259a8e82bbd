"""One filter for every human text that is published: titles, summaries, update messages,
draft texts, marketing posts.

Texts come from people under pressure and from monitoring systems, and end up on the status
page, its JSON and Atom feed, and social platforms. Characters a reader cannot see and some
readers act on are removed, not refused: a paste with a stray form feed must not stop an
incident update. Removed: control characters (C0 but tab and newline, DEL, C1) with whole
ANSI escape sequences (`ESC [ 31 m`), lone surrogates, and Unicode noncharacters (U+FFFE,
U+FDD0…). CR LF and a lone CR become LF. Format characters (ZWJ in emoji, bidi marks in
right-to-left text) stay: they are part of legitimate writing.
"""

import re
from typing import Annotated

from pydantic import BeforeValidator

_NONCHARACTERS = "\ufdd0-\ufdef" + "".join(
    f"{chr(plane * 0x10000 + 0xFFFE)}{chr(plane * 0x10000 + 0xFFFF)}" for plane in range(17)
)
_ANSI_ESCAPE = re.compile(r"\x1b(?:\[[0-?]*[ -/]*[@-~]|[@-Z\\-_])")
_UNPUBLISHABLE = re.compile(f"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff{_NONCHARACTERS}]")
_LINE_BREAK = re.compile(r"\r\n?")


def published_text(text: str) -> str:
    """`text` as it may be published: see the module's docstring for what is removed."""
    text = _LINE_BREAK.sub("\n", text)
    return _UNPUBLISHABLE.sub("", _ANSI_ESCAPE.sub("", text))


def _filter(value: object) -> object:
    return published_text(value) if isinstance(value, str) else value


PUBLISHED = BeforeValidator(_filter)
"""The filter as pydantic metadata, for a text with its own rules inside an optional:
`Annotated[str, Field(max_length=2000), PUBLISHED] | None` (the rules stay `str` rules)."""

PublicText = Annotated[str, PUBLISHED]
"""A `str` field whose text is published: filtered before its length rules are checked."""
