"""Ephemeral shared state: small, expiring facts that several gateway processes must agree on.

One narrow interface, `StateBackend`, with two implementations chosen by URL (`state_from_url`):

    memory://            in this process only (the default: one machine, zero setup)
    redis://host:6379/0  shared by every instance pointed at the same Redis (rediss:// for TLS)

What lives here: MCP session revocations and per-session log levels, bounded buffers of SSE events
for `Last-Event-ID` resumption, small sets (each MCP session's resource subscriptions), and fan-out
messages between instances (list-changed notifications, cancellations of calls running on another
instance). Every key has a TTL, so nothing grows without bound.

What does not: anything durable (accounts, keys, credits, audit: `toolwire.store`) and anything
that must survive a restart.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager
from typing import Protocol

__all__ = ["StateBackend", "state_from_url"]


class StateBackend(Protocol):
    """Expiring keys, bounded event logs and broadcast channels.

    Values are bytes; callers encode. TTLs are seconds and always required: the backend is for
    facts that expire.
    """

    async def set(self, key: str, value: bytes, ttl_s: float) -> None:
        """Store `value` under `key` for `ttl_s` seconds (overwriting)."""

    async def get(self, key: str) -> bytes | None:
        """The value under `key`, or None when absent or expired."""

    async def append(self, key: str, value: bytes, ttl_s: float, max_len: int) -> int:
        """Append to the log under `key`; return its sequence number (1, 2, ...). The log keeps
        at most `max_len` newest entries and expires `ttl_s` after the last append."""

    async def read_after(self, key: str, after: int) -> list[tuple[int, bytes]]:
        """Entries of the log under `key` with a sequence number above `after`, oldest first."""

    async def set_add(self, key: str, member: bytes, ttl_s: float, max_members: int) -> int:
        """Add `member` to the set under `key` in one atomic step (concurrent adds from any
        instance all land): 1 when added, 0 when it was already there, -1 when the set
        already holds `max_members` (nothing added). The set expires `ttl_s` after the last
        add."""

    async def set_remove(self, key: str, member: bytes) -> bool:
        """Remove `member` from the set under `key` atomically; whether it was there."""

    async def set_members(self, key: str) -> frozenset[bytes]:
        """The members of the set under `key` (empty when absent or expired)."""

    async def set_has(self, key: str, member: bytes) -> bool:
        """Whether the set under `key` holds `member`."""

    async def publish(self, channel: str, message: bytes) -> None:
        """Send `message` to every current subscriber of `channel`, in every instance."""

    def subscribe(self, channel: str) -> AbstractAsyncContextManager[AsyncIterator[bytes]]:
        """Messages published on `channel` from now on, while the context is open."""

    async def close(self) -> None:
        """Release connections; the backend is unusable afterwards."""


def state_from_url(url: str) -> StateBackend:
    """Build the backend a `TOOLWIRE_STATE_URL` names; ValueError for an unknown scheme."""
    scheme = url.partition("://")[0].lower()
    if scheme == "memory":
        from toolwire.state.memory import MemoryState

        return MemoryState()
    if scheme in ("redis", "rediss", "unix"):
        from toolwire.state.redis import RedisState

        return RedisState(url)
    raise ValueError(f"unknown state backend URL {url!r}: use memory:// or redis://host:port/db")
