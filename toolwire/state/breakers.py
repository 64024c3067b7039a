"""Circuit breakers agreed between instances, over the state backend (`upstream.health`).

What it is: `BreakerBoard`, the `BreakerShare` of `toolwire.upstream.health` built on a
`StateBackend`. A breaker that opens or closes on one instance is published on `CHANNEL` as
``{"origin", "upstream", "opened_at", "reason"}`` (`opened_at`: Unix seconds, null for closed)
and kept under ``breaker:<upstream>`` for the episode's `reset_after`, so an instance that starts
while it is open learns it (`start`). Every instance applies what the others publish. The
half-open probe is claimed with a one-member set per episode (``breaker-probe:<upstream>:
<opened_at>``): one instance wins it.

Messages go out in order from one sender task; a backend that cannot be reached loses the message
(logged), never the call: each breaker then works on its own, as in a single process. Messages
are checked on the way in (types and sizes); anything else is ignored.

What it is not: the breaker itself (`upstream.health.UpstreamHealth`) nor a shared failure count.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
from collections.abc import Callable, Iterable

import orjson

from toolwire.state import StateBackend

log = logging.getLogger("toolwire.state.breakers")

CHANNEL = "upstream:breakers"
KEY = "breaker:"
PROBE_KEY = "breaker-probe:"
CLOSED_TTL_S = 1.0
"""How long the "closed" record stays (an instance starting then reads nothing: closed)."""
QUEUE = 1_000
MAX_TEXT = 200
REASON = re.compile(r"[a-z][a-z0-9_]{0,63}(?: [0-9]{3})?")
"""A reason as the breakers record them: a reason code (`upstream_timeout`, `unreachable`),
with an HTTP status after it (`http_status 503`). Another instance's reason is shown on
`/readyz`: anything else from the channel is not shown (it becomes None)."""

Apply = Callable[[str, float | None, str | None], None]
"""(upstream, opened_at or None for closed, reason): `HealthRegistry.apply`."""


class BreakerBoard:
    """The shared breakers of the instances using `state`; `instance` names this one, `apply`
    receives the others' (`HealthRegistry.apply`), `upstreams` lists this one's upstreams."""

    def __init__(
        self,
        state: StateBackend,
        instance: str,
        apply: Apply,
        upstreams: Callable[[], Iterable[str]],
    ) -> None:
        self.state = state
        self.instance = instance
        self._apply = apply
        self._upstreams = upstreams
        self._outbox: asyncio.Queue[tuple[str, float | None, str | None, float]] = asyncio.Queue(
            QUEUE
        )
        self._tasks: list[asyncio.Task[None]] = []

    def announce(
        self, upstream: str, opened_at: float | None, reason: str | None, reset_after: float
    ) -> None:
        try:
            self._outbox.put_nowait((upstream, opened_at, reason, reset_after))
        except asyncio.QueueFull:
            log.warning("breaker of %s not shared: the outbox is full", upstream)

    async def claim_probe(self, upstream: str, opened_at: float, ttl_s: float) -> bool:
        key = f"{PROBE_KEY}{upstream}:{opened_at!r}"
        return await self.state.set_add(key, self.instance.encode(), max(ttl_s, 1.0), 1) >= 0

    async def start(self) -> None:
        """Follow the others, send ours, and apply what is open now for this instance's
        upstreams. Returns once subscribed."""
        apply = self._apply
        listening = asyncio.Event()
        self._tasks = [
            asyncio.create_task(self._listen(apply, listening), name="breakers-listen"),
            asyncio.create_task(self._send(), name="breakers-send"),
        ]
        await listening.wait()
        for upstream in self._upstreams():
            try:
                raw = await self.state.get(KEY + upstream)
            except Exception as exc:
                log.warning("could not read the shared breaker of %s: %s", upstream, exc)
                continue
            found = _parse(raw) if raw is not None else None
            if found is not None and found[1] == upstream:
                apply(*found[1:])

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks = []

    async def _send(self) -> None:
        while True:
            upstream, opened_at, reason, reset_after = await self._outbox.get()
            message = orjson.dumps(
                {"origin": self.instance, "upstream": upstream, "opened_at": opened_at,
                 "reason": reason}
            )  # fmt: skip
            ttl = CLOSED_TTL_S if opened_at is None else max(reset_after, CLOSED_TTL_S)
            try:
                await self.state.set(KEY + upstream, message, ttl)
                await self.state.publish(CHANNEL, message)
            except Exception as exc:
                log.warning("could not share the breaker of %s: %s", upstream, exc)

    async def _listen(self, apply: Apply, listening: asyncio.Event) -> None:
        while True:
            try:
                async with self.state.subscribe(CHANNEL) as messages:
                    listening.set()
                    async for raw in messages:
                        found = _parse(raw)
                        if found is not None and found[0] != self.instance:
                            apply(*found[1:])
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning("shared breakers: listening failed (%s); again in 1 s", exc)
                listening.set()
                await asyncio.sleep(1.0)


def _parse(raw: bytes) -> tuple[str, str, float | None, str | None] | None:
    """(origin, upstream, opened_at, reason) from a message or record; None when it is not
    one (an allow-list of shapes: anything else is ignored)."""
    try:
        message = orjson.loads(raw)
    except orjson.JSONDecodeError:
        return None
    if not isinstance(message, dict):
        return None
    origin, upstream, opened_at, reason = (
        message.get(k) for k in ("origin", "upstream", "opened_at", "reason")
    )
    if not all(isinstance(t, str) and 0 < len(t) <= MAX_TEXT for t in (origin, upstream)):
        return None
    if opened_at is not None and (
        isinstance(opened_at, bool) or not isinstance(opened_at, (int, float))
    ):
        return None
    if reason is not None and not isinstance(reason, str):
        return None
    shown = reason if reason is not None and REASON.fullmatch(reason) else None
    return str(origin), str(upstream), None if opened_at is None else float(opened_at), shown
