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

import threading
from typing import Any

import orjson

from toolwire.core.errors import InvalidArguments, ToolwireError, UpstreamError

MAX_DEPTH = 64
"""Most levels of nested objects and arrays in arguments or a result; `{}` and `[]` are 1."""

ORJSON_MAX_DEPTH = 254
"""orjson writes 254 levels and refuses 255 ("Recursion limit reached")."""

_OPTIONS = orjson.OPT_NON_STR_KEYS


def encode(value: Any) -> bytes:
    """`value` as compact JSON, the way every door writes tool data (non-string keys allowed).

    Raises `orjson.JSONEncodeError` (a `TypeError`) for what JSON cannot carry."""
    return orjson.dumps(value, option=_OPTIONS)


class _Probe(threading.local):
    """`ORJSON_MAX_DEPTH - MAX_DEPTH` arrays one inside the other, built once per thread. A value
    put in the innermost one encodes iff it is encodable and at most `MAX_DEPTH` deep: orjson
    itself, in C, is the depth check (a Python walk cost ~10x more on ordinary results)."""

    def __init__(self) -> None:
        self.inner: list[Any] = [None]
        outer: list[Any] = self.inner
        for _ in range(ORJSON_MAX_DEPTH - MAX_DEPTH - 1):
            outer = [outer]
        self.outer = outer


_PROBE = _Probe()


def problem(value: Any) -> str | None:
    """Why no door could write `value`: `"too_deep"`, `"not_encodable"`, or None when it can.

    Most values have fewer than `MAX_DEPTH` brackets in all, so cannot be too deep: one plain
    encode and a count decide. Only the others go through the probe."""
    try:
        text = encode(value)
    except orjson.JSONEncodeError as exc:
        if "Recursion limit" not in str(exc):
            return "not_encodable"
        return "too_deep"
    if text.count(b"[") + text.count(b"{") <= MAX_DEPTH:
        return None
    probe = _PROBE
    probe.inner[0] = value
    try:
        orjson.dumps(probe.outer, option=_OPTIONS)
    except orjson.JSONEncodeError as exc:
        return "too_deep" if "Recursion limit" in str(exc) else "not_encodable"
    finally:
        probe.inner[0] = None
    return None


def check_arguments(arguments: dict[str, Any]) -> None:
    """Refuse arguments no door could render back, before any step that spends anything.

    Raises `InvalidArguments` with `details.reason` `too_deep` (and `max_depth`) or
    `not_encodable`."""
    found = problem(arguments)
    if found == "too_deep":
        raise InvalidArguments(
            f"arguments are nested more than {MAX_DEPTH} levels deep",
            details={"reason": "too_deep", "max_depth": MAX_DEPTH},
        )
    if found is not None:
        raise InvalidArguments(
            "arguments hold a value JSON cannot carry (e.g. an integer beyond 64 bits)",
            details={"reason": "not_encodable"},
        )


def check_result(qualified: str, data: Any) -> None:
    """Refuse a result no door could render; raises `UpstreamError` with `details.reason`
    `result_too_deep` (and `max_depth`) or `result_not_encodable`."""
    found = problem(data)
    if found == "too_deep":
        raise UpstreamError(
            f"{qualified} returned a result nested more than {MAX_DEPTH} levels deep",
            details={"reason": "result_too_deep", "max_depth": MAX_DEPTH},
        )
    if found is not None:
        raise UpstreamError(
            f"{qualified} returned a result that cannot be encoded as JSON",
            details={"reason": "result_not_encodable"},
        )


def renderable(error: ToolwireError) -> ToolwireError:
    """`error` itself when doors can encode it; else the same class with its default message."""
    if problem(error.to_dict()) is None:
        return error
    return type(error)(details={"reason": "details_not_encodable"})
