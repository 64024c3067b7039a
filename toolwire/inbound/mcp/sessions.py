"""Handshake-era MCP sessions without a session store: the `Mcp-Session-Id` is the session.

`initialize` seals what the session needs to know (negotiated version, client info and
capabilities, the key it is bound to, its expiry and a random id) into an AES-GCM token under a
key derived from the gateway secret. Any instance sharing the secret can open it; nothing is
stored per session. A token that does not open, has expired, or is presented with another key is
"not found" (HTTP 404), which tells a client to initialize again.

What changes after `initialize` lives in ONE state-backend record per session
(`mcp:session:<id>`, TTL = the token's remaining life), so opening a session for a request is one
read: whether it was ended (HTTP DELETE, or its legacy SSE stream closed), the log level the client
set, and for legacy HTTP+SSE (whose token is sealed before the client's `initialize` arrives) the
negotiated version, client info and capabilities. A session that never changes writes nothing.

A state backend that cannot answer (Redis down, refused, timed out) is `Unavailable` here, the
same answer as an unreachable key store: the session was not judged, so it is neither "not
found" (which would make the client start over) nor a crash (docs/design/store-unavailable.md).

What this module is not: HTTP handling, or authentication (the key is checked by the core on every
request; the session only records which key it belongs to).
"""

from __future__ import annotations

import base64
import binascii
import logging
import os
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field, replace
from typing import Any

import orjson

from toolwire import sealing
from toolwire.core.errors import NotFound, ToolwireError, Unavailable
from toolwire.state import StateBackend

log = logging.getLogger("toolwire.mcp.sessions")

TOKEN_PREFIX = "tws1."
_AAD = b"toolwire mcp session v1"
MAX_TOKEN_CHARS = 4096
"""A presented id longer than this is not ours; refuse it before decoding."""
_MAX_CAPABILITIES_BYTES = 2048
_MAX_INFO_CHARS = 128


@dataclass(frozen=True, slots=True)
class Session:
    """What an `Mcp-Session-Id` carries."""

    id: str
    version: str
    key_id: str
    expires_at: float
    client_info: dict[str, Any] = field(default_factory=dict)
    client_capabilities: dict[str, Any] = field(default_factory=dict)
    log_level: str | None = None
    """Kept in the session's state record, never sealed."""

    def remaining(self, now: float | None = None) -> float:
        return self.expires_at - (time.time() if now is None else now)


class SessionNotFound(NotFound):
    """The presented session id is forged, expired, ended, or belongs to another key (HTTP
    transports answer 404: the client initializes again)."""

    default_message = "session not found: initialize again"


class SessionSealer:
    """Seals and opens session tokens with `toolwire.sealing` (its own HKDF-derived key)."""

    def __init__(self, secret: bytes, *, ttl_s: float) -> None:
        self._sealer = sealing.Sealer(secret, sealing.MCP_SESSION)
        self.ttl_s = ttl_s

    def new(
        self,
        version: str,
        key_id: str,
        client_info: Any = None,
        client_capabilities: Any = None,
        *,
        now: float | None = None,
    ) -> Session:
        started = time.time() if now is None else now
        return Session(
            id=base64.urlsafe_b64encode(os.urandom(12)).decode().rstrip("="),
            version=version,
            key_id=key_id,
            expires_at=float(int(started + self.ttl_s)),
            client_info=_small_info(client_info),
            client_capabilities=_small_capabilities(client_capabilities),
        )

    def seal(self, session: Session) -> str:
        payload = orjson.dumps(
            {
                "s": session.id,
                "v": session.version,
                "k": session.key_id,
                "e": int(session.expires_at),
                "i": session.client_info,
                "c": session.client_capabilities,
            }
        )
        sealed = self._sealer.seal(payload, _AAD)
        return TOKEN_PREFIX + base64.urlsafe_b64encode(sealed).decode().rstrip("=")

    def open(self, token: str, *, now: float | None = None) -> Session:
        """The session in `token`; `SessionNotFound` if it is not a live token of ours."""
        if not token.startswith(TOKEN_PREFIX) or len(token) > MAX_TOKEN_CHARS:
            raise SessionNotFound
        body = token[len(TOKEN_PREFIX) :]
        try:
            raw = base64.urlsafe_b64decode(body + "=" * (-len(body) % 4))
            payload = self._sealer.open(raw, _AAD)
            data = orjson.loads(payload)
            session = Session(
                id=str(data["s"]),
                version=str(data["v"]),
                key_id=str(data["k"]),
                expires_at=float(data["e"]),
                client_info=dict(data["i"]),
                client_capabilities=dict(data["c"]),
            )
        except (binascii.Error, ValueError, KeyError, TypeError):  # SealError is a ValueError
            raise SessionNotFound from None
        if session.remaining(now) <= 0:
            raise SessionNotFound
        return session


class SessionStore:
    """Opening a session for a request (the token, the key binding and the session's one state
    record), keeping what changed, and ending it."""

    def __init__(self, sealer: SessionSealer, state: StateBackend) -> None:
        self.sealer = sealer
        self.state = state

    async def resume(self, token: str, key_id: str) -> Session:
        """The session as last kept; `SessionNotFound` if the token is not a live one of ours
        for this key, or the session was ended; `Unavailable` if the state backend cannot
        answer. One state-backend read."""
        session = self.sealer.open(token)
        if session.key_id != key_id:
            raise SessionNotFound
        async with _reachable():
            raw = await self.state.get(_record_key(session.id))
        if raw is None:
            return session
        record = _record(raw)
        if record.get("ended"):
            raise SessionNotFound
        level = record.get("level")
        return replace(
            session,
            version=str(record.get("version") or session.version),
            client_info=_small_info(record.get("info", session.client_info)),
            client_capabilities=_small_capabilities(
                record.get("capabilities", session.client_capabilities)
            ),
            log_level=level if isinstance(level, str) else None,
        )

    async def keep(self, session: Session) -> None:
        """Store what may change after `initialize` (version, client info and capabilities,
        log level) in the session's record."""
        await self._write(
            session,
            {
                "version": session.version,
                "info": _small_info(session.client_info),
                "capabilities": _small_capabilities(session.client_capabilities),
                "level": session.log_level,
            },
        )

    async def end(self, session: Session) -> None:
        await self._write(session, {"ended": True})

    async def _write(self, session: Session, record: dict[str, Any]) -> None:
        ttl = session.remaining()
        if ttl > 0:
            async with _reachable():
                await self.state.set(_record_key(session.id), orjson.dumps(record), ttl)


@asynccontextmanager
async def _reachable() -> AsyncIterator[None]:
    """Whatever the state backend raises becomes `Unavailable` (its type logged, never its
    text, which may name the server)."""
    try:
        yield
    except ToolwireError:
        raise
    except Exception as exc:
        log.warning("the state backend could not be reached: %s", type(exc).__name__)
        raise Unavailable("the gateway cannot reach its session store; retry later") from exc


def _record_key(session_id: str) -> str:
    return f"mcp:session:{session_id}"


def _record(raw: bytes) -> dict[str, Any]:
    try:
        value = orjson.loads(raw)
    except orjson.JSONDecodeError:
        return {}
    return value if isinstance(value, dict) else {}


def _small_info(info: Any) -> dict[str, Any]:
    """Client info as shown in logs: name, version and title, each bounded."""
    if not isinstance(info, dict):
        return {}
    return {
        k: str(info[k])[:_MAX_INFO_CHARS]
        for k in ("name", "version", "title")
        if isinstance(info.get(k), str)
    }


def _small_capabilities(capabilities: Any) -> dict[str, Any]:
    """Client capabilities, or just their names when the full object is large."""
    if not isinstance(capabilities, dict):
        return {}
    if len(orjson.dumps(capabilities)) <= _MAX_CAPABILITIES_BYTES:
        return capabilities
    return {str(name)[:_MAX_INFO_CHARS]: {} for name in list(capabilities)[:32]}
