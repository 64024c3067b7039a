"""`redis://`: the state backend shared by every gateway instance pointed at one Redis.

Keys are prefixed `toolwire:`. An event log is a Redis list of `<seq>:<value>` entries beside a
sequence counter, appended, trimmed and re-armed in one Lua script so that concurrent appends from
two instances never reuse a number. A set (`set_add`) is a Redis set whose bound is checked and
member added in one Lua script, so concurrent adds are neither lost nor over the bound. Channels
use Redis pub/sub over one connection per process, fanned out locally to every subscriber, so a
thousand open streams cost one connection.

Redis pub/sub ignores the database number: two deployments sharing a Redis server through
different databases (`redis://h/1`, `redis://h/2`) would hear each other's reloads and
`tools/list_changed`. A channel's name therefore carries the database (`channel_prefix`), except
database 0's, which keeps the `toolwire:` prefix earlier releases used.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from typing import Any

import redis.asyncio as aioredis

log = logging.getLogger("toolwire.state")

PREFIX = "toolwire:"
_SUBSCRIBER_QUEUE = 1024

_APPEND = """
local seq = redis.call('INCR', KEYS[2])
redis.call('RPUSH', KEYS[1], seq .. ':' .. ARGV[1])
redis.call('LTRIM', KEYS[1], -tonumber(ARGV[3]), -1)
redis.call('PEXPIRE', KEYS[1], ARGV[2])
redis.call('PEXPIRE', KEYS[2], ARGV[2])
return seq
"""


_SET_ADD = """
if redis.call('SISMEMBER', KEYS[1], ARGV[1]) == 1 then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  return 0
end
if redis.call('SCARD', KEYS[1]) >= tonumber(ARGV[3]) then
  return -1
end
redis.call('SADD', KEYS[1], ARGV[1])
redis.call('PEXPIRE', KEYS[1], ARGV[2])
return 1
"""
"""Check the bound and add in one script, so concurrent adds neither overshoot nor get lost."""


def channel_prefix(db: int) -> str:
    """The pub/sub prefix of database `db`: `toolwire:` for 0, `toolwire:db<N>:` otherwise."""
    return PREFIX if db == 0 else f"{PREFIX}db{db}:"


COMMAND_TIMEOUT_S = 2.0
"""Deadline of one command (connect, send, read), seconds."""


class RedisState:
    """`StateBackend` over redis-py's asyncio client."""

    def __init__(self, url: str) -> None:
        # Every command has a deadline: a Redis that accepts and never answers must not hang a
        # request (the caller turns the timeout into `Unavailable`). Options in the URL win.
        self._redis: Any = aioredis.from_url(  # type: ignore[no-untyped-call]
            url, socket_timeout=COMMAND_TIMEOUT_S, socket_connect_timeout=COMMAND_TIMEOUT_S
        )
        self._append = self._redis.register_script(_APPEND)
        self._set_add = self._redis.register_script(_SET_ADD)
        db = int(self._redis.connection_pool.connection_kwargs.get("db") or 0)
        self._channel_prefix = channel_prefix(db)
        self._channels: dict[str, set[asyncio.Queue[bytes | None]]] = {}
        self._pubsub: Any = None
        self._reader: asyncio.Task[None] | None = None
        self._lock = asyncio.Lock()
        self._listening = asyncio.Event()

    async def set(self, key: str, value: bytes, ttl_s: float) -> None:
        await self._redis.set(PREFIX + key, value, px=max(1, int(ttl_s * 1000)))

    async def get(self, key: str) -> bytes | None:
        value = await self._redis.get(PREFIX + key)
        return None if value is None else bytes(value)

    async def append(self, key: str, value: bytes, ttl_s: float, max_len: int) -> int:
        keys = [PREFIX + key, PREFIX + key + ":seq"]
        seq = await self._append(keys=keys, args=[value, max(1, int(ttl_s * 1000)), max_len])
        return int(seq)

    async def read_after(self, key: str, after: int) -> list[tuple[int, bytes]]:
        entries = await self._redis.lrange(PREFIX + key, 0, -1)
        found = []
        for raw in entries:
            seq_text, _, value = bytes(raw).partition(b":")
            seq = int(seq_text)
            if seq > after:
                found.append((seq, value))
        return found

    async def set_add(self, key: str, member: bytes, ttl_s: float, max_members: int) -> int:
        ttl_ms = max(1, int(ttl_s * 1000))
        return int(await self._set_add(keys=[PREFIX + key], args=[member, ttl_ms, max_members]))

    async def set_remove(self, key: str, member: bytes) -> bool:
        return bool(await self._redis.srem(PREFIX + key, member))

    async def set_members(self, key: str) -> frozenset[bytes]:
        return frozenset(bytes(m) for m in await self._redis.smembers(PREFIX + key))

    async def set_has(self, key: str, member: bytes) -> bool:
        return bool(await self._redis.sismember(PREFIX + key, member))

    async def publish(self, channel: str, message: bytes) -> None:
        await self._redis.publish(self._channel_prefix + channel, message)

    @contextlib.asynccontextmanager
    async def subscribe(self, channel: str) -> AsyncIterator[AsyncIterator[bytes]]:
        queue: asyncio.Queue[bytes | None] = asyncio.Queue(_SUBSCRIBER_QUEUE)
        async with self._lock:
            await self._ensure_reader()
            subscribers = self._channels.setdefault(channel, set())
            if not subscribers:
                await self._pubsub.subscribe(self._channel_prefix + channel)
            subscribers.add(queue)
            self._listening.set()
        try:
            yield _drain(queue)
        finally:
            async with self._lock:
                subscribers = self._channels.get(channel, set())
                subscribers.discard(queue)
                if not subscribers:
                    self._channels.pop(channel, None)
                    if not self._channels:
                        self._listening.clear()
                    with contextlib.suppress(Exception):
                        await self._pubsub.unsubscribe(self._channel_prefix + channel)

    async def close(self) -> None:
        for subscribers in self._channels.values():
            for queue in subscribers:
                if queue.full():
                    queue.get_nowait()
                queue.put_nowait(None)
        if self._reader is not None:
            self._reader.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._reader
        if self._pubsub is not None:
            await self._pubsub.aclose()
        await self._redis.aclose()

    async def _ensure_reader(self) -> None:
        if self._pubsub is None:
            self._pubsub = self._redis.pubsub(ignore_subscribe_messages=True)
        if self._reader is None or self._reader.done():
            self._reader = asyncio.create_task(self._read_forever(), name="toolwire-redis-pubsub")

    async def _read_forever(self) -> None:
        while True:
            try:
                await self._listening.wait()
                message = await self._pubsub.get_message(timeout=1.0)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("redis pub/sub read failed; retrying")
                await asyncio.sleep(0.5)
                continue
            if message is None or message.get("type") != "message":
                continue
            channel = bytes(message["channel"]).decode()[len(self._channel_prefix) :]
            data = bytes(message["data"])
            for queue in self._channels.get(channel, ()):
                if queue.full():
                    queue.get_nowait()
                queue.put_nowait(data)


async def _drain(queue: asyncio.Queue[bytes | None]) -> AsyncIterator[bytes]:
    while (message := await queue.get()) is not None:
        yield message
