"""OpenTelemetry tracing of tool calls: the optional extra ``pip install 'toolwire[otel]'``.

What it is: `OtelTracer`, the gateway's `CallTracer` port over the OpenTelemetry API. Every call
gets one span, started when the call reaches `Gateway.execute` and ended with its audit event,
named ``execute_tool {gen_ai.tool.name}`` with the GenAI semantic-convention attributes
(https://opentelemetry.io/docs/specs/semconv/gen-ai/gen-ai-agent-spans/, "Execute tool span"):

    gen_ai.operation.name   "execute_tool"
    gen_ai.tool.name        the tool's qualified name (``tool`` or ``tool.operation``)
    gen_ai.tool.call.id     the gateway's request id
    gen_ai.tool.type        "function"
    error.type              the toolwire error code, on failure (span status ERROR)
    toolwire.door, toolwire.outcome, toolwire.upstream, toolwire.credits_charged (credits),
    toolwire.credential_source

The W3C trace context a caller sends (``traceparent`` / ``tracestate``: the HTTP headers at
REST, the OpenAI door, A2A and MCP over HTTP; ``params._meta`` at MCP per SEP-414, ahead of the
headers), kept by `toolwire.inbound.tracecontext` as `ToolCall.trace_context`, is the span's
parent: the call's span joins the caller's trace. A malformed one is ignored (a new trace).

The span's W3C trace context (`traceparent`, `tracestate`, https://www.w3.org/TR/trace-context/)
is handed to the adapter as `InvokeContext.trace_headers`; the HTTP adapter sends it upstream,
and the MCP client adapter makes it the parent of the MCP SDK's client span, which reaches the
federated server in `params._meta` (SEP-414) and, over HTTP, in headers. Exporters are the
SDK's business: configure a `TracerProvider` (OTLP, console) as usual, or pass one to
`OtelTracer`.

What it is not: a dependency. Without the extra, `toolwire.tracing.available()` is False and
`TOOLWIRE_TRACING=true` fails at start with the install command.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from toolwire.core.model import MICRO, AuditEvent, ToolCall

INSTALL_HINT = "tracing needs the OpenTelemetry extra: pip install 'toolwire[otel]'"


def available() -> bool:
    """True when the OpenTelemetry API and SDK are importable."""
    try:
        import opentelemetry.sdk.trace
        import opentelemetry.trace  # noqa: F401
    except ImportError:
        return False
    return True


class OtelTracer:
    """A span per tool call (see the module docstring); `provider`: a `TracerProvider`, else
    the global one."""

    def __init__(self, provider: Any = None) -> None:
        if not available():
            raise RuntimeError(INSTALL_HINT)
        from opentelemetry import trace
        from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

        from toolwire import __version__

        self._trace = trace
        self._tracer = trace.get_tracer("toolwire", __version__, tracer_provider=provider)
        self._propagator = TraceContextTextMapPropagator()

    def start(self, call: ToolCall) -> OtelSpan:
        # The caller's traceparent (ToolCall.trace_context) is the parent; without one (or
        # with a malformed one, which the W3C propagator ignores) the span is a new root.
        parent = self._propagator.extract(call.trace_context) if call.trace_context else None
        span = self._tracer.start_span(
            f"execute_tool {call.tool}",
            context=parent,
            kind=self._trace.SpanKind.INTERNAL,
            attributes={
                "gen_ai.operation.name": "execute_tool",
                "gen_ai.tool.name": call.tool,
                "gen_ai.tool.call.id": call.request_id,
                "gen_ai.tool.type": "function",
                "toolwire.door": call.door,
            },
        )
        headers: dict[str, str] = {}
        self._propagator.inject(headers, context=self._trace.set_span_in_context(span))
        return OtelSpan(span, headers, self._trace)


class OtelSpan:
    """One call's span; `headers` carry its trace context upstream."""

    def __init__(self, span: Any, headers: Mapping[str, str], trace: Any) -> None:
        self._span = span
        self._headers = headers
        self._trace = trace

    @property
    def headers(self) -> Mapping[str, str]:
        return self._headers

    def finish(self, event: AuditEvent) -> None:
        span = self._span
        tool = event.tool or ""
        if event.operation and event.operation != event.tool:
            tool = f"{tool}.{event.operation}"
        span.update_name(f"execute_tool {tool}")  # the resolved name (as asked when unknown)
        span.set_attribute("gen_ai.tool.name", tool)
        span.set_attribute("toolwire.outcome", event.outcome)
        span.set_attribute("toolwire.credits_charged", event.credits_charged / MICRO)
        span.set_attribute("toolwire.credential_source", event.credential_source or "none")
        if event.upstream:
            span.set_attribute("toolwire.upstream", event.upstream)
        if event.outcome not in ("OK", "REPLAYED"):
            span.set_attribute("error.type", event.outcome)
            span.set_status(self._trace.Status(self._trace.StatusCode.ERROR, event.outcome))
        span.end()
