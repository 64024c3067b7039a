"""OpenTelemetry: one span per tool call with GenAI attribute names, ended with the call's audit
event, and its W3C traceparent received by a real local HTTP upstream. The SDK's in-memory span
exporter collects the spans; the gateway runs in process over a real store and catalog."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import StatusCode
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from tests.upstream.servers import Served, serving
from toolwire.config import build_catalog, parse_config
from toolwire.core.gateway import Gateway
from toolwire.core.model import MICRO, Principal, ToolCall
from toolwire.core.scopes import ScopeSet
from toolwire.store import Store
from toolwire.tracing import OtelTracer
from toolwire.upstream.lifecycle import close_adapters


@pytest.fixture(scope="module")
def upstream() -> Iterator[Served]:
    async def item(request: Request) -> JSONResponse:
        served.hits.append({"traceparent": request.headers.get("traceparent")})
        status = int(request.query_params.get("status", "200"))
        return JSONResponse({"id": request.path_params["item"]}, status)

    app = Starlette(routes=[Route("/items/{item}", item)])
    with serving(app) as served:
        yield served


@pytest.fixture
async def traced(
    upstream: Served, tmp_path: Path
) -> AsyncIterator[tuple[Gateway, InMemorySpanExporter, Principal]]:
    store = await Store.open(f"sqlite+aiosqlite:///{tmp_path / 'tw.db'}")
    schema = {"type": "object", "properties": {"item": {}, "status": {}}, "required": ["item"]}
    config: dict[str, Any] = {
        "builtins": {"include": ["echo"]},
        "upstreams": {"shop": {"base_url": upstream.url, "allow_private_networks": True}},
        "tools": {
            "items": {
                "description": "items",
                "operations": {
                    "get": {
                        "upstream": "shop",
                        "description": "one item",
                        "input_schema": schema,
                        "path": "/items/{item}",
                        "query": "{status: status}",
                    }
                },
            }
        },
    }
    catalog = build_catalog(parse_config(config, "test.yaml"))
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    gateway = Gateway(catalog, store.ledger, store.audit, tracer=OtelTracer(provider))
    account = await store.accounts.create_account("t", 10 * MICRO)
    key, _ = await store.accounts.create_key(account.id, "k", ["*"])
    principal = Principal(key_id=key.id, account_id=account.id, scopes=ScopeSet(["*"]))
    try:
        yield gateway, exporter, principal
    finally:
        await close_adapters(catalog)
        await store.close()


async def test_a_call_is_one_execute_tool_span_whose_traceparent_reaches_the_upstream(
    traced: tuple[Gateway, InMemorySpanExporter, Principal], upstream: Served
) -> None:
    gateway, exporter, principal = traced
    upstream.hits.clear()
    call = ToolCall(tool="items.get", arguments={"item": "a1"}, request_id="req-trace-1")
    outcome = await gateway.execute(principal, call)
    assert outcome.ok, outcome.error
    (span,) = exporter.get_finished_spans()
    assert span.name == "execute_tool items.get"
    attrs = dict(span.attributes or {})
    assert attrs["gen_ai.operation.name"] == "execute_tool"
    assert attrs["gen_ai.tool.name"] == "items.get"
    assert attrs["gen_ai.tool.call.id"] == "req-trace-1"
    assert attrs["toolwire.outcome"] == "OK" and attrs["toolwire.upstream"] == "shop"
    assert span.status.status_code is not StatusCode.ERROR
    ctx = span.get_span_context()
    (hit,) = upstream.hits
    flags = int(ctx.trace_flags)
    assert flags & 1  # sampled
    assert hit["traceparent"] == f"00-{ctx.trace_id:032x}-{ctx.span_id:016x}-{flags:02x}"


async def test_a_failed_call_ends_its_span_in_error_with_the_code(
    traced: tuple[Gateway, InMemorySpanExporter, Principal], upstream: Served
) -> None:
    gateway, exporter, principal = traced
    failing = ToolCall(tool="items.get", arguments={"item": "x", "status": 500}, request_id="r2")
    assert (await gateway.execute(principal, failing)).error is not None
    missing = ToolCall(tool="nope", arguments={}, request_id="r3")
    assert (await gateway.execute(principal, missing)).error is not None
    builtin = ToolCall(tool="echo", arguments={"message": "hi"}, request_id="r4")
    assert (await gateway.execute(principal, builtin)).ok
    spans = {s.attributes["gen_ai.tool.call.id"]: s for s in exporter.get_finished_spans()}
    assert spans["r2"].status.status_code is StatusCode.ERROR
    assert spans["r2"].attributes["error.type"] == "UPSTREAM_ERROR"
    assert spans["r3"].attributes["error.type"] == "TOOL_NOT_FOUND"
    assert "toolwire.upstream" not in spans["r4"].attributes
    assert spans["r4"].attributes["gen_ai.tool.name"] == "echo"
