"""Issue 8, items 7 and 14, over every door of a real gateway (REST, MCP in both eras, OpenAI
tool_calls, idempotent replays):

- input nested deeper than the gateway renders is refused before anything runs, uncharged, and
  audited as refused; input at the limit runs, is charged once and comes back whole;
- a tool the key may not call is answered exactly as an unknown one, byte for byte apart from
  request ids and the name asked; an operator setting turns explicit FORBIDDEN back on.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import httpx
import orjson
import pytest

from toolwire.core.payload import MAX_DEPTH
from toolwire.testing import RunningGateway, start_gateway

MODERN = "2026-07-28"
ACCEPT = "application/json, text/event-stream"


DEEP = "@deep@"
"""Stands for `[[[...]]]` 1,020 levels deep, which no JSON encoder on this side can write."""
DEEP_JSON = b"[" * 1_020 + b"]" * 1_020


def encode(body: Any) -> bytes:
    """JSON for `body`, with the DEEP marker spelled out (also inside OpenAI's argument text)."""
    raw = orjson.dumps(body)
    return raw.replace(b'"@deep@"', DEEP_JSON).replace(b'\\"@deep@\\"', DEEP_JSON)


def nested(levels: int) -> Any:
    value: Any = []
    for _ in range(levels - 1):
        value = [value]
    return value


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningGateway]:
    gw = start_gateway(tmp_path_factory.mktemp("doors-agree"), config={"prices": {"echo": 1}})
    try:
        yield gw
    finally:
        gw.stop()


class Doors:
    """One key, every door, raw HTTP."""

    def __init__(self, gw: RunningGateway, key: str) -> None:
        self.http = gw.client(key)
        self.http.headers["accept"] = ACCEPT
        init = self.http.post(
            "/mcp",
            json={
                "jsonrpc": "2.0",
                "id": 0,
                "method": "initialize",
                "params": {
                    "protocolVersion": "2025-11-25",
                    "capabilities": {},
                    "clientInfo": {"name": "t", "version": "1"},
                },
            },
        )
        self.session = init.headers["mcp-session-id"]

    def __enter__(self) -> Doors:
        return self

    def __exit__(self, *exc: object) -> None:
        self.http.close()

    def post(self, path: str, body: Any, headers: dict[str, str] | None = None) -> httpx.Response:
        sent = {"content-type": "application/json", **(headers or {})}
        return self.http.post(path, content=encode(body), headers=sent)

    def rest(self, tool: str, arguments: Any, **headers: str) -> httpx.Response:
        return self.post("/api/v1/execute", {"tool": tool, "input": arguments}, headers)

    def describe(self, tool: str) -> httpx.Response:
        return self.http.get(f"/api/v1/tools/{tool}")

    def mcp_handshake(self, tool: str, arguments: Any) -> httpx.Response:
        body = {"name": tool, "arguments": arguments}
        return self.post(
            "/mcp",
            {"jsonrpc": "2.0", "id": 7, "method": "tools/call", "params": body},
            {"mcp-session-id": self.session},
        )

    def mcp_modern(self, tool: str, arguments: Any) -> httpx.Response:
        params = {
            "name": tool,
            "arguments": arguments,
            "_meta": {
                "io.modelcontextprotocol/protocolVersion": MODERN,
                "io.modelcontextprotocol/clientCapabilities": {},
            },
        }
        return self.post(
            "/mcp",
            {"jsonrpc": "2.0", "id": 7, "method": "tools/call", "params": params},
            {"mcp-protocol-version": MODERN, "mcp-method": "tools/call", "mcp-name": tool},
        )

    def openai(self, tool: str, arguments: Any) -> httpx.Response:
        call = {
            "id": "c1",
            "function": {"name": tool, "arguments": orjson.dumps(arguments).decode()},
        }
        return self.post("/api/v1/openai/tool_calls", {"tool_calls": [call]})

    def balance(self) -> float:
        value: float = self.http.get("/api/v1/me").json()["balance"]
        return value


def test_input_nested_1020_arrays_deep_is_refused_by_every_door_and_charges_nothing(
    gateway: RunningGateway,
) -> None:
    _, key = gateway.create_account(credits=10, name="deep")
    with Doors(gateway, key) as doors:
        arguments = {"message": "x", "data": DEEP}
        assert len(encode(arguments)) < 2_100  # the 2 KB body of the report

        rest = doors.rest("echo", arguments)
        assert rest.status_code == 422
        assert rest.json()["error"]["details"] == {"reason": "too_deep", "max_depth": MAX_DEPTH}
        replay = doors.rest("echo", arguments, **{"idempotency-key": "deep-1"})
        assert replay.status_code == 422
        for response in (
            doors.mcp_handshake("echo", arguments),
            doors.mcp_modern("echo", arguments),
        ):
            assert response.status_code == 200
            result = response.json()["result"]
            assert result["isError"] is True
            assert result["_meta"]["io.toolwire/error"]["details"]["reason"] == "too_deep"
        openai = doors.openai("echo", arguments).json()["results"][0]
        assert (openai["ok"], openai["error"]["code"]) == (False, "INVALID_ARGUMENTS")

        assert doors.balance() == 10


def test_input_at_the_limit_runs_once_charged_once_on_every_door(gateway: RunningGateway) -> None:
    _, key = gateway.create_account(credits=10, name="at-limit")
    with Doors(gateway, key) as doors:
        data = nested(MAX_DEPTH - 1)
        arguments = {"message": "x", "data": data}

        assert doors.rest("echo", arguments).json()["data"]["data"] == data
        first = doors.rest("echo", arguments, **{"idempotency-key": "limit-1"}).json()
        again = doors.rest("echo", arguments, **{"idempotency-key": "limit-1"}).json()
        assert again["meta"]["replayed"] is True and again["data"] == first["data"]
        handshake = doors.mcp_handshake("echo", arguments).json()["result"]
        modern = doors.mcp_modern("echo", arguments).json()["result"]
        assert orjson.loads(handshake["content"][0]["text"])["data"] == data
        assert modern["structuredContent"]["data"] == data
        openai = doors.openai("echo", arguments).json()
        assert orjson.loads(openai["messages"][0]["content"])["data"] == data

        assert doors.balance() == 10 - 5  # rest, rest once (replayed), handshake, modern, openai


def _same_apart_from_ids(denied: httpx.Response, missing: httpx.Response) -> None:
    def scrub(response: httpx.Response) -> bytes:
        text = re.sub(r"req_[0-9a-f]{32}(\.\d+)?", "REQ", response.text)
        text = re.sub(r'"latency_ms":[0-9.e-]+', '"latency_ms":0', text)
        return text.replace("nosuch", "evaluate").encode()

    assert denied.status_code == missing.status_code
    assert scrub(denied) == scrub(missing)
    keep = {"content-type", "www-authenticate", "retry-after", "allow"}  # length: the name
    assert {k: v for k, v in denied.headers.items() if k in keep} == {
        k: v for k, v in missing.headers.items() if k in keep
    }


def test_a_denied_tool_is_answered_as_an_unknown_one_in_every_door(gateway: RunningGateway) -> None:
    _, key = gateway.create_account(credits=10, scopes=["*", "!calc.*"], name="denied")
    with Doors(gateway, key) as doors:
        arguments = {"expression": "1+1"}
        for name in ("calc.evaluate", "calc__evaluate"):
            missing_name = name.replace("evaluate", "nosuch")
            for door in (doors.rest, doors.mcp_handshake, doors.mcp_modern):
                _same_apart_from_ids(door(name, arguments), door(missing_name, arguments))
            _same_apart_from_ids(doors.describe(name), doors.describe(missing_name))
        _same_apart_from_ids(
            doors.openai("calc__evaluate", arguments), doors.openai("calc__nosuch", arguments)
        )
        assert doors.rest("calc.evaluate", arguments).status_code == 404
        listed = doors.http.get("/api/v1/tools", params={"format": "openai"}).text
        assert "calc" not in listed


def test_an_operator_can_turn_explicit_forbidden_on(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    gw = start_gateway(
        tmp_path_factory.mktemp("explicit-forbidden"),
        env={"TOOLWIRE_EXPLICIT_FORBIDDEN": "true"},
    )
    try:
        _, key = gw.create_account(credits=10, scopes=["*", "!calc.*"], name="explicit")
        with Doors(gw, key) as doors:
            denied = doors.rest("calc.evaluate", {"expression": "1+1"})
            assert (denied.status_code, denied.json()["error"]["code"]) == (403, "FORBIDDEN")
            assert doors.describe("calc.evaluate").status_code == 403
            missing = doors.rest("calc.nosuch", {"expression": "1+1"})
            assert missing.status_code == 404
    finally:
        gw.stop()


@pytest.mark.parametrize(
    "deny", ["!calc__evaluate", "!Calc.*", "!calc.evaluate.", "!calc/evaluate", "! calc.*"]
)
def test_deny_scopes_in_any_form_deny_or_are_refused_when_the_key_is_created(
    gateway: RunningGateway, deny: str
) -> None:
    with gateway.admin() as admin:
        account = admin.post("/admin/v1/accounts", json={"name": "scopes", "credits": 1})
        account_id = account.json()["account"]["id"]
        created = admin.post(
            f"/admin/v1/accounts/{account_id}/keys", json={"name": "k", "scopes": ["*", deny]}
        )
    if created.status_code == 400:
        error = created.json()["error"]
        assert error["code"] == "INVALID_REQUEST"
        assert error["details"]["scope"] == deny
        assert "tool.operation" in error["message"]
        return
    assert created.status_code == 201
    assert created.json()["key"]["scopes"][1] in ("!calc.evaluate", "!calc.*")
    with Doors(gateway, created.json()["secret"]) as doors:
        refused = doors.rest("calc.evaluate", {"expression": "1+1"})
        assert refused.json()["error"]["code"] == "TOOL_NOT_FOUND"
