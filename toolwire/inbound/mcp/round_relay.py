"""A 2026-07-28 retry that reaches another instance than the one holding its parked call.

A parked call (`rounds`) lives in one process: its task, its upstream session's waiting request.
Its `requestState` names that instance (`RoundState.owner`). A retry that a load balancer sends
elsewhere is relayed over the state backend: every instance listens on its own channel
`mcp:rounds:<instance>` (from its first parked call on), and the relaying instance sends there

    {"t": "resume", "corr", "reply", "call", "round", "responses", "log_level", "progress"}

and hears back on its own channel, under the same `corr`:

    {"t": "ack"}                 received; the round runs
    {"t": "alive"}               still running (every `silence_s / 3` seconds)
    {"t": "emit", "message"}     a progress or log notification for the client
    {"t": "result", "result"}    the round's answer: final, or the next `input_required`
    {"t": "error", "error"}      its JSON-RPC error

An owner silent for `silence_s` (15 s) is the caller's retryable JSON-RPC error `-32603` with
`data.reason == "owner_unreachable"`; the round stays unanswered, so the same requestState may
be sent again. The messages are internal, as `mcp:answers` and `mcp:cancel` are: the relaying
instance has checked the requestState against the caller's key before sending.

What this is not: the parked call or the state's checks (`rounds`, `round_state`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from collections.abc import Awaitable, Callable, Mapping
from typing import TYPE_CHECKING, Any

import orjson

from toolwire.inbound.mcp.jsonrpc import INTERNAL_ERROR, RpcError
from toolwire.inbound.mcp.round_state import RoundState
from toolwire.state import StateBackend

if TYPE_CHECKING:
    from toolwire.inbound.mcp.handlers import Context

log = logging.getLogger("toolwire.mcp")

CHANNEL_PREFIX = "mcp:rounds:"
SILENCE_S = 15.0
"""How long a relaying instance waits for any word from the owner before giving up."""
UNREACHABLE = (
    "the gateway instance holding this call did not answer; send the same requestState again"
)

Emit = Callable[[dict[str, Any]], Awaitable[None]]
Serve = Callable[
    [RoundState, Mapping[str, Any], Emit, "str | None", Any], Awaitable[dict[str, Any]]
]


async def _unserved(
    found: RoundState, _r: Mapping[str, Any], _e: Emit, _l: str | None, _t: Any
) -> dict[str, Any]:
    raise RpcError(INTERNAL_ERROR, "this instance holds no parked calls")


class RoundRelay:
    """This instance's side of the relay: `forward()` a round to its owner, and `serve` (set by
    `rounds.Rounds`) the rounds relayed here."""

    def __init__(self, state: StateBackend, silence_s: float = SILENCE_S) -> None:
        self.instance = os.urandom(12).hex()
        self.serve: Serve = _unserved
        self._state = state
        self._silence_s = silence_s
        self._channel = CHANNEL_PREFIX + self.instance
        self._waiting: dict[str, asyncio.Queue[dict[str, Any]]] = {}
        self._serving: set[asyncio.Task[None]] = set()
        self._listener: asyncio.Task[None] | None = None
        self._ready = asyncio.Event()

    async def listen(self) -> None:
        """Listen on this instance's channel (once; returns when subscribed)."""
        if self._listener is None or self._listener.done():
            self._ready = asyncio.Event()
            self._listener = asyncio.create_task(self._listen(), name="mcp-rounds")
        ready = asyncio.ensure_future(self._ready.wait())
        try:
            await asyncio.wait((ready, self._listener), return_when=asyncio.FIRST_COMPLETED)
        finally:
            ready.cancel()
        if not self._ready.is_set():
            self._listener.result()  # the backend's failure, as raised

    async def forward(
        self, found: RoundState, responses: Mapping[str, Any], ctx: Context, token: Any
    ) -> dict[str, Any]:
        """Run round `found` on its owner; its notifications reach `ctx.emit` here."""
        await self.listen()
        corr = os.urandom(12).hex()
        inbox: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self._waiting[corr] = inbox
        body = {
            "t": "resume",
            "corr": corr,
            "reply": self._channel,
            "call": found.call,
            "round": found.round,
            "expires": found.expires,
            "responses": dict(responses),
            "log_level": ctx.log_level,
            "progress": token,
        }
        try:
            await self._state.publish(CHANNEL_PREFIX + found.owner, orjson.dumps(body))
            while True:
                try:
                    message = await asyncio.wait_for(inbox.get(), self._silence_s)
                except TimeoutError:
                    raise RpcError(
                        INTERNAL_ERROR,
                        UNREACHABLE,
                        {"reason": "owner_unreachable", "retryable": True},
                    ) from None
                kind = message.get("t")
                if kind == "emit" and isinstance(message.get("message"), dict):
                    await ctx.emit(message["message"])
                elif kind == "result" and isinstance(message.get("result"), dict):
                    result: dict[str, Any] = message["result"]
                    return result
                elif kind == "error":
                    error = message.get("error") or {}
                    raise RpcError(
                        int(error.get("code", INTERNAL_ERROR)),
                        str(error.get("message", "internal error")),
                        error.get("data"),
                    )
        finally:
            self._waiting.pop(corr, None)

    async def aclose(self) -> None:
        for task in [*self._serving, self._listener]:
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task

    # -- this instance's channel --------------------------------------------------------------

    async def _listen(self) -> None:
        async with self._state.subscribe(self._channel) as messages:
            self._ready.set()
            async for raw in messages:
                try:
                    message = orjson.loads(raw)
                except orjson.JSONDecodeError:
                    continue
                if not isinstance(message, dict) or not isinstance(message.get("corr"), str):
                    continue
                if message.get("t") == "resume":
                    task = asyncio.create_task(self._serve(message))
                    self._serving.add(task)
                    task.add_done_callback(self._serving.discard)
                elif (inbox := self._waiting.get(message["corr"])) is not None:
                    inbox.put_nowait(message)

    async def _serve(self, message: dict[str, Any]) -> None:
        corr, reply = message["corr"], str(message.get("reply", ""))

        async def send(kind: str, **fields: Any) -> None:
            await self._state.publish(reply, orjson.dumps({"t": kind, "corr": corr, **fields}))

        async def emit(notification: dict[str, Any]) -> None:
            await send("emit", message=notification)

        await send("ack")
        try:
            found = RoundState(
                str(message["call"]), int(message["round"]), self.instance, message["expires"]
            )
            responses = message.get("responses")
            level = message.get("log_level")
            work = asyncio.ensure_future(
                self.serve(
                    found,
                    responses if isinstance(responses, dict) else {},
                    emit,
                    level if isinstance(level, str) else None,
                    message.get("progress"),
                )
            )
            while not work.done():
                await asyncio.wait((work,), timeout=self._silence_s / 3)
                if not work.done():
                    await send("alive")
            await send("result", result=work.result())
        except RpcError as exc:
            await send("error", error=exc.to_error())
        except (KeyError, TypeError, ValueError):
            await send("error", error={"code": INTERNAL_ERROR, "message": "malformed relay"})
        except Exception:
            log.exception("relayed MCP round failed")
            await send("error", error={"code": INTERNAL_ERROR, "message": "internal error"})
