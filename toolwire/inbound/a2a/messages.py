"""A2A messages to `ToolCall`s, `Outcome`s to A2A parts, and the door's one error table.

Accepted message forms (A2A 1.0 `Part`s; the SDK's 0.3 layer converts 0.3 parts to these first):

    data part   {"tool": "weather", "operation": "current"?, "input": {...}?}
    text part   "weather.current {\"city\": \"Oslo\"}"   (the JSON object is optional)

Anything else raises `InvalidRequest`, which the executor turns into an input-required task whose
status message lists the accepted forms. What this module is not: it runs nothing and knows no
task state; the executor does.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from http import HTTPStatus
from typing import Any

import orjson
from a2a.types.a2a_pb2 import Message, Part, TaskState
from google.protobuf.json_format import MessageToDict, ParseDict

from toolwire.core import errors
from toolwire.core.errors import InvalidRequest, ToolwireError
from toolwire.core.model import Outcome, ToolCall
from toolwire.inbound.http import ErrorRow
from toolwire.inbound.results import result_json

ACCEPTED_FORMS = (
    'send a data part {"tool": "<tool>", "operation": "<operation>", "input": {...}}, '
    'or a text part "<tool>.<operation> {json input}"'
)
"""What an input-required task tells the caller."""

_CALL_FIELDS = frozenset({"tool", "operation", "input"})
_TEXT_CALL = re.compile(r"^\s*([A-Za-z0-9_][A-Za-z0-9_.:-]*)\s*(\{.*\})?\s*$", re.DOTALL)

FAILED = TaskState.TASK_STATE_FAILED

TASK_ERRORS: dict[type[ToolwireError], TaskState] = {
    errors.InvalidRequest: TaskState.TASK_STATE_INPUT_REQUIRED,
    # A tool that needs an MCP client capability (sampling, elicitation, roots): an A2A client
    # cannot declare one, so the task fails and says which capability it would need.
    errors.MissingClientCapability: FAILED,
    errors.Unauthenticated: TaskState.TASK_STATE_AUTH_REQUIRED,
    errors.InsufficientCredits: FAILED,
    errors.Forbidden: FAILED,
    errors.PolicyDenied: FAILED,
    errors.ToolNotFound: FAILED,
    errors.NotFound: FAILED,
    errors.Conflict: FAILED,
    errors.PayloadTooLarge: FAILED,
    errors.InvalidArguments: FAILED,
    errors.RateLimited: FAILED,
    errors.BudgetExceeded: FAILED,
    errors.Internal: FAILED,
    errors.UpstreamError: FAILED,
    errors.UpstreamTimeout: FAILED,
    errors.Unavailable: FAILED,
    ToolwireError: FAILED,
}
"""The A2A door's one error table for the call path: error class -> the state the task ends in
(looked up along the class hierarchy: `inbound.http.row_for`). The task's status message
carries `{"code", "message", "details"?}` as a data part and the task metadata
`toolwire.error` the same (A2A 1.0 §4.5 task states)."""

ADMISSION: dict[type[ToolwireError], ErrorRow] = {
    errors.Unauthenticated: ErrorRow(HTTPStatus.UNAUTHORIZED, challenge=True),
    errors.PayloadTooLarge: ErrorRow(HTTPStatus.REQUEST_ENTITY_TOO_LARGE),
    errors.InvalidRequest: ErrorRow(HTTPStatus.BAD_REQUEST),
    errors.Unavailable: ErrorRow(HTTPStatus.SERVICE_UNAVAILABLE, retry_after=True),
    errors.Internal: ErrorRow(HTTPStatus.INTERNAL_SERVER_ERROR),
    ToolwireError: ErrorRow(HTTPStatus.INTERNAL_SERVER_ERROR),
}
"""Failures before a request reaches the A2A handler (the key, the body size): error class ->
HTTP status and headers, with a JSON-RPC error body whose `error.data` carries the toolwire
error."""

ADMISSION_RPC_CODE = -32600
"""JSON-RPC code of an admission failure (invalid request: JSON-RPC 2.0 §5.1)."""


def parse_call(message: Message, request_id: str) -> ToolCall:
    """The first part that names a call -> ToolCall (door "a2a"). Raises `InvalidRequest`."""
    idem = _metadata(message).get("idempotencyKey") or _metadata(message).get("idempotency_key")
    if idem is not None and not isinstance(idem, str):
        raise InvalidRequest("metadata.idempotencyKey must be a string")
    for part in message.parts:
        kind = part.WhichOneof("content")
        if kind == "data":
            return _from_data(json_value(MessageToDict(part.data)), request_id, idem)
        if kind == "text" and part.text.strip():
            return _from_text(part.text, request_id, idem)
    raise InvalidRequest(f"no call in the message: {ACCEPTED_FORMS}")


def json_value(value: Any) -> Any:
    """A protobuf `Value` read back as the JSON it came from: protobuf keeps every number as a
    double, so an integral one (within 2**53, exact in a double) is an int again."""
    if isinstance(value, float) and value.is_integer() and abs(value) <= 2**53:
        return int(value)
    if isinstance(value, dict):
        return {k: json_value(v) for k, v in value.items()}
    if isinstance(value, list):
        return [json_value(v) for v in value]
    return value


def _metadata(message: Message) -> Mapping[str, Any]:
    return MessageToDict(message.metadata) if message.HasField("metadata") else {}


def _from_data(body: Any, request_id: str, idem: str | None) -> ToolCall:
    if not isinstance(body, dict) or not isinstance(body.get("tool"), str) or not body["tool"]:
        raise InvalidRequest(f"the data part has no 'tool': {ACCEPTED_FORMS}")
    unknown = sorted(set(body) - _CALL_FIELDS)
    if unknown:
        raise InvalidRequest(f"unknown fields: {', '.join(unknown)}", details={"fields": unknown})
    operation = body.get("operation")
    if operation is not None and not isinstance(operation, str):
        raise InvalidRequest("'operation' must be a string")
    arguments = body.get("input") or {}
    if not isinstance(arguments, Mapping):
        raise InvalidRequest("'input' must be a JSON object")
    return ToolCall(
        tool=body["tool"],
        operation=operation,
        arguments=arguments,
        request_id=request_id,
        door="a2a",
        idempotency_key=idem,
    )


def _from_text(text: str, request_id: str, idem: str | None) -> ToolCall:
    match = _TEXT_CALL.match(text)
    if match is None:
        raise InvalidRequest(f"the text part is not a call: {ACCEPTED_FORMS}")
    arguments: Any = {}
    if match.group(2):
        try:
            arguments = orjson.loads(match.group(2))
        except orjson.JSONDecodeError:
            raise InvalidRequest(f"the input is not valid JSON: {ACCEPTED_FORMS}") from None
    return _from_data({"tool": match.group(1), "input": arguments}, request_id, idem)


def result_parts(outcome: Outcome) -> list[Part]:
    """A successful outcome as an artifact's parts: the result as data (the JSON shape every
    JSON door uses, `inbound.results`), then a text rendering."""
    data = result_json(outcome)
    return [data_part(data), Part(text=_render(data))]


def error_parts(error: ToolwireError) -> list[Part]:
    """A failed call as a status message's parts: the error text, then the error as data."""
    return [Part(text=f"{error.code}: {error.message}"), data_part(error.to_dict())]


def data_part(value: Any) -> Part:
    """A JSON value as a `data` part (`application/json`); what JSON cannot hold becomes text."""
    part = Part(media_type="application/json")
    ParseDict(orjson.loads(orjson.dumps(value, default=str)), part.data)
    return part


def _render(data: Any) -> str:
    return data if isinstance(data, str) else orjson.dumps(data, default=str).decode()
