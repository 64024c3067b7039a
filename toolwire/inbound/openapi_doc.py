"""The OpenAPI 3.1 description of the REST and admin API, served at `/openapi.json`.

Written as data next to the doors it describes. Tests check it is a valid OpenAPI 3.1 document,
that every HTTP route of the app (but the MCP transports and OAuth metadata, described by their
own specs) appears in it with its methods, and fuzz it with Schemathesis against a real gateway
(tests/e2e/test_openapi_fuzz.py). Request schemas mark required fields and refuse unknown ones
where the handler does.
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
    key_id = _param("key_id", "path", "key id", True)
    provider = _param("provider", "path", "BYOK provider name (see GET .../byok)", True)
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "toolwire",
            "version": __version__,
            "description": "An MCP gateway: one key, one catalog, every tool, billed per call.",
        },
        "servers": [{"url": server_url}],
        "paths": _paths(account_id, key_id, provider),
        "components": {
            "securitySchemes": {
                "bearer": {"type": "http", "scheme": "bearer"},
                "apiKey": {"type": "apiKey", "in": "header", "name": "X-API-Key"},
            },
            "schemas": {**_request_schemas(), **_response_schemas()},
        },
    }


def _paths(
    account_id: dict[str, Any], key_id: dict[str, Any], provider: dict[str, Any]
) -> dict[str, Any]:
    upstream = _param("name", "path", "upstream name, as in the catalog", True)
    return {
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
                    _param("server", "query", "only this virtual server's tools (404 if unknown)"),
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
                    _param("name", "path", "tool.operation, tool__operation, or a bare tool", True)
                ],
            )
        },
        "/api/v1/me": {"get": _op("The calling key, its account and balance", "Object")},
        "/api/v1/me/byok": {"get": _op("The providers this account has its own key for", "Object")},
        "/api/v1/me/byok/{provider}": {
            "put": _op(
                "Set this account's own credential for a provider",
                "Object",
                body="ByokRequest",
                params=[provider],
            ),
            "delete": _op("Delete this account's own credential", "Object", params=[provider]),
        },
        "/api/v1/openai/tool_calls": {
            "post": _op(
                "Run an OpenAI assistant message's tool_calls",
                "ToolMessages",
                body="ToolCallsRequest",
            )
        },
        "/admin/v1/accounts": {
            "post": _op(
                "Create an account", "Object", body="AccountRequest", status="201", admin=True
            ),
            "get": _op("List accounts", "Object", admin=True),
        },
        "/admin/v1/accounts/{account_id}": {
            "get": _op("One account", "Object", params=[account_id], admin=True),
            "patch": _op(
                "Set or clear the account's low-balance threshold",
                "Object",
                body="AccountPatch",
                params=[account_id],
                admin=True,
            ),
        },
        "/admin/v1/accounts/{account_id}/keys": {
            "post": _op(
                "Create an API key (the secret is shown once)",
                "Object",
                body="KeyRequest",
                status="201",
                params=[account_id],
                admin=True,
            )
        },
        "/admin/v1/accounts/{account_id}/credits": {
            "post": _op(
                "Grant credits", "Object", body="GrantRequest", params=[account_id], admin=True
            )
        },
        "/admin/v1/accounts/{account_id}/balance": {
            "get": _op("Read the balance", "Object", params=[account_id], admin=True)
        },
        "/admin/v1/accounts/{account_id}/byok": {
            "get": _op(
                "The providers an account has its own key for (never the values)",
                "Object",
                params=[account_id],
                admin=True,
            )
        },
        "/admin/v1/accounts/{account_id}/byok/{provider}": {
            "put": _op(
                "Set or replace an account's own credential (201 when new)",
                "Object",
                body="ByokRequest",
                params=[account_id, provider],
                admin=True,
            ),
            "delete": _op(
                "Delete an account's own credential",
                "Object",
                params=[account_id, provider],
                admin=True,
            ),
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
            "delete": _op("Revoke a key", "Object", admin=True, params=[key_id])
        },
        "/admin/v1/keys/{key_id}/budget": {
            "get": _op(
                "A key's caps and what it spent this hour and day",
                "Object",
                params=[key_id],
                admin=True,
            ),
            "put": _op(
                "Set a key's hourly and daily caps (null: no cap)",
                "Object",
                body="BudgetRequest",
                params=[key_id],
                admin=True,
            ),
        },
        "/admin/v1/upstreams": {
            "get": _op(
                "Each upstream: kind, breaker state, tools, pinned/held, last error, p50 latency",
                "Object",
                admin=True,
            )
        },
        "/admin/v1/upstreams/{name}/pins": {
            "get": _op(
                "An upstream's pinned tool definitions; held ones with their word-by-word diff",
                "Object",
                params=[upstream],
                admin=True,
            )
        },
        "/admin/v1/upstreams/{name}/approve": {
            "post": _op(
                "Approve an upstream's held definitions (of one tool, when given)",
                "Object",
                body="ApproveRequest",
                params=[upstream],
                admin=True,
            )
        },
        "/admin/v1/usage": {
            "get": _op(
                "Usage per day, account, key and tool, as JSON or CSV",
                "Object",
                admin=True,
                params=[
                    _param("account_id", "query", "only this account"),
                    _param("key_id", "query", "only this key"),
                    _param("tool", "query", "only this tool"),
                    _param("since", "query", "first day (YYYY-MM-DD, UTC), inclusive"),
                    _param("until", "query", "last day (YYYY-MM-DD, UTC), inclusive"),
                    _param("format", "query", "json (default) or csv", enum=["json", "csv"]),
                ],
            )
        },
        "/admin/v1/audit": {
            "get": _op(
                "Audit records, newest first, one page at a time",
                "AuditPage",
                admin=True,
                params=[
                    *_audit_filters(),
                    _param("limit", "query", "records per page, 1 to 1000 (default 100)"),
                    _param("cursor", "query", "next_cursor of the previous page"),
                ],
            )
        },
        "/admin/v1/audit/export": {
            "get": {
                **_op(
                    "Every matching audit record as JSON lines, oldest first",
                    "Object",
                    admin=True,
                    params=_audit_filters(),
                ),
                "responses": {
                    "200": {
                        "description": "one AuditRecord per line",
                        "content": {"application/x-ndjson": {"schema": {"type": "string"}}},
                    },
                    "default": {"description": "error envelope", "content": _json("ErrorEnvelope")},
                },
            }
        },
        "/metrics": {
            "get": {
                "summary": "Prometheus metrics (an admin key or the metrics token)",
                "tags": ["admin"],
                "security": [{"bearer": []}, {"apiKey": []}],
                "responses": {
                    "200": {
                        "description": "Prometheus text exposition format 0.0.4",
                        "content": {"text/plain": {"schema": {"type": "string"}}},
                    },
                    "default": {"description": "error envelope", "content": _json("ErrorEnvelope")},
                },
            }
        },
        "/admin/v1/reload": {
            "post": {
                **_op(
                    "Reload the catalog file on this instance and signal the others to",
                    "ReloadResult",
                    admin=True,
                ),
                "description": "Re-reads the catalog file, checks it and serves it without a "
                "restart: calls in flight finish on the old catalog, MCP clients are told "
                "`notifications/tools/list_changed`. An invalid file is refused with "
                "INVALID_REQUEST, `details.reason` `invalid_catalog` and its `location` "
                "(file:line and YAML path); the catalog served stays.",
            }
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
                "summary": "Readiness (database reachable) and the catalog version served",
                "security": [],
                "responses": {
                    "200": {"description": "ready"},
                    "503": {"description": "not ready"},
                },
            }
        },
        "/openapi.json": {
            "get": {
                "summary": "This document",
                "security": [],
                "responses": {"200": {"description": "OpenAPI 3.1"}},
            }
        },
    }


def _audit_filters() -> list[dict[str, Any]]:
    when = "relative (1h, 7d) or ISO 8601, UTC when naive"
    return [
        _param("account_id", "query", "only this account"),
        _param("key_id", "query", "only this key"),
        _param("tool", "query", "only this tool"),
        _param("outcome", "query", "only this outcome (OK or an error code)"),
        _param("since", "query", f"from this time, inclusive: {when}"),
        _param("until", "query", f"before this time: {when}"),
    ]


_AUDIT_RECORD = {
    "type": "object",
    "required": ["id", "request_id", "at", "door", "outcome", "credits_charged", "latency_ms"],
    "properties": {
        "id": {"type": "integer"},
        "request_id": {"type": "string"},
        "at": {"type": "string", "format": "date-time"},
        "account_id": {"type": ["string", "null"]},
        "key_id": {"type": ["string", "null"]},
        "door": {"type": "string"},
        "tool": {"type": ["string", "null"]},
        "operation": {"type": ["string", "null"]},
        "outcome": {"type": "string"},
        "credits_charged": {"type": "number"},
        "latency_ms": {"type": "number"},
        "credential_source": {"enum": ["platform", "byok", "none"]},
        "upstream": {"type": ["string", "null"]},
        "arguments_digest": {"type": ["string", "null"]},
        "arguments": {"type": ["object", "null"]},
        "message": {"type": ["string", "null"]},
    },
}

_CREDITS = {
    "type": ["number", "string"],
    "description": "credits, up to 6 decimals (a decimal string keeps them exact), at most 10^9",
    "examples": [10, "0.25"],
}
_CREDITS_OR_NULL = {**_CREDITS, "type": ["number", "string", "null"]}


def _closed(properties: dict[str, Any], required: list[str]) -> dict[str, Any]:
    return {
        "type": "object",
        "required": required,
        "additionalProperties": False,
        "properties": properties,
    }


def _request_schemas() -> dict[str, Any]:
    name = {"type": "string", "minLength": 1, "maxLength": 200}
    return {
        "ExecuteRequest": _closed(
            {
                "tool": {"type": "string", "minLength": 1, "examples": ["echo", "calc.evaluate"]},
                "operation": {"type": "string"},
                "input": {"type": ["object", "null"]},
            },
            ["tool"],
        ),
        "ToolCallsRequest": {
            "type": "object",
            "required": ["tool_calls"],
            "properties": {
                "role": {"const": "assistant"},
                "tool_calls": {
                    "type": "array",
                    "maxItems": 64,
                    "items": {
                        "type": "object",
                        "required": ["id", "function"],
                        "properties": {
                            "id": {"type": "string"},
                            "type": {"const": "function"},
                            "function": {
                                "type": "object",
                                "required": ["name"],
                                "properties": {
                                    "name": {"type": "string"},
                                    "arguments": {
                                        "type": "string",
                                        "description": "a JSON object, encoded as a string",
                                    },
                                },
                            },
                        },
                    },
                },
            },
        },
        "AccountRequest": _closed({"name": name, "credits": _CREDITS}, ["name"]),
        "AccountPatch": {
            **_closed(
                {
                    "low_balance": _CREDITS_OR_NULL,
                    "plan": {
                        "type": ["string", "null"],
                        "pattern": "^[a-zA-Z][a-zA-Z0-9_-]{0,29}$",
                        "description": "a plan of the catalog's limits.plans; null clears it",
                    },
                },
                [],
            ),
            "minProperties": 1,
        },
        "KeyRequest": _closed(
            {
                "name": name,
                "scopes": {
                    "type": "array",
                    "items": {"type": "string", "minLength": 1},
                    "description": "patterns: '*', 'tool', 'tool.operation' or 'tool__operation', "
                    "'category:NAME', with * and ? wildcards; '!' before one denies; "
                    "'destructive:PATTERN' grants the operations the policy marks destructive",
                    "examples": [["*", "!calc.*"]],
                },
                "servers": {
                    "type": ["array", "null"],
                    "items": {"type": "string", "pattern": "^[a-z][a-z0-9_-]{0,39}$"},
                    "description": "limit the key to these virtual servers (null: not limited)",
                },
            },
            [],
        ),
        "ApproveRequest": _closed(
            {"tool": {"type": "string", "description": "only this tool (default: every held)"}},
            [],
        ),
        "GrantRequest": _closed({"amount": _CREDITS, "note": {"type": "string"}}, ["amount"]),
        "ByokRequest": _closed({"value": {"type": "string", "minLength": 1}}, ["value"]),
        "BudgetRequest": _closed({"hour": _CREDITS_OR_NULL, "day": _CREDITS_OR_NULL}, []),
    }


def _response_schemas() -> dict[str, Any]:
    obj = {"type": "object"}
    return {
        "Object": obj,
        "AuditRecord": _AUDIT_RECORD,
        "AuditPage": {
            "type": "object",
            "required": ["records", "next_cursor"],
            "properties": {
                "records": {"type": "array", "items": {"$ref": _REF + "AuditRecord"}},
                "next_cursor": {"type": ["string", "null"]},
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
                "low_balance": {"type": "boolean"},
                "replayed": {"type": "boolean"},
                "capped": {
                    "type": "object",
                    "description": "the policy's result cap cut this result",
                    "required": ["rule", "limit_bytes", "original_bytes"],
                    "properties": {
                        "rule": {"type": "string"},
                        "limit_bytes": {"type": "integer"},
                        "original_bytes": {"type": "integer"},
                    },
                },
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
        "ReloadResult": {
            "type": "object",
            "required": ["status", "version", "previous", "operations", "added", "removed"],
            "properties": {
                "status": {"enum": ["reloaded", "unchanged"]},
                "version": {"type": "string", "description": "the catalog version now served"},
                "previous": {"type": "string"},
                "operations": {"type": "integer"},
                "added": {"type": "array", "items": {"type": "string"}},
                "removed": {"type": "array", "items": {"type": "string"}},
                "instance": {"type": "string"},
            },
        },
        "ToolMessages": {
            "type": "object",
            "properties": {
                "messages": {"type": "array", "items": obj},
                "results": {"type": "array", "items": obj},
            },
        },
    }
