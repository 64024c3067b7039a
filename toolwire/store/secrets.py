"""The `secrets` table: sealed upstream credentials by name, nothing else.

What it is: storage of opaque ciphertexts (create or replace, read, list names, delete) over the
store's engine. What it is not: encryption or caching — `toolwire.vault` seals values before they
get here and opens them after; this module never sees a plaintext.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import AsyncEngine

from toolwire.store._common import iso, upsert_insert, utcnow
from toolwire.store.tables import secrets


@dataclass(frozen=True)
class SecretInfo:
    """A secret's name and dates; never its value."""

    name: str
    created_at: datetime
    updated_at: datetime

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "created_at": iso(self.created_at),
            "updated_at": iso(self.updated_at),
        }


class SecretStore:
    """Rows of (name, ciphertext); the ciphertext format belongs to `toolwire.vault`."""

    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine

    async def put(self, name: str, ciphertext: str) -> bool:
        """Create or replace `name`; True when it was created."""
        now = utcnow()
        insert = upsert_insert(self.engine, secrets).values(
            name=name, ciphertext=ciphertext, created_at=now, updated_at=now
        )
        async with self.engine.begin() as conn:
            created = await conn.execute(insert.on_conflict_do_nothing(index_elements=["name"]))
            if created.rowcount == 1:
                return True
            await conn.execute(
                update(secrets)
                .where(secrets.c.name == name)
                .values(ciphertext=ciphertext, updated_at=now)
            )
            return False

    async def get(self, name: str) -> str | None:
        async with self.engine.connect() as conn:
            row = await conn.execute(select(secrets.c.ciphertext).where(secrets.c.name == name))
            return row.scalar_one_or_none()

    async def all(self) -> dict[str, str]:
        async with self.engine.connect() as conn:
            rows = await conn.execute(select(secrets.c.name, secrets.c.ciphertext))
            return {str(row.name): str(row.ciphertext) for row in rows}

    async def list(self) -> list[SecretInfo]:
        query = select(secrets.c.name, secrets.c.created_at, secrets.c.updated_at).order_by(
            secrets.c.name
        )
        async with self.engine.connect() as conn:
            rows = await conn.execute(query)
            return [SecretInfo(row.name, row.created_at, row.updated_at) for row in rows]

    async def delete(self, name: str) -> bool:
        async with self.engine.begin() as conn:
            result = await conn.execute(delete(secrets).where(secrets.c.name == name))
            return result.rowcount == 1
