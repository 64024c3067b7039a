"""The 2026-07-28 request envelope: `_meta` fields every request carries, and the HTTP headers
that mirror the body (`MCP-Protocol-Version`, `Mcp-Method`, `Mcp-Name`, `Mcp-Param-*`).

Checked in the order that gives each failure its own answer:

    _meta missing, or no protocolVersion / clientCapabilities     -32602  400
    MCP-Protocol-Version header missing or not equal to _meta     -32020  400
    version not one we speak                                      -32022  400 (+ supported list)
    Mcp-Method / Mcp-Name / Mcp-Param-* not mirroring the body    -32020  400

Every `Mcp-*` header value is read the one way `header()` reads it: decoded from the
`=?base64?{UTF-8 bytes}?=` sentinel when it carries one, before any comparison (2026-07-28
Streamable HTTP: "servers MUST decode"); a repeated header or a malformed sentinel never matches.
`encode_header_value` is the sending side (the stdio bridge), and the two round-trip.

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
    RpcError,
    RpcRequest,
)

NAME_FIELDS = {"tools/call": "name", "prompts/get": "name", "resources/read": "uri"}
X_MCP_HEADER = "x-mcp-header"
_SENTINEL = "=?base64?"
_B64 = re.compile(r"^=\?base64\?(?P<payload>.*)\?=$")
_B64_ALPHABET = re.compile(r"^[A-Za-z0-9+/]*={0,2}$")
_PLAIN = re.compile(r"^[\x20-\x7e]*$")


@dataclass(slots=True)
class ModernMeta:
    """A valid envelope's facts. Treated as immutable; not frozen, as one is made per modern
    request (a frozen `__init__` costs three times as much: docs/design/hot-path-front.md)."""

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


def mirrored_headers(request: RpcRequest) -> dict[str, str]:
    """The headers an HTTP client would send for `request`, for transports that have none
    (stdio), so `check_modern` validates only the body there."""
    headers = {
        "mcp-protocol-version": meta_version(request.params) or "",
        "mcp-method": request.method,
    }
    name_field = NAME_FIELDS.get(request.method)
    if name_field is not None and isinstance(request.params.get(name_field), str):
        headers["mcp-name"] = request.params[name_field]
    return headers


def check_modern(message: Message, headers: Mapping[str, str], schema_of: SchemaOf) -> ModernMeta:
    """Validate a modern request's envelope; `RpcError` says what is wrong."""
    params = message.params if isinstance(message, (RpcRequest, Notification)) else {}
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
            {"header": "MCP-Protocol-Version", "expected": version, "received": _raw(header)},
        )
    if version not in versions.MODERN:
        raise RpcError(
            UNSUPPORTED_PROTOCOL_VERSION,
            f"unsupported protocol version {version!r}",
            {"supported": list(versions.KNOWN), "requested": version},
        )
    if isinstance(message, (RpcRequest, Notification)):
        _check_method_headers(message, headers, schema_of)
    level = meta.get(versions.META_LOG_LEVEL)
    info = meta.get(versions.META_CLIENT_INFO)
    return ModernMeta(
        version=version,
        client_capabilities=capabilities,
        client_info=info if isinstance(info, dict) else {},
        log_level=level if level in LOG_LEVELS else None,
    )


class UnreadableHeader(ValueError):
    """A header sent more than once, or whose `=?base64?...?=` sentinel does not decode."""


def header(headers: Mapping[str, str], name: str) -> str | None:
    """The value of header `name` (lower case) as the client meant it: surrounding whitespace
    removed (RFC 9110 §5.5), then decoded from the base64 sentinel; None when absent.
    Raises `UnreadableHeader` when it is repeated or its sentinel is malformed."""
    value = _header(headers, name)
    if isinstance(value, _Unreadable):
        raise UnreadableHeader(value.problem)
    return value


class _Unreadable:
    """Stands for an unreadable header in comparisons: equal to nothing a body holds. `raw`:
    the values as sent, comma-joined; `problem`: why it cannot be read."""

    def __init__(self, raw: str, problem: str) -> None:
        self.raw = raw
        self.problem = problem


def _header(headers: Mapping[str, str], name: str) -> str | _Unreadable | None:
    """`header()` without raising (the envelope checks compare it, and name an unreadable
    value in their error): one read, no exception (every 2026-07-28 request reads three)."""
    getlist = getattr(headers, "getlist", None)
    if callable(getlist):  # Starlette's headers keep repeats, as strings
        values: list[str] = getlist(name)
    else:  # a plain mapping has one value
        values = [headers[name]] if name in headers else []
    if not values:
        return None
    if len(values) > 1:
        return _Unreadable(",".join(values), f"{name} is sent more than once")
    value = values[0].strip()
    if not value.startswith(_SENTINEL):  # literal: as sent (`decode_header_value`'s first case)
        return value
    decoded = decode_header_value(value)
    if decoded is None:
        return _Unreadable(values[0], f"{name} carries a malformed =?base64?...?= value")
    return decoded


def _raw(value: str | _Unreadable | None) -> str | None:
    return value.raw if isinstance(value, _Unreadable) else value


def _mismatch(label: str, expected: Any, received: str | _Unreadable | None) -> RpcError:
    return RpcError(
        HEADER_MISMATCH,
        f"{label} header does not match the request body",
        {"header": label, "expected": expected, "received": _raw(received)},
    )


def _check_method_headers(
    message: RpcRequest | Notification, headers: Mapping[str, str], schema_of: SchemaOf
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
        if raw != expected:
            raise _mismatch(label, expected, raw)


def _header_text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def decode_header_value(value: str) -> str | None:
    """A header value as sent: literal, or the `=?base64?...?=` form decoded (None if invalid)."""
    if not value.startswith(_SENTINEL):  # the common case: a literal value
        return value
    found = _B64.match(value)
    if found is None:
        return value
    payload = found.group("payload")
    if len(payload) % 4 or not _B64_ALPHABET.match(payload):
        return None
    try:
        raw = base64.b64decode(payload, validate=True)
        if base64.b64encode(raw).decode("ascii") != payload:
            return None  # non-canonical (stray bits): the sender's encoder never makes it
        return raw.decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return None


def encode_header_value(value: str) -> str:
    """`value` as an HTTP header value that reads back exactly: verbatim when it is printable
    ASCII without surrounding whitespace and does not look like the sentinel, else
    `=?base64?{base64 of its UTF-8 bytes}?=` (2026-07-28 Streamable HTTP). Never raises."""
    if _PLAIN.match(value) and value == value.strip() and not _B64.match(value):
        return value
    return "=?base64?" + base64.b64encode(value.encode("utf-8", "surrogatepass")).decode() + "?="
