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

from collections.abc import Awaitable, Callable, Iterable, Sequence
from datetime import date
from typing import Any, Protocol, TypeVar

from toolwire.core.catalog import Operation
from toolwire.core.errors import Forbidden, InvalidRequest, NotFound
from toolwire.core.model import MAX_CREDITS, Principal, credits_to_micro
from toolwire.core.records import AccountInfo, ByokInfo, KeyInfo, LedgerEntryInfo, UsageRow

__all__ = [
    "MAX_CREDITS",
    "AccountBook",
    "Admin",
    "ByokBook",
    "KeyCache",
    "KeyLimits",
    "UsageBook",
    "parse_amount",
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
        self, account_id: str, name: str, scopes: Sequence[str]
    ) -> tuple[KeyInfo, str]: ...

    async def list_keys(self, account_id: str | None = None) -> list[KeyInfo]: ...

    async def revoke_key(self, key_id: str) -> KeyInfo: ...

    async def grant(
        self, account_id: str, amount: int, note: str | None = None, key_id: str | None = None
    ) -> int: ...

    async def balance(self, account_id: str) -> int: ...

    async def history(self, account_id: str, limit: int = 50) -> list[LedgerEntryInfo]: ...


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
        operations: Callable[[], Iterable[Operation]] = tuple,
        reload: Callable[[], Awaitable[dict[str, Any]]] | None = None,
    ) -> None:
        self.accounts = accounts
        self._keys = keys
        self._limits = limits
        self._byok = byok
        self._usage = usage
        self._operations = operations
        self._reload = reload

    @staticmethod
    def require_admin(principal: Principal) -> Principal:
        """The admin check of every admin door; raises `Forbidden` for any other key."""
        if not principal.is_admin:
            raise Forbidden("the admin API needs an admin key")
        return principal

    parse_amount = staticmethod(parse_amount)
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

    # keys

    async def create_key(
        self, account_id: str, name: str, scopes: Sequence[str]
    ) -> tuple[KeyInfo, str]:
        return await self.accounts.create_key(account_id, name, scopes)

    async def list_keys(self, account_id: str | None = None) -> list[KeyInfo]:
        if account_id is not None:
            await self.accounts.get_account(account_id)  # unknown account: NotFound, not []
        return await self.accounts.list_keys(account_id)

    async def revoke_key(self, key_id: str) -> KeyInfo:
        info = await self.accounts.revoke_key(key_id)
        if self._keys is not None:
            self._keys.invalidate(key_id)
        return info

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
        """Create or replace; `NotFound` for a provider no tool uses. Returns (info, created)."""
        self.check_provider(provider)
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

    def _need_limits(self) -> KeyLimits:
        return self._need(self._limits, "budgets")

    @staticmethod
    def _need(port: T | None, what: str) -> T:
        if port is None:
            raise RuntimeError(f"this Admin was built without {what}")
        return port
