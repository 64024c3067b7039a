"""The core's neutral content blocks (`toolwire.core.content`), rendered by each door: MCP as MCP
blocks (down-levelled by version), REST and OpenAI as the documented JSON shape, idempotent
replays included."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from tests.inbound.mcp.conftest import Gateway
from toolwire.upstream.builtin.conformance import RED_PIXEL_PNG

MIXED = [
    {"type": "text", "text": "Multiple content types test:"},
    {"type": "image", "data": RED_PIXEL_PNG, "mimeType": "image/png"},
    {
        "type": "resource",
        "resource": {
            "uri": "test://mixed-content-resource",
            "mimeType": "application/json",
            "text": '{"test":"data","value":123}',
        },
    },
]


def rest(gateway: Gateway, tool: str, **headers: str) -> dict[str, Any]:
    response = gateway.http.post(
        "/api/v1/execute",
        json={"tool": tool, "input": {}},
        headers={"authorization": f"Bearer {gateway.key}", **headers},
    )
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def test_mcp_renders_the_neutral_blocks_as_mcp_content(gateway: Gateway) -> None:
    session = gateway.initialize("2025-06-18")
    response = gateway.call(
        session, "tools/call", {"name": "test_multiple_content_types", "arguments": {}}
    )
    result = response.json()["result"]
    assert result["content"] == MIXED
    assert result["isError"] is False


def test_mcp_down_levels_blocks_an_older_client_cannot_read(gateway: Gateway) -> None:
    session = gateway.initialize("2024-11-05")
    response = gateway.call(session, "tools/call", {"name": "test_audio_content", "arguments": {}})
    assert response.json()["result"]["content"] == [
        {"type": "text", "text": "[audio audio/wav omitted]"}
    ]


def test_rest_carries_the_blocks_as_json_under_data(gateway: Gateway) -> None:
    body = rest(gateway, "test_multiple_content_types")
    assert body["ok"] is True
    assert body["data"] == {"content": MIXED}


@pytest.mark.parametrize(
    ("tool", "block_type"),
    [
        ("test_image_content", "image"),
        ("test_audio_content", "audio"),
        ("test_embedded_resource", "resource"),
        ("test_simple_text", "text"),
    ],
)
def test_rest_renders_every_block_kind(gateway: Gateway, tool: str, block_type: str) -> None:
    (block,) = rest(gateway, tool)["data"]["content"]
    assert block["type"] == block_type


def test_an_idempotent_replay_returns_the_same_blocks(gateway: Gateway) -> None:
    first = rest(gateway, "test_multiple_content_types", **{"idempotency-key": "blocks-1"})
    again = rest(gateway, "test_multiple_content_types", **{"idempotency-key": "blocks-1"})
    assert again["meta"].get("replayed") is True
    assert again["data"] == first["data"] == {"content": MIXED}


def test_openai_tool_messages_carry_the_blocks_as_json_text(gateway: Gateway) -> None:
    response = gateway.http.post(
        "/api/v1/openai/tool_calls",
        json={
            "tool_calls": [
                {"id": "c1", "type": "function", "function": {"name": "test_image_content"}}
            ]
        },
        headers={"authorization": f"Bearer {gateway.key}"},
    )
    assert response.status_code == 200, response.text
    (message,) = response.json()["messages"]
    assert orjson.loads(message["content"]) == {
        "content": [{"type": "image", "data": RED_PIXEL_PNG, "mimeType": "image/png"}]
    }
