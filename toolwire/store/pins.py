"""`PinStore`: the `upstream_pins` table behind `toolwire.core.pins.PinBook`.

One row per (upstream, tool): the approved hash and definition (JSON of
`UpstreamToolDefinition.hashed_fields`, for diffs), and the candidate an upstream reports that
is not approved (held). Every instance writes and reads the same rows, so all agree. First
sight is an `INSERT ... ON CONFLICT DO NOTHING`, so two instances starting together record it
once; after that, only a changed definition writes.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import orjson
from sqlalchemy import Row, select, update
from sqlalchemy.ext.asyncio import AsyncEngine

from toolwire.core.pins import (
    PinPolicy,
    PinRecord,
    UpstreamToolDefinition,
    Verdict,
    canonical_json,
)
from toolwire.store._common import upsert_insert, utcnow
from toolwire.store.tables import upstream_pins


class PinStore:
    """Pins over one engine (`PinBook` port)."""

    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine

    async def observe(
        self, definition: UpstreamToolDefinition, digest: str, policy: PinPolicy
    ) -> Verdict:
        """Record what the upstream reports now and say what it means (see `Verdict`)."""
        if policy.mode == "off":
            return "unpinned"
        body = canonical_json(definition.hashed_fields()).decode()
        now = utcnow()
        key = (upstream_pins.c.upstream == definition.upstream) & (
            upstream_pins.c.tool == definition.tool
        )
        first_approve = policy.mode == "auto" or policy.first_sight == "approve"
        values: dict[str, Any] = {"upstream": definition.upstream, "tool": definition.tool}
        if first_approve:
            values |= {"approved_hash": digest, "approved_definition": body, "approved_at": now}
        else:
            values |= {"candidate_hash": digest, "candidate_definition": body, "seen_at": now}
        async with self._engine.begin() as conn:
            inserted = await conn.execute(
                upsert_insert(self._engine, upstream_pins).values(**values).on_conflict_do_nothing()
            )
            if inserted.rowcount:
                return "first_sight_approved" if first_approve else "first_sight_held"
            row = (await conn.execute(select(upstream_pins).where(key))).one()
            if row.approved_hash == digest:
                if row.candidate_hash is not None:  # the upstream went back to what was approved
                    await conn.execute(
                        update(upstream_pins)
                        .where(key)
                        .values(candidate_hash=None, candidate_definition=None)
                    )
                return "approved"
            if policy.mode == "auto":
                await conn.execute(
                    update(upstream_pins)
                    .where(key)
                    .values(
                        approved_hash=digest,
                        approved_definition=body,
                        approved_at=now,
                        candidate_hash=None,
                        candidate_definition=None,
                    )
                )
                return "auto_accepted"
            if row.candidate_hash != digest:
                await conn.execute(
                    update(upstream_pins)
                    .where(key)
                    .values(candidate_hash=digest, candidate_definition=body, seen_at=now)
                )
            return "first_sight_held" if row.approved_hash is None else "held"

    async def approved_hashes(self) -> dict[tuple[str, str], str]:
        query = select(
            upstream_pins.c.upstream, upstream_pins.c.tool, upstream_pins.c.approved_hash
        )
        async with self._engine.connect() as conn:
            rows = await conn.execute(query.where(upstream_pins.c.approved_hash.is_not(None)))
            return {(r.upstream, r.tool): r.approved_hash for r in rows}

    async def records(self, upstream: str | None = None) -> list[PinRecord]:
        query = select(upstream_pins).order_by(upstream_pins.c.upstream, upstream_pins.c.tool)
        if upstream is not None:
            query = query.where(upstream_pins.c.upstream == upstream)
        async with self._engine.connect() as conn:
            return [_record(row) for row in await conn.execute(query)]

    async def approve(self, upstream: str, tool: str | None = None) -> list[PinRecord]:
        """Make each held candidate of `upstream` (of `tool` only, when given) the approved
        definition; returns the records as approved now."""
        query = select(upstream_pins).where(
            upstream_pins.c.upstream == upstream, upstream_pins.c.candidate_hash.is_not(None)
        )
        if tool is not None:
            query = query.where(upstream_pins.c.tool == tool)
        done = []
        async with self._engine.begin() as conn:
            for row in await conn.execute(query):
                await conn.execute(
                    update(upstream_pins)
                    .where(
                        upstream_pins.c.upstream == row.upstream,
                        upstream_pins.c.tool == row.tool,
                        upstream_pins.c.candidate_hash == row.candidate_hash,
                    )
                    .values(
                        approved_hash=row.candidate_hash,
                        approved_definition=row.candidate_definition,
                        approved_at=utcnow(),
                        candidate_hash=None,
                        candidate_definition=None,
                    )
                )
                done.append(
                    PinRecord(
                        row.upstream,
                        row.tool,
                        row.candidate_hash,
                        _json(row.candidate_definition),
                        None,
                        None,
                        approved_at=utcnow().timestamp(),
                    )
                )
        return done


def _json(text: str | None) -> Any:
    return None if text is None else orjson.loads(text)


def _ts(value: datetime | None) -> float | None:
    return None if value is None else value.timestamp()


def _record(row: Row[Any]) -> PinRecord:
    return PinRecord(
        upstream=row.upstream,
        tool=row.tool,
        approved_hash=row.approved_hash,
        approved=_json(row.approved_definition),
        candidate_hash=row.candidate_hash,
        candidate=_json(row.candidate_definition),
        approved_at=_ts(row.approved_at),
        seen_at=_ts(row.seen_at),
    )
