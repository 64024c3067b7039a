"""An in-process gateway over a real store (SQLite or PostgreSQL), a real vault and a catalog built
from a config mapping, the way `toolwire serve` builds it. Shared by the adapter tests."""

from __future__ import annotations

import contextlib
import secrets as pysecrets
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from toolwire.config import build_catalog, parse_config
from toolwire.core.gateway import Gateway
from toolwire.core.model import MICRO, Outcome, Principal, ToolCall
from toolwire.core.scopes import ScopeSet
from toolwire.store import Store
from toolwire.store.secrets import SecretStore
from toolwire.upstream.lifecycle import close_adapters
from toolwire.vault import Redactor, Vault, install_log_redaction

MASTER = bytes(range(32))
REPO = Path(__file__).resolve().parents[2]
EXAMPLES = REPO / "examples" / "providers"


@dataclass
class Harness:
    gateway: Gateway
    store: Store
    vault: Vault
    principal: Principal

    async def call(self, name: str, /, **arguments: Any) -> Outcome:
        request_id = f"req-{pysecrets.token_hex(4)}"
        return await self.gateway.execute(
            self.principal, ToolCall(tool=name, arguments=arguments, request_id=request_id)
        )

    async def balance(self) -> int:
        await self.store.ledger.flush()
        return await self.store.accounts.balance(self.principal.account_id)


@contextlib.asynccontextmanager
async def gateway_over(
    db_url: str,
    config: Mapping[str, Any],
    secrets: Mapping[str, str] = {},
    *,
    base_dir: Path = REPO,
    credits: int = 100,
) -> AsyncIterator[Harness]:
    store = await Store.open(db_url)
    catalog = None
    try:
        redactor = Redactor()
        install_log_redaction(redactor)
        vault = Vault.over(SecretStore(store.engine), MASTER, redactor)
        for name, value in secrets.items():
            await vault.set(name, value)
        parsed = parse_config(
            {"builtins": {"include": []}, **config}, "test.yaml", base_dir=base_dir
        )
        catalog = build_catalog(parsed, redactor=redactor)
        gateway = Gateway(catalog, store.ledger, store.audit, default_timeout=10, credentials=vault)
        account = await store.accounts.create_account("t", credits * MICRO)
        key, _ = await store.accounts.create_key(account.id, "k", ["*"])
        principal = Principal(key_id=key.id, account_id=account.id, scopes=ScopeSet(["*"]))
        yield Harness(gateway, store, vault, principal)
    finally:
        if catalog is not None:
            await close_adapters(catalog)
        await store.close()


def include(path: Path, **overrides: Any) -> dict[str, Any]:
    """The content of a provider spec (as `include:` would merge it) with `upstreams` overrides."""
    import yaml

    raw: dict[str, Any] = yaml.safe_load(path.read_text())
    for name, changes in overrides.items():
        raw["upstreams"][name].update(changes)
    return raw
