"""API keys: their format, and `SqlKeyStore`, which turns a presented key into a `Principal`.

A key reads ``tw_<id>_<secret>``: `id` is 12 characters and `secret` 32 characters, both lowercase
base32 (``a-z2-7``, so no ``_`` and the format parses unambiguously); 60 and 160 random bits from
`secrets`. Only the hex sha256 of the secret is stored, and compared in constant time.

What it is: key generation and parsing, and the `toolwire.core.ports.KeyStore` implementation,
with a bounded in-process cache so a steady stream of calls does no database read: a verified key
is trusted for `cache_seconds` (which bounds revocation lag in other processes; `invalidate()`
makes it immediate in this one), a rejected key is remembered for about a second, concurrent
look-ups of one key share one query, and at most a few queries run at once so a flood of random
keys cannot take the whole pool. It also remembers when each key was last used and writes that in
one batch on `flush_usage()`. What it is not: key administration (see `toolwire.store.accounts`).
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import logging
import secrets
import time
from collections import OrderedDict
from dataclasses import dataclass
from datetime import UTC, datetime

import orjson
from sqlalchemy import bindparam, select, update
from sqlalchemy.ext.asyncio import AsyncEngine

from toolwire.core.model import Principal
from toolwire.core.scopes import ScopeSet
from toolwire.core.single_flight import SingleFlight
from toolwire.store.tables import accounts, api_keys

log = logging.getLogger("toolwire.store.keys")

KEY_PREFIX = "tw_"
ID_LENGTH = 12
SECRET_LENGTH = 32
KEY_LENGTH = len(KEY_PREFIX) + ID_LENGTH + 1 + SECRET_LENGTH
_ALPHABET = frozenset("abcdefghijklmnopqrstuvwxyz234567")

DEFAULT_CACHE_SIZE = 10_000
NEGATIVE_TTL_SECONDS = 1.0
NEGATIVE_CACHE_SIZE = 4_096
MAX_CONCURRENT_LOOKUPS = 8


def random_id(length: int = ID_LENGTH) -> str:
    """`length` random lowercase base32 characters (5 random bits each)."""
    raw = secrets.token_bytes((length * 5 + 7) // 8)
    return base64.b32encode(raw).decode("ascii")[:length].lower()


@dataclass(frozen=True, slots=True)
class ParsedKey:
    key_id: str
    secret: str


def generate_key() -> tuple[str, str, str]:
    """A new key: (key_id, raw_key, secret_hash)."""
    key_id = random_id(ID_LENGTH)
    secret = random_id(SECRET_LENGTH)
    return key_id, f"{KEY_PREFIX}{key_id}_{secret}", hash_secret(secret)


def parse_key(raw_key: str) -> ParsedKey | None:
    """Split ``tw_<id>_<secret>``; None for anything that is not exactly that shape."""
    if len(raw_key) != KEY_LENGTH or not raw_key.startswith(KEY_PREFIX):
        return None
    key_id = raw_key[len(KEY_PREFIX) : len(KEY_PREFIX) + ID_LENGTH]
    if raw_key[len(KEY_PREFIX) + ID_LENGTH] != "_":
        return None
    secret = raw_key[len(KEY_PREFIX) + ID_LENGTH + 1 :]
    if not _ALPHABET.issuperset(key_id) or not _ALPHABET.issuperset(secret):
        return None
    return ParsedKey(key_id, secret)


def hash_secret(secret: str) -> str:
    """The stored form of a secret: hex sha256."""
    return hashlib.sha256(secret.encode()).hexdigest()


def key_prefix(key_id: str) -> str:
    """How a key is shown once its secret is gone: ``tw_<id>_…``."""
    return f"{KEY_PREFIX}{key_id}_…"


class SqlKeyStore:
    """`KeyStore` over the `api_keys` table, with a bounded positive and negative cache."""

    def __init__(
        self,
        engine: AsyncEngine,
        cache_seconds: float = 5.0,
        *,
        cache_size: int = DEFAULT_CACHE_SIZE,
        negative_seconds: float = NEGATIVE_TTL_SECONDS,
    ) -> None:
        self._engine = engine
        self._cache_seconds = cache_seconds
        self._cache_size = cache_size
        self._negative_seconds = min(negative_seconds, cache_seconds) if cache_seconds else 0.0
        # sha256(raw key) -> (principal, monotonic expiry); insertion-ordered for eviction.
        self._positive: OrderedDict[bytes, tuple[Principal, float]] = OrderedDict()
        self._negative: OrderedDict[bytes, float] = OrderedDict()
        self._inflight: SingleFlight[bytes, Principal | None] = SingleFlight()
        self._epoch = 0
        self._lookups = asyncio.Semaphore(MAX_CONCURRENT_LOOKUPS)
        self._used: dict[str, float] = {}
        self.db_lookups = 0
        """How many authentications reached the database (for tests and metrics)."""

    async def authenticate(self, raw_key: str) -> Principal | None:
        if len(raw_key) != KEY_LENGTH:
            return None
        digest = hashlib.sha256(raw_key.encode()).digest()
        now = time.monotonic()
        hit = self._positive.get(digest)
        if hit is not None:
            if hit[1] > now:
                self._used[hit[0].key_id] = time.time()
                return hit[0]
            del self._positive[digest]
        expiry = self._negative.get(digest)
        if expiry is not None:
            if expiry > now:
                return None
            del self._negative[digest]
        parsed = parse_key(raw_key)
        if parsed is None:
            return None
        # One look-up per key at a time, shared; a caller that leaves does not cancel it.
        principal = await self._inflight.run(digest, lambda: self._resolve(digest, parsed))
        if principal is not None:
            self._used[principal.key_id] = time.time()
        return principal

    async def principal_for_key_id(self, key_id: str) -> Principal | None:
        """The Principal of key `key_id` without its secret (for an OAuth subject an operator
        mapped to that key), or None when it is unknown, revoked or its account disabled. Cached
        like a presented key: `invalidate(key_id)` forgets it."""
        if len(key_id) != ID_LENGTH or not _ALPHABET.issuperset(key_id):
            return None
        digest = hashlib.sha256(b"key-id\0" + key_id.encode()).digest()
        hit = self._positive.get(digest)
        if hit is not None and hit[1] > time.monotonic():
            self._used[key_id] = time.time()
            return hit[0]
        epoch = self._epoch
        principal = await self._lookup(ParsedKey(key_id, ""), check_secret=False)
        if epoch == self._epoch and principal is not None:
            self._remember(digest, principal)
        if principal is not None:
            self._used[key_id] = time.time()
        return principal

    def invalidate(self, key_id: str) -> None:
        """Forget every cached result for `key_id` (call after revoking it in this process)."""
        self._epoch += 1
        for digest in [d for d, (p, _) in self._positive.items() if p.key_id == key_id]:
            del self._positive[digest]

    def clear(self) -> None:
        """Forget every cached result."""
        self._epoch += 1
        self._positive.clear()
        self._negative.clear()

    async def flush_usage(self) -> int:
        """Write the remembered last-used times to `api_keys.last_used_at`; returns how many."""
        if not self._used:
            return 0
        used, self._used = self._used, {}
        rows = [
            {"b_id": key_id, "b_at": datetime.fromtimestamp(at, UTC)} for key_id, at in used.items()
        ]
        stmt = (
            update(api_keys)
            .where(api_keys.c.id == bindparam("b_id"))
            .values(last_used_at=bindparam("b_at"))
        )
        try:
            async with self._engine.begin() as conn:
                await conn.execute(stmt, rows)
        except Exception:
            log.warning("could not record key usage for %d keys", len(rows), exc_info=True)
            for key_id, at in used.items():
                self._used.setdefault(key_id, at)
            return 0
        return len(rows)

    async def _resolve(self, digest: bytes, parsed: ParsedKey) -> Principal | None:
        epoch = self._epoch
        principal = await self._lookup(parsed)
        if epoch == self._epoch:  # not invalidated meanwhile: the answer may be cached
            self._remember(digest, principal)
        return principal

    async def _lookup(self, parsed: ParsedKey, *, check_secret: bool = True) -> Principal | None:
        query = (
            select(
                api_keys.c.account_id,
                api_keys.c.secret_hash,
                api_keys.c.scopes,
                api_keys.c.is_admin,
                api_keys.c.name,
                api_keys.c.revoked_at,
                api_keys.c.budget_hour,
                api_keys.c.budget_day,
                api_keys.c.servers,
                accounts.c.disabled,
                accounts.c.low_balance,
                accounts.c.plan,
            )
            .join(accounts, accounts.c.id == api_keys.c.account_id)
            .where(api_keys.c.id == parsed.key_id)
        )
        async with self._lookups:
            self.db_lookups += 1
            async with self._engine.connect() as conn:
                row = (await conn.execute(query)).first()
        presented = hash_secret(parsed.secret)
        if row is None:
            hmac.compare_digest(presented, presented)  # same work as a real comparison
            return None
        if check_secret and not hmac.compare_digest(presented, row.secret_hash):
            return None
        if row.revoked_at is not None or row.disabled:
            return None
        return Principal(
            key_id=parsed.key_id,
            account_id=row.account_id,
            scopes=ScopeSet(orjson.loads(row.scopes)),
            is_admin=bool(row.is_admin),
            name=row.name,
            budget_hour=row.budget_hour,
            budget_day=row.budget_day,
            low_balance=row.low_balance,
            servers=None if row.servers is None else frozenset(orjson.loads(row.servers)),
            plan=row.plan,
        )

    def _remember(self, digest: bytes, principal: Principal | None) -> None:
        now = time.monotonic()
        if principal is not None:
            if self._cache_seconds <= 0:
                return
            self._positive[digest] = (principal, now + self._cache_seconds)
            self._positive.move_to_end(digest)
            while len(self._positive) > self._cache_size:
                self._positive.popitem(last=False)
        elif self._negative_seconds > 0:
            self._negative[digest] = now + self._negative_seconds
            self._negative.move_to_end(digest)
            while len(self._negative) > NEGATIVE_CACHE_SIZE:
                self._negative.popitem(last=False)
