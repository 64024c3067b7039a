"""What the MCP door's standing streams carry, logged once and fanned out to every instance.

    seq = await announce(state, "tools")                    # the catalog changed
    seq = await announce(state, "resources")                # a federated resource list changed
    seq = await announce(state, "prompts")                  # a federated prompt list changed
    seq = await announce(state, "updated", "toolwire://u/x")  # a subscribed resource changed
    change = parse(message)                                 # a CHANNEL message, or None
    changes = await logged(state)                           # the shared log, oldest first

Every change is appended to one shared event log in the state backend (`EVENT_LOG_KEY`, bounded
to `EVENT_LOG_MAX` entries, expiring `EVENT_LOG_TTL_S` after the last append) and its number and
body published on `CHANNEL`. A handshake-era GET stream (`streamable_http`) names its events by
that number, so a client reconnecting with `Last-Event-ID`, to this instance or another, gets
what it missed (`resume`), resource updates included; every other standing stream (legacy SSE,
stdio, a 2026-07-28 `subscriptions/listen` stream) relays the channel live. Which streams want a
change is theirs to decide: list changes go to every stream that asked for them, a resource
update only to the sessions that subscribed to its URI (`subscriptions`).

What this is not: the streams, the event ids (`resume`), or who subscribed to what.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from toolwire.state import StateBackend

Kind = Literal["tools", "resources", "prompts", "updated"]
KINDS: tuple[Kind, ...] = ("tools", "resources", "prompts", "updated")
LIST_KINDS: tuple[Kind, ...] = ("tools", "resources", "prompts")

CHANNEL = "mcp:changes"
EVENT_LOG_KEY = "mcp:events:changes"
EVENT_LOG_TTL_S = 3600.0
"""How long the shared log outlives its last append (a client away longer misses events)."""
EVENT_LOG_MAX = 1024
"""Entries kept; older ones are trimmed. A list change is idempotent (one is enough to refetch);
resource updates share the log, hence more room than list changes alone would need."""

METHODS: dict[Kind, str] = {
    "tools": "notifications/tools/list_changed",
    "resources": "notifications/resources/list_changed",
    "prompts": "notifications/prompts/list_changed",
    "updated": "notifications/resources/updated",
}
LISTEN_FILTER: dict[Kind, str] = {
    "tools": "toolsListChanged",
    "resources": "resourcesListChanged",
    "prompts": "promptsListChanged",
}
"""The 2026-07-28 `subscriptions/listen` filter key that asks for each list change."""


@dataclass(frozen=True)
class Change:
    """One logged change: its number in the shared log, its kind, and (`updated`) the
    namespaced URI of the resource."""

    seq: int
    kind: Kind
    uri: str = ""

    def frame(self, meta: dict[str, Any] | None = None) -> dict[str, Any]:
        """The JSON-RPC notification a client gets (`meta`: a listen stream's `_meta`)."""
        params: dict[str, Any] = {}
        if self.kind == "updated":
            params["uri"] = self.uri
        if meta:
            params["_meta"] = meta
        message: dict[str, Any] = {"jsonrpc": "2.0", "method": METHODS[self.kind]}
        if params:
            message["params"] = params
        return message


def _body(kind: Kind, uri: str) -> bytes:
    return f"{kind} {uri}".encode() if kind == "updated" else kind.encode()


def _change(seq: int, body: bytes) -> Change | None:
    kind, _, uri = body.decode(errors="replace").partition(" ")
    if kind not in KINDS or (kind == "updated") != bool(uri):
        return None
    return Change(seq, kind, uri)


async def announce(state: StateBackend, kind: Kind, uri: str = "") -> int:
    """Log a change and tell every instance's streams; its sequence number."""
    body = _body(kind, uri)
    seq = await state.append(EVENT_LOG_KEY, body, EVENT_LOG_TTL_S, EVENT_LOG_MAX)
    await state.publish(CHANNEL, str(seq).encode() + b" " + body)
    return seq


def parse(message: bytes) -> Change | None:
    """The change a `CHANNEL` message carries; None for one that is not a change."""
    seq, _, body = message.partition(b" ")
    if not seq.isdigit():
        return None
    return _change(int(seq), body)


async def logged(state: StateBackend, after: int = 0) -> list[Change]:
    """The changes the shared log holds now with a number above `after`, oldest first."""
    found = (_change(seq, body) for seq, body in await state.read_after(EVENT_LOG_KEY, after))
    return [change for change in found if change is not None]
