"""Resuming the session's GET stream with `Last-Event-ID` (handshake era, 2025-03-26 to 2025-11-25).

What the GET stream carries is the same for every session: `notifications/tools/list_changed`. So
the events live in one shared log in the state backend (`EVENT_LOG_KEY`), appended by
`Runtime.tools_changed()` on whichever instance saw the change, bounded to `EVENT_LOG_MAX` entries
and expiring `EVENT_LOG_TTL_S` after the last append. Memory therefore stays constant however many
sessions or streams are open, and any instance sharing the backend can resume any stream.

An event id is `<stream-id>:<seq>`: `seq` is the entry's number in the shared log, `stream-id` is
derived from the session's random id (sealed inside `Mcp-Session-Id`) and the stream kind, so ids
are unique across the session's streams and differ between sessions. A `Last-Event-ID` whose
stream id is not this session's GET stream (another session's, a POST stream's, malformed) is
ignored: the stream opens live with nothing replayed, and no other stream's events leak.

POST-response streams carry no event ids (the spec's MAY): a client that loses one does not try to
resume it (the SDKs reconnect only when they saw an id), and the call ends with the connection.

2024-11-05 has no Streamable HTTP and 2026-07-28 has no GET stream and no resumability: neither
gets ids, and both ignore `Last-Event-ID`.

What this is not: the relay of live events (`streamable_http`), or the state backend.
"""

from __future__ import annotations

import base64
import hashlib

from toolwire.inbound.mcp import versions
from toolwire.state import StateBackend

EVENT_LOG_KEY = "mcp:events:tools-changed"
EVENT_LOG_TTL_S = 3600.0
"""How long the shared log outlives its last append (a client away longer misses events)."""
EVENT_LOG_MAX = 256
"""Entries kept; older ones are trimmed (list_changed is idempotent: one is enough to refetch)."""
MAX_EVENT_ID_CHARS = 64
FIRST_RESUMABLE = "2025-03-26"


def resumable(version: str) -> bool:
    """Whether a session of `version` gets event ids and honours `Last-Event-ID` on GET."""
    return versions.at_least(version, FIRST_RESUMABLE) and not versions.is_modern(version)


def primes(version: str) -> bool:
    """2025-11-25 says a stream SHOULD start with an event carrying an id and empty data."""
    return versions.at_least(version, "2025-11-25") and not versions.is_modern(version)


def get_stream_id(session_id: str) -> str:
    """The id of a session's GET stream: visible ASCII, no `:`, not reversible to the session."""
    digest = hashlib.sha256(b"toolwire mcp get stream\0" + session_id.encode()).digest()
    return "g" + base64.urlsafe_b64encode(digest[:12]).decode()


def event_id(stream_id: str, seq: int) -> str:
    return f"{stream_id}:{seq}"


def resume_after(last_event_id: str | None, stream_id: str) -> int | None:
    """The sequence number to replay after, or None when `last_event_id` is absent, malformed,
    or names another stream (which must not be replayed here)."""
    if last_event_id is None or len(last_event_id) > MAX_EVENT_ID_CHARS:
        return None
    stream, sep, seq = last_event_id.strip().rpartition(":")
    if not sep or stream != stream_id or not seq.isascii() or not seq.isdigit():
        return None
    return int(seq)


def missed(entries: list[int], after: int) -> list[int]:
    """The sequence numbers to replay from the log's current `entries` (oldest first).

    A log that expired restarts at 1; a client holding a number above everything the log has
    seen since gets all of it (replaying a list_changed twice is harmless, missing one is not).
    """
    if entries and after > entries[-1]:
        return entries
    return [seq for seq in entries if seq > after]


async def log_change(state: StateBackend) -> int:
    """Append a list-changed event to the shared log; its sequence number."""
    return await state.append(EVENT_LOG_KEY, b"tools", EVENT_LOG_TTL_S, EVENT_LOG_MAX)


async def logged_changes(state: StateBackend) -> list[int]:
    """The sequence numbers the shared log holds now, oldest first."""
    return [seq for seq, _ in await state.read_after(EVENT_LOG_KEY, 0)]
