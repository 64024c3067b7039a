"""Headers the gateway owns are never arguments (issue 9 item 10): OpenAPI's ignored header
parameters (`Accept`, `Content-Type`, `Authorization`), connection and framing headers, and the
upstream's own auth header, auth query parameter and configured headers. Credentials reach the
upstream only from the vault."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.upstream.harness import gateway_over
from tests.upstream.openapi.test_openapi_styles import recorder
from tests.upstream.servers import serving
from toolwire.upstream.http import AuthSpec, UpstreamSpec
from toolwire.upstream.openapi import Curation, Owned, check_document, plan

OWNED = [
    "Authorization",
    "Accept",
    "content-type",
    "Host",
    "Content-Length",
    "Transfer-Encoding",
    "Connection",
    "Cookie",
    "Proxy-Authorization",
    "User-Agent",
    "X-Api-Key",  # the upstream's `header` auth
    "X-Tenant",  # set by the upstream's `headers:`
    "Bad Header",  # not an HTTP token
]


def spec() -> dict[str, Any]:
    headers = [{"name": n, "in": "header", "schema": {"type": "string"}} for n in OWNED]
    headers[0]["required"] = True  # a required Authorization is ignored all the same
    return {
        "openapi": "3.0.3",
        "info": {"title": "owned", "version": "1"},
        "paths": {
            "/things": {
                "get": {
                    "operationId": "listThings",
                    "parameters": [
                        *headers,
                        {"name": "X-Trace", "in": "header", "schema": {"type": "string"}},
                        {"name": "api_key", "in": "query", "schema": {"type": "string"}},
                        {"name": "q", "in": "query", "schema": {"type": "string"}},
                    ],
                }
            }
        },
    }


def test_the_issue_example_exposes_only_the_trace_header() -> None:
    document = check_document(
        {
            "openapi": "3.0.3",
            "info": {"title": "t", "version": "1"},
            "paths": {
                "/x": {
                    "get": {
                        "parameters": [
                            {
                                "name": n,
                                "in": "header",
                                "required": n == "Authorization",
                                "schema": {"type": "string"},
                            }
                            for n in ("Authorization", "Accept", "X-Trace")
                        ]
                    }
                }
            },
        }
    )
    (entry,) = plan(document, Curation())
    assert entry.exposed, entry.reason
    assert list(entry.input_schema["properties"]) == ["X-Trace"]
    assert "required" not in entry.input_schema
    assert len(entry.ignored) == 2


def test_owned_names_follow_the_upstream_auth_and_headers() -> None:
    def owned(auth: AuthSpec | None, headers: dict[str, str] | None = None) -> Owned:
        return Owned.of(UpstreamSpec("u", auth=auth, headers=headers or {}))

    assert owned(AuthSpec("bearer", "s")).headers == {"authorization"}
    assert owned(AuthSpec("header", "s", name="X-Api-Key")).headers == {"x-api-key"}
    assert owned(AuthSpec("query", "s", name="api_key")).query == {"api_key"}
    assert owned(None, {"X-Tenant": "t"}).headers == {"x-tenant"}


@pytest.fixture(scope="module")
def upstream() -> Iterator[tuple[str, list[dict[str, Any]]]]:
    received: list[dict[str, Any]] = []
    with serving(recorder(received)) as served:
        yield served.url, received


@pytest.mark.parametrize("auth", ["header", "query"])
async def test_no_argument_can_set_an_owned_header_or_the_credential(
    upstream: tuple[str, list[dict[str, Any]]], sqlite_url: str, tmp_path: Path, auth: str
) -> None:
    url, received = upstream
    (tmp_path / "owned.yaml").write_text(yaml.safe_dump(spec()))
    name = "X-Api-Key" if auth == "header" else "api_key"
    config = {
        "openapi": {
            "o": {
                "spec": "owned.yaml",
                "base_url": url,
                "allow_private_networks": True,
                "headers": {"X-Tenant": "t1"},
                "auth": {"type": auth, "name": name, "secret": "vault_key"},
            }
        }
    }
    async with gateway_over(
        sqlite_url, config, {"vault_key": "from-the-vault"}, base_dir=tmp_path
    ) as h:
        op = h.gateway.catalog.resolve("o")
        expected = {"X-Trace", "q", "api_key" if auth == "header" else "X-Api-Key"}
        assert set(op.input_schema["properties"]) == expected
        for forged in ({"Authorization": "Bearer forged"}, {"Accept": "text/html"}, {name: "x"}):
            refused = await h.call("o", **forged)
            assert refused.error is not None and refused.error.code == "INVALID_ARGUMENTS"
        got = await h.call("o", **{"X-Trace": "t-1", "q": "a"})
        assert got.ok, got.error
    headers, query = received[-1]["headers"], received[-1]["query"]
    assert headers["x-trace"] == "t-1" and headers["accept"] == "application/json"
    assert headers["x-tenant"] == "t1" and "authorization" not in headers
    if auth == "header":
        assert headers["x-api-key"] == "from-the-vault"
    else:
        assert query == "q=a&api_key=from-the-vault"
