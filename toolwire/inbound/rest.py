"""The REST door: `/api/v1/execute`, the catalog in every tool format, and the caller's own account.

It parses HTTP into a `ToolCall`, hands it to `Gateway.execute`, and renders the `Outcome` as the
envelope `{"ok", "data" | "error", "meta"}`. Statuses and headers come from one table,
`ERRORS`, keyed by error class.
"""

from __future__ import annotations

from collections.abc import Mapping
from http import HTTPStatus
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send

from toolwire.core import errors
from toolwire.core.catalog import Catalog
from toolwire.core.errors import InvalidRequest, ToolwireError
from toolwire.core.model import Meta, Outcome, Principal, ToolCall, micro_to_credits
from toolwire.inbound import formats, tracecontext
from toolwire.inbound.disconnect import ClientGone, send_gone, unless_disconnected
from toolwire.inbound.face import Face
from toolwire.inbound.front import FrontRoute
from toolwire.inbound.http import (
    ErrorRow,
    api_key_from,
    api_key_of,
    json_response,
    parse_json,
    receive_body,
    row_for,
    scope_headers,
    send_json,
)
from toolwire.inbound.middleware import request_id_of
from toolwire.inbound.results import result_json

ERRORS: dict[type[ToolwireError], ErrorRow] = {
    errors.InvalidRequest: ErrorRow(HTTPStatus.BAD_REQUEST),
    errors.MissingClientCapability: ErrorRow(HTTPStatus.BAD_REQUEST),
    errors.Unauthenticated: ErrorRow(HTTPStatus.UNAUTHORIZED, challenge=True),
    errors.InsufficientCredits: ErrorRow(HTTPStatus.PAYMENT_REQUIRED),
    errors.Forbidden: ErrorRow(HTTPStatus.FORBIDDEN),
    errors.PolicyDenied: ErrorRow(HTTPStatus.FORBIDDEN),
    errors.ToolNotFound: ErrorRow(HTTPStatus.NOT_FOUND),
    errors.NotFound: ErrorRow(HTTPStatus.NOT_FOUND),
    errors.Conflict: ErrorRow(HTTPStatus.CONFLICT, retry_after=True),
    errors.PayloadTooLarge: ErrorRow(HTTPStatus.REQUEST_ENTITY_TOO_LARGE),
    errors.InvalidArguments: ErrorRow(HTTPStatus.UNPROCESSABLE_ENTITY),
    errors.RateLimited: ErrorRow(HTTPStatus.TOO_MANY_REQUESTS, retry_after=True),
    errors.BudgetExceeded: ErrorRow(HTTPStatus.TOO_MANY_REQUESTS, retry_after=True),
    errors.Internal: ErrorRow(HTTPStatus.INTERNAL_SERVER_ERROR),
    errors.UpstreamError: ErrorRow(HTTPStatus.BAD_GATEWAY, retry_after=True),
    errors.UpstreamTimeout: ErrorRow(HTTPStatus.GATEWAY_TIMEOUT, retry_after=True),
    errors.Unavailable: ErrorRow(HTTPStatus.SERVICE_UNAVAILABLE, retry_after=True),
    ToolwireError: ErrorRow(HTTPStatus.INTERNAL_SERVER_ERROR),
}
"""The REST door's one error table (also the OpenAI door's and the admin API's): error class ->
HTTP status and headers, looked up along the class hierarchy (`row_for`). `Retry-After` is sent
where a row says so and the error carries `details.retry_after_s`."""

CHALLENGE = 'Bearer realm="toolwire"'
"""`WWW-Authenticate` of a 401 (RFC 6750 §3)."""


def status_for(error: type[ToolwireError]) -> int:
    """The HTTP status REST answers `error` with."""
    return int(row_for(ERRORS, error).status)


HTTP_STATUS: dict[str, int] = {cls.code: status_for(cls) for cls in errors.ALL_ERRORS}
"""The same, by code (derived from `ERRORS`): for readers that know only codes (the SDKs'
reverse tables are checked against it)."""

_CALL_FIELDS = frozenset({"tool", "operation", "input", "format"})


def services(request: Request) -> Face:
    svc: Face = request.app.state.face
    return svc


def request_id(request: Request) -> str:
    """The caller's `X-Request-Id` when it is safe to echo, else a fresh one: chosen once per
    request by `toolwire.inbound.middleware.Edge`."""
    return request_id_of(request.scope)


def error_body(error: ToolwireError, meta: Meta) -> dict[str, Any]:
    return {"ok": False, "error": error.to_dict(), "meta": meta.to_dict()}


def error_response(error: ToolwireError, rid: str) -> Response:
    """A failure before the call path ran (auth, body, parsing): no credits moved."""
    return render_error(error, Meta(request_id=rid))


Answer = tuple[dict[str, Any], int, dict[str, str]]
"""(envelope, HTTP status, headers): one answer, for a Starlette `Response` or ASGI `send`."""


def error_answer(error: ToolwireError, meta: Meta) -> Answer:
    """A failure's envelope, with the status and headers of its row in `ERRORS`."""
    row = row_for(ERRORS, type(error))
    headers = {"x-request-id": meta.request_id, **row.headers(error, CHALLENGE)}
    return error_body(error, meta), int(row.status), headers


def outcome_answer(outcome: Outcome) -> Answer:
    """A call's outcome: its failure's answer, or `{"ok": true, "data", "meta"}` with 200."""
    if outcome.error is not None:
        return error_answer(outcome.error, outcome.meta)
    body = {"ok": True, "data": result_json(outcome), "meta": outcome.meta.to_dict()}
    return body, 200, {"x-request-id": outcome.meta.request_id}


def render_error(error: ToolwireError, meta: Meta) -> Response:
    return json_response(*error_answer(error, meta))


async def authenticate(request: Request) -> Principal:
    return await services(request).auth.authenticate(api_key_from(request))


def parse_call(
    body: Any,
    rid: str,
    idempotency_key: str | None,
    catalog: Catalog | None = None,
    *,
    trace_context: Mapping[str, str] | None = None,
) -> ToolCall:
    """`{"tool", "operation"?, "input"?, "format"?}` -> ToolCall; shape errors are
    INVALID_REQUEST. With `format` (one of `formats.FORMATS`), `tool` and `input` are as a model
    of that format sent them (a tool-use block's `name` and `input`, a function call's `name`
    and `args`), and are mapped back to the operation's own name and argument keys."""
    if not isinstance(body, dict):
        raise InvalidRequest("request body must be a JSON object with 'tool' and 'input'")
    unknown = sorted(set(body) - _CALL_FIELDS)
    if unknown:
        raise InvalidRequest(f"unknown fields: {', '.join(unknown)}", details={"fields": unknown})
    tool = body.get("tool")
    operation = body.get("operation")
    arguments = body.get("input", {})
    if not isinstance(tool, str) or not tool:
        raise InvalidRequest("'tool' must be a non-empty string")
    fmt = body.get("format")
    if fmt is not None:
        if fmt not in formats.FORMATS or operation is not None:
            raise InvalidRequest(
                "'format' must be one of the tool formats, without 'operation'",
                details={"formats": list(formats.FORMATS)},
            )
        if catalog is not None:
            tool, operation, arguments = formats.inbound(catalog, fmt, tool, arguments)
    if operation is not None and not isinstance(operation, str):
        raise InvalidRequest("'operation' must be a string")
    if arguments is None:
        arguments = {}
    if not isinstance(arguments, Mapping):
        raise InvalidRequest("'input' must be a JSON object")
    return ToolCall(
        tool=tool,
        operation=operation,
        arguments=arguments,
        request_id=rid,
        door="rest",
        idempotency_key=idempotency_key,
        trace_context=dict(trace_context or {}),
    )


_TRACE = frozenset({b"traceparent", b"tracestate"})
EXECUTE_HEADERS = frozenset({b"authorization", b"x-api-key", b"idempotency-key", *_TRACE})
"""The request headers `execute` reads."""


async def execute(scope: Scope, receive: Receive, send: Send) -> None:
    """`POST /api/v1/execute` as a raw ASGI app: one pass over the headers, the body straight
    from `receive`, the envelope straight to `send` (no Starlette `Request` or `Response`: the
    hot path, docs/benchmarks.md). Same answers as every other REST route."""
    await answer_execute(scope, receive, send, scope_headers(scope, EXECUTE_HEADERS))


async def answer_execute(
    scope: Scope, receive: Receive, send: Send, headers: Mapping[bytes, str]
) -> None:
    """`execute` with the request's headers already read: `headers` holds the first value of
    each of `EXECUTE_HEADERS` the request carries (`http.scope_headers`; other names are
    ignored), so a front that reads more headers in the same pass passes them here
    (`toolwire.inbound.front`)."""
    rid = request_id_of(scope)
    svc: Face = scope["app"].state.face
    try:
        key = api_key_of(headers.get(b"authorization"), headers.get(b"x-api-key"))
        principal = await svc.auth.authenticate(key)
        body = parse_json(await receive_body(receive))
        call = parse_call(
            body,
            rid,
            headers.get(b"idempotency-key"),
            svc.gateway.catalog,
            trace_context=tracecontext.received(
                {name.decode(): value for name, value in headers.items() if name in _TRACE}
            ),
        )
    except ToolwireError as exc:
        await send_error(send, exc, Meta(request_id=rid))
        return
    try:
        outcome = await unless_disconnected(scope, receive, svc.gateway.execute(principal, call))
    except ClientGone:
        await send_gone(send)
        return
    await send_json(send, *outcome_answer(outcome))


FRONT = FrontRoute(frozenset({"POST"}), EXECUTE_HEADERS, answer_execute)
"""`POST /api/v1/execute`, answered at the front of the app (`toolwire.inbound.front`)."""


async def send_error(send: Send, error: ToolwireError, meta: Meta) -> None:
    """`render_error` written straight to ASGI `send`."""
    await send_json(send, *error_answer(error, meta))


async def list_tools(request: Request) -> Response:
    rid = request_id(request)
    svc = services(request)
    params = request.query_params
    fmt = params.get("format")
    try:
        principal = await authenticate(request)
        if fmt is not None and fmt not in formats.FORMATS:
            raise InvalidRequest(
                f"unknown format {fmt!r}", details={"formats": sorted(formats.FORMATS)}
            )
        ops = svc.gateway.visible(
            principal, params.get("q"), params.get("category"), params.get("server")
        )
    except ToolwireError as exc:
        return error_response(exc, rid)
    headers = {"x-request-id": rid}
    if fmt is None:
        entries = [formats.catalog_entry(op) for op in ops]
        return json_response({"tools": entries, "count": len(entries)}, headers=headers)
    return json_response(
        {
            "format": fmt,
            "tools": formats.render(svc.gateway.catalog, ops, fmt),
            "count": len(ops),
        },
        headers=headers,
    )


async def get_tool(request: Request) -> Response:
    rid = request_id(request)
    svc = services(request)
    name = request.path_params["name"]
    try:
        principal = await authenticate(request)
        op = svc.gateway.describe(principal, name)
    except ToolwireError as exc:
        return error_response(exc, rid)
    return json_response(formats.catalog_entry(op), headers={"x-request-id": rid})


async def me(request: Request) -> Response:
    """The caller's own account, key and balance: what an SDK shows as 'who am I'."""
    rid = request_id(request)
    svc = services(request)
    try:
        principal = await authenticate(request)
    except ToolwireError as exc:
        return error_response(exc, rid)
    balance = (await svc.gateway.whoami(principal)).balance
    return json_response(
        {
            "account_id": principal.account_id,
            "key_id": principal.key_id,
            "key_name": principal.name,
            "is_admin": principal.is_admin,
            "scopes": principal.scopes.patterns,
            "balance": micro_to_credits(balance),
        },
        headers={"x-request-id": rid},
    )


class _RawRoute:
    """A raw ASGI endpoint: Starlette's `Route` calls an object (not a function) as an ASGI
    app, with no `Request`/`Response` wrapping."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self.app(scope, receive, send)


routes = [
    Route("/api/v1/execute", _RawRoute(execute), methods=["POST"]),
    Route("/api/v1/tools", list_tools, methods=["GET"]),
    Route("/api/v1/tools/{name}", get_tool, methods=["GET"]),
    Route("/api/v1/me", me, methods=["GET"]),
]
