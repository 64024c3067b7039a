"""A 2026-07-28 `tools/call` to a Streamable HTTP upstream goes beside the SDK's session
(`toolwire/upstream/mcp/direct.py`): the fixture server (the official SDK's, over Streamable
HTTP) sees the direct call's own request ids, and what the session path carried still crosses:
the result as sent (text, `structuredContent`, `isError`), the size cap, progress and log lines
to the calling MCP client, and an upstream's `input_required` rounds (tests/upstream/mcp/servers/
asking.py over Streamable HTTP) driven by the SDK to the client's elicitation and back."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx2
import mcp_types as types
import pytest
from mcp.client import Client
from mcp.client.streamable_http import streamable_http_client

from tests.upstream.mcp.support import execute, fixture_over, gateway
from toolwire.testing import RunningGateway
from toolwire.upstream.mcp.direct import FIRST_ID

pytestmark = pytest.mark.timeout(240)


ASKING = Path(__file__).parent / "servers" / "asking.py"


def asking_over_http() -> Any:
    """tests/upstream/mcp/servers/asking.py over Streamable HTTP; yields its /mcp URL."""
    return fixture_over("http", script=ASKING)


@pytest.fixture(scope="module")
def gw(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningGateway]:
    with fixture_over("http", {"FIXTURE_SSE": "1"}) as url, asking_over_http() as asking:
        mcp = {
            "fx": {
                "url": url,
                "allow_private_networks": True,
                "max_result_bytes": 65536,
                "max_notifications": 50,
            },
            "ask": {"url": asking, "allow_private_networks": True},
        }
        with gateway(tmp_path_factory.mktemp("direct"), mcp, ready=["fx", "ask"]) as running:
            yield running


def test_calls_go_beside_the_session_with_their_own_ids(gw: RunningGateway) -> None:
    _, key = gw.create_account(credits=5)
    with gw.client(key) as http:
        seen = [execute(http, "fx.request_id", {}) for _ in range(3)]
    ids = [int(answer["data"]["content"][0]["text"]) for answer in seen]
    assert all(i >= FIRST_ID for i in ids), ids  # the session's own ids count from 0
    assert len(set(ids)) == 3, ids


def test_the_result_crosses_as_sent(gw: RunningGateway) -> None:
    _, key = gw.create_account(credits=5)
    with gw.client(key) as http:
        echoed = execute(http, "fx.echo", {"text": "héllo"})
        big = execute(http, "fx.big", {"kib": 200})
        failed = execute(http, "fx.fail", {"message": "no luck"})
    assert echoed["ok"], echoed
    assert echoed["data"]["content"] == [{"type": "text", "text": "héllo"}]
    assert echoed["data"]["structuredContent"] == {"result": "héllo"}, echoed
    assert big["error"]["details"]["reason"] == "too_large", big
    assert big["error"]["details"]["limit_bytes"] == 65536, big
    # `isError`: the core's tool-error answer, with the upstream's content
    assert failed["error"]["details"]["reason"] == "tool_error", failed
    assert failed["error"]["details"]["content"][0]["text"] == "Error executing tool fail"


@pytest.mark.filterwarnings("ignore::mcp.shared.exceptions.MCPDeprecationWarning")  # logging
async def test_progress_and_log_lines_reach_the_calling_client(gw: RunningGateway) -> None:
    _, key = gw.create_account(credits=5)
    progress: list[tuple[float, float | None, str | None]] = []
    lines: list[Any] = []

    async def on_progress(value: float, total: float | None, message: str | None) -> None:
        progress.append((value, total, message))

    async def on_log(params: types.LoggingMessageNotificationParams) -> None:
        lines.append(params.data)

    http = httpx2.AsyncClient(headers={"Authorization": f"Bearer {key}"}, timeout=60)
    transport = streamable_http_client(f"{gw.url}/mcp", http_client=http)
    async with http, Client(transport, mode="legacy", logging_callback=on_log) as client:
        await client.set_logging_level("debug")
        result = await client.call_tool("fx.chatty", {"count": 3}, progress_callback=on_progress)
    assert not result.is_error and result.content[0].text == "done"  # type: ignore[union-attr]
    assert progress == [(1, 3, "step 1"), (2, 3, "step 2"), (3, 3, "step 3")]
    assert lines == ["line 1", "line 2", "line 3"]


async def test_input_required_rounds_reach_the_client_and_its_answer_goes_back(
    gw: RunningGateway,
) -> None:
    _, key = gw.create_account(credits=5)
    asked: list[str] = []

    async def elicit(_context: Any, params: types.ElicitRequestParams) -> types.ElicitResult:
        asked.append(params.message)
        return types.ElicitResult(action="accept", content={"answer": "over HTTP"})

    http = httpx2.AsyncClient(headers={"Authorization": f"Bearer {key}"}, timeout=60)
    transport = streamable_http_client(f"{gw.url}/mcp", http_client=http)
    async with http, Client(transport, cache=None, elicitation_callback=elicit) as client:
        result = await client.call_tool("ask.resolved_confirm", {})
    assert result.content[0].text == "resolved: over HTTP", result  # type: ignore[union-attr]
    assert len(asked) == 1, asked
