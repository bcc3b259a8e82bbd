"""How each platform counts a post: graphemes, Mastodon, X's weighted length, UTF-16, SMS;
and each channel type's limit."""

import pytest

from shared.contract.textlength import (
    Measured,
    find_urls,
    graphemes,
    is_gsm7,
    limit_for,
    mastodon_length,
    sms_length,
    utf8_offsets,
    utf16_length,
    x_weighted_length,
)

FAMILY = "\U0001f468\u200d\U0001f469\u200d\U0001f467"  # man, ZWJ, woman, ZWJ, girl
FLAG = "\U0001f1ec\U0001f1e7"  # regional indicators G, B
KEYCAP = "1\ufe0f\u20e3"
THUMBS_TONE = "\U0001f44d\U0001f3fd"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("hello", 5),
        ("e\u0301", 1),  # e + combining acute is one user-perceived character
        (FAMILY, 1),
        (FLAG, 1),
        (KEYCAP, 1),
        (THUMBS_TONE, 1),
        ("日本語", 3),
        ("", 0),
    ],
)
def test_graphemes_count_what_a_reader_sees(text: str, expected: int) -> None:
    assert graphemes(text) == expected


def test_find_urls_leaves_trailing_punctuation_outside() -> None:
    text = "See https://example.com/a/b. Or (https://example.com/wiki/X_(y)), then http://x.io!"

    spans = [text[start:end] for start, end in find_urls(text)]

    assert spans == ["https://example.com/a/b", "https://example.com/wiki/X_(y)", "http://x.io"]


def test_a_bare_scheme_is_not_a_url() -> None:
    assert find_urls("type https:// into the bar") == []


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Trains delayed.", 15),
        ("Details: https://status.example.com/incidents/2024-06-01/leeds-signal-failure", 9 + 23),
        ("Short link http://a.io", 11 + 23),
        ("Thanks @ops@mastodon.example.org", len("Thanks @ops")),
        (f"{FAMILY} {FLAG}", 3),
    ],
)
def test_mastodon_counts_urls_as_23_and_remote_mentions_as_the_username(
    text: str, expected: int
) -> None:
    assert mastodon_length(text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Hello world", 11),  # Latin weighs 1
        ("Ελληνικά Кириллица", 18),  # Greek and Cyrillic are in the light range 0-4351
        ("日本語", 6),  # CJK weighs 2
        ("한국어", 6),
        ("\u2014\u2019", 2),  # em dash and right quote are in 8208-8223
        ("\u2026", 2),  # the ellipsis (8230) is not
        ("\u2070", 2),  # superscript zero (8304) is outside every light range
        ("\U0001f600", 2),
        (FAMILY, 2),  # an emoji ZWJ sequence counts 2 as a whole
        (FLAG, 2),
        (KEYCAP, 2),
        (THUMBS_TONE, 2),
        ("e\u0301", 1),  # NFC first: é is one light code point
        ("Go https://example.com/a/very/long/path/that/is/long", 3 + 23),
        ("運休" * 70, 280),
    ],
)
def test_x_weighted_length_follows_twitter_text_v3(text: str, expected: int) -> None:
    assert x_weighted_length(text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [("abc", 3), ("é", 1), ("日本", 2), ("\U0001f600", 2), (FAMILY, 8), (FLAG, 4)],
)
def test_utf16_length_counts_code_units(text: str, expected: int) -> None:
    assert utf16_length(text) == expected


def test_utf8_offsets_count_bytes_not_characters() -> None:
    text = "Café ☕ https://x.io"
    start = text.index("https")

    assert utf8_offsets(text, start, len(text)) == (10, 10 + len("https://x.io"))
    assert text.encode()[10:].decode() == "https://x.io"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Trains delayed", 14),  # plain GSM-7: one septet each
        ("Fare 5€", 8),  # € is in the extension table: 2 septets
        ("[a]", 5),  # [ and ] too
        ("{}^~|\\", 12),
        ("café à Zürich", 13),  # é, à and ü are in the basic table
        ("Grüße", 5),  # ß as well
        ("Kraków", 6),  # ó is not GSM-7: UCS-2, one code unit each
        ("運休", 2),
        ("Late \U0001f600", 7),  # an emoji outside the BMP is two UCS-2 code units
        (FAMILY, 8),
    ],
)
def test_sms_length_counts_septets_or_ucs2_units(text: str, expected: int) -> None:
    assert sms_length(text) == expected


def test_one_non_gsm_character_switches_the_whole_sms_to_ucs2() -> None:
    gsm = "a" * 160
    sms = limit_for("webhook", counting="sms")

    assert sms.measure(gsm) == Measured(160, 160, "GSM-7 septets", sms.measure(gsm).rule)
    assert sms.measure(gsm[:-1] + "€").over == 1  # the extension character takes two
    switched = sms.measure("a" * 69 + "ć")
    assert (switched.length, switched.limit, switched.unit) == (70, 70, "UCS-2 code units")
    assert not sms.measure("a" * 70 + "ć").fits
    assert is_gsm7(gsm)
    assert not is_gsm7("ć")


@pytest.mark.parametrize(
    ("channel_type", "max_chars", "text", "length", "limit"),
    [
        ("bluesky", None, f"{FAMILY}{FLAG}{THUMBS_TONE}e\u0301", 4, 300),
        ("mastodon", None, "See https://example.com/" + "a" * 80, 4 + 23, 500),
        ("mastodon", 11000, "Hi", 2, 11000),  # an instance with a bigger limit
        ("x", None, "運休 https://example.com/very/long", 4 + 1 + 23, 280),
        ("telegram", None, f"{FAMILY} ok", 11, 4096),
        ("slack", None, "hello", 5, 40_000),
        ("webhook", None, "hello", 5, 100_000),
        ("webhook", 500, "hello", 5, 500),
        ("statuspage", None, FLAG, 1, 5000),
    ],
)
def test_limit_for_counts_as_each_platform_does(
    channel_type: str, max_chars: int | None, text: str, length: int, limit: int
) -> None:
    measured = limit_for(channel_type, max_chars=max_chars).measure(text)

    assert (measured.length, measured.limit) == (length, limit)


def test_an_unknown_channel_type_has_no_rule() -> None:
    with pytest.raises(ValueError, match="no length rule for channel type 'fax'"):
        limit_for("fax")
