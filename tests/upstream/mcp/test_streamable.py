"""`streamable.StreamableHttp` (toolwire's Streamable HTTP client transport under the SDK's
`ClientSession`) against a scripted HTTP/1.1 server on 127.0.0.1, one wire rule per test: the
session id taken on `initialize`, sent after and ended with DELETE; an SSE answer (priming event,
a notification, the result under the request's own id); 202, 404 with a session, a JSON-RPC
error at 400, a 307 within the origin; cancellation at 2026-07-28 closing the POST; a connect
failure ending the session. And the SSE parser on its own."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import httpcore2
import pytest
from mcp.shared.message import ClientMessageMetadata, SessionMessage
from mcp_types import (
    INVALID_REQUEST,
    JSONRPCError,
    JSONRPCNotification,
    JSONRPCRequest,
    JSONRPCResponse,
)

from toolwire.testing import free_port
from toolwire.upstream.mcp.http_pool import lean_pool
from toolwire.upstream.mcp.sse import SseError, SseParser
from toolwire.upstream.mcp.streamable import Inbox, StreamableHttp

pytestmark = pytest.mark.timeout(60)

SSE_HEAD = (
    b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n\r\n"
)


def chunk(data: bytes) -> bytes:
    return b"%x\r\n%s\r\n" % (len(data), data)


@dataclass
class Seen:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes


@dataclass
class Server:
    url: str = ""
    seen: list[Seen] = field(default_factory=list)
    waiting: asyncio.Event = field(default_factory=asyncio.Event)
    hung_up: asyncio.Event = field(default_factory=asyncio.Event)


def _json(status: str, body: dict[str, object], extra: bytes = b"") -> bytes:
    data = json.dumps(body).encode()
    return b"HTTP/1.1 %s\r\nContent-Type: application/json\r\nContent-Length: %d\r\n%s\r\n%s" % (
        status.encode(),
        len(data),
        extra,
        data,
    )


async def _answer(
    server: Server, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
) -> None:
    try:
        while True:
            head = await reader.readuntil(b"\r\n\r\n")
            lines = head.decode("latin-1").split("\r\n")
            method, path, _ = lines[0].split(" ")
            headers = {k.lower(): v for k, _, v in (ln.partition(": ") for ln in lines[1:] if ln)}
            body = await reader.readexactly(int(headers.get("content-length", "0")))
            server.seen.append(Seen(method, path, headers, body))
            rid = json.loads(body)["id"] if body and b'"id"' in body else None
            if method == "DELETE":
                writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n")
            elif path == "/json":
                result = {"jsonrpc": "2.0", "id": rid, "result": {"ok": True}}
                writer.write(_json("200 OK", result, b"Mcp-Session-Id: s-1\r\n"))
            elif path == "/sse":
                writer.write(SSE_HEAD)
                writer.write(chunk(b"id: e1\r\ndata:\r\n\r\n"))  # priming event
                note = {"jsonrpc": "2.0", "method": "notifications/progress", "params": {}}
                text = b"event: message\ndata: " + json.dumps(note).encode() + b"\n\n"
                writer.write(chunk(text[:20]))
                await writer.drain()
                writer.write(chunk(text[20:]))
                done = {"jsonrpc": "2.0", "id": "theirs", "result": {"done": True}}
                writer.write(chunk(b": a comment\ndata: " + json.dumps(done).encode() + b"\n\n"))
                writer.write(b"0\r\n\r\n")
            elif path == "/moved":
                writer.write(b"HTTP/1.1 307 Temporary Redirect\r\nLocation: /json\r\n")
                writer.write(b"Content-Length: 0\r\n\r\n")
            elif path == "/accepted":
                writer.write(b"HTTP/1.1 202 Accepted\r\nContent-Length: 0\r\n\r\n")
            elif path == "/gone":
                writer.write(b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n")
            elif path == "/refused":
                error = {"jsonrpc": "2.0", "id": None, "error": {"code": -32602, "message": "no"}}
                writer.write(_json("400 Bad Request", error))
            elif path == "/slow":
                server.waiting.set()
                if await reader.read(1) == b"":
                    server.hung_up.set()
                return
            await writer.drain()
    except (asyncio.IncompleteReadError, ConnectionError):
        return
    finally:
        writer.close()


@pytest.fixture
async def server() -> AsyncIterator[Server]:
    state = Server()
    listener = await asyncio.start_server(
        lambda r, w: _answer(state, r, w), host="127.0.0.1", port=0
    )
    state.url = f"http://127.0.0.1:{listener.sockets[0].getsockname()[1]}"
    async with listener:
        yield state


def transport(url: str, lost: list[bool] | None = None) -> StreamableHttp:
    pool = lean_pool(allow_private_networks=True, max_connections=8, timeout=5.0)
    told = lost if lost is not None else []
    return StreamableHttp(url, pool, {"User-Agent": "t"}, lambda: told.append(True))


def request(rid: int, method: str = "tools/call", **headers: str) -> SessionMessage:
    message = JSONRPCRequest(jsonrpc="2.0", id=rid, method=method, params={"name": "x"})
    return SessionMessage(message, ClientMessageMetadata(headers=headers or None))


async def answer(inbox: Inbox) -> object:
    async with asyncio.timeout(10):
        item = await inbox.receive()
    assert isinstance(item, SessionMessage)
    return item.message


async def test_the_session_id_of_initialize_is_sent_after_and_ended_with_delete(
    server: Server,
) -> None:
    async with transport(server.url + "/json") as (inbox, outbox):
        await outbox.send(request(1, "initialize"))
        first = await answer(inbox)
        await outbox.send(request(2, **{"MCP-Protocol-Version": "2025-11-25", "Mcp-Name": "x"}))
        second = await answer(inbox)
    assert isinstance(first, JSONRPCResponse) and first.id == 1 and first.result == {"ok": True}
    assert isinstance(second, JSONRPCResponse) and second.id == 2
    init, call, end = server.seen
    assert "mcp-session-id" not in init.headers
    assert init.headers["accept"] == "application/json, text/event-stream"
    assert json.loads(init.body)["method"] == "initialize"
    assert call.headers["mcp-session-id"] == "s-1"
    assert call.headers["mcp-protocol-version"] == "2025-11-25"
    assert call.headers["mcp-name"] == "x" and call.headers["user-agent"] == "t"
    assert (end.method, end.headers["mcp-session-id"]) == ("DELETE", "s-1")


async def test_an_sse_answer_reaches_the_inbox_with_the_requests_own_id(server: Server) -> None:
    async with transport(server.url + "/sse") as (inbox, outbox):
        await outbox.send(request(7))
        note = await answer(inbox)
        done = await answer(inbox)
    assert isinstance(note, JSONRPCNotification) and note.method == "notifications/progress"
    assert isinstance(done, JSONRPCResponse) and done.id == 7 and done.result == {"done": True}


async def test_a_307_within_the_origin_is_followed(server: Server) -> None:
    async with transport(server.url + "/moved") as (inbox, outbox):
        await outbox.send(request(3))
        done = await answer(inbox)
    assert isinstance(done, JSONRPCResponse) and done.id == 3
    assert [s.path for s in server.seen] == ["/moved", "/json"]
    assert server.seen[1].body == server.seen[0].body


@pytest.mark.parametrize(
    ("path", "code", "text"),
    [
        ("/accepted", INVALID_REQUEST, "server answered a request with 202 Accepted"),
        ("/refused", -32602, "no"),
        ("/gone", INVALID_REQUEST, "Session terminated"),
    ],
)
async def test_an_answer_that_is_not_a_result_fails_the_request(
    server: Server, path: str, code: int, text: str
) -> None:
    lost: list[bool] = []
    http = transport(server.url + path, lost)
    http.session_id = "s-9"
    async with http as (inbox, outbox):
        await outbox.send(request(4))
        failed = await answer(inbox)
        http.session_id = None  # no DELETE: the scripted paths answer only POSTs
    assert isinstance(failed, JSONRPCError) and failed.id == 4
    assert (failed.error.code, failed.error.message) == (code, text)
    assert lost == ([True] if path == "/gone" else [])


async def test_at_2026_07_28_cancelling_closes_the_post_and_sends_nothing(server: Server) -> None:
    async with transport(server.url + "/slow") as (_, outbox):
        await outbox.send(request(5, **{"MCP-Protocol-Version": "2026-07-28"}))
        async with asyncio.timeout(10):
            await server.waiting.wait()
        cancel = JSONRPCNotification(
            jsonrpc="2.0", method="notifications/cancelled", params={"requestId": 5}
        )
        await outbox.send(SessionMessage(cancel))
        async with asyncio.timeout(10):
            await server.hung_up.wait()
    assert len(server.seen) == 1


async def test_a_connect_failure_ends_the_session_with_the_error() -> None:
    http = transport(f"http://127.0.0.1:{free_port()}/mcp")
    with pytest.raises(httpcore2.ConnectError):
        async with http as (inbox, outbox):
            await outbox.send(request(6))
            async with asyncio.timeout(10):
                items = [item async for item in inbox]
    assert items == []


def test_the_sse_parser_takes_events_split_anywhere_with_any_line_ending() -> None:
    parser = SseParser()
    stream = (
        b": hi\r\nevent: message\r\ndata: a\r\ndata: b\r\nid: 9\r\nretry: 250\r\n\r\nid: 10\n\n"
    )
    events = []
    for i in range(len(stream)):
        events += parser.feed(stream[i : i + 1])
    assert [(e.event, e.data, e.id) for e in events] == [("message", "a\nb", "9")]
    assert (parser.last_id, parser.retry_ms) == ("10", 250)
    with pytest.raises(SseError):
        SseParser(max_event_size=8).feed(b"data: " + b"x" * 20 + b"\n")
