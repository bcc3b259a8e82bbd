"""Retry hints, response classification and Bluesky's record keys and facets."""

import email.utils

import httpx
import pytest

from services.publisher.channels.http_support import (
    raise_for_status,
    retry_hint,
    seconds_from_retry_after,
    seconds_until_epoch,
    seconds_until_iso,
)
from services.publisher.channels.platforms.atproto import link_facets, record_key_for
from services.publisher.channels.platforms.x import seconds_until_reset
from services.publisher.channels.protocol import PermanentChannelError, RetryableChannelError

NOW = 1_767_225_600.0  # 2026-01-01T00:00:00Z


def test_retry_after_reads_seconds_and_http_dates() -> None:
    http_date = email.utils.formatdate(NOW + 90, usegmt=True)

    assert seconds_from_retry_after("5", now=NOW) == 5
    assert seconds_from_retry_after("1.5", now=NOW) == 1.5
    assert seconds_from_retry_after(http_date, now=NOW) == 90
    assert seconds_from_retry_after(email.utils.formatdate(NOW - 10, usegmt=True), now=NOW) == 0
    assert seconds_from_retry_after("soon", now=NOW) is None
    assert seconds_from_retry_after(None, now=NOW) is None


def test_reset_headers_read_epoch_seconds_and_iso_times() -> None:
    assert seconds_until_epoch(str(int(NOW) + 42), now=NOW) == 42
    assert seconds_until_epoch("garbage", now=NOW) is None
    assert seconds_until_iso("2026-01-01T00:05:00.000Z", now=NOW) == 300
    assert seconds_until_iso("2026-01-01T00:05:00", now=NOW) is None  # no zone: unknowable


def test_x_waits_for_the_latest_exhausted_limit() -> None:
    headers = httpx.Headers(
        {
            "x-rate-limit-remaining": "0",
            "x-rate-limit-reset": str(int(NOW) + 60),
            "x-user-limit-24hour-remaining": "0",
            "x-user-limit-24hour-reset": str(int(NOW) + 3600),
        }
    )

    assert seconds_until_reset(headers, now=NOW) == 3600
    assert (
        seconds_until_reset(httpx.Headers({"x-rate-limit-reset": str(int(NOW) + 60)}), now=NOW)
        == 60
    )
    assert seconds_until_reset(httpx.Headers({}), now=NOW) is None


@pytest.mark.parametrize("status", [408, 425, 429, 500, 502, 503, 504])
def test_transient_statuses_are_retryable(status: int) -> None:
    response = httpx.Response(status, headers={"Retry-After": "3"})

    with pytest.raises(RetryableChannelError, match=f"chan: HTTP {status}: busy") as raised:
        raise_for_status(
            response, channel_id="chan", reason="busy", retry_after=retry_hint(response)
        )

    assert raised.value.retry_after == 3
    assert raised.value.status == status


@pytest.mark.parametrize("status", [400, 401, 403, 404, 410, 413, 422])
def test_other_client_errors_are_permanent(status: int) -> None:
    with pytest.raises(PermanentChannelError, match=f"chan: HTTP {status}: refused"):
        raise_for_status(httpx.Response(status), channel_id="chan", reason="refused")


def test_a_reset_header_counts_only_for_a_429() -> None:
    assert retry_hint(httpx.Response(429), reset=12.0) == 12.0
    assert retry_hint(httpx.Response(503), reset=12.0) is None


def test_record_keys_are_stable_well_formed_tids() -> None:
    keys = {record_key_for(f"message-{n}") for n in range(200)}

    assert record_key_for("message-1") == record_key_for("message-1")
    assert len(keys) == 200
    for key in keys:
        assert len(key) == 13
        assert key[0] in "234567abcdefghij"
        assert set(key) <= set("234567abcdefghijklmnopqrstuvwxyz")


def test_link_facets_cover_every_url_in_utf8_bytes() -> None:
    text = "Zürich: https://a.example/x, more at https://b.example"

    facets = link_facets(text, "https://b.example")

    data = text.encode()
    assert [data[f["index"]["byteStart"] : f["index"]["byteEnd"]].decode() for f in facets] == [
        "https://a.example/x",
        "https://b.example",
    ]
    assert facets[0]["index"]["byteStart"] == len("Zürich: ".encode())


def test_a_link_without_a_scheme_gets_one_in_its_facet() -> None:
    facets = link_facets("Status at status.example.com now", "status.example.com")

    assert facets[0]["features"][0]["uri"] == "https://status.example.com"
    assert facets[0]["index"] == {"byteStart": 10, "byteEnd": 28}
