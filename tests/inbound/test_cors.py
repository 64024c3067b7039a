"""Issue 9 item 2: browser MCP clients. One setting (`TOOLWIRE_CORS_ORIGINS`, with
`TOOLWIRE_ALLOWED_ORIGINS` as an alias merged in) drives both CORS and the MCP door's Origin
check. For an allowed origin (loopback, the public URL's, or a listed one) a preflight passes
without a key and allows the MCP request headers; responses expose `Mcp-Session-Id`. Any other
origin's preflight fails and its requests get 403 from the MCP door."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from starlette.testclient import TestClient

from toolwire.app import create_app
from toolwire.settings import Settings

ADMIN = "tw_admin_cors_test_key_0123456789abcdef"
APP = "https://app.example"
EVIL = "https://evil.example"
MCP_HEADERS = "authorization, content-type, mcp-protocol-version, mcp-session-id"
INIT = {
    "jsonrpc": "2.0",
    "id": 0,
    "method": "initialize",
    "params": {"protocolVersion": "2025-11-25", "capabilities": {}},
}


def client(tmp_path: Path, env: dict[str, str]) -> TestClient:
    settings = Settings.from_env({"TOOLWIRE_ADMIN_KEY": ADMIN, **env})
    settings = settings.with_overrides(data_dir=tmp_path)
    return TestClient(create_app(settings), base_url="http://127.0.0.1:8787")


@pytest.fixture(params=["TOOLWIRE_CORS_ORIGINS", "TOOLWIRE_ALLOWED_ORIGINS"])
def listed(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[TestClient]:
    """A gateway listing https://app.example under the setting or its alias."""
    with client(tmp_path, {request.param: f"{APP}, http://other.example"}) as http:
        yield http


@pytest.fixture
def default(tmp_path: Path) -> Iterator[TestClient]:
    with client(tmp_path, {}) as http:
        yield http


def preflight(http: TestClient, origin: str, headers: str, path: str = "/mcp") -> httpx.Response:
    return http.options(
        path,
        headers={
            "origin": origin,
            "access-control-request-method": "POST",
            "access-control-request-headers": headers,
        },
    )


def allowed_headers(response: httpx.Response) -> set[str]:
    value = response.headers.get("access-control-allow-headers", "")
    return {h.strip().lower() for h in value.split(",") if h.strip()}


def test_the_issue_case_a_loopback_preflight_passes_with_default_settings(
    default: TestClient,
) -> None:
    response = preflight(default, "http://localhost:5173", MCP_HEADERS)
    assert response.status_code == 200
    assert response.headers["access-control-allow-origin"] == "http://localhost:5173"
    assert set(MCP_HEADERS.split(", ")) <= allowed_headers(response)


def test_the_issue_case_a_listed_origin_preflight_passes_under_either_setting(
    listed: TestClient,
) -> None:
    response = preflight(listed, APP, MCP_HEADERS)
    assert response.status_code == 200, response.text
    assert response.headers["access-control-allow-origin"] == APP
    assert "POST" in response.headers["access-control-allow-methods"]


@pytest.mark.parametrize("path", ["/mcp", "/mcp/", "/sse", "/messages", "/api/v1/execute"])
def test_preflights_allow_every_header_the_doors_read(listed: TestClient, path: str) -> None:
    wanted = (
        "Authorization, Content-Type, Accept, X-API-Key, Idempotency-Key, Mcp-Session-Id, "
        "MCP-Protocol-Version, Mcp-Method, Mcp-Name, Last-Event-ID, Mcp-Param-Region, "
        "mcp-param-tenant_id"
    )
    response = preflight(listed, APP, wanted, path)
    assert response.status_code == 200, response.text
    assert {h.strip().lower() for h in wanted.split(",")} <= allowed_headers(response)


def test_preflights_refuse_headers_outside_the_list(listed: TestClient) -> None:
    for headers in ("x-forwarded-for", "mcp-param-", "mcp-param-a b", "cookie"):
        assert preflight(listed, APP, headers).status_code == 400, headers


def test_a_foreign_origin_is_refused_by_cors_and_by_the_mcp_door(listed: TestClient) -> None:
    assert preflight(listed, EVIL, MCP_HEADERS).status_code == 400
    answer = listed.post(
        "/mcp", json=INIT, headers={"origin": EVIL, "authorization": f"Bearer {ADMIN}"}
    )
    assert answer.status_code == 403
    assert "access-control-allow-origin" not in answer.headers


@pytest.mark.parametrize("origin", [APP, "http://other.example", "http://127.0.0.1:3000"])
def test_responses_to_an_allowed_origin_expose_the_mcp_headers(
    listed: TestClient, origin: str
) -> None:
    answer = listed.post(
        "/mcp", json=INIT, headers={"origin": origin, "authorization": f"Bearer {ADMIN}"}
    )
    assert answer.status_code == 200, answer.text
    assert answer.headers["access-control-allow-origin"] == origin
    exposed = {h.strip() for h in answer.headers["access-control-expose-headers"].split(",")}
    assert {"mcp-session-id", "mcp-protocol-version", "x-request-id"} <= exposed
    assert answer.headers["mcp-session-id"].startswith("tws1.")


def test_a_401_to_an_allowed_origin_is_readable_by_the_page(listed: TestClient) -> None:
    answer = listed.post("/mcp", json=INIT, headers={"origin": APP})
    assert answer.status_code == 401
    assert answer.headers["access-control-allow-origin"] == APP
    assert "www-authenticate" in answer.headers["access-control-expose-headers"]


def test_the_alias_is_merged_into_the_one_setting() -> None:
    settings = Settings.from_env(
        {
            "TOOLWIRE_CORS_ORIGINS": "https://a.example",
            "TOOLWIRE_ALLOWED_ORIGINS": "https://b.example",
        }
    )
    assert settings.cors_origins == ("https://a.example", "https://b.example")
    assert settings.with_overrides(port=1).cors_origins == settings.cors_origins


def test_a_listed_public_page_may_reach_a_gateway_on_loopback(listed: TestClient) -> None:
    ask = {
        "origin": APP,
        "access-control-request-method": "POST",
        "access-control-request-private-network": "true",
    }
    assert (
        listed.options("/mcp", headers=ask).headers["access-control-allow-private-network"]
        == "true"
    )
    assert listed.options("/mcp", headers={**ask, "origin": EVIL}).status_code == 400
