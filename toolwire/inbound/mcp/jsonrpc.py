"""JSON-RPC 2.0 framing for the MCP door, and its one error table.

What this module is: the shapes of messages (request, notification, response), a parser that
turns a decoded body into one of them or raises `RpcError` with the right code, the JSON-RPC codes
MCP uses, and `CORE_ERRORS`, the single table that says how each core error code reaches an MCP
client: as a tool result with `isError: true` (the model reads it and may correct itself), or as a
JSON-RPC error (a protocol problem), and with which HTTP status.

What it is not: transport (HTTP, SSE, stdio) or method handling; both live next door.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import orjson

from toolwire.core import errors
from toolwire.core.errors import ToolwireError

RequestId = str | int

PARSE_ERROR = -32700
INVALID_REQUEST = -32600
METHOD_NOT_FOUND = -32601
INVALID_PARAMS = -32602
INTERNAL_ERROR = -32603
RESOURCE_NOT_FOUND = -32002
"""Handshake era only; 2026-07-28 reports a missing resource as INVALID_PARAMS."""
HEADER_MISMATCH = -32020
MISSING_REQUIRED_CLIENT_CAPABILITY = -32021
UNSUPPORTED_PROTOCOL_VERSION = -32022

MODERN_HTTP_STATUS: dict[int, int] = {
    PARSE_ERROR: 400,
    INVALID_REQUEST: 400,
    INVALID_PARAMS: 400,
    HEADER_MISMATCH: 400,
    MISSING_REQUIRED_CLIENT_CAPABILITY: 400,
    UNSUPPORTED_PROTOCOL_VERSION: 400,
    METHOD_NOT_FOUND: 404,
}
"""2026-07-28 Streamable HTTP: the HTTP status of a response carrying a JSON-RPC error."""

HANDSHAKE_HTTP_STATUS: dict[int, int] = {PARSE_ERROR: 400, INVALID_REQUEST: 400}
"""Handshake-era Streamable HTTP: only envelope failures change the status; a method's error
travels in a 200 response like any other answer."""


@dataclass(frozen=True, slots=True)
class AsToolError:
    """Render the core error as a `CallToolResult` with `isError: true`."""


@dataclass(frozen=True, slots=True)
class AsRpcError:
    """Render the core error as a JSON-RPC error with this code."""

    code: int


CORE_ERRORS: dict[type[ToolwireError], AsToolError | AsRpcError] = {
    errors.InvalidArguments: AsToolError(),
    errors.InsufficientCredits: AsToolError(),
    errors.RateLimited: AsToolError(),
    errors.BudgetExceeded: AsToolError(),
    errors.Forbidden: AsToolError(),
    errors.PolicyDenied: AsToolError(),
    errors.Conflict: AsToolError(),
    errors.UpstreamError: AsToolError(),
    errors.UpstreamTimeout: AsToolError(),
    errors.ToolNotFound: AsRpcError(INVALID_PARAMS),
    errors.NotFound: AsRpcError(INVALID_PARAMS),
    errors.MissingClientCapability: AsRpcError(MISSING_REQUIRED_CLIENT_CAPABILITY),
    errors.InvalidRequest: AsRpcError(INVALID_REQUEST),
    errors.PayloadTooLarge: AsRpcError(INVALID_REQUEST),
    errors.Unauthenticated: AsRpcError(INVALID_REQUEST),
    errors.Unavailable: AsRpcError(INTERNAL_ERROR),
    errors.Internal: AsRpcError(INTERNAL_ERROR),
    ToolwireError: AsRpcError(INTERNAL_ERROR),
}
"""The MCP door's one mapping of core errors, keyed by class (looked up along the class
hierarchy, most specific first: `rule_for`). Tool failures become `isError` results carrying
the code (MCP: "so the model can self-correct"); an unknown tool is a protocol error (`-32602`,
as the spec's own example); a missing client capability is `-32021` (2026-07-28's
MissingRequiredClientCapability, sent in every era, as it always was). Transport-level refusals
(401, 403, 404, 413, ...) are answered before a message is parsed, from
`refusals.TRANSPORT`; their rows here say the JSON-RPC code where no HTTP status exists (stdio)."""


def rule_for(error: type[ToolwireError]) -> AsToolError | AsRpcError:
    """The row of `error`'s class or of its nearest listed ancestor."""
    for cls in error.__mro__:
        rule = CORE_ERRORS.get(cls)
        if rule is not None:
            return rule
    return CORE_ERRORS[ToolwireError]


def rule_for_code(code: str) -> AsToolError | AsRpcError | None:
    """The row for a core error code (None for a code no core error has)."""
    cls = errors.BY_CODE.get(code)
    return None if cls is None else rule_for(cls)


class RpcError(Exception):
    """A JSON-RPC error to send back (its HTTP status, where there is one, comes from the era's
    table; refusals are typed errors instead, `refusals.TRANSPORT`)."""

    def __init__(self, code: int, message: str, data: Any = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.data = data

    def to_error(self) -> dict[str, Any]:
        error: dict[str, Any] = {"code": self.code, "message": self.message}
        if self.data is not None:
            error["data"] = self.data
        return error


def from_core(error: ToolwireError) -> RpcError:
    """The JSON-RPC error for a core error the table sends as a protocol error; a missing
    client capability carries `data.requiredCapabilities` (2026-07-28)."""
    rule = rule_for(type(error))
    code = rule.code if isinstance(rule, AsRpcError) else INTERNAL_ERROR
    if isinstance(error, errors.MissingClientCapability):
        details = error.details if isinstance(error.details, dict) else {}
        return RpcError(
            code, error.message, {"requiredCapabilities": details.get("requiredCapabilities", {})}
        )
    return RpcError(code, error.message, error.to_dict())


@dataclass(frozen=True, slots=True)
class RpcRequest:
    id: RequestId
    method: str
    params: dict[str, Any]


@dataclass(frozen=True, slots=True)
class Notification:
    method: str
    params: dict[str, Any]


@dataclass(frozen=True, slots=True)
class Response:
    """A client's answer to a server request (`asks`): its `result` or its `error` object."""

    id: RequestId | None
    result: dict[str, Any] | None = None
    error: dict[str, Any] | None = None


Message = RpcRequest | Notification | Response
Kind = Literal["request", "notification", "response"]


def parse_message(obj: Any) -> Message:
    """One decoded JSON value -> a message; `RpcError(INVALID_REQUEST)` for anything else.

    Unknown members are ignored (forward compatible). Ids must be strings or integers, never
    null or booleans. `params`, when present, must be an object.
    """
    if not isinstance(obj, dict):
        raise RpcError(INVALID_REQUEST, "a JSON-RPC message must be an object")
    if obj.get("jsonrpc") != "2.0":
        raise RpcError(INVALID_REQUEST, 'a JSON-RPC message needs "jsonrpc": "2.0"')
    method = obj.get("method")
    if method is None:
        if "result" in obj or "error" in obj:
            rid = obj.get("id")
            result, error = obj.get("result"), obj.get("error")
            return Response(
                rid if _valid_id(rid) else None,
                result if isinstance(result, dict) else None,
                error if isinstance(error, dict) else None,
            )
        raise RpcError(INVALID_REQUEST, "a JSON-RPC message needs a method, a result or an error")
    if not isinstance(method, str) or not method:
        raise RpcError(INVALID_REQUEST, "method must be a non-empty string")
    params = obj.get("params", {})
    if params is None:
        params = {}
    if not isinstance(params, dict):
        raise RpcError(INVALID_REQUEST, "params must be an object")
    if "id" not in obj:
        return Notification(method, params)
    rid = obj["id"]
    if not _valid_id(rid):
        raise RpcError(INVALID_REQUEST, "id must be a string or an integer")
    return RpcRequest(rid, method, params)


def request_id_of(obj: Any) -> RequestId | None:
    """The id of a message that failed to parse, when it can still be read (to echo it)."""
    if isinstance(obj, dict):
        rid = obj.get("id")
        if _valid_id(rid):
            return rid
    return None


def _valid_id(rid: Any) -> bool:
    return isinstance(rid, (str, int)) and not isinstance(rid, bool)


def result(rid: RequestId, body: dict[str, Any]) -> dict[str, Any]:
    return {"jsonrpc": "2.0", "id": rid, "result": body}


def error(rid: RequestId | None, err: RpcError, *, null_id: bool = False) -> dict[str, Any]:
    """An error response. An unknown id is left out (MCP's schema: `id` is optional on an
    error and never null), or sent as `"id": null` when `null_id` (JSON-RPC 2.0 §5, inside and
    for a batch, which only 2025-03-26 accepts)."""
    message: dict[str, Any] = {"jsonrpc": "2.0", "error": err.to_error()}
    if rid is not None or null_id:
        message["id"] = rid
    return message


def notification(method: str, params: dict[str, Any] | None = None) -> dict[str, Any]:
    message: dict[str, Any] = {"jsonrpc": "2.0", "method": method}
    if params is not None:
        message["params"] = params
    return message


def dumps(message: Any) -> bytes:
    """Compact JSON (never a newline inside: stdio frames on newlines)."""
    return orjson.dumps(message, option=orjson.OPT_NON_STR_KEYS)


def loads(body: bytes) -> Any:
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError:
        raise RpcError(PARSE_ERROR, "the body is not valid JSON") from None
