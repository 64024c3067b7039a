"""Issue 9 item 7: JSON-RPC 2.0 batches (§5-6) in a 2025-03-26 session, over Streamable HTTP and
over stdio alike: `[]` is one Invalid Request error with id null; error entries carry `id`
(null when it cannot be read); a batch of notifications only gets no content; a mixed batch gets
one entry per request."""

from __future__ import annotations

from typing import Any

from tests.inbound.mcp.conftest import Gateway

V = "2025-03-26"
PING = {"jsonrpc": "2.0", "id": "p", "method": "ping"}
NOTE = {"jsonrpc": "2.0", "method": "notifications/initialized"}
INVALID = [
    (42, None),
    ({"jsonrpc": "2.0", "id": 5}, 5),
    ({"jsonrpc": "2.0", "id": None, "method": "ping"}, None),
    ({"jsonrpc": "1.0", "id": "old", "method": "ping"}, "old"),
    ({"jsonrpc": "2.0", "id": 6, "method": "ping", "params": [1]}, 6),
]


def over_http(gateway: Gateway, body: Any, version: str = V) -> tuple[int, Any]:
    session = gateway.initialize(version)
    response = gateway.post(body, headers={"mcp-session-id": session})
    return response.status_code, (response.json() if response.content else None)


def over_stdio(gateway: Gateway, body: Any, version: str = V) -> list[Any]:
    """What `toolwire stdio --local` writes for an initialize line and then `body`."""
    return gateway.stdio([body], version)[1:]


def test_the_issue_case_an_empty_batch_is_one_invalid_request_with_id_null(
    gateway: Gateway,
) -> None:
    status, body = over_http(gateway, [])
    assert status == 400
    assert body["id"] is None and "id" in body
    assert body["error"]["code"] == -32600
    assert "empty" in body["error"]["message"]
    [line] = over_stdio(gateway, [])
    assert line == body


def test_a_batch_outside_2025_03_26_is_refused_as_one_error_with_id_null(
    gateway: Gateway,
) -> None:
    status, body = over_http(gateway, [PING], version="2025-06-18")
    assert (status, body["id"], body["error"]["code"]) == (400, None, -32600)
    [line] = over_stdio(gateway, [PING], version="2025-06-18")
    assert line == body


def test_error_entries_in_a_batch_carry_their_id_or_null(gateway: Gateway) -> None:
    items = [item for item, _ in INVALID]
    status, body = over_http(gateway, [*items, PING])
    [stdio] = over_stdio(gateway, [*items, PING])
    for replies in (body, stdio):
        errors = [r for r in replies if "error" in r]
        assert all("id" in r for r in replies)
        assert sorted(map(repr, (r["id"] for r in errors))) == sorted(
            map(repr, (rid for _, rid in INVALID))
        )
        assert {r["error"]["code"] for r in errors} == {-32600}
        assert {"jsonrpc": "2.0", "id": "p", "result": {}} in replies
    assert status == 200


def test_a_batch_of_only_notifications_gets_no_content(gateway: Gateway) -> None:
    response = ({"jsonrpc": "2.0", "id": 99, "result": {}},)
    assert over_http(gateway, [NOTE, NOTE]) == (202, None)
    assert over_http(gateway, [NOTE, *response]) == (202, None)
    assert over_stdio(gateway, [NOTE, NOTE]) == []


def test_a_mixed_batch_gets_one_entry_per_request(gateway: Gateway) -> None:
    call = {
        "jsonrpc": "2.0",
        "id": 2,
        "method": "tools/call",
        "params": {"name": "echo", "arguments": {"message": "b"}},
    }
    items = [NOTE, PING, {"jsonrpc": "2.0", "id": 99, "result": {}}, call, 7]
    status, body = over_http(gateway, items)
    [stdio] = over_stdio(gateway, items)
    for replies in (body, stdio):
        by_id = {repr(r["id"]): r for r in replies}
        assert sorted(by_id) == sorted(["'p'", "2", "None"])
        assert by_id["2"]["result"]["content"][0]["text"] == '{"echo":"b","data":null}'
        assert by_id["None"]["error"]["code"] == -32600
    assert status == 200


def test_a_call_cancelled_over_stdio_gets_no_reply(gateway: Gateway) -> None:
    wait = {
        "jsonrpc": "2.0",
        "id": "w",
        "method": "tools/call",
        "params": {"name": "test_wait", "arguments": {"seconds": 30}},
    }
    cancel = {"jsonrpc": "2.0", "method": "notifications/cancelled", "params": {"requestId": "w"}}
    written = gateway.stdio([wait, cancel, PING], "2025-11-25")
    assert [m.get("id") for m in written] == [0, "p"]
