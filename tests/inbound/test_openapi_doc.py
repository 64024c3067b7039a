"""`/openapi.json` describes every HTTP route of the app with its methods, and every request body
marks its required fields (issue 8, item 15). MCP transports, the A2A bindings (JSON-RPC at
`/a2a` and `/api/a2a`, HTTP+JSON below `/a2a`: described by the A2A spec and the agent card) and
OAuth metadata have their own specs and are left out on purpose, and so is the web console
(`/console`): HTML pages for a browser, not an API; the JSON APIs its pages translate onto are
in the document."""

from __future__ import annotations

from typing import Any

import pytest
from starlette.routing import Route

from toolwire.app import create_app
from toolwire.inbound.openapi_doc import openapi_document
from toolwire.settings import Settings

OWN_SPECS = ("/mcp", "/sse", "/messages", "/a2a", "/api/a2a", "/.well-known/", "/console")
"""Prefixes with a spec of their own (or, for /console, HTML pages rather than an API)."""


def app_routes() -> dict[str, set[str]]:
    found: dict[str, set[str]] = {}
    for route in create_app(Settings()).routes:
        if isinstance(route, Route) and route.methods and not route.path.startswith(OWN_SPECS):
            found.setdefault(route.path, set()).update(m.lower() for m in route.methods)
    return {path: methods - {"head"} for path, methods in found.items()}


def test_every_route_and_method_of_the_app_is_in_the_document() -> None:
    document = openapi_document("http://127.0.0.1:8787")
    described = {path: set(item) for path, item in document["paths"].items()}
    assert described == app_routes()


def test_the_document_is_valid_openapi_3_1() -> None:
    validator = pytest.importorskip("openapi_spec_validator")
    validator.validate(openapi_document("http://127.0.0.1:8787"))


def _bodies(document: dict[str, Any]) -> dict[str, dict[str, Any]]:
    schemas = document["components"]["schemas"]
    found = {}
    for path, item in document["paths"].items():
        for method, op in item.items():
            if "requestBody" in op:
                ref = op["requestBody"]["content"]["application/json"]["schema"]["$ref"]
                found[f"{method.upper()} {path}"] = schemas[ref.rsplit("/", 1)[-1]]
    return found


def test_every_request_body_is_a_described_object_with_its_required_fields() -> None:
    bodies = _bodies(openapi_document("http://127.0.0.1:8787"))
    required = {name: schema.get("required") for name, schema in bodies.items()}
    assert required == {
        "POST /api/v1/execute": ["tool"],
        "PUT /api/v1/me/byok/{provider}": ["value"],
        "POST /api/v1/openai/tool_calls": ["tool_calls"],
        "POST /admin/v1/accounts": ["name"],
        "PATCH /admin/v1/accounts/{account_id}": [],
        "POST /admin/v1/accounts/{account_id}/keys": [],
        "POST /admin/v1/accounts/{account_id}/credits": ["amount"],
        "PUT /admin/v1/accounts/{account_id}/byok/{provider}": ["value"],
        "PUT /admin/v1/keys/{key_id}/budget": [],
        "POST /admin/v1/upstreams/{name}/approve": [],
    }
    assert all(schema["type"] == "object" and schema["properties"] for schema in bodies.values())
