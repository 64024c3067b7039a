"""The billing services one gateway process runs beside its `Store`, and their upkeep loop.

What it is: `Billing`, built once in the app's lifespan: this process's `Instances` row (so its
reservations can be traced to it), `SqlIdempotency`, `ByokStore`, `UsageReport`, and the
administration of key budgets and account low-balance thresholds. `start()` registers the
process and, before the first call is served, resolves whatever processes known to be dead left
open (`recover()`); `run_forever()` then beats the heartbeat, recovers again, releases stale
reservations and purges expired idempotency keys; `stop()` unregisters after the ledger flushed.

What it is not: the call path (the core's `Gateway` uses the ports these implement) nor the
money itself (`SqlLedger`).
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select, update

from toolwire.billing.instances import DEAD_AFTER_S, HEARTBEAT_S, Instances
from toolwire.core.errors import InvalidRequest, NotFound
from toolwire.core.model import micro_to_credits
from toolwire.store import Store
from toolwire.store._common import utcnow
from toolwire.store.boundary import guard
from toolwire.store.budgets import spent_now
from toolwire.store.byok import ByokStore
from toolwire.store.idempotency import DEFAULT_WINDOW_S, SqlIdempotency
from toolwire.store.tables import accounts, api_keys
from toolwire.store.usage import UsageReport

log = logging.getLogger("toolwire.billing")

STALE_EVERY_S = 60.0
PURGE_EVERY_S = 600.0


@dataclass(frozen=True, slots=True)
class Recovery:
    """What one `recover()` did."""

    instances: int = 0
    charged: int = 0
    released: int = 0
    claims_dropped: int = 0


class Billing:
    def __init__(
        self,
        store: Store,
        secret_key: bytes,
        *,
        idempotency_window_s: float = DEFAULT_WINDOW_S,
        heartbeat_s: float = HEARTBEAT_S,
        dead_after_s: float = DEAD_AFTER_S,
        on_secret: Any = None,
    ) -> None:
        self.store = store
        self.instances = Instances(store.engine, heartbeat_s=heartbeat_s, dead_after_s=dead_after_s)
        store.ledger.instance_id = self.instances.id
        self.idempotency = guard(
            SqlIdempotency(
                store.engine, window_s=idempotency_window_s, instance_id=self.instances.id
            ),
            "idempotency",
        )
        self.byok = guard(ByokStore(store.engine, secret_key, on_value=on_secret), "byok")
        self.usage = guard(UsageReport(store.engine), "usage")

    async def start(self) -> Recovery:
        """Register this process, then recover what dead ones left (before serving)."""
        await self.instances.register()
        return await self.recover()

    async def stop(self) -> None:
        """Unregister; call after the ledger has flushed (nothing of this process stays open)."""
        try:
            await self.instances.unregister()
        except Exception:
            log.warning("could not unregister instance %s", self.instances.id, exc_info=True)

    async def recover(self) -> Recovery:
        """Resolve the open reservations and pending claims of every process known dead."""
        total = Recovery()
        for dead in await self.instances.dead():
            charged, released = await self.store.ledger.resolve_orphans(
                dead, self.idempotency.completed_charges
            )
            dropped = await self.idempotency.drop_pending(dead)
            await self.instances.forget(dead)
            log.warning(
                "instance %s is gone: charged %d and released %d of its reservations, "
                "dropped %d pending idempotency claims",
                dead, charged, released, dropped,
            )  # fmt: skip
            total = Recovery(
                total.instances + 1,
                total.charged + charged,
                total.released + released,
                total.claims_dropped + dropped,
            )
        return total

    async def run_forever(self) -> None:
        """Heartbeat and recovery every `heartbeat_s`; stale reservations and expired keys less
        often. Never raises (each failure is logged and retried on the next round)."""
        last_stale = last_purge = -STALE_EVERY_S - PURGE_EVERY_S  # both run on the first round
        while True:
            now = time.monotonic()
            try:
                await self.instances.beat()
                await self.recover()
                if now - last_stale >= STALE_EVERY_S:
                    last_stale = now
                    released = await self.store.ledger.reconcile()
                    if released:
                        log.warning("released %d stale reservations", released)
                if now - last_purge >= PURGE_EVERY_S:
                    last_purge = now
                    await self.idempotency.purge_expired()
            except Exception:
                log.exception("billing upkeep failed; retrying next round")
            await asyncio.sleep(self.instances.heartbeat_s)

    # administration

    async def set_budget(self, key_id: str, hour: int | None, day: int | None) -> dict[str, Any]:
        """Set (or clear, with None) a key's hourly and daily caps, in micro-credits. The key
        cache is not touched here: `toolwire.core.admin.Admin` invalidates it."""
        for value in (hour, day):
            if value is not None and (isinstance(value, bool) or not isinstance(value, int)):
                raise InvalidRequest("a budget is an integer of micro-credits")
            if value is not None and value < 0:
                raise InvalidRequest("a budget cannot be negative")
        async with self.store.engine.begin() as conn:
            result = await conn.execute(
                update(api_keys)
                .where(api_keys.c.id == key_id)
                .values(budget_hour=hour, budget_day=day)
            )
            if result.rowcount != 1:
                raise NotFound("no such API key", details={"key_id": key_id})
        return await self.budget(key_id)

    async def budget(self, key_id: str) -> dict[str, Any]:
        """A key's caps and what it has spent in the current hour and day."""
        async with self.store.engine.connect() as conn:
            row = (
                await conn.execute(
                    select(api_keys.c.budget_hour, api_keys.c.budget_day).where(
                        api_keys.c.id == key_id
                    )
                )
            ).first()
            if row is None:
                raise NotFound("no such API key", details={"key_id": key_id})
            spent = await spent_now(conn, key_id, utcnow())

        def credits(value: int | None) -> float | int | None:
            return None if value is None else micro_to_credits(value)

        return {
            "key_id": key_id,
            "hour": credits(row.budget_hour),
            "day": credits(row.budget_day),
            "spent_hour": credits(spent["hour"]),
            "spent_day": credits(spent["day"]),
        }

    async def set_low_balance(self, account_id: str, threshold: int | None) -> None:
        """Set (or clear) the balance at or below which receipts say `low_balance: true`."""
        if threshold is not None and (
            isinstance(threshold, bool) or not isinstance(threshold, int) or threshold < 0
        ):
            raise InvalidRequest("low_balance must be a non-negative integer of micro-credits")
        async with self.store.engine.begin() as conn:
            result = await conn.execute(
                update(accounts).where(accounts.c.id == account_id).values(low_balance=threshold)
            )
            if result.rowcount != 1:
                raise NotFound("no such account", details={"account_id": account_id})
