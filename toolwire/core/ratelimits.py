"""Rate limits (the catalog's `limits:` section), checked in step 4 of the call path with the
`limits` library (https://limits.readthedocs.io), in memory or in Redis.

Four kinds, each counted by identity (key id, account id), never by session, so a client that
re-initialises its MCP session keeps its count:

    kind        counted per                 configured at
    key_tool    key x tool (or operation)   limits.tools.<tool|tool.op>.per_key, else
                                            limits.per_key_tool (every tool)
    key         key, all tools together     limits.per_key
    plan        account, by its plan        limits.plans.<plan>.per_account; the plan is
                                            the account's stored one (`Principal.plan`,
                                            `toolwire accounts set-plan`) when the catalog
                                            defines it, else the plan whose `accounts`
                                            lists it, else `default`
    all_keys    a tool, all keys together   limits.tools.<tool|tool.op>.all_keys
    upstream    an upstream, all keys       limits.upstreams.<name> (an `upstreams`,
                                            `openapi` or `databases` entry of the catalog)

They are hit narrowest first (key_tool, key, plan, all_keys, upstream) and the first refusal
stops: a key over its own limit never spends the shared counters. A refusal is `RateLimited`
with `details`: `rule` (the config location), `limit` (`10 per 1 minute`), `retry_after_s`.

Strategy (`limits.strategy`): `fixed-window` by default: one counter per limit and identity (one
INCR on Redis), a window that starts at its first call and an exact `retry_after_s` (the
window's end); a burst at a window's end and the next one's start may reach twice the rate.
`moving-window` is exact (one timestamp per call kept for a window, so for modest rates);
`sliding-window-counter` is bounded and smooth, but its `retry_after_s` is an estimate.

Time: the library's windows run on the wall clock (`time.time()`, in Redis the server's). A
clock that jumps forward ends windows early (at most one window's calls more); one that jumps
back keeps them longer. `retry_after_s` is clamped to 1..window, so it is never negative or
beyond one window, whatever the clock did.

Storage failures (Redis away): one call's limiter hits share a deadline (`STORAGE_TIMEOUT_S`);
a failure refuses the call (`on_storage_error: closed`, the default, as RATE_LIMITED with
`details.reason = "limits_unavailable"`) or lets it through (`open`). Either way it is logged
(the first failure, then at most every `LOG_EVERY_S`), and so is the recovery.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from limits import RateLimitItem, parse_many
from limits.aio.storage import MemoryStorage, Storage
from limits.aio.strategies import (
    FixedWindowRateLimiter,
    MovingWindowRateLimiter,
    RateLimiter,
    SlidingWindowCounterRateLimiter,
)
from limits.storage import storage_from_string

from toolwire.core.errors import RateLimited

if TYPE_CHECKING:
    from toolwire.core.catalog import Operation
    from toolwire.core.model import Principal

log = logging.getLogger("toolwire.limits")

Strategy = Literal["sliding-window-counter", "fixed-window", "moving-window"]
OnError = Literal["closed", "open"]

MAX_AMOUNT = 1_000_000_000
"""The largest number of calls one limit may allow per window."""
MAX_WINDOW_S = 366 * 24 * 3600
"""The longest window a limit may count over (a year)."""
STORAGE_TIMEOUT_S = 2.0
"""Deadline of one limiter call on its storage."""
LOG_EVERY_S = 10.0

STRATEGIES: dict[str, type[RateLimiter]] = {
    "sliding-window-counter": SlidingWindowCounterRateLimiter,
    "fixed-window": FixedWindowRateLimiter,
    "moving-window": MovingWindowRateLimiter,
}


def parse_rate(text: str) -> RateLimitItem:
    """One rate (`10/minute`, `100 per hour`, `5/2 seconds`) as the library's item. ValueError
    for anything else, for a zero amount, or beyond `MAX_AMOUNT` calls / `MAX_WINDOW_S`."""
    try:
        items = parse_many(text)
    except ValueError:
        items = []
    if len(items) != 1 or ";" in text or "," in text:
        raise ValueError(f"{text!r} is not a rate: write N/UNIT, e.g. 10/minute or 100 per hour")
    item = items[0]
    if item.amount < 1 or item.amount > MAX_AMOUNT:
        raise ValueError(f"{text!r}: the number of calls must be 1..{MAX_AMOUNT}")
    if item.get_expiry() > MAX_WINDOW_S:
        raise ValueError(f"{text!r}: a window is at most a year")
    return item


@dataclass(frozen=True, slots=True)
class Rate:
    """A configured rate and where it was configured."""

    rule: str
    """The config location, e.g. `limits.tools.search.per_key`."""
    item: RateLimitItem

    @property
    def text(self) -> str:
        return f"{self.item.amount} per {self.item.multiples} {self.item.GRANULARITY.name}"


@dataclass(frozen=True, slots=True)
class LimitRules:
    """The `limits` section compiled: which rates apply to which call."""

    per_key: Rate | None = None
    per_key_tool: Rate | None = None
    tool_per_key: Mapping[str, Rate] = field(default_factory=dict)
    tool_all_keys: Mapping[str, Rate] = field(default_factory=dict)
    plans: Mapping[str, Rate] = field(default_factory=dict)
    """Plan name -> its per-account rate."""
    plan_of: Mapping[str, str] = field(default_factory=dict)
    """Account id -> plan name, from the catalog's `accounts` lists: for accounts with no
    stored plan the catalog defines (`plan_for`)."""
    upstreams: Mapping[str, Rate] = field(default_factory=dict)
    upstream_of: Mapping[str, str] = field(default_factory=dict)
    """`tool` or `tool.operation` -> the upstream it reaches."""
    strategy: Strategy = "fixed-window"
    on_storage_error: OnError = "closed"

    @property
    def empty(self) -> bool:
        return not (
            self.per_key
            or self.per_key_tool
            or self.tool_per_key
            or self.tool_all_keys
            or self.plans
            or self.upstreams
        )

    def plan_for(self, principal: Principal) -> str:
        """The plan whose limits the account is under: its stored plan when this catalog
        defines it, else the plan that lists the account, else `default`."""
        stored = principal.plan
        if stored is not None and stored in self.plans:
            return stored
        return self.plan_of.get(principal.account_id, "default")

    def applicable(self, principal: Principal, op: Operation) -> list[tuple[Rate, tuple[str, ...]]]:
        """The (rate, counter identifiers) this call counts against, narrowest first."""
        found: list[tuple[Rate, tuple[str, ...]]] = []
        qualified = op.qualified
        scoped = qualified if qualified in self.tool_per_key else op.tool
        per_tool = self.tool_per_key.get(scoped)
        if per_tool is not None:
            found.append((per_tool, ("key_tool", principal.key_id, scoped)))
        elif self.per_key_tool is not None:
            found.append((self.per_key_tool, ("key_tool", principal.key_id, op.tool)))
        if self.per_key is not None:
            found.append((self.per_key, ("key", principal.key_id)))
        plan = self.plans.get(self.plan_for(principal))
        if plan is not None:
            found.append((plan, ("account", principal.account_id)))
        shared = qualified if qualified in self.tool_all_keys else op.tool
        everyone = self.tool_all_keys.get(shared)
        if everyone is not None:
            found.append((everyone, ("all_keys", shared)))
        upstream = self.upstream_of.get(qualified) or self.upstream_of.get(op.tool)
        if upstream is not None and upstream in self.upstreams:
            found.append((self.upstreams[upstream], ("upstream", upstream)))
        return found


_KIND_NAMES = {"account": "plan"}
"""Counter identifier prefix -> the limit kind it counts for (the rest are the same)."""


def storage_for(state_url: str) -> Storage:
    """The limits storage a `TOOLWIRE_STATE_URL` names: Redis (redis-py, keys prefixed
    `toolwire:limits`) for redis:// and rediss://, else this process's memory."""
    scheme = state_url.partition("://")[0].lower()
    if scheme in ("redis", "rediss"):
        options: dict[str, Any] = {
            "implementation": "redispy",
            "key_prefix": "toolwire:limits",
            "socket_timeout": STORAGE_TIMEOUT_S,
            "socket_connect_timeout": STORAGE_TIMEOUT_S,
        }
        storage = storage_from_string(f"async+{state_url}", **options)
        assert isinstance(storage, Storage)  # an `async+` URI names an asyncio storage
        return storage
    return MemoryStorage()


class RateLimits:
    """The admission check (`Gateway(admission=[...])`) over one storage. `rules` is called on
    every call (the current catalog's `limits`), so a reloaded catalog's limits apply at once;
    a limit whose rate is unchanged keeps its count (the library keys a counter by identity and
    rate, so a changed rate starts afresh)."""

    def __init__(
        self,
        rules: Callable[[], LimitRules],
        storage: Storage | None = None,
        on_refused: Callable[[str], None] | None = None,
    ) -> None:
        self.rules = rules
        self.storage = storage or MemoryStorage()
        self.on_refused = on_refused
        """Told the kind of each refusal (`key_tool`, `key`, `plan`, `all_keys`, `upstream`, or
        `unavailable` when the storage failed closed): the metrics' refusal counter."""
        self._limiters: dict[str, RateLimiter] = {}
        self._failing_since: float | None = None
        self._logged_at = 0.0
        self._open = False

    def _limiter(self, strategy: str) -> RateLimiter:
        limiter = self._limiters.get(strategy)
        if limiter is None:
            limiter = self._limiters[strategy] = STRATEGIES[strategy](self.storage)
        return limiter

    async def admit(
        self, principal: Principal, operation: Operation, arguments: Mapping[str, Any]
    ) -> None:
        """Hit every applicable limit, narrowest first; `RateLimited` at the first refusal."""
        rules = self.rules()
        if rules.empty:
            return
        limiter = self._limiter(rules.strategy)
        self._open = rules.on_storage_error == "open"
        refused: tuple[Rate, int] | None = None
        kind = "unavailable"
        try:
            async with self._deadline():
                for rate, ids in rules.applicable(principal, operation):
                    if not await limiter.hit(rate.item, *ids):
                        refused = rate, await self._delay(limiter, rate, ids)
                        kind = _KIND_NAMES.get(ids[0], ids[0])
                        break
        except Exception as exc:
            self._failed(exc)
            if self._open:
                return
            self._refused(kind)
            raise RateLimited(
                "rate limits cannot be checked right now; retry shortly",
                details={"reason": "limits_unavailable", "retry_after_s": 1},
            ) from None
        self._recovered()
        if refused is not None:
            rate, delay = refused
            self._refused(kind)
            raise RateLimited(
                f"rate limit {rate.text} reached ({rate.rule}); retry in {delay}s",
                details={"rule": rate.rule, "limit": rate.text, "retry_after_s": delay},
            )

    def _refused(self, kind: str) -> None:
        if self.on_refused is not None:
            self.on_refused(kind)

    def _deadline(self) -> contextlib.AbstractAsyncContextManager[Any]:
        """`STORAGE_TIMEOUT_S` for all of one call's hits on a remote storage; none in memory
        (nothing there can wait)."""
        if isinstance(self.storage, MemoryStorage):
            return contextlib.nullcontext()
        return asyncio.timeout(STORAGE_TIMEOUT_S)

    @staticmethod
    async def _delay(limiter: RateLimiter, rate: Rate, ids: tuple[str, ...]) -> int:
        stats = await limiter.get_window_stats(rate.item, *ids)
        window = rate.item.get_expiry()
        return min(window, max(1, math.ceil(stats.reset_time - time.time())))

    def _failed(self, exc: Exception) -> None:
        now = time.monotonic()
        if self._failing_since is None:
            self._failing_since = now
        if now - self._logged_at >= LOG_EVERY_S:
            self._logged_at = now
            log.error(
                "rate-limit storage failed (%s); calls are %s until it answers",
                type(exc).__name__,
                "let through" if self._open else "refused",
            )

    def _recovered(self) -> None:
        if self._failing_since is not None:  # one attribute read on the hot path
            down = time.monotonic() - self._failing_since
            self._failing_since = None
            self._logged_at = 0.0
            log.warning("rate-limit storage answers again after %.1fs", down)
