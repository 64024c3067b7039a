"""What an upstream answers, normalised: redirects are errors (never followed, never charged),
429 is RATE_LIMITED with its `Retry-After` in every door's form, a 503's delay is kept, and text
with invalid UTF-8 or lone surrogates arrives with U+FFFD instead of failing the call."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from typing import Any

import pytest

from tests.upstream.harness import gateway_over
from tests.upstream.http_app import Api
from tests.upstream.servers import Served, serving
from toolwire.upstream.errors import MAX_RETRY_AFTER_S, retry_after_seconds
from toolwire.upstream.text import clean, load_json

ANY_ARGS = {"type": "object", "properties": {"status": {}, "retry_after": {}, "hex": {}, "to": {}}}


@pytest.fixture(scope="module")
def api() -> Iterator[tuple[Api, Served]]:
    state = Api()
    with serving(state.app()) as served:
        yield state, served


def config(url: str, attempts: int = 1) -> dict[str, Any]:
    def op(path: str, method: str = "GET", **more: Any) -> dict[str, Any]:
        return {
            "upstream": "u",
            "description": path,
            "input_schema": ANY_ARGS,
            "method": method,
            "path": path,
            "query": "{retry_after: retry_after, hex: hex, to: to}",
            **more,
        }

    return {
        "upstreams": {
            "u": {
                "base_url": url,
                "allow_private_networks": True,
                "timeout": 5,
                "retries": {"attempts": attempts, "backoff": 0.01},
                "auth": {"type": "bearer", "secret": "k"},
            }
        },
        "tools": {
            "t": {
                "description": "t",
                "operations": {
                    "redirect": op("/redirect/{status}"),
                    "redirect_post": op("/redirect/{status}", "POST", body="`{}`"),
                    "status": op("/status/{status}"),
                    "status_post": op("/status/{status}", "POST", body="`{}`"),
                    "raw": op("/raw"),
                    "envelope": op("/redirect/{status}", response_envelope=True, response="status"),
                },
            }
        },
        "prices": {"t": 1},
    }


@pytest.mark.parametrize("status", [300, 301, 302, 303, 304, 307, 308])
@pytest.mark.parametrize("operation", ["t.redirect", "t.redirect_post", "t.envelope"])
async def test_every_redirect_is_an_uncharged_upstream_error_and_is_not_followed(
    api: tuple[Api, Served], sqlite_url: str, status: int, operation: str
) -> None:
    state, served = api
    async with gateway_over(sqlite_url, config(served.url), {"k": "redirect-key-0123"}) as h:
        before = await h.balance()
        hits = state.hits["redirect"]
        got = await h.call(operation, status=status, to=f"{served.url}/items/1")
        after = await h.balance()
    assert got.error is not None
    assert (got.error.code, got.error.details) == (
        "UPSTREAM_ERROR",
        {"upstream": "u", "reason": "redirect", "status": status},
    )
    assert got.meta.credits_charged == 0 and after == before
    assert state.hits["redirect"] == hits + 1


@pytest.mark.parametrize("attempts", [1, 3])
async def test_an_upstream_429_is_rate_limited_with_its_delay_and_uncharged(
    api: tuple[Api, Served], sqlite_url: str, attempts: int
) -> None:
    state, served = api
    async with gateway_over(sqlite_url, config(served.url, attempts), {"k": "rl-key-0123"}) as h:
        before = await h.balance()
        hits = state.hits["status"]
        got = await h.call("t.status", status=429, retry_after="120")
        after = await h.balance()
    assert got.error is not None
    assert got.error.code == "RATE_LIMITED"
    assert got.error.details == {
        "upstream": "u",
        "reason": "upstream_rate_limited",
        "status": 429,
        "retryable": True,
        "retry_after_s": 120,
    }
    assert got.meta.credits_charged == 0 and after == before
    # a 120 s wait is longer than any backoff: not retried, even for an idempotent operation
    assert state.hits["status"] == hits + 1


async def test_a_retry_after_as_an_http_date_is_read(
    api: tuple[Api, Served], sqlite_url: str
) -> None:
    _, served = api
    when = format_datetime(datetime.now(UTC) + timedelta(seconds=90), usegmt=True)
    async with gateway_over(sqlite_url, config(served.url), {"k": "rl-key-0123"}) as h:
        got = await h.call("t.status_post", status=429, retry_after=when)
        unavailable = await h.call("t.status", status=503, retry_after="30")
        plain = await h.call("t.status", status=429)
    assert got.error is not None and got.error.code == "RATE_LIMITED"
    assert 80 <= got.error.details["retry_after_s"] <= 91
    assert unavailable.error is not None
    assert (unavailable.error.code, unavailable.error.details["retry_after_s"]) == (
        "UPSTREAM_ERROR",
        30,
    )
    assert plain.error is not None and plain.error.code == "RATE_LIMITED"
    assert "retry_after_s" not in plain.error.details


async def test_a_short_retry_after_is_waited_for_on_idempotent_operations_only(
    api: tuple[Api, Served], sqlite_url: str
) -> None:
    state, served = api
    async with gateway_over(sqlite_url, config(served.url, 3), {"k": "rl-key-0123"}) as h:
        hits = state.hits["status"]
        got = await h.call("t.status", status=429, retry_after="0")
        retried = state.hits["status"] - hits
        posted = await h.call("t.status_post", status=429, retry_after="0")
    assert got.error is not None and got.error.code == "RATE_LIMITED"
    assert retried == 3
    assert posted.error is not None and state.hits["status"] - hits == 4


@pytest.mark.parametrize(
    ("value", "seconds"),
    [
        ("120", 120),
        (" 7 ", 7),
        ("0", 0),
        ("99999999999999999999", MAX_RETRY_AFTER_S),
        ("Wed, 21 Oct 2015 07:28:00 GMT", 0),  # in the past
        ("Sun, 06 Nov 1994 08:49:37 GMT", 0),
        ("-5", None),
        ("1.5", None),
        ("soon", None),
        ("\u0661\u0662", None),  # Arabic-Indic digits are not delay-seconds
        (None, None),
    ],
)
def test_retry_after_is_read_as_seconds_or_an_http_date(
    value: str | None, seconds: int | None
) -> None:
    assert retry_after_seconds(value) == seconds


def test_an_http_date_counts_from_now() -> None:
    now = datetime(2026, 1, 1, tzinfo=UTC)
    assert retry_after_seconds("Thu, 01 Jan 2026 00:02:00 GMT", now) == 120


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (b'{"text": "cut \\ud83d here"}', {"text": "cut \ufffd here"}),
        (b'{"text": "end \\udc00"}', {"text": "end \ufffd"}),
        (b'{"\\ud800": ["\\udfff", "ok \\ud83d\\ude00"]}', {"\ufffd": ["\ufffd", "ok \U0001f600"]}),
        (b'{"text": "bad \xff byte"}', {"text": "bad \ufffd byte"}),
        (b'{"text": "cut \xf0\x9f\x98"}', {"text": "cut \ufffd"}),
        (b'\xef\xbb\xbf{"bom": 1}', {"bom": 1}),
    ],
)
def test_bad_characters_in_upstream_json_become_the_replacement_character(
    body: bytes, expected: Any
) -> None:
    assert load_json(body) == expected


@pytest.mark.parametrize("body", [b"<html>", b'{"a": NaN}', b"{", b"[" * 5000 + b"]" * 5000])
def test_a_body_that_is_not_json_stays_an_error(body: bytes) -> None:
    with pytest.raises(ValueError):
        load_json(body)


def test_clean_replaces_lone_surrogates_anywhere_in_data() -> None:
    assert clean({"a\ud800": ["x\udfff", 1, None]}) == {"a\ufffd": ["x\ufffd", 1, None]}


@pytest.mark.parametrize(
    ("hex_body", "text"),
    [
        (b'{"text": "cut \\ud83d here"}'.hex(), "cut \ufffd here"),
        (b'{"text": "bad \xff byte"}'.hex(), "bad \ufffd byte"),
    ],
)
async def test_an_answer_with_bad_characters_is_delivered_not_refused(
    api: tuple[Api, Served], sqlite_url: str, hex_body: str, text: str
) -> None:
    _, served = api
    async with gateway_over(sqlite_url, config(served.url), {"k": "raw-key-0123"}) as h:
        got = await h.call("t.raw", hex=hex_body)
    assert got.ok, got.error
    assert got.data == {"text": text}
    assert got.meta.credits_charged > 0
