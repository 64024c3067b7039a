"""`toolwire stdio --url`: a desktop client that only speaks stdio uses a remote gateway.

Each stdin line is POSTed to the gateway's `/mcp` with the key; JSON and SSE answers are
written back as lines; after `initialize`, the session's GET stream is relayed for list-changed
notifications. The bridge adds the 2026-07-28 routing headers (`MCP-Protocol-Version`,
`Mcp-Method`, `Mcp-Name`) from the body, each value encoded as the spec says
(`envelope.encode_header_value`: `=?base64?...?=` for anything that is not plain ASCII without
surrounding spaces). It does not add `Mcp-Param-*` headers, so tools that mirror arguments
into headers are not callable through it in the modern era.

**Every request gets exactly one reply carrying its id**, whatever happens on the way: the
gateway's answer when it gives one (an answer without an id gets the request's), else a
JSON-RPC error saying why: the gateway could not be reached, did not answer in time, answered
HTTP N without a JSON-RPC body, or ended its answer without one. A request the client cancelled
(`notifications/cancelled`) gets none (MCP cancellation: the receiver SHOULD NOT answer); its
POST is closed, which is how 2026-07-28 cancels over HTTP, and the notification is forwarded
for the handshake era.

What this is not: an MCP server. It holds no state but the session id and version it relays.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from typing import Any

import httpx
import orjson

from toolwire.inbound.mcp import envelope, jsonrpc
from toolwire.inbound.mcp.jsonrpc import INTERNAL_ERROR, INVALID_REQUEST, RpcError
from toolwire.inbound.mcp.stdio import Write, lines, stdio_streams

log = logging.getLogger("toolwire.mcp.stdio")

UNREACHABLE = "the gateway could not be reached"
BROKEN = "the connection to the gateway failed"
TIMED_OUT = "the gateway did not answer in time"
NO_ANSWER = "the gateway ended its answer without a response to this request"
FAILED = "the bridge could not forward this request"


class Bridge:
    """stdin lines -> POST /mcp; answers (JSON or SSE) -> stdout lines."""

    def __init__(self, url: str, key: str, write: Write, client: httpx.AsyncClient) -> None:
        self.url = url
        self.write = write
        self.client = client
        self.headers = {
            "authorization": f"Bearer {key}",
            "accept": "application/json, text/event-stream",
            "content-type": "application/json",
        }
        self.session: str | None = None
        self.version: str | None = None
        self.tasks: set[asyncio.Task[None]] = set()
        self.running: dict[jsonrpc.RequestId, asyncio.Task[None]] = {}
        self.cancelled: set[jsonrpc.RequestId] = set()
        self.listener: asyncio.Task[None] | None = None

    async def serve(self, reader: asyncio.StreamReader) -> None:
        async for line in lines(reader):
            if line is None:
                err = RpcError(INVALID_REQUEST, "message too large")
                await self.write(jsonrpc.error(None, err))
                continue
            self._start(line)
        if self.tasks:
            await asyncio.gather(*self.tasks, return_exceptions=True)
        if self.listener is not None:
            self.listener.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self.listener
        if self.session is not None:
            with contextlib.suppress(httpx.HTTPError):
                await self.client.delete(self.url, headers=self._headers({}))

    def _start(self, line: bytes) -> None:
        try:
            body = orjson.loads(line)
        except orjson.JSONDecodeError:
            body = None
        task = asyncio.create_task(self._forward(line, body))
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)
        rid = _request_id(body)
        if rid is not None:
            self.running[rid] = task
            task.add_done_callback(lambda _t: self.running.pop(rid, None))
        if isinstance(body, dict) and body.get("method") == "notifications/cancelled":
            self._cancel(body.get("params"))

    def _cancel(self, params: Any) -> None:
        """Stop forwarding a cancelled request: closing its POST cancels it at the gateway."""
        target = params.get("requestId") if isinstance(params, dict) else None
        if isinstance(target, bool) or not isinstance(target, (str, int)):
            return
        self.cancelled.add(target)
        task = self.running.get(target)
        if task is not None:
            task.cancel()

    def _headers(self, body: Any) -> dict[str, str]:
        headers = dict(self.headers)
        if self.session is not None:
            headers["mcp-session-id"] = self.session
        if self.version is not None:
            headers["mcp-protocol-version"] = self.version
        if isinstance(body, dict) and isinstance(body.get("method"), str):
            params = body.get("params")
            modern = envelope.meta_version(params) if isinstance(params, dict) else None
            if modern is not None and isinstance(params, dict):
                method = body["method"]
                headers["mcp-protocol-version"] = envelope.encode_header_value(modern)
                headers["mcp-method"] = envelope.encode_header_value(method)
                name_field = envelope.NAME_FIELDS.get(method)
                value = params.get(name_field) if name_field else None
                if isinstance(value, str):
                    headers["mcp-name"] = envelope.encode_header_value(value)
        return headers

    async def _forward(self, line: bytes, body: Any) -> None:
        if body is None:
            await self.write(jsonrpc.error(None, RpcError(jsonrpc.PARSE_ERROR, "invalid JSON")))
            return
        pending = _request_ids(body)
        reason = NO_ANSWER
        try:
            async with self.client.stream(
                "POST", self.url, content=line, headers=self._headers(body)
            ) as response:
                reason = await self._relay(body, response, pending)
        except asyncio.CancelledError:
            return  # cancelled by the client: no reply (and the POST is closed)
        except httpx.TimeoutException as exc:
            log.warning("gateway timed out: %r", exc)
            reason = TIMED_OUT
        except httpx.ConnectError as exc:
            log.warning("gateway unreachable: %r", exc)
            reason = UNREACHABLE
        except httpx.TransportError as exc:
            log.warning("gateway connection failed: %r", exc)
            reason = BROKEN
        except Exception:
            log.exception("forwarding a message failed")
            reason = FAILED
        for rid in pending:
            if rid not in self.cancelled:
                await self.write(jsonrpc.error(rid, RpcError(INTERNAL_ERROR, reason)))

    async def _relay(self, body: Any, response: httpx.Response, pending: list[Any]) -> str:
        """Write what the gateway answered; return why unanswered requests got nothing."""
        if response.status_code == 202:
            return NO_ANSWER
        kind = response.headers.get("content-type", "")
        if kind.startswith("text/event-stream"):
            async for data in _sse_data(response):
                await self._emit(body, data, pending)
        else:
            raw = await response.aread()
            with contextlib.suppress(orjson.JSONDecodeError):
                if raw:
                    await self._emit(body, orjson.loads(raw), pending)
        if not response.is_success:
            return f"the gateway answered HTTP {response.status_code}"
        if isinstance(body, dict) and body.get("method") == "initialize" and not pending:
            self._opened(response)
        return NO_ANSWER

    async def _emit(self, body: Any, answer: Any, pending: list[Any]) -> bool:
        """Write one decoded message or batch from the gateway; True if it is a JSON-RPC one."""
        entries = answer if isinstance(answer, list) else [answer]
        if not entries or not all(
            isinstance(e, dict) and e.get("jsonrpc") == "2.0" for e in entries
        ):
            log.warning("the gateway sent something that is not JSON-RPC: %.200r", answer)
            return False
        for entry in entries:
            is_response = "result" in entry or "error" in entry
            if is_response and entry.get("id") is None and isinstance(body, dict):
                entry["id"] = _request_id(body)  # an HTTP-level error names no id
            if is_response and entry.get("id") in pending:
                pending.remove(entry["id"])
                if isinstance(body, dict) and body.get("method") == "initialize":
                    self._negotiated(entry)
        await self.write(answer)
        return True

    def _opened(self, response: httpx.Response) -> None:
        self.session = response.headers.get("mcp-session-id")
        if self.session is not None and self.listener is None:
            self.listener = asyncio.create_task(self._listen())

    def _negotiated(self, answer: dict[str, Any]) -> None:
        result = answer.get("result")
        if isinstance(result, dict) and isinstance(result.get("protocolVersion"), str):
            self.version = result["protocolVersion"]

    async def _listen(self) -> None:
        """Relay the session's GET stream (list-changed notifications) until it ends."""
        headers = {**self._headers({}), "accept": "text/event-stream"}
        with contextlib.suppress(httpx.HTTPError):
            async with self.client.stream("GET", self.url, headers=headers) as response:
                if response.status_code != 200:
                    return
                async for data in _sse_data(response):
                    await self._emit(None, data, [])


def _is_jsonrpc(message: Any) -> bool:
    return isinstance(message, dict) and message.get("jsonrpc") == "2.0"


def _request_id(body: Any) -> jsonrpc.RequestId | None:
    """The id of a request (a message with a method and an id), else None."""
    if isinstance(body, dict) and "method" in body:
        return jsonrpc.request_id_of(body)
    return None


def _request_ids(body: Any) -> list[jsonrpc.RequestId]:
    """The ids of the requests a line carries (one message or a batch)."""
    items = body if isinstance(body, list) else [body]
    return [rid for rid in (_request_id(item) for item in items) if rid is not None]


async def _sse_data(response: httpx.Response) -> AsyncIterator[Any]:
    """The decoded JSON of each SSE event's `data` (multi-line data joined; others skipped)."""
    data: list[str] = []
    async for line in response.aiter_lines():
        if line.startswith("data:"):
            data.append(line[5:].removeprefix(" "))
        elif not line and data:
            text, data = "\n".join(data), []
            if text.strip():
                try:
                    yield orjson.loads(text)
                except orjson.JSONDecodeError:
                    log.warning("the gateway sent an SSE event that is not JSON: %.200r", text)
    if data and "\n".join(data).strip():  # a last event the stream did not terminate
        with contextlib.suppress(orjson.JSONDecodeError):
            yield orjson.loads("\n".join(data))


async def bridge(url: str, key: str) -> None:
    reader, write = await stdio_streams()
    timeout = httpx.Timeout(30.0, read=None)
    async with httpx.AsyncClient(timeout=timeout) as client:
        await Bridge(url, key, write, client).serve(reader)
