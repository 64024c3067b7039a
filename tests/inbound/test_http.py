"""The raw ASGI helpers of `toolwire.inbound.http` answer exactly as their Starlette forms."""

from __future__ import annotations

from typing import Any

import pytest
from starlette.datastructures import Headers

from toolwire.core.errors import PayloadTooLarge
from toolwire.inbound.http import (
    IndexedHeaders,
    api_key_of,
    json_response,
    receive_body,
    scope_headers,
    send_json,
)

RAW = [
    (b"accept", b"application/json"),
    (b"x-api-key", b"k1"),
    (b"accept", b"text/event-stream"),
    (b"mcp-name", b"echo"),
]


def test_indexed_headers_read_as_starlette_headers() -> None:
    indexed, plain = IndexedHeaders({"headers": list(RAW)}), Headers(scope={"headers": list(RAW)})
    for name in ("accept", "Accept", "X-API-Key", "mcp-name", "absent"):
        assert indexed.get(name) == plain.get(name)
        assert (name in indexed) == (name in plain)
        assert indexed.getlist(name) == plain.getlist(name)
    assert indexed["ACCEPT"] == "application/json"  # the first value wins, as in Starlette
    assert dict(indexed) == dict(plain)


def test_the_key_is_the_bearer_token_else_x_api_key() -> None:
    assert api_key_of("Bearer  tw_k ", "other") == "tw_k"
    assert api_key_of("Basic abc", "other") is None  # another scheme: no key, never a fallback
    assert api_key_of(None, "tw_x") == "tw_x"
    assert api_key_of(None, None) is None
    assert scope_headers({"headers": RAW}, frozenset({b"accept", b"nope"})) == {
        b"accept": "application/json"
    }


async def test_send_json_writes_what_json_response_writes() -> None:
    body = {"ok": True, "data": {"n": 1, 2: "x"}, "meta": {"request_id": "r"}}
    headers = {"x-request-id": "r", "retry-after": "3"}
    raw: list[Any] = []
    via: list[Any] = []

    async def collect(message: Any) -> None:
        raw.append(message)

    async def collect_response(message: Any) -> None:
        via.append(message)

    async def nothing() -> Any:
        return {"type": "http.disconnect"}

    await send_json(collect, body, 429, headers)
    await json_response(body, 429, headers)({"type": "http"}, nothing, collect_response)
    assert raw[0]["status"] == via[0]["status"] == 429
    assert sorted(raw[0]["headers"]) == sorted(via[0]["headers"])
    assert raw[1]["body"] == via[1]["body"]


async def test_receive_body_joins_chunks_and_lets_the_limit_error_through() -> None:
    chunks = iter(
        [
            {"type": "http.request", "body": b'{"a":', "more_body": True},
            {"type": "http.request", "body": b"1}", "more_body": False},
        ]
    )

    async def receive() -> Any:
        return next(chunks)

    assert await receive_body(receive) == b'{"a":1}'

    async def too_large() -> Any:
        raise PayloadTooLarge("over", details={"limit_bytes": 1})

    with pytest.raises(PayloadTooLarge) as refused:
        await receive_body(too_large)
    assert refused.value.details == {"limit_bytes": 1}
