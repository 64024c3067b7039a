"""The OpenAPI 3.1 description of the REST and admin API, served at `/openapi.json`.

Written as data next to the doors it describes; a test checks it is a valid OpenAPI 3.1 document
and that every route of the app appears in it.
"""

from __future__ import annotations

from typing import Any

from toolwire import __version__

_REF = "#/components/schemas/"


def _json(schema_name: str) -> dict[str, Any]:
    return {"application/json": {"schema": {"$ref": _REF + schema_name}}}


def _op(
    summary: str,
    ok: str,
    *,
    body: str | None = None,
    status: str = "200",
    params: list[dict[str, Any]] | None = None,
    admin: bool = False,
) -> dict[str, Any]:
    op: dict[str, Any] = {
        "summary": summary,
        "responses": {
            status: {"description": "success", "content": _json(ok)},
            "default": {"description": "error envelope", "content": _json("ErrorEnvelope")},
        },
        "security": [{"bearer": []}, {"apiKey": []}],
    }
    if admin:
        op["tags"] = ["admin"]
    if body:
        op["requestBody"] = {"required": True, "content": _json(body)}
    if params:
        op["parameters"] = params
    return op


def _param(
    name: str, where: str, description: str, required: bool = False, enum: list[str] | None = None
) -> dict[str, Any]:
    schema: dict[str, Any] = {"type": "string"}
    if enum:
        schema["enum"] = enum
    return {
        "name": name,
        "in": where,
        "required": required,
        "description": description,
        "schema": schema,
    }


def openapi_document(server_url: str) -> dict[str, Any]:
    account_id = _param("account_id", "path", "account id", True)
    obj = {"type": "object"}
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "toolwire",
            "version": __version__,
            "description": "An MCP gateway: one key, one catalog, every tool, billed per call.",
        },
        "servers": [{"url": server_url}],
        "paths": {
            "/api/v1/execute": {
                "post": _op(
                    "Run one tool operation",
                    "SuccessEnvelope",
                    body="ExecuteRequest",
                    params=[_param("Idempotency-Key", "header", "retry-safe key for this call")],
                )
            },
            "/api/v1/tools": {
                "get": _op(
                    "List the tools this key may use",
                    "ToolList",
                    params=[
                        _param("q", "query", "words to search in names, descriptions, categories"),
                        _param("category", "query", "only this category"),
                        _param(
                            "format",
                            "query",
                            "tool definitions for a platform",
                            enum=["mcp", "openai", "openai-responses", "anthropic", "gemini"],
                        ),
                    ],
                )
            },
            "/api/v1/tools/{name}": {
                "get": _op(
                    "One tool operation",
                    "Tool",
                    params=[
                        _param(
                            "name", "path", "tool.operation, tool__operation, or a bare tool", True
                        )
                    ],
                )
            },
            "/api/v1/me": {"get": _op("The calling key, its account and balance", "Object")},
            "/api/v1/openai/tool_calls": {
                "post": _op(
                    "Run an OpenAI assistant message's tool_calls", "ToolMessages", body="Object"
                )
            },
            "/admin/v1/accounts": {
                "post": _op("Create an account", "Object", body="Object", status="201", admin=True),
                "get": _op("List accounts", "Object", admin=True),
            },
            "/admin/v1/accounts/{account_id}": {
                "get": _op("One account", "Object", params=[account_id], admin=True)
            },
            "/admin/v1/accounts/{account_id}/keys": {
                "post": _op(
                    "Create an API key (the secret is shown once)",
                    "Object",
                    body="Object",
                    status="201",
                    params=[account_id],
                    admin=True,
                )
            },
            "/admin/v1/accounts/{account_id}/credits": {
                "post": _op(
                    "Grant credits", "Object", body="Object", params=[account_id], admin=True
                )
            },
            "/admin/v1/accounts/{account_id}/balance": {
                "get": _op("Read the balance", "Object", params=[account_id], admin=True)
            },
            "/admin/v1/keys": {
                "get": _op(
                    "List keys",
                    "Object",
                    admin=True,
                    params=[_param("account_id", "query", "only this account's keys")],
                )
            },
            "/admin/v1/keys/{key_id}": {
                "delete": _op(
                    "Revoke a key",
                    "Object",
                    admin=True,
                    params=[_param("key_id", "path", "key id", True)],
                )
            },
            "/healthz": {
                "get": {
                    "summary": "Liveness",
                    "security": [],
                    "responses": {"200": {"description": "alive"}},
                }
            },
            "/readyz": {
                "get": {
                    "summary": "Readiness (database reachable)",
                    "security": [],
                    "responses": {
                        "200": {"description": "ready"},
                        "503": {"description": "not ready"},
                    },
                }
            },
        },
        "components": {
            "securitySchemes": {
                "bearer": {"type": "http", "scheme": "bearer"},
                "apiKey": {"type": "apiKey", "in": "header", "name": "X-API-Key"},
            },
            "schemas": {
                "Object": obj,
                "ExecuteRequest": {
                    "type": "object",
                    "required": ["tool"],
                    "additionalProperties": False,
                    "properties": {
                        "tool": {"type": "string", "examples": ["echo", "calc.evaluate"]},
                        "operation": {"type": "string"},
                        "input": {"type": "object"},
                    },
                },
                "Meta": {
                    "type": "object",
                    "required": ["request_id"],
                    "properties": {
                        "request_id": {"type": "string"},
                        "tool": {"type": ["string", "null"]},
                        "credits_charged": {"type": "number"},
                        "balance": {"type": ["number", "null"]},
                        "latency_ms": {"type": "number"},
                        "credential_source": {"enum": ["platform", "byok"]},
                    },
                },
                "SuccessEnvelope": {
                    "type": "object",
                    "required": ["ok", "data", "meta"],
                    "properties": {
                        "ok": {"const": True},
                        "data": {},
                        "meta": {"$ref": _REF + "Meta"},
                    },
                },
                "ErrorEnvelope": {
                    "type": "object",
                    "required": ["ok", "error", "meta"],
                    "properties": {
                        "ok": {"const": False},
                        "error": {
                            "type": "object",
                            "required": ["code", "message"],
                            "properties": {
                                "code": {"type": "string"},
                                "message": {"type": "string"},
                                "details": {},
                            },
                        },
                        "meta": {"$ref": _REF + "Meta"},
                    },
                },
                "Tool": {
                    "type": "object",
                    "properties": {
                        "name": {"type": "string"},
                        "tool": {"type": "string"},
                        "operation": {"type": "string"},
                        "category": {"type": "string"},
                        "description": {"type": "string"},
                        "input_schema": obj,
                        "output_schema": {"type": ["object", "null"]},
                        "annotations": obj,
                        "price": {"type": "number"},
                    },
                },
                "ToolList": {
                    "type": "object",
                    "properties": {
                        "tools": {"type": "array", "items": {}},
                        "count": {"type": "integer"},
                        "format": {"type": "string"},
                    },
                },
                "ToolMessages": {
                    "type": "object",
                    "properties": {
                        "messages": {"type": "array", "items": obj},
                        "results": {"type": "array", "items": obj},
                    },
                },
            },
        },
    }
