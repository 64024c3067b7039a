"""Transport refusals are typed errors answered from ONE table (`refusals.TRANSPORT`), in the same
form on every MCP HTTP endpoint (issue 10 item 3): a refused Origin used to get a JSON-RPC body
on `/mcp` and an empty 403 on `/sse`; an oversized `/messages` body a 400. Every case here reads
its expected status from the table, never from a literal."""

from __future__ import annotations

import ast
import inspect
from http import HTTPStatus
from typing import Any

import httpx
import orjson
import pytest

from tests.inbound.mcp.conftest import ACCEPT, Gateway
from toolwire.core.errors import PayloadTooLarge, ToolwireError, Unauthenticated
from toolwire.inbound import refusals as typed
from toolwire.inbound.mcp import (
    batch,
    kernel,
    legacy_sse,
    refusals,
    sse,
    stdio,
    streamable_http,
)
from toolwire.inbound.mcp.jsonrpc import INVALID_REQUEST
from toolwire.inbound.mcp.sessions import SessionNotFound

PING = {"jsonrpc": "2.0", "id": 1, "method": "ping"}
EVIL = "http://evil.example.com"
ENDPOINTS = {
    "POST /mcp": ("POST", "/mcp", {}),
    "GET /mcp": ("GET", "/mcp", {"mcp-session-id": "tws1.x"}),
    "DELETE /mcp": ("DELETE", "/mcp", {"mcp-session-id": "tws1.x"}),
    "GET /sse": ("GET", "/sse", {}),
    "POST /messages": ("POST", "/messages?sessionId=tws1.x", {}),
}


def send(
    gateway: Gateway, endpoint: str, headers: dict[str, str], *, key: bool = True, body: Any = PING
) -> httpx.Response:
    method, path, extra = ENDPOINTS[endpoint]
    sent = {"accept": ACCEPT, "content-type": "application/json", **extra, **headers}
    if key:
        sent["authorization"] = f"Bearer {gateway.key}"
    content = orjson.dumps(body) if method == "POST" else None
    return gateway.http.request(method, path, content=content, headers=sent)


def refusal(response: httpx.Response, error: type[ToolwireError]) -> dict[str, Any]:
    """The response is `error`'s row: its status, a JSON-RPC -32600 (with the request's id
    when it was read), the toolwire code in `data`; returns the error member."""
    assert response.status_code == refusals.row_for(error).status, response.text
    body = response.json()
    assert set(body) - {"id"} == {"jsonrpc", "error"}, body
    assert body["error"]["code"] == INVALID_REQUEST
    assert body["error"]["data"]["code"] == error.code
    member: dict[str, Any] = body["error"]
    return member


@pytest.mark.parametrize("endpoint", list(ENDPOINTS))
def test_a_refused_origin_is_the_same_typed_refusal_on_every_endpoint(
    gateway: Gateway, endpoint: str
) -> None:
    answer = refusal(send(gateway, endpoint, {"origin": EVIL}), typed.OriginNotAllowed)
    assert answer["message"] == typed.OriginNotAllowed.default_message


@pytest.mark.parametrize("endpoint", list(ENDPOINTS))
def test_a_missing_credential_is_the_same_challenge_on_every_endpoint(
    gateway: Gateway, endpoint: str
) -> None:
    response = send(gateway, endpoint, {}, key=False)
    refusal(response, Unauthenticated)
    assert response.headers["www-authenticate"].startswith("Bearer")


@pytest.mark.parametrize("endpoint", [e for e in ENDPOINTS if e != "GET /sse"])
def test_an_unknown_session_is_the_same_not_found_on_every_endpoint(
    gateway: Gateway, endpoint: str
) -> None:
    refusal(send(gateway, endpoint, {"mcp-session-id": "tws1.x"}), SessionNotFound)


@pytest.mark.parametrize(
    ("method", "path", "allow"),
    [("PUT", "/mcp", "GET, POST, DELETE"), ("POST", "/sse", "GET"), ("GET", "/messages", "POST")],
)
def test_a_method_not_served_is_405_with_allow_everywhere(
    gateway: Gateway, method: str, path: str, allow: str
) -> None:
    headers = {"authorization": f"Bearer {gateway.key}", "accept": ACCEPT}
    response = gateway.http.request(method, path, headers=headers)
    refusal(response, typed.MethodNotAllowed)
    assert response.headers["allow"] == allow


@pytest.mark.parametrize("endpoint", ["POST /mcp", "POST /messages"])
def test_a_body_over_the_limit_is_413_on_both_post_endpoints(
    gateway: Gateway, endpoint: str
) -> None:
    session = gateway.initialize() if endpoint == "POST /mcp" else None
    headers = {"mcp-session-id": session} if session else {}
    huge = {**PING, "params": {"x": "a" * 70_000}}
    if endpoint == "POST /messages":
        refusal(send(gateway, endpoint, {}, body=huge), SessionNotFound)  # session first
        return
    refusal(send(gateway, endpoint, headers, body=huge), PayloadTooLarge)


def test_media_type_refusals_are_typed(gateway: Gateway) -> None:
    refusal(send(gateway, "POST /mcp", {"content-type": "text/plain"}), typed.UnsupportedMediaType)
    refusal(send(gateway, "POST /mcp", {"accept": "text/html"}), typed.NotAcceptable)


def test_every_refusal_class_of_the_inbound_layer_has_its_own_row() -> None:
    """The completeness check for transport refusals: exact rows, not inherited ones."""
    raised = [
        cls
        for cls in vars(typed).values()
        if isinstance(cls, type)
        and issubclass(cls, ToolwireError)
        and cls.__module__ == typed.__name__
    ]
    missing = [cls.__name__ for cls in [*raised, SessionNotFound] if cls not in refusals.TRANSPORT]
    assert raised and not missing
    assert all(row.status >= HTTPStatus.BAD_REQUEST for row in refusals.TRANSPORT.values())


TRANSPORT_MODULES = [streamable_http, legacy_sse, stdio, sse, kernel, batch, refusals]


@pytest.mark.parametrize("module", TRANSPORT_MODULES, ids=lambda m: m.__name__.rsplit(".", 1)[-1])
def test_no_http_status_number_is_written_in_the_mcp_transports(module: Any) -> None:
    """Statuses come from tables (`refusals.TRANSPORT`, the era tables) or `HTTPStatus` names."""
    tree = ast.parse(inspect.getsource(module))
    numbers = [
        node.value
        for node in ast.walk(tree)
        if isinstance(node, ast.Constant) and type(node.value) is int and 100 <= node.value <= 599
    ]
    assert numbers == []
