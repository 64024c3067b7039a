"""`Idempotency-Key`: a retried call returns the first call's outcome and is charged once.

What it is: `SqlIdempotency`, the `toolwire.core.ports.IdempotencyStore` port over the
`idempotency_keys` table. Keys are scoped to the API key that sent them. A claim is one
``INSERT ... ON CONFLICT DO NOTHING``; when the row exists:

- same tool and input (sha256 of the canonical JSON), first call finished -> its stored outcome,
  with `meta.replayed`; the receipt is the first call's (its request id and charge);
- same tool and input, first call still running -> `CONFLICT` with reason ``in_progress``: the
  duplicate is refused at once rather than held (no connection waits on another call; the client
  retries after a moment, as it would after a timeout);
- other tool or input -> `CONFLICT` with reason ``key_reused``;
- expired (older than the window, default 24 h) -> taken over as new.

The outcome is written before the call's charge is settled and names its reservation, so a
process that dies in between leaves a reservation the reconciler charges (the caller has the
result) rather than releases. A process that dies before that leaves a pending claim, which the
reconciler drops with the reservation released, so a retry runs afresh.

What it is not: a response cache (only calls that carry a key are remembered) nor the door's
parsing of the header; only outcomes of calls that reached the upstream are kept. Calls refused
before (no credits, over budget, no credential) give the key up, so a retry can succeed.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Mapping
from datetime import timedelta
from typing import Any

import orjson
from sqlalchemy import and_, delete, select, update
from sqlalchemy.ext.asyncio import AsyncEngine

from toolwire.core.content import block_from_json
from toolwire.core.errors import BY_CODE, Conflict, Internal, InvalidRequest, ToolwireError
from toolwire.core.model import Meta, Outcome, Principal
from toolwire.store._common import upsert_insert, utcnow
from toolwire.store.tables import idempotency_keys

log = logging.getLogger("toolwire.store.idempotency")

MAX_KEY_LENGTH = 255
DEFAULT_WINDOW_S = 24 * 3600.0
_CLAIM_ATTEMPTS = 3

_t = idempotency_keys.c


def check_key(key: str) -> str:
    """A key is 1-255 printable ASCII characters without spaces (a UUID fits)."""
    if not isinstance(key, str) or not key:
        raise InvalidRequest("the Idempotency-Key is empty", details={"reason": "empty"})
    if len(key) > MAX_KEY_LENGTH:
        raise InvalidRequest(
            f"the Idempotency-Key is longer than {MAX_KEY_LENGTH} characters",
            details={"reason": "too_long", "max_length": MAX_KEY_LENGTH},
        )
    if not all("!" <= ch <= "~" for ch in key):
        raise InvalidRequest(
            "the Idempotency-Key must be printable ASCII without spaces",
            details={"reason": "invalid_characters"},
        )
    return key


def fingerprint(tool: str, arguments: Mapping[str, Any]) -> str:
    body = orjson.dumps({"tool": tool, "input": arguments}, option=orjson.OPT_SORT_KEYS)
    return hashlib.sha256(body).hexdigest()


class SqlIdempotency:
    """Claims and outcomes of idempotent calls; see the module docstring for the rules."""

    def __init__(
        self,
        engine: AsyncEngine,
        *,
        window_s: float = DEFAULT_WINDOW_S,
        instance_id: str | None = None,
    ) -> None:
        self._engine = engine
        self.window = timedelta(seconds=window_s)
        self.instance_id = instance_id
        self._insert: Any = (
            upsert_insert(engine, idempotency_keys)
            .on_conflict_do_nothing(index_elements=[_t.key_id, _t.idem_key])
            .returning(_t.key_id)
        )

    async def claim(
        self,
        principal: Principal,
        key: str,
        *,
        tool: str,
        arguments: Mapping[str, Any],
        request_id: str,
    ) -> Outcome | None:
        check_key(key)
        digest = fingerprint(tool, arguments)
        for _ in range(_CLAIM_ATTEMPTS):
            now = utcnow()
            fresh = {
                "fingerprint": digest,
                "state": "pending",
                "request_id": request_id,
                "instance_id": self.instance_id,
                "reservation_id": None,
                "charged": 0,
                "response": None,
                "created_at": now,
                "expires_at": now + self.window,
            }
            async with self._engine.begin() as conn:
                inserted = (
                    await conn.execute(
                        self._insert.values(key_id=principal.key_id, idem_key=key, **fresh)
                    )
                ).first()
                if inserted is not None:
                    return None
                row = (
                    await conn.execute(select(idempotency_keys).where(self._row(principal, key)))
                ).first()
                if row is None:
                    continue  # given up or purged meanwhile: try again
                if row.expires_at <= now:
                    taken = await conn.execute(
                        update(idempotency_keys)
                        .where(self._row(principal, key), _t.expires_at == row.expires_at)
                        .values(**fresh)
                    )
                    if taken.rowcount == 1:
                        return None
                    continue
            if row.fingerprint != digest:
                raise Conflict(
                    "this Idempotency-Key was already used for a different request",
                    details={"reason": "key_reused", "request_id": row.request_id},
                )
            if row.state == "pending":
                raise Conflict(
                    "a call with this Idempotency-Key is still running; retry shortly",
                    details={"reason": "in_progress", "request_id": row.request_id},
                )
            return _replay(row.response)
        raise Conflict(
            "this Idempotency-Key is contended; retry shortly", details={"reason": "in_progress"}
        )

    async def complete(
        self, principal: Principal, key: str, outcome: Outcome, reservation_id: str | None
    ) -> None:
        async with self._engine.begin() as conn:
            await conn.execute(
                update(idempotency_keys)
                .where(
                    self._row(principal, key),
                    _t.request_id == outcome.meta.request_id,
                    _t.state == "pending",
                )
                .values(
                    state="done",
                    response=_dump(outcome),
                    reservation_id=reservation_id,
                    charged=outcome.meta.credits_charged,
                )
            )

    async def abandon(self, principal: Principal, key: str) -> None:
        async with self._engine.begin() as conn:
            await conn.execute(
                delete(idempotency_keys).where(self._row(principal, key), _t.state == "pending")
            )

    # for the reconciler

    async def completed_charges(self, reservation_ids: list[str]) -> dict[str, int]:
        """Reservation id -> charge, for the calls among them whose outcome was kept."""
        found: dict[str, int] = {}
        async with self._engine.connect() as conn:
            for start in range(0, len(reservation_ids), 500):
                chunk = reservation_ids[start : start + 500]
                rows = await conn.execute(
                    select(_t.reservation_id, _t.charged).where(
                        _t.reservation_id.in_(chunk), _t.state == "done"
                    )
                )
                found.update({str(r.reservation_id): int(r.charged) for r in rows})
        return found

    async def drop_pending(self, instance_id: str) -> int:
        """Give up the claims a dead process held: their calls never finished."""
        async with self._engine.begin() as conn:
            result = await conn.execute(
                delete(idempotency_keys).where(_t.instance_id == instance_id, _t.state == "pending")
            )
        return int(result.rowcount or 0)

    async def purge_expired(self) -> int:
        async with self._engine.begin() as conn:
            result = await conn.execute(delete(idempotency_keys).where(_t.expires_at <= utcnow()))
        return int(result.rowcount or 0)

    @staticmethod
    def _row(principal: Principal, key: str) -> Any:
        return and_(_t.key_id == principal.key_id, _t.idem_key == key)


def _dump(outcome: Outcome) -> str:
    meta = outcome.meta
    body = {
        "data": outcome.data,
        "content": None
        if outcome.content is None
        else [block.to_json() for block in outcome.content],
        "error": None if outcome.error is None else outcome.error.to_dict(),
        "meta": {
            "request_id": meta.request_id,
            "tool": meta.tool,
            "credits_charged": meta.credits_charged,
            "balance": meta.balance,
            "latency_ms": meta.latency_ms,
            "credential_source": meta.credential_source,
            "low_balance": meta.low_balance,
            "capped": None if meta.capped is None else dict(meta.capped),
        },
    }
    return orjson.dumps(body, option=orjson.OPT_NON_STR_KEYS).decode()


def _replay(response: str | None) -> Outcome:
    if response is None:  # a done row always has one; be safe
        return Outcome(Meta(request_id="", replayed=True), error=Internal())
    body = orjson.loads(response)
    meta = Meta(**body["meta"], replayed=True)
    error: ToolwireError | None = None
    if body["error"] is not None:
        raw = body["error"]
        error = BY_CODE.get(raw["code"], Internal)(raw.get("message"), details=raw.get("details"))
    raw_content = body.get("content")
    content = None if raw_content is None else tuple(block_from_json(b) for b in raw_content)
    return Outcome(meta, body["data"], error, content)
