"""`toolwire accounts|keys|credits`: administration of the local deployment, from a terminal.

The commands act directly on the deployment's store (the database the server uses, from
`--data-dir` / `--database-url` or their environment variables), so they work with or without a
running server. They mirror the admin API (`/admin/v1`): same operations, same checks, and with
`--json` the same JSON shapes. Amounts are credits with up to 6 decimals. What this is not: a
client of a remote gateway's admin API (use `toolwire.client.Client(...).admin` for that).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from typing import Annotated, Any, TypeVar

import typer
from rich.markup import escape
from rich.panel import Panel
from rich.table import Table

from toolwire.cli.common import DatabaseUrl, DataDir, JsonOut, console, fail, settings_from
from toolwire.core.admin import Admin
from toolwire.core.errors import ToolwireError
from toolwire.core.model import micro_to_credits
from toolwire.core.records import AccountInfo, KeyInfo, LedgerEntryInfo
from toolwire.settings import Settings

T = TypeVar("T")

accounts_app = typer.Typer(help="Create and inspect accounts.", no_args_is_help=True)
keys_app = typer.Typer(help="Issue, list and revoke API keys.", no_args_is_help=True)
credits_app = typer.Typer(help="Grant credits and read balances.", no_args_is_help=True)


def register(app: typer.Typer) -> None:
    app.add_typer(accounts_app, name="accounts")
    app.add_typer(keys_app, name="keys")
    app.add_typer(credits_app, name="credits")


AccountId = Annotated[str, typer.Argument(help="Account id (acc_...).", show_default=False)]


# -- running against the store ----------------------------------------------------------------


def with_store(settings: Settings, action: Callable[[Admin], Awaitable[T]]) -> T:
    """Open the deployment's store, run `action` on an `Admin` over it, close it; errors exit 1.

    There is no key cache here (the CLI is its own process): running servers forget a revoked
    key within their key-cache window."""
    from sqlalchemy.exc import SQLAlchemyError

    from toolwire.bootstrap import prepare_data_dir
    from toolwire.store import Store
    from toolwire.store.audit_log import AuditLog

    async def run() -> T:
        if not settings.database_url:
            prepare_data_dir(settings)
        store = await Store.open(
            settings.sqlalchemy_url, key_cache_seconds=settings.key_cache_seconds
        )
        try:
            return await action(Admin(store.accounts, audit=AuditLog(store.engine)))
        finally:
            await store.close()

    try:
        return asyncio.run(run())
    except ToolwireError as exc:
        raise fail(escape(f"{exc.message} [{exc.code}]{_details(exc.details)}")) from None
    except SQLAlchemyError as exc:
        message = f"database error: {exc.__class__.__name__}: {_first_line(str(exc))}"
        raise fail(escape(message)) from None
    except (ValueError, OSError) as exc:
        raise fail(escape(str(exc))) from None


def store_settings(data_dir: DataDir, database_url: DatabaseUrl) -> Settings:
    try:
        return settings_from(data_dir, database_url)
    except ValueError as exc:
        raise fail(escape(str(exc))) from None


def parse_credits(text: str, what: str, *, positive: bool) -> int:
    """A credit amount typed by a person into micro-credits; a clear error when it is not one."""
    try:
        return Admin.parse_amount(text, what, positive=positive)
    except ToolwireError as exc:
        raise fail(escape(f"{exc.message}, got {text!r}")) from None


def _details(details: Any) -> str:
    if not isinstance(details, Mapping) or not details:
        return ""
    return " (" + ", ".join(f"{k}={v}" for k, v in details.items()) + ")"


def _first_line(text: str) -> str:
    return text.strip().splitlines()[0] if text.strip() else ""


# -- rendering ----------------------------------------------------------------------------------


def print_json(body: Any) -> None:
    typer.echo(json.dumps(body, indent=2, ensure_ascii=False))


def _when(value: str | None) -> str:
    """An ISO timestamp to the minute, for tables (`--json` has it in full)."""
    return "" if value is None else value.replace("T", " ")[:16]


NO_WRAP = frozenset({"id", "account", "balance", "created", "when", "amount", "status", "scopes"})
"""Columns whose values are copied or compared: never wrapped or cut (others wrap instead)."""


def _table(columns: Sequence[str], title: str | None = None) -> Table:
    table = Table(title=title)
    for column in columns:
        table.add_column(
            column,
            no_wrap=column in NO_WRAP,
            overflow="fold",
            justify="right" if column in ("balance", "amount") else "left",
        )
    return table


def accounts_table(accounts: Iterable[AccountInfo], title: str | None = None) -> Table:
    table = _table(("id", "name", "balance", "low at", "plan", "created", "status"), title)
    for account in accounts:
        row = account.to_dict()
        status = "disabled" if row["disabled"] else "active"
        if row["low_balance"] is not None and account.balance <= (account.low_balance or 0):
            status += " (low balance)"
        table.add_row(
            row["id"],
            row["name"],
            str(row["balance"]),
            "" if row["low_balance"] is None else str(row["low_balance"]),
            row["plan"] or "",
            _when(row["created_at"]),
            status,
        )
    return table


def keys_table(keys: Iterable[KeyInfo], title: str | None = None) -> Table:
    table = _table(("id", "account", "name", "scopes", "status"), title)
    for key in keys:
        row = key.to_dict()
        status = "revoked" if row["revoked_at"] else "active"
        if row["is_admin"]:
            status += " (admin)"
        table.add_row(
            row["id"],
            row["account_id"],
            row["name"],
            "\n".join(row["scopes"]),
            status,
        )
    return table


def history_table(entries: Iterable[LedgerEntryInfo]) -> Table:
    table = _table(("id", "when", "kind", "amount", "tool", "note"), "ledger (newest first)")
    for entry in entries:
        row = entry.to_dict()
        tool = ".".join(p for p in (row["tool"], row["operation"]) if p)
        table.add_row(
            str(row["id"]),
            _when(row["created_at"]),
            row["kind"],
            str(row["amount"]),
            tool,
            row["note"] or "",
        )
    return table


# -- accounts -----------------------------------------------------------------------------------


@accounts_app.command("create")
def accounts_create(
    name: Annotated[str, typer.Argument(help="Account name.", show_default=False)],
    credits: Annotated[
        str, typer.Option("--credits", help="Initial credits (up to 6 decimals).")
    ] = "0",
    low_balance: Annotated[
        str | None,
        typer.Option("--low-balance", help="Receipts flag a balance at or below this."),
    ] = None,
    data_dir: DataDir = None,
    database_url: DatabaseUrl = None,
    as_json: JsonOut = False,
) -> None:
    """Create an account, optionally with initial credits and a low-balance threshold."""
    micro = parse_credits(credits, "--credits", positive=False)
    low = (
        None if low_balance is None else parse_credits(low_balance, "--low-balance", positive=False)
    )
    settings = store_settings(data_dir, database_url)
    account = with_store(settings, lambda store: store.create_account(name, micro, low_balance=low))
    if as_json:
        print_json({"account": account.to_dict()})
        return
    console.print(accounts_table([account], title="account created"))
    console.print(f"next: [bold]toolwire keys create {account.id}[/]", highlight=False)


@accounts_app.command("set-plan")
def accounts_set_plan(
    account_id: AccountId,
    plan: Annotated[
        str | None,
        typer.Argument(help="A plan of the catalog's limits.plans.", show_default=False),
    ] = None,
    clear: Annotated[
        bool, typer.Option("--clear", help="Clear the stored plan (the catalog decides).")
    ] = False,
    data_dir: DataDir = None,
    database_url: DatabaseUrl = None,
    as_json: JsonOut = False,
) -> None:
    """Put an account on a plan: its per-account rate limit becomes `limits.plans.PLAN`.

    Running gateways follow within their key-cache window (TOOLWIRE_KEY_CACHE_SECONDS); the
    admin API (PATCH /admin/v1/accounts/ID) also checks the name against the running catalog."""
    if (plan is None) == (not clear):
        raise fail("give a PLAN, or --clear (not both)")
    settings = store_settings(data_dir, database_url)
    account = with_store(settings, lambda store: store.set_plan(account_id, plan))
    if as_json:
        print_json({"account": account.to_dict()})
        return
    console.print(accounts_table([account], title="plan set" if plan else "plan cleared"))


@accounts_app.command("list")
def accounts_list(
    data_dir: DataDir = None, database_url: DatabaseUrl = None, as_json: JsonOut = False
) -> None:
    """List every account with its balance."""
    settings = store_settings(data_dir, database_url)
    accounts = with_store(settings, lambda store: store.list_accounts())
    if as_json:
        print_json({"accounts": [a.to_dict() for a in accounts]})
        return
    console.print(accounts_table(accounts))


@accounts_app.command("show")
def accounts_show(
    account_id: AccountId,
    data_dir: DataDir = None,
    database_url: DatabaseUrl = None,
    as_json: JsonOut = False,
) -> None:
    """Show one account, its keys and its recent ledger entries."""
    settings = store_settings(data_dir, database_url)

    async def load(
        store: Admin,
    ) -> tuple[AccountInfo, list[KeyInfo], list[LedgerEntryInfo]]:
        account = await store.get_account(account_id)
        return account, await store.list_keys(account_id), await store.history(account_id, 20)

    account, keys, history = with_store(settings, load)
    if as_json:
        print_json(
            {
                "account": account.to_dict(),
                "keys": [k.to_dict() for k in keys],
                "history": [e.to_dict() for e in history],
            }
        )
        return
    console.print(accounts_table([account]))
    console.print(keys_table(keys, title="keys"))
    console.print(history_table(history))


# -- keys ---------------------------------------------------------------------------------------


@keys_app.command("create")
def keys_create(
    account_id: AccountId,
    name: Annotated[str, typer.Option("--name", help="A label for the key.")] = "default",
    scope: Annotated[
        list[str] | None,
        typer.Option(
            "--scope",
            help="Allow (or, with a leading '!', deny) a glob over tool names or "
            "'category:NAME'. Repeatable. Default: '*' (every tool).",
        ),
    ] = None,
    server: Annotated[
        list[str] | None,
        typer.Option(
            "--server",
            help="Limit the key to this virtual server (the catalog's `servers:`). Repeatable. "
            "Default: not limited.",
        ),
    ] = None,
    data_dir: DataDir = None,
    database_url: DatabaseUrl = None,
    as_json: JsonOut = False,
) -> None:
    """Issue an API key for an account. The secret is printed once and never again."""
    scopes: Sequence[str] = scope or ["*"]
    settings = store_settings(data_dir, database_url)
    info, secret = with_store(
        settings, lambda store: store.create_key(account_id, name, scopes, servers=server)
    )
    if as_json:
        print_json({"key": info.to_dict(), "secret": secret})
        return
    console.print(keys_table([info], title="key created"))
    console.print(
        Panel(
            f"[bold]{secret}[/]\n\nThis secret is shown once: store it now. Only its hash is kept.",
            title="API key secret",
            expand=False,
        ),
        highlight=False,
        soft_wrap=True,
    )


@keys_app.command("list")
def keys_list(
    account: Annotated[
        str | None, typer.Option("--account", help="Only this account's keys.")
    ] = None,
    data_dir: DataDir = None,
    database_url: DatabaseUrl = None,
    as_json: JsonOut = False,
) -> None:
    """List API keys (never their secrets)."""
    settings = store_settings(data_dir, database_url)

    async def load(store: Admin) -> list[KeyInfo]:
        return await store.list_keys(account)  # an unknown account is an error, not []

    keys = with_store(settings, load)
    if as_json:
        print_json({"keys": [k.to_dict() for k in keys]})
        return
    console.print(keys_table(keys))


@keys_app.command("revoke")
def keys_revoke(
    key_id: Annotated[str, typer.Argument(help="Key id (not the secret).", show_default=False)],
    data_dir: DataDir = None,
    database_url: DatabaseUrl = None,
    as_json: JsonOut = False,
) -> None:
    """Revoke an API key."""
    settings = store_settings(data_dir, database_url)
    info = with_store(settings, lambda store: store.revoke_key(key_id))
    if as_json:
        print_json({"key": info.to_dict()})
        return
    console.print(keys_table([info], title="key revoked"))
    console.print(
        f"Running servers stop accepting this key within their key-cache window "
        f"({settings.key_cache_seconds:g} s, TOOLWIRE_KEY_CACHE_SECONDS).",
        highlight=False,
    )


# -- credits ------------------------------------------------------------------------------------


@credits_app.command("grant")
def credits_grant(
    account_id: AccountId,
    amount: Annotated[str, typer.Argument(help="Credits to add (up to 6 decimals).")],
    note: Annotated[str | None, typer.Option("--note", help="Why, for the ledger.")] = None,
    data_dir: DataDir = None,
    database_url: DatabaseUrl = None,
    as_json: JsonOut = False,
) -> None:
    """Add credits to an account."""
    micro = parse_credits(amount, "amount", positive=True)
    settings = store_settings(data_dir, database_url)
    balance = with_store(settings, lambda store: store.grant(account_id, micro, note))
    body = {"account_id": account_id, "balance": micro_to_credits(balance)}
    if as_json:
        print_json(body)
        return
    console.print(
        f"granted {micro_to_credits(micro)} credits to {account_id}; "
        f"balance [bold]{body['balance']}[/]",
        highlight=False,
    )


@credits_app.command("balance")
def credits_balance(
    account_id: AccountId,
    data_dir: DataDir = None,
    database_url: DatabaseUrl = None,
    as_json: JsonOut = False,
) -> None:
    """Show an account's balance."""
    settings = store_settings(data_dir, database_url)
    balance = with_store(settings, lambda store: store.balance(account_id))
    body = {"account_id": account_id, "balance": micro_to_credits(balance)}
    if as_json:
        print_json(body)
        return
    console.print(f"{account_id}: [bold]{body['balance']}[/] credits", highlight=False)


@credits_app.command("history")
def credits_history(
    account_id: AccountId,
    limit: Annotated[int, typer.Option("--limit", min=1, max=1000)] = 50,
    data_dir: DataDir = None,
    database_url: DatabaseUrl = None,
    as_json: JsonOut = False,
) -> None:
    """Show an account's ledger entries, newest first."""
    settings = store_settings(data_dir, database_url)
    entries = with_store(settings, lambda store: store.history(account_id, limit))
    if as_json:
        print_json({"account_id": account_id, "entries": [e.to_dict() for e in entries]})
        return
    console.print(history_table(entries))
