"""The hot routes answered at the front (`toolwire.inbound.front.GatewayApp`: `POST
/api/v1/execute` and `/mcp`) give the very answers Starlette's stack gives: the same status,
headers and body for every kind of request, and the same handling of what escapes the door (a
client gone mid-body, a crash)."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

import pytest
from starlette.applications import Starlette
from starlette.testclient import TestClient
from starlette.types import Receive, Scope, Send

from toolwire.app import create_app
from toolwire.inbound.front import GatewayApp
from toolwire.settings import Settings

ADMIN = "tw_admin_front_test_key_0123456789abcdef"
LIMIT = 4096
AUTH = {"authorization": f"Bearer {ADMIN}"}
ECHO = {"tool": "echo", "input": {"message": "hi"}}


@pytest.fixture(scope="module")
def app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[GatewayApp]:
    settings = Settings.from_env({"TOOLWIRE_ADMIN_KEY": ADMIN}).with_overrides(
        data_dir=tmp_path_factory.mktemp("front"), max_body_bytes=LIMIT
    )
    built = create_app(settings)
    assert isinstance(built, GatewayApp)
    with TestClient(built, base_url="http://127.0.0.1:8787"):  # runs the lifespan
        yield built


def stack_of(app: GatewayApp) -> Any:
    """The same application entered through Starlette's own `__call__`: the whole stack."""

    async def stack(scope: Scope, receive: Receive, send: Send) -> None:
        await Starlette.__call__(app, scope, receive, send)

    return stack


def _normal(response: Any) -> tuple[int, dict[str, str], Any]:
    """Status, headers and body with what differs per request (ids, times) masked."""
    headers = {k: v for k, v in response.headers.items() if k not in {"content-length"}}
    text = response.text
    text = re.sub(r'"req_[0-9a-f]{32}"', '"req_"', text)
    text = re.sub(r'"latency_ms":[0-9.e-]+', '"latency_ms":0', text)
    text = re.sub(r'"balance":[0-9.]+', '"balance":0', text)
    if headers.get("x-request-id", "").startswith("req_"):
        headers["x-request-id"] = "req_"
    if "mcp-session-id" in headers:
        headers["mcp-session-id"] = "<sealed>"
    body: Any = text
    if text and headers.get("content-type", "").startswith("application/json"):
        body = json.loads(text)
    return response.status_code, headers, body


CASES: list[tuple[str, dict[str, str], bytes]] = [
    ("ok", AUTH, json.dumps(ECHO).encode()),
    ("given request id", {**AUTH, "x-request-id": "abc-1"}, json.dumps(ECHO).encode()),
    ("unsafe request id", {**AUTH, "x-request-id": "a b"}, json.dumps(ECHO).encode()),
    ("no key", {}, json.dumps(ECHO).encode()),
    ("bad key", {"authorization": "Bearer tw_nope"}, json.dumps(ECHO).encode()),
    ("x-api-key", {"x-api-key": ADMIN}, json.dumps(ECHO).encode()),
    ("malformed json", AUTH, b"{nope"),
    ("not an object", AUTH, b"[1, 2]"),
    ("unknown tool", AUTH, json.dumps({"tool": "nope", "input": {}}).encode()),
    ("invalid arguments", AUTH, json.dumps({"tool": "echo", "input": {"x": 1}}).encode()),
    ("unknown field", AUTH, json.dumps({**ECHO, "extra": 1}).encode()),
    ("over the limit", AUTH, b" " * (LIMIT + 1)),
    ("bad content-length", {**AUTH, "content-length": "x"}, b""),
    ("traceparent", {**AUTH, "traceparent": "00-" + "a" * 32 + "-" + "b" * 16 + "-01"}, b"{}"),
]


@pytest.mark.parametrize("name, headers, body", CASES, ids=[c[0] for c in CASES])
def test_the_front_answers_as_the_stack_does(
    app: GatewayApp, name: str, headers: dict[str, str], body: bytes
) -> None:
    front = TestClient(app, base_url="http://127.0.0.1:8787", raise_server_exceptions=False)
    stack = TestClient(
        stack_of(app), base_url="http://127.0.0.1:8787", raise_server_exceptions=False
    )
    got = front.post("/api/v1/execute", content=body, headers=headers)
    want = stack.post("/api/v1/execute", content=body, headers=headers)
    assert _normal(got) == _normal(want)
    if "x-request-id" in headers and name == "given request id":
        assert got.headers["x-request-id"] == "abc-1"


MODERN = "2026-07-28"
MCP = {**AUTH, "accept": "application/json, text/event-stream", "content-type": "application/json"}
MODERN_CALL = {
    "jsonrpc": "2.0",
    "id": 1,
    "method": "tools/call",
    "params": {
        "name": "echo",
        "arguments": {"message": "hi"},
        "_meta": {
            "io.modelcontextprotocol/protocolVersion": MODERN,
            "io.modelcontextprotocol/clientCapabilities": {},
        },
    },
}
MODERN_HEADERS = {
    **MCP,
    "mcp-protocol-version": MODERN,
    "mcp-method": "tools/call",
    "mcp-name": "echo",
}
INITIALIZE = {
    "jsonrpc": "2.0",
    "id": 1,
    "method": "initialize",
    "params": {
        "protocolVersion": "2025-06-18",
        "capabilities": {},
        "clientInfo": {"name": "t", "version": "1"},
    },
}
MCP_CASES: list[tuple[str, str, dict[str, str], bytes]] = [
    ("modern call", "POST", MODERN_HEADERS, json.dumps(MODERN_CALL).encode()),
    ("modern call, no key", "POST", {**MODERN_HEADERS, "authorization": ""}, b"{}"),
    ("initialize", "POST", MCP, json.dumps(INITIALIZE).encode()),
    ("malformed", "POST", MCP, b"{nope"),
    ("wrong accept", "POST", {**MCP, "accept": "text/html"}, json.dumps(INITIALIZE).encode()),
    ("over the limit", "POST", MCP, b" " * (LIMIT + 1)),
    ("get without a session", "GET", {**AUTH, "accept": "text/event-stream"}, b""),
    ("delete without a session", "DELETE", AUTH, b""),
    ("put", "PUT", MCP, b"{}"),
]


@pytest.mark.parametrize("name, method, headers, body", MCP_CASES, ids=[c[0] for c in MCP_CASES])
def test_mcp_at_the_front_answers_as_the_stack_does(
    app: GatewayApp, name: str, method: str, headers: dict[str, str], body: bytes
) -> None:
    front = TestClient(app, base_url="http://127.0.0.1:8787", raise_server_exceptions=False)
    stack = TestClient(
        stack_of(app), base_url="http://127.0.0.1:8787", raise_server_exceptions=False
    )
    got = front.request(method, "/mcp", content=body, headers=headers)
    want = stack.request(method, "/mcp", content=body, headers=headers)
    assert _normal(got) == _normal(want)
    if name == "modern call":
        assert got.status_code == 200 and "hi" in got.text


def test_a_request_with_an_origin_takes_the_stack_and_its_cors(app: GatewayApp) -> None:
    client = TestClient(app, base_url="http://127.0.0.1:8787")
    got = client.post(
        "/api/v1/execute", json=ECHO, headers={**AUTH, "origin": "https://evil.example"}
    )
    want = TestClient(stack_of(app), base_url="http://127.0.0.1:8787").post(
        "/api/v1/execute", json=ECHO, headers={**AUTH, "origin": "https://evil.example"}
    )
    assert _normal(got) == _normal(want)


def test_other_methods_and_paths_take_the_stack(app: GatewayApp) -> None:
    client = TestClient(app, base_url="http://127.0.0.1:8787")
    wrong = client.get("/api/v1/execute", headers=AUTH)
    assert wrong.status_code == 405
    assert wrong.json()["error"]["code"] == "INVALID_REQUEST"
    assert "POST" in wrong.headers["allow"]
    near = client.post("/api/v1/execute/", json=ECHO, headers=AUTH)
    assert _normal(near) == _normal(
        TestClient(stack_of(app), base_url="http://127.0.0.1:8787").post(
            "/api/v1/execute/", json=ECHO, headers=AUTH
        )
    )


def _scope() -> dict[str, Any]:
    return {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": "/api/v1/execute",
        "raw_path": b"/api/v1/execute",
        "root_path": "",
        "query_string": b"",
        "headers": [(b"authorization", AUTH["authorization"].encode())],
        "client": ("127.0.0.1", 5000),
        "server": ("127.0.0.1", 8787),
    }


async def _call(app: Any, messages: list[dict[str, Any]], sent: list[dict[str, Any]]) -> None:
    """One raw ASGI request to `app`, its body given as `messages`; what it sends back is
    appended to `sent` (kept when the app raises)."""
    queue = list(messages)

    async def receive() -> dict[str, Any]:
        return queue.pop(0) if queue else {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    await app(_scope(), receive, send)


async def test_a_client_gone_mid_body_is_answered_as_through_the_stack(app: GatewayApp) -> None:
    partial = [{"type": "http.request", "body": b'{"tool":', "more_body": True}]
    got: list[dict[str, Any]] = []
    want: list[dict[str, Any]] = []
    await _call(app, partial, got)
    await _call(stack_of(app), partial, want)
    assert [m.get("status") for m in got] == [m.get("status") for m in want] == [400, None]


async def test_a_crash_escaping_the_door_is_a_500_envelope_and_is_raised(
    app: GatewayApp, monkeypatch: pytest.MonkeyPatch
) -> None:
    class Broken(RuntimeError):
        pass

    async def broken(raw_key: str | None) -> Any:
        raise Broken("boom")

    monkeypatch.setattr(app.state.face.auth, "authenticate", broken)
    body = [{"type": "http.request", "body": json.dumps(ECHO).encode()}]
    for target in (app, stack_of(app)):
        sent: list[dict[str, Any]] = []
        with pytest.raises(Broken):
            await _call(target, body, sent)
        assert sent[0]["status"] == 500
        envelope = json.loads(sent[1]["body"])
        assert envelope["ok"] is False and envelope["error"]["code"] == "INTERNAL"
        assert b"boom" not in sent[1]["body"]


def test_the_hot_routes_never_enter_the_stack_and_the_rest_do(
    app: GatewayApp, monkeypatch: pytest.MonkeyPatch
) -> None:
    entered: list[str] = []
    stack = app.middleware_stack
    assert stack is not None

    async def counted(scope: Scope, receive: Receive, send: Send) -> None:
        entered.append(scope["path"])
        await stack(scope, receive, send)

    monkeypatch.setattr(app, "middleware_stack", counted)
    client = TestClient(app, base_url="http://127.0.0.1:8787")
    assert client.post("/api/v1/execute", json=ECHO, headers=AUTH).status_code == 200
    assert client.post("/mcp", json=MODERN_CALL, headers=MODERN_HEADERS).status_code == 200
    assert entered == []
    client.get("/healthz")
    client.post("/mcp/nope", json=MODERN_CALL, headers=MODERN_HEADERS)
    client.post("/api/v1/execute", json=ECHO, headers={**AUTH, "origin": "https://a.example"})
    assert entered == ["/healthz", "/mcp/nope", "/api/v1/execute"]
