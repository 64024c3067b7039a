"""Which gateway processes are alive: a row per process, a heartbeat, and a verdict on the dead
(the billing upkeep's crash recovery, beside the store rather than in it).

What it is: `Instances`, over the `gateway_instances` table. A process registers at start with
a fresh id, its host name and pid, and beats every `heartbeat_s`. Another process (or the same
deployment restarted) judges an instance dead when either

- it runs on this same host (and pid namespace) and its pid no longer exists (known at once:
  this is the path a `kill -9` followed by a restart takes, so the restart resolves the dead
  process's reservations before it serves its first call), or
- its heartbeat is older than `dead_after_s` (any host: a machine that vanished).

The reservations a dead process left open are then resolved by `SqlLedger.resolve_orphans`, its
pending idempotency claims dropped, and its row deleted (see `toolwire.billing`). A clean
shutdown deletes its own row after the ledger has flushed.

What it is not: a lock service or leader election. A process judged dead by heartbeat while
still alive (a stall longer than `dead_after_s`) only loses money for the operator, never for a
caller: its open reservations are released, and its later settles are ignored as duplicates.
"""

from __future__ import annotations

import os
import socket
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, insert, select, update
from sqlalchemy.ext.asyncio import AsyncEngine

from toolwire.store._common import utcnow
from toolwire.store.keys import random_id
from toolwire.store.tables import gateway_instances

HEARTBEAT_S = 5.0
DEAD_AFTER_S = 30.0


@dataclass(frozen=True, slots=True)
class InstanceInfo:
    id: str
    host: str
    pid: int
    started_at: datetime
    heartbeat_at: datetime


def new_instance_id() -> str:
    return "gw_" + random_id(16)


def host_identity() -> str:
    """Where pids mean the same thing: host name, kernel boot and pid namespace (two containers
    with one host name never judge each other's pids)."""
    parts = [socket.gethostname()]
    try:
        with open("/proc/sys/kernel/random/boot_id") as boot:
            parts.append(boot.read().strip()[:8])
        parts.append(str(os.stat("/proc/self/ns/pid").st_ino))
    except OSError:
        pass
    return "/".join(parts)


def pid_alive(pid: int) -> bool:
    """Whether a process with this pid exists on this host."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # it exists, under another user
    return True


class Instances:
    """This process's row in `gateway_instances`, and the verdict on the others."""

    def __init__(
        self,
        engine: AsyncEngine,
        instance_id: str | None = None,
        *,
        heartbeat_s: float = HEARTBEAT_S,
        dead_after_s: float = DEAD_AFTER_S,
    ) -> None:
        self._engine = engine
        self.id = instance_id or new_instance_id()
        self.host = host_identity()
        self.pid = os.getpid()
        self.heartbeat_s = heartbeat_s
        self.dead_after_s = dead_after_s

    async def register(self) -> None:
        now = utcnow()
        async with self._engine.begin() as conn:
            await conn.execute(
                insert(gateway_instances).values(
                    id=self.id, host=self.host, pid=self.pid, started_at=now, heartbeat_at=now
                )
            )

    async def beat(self) -> None:
        """Refresh this process's heartbeat (and re-register if a peer judged it dead)."""
        async with self._engine.begin() as conn:
            result = await conn.execute(
                update(gateway_instances)
                .where(gateway_instances.c.id == self.id)
                .values(heartbeat_at=utcnow())
            )
        if result.rowcount == 0:
            await self.register()

    async def unregister(self) -> None:
        await self.forget(self.id)

    async def forget(self, instance_id: str) -> None:
        async with self._engine.begin() as conn:
            await conn.execute(
                delete(gateway_instances).where(gateway_instances.c.id == instance_id)
            )

    async def all(self) -> list[InstanceInfo]:
        async with self._engine.connect() as conn:
            rows = await conn.execute(select(gateway_instances).order_by(gateway_instances.c.id))
            return [InstanceInfo(r.id, r.host, r.pid, r.started_at, r.heartbeat_at) for r in rows]

    async def dead(self) -> list[str]:
        """Ids of the instances known to be dead (never this one)."""
        cutoff = utcnow() - timedelta(seconds=self.dead_after_s)
        return [
            info.id
            for info in await self.all()
            if info.id != self.id
            and (
                info.heartbeat_at < cutoff
                or (info.host == self.host and info.pid != self.pid and not pid_alive(info.pid))
            )
        ]
