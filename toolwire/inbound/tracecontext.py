"""The W3C trace context a caller sends with a call, as every door reads it.

What it is: `received(source)` keeps, from HTTP headers or an MCP `params._meta` object, only the
two W3C Trace Context fields (https://www.w3.org/TR/trace-context/): ``traceparent`` and
``tracestate`` (an allow-list: ``baggage`` and anything else is dropped), each a string of
bounded length. The values are not parsed here: the tracer's W3C propagator does, and ignores a
malformed ``traceparent`` (the call's span then starts a new trace, as the spec asks of a
receiver), so a bad header never refuses a call.

Where each door reads it: REST, the OpenAI door and A2A from the HTTP request's headers; MCP from
``params._meta.traceparent`` / ``tracestate`` (SEP-414, which reserves these keys), and over the
Streamable HTTP transport the HTTP headers stand in when ``_meta`` has none (`into_meta`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

FIELDS = ("traceparent", "tracestate")
MAX_TRACEPARENT = 256
"""Version 00 is 55 characters; later versions may append fields, so allow some room."""
MAX_TRACESTATE = 512
"""The spec's 32 list members of ``key=value``: receivers may drop a longer one (§3.3.1.5)."""
_LIMITS = {"traceparent": MAX_TRACEPARENT, "tracestate": MAX_TRACESTATE}


def received(source: Mapping[str, Any] | None) -> dict[str, str]:
    """``{"traceparent": ..., "tracestate": ...}`` from headers or ``_meta``: only these two
    keys, only string values within their limits, ``tracestate`` only beside a
    ``traceparent``. Empty when there is none."""
    if not source:
        return {}
    kept: dict[str, str] = {}
    for name in FIELDS:
        value = source.get(name)
        if isinstance(value, str) and 0 < len(value) <= _LIMITS[name]:
            kept[name] = value.strip()
    if "traceparent" not in kept:
        return {}
    return kept


def into_meta(message: Any, headers: Mapping[str, str]) -> None:
    """Copy the HTTP request's trace context into a ``tools/call`` request's ``params._meta``
    (in place) when the message carries none of its own: `_meta` wins, as SEP-414 places the
    context in the message. Anything that is not a request object with object params is left
    as it is (the JSON-RPC parser refuses what is malformed)."""
    context = received(headers)
    if not context or not isinstance(message, dict) or message.get("method") != "tools/call":
        return
    params = message.get("params")
    if not isinstance(params, dict):
        return
    meta = params.get("_meta")
    if meta is None:
        params["_meta"] = dict(context)
    elif isinstance(meta, dict) and "traceparent" not in meta:
        meta.update(context)
