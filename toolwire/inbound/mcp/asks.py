"""Requests from the gateway to an MCP client (sampling, elicitation, roots): sent on the stream
of the call that needs them, answered by the client in a later message.

    asks = Asks(state)
    result = await asks.ask(conn, emit, "sampling/createMessage", params)  # ClientRequestError
    await asks.answer(conn.id, response)        # the kernel, for every client response

Only the handshake era carries them this way (2026-07-28 has no server-to-client requests on a
request's stream: there the call is parked and answered `input_required`, `rounds`), only for a
method of the allow-list `CLIENT_REQUEST_CAPABILITY` (`check_askable`), only to a client that
declared that capability, and each waits at most `ASK_TIMEOUT_S`. An answer that reaches
another instance (HTTP, a load balancer without session affinity) travels over the state
backend's `mcp:answers` channel to the instance that asked.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

import orjson

from toolwire.core.ports import CLIENT_REQUEST_CAPABILITY, NO_CLIENT_REQUESTS, ClientRequestError
from toolwire.inbound.mcp.jsonrpc import INTERNAL_ERROR, RequestId, Response
from toolwire.state import StateBackend

ASK_TIMEOUT_S = 120.0
"""How long a request to the client may wait for its answer (a person may be answering)."""
ANSWERS_CHANNEL = "mcp:answers"

Emit = Callable[[dict[str, Any]], Awaitable[None]]


def check_askable(method: str, capabilities: Mapping[str, Any]) -> None:
    """Raise `ClientRequestError` unless `method` is on the allow-list and the client declared
    its capability (MCP: a server sends these only to a client that declared them)."""
    capability = CLIENT_REQUEST_CAPABILITY.get(method)
    if capability is None:
        raise ClientRequestError(NO_CLIENT_REQUESTS, f"{method} is not sent to clients")
    if not isinstance(capabilities.get(capability), dict):
        raise ClientRequestError(
            NO_CLIENT_REQUESTS,
            f"{method}: the client did not declare the {capability!r} capability",
        )


class Asks:
    def __init__(self, state: StateBackend | None = None, timeout: float = ASK_TIMEOUT_S) -> None:
        self._state = state
        self._timeout = timeout
        self._pending: dict[tuple[str, RequestId], asyncio.Future[Response]] = {}
        self._listener: asyncio.Task[None] | None = None

    async def ask(
        self,
        conn_id: str,
        era: str,
        capabilities: Mapping[str, Any],
        emit: Emit,
        method: str,
        params: Mapping[str, Any],
    ) -> dict[str, Any]:
        """The client's result for `method`; `ClientRequestError` when it cannot be asked or
        answers with an error or not in time."""
        check_askable(method, capabilities)
        if era != "handshake":
            raise ClientRequestError(
                NO_CLIENT_REQUESTS,
                f"{method}: the client speaks MCP 2026-07-28 on a door that cannot park the "
                "call for an input_required round",
            )
        rid = f"toolwire-{uuid.uuid4().hex}"
        waiter: asyncio.Future[Response] = asyncio.get_running_loop().create_future()
        self._pending[(conn_id, rid)] = waiter
        self._listen()
        try:
            await emit({"jsonrpc": "2.0", "id": rid, "method": method, "params": dict(params)})
            async with asyncio.timeout(self._timeout):
                response = await waiter
        except TimeoutError:
            raise ClientRequestError(
                INTERNAL_ERROR, f"{method}: the client did not answer within {self._timeout:g}s"
            ) from None
        finally:
            self._pending.pop((conn_id, rid), None)
        if response.error is not None:
            code = response.error.get("code")
            message = response.error.get("message")
            raise ClientRequestError(
                code if isinstance(code, int) else INTERNAL_ERROR,
                message if isinstance(message, str) else "the client answered an error",
            )
        return dict(response.result or {})

    async def answer(self, conn_id: str, response: Response) -> None:
        """Hand a client's response to the request waiting for it, here or elsewhere; a response
        to nothing is ignored."""
        if response.id is None or self._deliver(conn_id, response):
            return
        if self._state is not None:
            body = [conn_id, response.id, response.result, response.error]
            await self._state.publish(ANSWERS_CHANNEL, orjson.dumps(body))

    def _deliver(self, conn_id: str, response: Response) -> bool:
        if response.id is None:
            return False
        waiter = self._pending.get((conn_id, response.id))
        if waiter is None or waiter.done():
            return False
        waiter.set_result(response)
        return True

    def _listen(self) -> None:
        if self._state is None or (self._listener is not None and not self._listener.done()):
            return
        self._listener = asyncio.create_task(self._answers(self._state), name="mcp-answers")

    async def _answers(self, state: StateBackend) -> None:
        with contextlib.suppress(asyncio.CancelledError):
            async with state.subscribe(ANSWERS_CHANNEL) as messages:
                async for raw in messages:
                    try:
                        conn_id, rid, result, error = orjson.loads(raw)
                    except (orjson.JSONDecodeError, ValueError, TypeError):
                        continue
                    if isinstance(conn_id, str) and isinstance(rid, (str, int)):
                        self._deliver(
                            conn_id,
                            Response(
                                rid,
                                result if isinstance(result, dict) else None,
                                error if isinstance(error, dict) else None,
                            ),
                        )

    async def aclose(self) -> None:
        if self._listener is not None:
            self._listener.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._listener
