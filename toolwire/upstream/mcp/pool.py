"""The sessions of one upstream for one set of credentials: a primary kept open (restarted with
backoff when it dies) and, for stdio pools, extra processes started when every one is busy.

    pool = Pool(name, make, size=2, idle_timeout=300, limits)
    conn = await pool.acquire()       # a live session; waits for a reconnect in progress
    await pool.reap()                 # extra sessions idle longer than idle_timeout end
    await pool.aclose()

States (`pool.state`): `connecting`, `ready`, `down` (the last attempt failed: calls fail fast
with `UPSTREAM_ERROR` and the reason until the next attempt, which the supervisor makes after the
backoff), `closed`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from collections.abc import Awaitable, Callable
from typing import Literal

from toolwire.core.errors import UpstreamError
from toolwire.upstream.mcp.connection import Connection, describe
from toolwire.upstream.mcp.spec import Limits

log = logging.getLogger("toolwire.upstream.mcp")

State = Literal["connecting", "ready", "down", "closed"]
MIN_HEALTHY_S = 5.0
"""A session that ended sooner than this after opening counts as a failed start (backoff grows)."""


class Pool:
    def __init__(
        self,
        upstream: str,
        make: Callable[[], Connection],
        *,
        size: int,
        idle_timeout: float,
        limits: Limits,
        on_connected: Callable[[Connection], Awaitable[None]] | None = None,
    ) -> None:
        self.upstream = upstream
        self._make = make
        self.size = max(1, size)
        self.idle_timeout = idle_timeout
        self.limits = limits
        self._on_connected = on_connected
        self.primary: Connection | None = None
        self.extra: list[Connection] = []
        self.state: State = "connecting"
        self.last_error: str | None = None
        self.restarts = 0
        self.last_used = time.monotonic()
        self._changed = asyncio.Condition()
        self._supervisor: asyncio.Task[None] | None = None
        self._growing = 0
        self._opening: Connection | None = None

    def start(self) -> None:
        """Begin the supervisor: connect, and reconnect with backoff whenever the primary ends."""
        if self._supervisor is None:
            self._supervisor = asyncio.create_task(self._supervise(), name=f"mcp-{self.upstream}")

    @property
    def closed(self) -> bool:
        return self.state == "closed"

    @property
    def processes(self) -> int:
        """Live sessions (for stdio: running processes)."""
        live = [c for c in (self.primary, *self.extra) if c is not None and c.alive]
        return len(live)

    async def _set(self, state: State, error: str | None = None) -> None:
        async with self._changed:
            if self.closed:
                return
            self.state = state
            if error is not None:
                self.last_error = error
            self._changed.notify_all()

    async def _supervise(self) -> None:
        delay = self.limits.restart_backoff
        while not self.closed:
            conn = self._opening = self._make()
            await self._set("connecting")
            try:
                await conn.open(self.limits.connect_timeout)
                if self._on_connected is not None:
                    await self._on_connected(conn)
            except Exception as exc:
                await conn.close()
                reason = exc.message if isinstance(exc, UpstreamError) else describe(exc)
                log.warning(
                    "MCP upstream %s is down: %s (retrying in %.1fs)", self.upstream, reason, delay
                )
                await self._set("down", reason)
                await asyncio.sleep(delay * random.uniform(0.8, 1.2))
                delay = min(delay * 2, self.limits.max_backoff)
                continue
            finally:
                self._opening = None
            self.primary = conn
            await self._set("ready")
            opened = time.monotonic()
            await conn.ended.wait()
            self.primary = None
            if self.closed:
                return
            self.restarts += 1
            reason = describe(conn.error)
            log.warning("MCP upstream %s: session ended (%s); restarting", self.upstream, reason)
            await self._set("connecting", reason)
            if time.monotonic() - opened < MIN_HEALTHY_S:
                await asyncio.sleep(delay * random.uniform(0.8, 1.2))
                delay = min(delay * 2, self.limits.max_backoff)
            else:
                delay = self.limits.restart_backoff

    async def acquire(self) -> Connection:
        """A live session for one call: the least busy one, after starting an extra one when
        every session is busy and the pool has room. Waits (at most `connect_timeout`) while
        connecting; raises `UpstreamError` (reason `unavailable`) when the upstream is down."""
        self.last_used = time.monotonic()
        if not self._settled():  # else nothing to wait for (the common case: no lock, no timer)
            async with self._changed:
                try:
                    async with asyncio.timeout(self.limits.connect_timeout):
                        await self._changed.wait_for(self._settled)
                except TimeoutError:
                    pass
        primary = self.primary
        if self.state != "ready" or primary is None or not primary.alive:
            raise UpstreamError(
                f"{self.upstream} is unavailable: {self.last_error or self.state}",
                details={"upstream": self.upstream, "reason": "unavailable"},
            )
        live = [c for c in (primary, *self.extra) if c.alive]
        best = min(live, key=lambda c: c.busy)
        if best.busy and len(live) + self._growing < self.size:
            grown = await self._grow()
            if grown is not None:
                return grown
        return best

    def _settled(self) -> bool:
        """Down or closed, or ready with a live primary (a primary that just died is being
        replaced: the supervisor notifies when it is)."""
        if self.state in ("down", "closed"):
            return True
        return self.state == "ready" and self.primary is not None and self.primary.alive

    async def _grow(self) -> Connection | None:
        self._growing += 1
        conn = self._make()
        try:
            await conn.open(self.limits.connect_timeout)
        except UpstreamError as exc:
            log.warning("MCP upstream %s: extra session failed: %s", self.upstream, exc.message)
            return None
        finally:
            self._growing -= 1
        self.extra.append(conn)
        return conn

    async def reap(self) -> int:
        """End extra sessions idle longer than `idle_timeout`, and dead ones; returns how many."""
        now = time.monotonic()
        keep: list[Connection] = []
        gone: list[Connection] = []
        for conn in self.extra:
            idle = not conn.busy and now - conn.stats.last_used > self.idle_timeout
            (gone if idle or not conn.alive else keep).append(conn)
        self.extra = keep
        for conn in gone:
            await conn.close()
        return len(gone)

    @property
    def idle_for(self) -> float:
        busy = any(c.busy for c in (self.primary, *self.extra) if c is not None)
        return 0.0 if busy else time.monotonic() - self.last_used

    async def aclose(self) -> None:
        await self._set("closed")
        if self._supervisor is not None:
            self._supervisor.cancel()
            with contextlib.suppress(BaseException):
                await self._supervisor
        for conn in (self._opening, self.primary, *self.extra):
            if conn is not None:
                await conn.close()
        self.primary = None
        self.extra = []
