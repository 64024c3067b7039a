"""Which client sessions subscribed to which federated resources, and where updates travel.

    subs = Subscriptions(state, ttl_s)
    await subs.add(session_id, "toolwire://everything/demo://resource/static/document/a.md")
    await subs.holds(session_id, uri)     # the session's GET stream asks, for each update
    await subs.remove(session_id, uri)
    await announce_updated(state, uri)    # the federation's listener (wired in `toolwire.app`)

Handshake era: `resources/subscribe` (any instance) records the namespaced URI in the session's
set, an atomic set in the state backend under `mcp:subset:<session id>` for the session's lifetime,
so the instance holding the session's GET stream (perhaps another one) knows it. An upstream's
`notifications/resources/updated` is logged and published (`changes`) by the instance whose
upstream session received it; every open GET stream (and legacy SSE stream, and stdio connection)
of every instance relays it only if its session holds that URI, and a GET stream resumed with
`Last-Event-ID` replays the logged ones its session holds. So an update reaches exactly the
subscribed sessions. At most `MAX_PER_SESSION` URIs per session.

2026-07-28 has no `resources/subscribe`: a `subscriptions/listen` request names its
`resourceSubscriptions` and its stream relays the same channel, filtered by that list
(`streamable_http`).

What this is not: subscribing upstream (`core.federated.Federation.subscribe`) or the streams.
"""

from __future__ import annotations

from typing import Any

from toolwire.inbound.mcp import changes
from toolwire.state import StateBackend

KEY_PREFIX = "mcp:subset:"
"""A set per session (the earlier `mcp:subs:` held a JSON list, rewritten per change)."""
MAX_PER_SESSION = 100


class TooManySubscriptions(Exception):
    """A session already holds `MAX_PER_SESSION` subscriptions."""


class Subscriptions:
    """The subscribed URIs of each client session, in the state backend (shared by instances).
    One atomic set per session (`StateBackend.set_add`: a Redis set, bound checked in a Lua
    script), so concurrent subscribes from any instances all survive and the bound holds."""

    def __init__(self, state: StateBackend, ttl_s: float) -> None:
        self._state = state
        self._ttl_s = ttl_s

    async def uris(self, session_id: str) -> list[str]:
        """The session's subscribed URIs, sorted."""
        members = await self._state.set_members(KEY_PREFIX + session_id)
        return sorted(m.decode(errors="replace") for m in members)

    async def add(self, session_id: str, uri: str) -> None:
        """Record `uri` for the session; `TooManySubscriptions` past the bound."""
        added = await self._state.set_add(
            KEY_PREFIX + session_id, uri.encode(), self._ttl_s, MAX_PER_SESSION
        )
        if added < 0:
            raise TooManySubscriptions(f"a session holds at most {MAX_PER_SESSION} subscriptions")

    async def remove(self, session_id: str, uri: str) -> bool:
        """Forget `uri` for the session; whether it was held."""
        return await self._state.set_remove(KEY_PREFIX + session_id, uri.encode())

    async def holds(self, session_id: str, uri: str) -> bool:
        return await self._state.set_has(KEY_PREFIX + session_id, uri.encode())


async def announce_updated(state: StateBackend, uri: str) -> None:
    """Tell every instance's streams that the resource `uri` (namespaced) was updated, and log
    it for streams that resume later (`changes`)."""
    await changes.announce(state, "updated", uri)


def updated_frame(uri: str, meta: dict[str, Any] | None = None) -> dict[str, Any]:
    """The notification a subscribed client gets (`meta`: a listen stream's `_meta`)."""
    return changes.Change(0, "updated", uri).frame(meta)
