"""The `requestState` of a parked request (MCP 2026-07-28 multi round-trip requests).

When toolwire answers a 2026-07-28 `tools/call`, `prompts/get` or `resources/read` with
`resultType: "input_required"`, the `requestState` it gives the client is a sealed `RoundState`
(AES-256-GCM under a key of its own derived from the gateway secret, `toolwire.sealing`): which
parked request, which round, which instance holds it, and until when. Its associated data binds
it to the API key, the account and the request's `Subject` (method, tool or prompt name or
resource URI, and a digest of the arguments), so a state presented with another key, on another
method, for another tool, prompt or resource, or with other arguments does not open at all.
Single use and "the request is still there" are the owner's to check (`rounds.Rounds`): the
state names round N, and round N is answered once.

    sealer = RoundSealer(secret)
    subject = Subject("tools/call", "fx.ask", arguments)
    token = sealer.seal(RoundState(call="...", round=1, owner="...", expires=...), principal,
                        subject)                                 # "twrs1.<base64url>"
    state = sealer.open(token, principal, subject)               # RpcError(-32602) if not ours

Spec: MCP 2026-07-28, basic/patterns/mrtr (the server's `requestState` is opaque to the
client, which passes it back verbatim; servers must not trust it unprotected, and should bind
it to the principal, an expiry, and "the method name and a digest of its salient parameters").
What this is not: the parked call itself, nor the relay between instances.
"""

from __future__ import annotations

import base64
import hashlib
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import orjson

from toolwire.core.model import Principal
from toolwire.inbound.mcp.jsonrpc import INVALID_PARAMS, RpcError
from toolwire.sealing import Sealer, SealError

PURPOSE = b"toolwire mcp request state"
"""The HKDF `info` of request states: a session id never opens as one, nor the reverse."""
PREFIX = "twrs1."
MAX_TOKEN_CHARS = 1024

NOT_OURS = (
    "requestState does not belong to this call (another key, method, tool, prompt, resource or "
    "arguments, or forged)"
)
EXPIRED = "requestState has expired: send the request again without it"


@dataclass(frozen=True, slots=True)
class Subject:
    """What a request state is bound to: the request's method (`tools/call`, `prompts/get`,
    `resources/read`), its target as the client named it (tool name, prompt name, resource
    URI) and its arguments (`{}` for a resource)."""

    method: str
    name: str
    arguments: Mapping[str, Any]


@dataclass(frozen=True, slots=True)
class RoundState:
    """One `input_required` round of one parked call.

    call:    the parked call's random id (128 bits, hex)
    round:   1, 2, ...: each round's state is answered once
    owner:   the instance holding the call (its relay channel's name)
    expires: Unix time (seconds) after which the state is refused
    """

    call: str
    round: int
    owner: str
    expires: float


def digest(arguments: Mapping[str, Any]) -> str:
    """A short digest of the canonical JSON of `arguments` (sorted keys)."""
    data = orjson.dumps(dict(arguments), option=orjson.OPT_SORT_KEYS)
    return hashlib.blake2b(data, digest_size=16).hexdigest()


def _aad(principal: Principal, subject: Subject) -> bytes:
    # the name is the only free-form field, and the fixed-length digest follows it
    return "\n".join(
        (
            "requestState",
            subject.method,
            principal.key_id,
            principal.account_id,
            subject.name,
            digest(subject.arguments),
        )
    ).encode()


class RoundSealer:
    """Seals and opens `RoundState`s under the gateway secret."""

    def __init__(self, secret: bytes) -> None:
        self._sealer = Sealer(secret, PURPOSE)

    def seal(self, state: RoundState, principal: Principal, subject: Subject) -> str:
        plain = orjson.dumps([state.call, state.round, state.owner, state.expires])
        sealed = self._sealer.seal(plain, _aad(principal, subject))
        return PREFIX + base64.urlsafe_b64encode(sealed).decode("ascii").rstrip("=")

    def open(self, token: Any, principal: Principal, subject: Subject) -> RoundState:
        """The state `token` seals; `RpcError(INVALID_PARAMS)` when it is not a request state
        of this key, account and subject, or has expired."""
        if not isinstance(token, str) or not token.startswith(PREFIX):
            raise RpcError(INVALID_PARAMS, NOT_OURS)
        if len(token) > MAX_TOKEN_CHARS:
            raise RpcError(INVALID_PARAMS, NOT_OURS)
        body = token[len(PREFIX) :]
        try:
            raw = base64.urlsafe_b64decode(body + "=" * (-len(body) % 4))
            call, number, owner, expires = orjson.loads(
                self._sealer.open(raw, _aad(principal, subject))
            )
        except (SealError, ValueError, TypeError):
            raise RpcError(INVALID_PARAMS, NOT_OURS) from None
        if float(expires) < time.time():
            raise RpcError(INVALID_PARAMS, EXPIRED)
        return RoundState(str(call), int(number), str(owner), float(expires))
