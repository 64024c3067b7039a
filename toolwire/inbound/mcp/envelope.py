"""The 2026-07-28 request envelope: `_meta` fields every request carries, and the HTTP headers
that mirror the body (`MCP-Protocol-Version`, `Mcp-Method`, `Mcp-Name`, `Mcp-Param-*`).

Checked in the order that gives each failure its own answer:

    _meta missing, or no protocolVersion / clientCapabilities     -32602  400
    MCP-Protocol-Version header missing or not equal to _meta     -32020  400
    version not one we speak                                      -32022  400 (+ supported list)
    Mcp-Method / Mcp-Name / Mcp-Param-* not mirroring the body    -32020  400

What this is not: method dispatch, or argument validation (the core validates arguments against
the tool's schema; here only the header copies of them are compared).
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from toolwire.inbound.mcp import versions
from toolwire.inbound.mcp.handlers import LOG_LEVELS
from toolwire.inbound.mcp.jsonrpc import (
    HEADER_MISMATCH,
    INVALID_PARAMS,
    UNSUPPORTED_PROTOCOL_VERSION,
    Message,
    Notification,
    Request,
    RpcError,
)

NAME_FIELDS = {"tools/call": "name", "prompts/get": "name", "resources/read": "uri"}
X_MCP_HEADER = "x-mcp-header"
_B64 = re.compile(r"^=\?base64\?(?P<payload>.*)\?=$")
_B64_ALPHABET = re.compile(r"^[A-Za-z0-9+/]*={0,2}$")


@dataclass(frozen=True, slots=True)
class ModernMeta:
    version: str
    client_capabilities: dict[str, Any] = field(default_factory=dict)
    client_info: dict[str, Any] = field(default_factory=dict)
    log_level: str | None = None


def meta_version(params: Mapping[str, Any]) -> str | None:
    meta = params.get("_meta")
    if isinstance(meta, dict):
        version = meta.get(versions.META_VERSION)
        if isinstance(version, str):
            return version
    return None


SchemaOf = Callable[[str], Mapping[str, Any] | None]
"""A tool's input schema by its MCP name (for `x-mcp-header` parameters), or None."""


def no_schemas(name: str) -> Mapping[str, Any] | None:
    """For transports without headers to mirror (stdio)."""
    return None


def check_modern(message: Message, headers: Mapping[str, str], schema_of: SchemaOf) -> ModernMeta:
    """Validate a modern request's envelope; `RpcError` says what is wrong."""
    params = message.params if isinstance(message, (Request, Notification)) else {}
    meta = params.get("_meta")
    if not isinstance(meta, dict):
        raise RpcError(INVALID_PARAMS, "2026-07-28 requests need params._meta")
    version = meta.get(versions.META_VERSION)
    capabilities = meta.get(versions.META_CLIENT_CAPABILITIES)
    if not isinstance(version, str) or not version:
        raise RpcError(INVALID_PARAMS, f"params._meta needs {versions.META_VERSION!r}")
    if not isinstance(capabilities, dict):
        raise RpcError(INVALID_PARAMS, f"params._meta needs {versions.META_CLIENT_CAPABILITIES!r}")
    header = _header(headers, "mcp-protocol-version")
    if header != version:
        raise RpcError(
            HEADER_MISMATCH,
            "MCP-Protocol-Version header does not match params._meta protocolVersion",
            {"header": "MCP-Protocol-Version", "expected": version, "received": header},
        )
    if version not in versions.MODERN:
        raise RpcError(
            UNSUPPORTED_PROTOCOL_VERSION,
            f"unsupported protocol version {version!r}",
            {"supported": list(versions.KNOWN), "requested": version},
        )
    if isinstance(message, (Request, Notification)):
        _check_method_headers(message, headers, schema_of)
    level = meta.get(versions.META_LOG_LEVEL)
    info = meta.get(versions.META_CLIENT_INFO)
    return ModernMeta(
        version=version,
        client_capabilities=capabilities,
        client_info=info if isinstance(info, dict) else {},
        log_level=level if level in LOG_LEVELS else None,
    )


def _header(headers: Mapping[str, str], name: str) -> str | None:
    value = headers.get(name)
    return None if value is None else value.strip()


def _mismatch(header: str, expected: Any, received: str | None) -> RpcError:
    return RpcError(
        HEADER_MISMATCH,
        f"{header} header does not match the request body",
        {"header": header, "expected": expected, "received": received},
    )


def _check_method_headers(
    message: Request | Notification, headers: Mapping[str, str], schema_of: SchemaOf
) -> None:
    method_header = _header(headers, "mcp-method")
    if method_header != message.method:
        raise _mismatch("Mcp-Method", message.method, method_header)
    field_name = NAME_FIELDS.get(message.method)
    if field_name is None:
        return
    value = message.params.get(field_name)
    name_header = _header(headers, "mcp-name")
    if isinstance(value, str):
        if name_header != value:
            raise _mismatch("Mcp-Name", value, name_header)
    elif name_header is not None:
        raise _mismatch("Mcp-Name", value, name_header)
    if message.method == "tools/call" and isinstance(value, str):
        schema = schema_of(value)
        arguments = message.params.get("arguments")
        if schema is not None and isinstance(arguments, dict):
            _check_param_headers(schema, arguments, headers)


def _check_param_headers(
    schema: Mapping[str, Any], arguments: Mapping[str, Any], headers: Mapping[str, str]
) -> None:
    properties = schema.get("properties")
    if not isinstance(properties, dict):
        return
    for name, prop in properties.items():
        if not isinstance(prop, dict) or not isinstance(prop.get(X_MCP_HEADER), str):
            continue
        header = "mcp-param-" + prop[X_MCP_HEADER].lower()
        raw = _header(headers, header)
        label = "Mcp-Param-" + prop[X_MCP_HEADER]
        if name not in arguments or arguments[name] is None:
            if raw is not None:
                raise _mismatch(label, None, raw)
            continue
        expected = _header_text(arguments[name])
        if raw is None or decode_header_value(raw) != expected:
            raise _mismatch(label, expected, raw)


def _header_text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def decode_header_value(value: str) -> str | None:
    """A header value as sent: literal, or the `=?base64?...?=` form decoded (None if invalid)."""
    found = _B64.match(value)
    if found is None:
        return value
    payload = found.group("payload")
    if len(payload) % 4 or not _B64_ALPHABET.match(payload):
        return None
    try:
        return base64.b64decode(payload, validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return None
