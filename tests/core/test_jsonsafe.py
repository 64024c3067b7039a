"""One tool's definition can never break another's listing (issue 9 item 13): integers beyond 64
bits, NaN and infinities, dates and other non-JSON values in a schema are made JSON-safe when the
catalog is built, so every door lists every tool, in every format."""

from __future__ import annotations

import datetime
import math
from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest
from starlette.testclient import TestClient

from toolwire.app import create_app
from toolwire.core.jsonsafe import json_safe
from toolwire.inbound import formats
from toolwire.settings import Settings

ADMIN = "tw_admin_jsonsafe_test_key_0123456789abcdef"


def test_values_no_encoder_accepts_are_made_safe() -> None:
    raw = {
        "minimum": -9223372036854776000,
        "maximum": 2**70,
        "ok": 2**63 - 1,
        "nan": math.nan,
        "inf": -math.inf,
        "default": datetime.date(2020, 1, 1),
        "enum": (1, math.nan, "a"),
        3: "int key",
        "description": "cut \ud83d here",
    }
    safe = json_safe(raw)
    assert safe == {
        "minimum": -9.223372036854776e18,
        "maximum": float(2**70),
        "ok": 2**63 - 1,
        "default": "2020-01-01",
        "enum": [1, "a"],
        "3": "int key",
        "description": "cut \ufffd here",
    }
    orjson.dumps(safe)


SPEC = """
openapi: 3.0.3
info: {title: odd, version: "1"}
paths:
  /list:
    get:
      operationId: listThings
      parameters:
        - name: after
          in: query
          schema: {type: integer, minimum: -9223372036854776000, maximum: 1.0e+400}
        - name: since
          in: query
          schema: {type: string, default: 2020-01-01}
        - name: ratio
          in: query
          schema: {type: number, multipleOf: .nan}
"""


LONE = (
    '{"openapi": "3.0.3", "info": {"title": "lone", "version": "1"}, "paths": {"/x": {"get": '
    '{"operationId": "x", "summary": "cut \\ud83d here"}}}}'
)


@pytest.fixture(scope="module")
def http(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    data: Path = tmp_path_factory.mktemp("jsonsafe")
    (data / "odd.yaml").write_text(SPEC)
    (data / "lone.json").write_text(LONE)
    (data / "toolwire.yaml").write_text(
        "openapi:\n  odd:\n    spec: odd.yaml\n    base_url: https://api.example.test\n"
        "  lone:\n    spec: lone.json\n    base_url: https://api.example.test\n"
    )
    settings = Settings(data_dir=data, admin_key=ADMIN, config=data / "toolwire.yaml")
    with TestClient(create_app(settings), base_url="http://127.0.0.1:8787") as client:
        yield client


@pytest.mark.parametrize("fmt", [None, *formats.FORMATS])
def test_every_rest_format_lists_every_tool_beside_the_odd_one(
    http: TestClient, fmt: str | None
) -> None:
    params = {"format": fmt} if fmt else {}
    listed = http.get("/api/v1/tools", params=params, headers={"authorization": f"Bearer {ADMIN}"})
    assert listed.status_code == 200, listed.text
    text = listed.text
    assert "echo" in text and "odd" in text
    assert "-9.223372036854776e+18" in text or "-9223372036854776000" not in text


def test_mcp_tools_list_lists_every_tool_beside_the_odd_one(http: TestClient) -> None:
    headers = {
        "authorization": f"Bearer {ADMIN}",
        "accept": "application/json, text/event-stream",
        "mcp-protocol-version": "2025-11-25",
    }
    init = http.post(
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
        headers=headers,
    )
    assert init.status_code == 200, init.text
    headers["mcp-session-id"] = init.headers["mcp-session-id"]
    listed = http.post(
        "/mcp", json={"jsonrpc": "2.0", "id": 1, "method": "tools/list"}, headers=headers
    )
    assert listed.status_code == 200, listed.text
    tools = {t["name"]: t for t in listed.json()["result"]["tools"]}
    assert "echo" in tools
    odd = tools["odd.list_things"]["inputSchema"]["properties"]
    assert odd["after"]["minimum"] == -9.223372036854776e18
    assert "maximum" not in odd["after"] and "multipleOf" not in odd["ratio"]
    assert odd["since"]["default"] == "2020-01-01"
    assert tools["lone.x"]["description"] == "cut \ufffd here"
