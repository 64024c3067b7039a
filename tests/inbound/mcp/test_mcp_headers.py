"""Issue 9 item 4: every 2026-07-28 `Mcp-*` header value is decoded from the `=?base64?...?=`
sentinel before it is compared with the body (MCP-Protocol-Version, Mcp-Method, Mcp-Name,
Mcp-Param-*); a malformed sentinel or a repeated header never matches; our encoder and the
official SDK's agree."""

from __future__ import annotations

import base64
from typing import Any

import httpx
import pytest
from mcp.shared.inbound import decode_header_value as sdk_decode
from mcp.shared.inbound import encode_header_value as sdk_encode

from tests.inbound.mcp.conftest import ACCEPT, MODERN, Gateway
from toolwire.inbound.mcp import envelope


def b64(text: str) -> str:
    return "=?base64?" + base64.b64encode(text.encode()).decode() + "?="


def modern_post(
    gateway: Gateway, method: str, params: dict[str, Any], headers: list[tuple[str, str]]
) -> httpx.Response:
    """A modern request with exactly these routing headers (a list: repeats are kept)."""
    meta = {
        "io.modelcontextprotocol/protocolVersion": MODERN,
        "io.modelcontextprotocol/clientCapabilities": {},
    }
    body = {"jsonrpc": "2.0", "id": 1, "method": method, "params": {**params, "_meta": meta}}
    sent = [("authorization", f"Bearer {gateway.key}"), ("accept", ACCEPT), *headers]
    return gateway.http.post("/mcp", json=body, headers=httpx.Headers(sent))


ECHO = {"name": "echo", "arguments": {"message": "hi"}}


def test_the_issue_case_an_encoded_mcp_name_is_decoded_before_comparing(gateway: Gateway) -> None:
    headers = [
        ("mcp-protocol-version", MODERN),
        ("mcp-method", "tools/call"),
        ("mcp-name", "=?base64?ZWNobw==?="),
    ]
    response = modern_post(gateway, "tools/call", ECHO, headers)
    assert response.status_code == 200, response.text
    assert response.json()["result"]["structuredContent"] == {"echo": "hi", "data": None}


@pytest.mark.parametrize("which", ["mcp-protocol-version", "mcp-method", "mcp-name"])
def test_every_routing_header_may_be_sent_encoded(gateway: Gateway, which: str) -> None:
    values = {"mcp-protocol-version": MODERN, "mcp-method": "tools/call", "mcp-name": "echo"}
    values[which] = b64(values[which])
    response = modern_post(gateway, "tools/call", ECHO, list(values.items()))
    assert response.status_code == 200, response.text


def test_an_encoded_mcp_param_header_and_a_non_ascii_value_match(gateway: Gateway) -> None:
    args = {"name": "test_header_param", "arguments": {"region": " é-west "}}
    headers = [
        ("mcp-protocol-version", MODERN),
        ("mcp-method", "tools/call"),
        ("mcp-name", "test_header_param"),
        ("mcp-param-region", sdk_encode(" é-west ")),
    ]
    response = modern_post(gateway, "tools/call", args, headers)
    assert response.json()["result"]["content"][0]["text"] == "region= é-west "


def test_a_non_ascii_tool_name_is_compared_decoded_and_then_not_found(gateway: Gateway) -> None:
    headers = [("mcp-protocol-version", MODERN), ("mcp-method", "tools/call")]
    name = [("mcp-name", sdk_encode("é"))]
    response = modern_post(gateway, "tools/call", {"name": "é", "arguments": {}}, headers + name)
    assert (response.status_code, response.json()["error"]["code"]) == (400, -32602)


@pytest.mark.parametrize(
    "mcp_name",
    [
        "=?base64?ZWNobw?=",  # unpadded
        "=?base64?ZWNobx==?=",  # non-canonical: stray bits
        "=?base64?%%%%?=",  # not base64
        "=?base64?/w==?=",  # not UTF-8
        b64("echo "),  # decodes, but to another value
    ],
)
def test_a_malformed_or_different_encoded_value_is_a_header_mismatch(
    gateway: Gateway, mcp_name: str
) -> None:
    headers = [
        ("mcp-protocol-version", MODERN),
        ("mcp-method", "tools/call"),
        ("mcp-name", mcp_name),
    ]
    response = modern_post(gateway, "tools/call", ECHO, headers)
    assert (response.status_code, response.json()["error"]["code"]) == (400, -32020)


@pytest.mark.parametrize("repeated", ["mcp-method", "mcp-name", "mcp-protocol-version"])
def test_a_repeated_routing_header_is_a_header_mismatch(gateway: Gateway, repeated: str) -> None:
    values = {"mcp-protocol-version": MODERN, "mcp-method": "tools/call", "mcp-name": "echo"}
    headers = [*values.items(), (repeated, values[repeated])]
    response = modern_post(gateway, "tools/call", ECHO, headers)
    assert (response.status_code, response.json()["error"]["code"]) == (400, -32020)


@pytest.mark.parametrize(
    "value",
    ["echo", "", " lead", "trail ", "é", "名前", "tab\there", "line\nbreak", "=?base64?x?=", "a b"],
)
def test_our_header_coding_round_trips_and_agrees_with_the_sdk(value: str) -> None:
    encoded = envelope.encode_header_value(value)
    assert encoded == sdk_encode(value)
    assert envelope.decode_header_value(encoded) == value
    assert sdk_decode(encoded) == value
    assert encoded.isascii() and encoded == encoded.strip()
