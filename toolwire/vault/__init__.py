"""The credential vault: upstream credentials stored sealed, referenced by name from the catalog.

What it is: `Vault`, which sets, lists and deletes secrets (sealed with `Sealer`, stored by
`toolwire.store.secrets.SecretStore`), and resolves an operation's credential references into
values for the call path (it implements `toolwire.core.ports.CredentialResolver`, source
"platform"). Every value it reads is registered with its `Redactor`, so it is scrubbed from logs,
results and errors. What it is not: BYOK (the caller's own keys wrap this resolver later) nor a
general key-value store.

Reads are cached for `cache_seconds`, so `toolwire secrets set` on a running deployment takes effect
within that window without a restart; an expired value is read by one caller while the others
wait for it (`core.read_through`), not by every call in flight.
"""

from __future__ import annotations

import logging
import re

from toolwire.core.catalog import Operation
from toolwire.core.errors import UpstreamError
from toolwire.core.model import Principal
from toolwire.core.ports import ResolvedCredentials
from toolwire.core.read_through import ReadThrough
from toolwire.store.secrets import SecretInfo, SecretStore
from toolwire.vault.crypto import Sealer, VaultError
from toolwire.vault.redact import MASK, Redactor, install_log_redaction

__all__ = [
    "MASK",
    "Redactor",
    "Sealer",
    "Vault",
    "VaultError",
    "check_name",
    "install_log_redaction",
]

log = logging.getLogger("toolwire.vault")

NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_.-]{0,127}$")
DEFAULT_CACHE_SECONDS = 5.0


def check_name(name: str) -> str:
    if not NAME.match(name):
        raise VaultError(
            f"invalid secret name {name!r}: letters, digits, '_', '.', '-', starting with a letter"
        )
    return name


class Vault:
    """Sealed secrets by name, with a short read cache; a `CredentialResolver` for the core."""

    def __init__(
        self,
        store: SecretStore,
        sealer: Sealer,
        redactor: Redactor | None = None,
        *,
        cache_seconds: float = DEFAULT_CACHE_SECONDS,
    ) -> None:
        self.store = store
        self.sealer = sealer
        self.redactor = redactor or Redactor()
        self._cache: ReadThrough[str, str | None] = ReadThrough(self._read, cache_seconds)

    @classmethod
    def over(cls, store: SecretStore, master_key: bytes, redactor: Redactor | None = None) -> Vault:
        return cls(store, Sealer(master_key), redactor)

    async def set(self, name: str, value: str) -> bool:
        """Store `value` under `name` (replacing any); True when it is new."""
        check_name(name)
        if not value:
            raise VaultError("a secret value cannot be empty")
        created = await self.store.put(name, self.sealer.seal(name, value))
        self.redactor.add(value)
        self._cache.put(name, value)
        return created

    @property
    def cache_seconds(self) -> float:
        """How long a read value is served before it is read again."""
        return self._cache.ttl

    async def get(self, name: str) -> str | None:
        """The value of `name`, None when it is not set; read once per `cache_seconds`, by one
        caller at a time (`core.read_through`). Raises `VaultError` when it cannot be opened."""
        return await self._cache.get(name)

    async def _read(self, name: str) -> str | None:
        token = await self.store.get(name)
        value = None if token is None else self.sealer.open(name, token)
        if value is not None:
            self.redactor.add(value)
        return value

    async def list(self) -> list[SecretInfo]:
        return await self.store.list()

    async def delete(self, name: str) -> bool:
        deleted = await self.store.delete(name)
        self._cache.forget(name)  # a read that began meanwhile may have found it: not kept
        return deleted

    async def load(self) -> int:
        """Open every stored secret once (at start): all values are known to the redactor before
        any call runs. Returns how many there are."""
        stored = await self.store.all()
        for name, token in stored.items():
            try:
                value = self.sealer.open(name, token)
            except VaultError as exc:  # calls that need it fail; the others still run
                log.error("%s", exc)
                continue
            self.redactor.add(value)
            self._cache.put(name, value)
        return len(stored)

    async def resolve(self, principal: Principal, operation: Operation) -> ResolvedCredentials:
        values: dict[str, str] = {}
        for slot, name in operation.credentials.items():
            try:
                value = await self.get(name)
            except VaultError:
                raise UpstreamError(
                    f"{operation.qualified} is not configured: credential {name!r} is unreadable",
                    details={"reason": "credential_unreadable", "credential": name},
                ) from None
            if value is None:
                raise UpstreamError(
                    f"{operation.qualified} is not configured: credential {name!r} is not set",
                    details={"reason": "credential_missing", "credential": name},
                )
            values[slot] = value
        return ResolvedCredentials(values, "platform")
