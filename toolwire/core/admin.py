"""`Admin`: the one administration service the doors translate onto, beside the `Gateway`.

What it is: the admin check (`require_admin`), credit-amount parsing with ONE set of limits
(`parse_amount`: at most `MAX_CREDITS` credits and 6 decimals, from `toolwire.core.model`),
account, key, credit, budget and low-balance operations, and the key-cache invalidation each
change needs. The HTTP admin doors (`toolwire.inbound.admin`, `toolwire.inbound.admin_billing`),
the CLI (`toolwire accounts|keys|credits`) and, over HTTP, the Python SDK's `client.admin` all
reach these rules through here, so an amount one of them accepts every one of them accepts.

What it is not: storage. It talks to the ports below; `toolwire.store` implements them and
`toolwire.app` / the CLI wire them in. Amounts inside are integers in micro-credits.
Errors raised: `Forbidden` (not an admin key), `InvalidRequest` (a bad amount or name),
and whatever the ports raise (`NotFound`, `Conflict`).
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Sequence
from datetime import UTC, date, datetime
from typing import Any, Protocol, TypeVar

from toolwire.core.catalog import Operation
from toolwire.core.errors import Forbidden, InvalidRequest, NotFound
from toolwire.core.latency import (
    MAX_SAMPLES,
    LatencySample,
    LatencySeries,
    first_bucket,
    latency_series,
    window_of,
)
from toolwire.core.model import MAX_CREDITS, Principal, credits_to_micro
from toolwire.core.pins import PinBook, PinRecord
from toolwire.core.records import (
    AccountInfo,
    AuditFilter,
    AuditRecord,
    ByokInfo,
    KeyInfo,
    LedgerEntryInfo,
    UsageRow,
)
from toolwire.core.scopes import within
from toolwire.core.servers import check_server_names
from toolwire.core.upstreams import HealthReport, PinCounts, upstream_rows

__all__ = [
    "MAX_CREDITS",
    "AccountBook",
    "Admin",
    "AuditBook",
    "ByokBook",
    "KeyCache",
    "KeyLimits",
    "UsageBook",
    "parse_amount",
    "parse_name",
    "providers",
]

T = TypeVar("T")


class AccountBook(Protocol):
    """Durable accounts, keys and grants (`toolwire.store.accounts.AccountStore`)."""

    async def create_account(
        self, name: str, credits: int = 0, *, low_balance: int | None = None
    ) -> AccountInfo: ...

    async def list_accounts(self) -> list[AccountInfo]: ...

    async def get_account(self, account_id: str) -> AccountInfo: ...

    async def create_key(
        self,
        account_id: str,
        name: str,
        scopes: Sequence[str],
        *,
        servers: Sequence[str] | None = None,
    ) -> tuple[KeyInfo, str]: ...

    async def list_keys(self, account_id: str | None = None) -> list[KeyInfo]: ...

    async def revoke_key(self, key_id: str) -> KeyInfo: ...

    async def grant(
        self, account_id: str, amount: int, note: str | None = None, key_id: str | None = None
    ) -> int: ...

    async def balance(self, account_id: str) -> int: ...

    async def history(self, account_id: str, limit: int = 50) -> list[LedgerEntryInfo]: ...

    async def set_plan(self, account_id: str, plan: str | None) -> AccountInfo: ...


class KeyLimits(Protocol):
    """Key budgets and account low-balance thresholds (`toolwire.billing.Billing`)."""

    async def set_budget(
        self, key_id: str, hour: int | None, day: int | None
    ) -> dict[str, Any]: ...

    async def budget(self, key_id: str) -> dict[str, Any]: ...

    async def set_low_balance(self, account_id: str, threshold: int | None) -> None: ...


class ByokBook(Protocol):
    """Accounts' own sealed provider credentials (`toolwire.store.byok.ByokStore`)."""

    async def put(self, account_id: str, provider: str, value: str) -> tuple[ByokInfo, bool]: ...

    async def delete(self, account_id: str, provider: str) -> bool: ...

    async def list(self, account_id: str) -> list[ByokInfo]: ...


class UsageBook(Protocol):
    """Usage grouped by day, account, key and tool (`toolwire.store.usage.UsageReport`)."""

    async def rows(
        self,
        *,
        account_id: str | None = None,
        key_id: str | None = None,
        tool: str | None = None,
        since: date | None = None,
        until: date | None = None,
    ) -> list[UsageRow]: ...


class AuditBook(Protocol):
    """The audit records (`toolwire.store.audit_log.AuditLog`)."""

    async def page(
        self, where: AuditFilter, limit: int = 100, cursor: str | None = None
    ) -> tuple[list[AuditRecord], str | None]: ...

    def export(self, where: AuditFilter) -> AsyncIterator[AuditRecord]: ...

    async def latency_samples(self, since: datetime, limit: int) -> list[LatencySample]: ...


PLAN_NAME = re.compile(r"[a-zA-Z][a-zA-Z0-9_-]{0,29}")
"""A plan's name, as the catalog schema allows it (`limits.plans` property names)."""


class KeyCache(Protocol):
    """This process's cache of authenticated keys (`toolwire.store.keys.SqlKeyStore`)."""

    def invalidate(self, key_id: str) -> None: ...

    def clear(self) -> None: ...


def parse_amount(value: object, field: str, *, positive: bool = False) -> int:
    """A credit amount as a request or a person gives it (a number, or a decimal string) into
    micro-credits. Limits, the same for every door: at most `MAX_CREDITS` credits (10^9, so
    10^15 micro-credits, far inside the ledger's 64-bit integers), at most 6 decimals, never
    negative, and above zero when `positive`. Raises `InvalidRequest` naming `field`."""
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise InvalidRequest(f"'{field}' must be a number of credits")
    try:
        micro = credits_to_micro(value.strip() if isinstance(value, str) else value)
    except ValueError as exc:
        raise InvalidRequest(f"'{field}': {exc}", details={"field": field}) from None
    if micro < 0 or (positive and micro == 0):
        sign = "positive" if positive else "zero or more"
        raise InvalidRequest(f"'{field}' must be {sign}", details={"field": field})
    return micro


def parse_optional_amount(value: object, field: str) -> int | None:
    """`parse_amount` for a field where null (None) means "no limit" or "clear it"."""
    return None if value is None else parse_amount(value, field)


MAX_BYOK_VALUE = 8192
"""Characters in an account's own provider credential (BYOK)."""
MAX_NAME = 200
"""Characters in an account's or a key's name."""


def parse_name(value: object, field: str = "name") -> str:
    """A name as given (an account's, a key's), stripped; `InvalidRequest` unless it is a
    non-empty string of at most `MAX_NAME` printable characters (`str.isprintable`: no control
    characters, no NUL, which PostgreSQL's text cannot store, no lone surrogates)."""
    if (
        not isinstance(value, str)
        or not value.strip()
        or len(value) > MAX_NAME
        or not value.isprintable()
    ):
        raise InvalidRequest(
            f"'{field}' must be a non-empty string of at most {MAX_NAME} printable characters",
            details={"field": field},
        )
    return value.strip()


def providers(operations: Iterable[Operation]) -> set[str]:
    """Every provider name the catalog's operations refer to: what BYOK accepts."""
    return {name for op in operations for name in op.credentials.values()}


class Admin:
    """Administration over the ports; every change that a cached key could miss invalidates it.

    `keys` and `limits` may be None where they do not exist (the CLI runs without a key cache;
    a process without billing has no budgets)."""

    def __init__(
        self,
        accounts: AccountBook,
        *,
        keys: KeyCache | None = None,
        limits: KeyLimits | None = None,
        byok: ByokBook | None = None,
        usage: UsageBook | None = None,
        audit: AuditBook | None = None,
        operations: Callable[[], Iterable[Operation]] = tuple,
        servers: Callable[[], Iterable[str]] | None = None,
        pins: PinBook | None = None,
        on_pins_changed: Callable[[], Awaitable[None]] | None = None,
        health: HealthReport | None = None,
        pin_counts: PinCounts | None = None,
        reload: Callable[[], Awaitable[dict[str, Any]]] | None = None,
        plans: Callable[[], Iterable[str]] | None = None,
    ) -> None:
        self.accounts = accounts
        self._keys = keys
        self._limits = limits
        self._byok = byok
        self._usage = usage
        self._audit = audit
        self._operations = operations
        self._servers = servers
        self._pins = pins
        self._on_pins_changed = on_pins_changed
        self._health = health
        self._pin_counts = pin_counts
        self._reload = reload
        self._plans = plans

    @staticmethod
    def require_admin(principal: Principal) -> Principal:
        """The admin check of every admin door; raises `Forbidden` for any other key."""
        if not principal.is_admin:
            raise Forbidden("the admin API needs an admin key")
        return principal

    parse_amount = staticmethod(parse_amount)
    parse_name = staticmethod(parse_name)
    parse_optional_amount = staticmethod(parse_optional_amount)

    # accounts

    async def create_account(
        self, name: str, credits: int = 0, *, low_balance: int | None = None
    ) -> AccountInfo:
        return await self.accounts.create_account(name, credits, low_balance=low_balance)

    async def list_accounts(self) -> list[AccountInfo]:
        return await self.accounts.list_accounts()

    async def get_account(self, account_id: str) -> AccountInfo:
        return await self.accounts.get_account(account_id)

    async def history(self, account_id: str, limit: int = 50) -> list[LedgerEntryInfo]:
        return await self.accounts.history(account_id, limit)

    async def set_low_balance(self, account_id: str, threshold: int | None) -> AccountInfo:
        await self._need_limits().set_low_balance(account_id, threshold)
        if self._keys is not None:
            self._keys.clear()  # principals carry the threshold
        return await self.accounts.get_account(account_id)

    def plans(self) -> list[str]:
        """The plans the catalog's `limits.plans` defines, sorted (empty when unknown)."""
        return [] if self._plans is None else sorted(self._plans())

    async def set_plan(self, account_id: str, plan: str | None) -> AccountInfo:
        """Put the account on `plan` (None: clear it, so the catalog's `accounts` lists or
        `default` decide). The name must be a plan name (`PLAN_NAME`), and one the catalog's
        `limits.plans` defines when this Admin knows the catalog (`plans`); `InvalidRequest`
        names the plans there are. Rate limits follow at once in this process (its key cache
        is cleared), elsewhere within the key-cache window."""
        if plan is not None:
            if not isinstance(plan, str) or not PLAN_NAME.fullmatch(plan):
                raise InvalidRequest(
                    "a plan name is a letter then up to 29 letters, digits, '_' or '-'",
                    details={"plan": plan if isinstance(plan, str) else None},
                )
            if self._plans is not None:
                known = sorted(self._plans())
                if plan not in known:
                    raise InvalidRequest(
                        f"the catalog defines no plan {plan!r} (limits.plans)",
                        details={"plan": plan, "plans": known},
                    )
        return await self.accounts.set_plan(account_id, plan)

    # keys

    async def create_key(
        self,
        account_id: str,
        name: str,
        scopes: Sequence[str],
        *,
        servers: Sequence[str] | None = None,
    ) -> tuple[KeyInfo, str]:
        """Issue a key; `servers` limits it to those virtual servers (None: the whole catalog),
        each one the catalog declares when this Admin knows the catalog's servers."""
        known = None if self._servers is None else self._servers()
        checked = check_server_names(servers, known)
        return await self.accounts.create_key(account_id, name, scopes, servers=checked)

    async def list_keys(self, account_id: str | None = None) -> list[KeyInfo]:
        if account_id is not None:
            await self.accounts.get_account(account_id)  # unknown account: NotFound, not []
        return await self.accounts.list_keys(account_id)

    async def revoke_key(self, key_id: str) -> KeyInfo:
        info = await self.accounts.revoke_key(key_id)
        if self._keys is not None:
            self._keys.invalidate(key_id)
        return info

    async def create_own_key(
        self, principal: Principal, name: str, scopes: Sequence[str]
    ) -> tuple[KeyInfo, str]:
        """A key of the caller's own account, no wider than the caller's key (`scopes.within`:
        `InvalidRequest` for a pattern that does not parse, `Forbidden` for a wider one).
        Returns (info, secret); the secret exists only in this return value."""
        checked = within(principal.scopes.patterns, scopes)
        return await self.accounts.create_key(principal.account_id, name, checked)

    async def revoke_own_key(self, principal: Principal, key_id: str) -> KeyInfo:
        """Revoke a key of the caller's own account; `NotFound` for any other key (another
        account's key is indistinguishable from one that does not exist)."""
        owned = {k.id for k in await self.accounts.list_keys(principal.account_id)}
        if key_id not in owned:
            raise NotFound("no such key", details={"key_id": key_id})
        return await self.revoke_key(key_id)

    async def set_budget(self, key_id: str, hour: int | None, day: int | None) -> dict[str, Any]:
        budget = await self._need_limits().set_budget(key_id, hour, day)
        if self._keys is not None:
            self._keys.invalidate(key_id)  # principals carry their key's caps
        return budget

    async def budget(self, key_id: str) -> dict[str, Any]:
        return await self._need_limits().budget(key_id)

    # credits

    async def grant(self, account_id: str, amount: int, note: str | None = None) -> int:
        return await self.accounts.grant(account_id, amount, note)

    async def balance(self, account_id: str) -> int:
        await self.accounts.get_account(account_id)
        return await self.accounts.balance(account_id)

    # BYOK: an account's own provider credentials (values go in, never come out)

    def byok_providers(self) -> set[str]:
        """The provider names the current catalog refers to."""
        return providers(self._operations())

    def check_provider(self, provider: str) -> str:
        """`provider` when a tool of the catalog uses it; `NotFound` naming the known ones."""
        known = self.byok_providers()
        if provider not in known:
            raise NotFound(
                f"no tool uses a provider named {provider!r}",
                details={"provider": provider, "providers": sorted(known)},
            )
        return provider

    async def put_byok(self, account_id: str, provider: str, value: str) -> tuple[ByokInfo, bool]:
        """Create or replace; `NotFound` for a provider no tool uses, `InvalidRequest` for a value
        that is not a non-empty string of at most `MAX_BYOK_VALUE` characters. Returns (info,
        created)."""
        self.check_provider(provider)
        if not isinstance(value, str) or not value or len(value) > MAX_BYOK_VALUE:
            raise InvalidRequest(
                f"a credential is a non-empty string of at most {MAX_BYOK_VALUE} characters"
            )
        return await self._need(self._byok, "BYOK").put(account_id, provider, value)

    async def delete_byok(self, account_id: str, provider: str) -> None:
        """`NotFound` for an unknown account, or when it has no credential for `provider`."""
        await self.accounts.get_account(account_id)
        if not await self._need(self._byok, "BYOK").delete(account_id, provider):
            raise NotFound(
                "this account has no credential for this provider", details={"provider": provider}
            )

    async def list_byok(self, account_id: str) -> list[ByokInfo]:
        return await self._need(self._byok, "BYOK").list(account_id)

    # the catalog

    async def reload(self) -> dict[str, Any]:
        """Re-read the catalog file and serve it, on this instance and (signalled) every other:
        `{"status": "reloaded"|"unchanged", "version", "previous", "operations", "added",
        "removed", "instance"}` (`toolwire.reload.ReloadResult`). An invalid file raises
        `InvalidRequest` with `details.reason == "invalid_catalog"` and its `location`; the
        catalog served stays."""
        return await self._need(self._reload, "catalog reload")()

    # usage

    async def usage(
        self,
        *,
        account_id: str | None = None,
        key_id: str | None = None,
        tool: str | None = None,
        since: date | None = None,
        until: date | None = None,
    ) -> list[UsageRow]:
        """Usage rows, oldest day first; `since` and `until` are inclusive UTC days."""
        return await self._need(self._usage, "usage reports").rows(
            account_id=account_id, key_id=key_id, tool=tool, since=since, until=until
        )

    # audit

    async def audit(
        self, where: AuditFilter, *, limit: int = 100, cursor: str | None = None
    ) -> tuple[list[AuditRecord], str | None]:
        """One page of audit records, newest first, and the next page's cursor (None: last).
        `limit` is 1..1000; a cursor this API did not hand out is `InvalidRequest`."""
        if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= 1000:
            raise InvalidRequest("'limit' must be an integer from 1 to 1000")
        if where.since and where.until and where.since > where.until:
            raise InvalidRequest("'since' is after 'until'")
        return await self._need(self._audit, "audit").page(where, limit, cursor)

    def audit_export(self, where: AuditFilter) -> AsyncIterator[AuditRecord]:
        """Every matching audit record, oldest first, streamed (JSON lines for SIEM shippers)."""
        return self._need(self._audit, "audit").export(where)

    # upstreams: health and pins

    async def upstream_latency(
        self, window: str | None = None, *, now: datetime | None = None
    ) -> LatencySeries:
        """p50/p95 latency per upstream per time bucket over `window` (`1h`, `24h` (default),
        `7d`), from the audit records (`toolwire.core.latency`). `InvalidRequest` for another
        window."""
        name, _, _ = window_of(window)
        end = now or datetime.now(UTC)
        book = self._need(self._audit, "audit")
        samples = await book.latency_samples(first_bucket(end, name), MAX_SAMPLES)
        return latency_series(samples, end, name, truncated=len(samples) >= MAX_SAMPLES)

    def upstreams(self) -> list[dict[str, Any]]:
        """One row per upstream (`toolwire.core.upstreams.upstream_rows`): this process's
        breaker state, tools, pinned/held counts, last error, p50 latency."""
        return upstream_rows(self._operations(), self._health, self._pin_counts)

    # pinning: approved upstream tool definitions and held changes

    async def pins(self, upstream: str | None = None) -> list[PinRecord]:
        """Every pin (of `upstream`), held ones with their candidate definition; `NotFound`
        for an upstream with no pinned tool."""
        records = await self._need(self._pins, "pins").records(upstream)
        if upstream is not None and not records:
            raise NotFound(
                f"no pinned tools of an upstream named {upstream!r}",
                details={"upstream": upstream},
            )
        return records

    async def approve(self, upstream: str, tool: str | None = None) -> list[PinRecord]:
        """Approve the held definitions of `upstream` (only `tool`'s when given); returns the
        records approved (possibly none: nothing was held). `NotFound` for an unknown upstream
        or tool. Every instance serves them again within its pin refresh interval."""
        records = await self.pins(upstream)
        if tool is not None and all(r.tool != tool for r in records):
            raise NotFound(
                f"upstream {upstream!r} has no pinned tool named {tool!r}",
                details={"upstream": upstream, "tool": tool},
            )
        approved = await self._need(self._pins, "pins").approve(upstream, tool)
        if approved and self._on_pins_changed is not None:
            await self._on_pins_changed()
        return approved

    def _need_limits(self) -> KeyLimits:
        return self._need(self._limits, "budgets")

    @staticmethod
    def _need(port: T | None, what: str) -> T:
        if port is None:
            raise RuntimeError(f"this Admin was built without {what}")
        return port
