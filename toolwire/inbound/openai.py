"""The OpenAI function-calling door: run a model's `tool_calls`, return the `tool` messages.

Accepts an assistant message (`{"role": "assistant", "tool_calls": [...]}`), an object with
`tool_calls`, or the bare list. Each call runs through `Gateway.execute` (concurrently: a model's
parallel tool calls are independent) and yields one `{"role": "tool", "tool_call_id", "content"}`
message, in the order the calls came. A call that fails becomes a tool message whose content is the
error, so the model can read it; only a malformed request fails the whole HTTP request.

Idempotency (docs/design/openai-tool-call-idempotency.md): each call carries a key, so a
resent assistant message is charged once. With an `Idempotency-Key` header, call `i` uses
`<header>#<tool_call_id>` (one request, several calls: each its own key); without one, a tool
call id that identifies a call (`MIN_IMPLICIT_ID_LENGTH` characters or more, as OpenAI's
`call_...` ids are) is the key, as `tool_call#<id>`. The store scopes keys to the API key that
sent them, so two callers' ids never meet, and the prefixes keep them apart from REST's keys.
"""

from __future__ import annotations

import asyncio
from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from toolwire.core.errors import InvalidArguments, InvalidRequest, ToolwireError
from toolwire.core.model import Meta, Outcome, Principal, ToolCall
from toolwire.core.payload import encode
from toolwire.inbound import formats, tracecontext
from toolwire.inbound.disconnect import ClientGone, gone_response, unless_disconnected
from toolwire.inbound.http import json_response, parse_json, read_body
from toolwire.inbound.rest import authenticate, error_response, request_id, services
from toolwire.inbound.results import result_json

MAX_CALLS = 64
MIN_IMPLICIT_ID_LENGTH = 16
"""A shorter tool call id (some OpenAI-compatible servers number calls `call_0`, `call_1` in
every message) names no call uniquely, so it is not used as an idempotency key on its own."""


def idempotency_key(header: str | None, call_id: str) -> str | None:
    """The idempotency key of tool call `call_id` in a request with `Idempotency-Key: header`."""
    if header:
        return f"{header}#{call_id}"
    if len(call_id) >= MIN_IMPLICIT_ID_LENGTH:
        return f"tool_call#{call_id}"
    return None


def _tool_calls(body: Any) -> list[Any]:
    calls = body.get("tool_calls") if isinstance(body, dict) else body
    if not isinstance(calls, list):
        raise InvalidRequest("expected an assistant message with 'tool_calls', or a list of them")
    if len(calls) > MAX_CALLS:
        raise InvalidRequest(f"at most {MAX_CALLS} tool calls per request")
    for i, call in enumerate(calls):
        if not isinstance(call, dict) or not isinstance(call.get("id"), str):
            raise InvalidRequest(f"tool_calls[{i}] must be an object with an 'id'")
        fn = call.get("function")
        if not isinstance(fn, dict) or not isinstance(fn.get("name"), str):
            raise InvalidRequest(f"tool_calls[{i}].function.name must be a string")
    return calls


async def _run_one(
    request: Request, principal: Principal, raw: dict[str, Any], rid: str
) -> Outcome:
    gateway = services(request).gateway
    fn = raw["function"]
    arguments_text = fn.get("arguments") or "{}"
    try:
        arguments = (
            orjson.loads(arguments_text) if isinstance(arguments_text, str) else arguments_text
        )
    except orjson.JSONDecodeError:
        arguments = None
    if not isinstance(arguments, dict):
        error = InvalidArguments("function.arguments must be a JSON object encoded as a string")
        return Outcome(meta=Meta(request_id=rid, tool=fn["name"]), error=error)
    tool, operation, arguments = formats.inbound(gateway.catalog, "openai", fn["name"], arguments)
    call = ToolCall(
        tool=tool,
        operation=operation,
        arguments=arguments,
        request_id=rid,
        door="openai",
        idempotency_key=idempotency_key(request.headers.get("idempotency-key"), raw["id"]),
        trace_context=tracecontext.received(request.headers),
    )
    return await gateway.execute(principal, call)


def _message(call_id: str, outcome: Outcome) -> dict[str, Any]:
    if outcome.error is not None:
        body: Any = {"error": outcome.error.to_dict()}
    else:
        body = result_json(outcome)
    content = body if isinstance(body, str) else encode(body).decode()
    return {"role": "tool", "tool_call_id": call_id, "content": content}


async def run_tool_calls(request: Request) -> Response:
    rid = request_id(request)
    try:
        principal = await authenticate(request)
        body = parse_json(await read_body(request))
        calls = _tool_calls(body)
    except ToolwireError as exc:
        return error_response(exc, rid)
    runs = asyncio.gather(
        *(_run_one(request, principal, c, f"{rid}.{i}") for i, c in enumerate(calls))
    )
    try:
        outcomes = await unless_disconnected(request.scope, request.receive, runs)
    except ClientGone:
        return gone_response()
    return json_response(
        {
            "messages": [_message(c["id"], o) for c, o in zip(calls, outcomes, strict=True)],
            "results": [
                {
                    "tool_call_id": c["id"],
                    "ok": o.ok,
                    **({"error": o.error.to_dict()} if o.error is not None else {}),
                    "meta": o.meta.to_dict(),
                }
                for c, o in zip(calls, outcomes, strict=True)
            ],
        },
        headers={"x-request-id": rid},
    )


routes = [Route("/api/v1/openai/tool_calls", run_tool_calls, methods=["POST"])]
