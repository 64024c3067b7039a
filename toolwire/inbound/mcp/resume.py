"""Resuming the session's GET stream with `Last-Event-ID` (handshake era, 2025-03-26 to 2025-11-25).

What the GET stream carries (list changes of tools, resources and prompts, and updates of the
resources the session subscribed to) lives in one shared event log in the state backend
(`changes`), appended on whichever instance saw the change. So memory stays constant however many
sessions or streams are open, and any instance sharing the backend can resume any stream: a
resumed stream replays the logged list changes after its `Last-Event-ID`, and the logged resource
updates of the URIs its session holds now.

An event id is `<stream-id>:<seq>`: `seq` is the entry's number in the shared log, `stream-id` is
derived from the session's random id (sealed inside `Mcp-Session-Id`) and the stream kind, so ids
are unique across the session's streams and differ between sessions. A `Last-Event-ID` whose
stream id is not this session's GET stream (another session's, a POST stream's, malformed) is
ignored: the stream opens live with nothing replayed, and no other stream's events leak.

POST-response streams carry no event ids (the spec's MAY): a client that loses one does not try to
resume it (the SDKs reconnect only when they saw an id), and the call ends with the connection.

2024-11-05 has no Streamable HTTP and 2026-07-28 has no GET stream and no resumability: neither
gets ids, and both ignore `Last-Event-ID`.

What this is not: the log and the channel (`changes`), or the relay of live events
(`streamable_http`).
"""

from __future__ import annotations

import base64
import hashlib

from toolwire.inbound.mcp import versions

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
    seen since gets all of it (replaying a change twice is harmless, missing one is not).
    """
    if entries and after > entries[-1]:
        return entries
    return [seq for seq in entries if seq > after]
