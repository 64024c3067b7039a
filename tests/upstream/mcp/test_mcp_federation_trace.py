"""W3C trace context reaches federated MCP upstreams: with tracing on, the call's `traceparent`
is in the `tools/call` request's `params._meta` (SEP-414) on every transport, and in its HTTP
headers on Streamable HTTP and legacy SSE; with tracing off, neither. The upstream is the fixture
server's `trace` tool, which answers with what its request carried."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.upstream.mcp.support import FIXTURE, _wait_port, execute, fixture_server, gateway
from toolwire.testing import free_port

pytestmark = pytest.mark.timeout(240)

TRACEPARENT = re.compile(r"^00-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}$")
TRACING = {
    "TOOLWIRE_TRACING": "true",
    # the OpenTelemetry SDK's provider, configured by environment as a deployment would
    "OTEL_PYTHON_TRACER_PROVIDER": "sdk_tracer_provider",
    "OTEL_TRACES_EXPORTER": "none",
}


@pytest.fixture(scope="module")
def http_ports() -> Iterator[dict[str, int]]:
    ports = {"streamable_http": free_port(), "sse": free_port()}
    processes = [
        subprocess.Popen(
            [sys.executable, str(FIXTURE), kind, str(port)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        for kind, port in (("http", ports["streamable_http"]), ("sse", ports["sse"]))
    ]
    try:
        for process, port in zip(processes, ports.values(), strict=True):
            _wait_port(port, process)
        yield ports
    finally:
        for process in processes:
            process.terminate()
            process.wait(timeout=10)


def servers(ports: dict[str, int]) -> dict[str, Any]:
    common = {"include": ["trace"], "allow_private_networks": True}
    return {
        "local": {**fixture_server(), "include": ["trace"]},
        "remote": {"url": f"http://127.0.0.1:{ports['streamable_http']}/mcp", **common},
        "legacy": {
            "url": f"http://127.0.0.1:{ports['sse']}/sse",
            "transport": "sse",
            **common,
        },
    }


def carried(http: Any, tool: str) -> dict[str, Any]:
    answer = execute(http, tool, {})
    assert answer["ok"], answer
    seen: dict[str, Any] = json.loads(answer["data"]["content"][0]["text"])
    return seen


def test_with_tracing_on_each_call_carries_its_own_traceparent_upstream(
    tmp_path: Path, http_ports: dict[str, int]
) -> None:
    with gateway(tmp_path / "gw", servers(http_ports), env=TRACING) as gw:
        _, key = gw.create_account(credits=1)
        with gw.client(key) as http:
            local = carried(http, "local.trace")
            remote = [carried(http, "remote.trace") for _ in range(2)]
            legacy = carried(http, "legacy.trace")
    assert local["header"] == {}  # stdio has no headers: _meta is its only carrier
    assert TRACEPARENT.match(local["meta"]["traceparent"]), local
    for seen in (*remote, legacy):
        assert TRACEPARENT.match(seen["meta"]["traceparent"]), seen
        assert seen["header"] == seen["meta"], seen  # the same context in both carriers
    # each call is its own span: different parents (the trace ids differ too: no inbound parent)
    parents = {s["meta"]["traceparent"] for s in (local, *remote, legacy)}
    assert len(parents) == 4


def test_with_tracing_off_no_trace_context_is_sent(
    tmp_path: Path, http_ports: dict[str, int]
) -> None:
    with gateway(tmp_path / "gw", servers(http_ports)) as gw:
        _, key = gw.create_account(credits=1)
        with gw.client(key) as http:
            seen = [carried(http, f"{name}.trace") for name in ("local", "remote", "legacy")]
    assert seen == [{"header": {}, "meta": {}}] * 3
