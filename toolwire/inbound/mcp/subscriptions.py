"""Which client sessions subscribed to which federated resources, and where updates travel.

    subs = Subscriptions(state, ttl_s)
    await subs.add(session_id, "toolwire://everything/demo://resource/static/document/a.md")
    await subs.holds(session_id, uri)     # the session's GET stream asks, for each update
    await subs.remove(session_id, uri)
    await announce_updated(state, uri)    # the federation's listener (wired in `toolwire.app`)

Handshake era: `resources/subscribe` (any instance) records the namespaced URI in the session's
set, kept in the state backend under `mcp:subs:<session id>` for the session's lifetime, so the
instance holding the session's GET stream (perhaps another one) knows it. An upstream's
`notifications/resources/updated` is published on `UPDATED_CHANNEL` by the instance whose
upstream session received it; every open GET stream (and stdio connection) of every instance
relays it only if its session holds that URI. So an update reaches exactly the subscribed
sessions. At most `MAX_PER_SESSION` URIs per session.

2026-07-28 has no `resources/subscribe`: a `subscriptions/listen` request names its
`resourceSubscriptions` and its stream relays the same channel, filtered by that list
(`streamable_http`).

What this is not: subscribing upstream (`core.federated.Federation.subscribe`) or the streams.
"""

from __future__ import annotations

from typing import Any

import orjson

from toolwire.state import StateBackend

UPDATED_CHANNEL = "mcp:resources-updated"
KEY_PREFIX = "mcp:subs:"
MAX_PER_SESSION = 100


class TooManySubscriptions(Exception):
    """A session already holds `MAX_PER_SESSION` subscriptions."""


class Subscriptions:
    """The subscribed URIs of each client session, in the state backend (shared by instances).
    A read-modify-write per change: two changes racing on one session can lose one (a client
    sends them one at a time; documented in docs/design/mcp-federation-content.md)."""

    def __init__(self, state: StateBackend, ttl_s: float) -> None:
        self._state = state
        self._ttl_s = ttl_s

    async def uris(self, session_id: str) -> list[str]:
        raw = await self._state.get(KEY_PREFIX + session_id)
        if raw is None:
            return []
        try:
            value = orjson.loads(raw)
        except orjson.JSONDecodeError:
            return []
        return [u for u in value if isinstance(u, str)] if isinstance(value, list) else []

    async def add(self, session_id: str, uri: str) -> None:
        """Record `uri` for the session; `TooManySubscriptions` past the bound."""
        held = await self.uris(session_id)
        if uri in held:
            return
        if len(held) >= MAX_PER_SESSION:
            raise TooManySubscriptions(f"a session holds at most {MAX_PER_SESSION} subscriptions")
        await self._store(session_id, [*held, uri])

    async def remove(self, session_id: str, uri: str) -> bool:
        """Forget `uri` for the session; whether it was held."""
        held = await self.uris(session_id)
        if uri not in held:
            return False
        await self._store(session_id, [u for u in held if u != uri])
        return True

    async def holds(self, session_id: str, uri: str) -> bool:
        return uri in await self.uris(session_id)

    async def _store(self, session_id: str, uris: list[str]) -> None:
        await self._state.set(KEY_PREFIX + session_id, orjson.dumps(uris), self._ttl_s)


async def announce_updated(state: StateBackend, uri: str) -> None:
    """Tell every instance's streams that the resource `uri` (namespaced) was updated."""
    await state.publish(UPDATED_CHANNEL, uri.encode())


def updated_frame(uri: str, meta: dict[str, Any] | None = None) -> dict[str, Any]:
    """The notification a subscribed client gets (`meta`: a listen stream's `_meta`)."""
    params: dict[str, Any] = {"uri": uri}
    if meta:
        params["_meta"] = meta
    return {"jsonrpc": "2.0", "method": "notifications/resources/updated", "params": params}
