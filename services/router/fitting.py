"""Measuring a text as its channel counts it, and shortening it to fit.

Apart from rendering (`drafting.py`) because approvals, scheduled posts and the console's
counter measure texts too, with no template in sight. A text over the limit is shortened at
a word boundary, keeping the status-page link whole at the end.
"""

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import overload

import regex

from shared.contract.channels import ChannelConfig
from shared.contract.errors import Rejected
from shared.contract.textlength import Measured, TextLimit, graphemes, limit_for

_GRAPHEME = regex.compile(r"\X")


@dataclass(frozen=True)
class Drafted:
    """One channel's text with its length as the channel counts it and what was cut."""

    text: str
    length: int
    limit: int
    cut_chars: int


def channel_limit(channel: ChannelConfig) -> TextLimit:
    """How `channel` counts a post and how long it may be (`counting: sms` means one SMS)."""
    return limit_for(channel.type.value, max_chars=channel.max_chars, counting=channel.counting)


def measure_fitting(channel: ChannelConfig, text: str) -> Measured:
    """The text's length as the channel counts it; a 422 with the figures when it is over,
    so an edited draft and a scheduled post are refused in the same words."""
    measured = channel_limit(channel).measure(text)
    if not measured.fits:
        raise Rejected(
            "Text too long",
            f"The text is {measured.length} {measured.unit} as {channel.id} ({channel.type}) "
            f"counts it; the limit is {measured.limit}, so it is {measured.over} over. "
            f"How it counts: {measured.rule}.",
            channel_id=channel.id,
            length=measured.length,
            limit=measured.limit,
            over=measured.over,
            unit=measured.unit,
            counting=measured.rule,
        )
    return measured


def fit(text: str, limit: TextLimit, *, keep: str) -> Drafted:
    """`text` if it fits, else shortened at a word boundary with `keep` (the link) at the end."""
    measured = limit.measure(text)
    if measured.fits:
        return Drafted(text, measured.length, measured.limit, 0)
    body, tail = _split_link(text, keep)
    marker = limit.ellipsis + tail
    head = _longest_fitting(_word_heads(body), lambda h: limit.measure(h + marker).fits)
    if head is None:  # the first word alone is too long: cut inside it
        head = _longest_fitting(_GraphemeHeads(body), lambda h: limit.measure(h + marker).fits)
    if head is not None:
        result, cut = head + marker, graphemes(body) - graphemes(head)
    else:  # not even the link fits: cut the whole text, link or not
        head = _longest_fitting(
            _GraphemeHeads(text), lambda h: limit.measure(h + limit.ellipsis).fits
        )
        result, cut = (head or "") + limit.ellipsis, graphemes(text) - graphemes(head or "")
    final = limit.measure(result)
    return Drafted(result, final.length, final.limit, cut)


def _split_link(text: str, link: str) -> tuple[str, str]:
    """The text without its (last) link, and what goes after the ellipsis."""
    at = text.rfind(link) if link else -1
    if at < 0:
        return text, ""
    body = (text[:at].rstrip() + " " + text[at + len(link) :].strip()).strip()
    return body, " " + link


def _word_heads(body: str) -> list[str]:
    """Every prefix that ends at a word, shortest first, without trailing punctuation."""
    heads = []
    for match in re.finditer(r"\s+", body):
        head = body[: match.start()].rstrip(" ,;:-(\u2013\u2014")
        if head:
            heads.append(head)
    return heads


class _GraphemeHeads(Sequence[str]):
    """Prefixes of whole grapheme clusters, shortest (empty) first, made on demand."""

    def __init__(self, text: str) -> None:
        self._ends = [0, *(match.end() for match in _GRAPHEME.finditer(text))][:-1]
        self._text = text

    def __len__(self) -> int:
        return len(self._ends)

    @overload
    def __getitem__(self, index: int) -> str: ...
    @overload
    def __getitem__(self, index: slice) -> list[str]: ...
    def __getitem__(self, index: int | slice) -> str | list[str]:
        if isinstance(index, slice):
            return [self._text[:end] for end in self._ends[index]]
        return self._text[: self._ends[index]]


def _longest_fitting(heads: Sequence[str], fits: Callable[[str], bool]) -> str | None:
    """The longest of `heads` (ordered shortest first) that fits, by binary search."""
    low, high, best = 0, len(heads) - 1, None
    while low <= high:
        middle = (low + high) // 2
        if fits(heads[middle]):
            best, low = heads[middle], middle + 1
        else:
            high = middle - 1
    return best
