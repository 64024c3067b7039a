"""Multi round-trip requests (MRTR, MCP 2026-07-28) over requests that keep running upstream.

A federated MCP server asks its client something (sampling, elicitation, roots) in the middle of
a `tools/call`, `prompts/get` or `resources/read`: it sends a server-to-client request on the
upstream session and waits. A 2026-07-28 client cannot be sent a request; instead the server
*answers* the request with `resultType: "input_required"`, the requests in `inputRequests`, and
a `requestState`; the client sends the request again (same method, name or URI, and arguments)
plus `inputResponses` (keyed as the requests were) and that `requestState`. `Rounds` bridges
the two, the same way for the three methods (the spec's list of those that may answer
`input_required`):

    first request     -> it runs in a task of its own (a tool call through `Gateway.execute`,
                         reservation held; a prompt or resource through the federation); an
                         upstream request parks it: the client gets `input_required` with a
                         sealed `requestState` (`round_state`), the upstream keeps waiting
    retry             -> the answers go to the waiting upstream requests, the same request
                         carries on: its final result (a call billed once; audited once) or
                         the next round
    another instance  -> the retry is relayed to the instance holding the request (`round_relay`)
    no retry within TOOLWIRE_MCP_INPUT_TIMEOUT_S (300 s)
                      -> the request is cancelled upstream (a call's credits released), audited
                         CANCELLED with that reason

A state is answered once (its round number is the parked request's open round); a state of
another key, method, target or arguments does not open; after the request ended or was
abandoned its state is refused. A tool's own timeout does not run while the client is being
asked (`core.pause`). A client that declared none of `sampling`, `elicitation`, `roots` is not
parked: the upstream hears that it did not declare the capability, as in the handshake era.

Spec: MCP 2026-07-28 basic/patterns/mrtr. What this is not: the handshake era's asks (`asks`,
sent on the request's stream), the sealing format (`round_state`) or the relay (`round_relay`).
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import os
import time
from collections.abc import Awaitable, Callable, Mapping
from typing import TYPE_CHECKING, Any

from toolwire.core.model import Principal
from toolwire.core.ports import CLIENT_REQUEST_CAPABILITY, Channel, ClientRequestError
from toolwire.inbound.mcp.asks import check_askable
from toolwire.inbound.mcp.jsonrpc import INTERNAL_ERROR, INVALID_PARAMS, RpcError
from toolwire.inbound.mcp.round_state import RoundSealer, RoundState, Subject

if TYPE_CHECKING:
    from toolwire.inbound.mcp.handlers import Context
    from toolwire.inbound.mcp.round_relay import RoundRelay

INPUT_TIMEOUT_S = 300.0
"""Default of TOOLWIRE_MCP_INPUT_TIMEOUT_S: how long a parked call waits for the client."""
USED = (
    "requestState was already answered, or its request has ended: send the request again without it"
)
NO_STATE = "params.inputResponses answer an input_required result: send its requestState too"

Run = Callable[[Channel], Awaitable[dict[str, Any]]]
"""Runs the request to its rendered result (a `tools/call`, `prompts/get` or `resources/read`
result) with this channel to its client: the door's own, or a parked request's."""
ChannelFor = Callable[["Context", Any], Channel]
"""The door's channel of one round: progress and logs to that round's client request."""


def askable(capabilities: Mapping[str, Any]) -> bool:
    """Whether the client declared any capability a federated server may ask it for."""
    if not capabilities:  # declared nothing (most clients): no generator to run
        return False
    return any(isinstance(capabilities.get(c), dict) for c in CLIENT_REQUEST_CAPABILITY.values())


def may_park(capabilities: Mapping[str, Any], params: Mapping[str, Any]) -> bool:
    """Whether `Rounds.call` could do more for this request than run it with the door's own
    channel: it answers a round (`requestState` or `inputResponses`, checked there), or its
    client declared a capability it can be asked for. When not, the handlers run it themselves
    (no `Subject`, no closure: most calls)."""
    return (
        params.get("requestState") is not None
        or params.get("inputResponses") is not None
        or askable(capabilities)
    )


def progress_token(params: Mapping[str, Any]) -> Any:
    meta = params.get("_meta")
    token = meta.get("progressToken") if isinstance(meta, dict) else None
    return None if isinstance(token, bool) or not isinstance(token, (str, int)) else token


@dataclasses.dataclass(eq=False)
class _Ask:
    method: str
    params: dict[str, Any]
    answer: asyncio.Future[dict[str, Any]]


class _Parked:
    """One request that may wait for its client between rounds."""

    def __init__(self, principal: Principal, subject: Subject, ctx: Context) -> None:
        self.id = os.urandom(16).hex()
        self.principal = principal
        self.subject = subject
        self.ctx = ctx
        """The current round's request (its emit, log level, capabilities)."""
        self.channel: Channel | None = None
        self.asks: dict[str, _Ask] = {}
        self.counter = 0
        self.wake = asyncio.Event()
        self.round = 0
        self.open = False
        """Whether round `round`'s requestState may be answered (once)."""
        self.task: asyncio.Task[dict[str, Any]] | None = None
        self.timer: asyncio.TimerHandle | None = None

    def unanswered(self) -> dict[str, _Ask]:
        return {key: ask for key, ask in self.asks.items() if not ask.answer.done()}


class _RoundChannel:
    """The `Channel` of a parked request: progress and logs go to the current round's request;
    a request to the client waits for the next round's answer."""

    __slots__ = ("_parked",)

    def __init__(self, parked: _Parked) -> None:
        self._parked = parked

    @property
    def client_capabilities(self) -> Mapping[str, Any]:
        return self._parked.ctx.client_capabilities

    async def progress(self, progress: float, total: float | None, message: str | None) -> None:
        if self._parked.channel is not None:
            await self._parked.channel.progress(progress, total, message)

    async def log(self, level: str, data: Any, logger: str | None = None) -> None:
        if self._parked.channel is not None:
            await self._parked.channel.log(level, data, logger)

    async def request(self, method: str, params: Mapping[str, Any]) -> dict[str, Any]:
        parked = self._parked
        check_askable(method, parked.ctx.client_capabilities)
        if parked.task is None or parked.task.done():
            raise ClientRequestError(INTERNAL_ERROR, f"{method}: the request has ended")
        parked.counter += 1
        key = f"r{parked.counter}"
        ask = _Ask(method, dict(params), asyncio.get_running_loop().create_future())
        parked.asks[key] = ask
        parked.wake.set()
        try:
            return await ask.answer
        finally:
            parked.asks.pop(key, None)


class Rounds:
    """The requests parked on this instance, by id; `call()` is a `tools/call`, `prompts/get`
    or `resources/read` of a 2026-07-28 client, `serve()` a round relayed from another
    instance."""

    def __init__(
        self,
        sealer: RoundSealer,
        channel_for: ChannelFor,
        relay: RoundRelay | None = None,
        input_timeout: float = INPUT_TIMEOUT_S,
    ) -> None:
        self._sealer = sealer
        self._channel_for = channel_for
        self._relay = relay
        self.input_timeout = input_timeout
        self.instance = "local" if relay is None else relay.instance
        self._parked: dict[str, _Parked] = {}
        if relay is not None:
            relay.serve = self.serve

    @property
    def parked(self) -> int:
        """How many requests wait for their client here."""
        return len(self._parked)

    async def call(
        self,
        ctx: Context,
        subject: Subject,
        params: Mapping[str, Any],
        channel: Channel,
        run: Run,
    ) -> dict[str, Any]:
        """The request's result: final, or `input_required`. `channel` is the door's own for
        this request (used as is when the request is not parked, and for the first round's
        notifications when it is). `RpcError(INVALID_PARAMS)` for a requestState that is not
        this request's, expired, or already answered, `RpcError` with
        `data.reason == "owner_unreachable"` when the instance holding it does not answer."""
        state = params.get("requestState")
        responses = params.get("inputResponses")
        if responses is not None and not isinstance(responses, dict):
            raise RpcError(INVALID_PARAMS, "params.inputResponses must be an object")
        if state is None:
            if responses:
                raise RpcError(INVALID_PARAMS, NO_STATE)
            if not askable(ctx.client_capabilities):
                return await run(channel)
            return await self._start(ctx, subject, channel, run)
        found = self._sealer.open(state, ctx.principal, subject)
        token = progress_token(params)
        if found.owner == self.instance:
            return await self.resume(found, responses or {}, ctx, token)
        if self._relay is None:
            raise RpcError(INVALID_PARAMS, USED)
        return await self._relay.forward(found, responses or {}, ctx, token)

    async def serve(
        self,
        found: RoundState,
        responses: Mapping[str, Any],
        emit: Callable[[dict[str, Any]], Awaitable[None]],
        log_level: str | None,
        token: Any,
    ) -> dict[str, Any]:
        """A round relayed from another instance: its notifications go back through `emit`."""
        parked = self._parked.get(found.call)
        if parked is None:
            raise RpcError(INVALID_PARAMS, USED)
        ctx = dataclasses.replace(parked.ctx, emit=emit, log_level=log_level)
        return await self.resume(found, responses, ctx, token)

    async def resume(
        self, found: RoundState, responses: Mapping[str, Any], ctx: Context, token: Any
    ) -> dict[str, Any]:
        """Answer round `found.round` of the parked request and carry on with it."""
        parked = self._parked.get(found.call)
        if parked is None or not parked.open or parked.round != found.round:
            raise RpcError(INVALID_PARAMS, USED)
        parked.open = False
        self._disarm(parked)
        parked.ctx = ctx
        parked.channel = self._channel_for(ctx, token)
        for key, answer in responses.items():
            ask = parked.asks.get(key)
            if ask is None or ask.answer.done():
                continue  # an answer to nothing asked is ignored
            if isinstance(answer, dict):
                ask.answer.set_result(answer)
            else:
                ask.answer.set_exception(
                    ClientRequestError(INVALID_PARAMS, f"{ask.method}: the answer is not an object")
                )
        return await self._wait(parked)

    async def aclose(self) -> None:
        """Cancel every parked request (the app stops): released and audited as cancelled."""
        for parked in list(self._parked.values()):
            self._drop(parked, "the gateway stopped while the request waited for its client")
        if self._relay is not None:
            await self._relay.aclose()

    # -- one parked request ---------------------------------------------------------------------

    async def _start(
        self, ctx: Context, subject: Subject, channel: Channel, run: Run
    ) -> dict[str, Any]:
        parked = _Parked(ctx.principal, subject, ctx)
        parked.channel = channel
        self._parked[parked.id] = parked
        if self._relay is not None:
            await self._relay.listen()  # subscribed before the client can come back elsewhere
        task: asyncio.Task[dict[str, Any]] = asyncio.ensure_future(run(_RoundChannel(parked)))
        task.add_done_callback(_retrieve)
        parked.task = task
        return await self._wait(parked)

    async def _wait(self, parked: _Parked) -> dict[str, Any]:
        """Until the request ends (its result) or asks something (an `input_required` result)."""
        task = parked.task
        assert task is not None
        try:
            while not task.done() and not parked.unanswered():
                parked.wake.clear()
                woken = asyncio.ensure_future(parked.wake.wait())
                try:
                    await asyncio.wait((task, woken), return_when=asyncio.FIRST_COMPLETED)
                finally:
                    woken.cancel()
            if not task.done():
                await asyncio.sleep(0)  # requests made in the same turn join this round
        except asyncio.CancelledError:  # the client went away in the middle of a round
            self._drop(parked, "cancelled by client")
            raise
        if task.done():
            self._forget(parked)
            return task.result()
        return self._input_required(parked)

    def _input_required(self, parked: _Parked) -> dict[str, Any]:
        parked.round += 1
        parked.open = True
        expires = time.time() + self.input_timeout
        state = RoundState(parked.id, parked.round, self.instance, expires)
        sealed = self._sealer.seal(state, parked.principal, parked.subject)
        parked.timer = asyncio.get_running_loop().call_later(
            self.input_timeout, self._abandon, parked
        )
        requests = {
            key: {"method": ask.method, "params": ask.params}
            for key, ask in parked.unanswered().items()
        }
        return {"resultType": "input_required", "inputRequests": requests, "requestState": sealed}

    def _abandon(self, parked: _Parked) -> None:
        if parked.open:
            reason = f"the client did not answer input_required within {self.input_timeout:g}s"
            self._drop(parked, reason)

    def _drop(self, parked: _Parked, reason: str) -> None:
        """Cancel the request (a call released and audited CANCELLED with `reason` by the
        gateway, a prompt or resource audited so by the federation), then fail what the
        upstream still waits for."""
        self._forget(parked)
        if parked.task is not None:
            parked.task.cancel(reason)
        for ask in parked.asks.values():
            if not ask.answer.done():
                ask.answer.set_exception(ClientRequestError(INTERNAL_ERROR, reason))

    def _forget(self, parked: _Parked) -> None:
        parked.open = False
        self._disarm(parked)
        self._parked.pop(parked.id, None)

    @staticmethod
    def _disarm(parked: _Parked) -> None:
        if parked.timer is not None:
            parked.timer.cancel()
            parked.timer = None


def _retrieve(task: asyncio.Task[Any]) -> None:
    if not task.cancelled():
        with contextlib.suppress(BaseException):
            task.exception()
