"""Issue 9 item 6: through the stdio bridge every request gets exactly one reply carrying its id,
whatever happens on the way, and a cancelled one gets none.

The bridge (`toolwire.inbound.mcp.bridge.Bridge`) runs in process, reading lines from a
StreamReader; the "gateway" is a misbehaving stand-in served by uvicorn on 127.0.0.1, chosen
per call by the tool name. The real gateway's side is in tests/e2e/test_mcp_transport_edges.py.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from typing import Any

import httpx
import orjson
import pytest
from starlette.types import Receive, Scope, Send

from tests.upstream.servers import Served, serving
from toolwire.inbound.mcp import bridge, envelope
from toolwire.testing import free_port

MODERN = "2026-07-28"
META = {
    "io.modelcontextprotocol/protocolVersion": MODERN,
    "io.modelcontextprotocol/clientCapabilities": {},
}


class StandIn:
    """A gateway that answers `tools/call` as the tool name says (see `behaviours`)."""

    def __init__(self) -> None:
        self.holding = threading.Event()
        self.released = threading.Event()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        request = orjson.loads(body)
        headers = {k.decode(): v.decode() for k, v in scope["headers"]}
        if isinstance(request, list):  # a batch: only its first entry is answered
            await _start(send, 200, b"application/json")
            first = {"jsonrpc": "2.0", "id": request[0]["id"], "result": {}}
            await _body(send, orjson.dumps([first]))
            return
        if "id" not in request:
            await accepted(self, send, receive, None, headers)
            return
        name = request.get("params", {}).get("name", "")
        rid = request.get("id")
        behaviour = name if name in BEHAVIOURS else "echo-headers"
        await BEHAVIOURS[behaviour](self, send, receive, rid, headers)


async def _start(send: Send, status: int, kind: bytes) -> None:
    await send(
        {"type": "http.response.start", "status": status, "headers": [(b"content-type", kind)]}
    )


async def _body(send: Send, data: bytes, more: bool = False) -> None:
    await send({"type": "http.response.body", "body": data, "more_body": more})


async def echo_headers(gw: StandIn, send: Send, receive: Receive, rid: Any, headers: Any) -> None:
    await _start(send, 200, b"application/json")
    await _body(send, orjson.dumps({"jsonrpc": "2.0", "id": rid, "result": {"headers": headers}}))


async def plain_500(gw: StandIn, send: Send, receive: Receive, rid: Any, headers: Any) -> None:
    await _start(send, 500, b"text/plain")
    await _body(send, b"Internal Server Error")


async def not_jsonrpc(gw: StandIn, send: Send, receive: Receive, rid: Any, headers: Any) -> None:
    await _start(send, 200, b"application/json")
    await _body(send, b'{"hello": "world"}')


async def not_json(gw: StandIn, send: Send, receive: Receive, rid: Any, headers: Any) -> None:
    await _start(send, 200, b"application/json")
    await _body(send, b"<html>")


async def error_without_id(
    gw: StandIn, send: Send, receive: Receive, rid: Any, headers: Any
) -> None:
    await _start(send, 400, b"application/json")
    error = {"code": -32020, "message": "header mismatch"}
    await _body(send, orjson.dumps({"jsonrpc": "2.0", "error": error}))


async def accepted(gw: StandIn, send: Send, receive: Receive, rid: Any, headers: Any) -> None:
    await _start(send, 202, b"application/json")
    await _body(send, b"")


async def sse_without_answer(
    gw: StandIn, send: Send, receive: Receive, rid: Any, headers: Any
) -> None:
    await _start(send, 200, b"text/event-stream")
    progress = {"jsonrpc": "2.0", "method": "notifications/progress", "params": {"progress": 1}}
    await _body(send, b"event: message\ndata: " + orjson.dumps(progress) + b"\n\n", more=True)
    await _body(send, b"data: {broken\n\n", more=True)
    await _body(send, b"")


async def sse_multiline(gw: StandIn, send: Send, receive: Receive, rid: Any, headers: Any) -> None:
    await _start(send, 200, b"text/event-stream")
    await _body(send, b'data: {"jsonrpc": "2.0",\ndata: "id": ' + orjson.dumps(rid), more=True)
    await _body(send, b', "result": {"ok": true}}\n\n')


async def hold(gw: StandIn, send: Send, receive: Receive, rid: Any, headers: Any) -> None:
    """Never answers; notes when the bridge closes the request (how it cancels)."""
    gw.holding.set()
    while (await receive())["type"] != "http.disconnect":
        pass
    gw.released.set()


async def drop(gw: StandIn, send: Send, receive: Receive, rid: Any, headers: Any) -> None:
    await _start(send, 200, b"text/event-stream")
    await _body(send, b": hello\n\n", more=True)
    raise RuntimeError("the connection drops mid-answer")


BEHAVIOURS = {
    "echo-headers": echo_headers,
    "plain-500": plain_500,
    "not-jsonrpc": not_jsonrpc,
    "not-json": not_json,
    "error-without-id": error_without_id,
    "accepted": accepted,
    "sse-without-answer": sse_without_answer,
    "sse-multiline": sse_multiline,
    "hold": hold,
    "drop": drop,
}


@pytest.fixture(scope="module")
def stand_in() -> Iterator[tuple[Served, StandIn]]:
    app = StandIn()
    with serving(app) as served:
        yield served, app


def call(rid: Any, name: str, modern: bool = True) -> dict[str, Any]:
    params: dict[str, Any] = {"name": name, "arguments": {}}
    if modern:
        params["_meta"] = META
    return {"jsonrpc": "2.0", "id": rid, "method": "tools/call", "params": params}


async def run_bridge(
    url: str, messages: list[Any], *, client_timeout: httpx.Timeout | None = None, after: Any = None
) -> list[Any]:
    """Feed `messages` as lines to a Bridge; `after(feed)` may feed more once they are sent."""
    written: list[Any] = []

    async def write(message: Any) -> None:
        written.append(message)

    reader = asyncio.StreamReader()
    for message in messages:
        reader.feed_data(message if isinstance(message, bytes) else orjson.dumps(message) + b"\n")
    async with httpx.AsyncClient(timeout=client_timeout or httpx.Timeout(10.0)) as client:
        serving = asyncio.create_task(bridge.Bridge(url, "tw_key", write, client).serve(reader))
        if after is not None:
            await after(lambda m: reader.feed_data(orjson.dumps(m) + b"\n"))
        reader.feed_eof()
        await asyncio.wait_for(serving, 10)
    return written


def replies_by_id(written: list[Any]) -> dict[Any, list[Any]]:
    found: dict[Any, list[Any]] = {}
    for message in written:
        for entry in message if isinstance(message, list) else [message]:
            if "result" in entry or "error" in entry:
                found.setdefault(entry.get("id"), []).append(entry)
    return found


@pytest.mark.parametrize(
    "name", ["é", " echo", "echo ", "名前", "tab\there", "=?base64?x?=", "line\nbreak", "echo"]
)
async def test_every_tool_name_reaches_the_gateway_encoded_and_decodes_back(
    stand_in: tuple[Served, StandIn], name: str
) -> None:
    served, _ = stand_in
    written = await run_bridge(served.url + "/mcp", [call(1, name)])
    [reply] = replies_by_id(written)[1]
    headers = reply["result"]["headers"]
    assert envelope.decode_header_value(headers["mcp-name"]) == name
    assert headers["mcp-name"].isascii()
    assert (headers["mcp-method"], headers["mcp-protocol-version"]) == ("tools/call", MODERN)


@pytest.mark.parametrize(
    ("name", "code", "says"),
    [
        ("plain-500", -32603, "HTTP 500"),
        ("not-jsonrpc", -32603, "without a response"),
        ("not-json", -32603, "without a response"),
        ("error-without-id", -32020, "header mismatch"),
        ("accepted", -32603, "without a response"),
        ("sse-without-answer", -32603, "without a response"),
        ("drop", -32603, "connection to the gateway failed"),
    ],
)
async def test_a_misbehaving_gateway_still_gives_each_request_one_reply_with_its_id(
    stand_in: tuple[Served, StandIn], name: str, code: int, says: str
) -> None:
    served, _ = stand_in
    for modern in (True, False):
        written = await run_bridge(served.url + "/mcp", [call("r", name, modern)])
        [reply] = replies_by_id(written)["r"]
        assert reply["error"]["code"] == code
        assert says in reply["error"]["message"]


async def test_a_multiline_sse_event_is_relayed_whole(stand_in: tuple[Served, StandIn]) -> None:
    served, _ = stand_in
    written = await run_bridge(served.url + "/mcp", [call(5, "sse-multiline")])
    assert replies_by_id(written) == {5: [{"jsonrpc": "2.0", "id": 5, "result": {"ok": True}}]}


async def test_an_unreachable_gateway_and_a_timeout_each_get_a_reply(
    stand_in: tuple[Served, StandIn],
) -> None:
    served, _ = stand_in
    closed = f"http://127.0.0.1:{free_port()}/mcp"
    unreachable = await run_bridge(closed, [call(1, "echo"), call(2, "echo", modern=False)])
    slow = await run_bridge(
        served.url + "/mcp", [call(3, "hold")], client_timeout=httpx.Timeout(10.0, read=0.2)
    )
    assert {rid: r[0]["error"]["message"] for rid, r in replies_by_id(unreachable).items()} == {
        1: bridge.UNREACHABLE,
        2: bridge.UNREACHABLE,
    }
    assert replies_by_id(slow)[3][0]["error"]["message"] == bridge.TIMED_OUT


async def test_a_batch_gets_a_reply_for_each_request_and_notifications_none(
    stand_in: tuple[Served, StandIn],
) -> None:
    served, _ = stand_in
    note = {"jsonrpc": "2.0", "method": "notifications/initialized"}
    written = await run_bridge(served.url + "/mcp", [[call(1, "x"), call(2, "y"), note], note])
    assert sorted(replies_by_id(written)) == [1, 2]
    assert all(len(r) == 1 for r in replies_by_id(written).values())


async def test_bad_lines_get_errors_and_do_not_stop_the_bridge(
    stand_in: tuple[Served, StandIn],
) -> None:
    served, _ = stand_in
    written = await run_bridge(served.url + "/mcp", [b"{nope\n", call(1, "echo")])
    assert {"jsonrpc": "2.0", "error": {"code": -32700, "message": "invalid JSON"}} in written
    assert "result" in replies_by_id(written)[1][0]


async def test_a_cancelled_request_gets_no_reply_and_its_post_is_closed(
    stand_in: tuple[Served, StandIn],
) -> None:
    served, gw = stand_in
    gw.holding.clear()
    gw.released.clear()

    async def cancel(feed: Any) -> None:
        assert await asyncio.to_thread(gw.holding.wait, 5)
        params = {"requestId": 9, "reason": "user abort", "_meta": META}
        feed({"jsonrpc": "2.0", "method": "notifications/cancelled", "params": params})

    written = await run_bridge(served.url + "/mcp", [call(9, "hold")], after=cancel)
    assert await asyncio.to_thread(gw.released.wait, 5)
    assert 9 not in replies_by_id(written)
