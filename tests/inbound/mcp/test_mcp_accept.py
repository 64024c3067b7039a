"""Issue 9 item 5: every answer of /mcp comes in a type the client's `Accept` allows.

A client that accepts only `text/event-stream` gets every method's answer and every error as an
SSE stream (the status kept); one that accepts only JSON gets JSON; one that accepts neither
gets 406. `Accept` is read with q-values (RFC 9110 §12.5.1)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
import orjson
import pytest

from tests.inbound.mcp.conftest import MODERN, Gateway
from toolwire.inbound.mcp import media

SSE_ONLY = "text/event-stream"
JSON_ONLY = "application/json"
PING = {"jsonrpc": "2.0", "id": 7, "method": "ping"}


def sse_messages(response: httpx.Response) -> list[Any]:
    """The JSON of each `data:` field of an SSE body."""
    return [
        orjson.loads(line[5:].strip())
        for line in response.text.splitlines()
        if line.startswith("data:") and line[5:].strip()
    ]


def answer_of(response: httpx.Response) -> Any:
    kind = response.headers.get("content-type", "")
    if kind.startswith("text/event-stream"):
        messages = sse_messages(response)
        assert len(messages) == 1, response.text
        return messages[0]
    assert kind.startswith("application/json"), kind
    return response.json()


def _modern_headers(method: str, accept: str, **extra: str) -> dict[str, str]:
    return {"accept": accept, "mcp-protocol-version": MODERN, "mcp-method": method, **extra}


def _modern(method: str, params: dict[str, Any] | None = None) -> dict[str, Any]:
    meta = {
        "io.modelcontextprotocol/protocolVersion": MODERN,
        "io.modelcontextprotocol/clientCapabilities": {},
    }
    return {
        "jsonrpc": "2.0",
        "id": 3,
        "method": method,
        "params": {**(params or {}), "_meta": meta},
    }


Exchange = Callable[[Gateway, str], httpx.Response]


def _initialize(gw: Gateway, accept: str) -> httpx.Response:
    body = {"protocolVersion": "2025-11-25", "capabilities": {}}
    return gw.post(
        {"jsonrpc": "2.0", "id": 0, "method": "initialize", "params": body},
        headers={"accept": accept},
    )


def _in_session(method: str, params: dict[str, Any] | None = None) -> Exchange:
    def run(gw: Gateway, accept: str) -> httpx.Response:
        return gw.call(gw.initialize(), method, params, headers={"accept": accept})

    return run


def _modern_call(method: str, params: dict[str, Any] | None = None, **extra: str) -> Exchange:
    def run(gw: Gateway, accept: str) -> httpx.Response:
        return gw.post(_modern(method, params), headers=_modern_headers(method, accept, **extra))

    return run


def _raw(content: bytes, content_type: str = "application/json", **extra: str) -> Exchange:
    def run(gw: Gateway, accept: str) -> httpx.Response:
        headers = {
            "authorization": f"Bearer {gw.key}",
            "accept": accept,
            "content-type": content_type,
            **extra,
        }
        return gw.http.post("/mcp", content=content, headers=headers)

    return run


EXCHANGES: dict[str, tuple[Exchange, int]] = {
    "initialize": (_initialize, 200),
    "ping without session": (
        lambda gw, accept: gw.post(PING, headers={"accept": accept}),
        200,
    ),
    "tools/call": (_in_session("tools/call", {"name": "echo", "arguments": {"message": "x"}}), 200),
    "tools/list": (_in_session("tools/list"), 200),
    "tool failure": (_in_session("tools/call", {"name": "test_error_handling"}), 200),
    "unknown tool": (_in_session("tools/call", {"name": "nope"}), 200),
    "unknown method": (_in_session("no/such"), 200),
    "modern tools/list": (_modern_call("tools/list"), 200),
    "modern tools/call": (
        _modern_call(
            "tools/call", {"name": "echo", "arguments": {"message": "x"}}, **{"mcp-name": "echo"}
        ),
        200,
    ),
    "modern unknown method": (_modern_call("no/such"), 404),
    "modern header mismatch": (_modern_call("tools/call", {"name": "echo"}), 400),
    "parse error": (_raw(b"{nope"), 400),
    "invalid request": (_raw(b'{"jsonrpc": "2.0", "id": 1}'), 400),
    "no session": (_raw(b'{"jsonrpc": "2.0", "id": 1, "method": "tools/list"}'), 400),
    "unknown session": (
        _raw(b'{"jsonrpc": "2.0", "id": 1, "method": "tools/list"}', **{"mcp-session-id": "x"}),
        404,
    ),
    "batch outside 2025-03-26": (_raw(b'[{"jsonrpc": "2.0", "id": 1, "method": "ping"}]'), 400),
    "wrong content type": (_raw(b"{}", "text/plain"), 415),
    "too large": (_raw(b'{"x": "' + b"a" * 70_000 + b'"}'), 413),
    "foreign origin": (_raw(orjson.dumps(PING), origin="http://evil.example.com"), 403),
    "legacy /messages without a session": (
        lambda gw, accept: gw.post(PING, headers={"accept": accept}, path="/messages"),
        400,
    ),
    "no credential": (
        lambda gw, accept: gw.http.post("/mcp", json=PING, headers={"accept": accept}),
        401,
    ),
}


@pytest.mark.parametrize("name", list(EXCHANGES))
def test_a_client_accepting_only_sse_gets_every_answer_and_error_as_sse(
    gateway: Gateway, name: str
) -> None:
    exchange, status = EXCHANGES[name]
    response = exchange(gateway, SSE_ONLY)
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("text/event-stream")
    assert answer_of(response)["jsonrpc"] == "2.0"


@pytest.mark.parametrize("name", list(EXCHANGES))
def test_a_client_accepting_only_json_gets_json(gateway: Gateway, name: str) -> None:
    exchange, status = EXCHANGES[name]
    response = exchange(gateway, JSON_ONLY)
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/json"


def test_the_issue_case_ping_and_tools_call_with_accept_sse_answer_sse(gateway: Gateway) -> None:
    ping = gateway.post(PING, headers={"accept": SSE_ONLY})
    session = gateway.initialize()
    call = gateway.call(
        session,
        "tools/call",
        {"name": "echo", "arguments": {"message": "hi"}},
        headers={"accept": SSE_ONLY},
    )
    assert ping.headers["content-type"].startswith("text/event-stream")
    assert answer_of(ping) == {"jsonrpc": "2.0", "id": 7, "result": {}}
    assert answer_of(call)["result"]["structuredContent"] == {"echo": "hi", "data": None}


@pytest.mark.parametrize(
    "accept",
    ["text/html", "image/png, text/plain", "application/json;q=0, text/event-stream;q=0"],
)
def test_a_client_accepting_neither_type_gets_406(gateway: Gateway, accept: str) -> None:
    response = gateway.post(PING, headers={"accept": accept})
    assert response.status_code == 406
    assert response.json()["error"]["code"] == -32600


@pytest.mark.parametrize(
    ("accept", "json", "sse"),
    [
        (None, True, True),
        ("", True, True),
        ("*/*", True, True),
        ("application/json, text/event-stream", True, True),
        ("text/event-stream", False, True),
        ("Text/Event-Stream; charset=utf-8", False, True),
        ("text/*", False, True),
        ("application/*", True, False),
        ("application/json;q=0, */*", False, True),
        ("text/event-stream;q=0, */*;q=0.1", True, False),
        ("application/json; q=0.0, text/event-stream", False, True),
        ("*/*;q=0", False, False),
        ("application/jsonx, text/event-streams", False, False),
        ("nonsense, text/event-stream", False, True),
    ],
)
def test_accept_is_read_with_q_values_and_specificity(
    accept: str | None, json: bool, sse: bool
) -> None:
    assert media.accepts(accept) == media.Accepts(json=json, sse=sse)
    assert media.accepts(accept) == media.Accepts(json=json, sse=sse)  # remembered: the same
    if accept:  # the same read, padded past what is remembered
        long = accept + "," + " " * media.CACHED_LENGTH
        assert media.accepts(long) == media.Accepts(json=json, sse=sse)


def test_only_short_accept_values_are_remembered() -> None:
    media._remembered.cache_clear()
    media.accepts("application/json")
    media.accepts("application/json, " + "x/y;q=0.5, " * 40)
    assert media._remembered.cache_info().currsize == 1


def test_subscriptions_listen_needs_sse_and_a_json_only_client_gets_406(gateway: Gateway) -> None:
    body = _modern("subscriptions/listen", {"notifications": {"toolsListChanged": True}})
    headers = _modern_headers("subscriptions/listen", JSON_ONLY)
    response = gateway.post(body, headers=headers)
    assert (response.status_code, response.json()["error"]["code"]) == (406, -32600)
