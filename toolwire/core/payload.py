"""What may cross the core: arguments in and results out, as JSON every door can render.

Every door writes JSON with orjson, which refuses values nested deeper than 254 levels, integers
outside 64 bits, strings with lone surrogates and non-JSON types. A door that meets one of those
after the tool has run would fail with the call already charged. So the core decides once:

- `check_arguments` (step 3, before anything runs): arguments deeper than `MAX_DEPTH` levels or
  not encodable are `InvalidArguments` (`details.reason`: `too_deep` / `not_encodable`).
- `renderable`: an error whose message or details cannot be encoded (an adapter's bytes in
  `details`, say) becomes the same class of error with its default message and no details.
- `check_result` (step 6, right after the adapter returns): a result deeper than `MAX_DEPTH` or not
  encodable is an `UpstreamError` (`details.reason`: `result_too_deep` /
  `result_not_encodable`), settled like any other tool failure.

`MAX_DEPTH` (64) leaves room for every door's envelope (REST, MCP JSON-RPC + SSE, the OpenAI
door, a stored idempotent outcome) below orjson's limit. `encode` is the encoder doors use for
tool data, so the check and the rendering agree.

What this is not: schema validation (the operation's compiled validator does that).
"""

from __future__ import annotations

from typing import Any

import orjson

from toolwire.core.errors import InvalidArguments, ToolwireError, UpstreamError

MAX_DEPTH = 64
"""Most levels of nested objects and arrays in arguments or a result; `{}` and `[]` are 1."""

_OPTIONS = orjson.OPT_NON_STR_KEYS


def encode(value: Any) -> bytes:
    """`value` as compact JSON, the way every door writes tool data (non-string keys allowed).

    Raises `orjson.JSONEncodeError` (a `TypeError`) for what JSON cannot carry."""
    return orjson.dumps(value, option=_OPTIONS)


def depth(value: Any, limit: int = MAX_DEPTH) -> int:
    """Nesting depth of `value` (a scalar is 0), walked without recursion; stops counting at
    `limit + 1`, so a hostile value costs no more than it takes to see it is too deep."""
    deepest = 0
    stack: list[tuple[Any, int]] = [(value, 0)]
    while stack:
        node, level = stack.pop()
        if isinstance(node, dict):
            children: Any = node.values()
        elif isinstance(node, list | tuple):
            children = node
        else:
            continue
        level += 1
        if level > deepest:
            deepest = level
            if deepest > limit:
                return deepest
        stack.extend((child, level) for child in children)
    return deepest


def check_arguments(arguments: dict[str, Any]) -> None:
    """Refuse arguments no door could render back, before any step that spends anything.

    Raises `InvalidArguments` with `details.reason` `too_deep` (and `max_depth`) or
    `not_encodable`."""
    if depth(arguments) > MAX_DEPTH:
        raise InvalidArguments(
            f"arguments are nested more than {MAX_DEPTH} levels deep",
            details={"reason": "too_deep", "max_depth": MAX_DEPTH},
        )
    try:
        encode(arguments)
    except orjson.JSONEncodeError:
        raise InvalidArguments(
            "arguments hold a value JSON cannot carry (e.g. an integer beyond 64 bits)",
            details={"reason": "not_encodable"},
        ) from None


def check_result(qualified: str, data: Any) -> None:
    """Refuse a result no door could render; raises `UpstreamError` with `details.reason`
    `result_too_deep` (and `max_depth`) or `result_not_encodable`."""
    if depth(data) > MAX_DEPTH:
        raise UpstreamError(
            f"{qualified} returned a result nested more than {MAX_DEPTH} levels deep",
            details={"reason": "result_too_deep", "max_depth": MAX_DEPTH},
        )
    try:
        encode(data)
    except orjson.JSONEncodeError:
        raise UpstreamError(
            f"{qualified} returned a result that cannot be encoded as JSON",
            details={"reason": "result_not_encodable"},
        ) from None


def renderable(error: ToolwireError) -> ToolwireError:
    """`error` itself when doors can encode it; else the same class with its default message."""
    try:
        encode(error.to_dict())
    except orjson.JSONEncodeError:
        return type(error)(details={"reason": "details_not_encodable"})
    return error
