"""The catalog file's JSON Schema: every key the YAML may hold, so a typo has a location.

What it is: data only (`SCHEMA`). What it is not: the meaning of the keys (see `toolwire.config`
and `toolwire.config.upstreams`, and docs/adapters.md for the user-facing reference).
"""

from __future__ import annotations

from typing import Any

_AMOUNT = {"type": ["number", "string"]}
_STRINGS = {"type": "array", "items": {"type": "string"}}
_NAME = {"type": "string", "pattern": "^[a-zA-Z][a-zA-Z0-9_-]{0,29}$"}
_EXPR = {"type": "string", "minLength": 1}
"""A JMESPath expression."""

AUTH = {
    "type": "object",
    "additionalProperties": False,
    "required": ["type", "secret"],
    "properties": {
        "type": {"enum": ["header", "bearer", "basic", "query", "oauth2_client_credentials"]},
        "secret": {"type": "string", "description": "vault secret name"},
        "name": {"type": "string"},
        "format": {"type": "string", "pattern": "\\{secret\\}"},
        "username": {"type": "string"},
        "username_secret": {"type": "string"},
        "token_url": {"type": "string", "pattern": "^https?://"},
        "client_id": {"type": "string"},
        "client_id_secret": {"type": "string"},
        "scopes": _STRINGS,
        "audience": {"type": "string"},
        "client_auth": {"enum": ["basic", "body"]},
        "extra": {"type": "object", "additionalProperties": {"type": "string"}},
    },
    "allOf": [
        {
            "if": {"properties": {"type": {"const": "oauth2_client_credentials"}}},
            "then": {"required": ["token_url"]},
        },
    ],
}

PINNING = {
    "type": "object",
    "additionalProperties": False,
    "properties": {
        "policy": {"enum": ["pin", "auto", "off"]},
        "first_sight": {"enum": ["approve", "hold"]},
    },
}
"""An upstream's pinning policy (toolwire.core.pins, docs/design/pinning.md)."""

HEALTH = {
    "type": "object",
    "additionalProperties": False,
    "properties": {
        "failure_threshold": {"type": "integer", "minimum": 1, "maximum": 1000},
        "reset_after": {"type": "number", "exclusiveMinimum": 0, "maximum": 3600},
        "max_concurrency": {"type": "integer", "minimum": 1, "maximum": 10_000},
    },
}
"""An upstream's circuit breaker and concurrency cap (toolwire.upstream.health)."""

SERVER = {
    "type": "object",
    "additionalProperties": False,
    "required": ["tools"],
    "properties": {
        "description": {"type": "string"},
        "tools": {**_STRINGS, "minItems": 1},
    },
}
"""A virtual server: globs over `tool.operation` or `tool` (toolwire.core.servers)."""

UPSTREAM = {
    "type": "object",
    "additionalProperties": False,
    "properties": {
        "base_url": {"type": "string", "pattern": "^https?://"},
        "auth": AUTH,
        "headers": {"type": "object", "additionalProperties": {"type": "string"}},
        "timeout": {"type": "number", "exclusiveMinimum": 0},
        "retries": {
            "type": "object",
            "additionalProperties": False,
            "properties": {
                "attempts": {"type": "integer", "minimum": 1, "maximum": 10},
                "backoff": {"type": "number", "minimum": 0},
            },
        },
        "max_response_bytes": {"type": "integer", "minimum": 1},
        "allow_private_networks": {"type": "boolean"},
        "allow_foreign_origins": {
            "type": "array",
            "items": {"type": "string", "pattern": "^(\\*|https?://[^/?#]+/?)$"},
        },
        "health": HEALTH,
    },
}

ANNOTATIONS = {
    "type": "object",
    "additionalProperties": False,
    "properties": {
        k: {"type": "boolean"} for k in ("read_only", "destructive", "idempotent", "open_world")
    },
}

HTTP_OPERATION = {
    "type": "object",
    "additionalProperties": False,
    "required": ["upstream", "description", "input_schema"],
    "properties": {
        "upstream": {"type": "string"},
        "description": {"type": "string"},
        "title": {"type": "string"},
        "input_schema": {"type": "object"},
        "output_schema": {"type": "object"},
        "method": {"enum": ["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD"]},
        "path": {"type": "string"},
        "url": {"type": "string"},
        "query": _EXPR,
        "headers": _EXPR,
        "body": _EXPR,
        "response": _EXPR,
        "response_envelope": {"type": "boolean"},
        "error_message": _EXPR,
        "idempotent": {"type": "boolean"},
        "annotations": ANNOTATIONS,
    },
    "not": {"required": ["path", "url"]},
}

HTTP_TOOL = {
    "type": "object",
    "additionalProperties": False,
    "required": ["description", "operations"],
    "properties": {
        "description": {"type": "string"},
        "category": {"type": "string"},
        "operations": {
            "type": "object",
            "minProperties": 1,
            "propertyNames": _NAME,
            "additionalProperties": HTTP_OPERATION,
        },
    },
}

_RULE = {
    "type": "object",
    "additionalProperties": False,
    "properties": {k: _STRINGS for k in ("tags", "operations", "paths", "methods")},
}
_RULES = {"oneOf": [_RULE, {"type": "array", "items": _RULE}]}

OPENAPI_IMPORT = {
    "type": "object",
    "additionalProperties": False,
    "required": ["spec"],
    "properties": {
        "spec": {"type": "string", "description": "file path (relative to this file) or URL"},
        "tool": _NAME,
        "description": {"type": "string"},
        "category": {"type": "string"},
        "upstream": {"type": "string"},
        **{k: v for k, v in UPSTREAM["properties"].items()},  # type: ignore[attr-defined]
        "include": _RULES,
        "exclude": _RULES,
        "allow_methods": _STRINGS,
        "include_deprecated": {"type": "boolean"},
        "max_schema_tokens": {
            "type": "integer",
            "minimum": 100,
            "description": "budget for one operation's input schema, in estimated tokens",
        },
        "pinning": PINNING,
        "oversize": {
            "enum": ["slim", "hide"],
            "description": "over the budget: slim the schema (then hide if still over), or hide",
        },
        "operations": {
            "type": "object",
            "additionalProperties": {
                "type": "object",
                "additionalProperties": False,
                "properties": {
                    "name": _NAME,
                    "description": {"type": "string"},
                    "title": {"type": "string"},
                    "expose": {"type": "boolean"},
                },
            },
        },
    },
}

DATABASE = {
    "type": "object",
    "additionalProperties": False,
    "required": ["url", "tables"],
    "properties": {
        "url": {"type": "string", "pattern": "^(sqlite|postgres|postgresql)(\\+\\w+)?://"},
        "password_secret": {"type": "string"},
        "description": {"type": "string"},
        "category": {"type": "string"},
        "tables": {
            "type": "object",
            "minProperties": 1,
            "additionalProperties": {"oneOf": [{"const": "*"}, _STRINGS]},
        },
        "functions": _STRINGS,
        "row_limit": {"type": "integer", "minimum": 1, "maximum": 10_000},
        "statement_timeout": {"type": "number", "exclusiveMinimum": 0, "maximum": 300},
        "max_response_bytes": {"type": "integer", "minimum": 1024, "maximum": 1024**3},
    },
}

_RATE = {"type": "string", "minLength": 1, "description": "N/UNIT, e.g. 10/minute"}

LIMITS = {
    "type": "object",
    "additionalProperties": False,
    "properties": {
        "strategy": {"enum": ["sliding-window-counter", "fixed-window", "moving-window"]},
        "on_storage_error": {"enum": ["closed", "open"]},
        "per_key": _RATE,
        "per_key_tool": _RATE,
        "tools": {
            "type": "object",
            "additionalProperties": {
                "type": "object",
                "additionalProperties": False,
                "minProperties": 1,
                "properties": {"per_key": _RATE, "all_keys": _RATE},
            },
        },
        "upstreams": {"type": "object", "additionalProperties": _RATE},
        "plans": {
            "type": "object",
            "propertyNames": _NAME,
            "additionalProperties": {
                "type": "object",
                "additionalProperties": False,
                "required": ["per_account"],
                "properties": {"per_account": _RATE, "accounts": _STRINGS},
            },
        },
    },
}

_CONSTRAINT = {
    "type": "object",
    "additionalProperties": False,
    "minProperties": 1,
    "properties": {
        "domains": {
            "type": "array",
            "minItems": 1,
            "items": {"type": "string", "pattern": "^(\\*\\.)?[a-zA-Z0-9-]+(\\.[a-zA-Z0-9-]+)*$"},
        },
        "min": {"type": "number"},
        "max": {"type": "number"},
        "max_items": {"type": "integer", "minimum": 1, "maximum": 1_000_000},
        "one_of": {"type": "array", "minItems": 1},
        "pattern": {"type": "string", "minLength": 1},
        "forbid": {"type": "array", "minItems": 1, "items": {"type": "string", "minLength": 1}},
    },
}

POLICY = {
    "type": "object",
    "additionalProperties": {
        "type": "object",
        "additionalProperties": False,
        "minProperties": 1,
        "properties": {
            "destructive": {"type": "boolean"},
            "arguments": {
                "type": "object",
                "minProperties": 1,
                "propertyNames": {"pattern": "^[A-Za-z0-9_-]+(\\.[A-Za-z0-9_-]+)*$"},
                "additionalProperties": _CONSTRAINT,
            },
            "max_result_bytes": {"type": "integer", "minimum": 16, "maximum": 64 * 1024 * 1024},
        },
    },
}

_SECONDS = {"type": "number", "exclusiveMinimum": 0}
_TEXTS = {"type": "object", "additionalProperties": {"type": "string"}}

MCP_TOOL = {
    "type": "object",
    "additionalProperties": False,
    "properties": {
        "price": _AMOUNT,
        "byok_fee": _AMOUNT,
        "category": {"type": "string"},
        "description": {"type": "string"},
        "timeout": _SECONDS,
    },
}

MCP_SERVER = {
    "type": "object",
    "additionalProperties": False,
    "description": "a federated MCP server: `command` (stdio) or `url` (HTTP), not both",
    "properties": {
        "command": {"type": "string", "minLength": 1},
        "args": _STRINGS,
        "env": _TEXTS,
        "env_secrets": {**_TEXTS, "description": "environment variable -> vault secret name"},
        "cwd": {"type": "string"},
        "processes": {"type": "integer", "minimum": 1, "maximum": 32},
        "idle_timeout": _SECONDS,
        "url": {"type": "string", "pattern": "^https?://"},
        "transport": {"enum": ["streamable_http", "sse"]},
        "headers": _TEXTS,
        "auth": {
            **AUTH,
            "properties": {
                **AUTH["properties"],  # type: ignore[dict-item]
                "type": {"enum": ["header", "bearer", "basic", "oauth2_client_credentials"]},
            },
        },
        "allow_private_networks": {"type": "boolean"},
        "era": {"enum": ["auto", "handshake"]},
        "include": _STRINGS,
        "exclude": _STRINGS,
        "price": _AMOUNT,
        "byok_fee": _AMOUNT,
        "category": {"type": "string"},
        "timeout": _SECONDS,
        "tools": {"type": "object", "additionalProperties": MCP_TOOL},
        "connect_timeout": _SECONDS,
        "max_result_bytes": {"type": "integer", "minimum": 1024, "maximum": 1024**3},
        "max_notifications": {"type": "integer", "minimum": 0, "maximum": 100_000},
        "max_tools": {"type": "integer", "minimum": 1, "maximum": 10_000},
        "ping_interval": {"type": "number", "minimum": 0},
        "max_concurrency": {"type": "integer", "minimum": 1, "maximum": 10_000},
        "failure_threshold": {"type": "integer", "minimum": 1},
        "reset_after": _SECONDS,
        "pinning": PINNING,
    },
}

SCHEMA: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "properties": {
        "include": {**_STRINGS, "description": "other catalog files merged under this one"},
        "builtins": {
            "type": "object",
            "additionalProperties": False,
            "properties": {
                "include": _STRINGS,
                "exclude": _STRINGS,
                "profiles": _STRINGS,
                "modules": _STRINGS,
            },
        },
        "prices": {"type": "object", "additionalProperties": _AMOUNT},
        "byok_fees": {"type": "object", "additionalProperties": _AMOUNT},
        "charge_policy": {
            "type": "object",
            "additionalProperties": {"enum": ["success", "always"]},
        },
        "timeouts": {
            "type": "object",
            "additionalProperties": {"type": "number", "exclusiveMinimum": 0, "maximum": 3600},
        },
        "limits": LIMITS,
        "policy": POLICY,
        "audit": {
            "type": "object",
            "description": "per tool or tool.operation: what its audit records keep",
            "additionalProperties": {
                "type": "object",
                "additionalProperties": False,
                "properties": {"arguments": {"type": "boolean"}},
            },
        },
        "upstreams": {"type": "object", "propertyNames": _NAME, "additionalProperties": UPSTREAM},
        "tools": {"type": "object", "propertyNames": _NAME, "additionalProperties": HTTP_TOOL},
        "openapi": {
            "type": "object",
            "propertyNames": _NAME,
            "additionalProperties": OPENAPI_IMPORT,
        },
        "databases": {"type": "object", "propertyNames": _NAME, "additionalProperties": DATABASE},
        "mcp": {"type": "object", "propertyNames": _NAME, "additionalProperties": MCP_SERVER},
        "servers": {
            "type": "object",
            "propertyNames": {"type": "string", "pattern": "^[a-z][a-z0-9_-]{0,39}$"},
            "additionalProperties": SERVER,
        },
    },
}
