"""OpenTelemetry: one span per tool call with GenAI attribute names, ended with the call's audit
event, and its W3C traceparent received by a real local HTTP upstream (the SDK's in-memory span
exporter, the gateway in process over a real store and catalog). Then a real `toolwire serve`
process with the SDK's provider configured by a `sitecustomize.py` (tests/support/span_file.py):
the caller's `traceparent` is the parent of the call's span at the REST, OpenAI, MCP (HTTP header,
and `_meta.traceparent` ahead of it, SEP-414) and A2A doors; a malformed one starts a new trace."""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import httpx2
import pytest
from a2a.client import ClientConfig, ClientFactory
from a2a.client.card_resolver import parse_agent_card
from a2a.types.a2a_pb2 import SendMessageRequest
from mcp import Client
from mcp.client.streamable_http import streamable_http_client
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import StatusCode
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from tests.inbound.door_matrix.a2a_door import call_message
from tests.support import span_file
from tests.upstream.servers import Served, serving
from toolwire.config import build_catalog, parse_config
from toolwire.core.gateway import Gateway
from toolwire.core.model import MICRO, Principal, ToolCall
from toolwire.core.scopes import ScopeSet
from toolwire.store import Store
from toolwire.testing import running_gateway
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


# -- the caller's traceparent is the parent, at every door of a real `toolwire serve` process --

PARENT_SPAN = "00f067aa0ba902b7"


def _traceparent(trace_id: str, span_id: str = PARENT_SPAN) -> str:
    return f"00-{trace_id}-{span_id}-01"


@pytest.fixture(scope="module")
def traced_gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Any, str, Path]]:
    root = tmp_path_factory.mktemp("traced-gateway")
    spans = root / "spans.jsonl"
    env = span_file.install(root / "site", spans)
    config = {"builtins": {"include": ["echo"]}}
    with running_gateway(root / "data", config=config, env=env) as gw:
        _, key = gw.create_account(credits=100)
        yield gw, key, spans


def _span_of(spans: Path, trace_id: str) -> dict[str, Any]:
    """The one `execute_tool` span of trace `trace_id` (the exporter writes as spans end, and
    a span ends with its audit event, before the door answers)."""
    found = [
        s
        for s in span_file.read(spans)
        if s["context"]["trace_id"] == f"0x{trace_id}" and s["name"].startswith("execute_tool")
    ]
    assert len(found) == 1, f"{len(found)} spans of trace {trace_id}"
    return found[0]


def _assert_child(span: dict[str, Any], door: str, parent: str = PARENT_SPAN) -> None:
    assert span["parent_id"] == f"0x{parent}"
    assert span["name"] == "execute_tool echo"
    attrs = span["attributes"]
    assert attrs["gen_ai.operation.name"] == "execute_tool"
    assert attrs["gen_ai.tool.name"] == "echo"
    assert attrs["gen_ai.tool.type"] == "function"
    assert attrs["gen_ai.tool.call.id"]
    assert attrs["toolwire.door"] == door and attrs["toolwire.outcome"] == "OK"


def test_rest_and_openai_doors_take_the_callers_traceparent_as_the_parent(
    traced_gateway: tuple[Any, str, Path],
) -> None:
    gw, key, spans = traced_gateway
    rest_trace, openai_trace = secrets.token_hex(16), secrets.token_hex(16)
    with gw.client(key) as http:
        reply = http.post(
            "/api/v1/execute",
            json={"tool": "echo", "input": {"message": "hi"}},
            headers={"traceparent": _traceparent(rest_trace), "tracestate": "vendor=1"},
        )
        assert reply.status_code == 200, reply.text
        call = {"id": "c1", "type": "function"}
        call["function"] = {"name": "echo", "arguments": '{"message": "hi"}'}  # type: ignore[assignment]
        reply = http.post(
            "/api/v1/openai/tool_calls",
            json={"tool_calls": [call]},
            headers={"traceparent": _traceparent(openai_trace)},
        )
        assert reply.status_code == 200, reply.text
    _assert_child(_span_of(spans, rest_trace), "rest")
    _assert_child(_span_of(spans, openai_trace), "openai")


def test_a_malformed_or_absent_traceparent_starts_a_new_trace_and_the_call_runs(
    traced_gateway: tuple[Any, str, Path],
) -> None:
    gw, key, spans = traced_gateway
    before = len(span_file.read(spans))
    bad = ["00-" + "0" * 32 + "-" + PARENT_SPAN + "-01", "not-a-traceparent", "x" * 5000]
    with gw.client(key) as http:
        for value in [*bad, None]:
            headers = {} if value is None else {"traceparent": value}
            reply = http.post(
                "/api/v1/execute",
                json={"tool": "echo", "input": {"message": "hi"}},
                headers=headers,
            )
            assert reply.status_code == 200, reply.text
    new = span_file.read(spans)[before:]
    assert len(new) == 4
    for span in new:
        assert span["parent_id"] is None
        assert span["context"]["trace_id"] != "0x" + "0" * 32


async def test_mcp_takes_meta_traceparent_first_then_the_http_header(
    traced_gateway: tuple[Any, str, Path],
) -> None:
    gw, key, spans = traced_gateway
    header_trace, meta_trace = secrets.token_hex(16), secrets.token_hex(16)
    headers = {"Authorization": f"Bearer {key}", "traceparent": _traceparent(header_trace)}
    http = httpx2.AsyncClient(headers=headers, timeout=30)
    transport = streamable_http_client(gw.url + "/mcp", http_client=http)
    async with http, Client(transport, mode="legacy", cache=None) as client:
        plain = await client.call_tool("echo", {"message": "hi"})
        assert not plain.is_error
        meta = {"traceparent": _traceparent(meta_trace, "b7ad6b7169203331")}
        with_meta = await client.call_tool("echo", {"message": "hi"}, meta=meta)
        assert not with_meta.is_error
    _assert_child(_span_of(spans, header_trace), "mcp")
    _assert_child(_span_of(spans, meta_trace), "mcp", parent="b7ad6b7169203331")


async def test_a2a_takes_the_callers_traceparent_as_the_parent(
    traced_gateway: tuple[Any, str, Path],
) -> None:
    gw, key, spans = traced_gateway
    trace_id = secrets.token_hex(16)
    headers = {
        "Authorization": f"Bearer {key}",
        "A2A-Version": "1.0",
        "traceparent": _traceparent(trace_id),
    }
    async with httpx.AsyncClient(headers=headers, timeout=30) as http:
        card = (await http.get(gw.url + "/.well-known/agent-card.json")).json()
        factory = ClientFactory(ClientConfig(httpx_client=http, streaming=False))
        async with factory.create(parse_agent_card(card)) as client:
            request = SendMessageRequest(message=call_message("echo", {"message": "hi"}, None))
            events = [event async for event in client.send_message(request)]
    assert events
    _assert_child(_span_of(spans, trace_id), "a2a")
