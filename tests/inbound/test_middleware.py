"""Request ids and the body limit are ASGI middleware (`toolwire.inbound.middleware`), one place
for every HTTP door; each door still renders the refusal through its own error table: the REST
envelope with 413 on REST, OpenAI tool_calls and the admin API, a JSON-RPC error on MCP."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from starlette.testclient import TestClient

from toolwire.app import create_app
from toolwire.settings import Settings

ADMIN = "tw_admin_middleware_test_key_0123456789ab"
LIMIT = 2048
AUTH = {"authorization": f"Bearer {ADMIN}"}
MCP = {**AUTH, "accept": "application/json, text/event-stream", "content-type": "application/json"}

REST_DOORS = [
    ("POST", "/api/v1/execute"),
    ("POST", "/api/v1/openai/tool_calls"),
    ("POST", "/admin/v1/accounts"),
    ("PUT", "/admin/v1/keys/key_x/budget"),
]


@pytest.fixture(scope="module")
def http(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    settings = Settings.from_env({"TOOLWIRE_ADMIN_KEY": ADMIN}).with_overrides(
        data_dir=tmp_path_factory.mktemp("middleware"), max_body_bytes=LIMIT
    )
    with TestClient(create_app(settings), base_url="http://127.0.0.1:8787") as client:
        yield client


def _streamed(size: int) -> Iterator[bytes]:
    yield b" " * size


@pytest.mark.parametrize("method, path", REST_DOORS)
@pytest.mark.parametrize("how", ["declared", "streamed"])
def test_every_rest_shaped_door_refuses_a_body_over_the_limit_with_413(
    http: TestClient, method: str, path: str, how: str
) -> None:
    body = b"x" * (LIMIT + 1) if how == "declared" else _streamed(LIMIT + 1)
    response = http.request(method, path, content=body, headers=AUTH)

    assert response.status_code == 413, response.text
    error = response.json()["error"]
    assert error["code"] == "PAYLOAD_TOO_LARGE"
    assert error["details"]["limit_bytes"] == LIMIT
    assert response.headers["x-request-id"] == response.json()["meta"]["request_id"]


@pytest.mark.parametrize("how", ["declared", "streamed"])
def test_the_mcp_door_refuses_a_body_over_the_limit_in_json_rpc_form(
    http: TestClient, how: str
) -> None:
    body = b"x" * (LIMIT + 1) if how == "declared" else _streamed(LIMIT + 1)
    response = http.post("/mcp", content=body, headers=MCP)

    assert response.status_code == 413
    assert response.json()["jsonrpc"] == "2.0"
    assert "limit" in response.json()["error"]["message"]


def test_a_body_at_the_limit_passes_the_middleware(http: TestClient) -> None:
    body = b'{"name": "at-limit"}'
    body += b" " * (LIMIT - len(body))
    response = http.post("/admin/v1/accounts", content=body, headers=AUTH)

    assert response.status_code == 201


@pytest.mark.parametrize("path", ["/api/v1/tools", "/admin/v1/accounts", "/api/v1/me"])
def test_a_safe_request_id_is_echoed_and_an_unsafe_one_replaced(
    http: TestClient, path: str
) -> None:
    echoed = http.get(path, headers={**AUTH, "x-request-id": "trace-1.2:3"})
    replaced = http.get(path, headers={**AUTH, "x-request-id": "bad id;" + "x" * 70})
    fresh = http.get(path, headers=AUTH)

    assert echoed.headers["x-request-id"] == "trace-1.2:3"
    assert replaced.headers["x-request-id"].startswith("req_")
    assert fresh.headers["x-request-id"].startswith("req_")
    assert fresh.headers["x-request-id"] != replaced.headers["x-request-id"]
