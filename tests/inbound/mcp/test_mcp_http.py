"""The /mcp endpoint over raw HTTP, in process: both eras, sessions, and every kind of bad input
getting the spec's answer (status and JSON-RPC code, never a 500)."""

from __future__ import annotations

import time
from typing import Any

import pytest

from tests.inbound.mcp.conftest import MODERN, Gateway, make_key
from toolwire.inbound.mcp import handlers
from toolwire.inbound.mcp.runtime import runtime_of


def error_code(response: Any) -> int:
    code: int = response.json()["error"]["code"]
    return code


# -- handshake era -------------------------------------------------------------------------------


def test_initialize_negotiates_the_clients_version_and_seals_a_session(gateway: Gateway) -> None:
    for version in ("2025-11-25", "2025-06-18", "2025-03-26"):
        session = gateway.initialize(version)
        answer = gateway.call(session, "ping", rid="p")
        assert session.startswith("tws1.")
        assert answer.json() == {"jsonrpc": "2.0", "id": "p", "result": {}}


def test_initialize_with_an_unknown_version_answers_our_latest(gateway: Gateway) -> None:
    response = gateway.post(
        {
            "jsonrpc": "2.0",
            "id": 1,
            "method": "initialize",
            "params": {"protocolVersion": "1999-01-01", "capabilities": {}},
        }
    )
    assert response.json()["result"]["protocolVersion"] == "2025-11-25"
    assert response.json()["result"]["capabilities"]["tools"] == {"listChanged": True}


def test_a_notification_is_accepted_with_202_and_no_body(gateway: Gateway) -> None:
    session = gateway.initialize()
    response = gateway.post(
        {"jsonrpc": "2.0", "method": "notifications/initialized"},
        headers={"mcp-session-id": session},
    )
    assert (response.status_code, response.content) == (202, b"")


def test_tools_call_returns_text_structured_content_and_the_receipt(gateway: Gateway) -> None:
    session = gateway.initialize()
    result = gateway.call(session, "tools/call", {"name": "echo", "arguments": {"message": "hi"}})
    body = result.json()["result"]
    assert body["structuredContent"] == {"echo": "hi", "data": None}
    assert body["content"] == [{"type": "text", "text": '{"echo":"hi","data":null}'}]
    assert body["isError"] is False
    assert body["_meta"]["io.toolwire/meta"]["credits_charged"] == 0.5


def test_a_tool_failure_is_an_is_error_result_carrying_the_code(gateway: Gateway) -> None:
    session = gateway.initialize()
    bad_args = gateway.call(session, "tools/call", {"name": "echo", "arguments": {}}).json()
    failing = gateway.call(session, "tools/call", {"name": "test_error_handling"}).json()
    assert bad_args["result"]["isError"] is True
    assert bad_args["result"]["_meta"]["io.toolwire/error"]["code"] == "INVALID_ARGUMENTS"
    assert failing["result"]["_meta"]["io.toolwire/error"]["code"] == "UPSTREAM_ERROR"
    assert "intentionally" in failing["result"]["content"][0]["text"]  # the fixture really ran


def test_an_unknown_tool_is_a_protocol_error_invalid_params(gateway: Gateway) -> None:
    session = gateway.initialize()
    response = gateway.call(session, "tools/call", {"name": "no.such_tool"})
    assert (response.status_code, error_code(response)) == (200, -32602)


def test_a_key_sees_and_calls_only_what_its_scopes_allow(gateway: Gateway) -> None:
    session = gateway.initialize(key=gateway.other_key)
    names = [
        t["name"]
        for t in gateway.call(session, "tools/list", key=gateway.other_key).json()["result"][
            "tools"
        ]
    ]
    denied = gateway.call(
        session, "tools/call", {"name": "test_simple_text"}, key=gateway.other_key
    )
    assert names == ["calc.evaluate", "echo"]
    # answered exactly as an unknown tool: the key cannot tell it exists
    assert error_code(denied) == -32602
    assert denied.json()["error"]["data"]["code"] == "TOOL_NOT_FOUND"


def test_tools_list_pages_in_a_stable_order_with_opaque_cursors(
    gateway: Gateway, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(handlers, "PAGE_SIZE", 5)
    session = gateway.initialize()
    names: list[str] = []
    cursor = None
    while True:
        params = {"cursor": cursor} if cursor else {}
        page = gateway.call(session, "tools/list", params).json()["result"]
        names += [t["name"] for t in page["tools"]]
        cursor = page.get("nextCursor")
        if cursor is None:
            break
    everything = gateway.call(session, "tools/list", {}).json()["result"]
    assert names == sorted(names) and len(names) == len(set(names)) > 5
    assert len(everything["tools"]) == 5
    assert error_code(gateway.call(session, "tools/list", {"cursor": "bm9wZQ"})) == -32602


def test_older_versions_get_definitions_and_results_they_can_read(gateway: Gateway) -> None:
    session = gateway.initialize("2025-03-26")
    tools = gateway.call(session, "tools/list").json()["result"]["tools"]
    echo = next(t for t in tools if t["name"] == "echo")
    call = gateway.call(session, "tools/call", {"name": "echo", "arguments": {"message": "x"}})
    assert "outputSchema" not in echo and "title" not in echo and "annotations" in echo
    assert "structuredContent" not in call.json()["result"]


def test_batches_are_answered_in_2025_03_26_and_refused_otherwise(gateway: Gateway) -> None:
    old, new = gateway.initialize("2025-03-26"), gateway.initialize("2025-06-18")
    batch = [{"jsonrpc": "2.0", "id": i, "method": "ping"} for i in (1, 2)]
    batch.append({"jsonrpc": "2.0", "method": "notifications/initialized"})
    accepted = gateway.post(batch, headers={"mcp-session-id": old})
    refused = gateway.post(batch, headers={"mcp-session-id": new})
    assert sorted(r["id"] for r in accepted.json()) == [1, 2]
    assert (refused.status_code, error_code(refused)) == (400, -32600)


def test_logging_set_level_accepts_levels_and_refuses_others(gateway: Gateway) -> None:
    session = gateway.initialize()
    assert gateway.call(session, "logging/setLevel", {"level": "debug"}).json()["result"] == {}
    assert error_code(gateway.call(session, "logging/setLevel", {"level": "loud"})) == -32602


def test_progress_and_logs_turn_the_answer_into_an_sse_stream(gateway: Gateway) -> None:
    session = gateway.initialize()
    gateway.call(session, "logging/setLevel", {"level": "info"})
    plain = gateway.call(session, "tools/call", {"name": "test_simple_text"})
    streamed = gateway.call(
        session, "tools/call", {"name": "test_tool_with_progress", "_meta": {"progressToken": 7}}
    )
    logged = gateway.call(session, "tools/call", {"name": "test_tool_with_logging"})
    assert plain.headers["content-type"] == "application/json"
    assert streamed.headers["content-type"] == "text/event-stream"
    assert streamed.text.count('"notifications/progress"') == 3
    assert logged.text.count('"notifications/message"') == 3
    assert '"result"' in [line for line in streamed.text.splitlines() if line][-1]


# -- sessions --------------------------------------------------------------------------------


def test_missing_forged_foreign_and_ended_sessions_are_refused(gateway: Gateway) -> None:
    session = gateway.initialize()
    missing = gateway.post({"jsonrpc": "2.0", "id": 1, "method": "tools/list"})
    forged = gateway.call(session[:-4] + "AAAA", "tools/list")
    foreign = gateway.call(session, "tools/list", key=gateway.other_key)
    ended = gateway.http.delete(
        "/mcp", headers={"authorization": f"Bearer {gateway.key}", "mcp-session-id": session}
    )
    after = gateway.call(session, "tools/list")
    assert (missing.status_code, error_code(missing)) == (400, -32600)
    assert [forged.status_code, foreign.status_code, ended.status_code, after.status_code] == [
        404,
        404,
        204,
        404,
    ]


def test_an_expired_session_is_not_found(gateway: Gateway) -> None:
    runtime = runtime_of(gateway.http.app)
    sealer = runtime.sessions.sealer
    key_id = gateway.http.get(
        "/api/v1/me", headers={"authorization": f"Bearer {gateway.key}"}
    ).json()["key_id"]
    old = sealer.seal(sealer.new("2025-11-25", key_id, now=time.time() - sealer.ttl_s - 1))
    assert gateway.call(old, "tools/list").status_code == 404


def test_sessions_leave_no_state_behind(gateway: Gateway) -> None:
    state = runtime_of(gateway.http.app).state
    before = len(state)  # type: ignore[arg-type]
    for _ in range(300):
        gateway.initialize()
    assert len(state) == before  # type: ignore[arg-type]


def test_an_unsupported_protocol_version_header_is_refused(gateway: Gateway) -> None:
    session = gateway.initialize()
    response = gateway.call(session, "ping", headers={"mcp-protocol-version": "1999-01-01"})
    tolerated = gateway.call(session, "ping", headers={"mcp-protocol-version": "2025-03-26"})
    assert (response.status_code, error_code(response)) == (400, -32600)
    assert tolerated.status_code == 200


# -- modern era ------------------------------------------------------------------------------


def test_modern_discover_lists_every_version_and_identifies_the_server(gateway: Gateway) -> None:
    result = gateway.modern("server/discover").json()["result"]
    assert MODERN in result["supportedVersions"] and "2025-11-25" in result["supportedVersions"]
    assert result["_meta"]["io.modelcontextprotocol/serverInfo"]["name"] == "toolwire"
    assert result["resultType"] == "complete"


def test_modern_tools_list_is_private_and_cacheable(gateway: Gateway) -> None:
    result = gateway.modern("tools/list").json()["result"]
    assert (result["cacheScope"], result["ttlMs"]) == ("private", handlers.LIST_TTL_MS)
    assert "mcp-session-id" not in gateway.modern("tools/list").headers


@pytest.mark.parametrize(
    ("headers", "meta", "status", "code"),
    [
        ({"mcp-protocol-version": "1999-01-01"}, {}, 400, -32020),
        (
            {"mcp-protocol-version": "1999-01-01"},
            {"io.modelcontextprotocol/protocolVersion": "1999-01-01"},
            400,
            -32022,
        ),
        ({"mcp-method": "prompts/list"}, {}, 400, -32020),
        ({"mcp-name": "calc.evaluate"}, {}, 400, -32020),
    ],
    ids=["header-vs-meta", "unsupported", "method-header", "name-header"],
)
def test_modern_envelope_failures_get_their_own_code(
    gateway: Gateway, headers: dict[str, str], meta: dict[str, Any], status: int, code: int
) -> None:
    response = gateway.modern("tools/call", {"name": "echo"}, headers=headers, meta=meta)
    assert (response.status_code, error_code(response), response.json()["id"]) == (status, code, 1)


def test_modern_requests_without_meta_are_invalid_params(gateway: Gateway) -> None:
    response = gateway.post(
        {"jsonrpc": "2.0", "id": 9, "method": "tools/list", "params": {}},
        headers={"mcp-protocol-version": MODERN, "mcp-method": "tools/list"},
    )
    assert (response.status_code, error_code(response)) == (400, -32602)


def test_modern_removed_and_unknown_methods_are_404(gateway: Gateway) -> None:
    for method in ("initialize", "ping", "logging/setLevel", "no/such"):
        response = gateway.modern(method)
        assert (response.status_code, error_code(response)) == (404, -32601)


def test_modern_mcp_param_headers_mirror_marked_arguments(gateway: Gateway) -> None:
    args = {"name": "test_header_param", "arguments": {"region": "eu west"}}
    ok = gateway.modern("tools/call", args, headers={"mcp-param-region": "eu west"})
    b64 = gateway.modern(
        "tools/call", args, headers={"mcp-param-region": "=?base64?ZXUgd2VzdA==?="}
    )
    missing = gateway.modern("tools/call", args)
    wrong = gateway.modern(
        "tools/call", args, headers={"mcp-param-region": "=?base64?ZXUgd2VzdA?="}
    )
    assert ok.json()["result"]["content"][0]["text"] == "region=eu west"
    assert b64.status_code == 200
    assert [error_code(missing), error_code(wrong)] == [-32020, -32020]


def test_modern_get_and_delete_are_405(gateway: Gateway) -> None:
    headers = {"authorization": f"Bearer {gateway.key}", "mcp-protocol-version": MODERN}
    assert gateway.http.get("/mcp", headers=headers).status_code == 405
    assert gateway.http.delete("/mcp", headers=headers).status_code == 405


def test_modern_logs_only_when_the_request_asks_for_them(gateway: Gateway) -> None:
    quiet = gateway.modern("tools/call", {"name": "test_logging_tool"})
    loud = gateway.modern(
        "tools/call",
        {"name": "test_logging_tool"},
        meta={"io.modelcontextprotocol/logLevel": "warning"},
    )
    assert quiet.headers["content-type"] == "application/json"
    assert loud.text.count('"notifications/message"') == 2


def test_a_tool_needing_an_undeclared_client_capability_is_32021(gateway: Gateway) -> None:
    response = gateway.modern("tools/call", {"name": "test_missing_capability"})
    assert (response.status_code, error_code(response)) == (400, -32021)
    assert response.json()["error"]["data"]["requiredCapabilities"] == {"sampling": {}}


# -- transport-level bad input ------------------------------------------------------------------


def test_bad_bodies_get_parse_and_invalid_request_errors(gateway: Gateway) -> None:
    auth = {"authorization": f"Bearer {gateway.key}", "content-type": "application/json"}
    not_json = gateway.http.post("/mcp", content=b"{nope", headers=auth)
    empty = gateway.http.post("/mcp", content=b"", headers=auth)
    shapes = [
        42,
        "x",
        {"jsonrpc": "1.0", "id": 1, "method": "ping"},
        {"jsonrpc": "2.0", "id": None, "method": "ping"},
        {"jsonrpc": "2.0", "id": True, "method": "ping"},
        {"jsonrpc": "2.0", "id": 1, "method": "ping", "params": [1]},
        {"jsonrpc": "2.0", "id": 1},
    ]
    assert (not_json.status_code, error_code(not_json)) == (400, -32700)
    assert (empty.status_code, error_code(empty)) == (400, -32600)
    for body in shapes:
        response = gateway.post(body)
        assert (response.status_code, error_code(response)) == (400, -32600), body


def test_media_type_size_origin_and_credential_failures(gateway: Gateway) -> None:
    ping = {"jsonrpc": "2.0", "id": 1, "method": "ping"}
    wrong_accept = gateway.post(ping, headers={"accept": "text/html"})
    wrong_type = gateway.http.post(
        "/mcp",
        content=b"{}",
        headers={"authorization": f"Bearer {gateway.key}", "content-type": "text/plain"},
    )
    huge = gateway.post({**ping, "params": {"x": "a" * 70_000}})
    evil = gateway.post(ping, headers={"origin": "http://evil.example.com"})
    local = gateway.post(ping, headers={"origin": "http://localhost:3000"})
    anonymous = gateway.http.post("/mcp", json=ping)
    assert [r.status_code for r in (wrong_accept, wrong_type, huge, evil, local)] == [
        406,
        415,
        413,
        403,
        200,
    ]
    assert anonymous.status_code == 401
    assert anonymous.headers["www-authenticate"].startswith("Bearer")


def test_mcp_and_mcp_slash_are_both_served_without_redirect(gateway: Gateway) -> None:
    ping = {"jsonrpc": "2.0", "id": 1, "method": "ping"}
    assert gateway.post(ping, path="/mcp/").status_code == 200
    assert gateway.post(ping, path="/mcp").status_code == 200


def test_other_http_methods_are_405(gateway: Gateway) -> None:
    response = gateway.http.put("/mcp", headers={"authorization": f"Bearer {gateway.key}"})
    assert response.status_code == 405


def test_a_tools_call_retried_with_the_same_idempotency_key_is_replayed_and_charged_once(
    gateway: Gateway,
) -> None:
    _, key = make_key(gateway.http, 2, ["*"])
    meta = {"io.toolwire/idempotencyKey": "retry-me-1"}
    args = {"name": "echo", "arguments": {"message": "once"}}
    first = gateway.post(_modern_body(args, meta), key=key, headers=_modern_headers())
    again = gateway.post(_modern_body(args, meta), key=key, headers=_modern_headers())
    first_meta = first.json()["result"]["_meta"]["io.toolwire/meta"]
    again_meta = again.json()["result"]["_meta"]["io.toolwire/meta"]
    assert first_meta["credits_charged"] == 0.5
    assert again_meta["replayed"] is True
    assert again.json()["result"]["content"] == first.json()["result"]["content"]
    balance = gateway.http.get("/api/v1/me", headers={"authorization": f"Bearer {key}"})
    assert balance.json()["balance"] == 1.5
    other_input = {"name": "echo", "arguments": {"message": "different"}}
    clash = gateway.post(_modern_body(other_input, meta), key=key, headers=_modern_headers())
    assert clash.json()["result"]["isError"] is True
    assert clash.json()["result"]["_meta"]["io.toolwire/error"]["code"] == "CONFLICT"


def _modern_body(params: dict[str, Any], meta: dict[str, Any]) -> dict[str, Any]:
    full = {
        **params,
        "_meta": {
            "io.modelcontextprotocol/protocolVersion": MODERN,
            "io.modelcontextprotocol/clientCapabilities": {},
            **meta,
        },
    }
    return {"jsonrpc": "2.0", "id": 7, "method": "tools/call", "params": full}


def _modern_headers() -> dict[str, str]:
    return {"mcp-protocol-version": MODERN, "mcp-method": "tools/call", "mcp-name": "echo"}
