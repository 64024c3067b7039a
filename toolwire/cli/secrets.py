"""`toolwire secrets set|list|delete`: the credential vault of the local deployment.

The commands open the deployment's store (as `toolwire accounts` does) and seal values with the
gateway secret (`TOOLWIRE_SECRET_KEY`, or `<data-dir>/secret.key`, generated 0600 on first use).
A value is read from a hidden prompt, or from standard input when it is piped (`... | toolwire
secrets set NAME`), never echoed; `list` shows names and dates, never values. Running gateways
see a change within their vault cache window (5 s). What this is not: BYOK (per-caller keys).
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Annotated, TypeVar

import typer
from rich.markup import escape
from rich.table import Table

from toolwire.cli.admin import print_json, store_settings
from toolwire.cli.common import DatabaseUrl, DataDir, JsonOut, console, fail
from toolwire.settings import Settings

if TYPE_CHECKING:
    from toolwire.vault import Vault

T = TypeVar("T")

secrets_app = typer.Typer(
    help="Upstream credentials, stored encrypted; the catalog refers to them by name.",
    no_args_is_help=True,
)

SecretName = Annotated[str, typer.Argument(help="Secret name, e.g. tavily_api_key.")]


def register(app: typer.Typer) -> None:
    app.add_typer(secrets_app, name="secrets")


def with_vault(settings: Settings, action: Callable[[Vault], Awaitable[T]]) -> T:
    from sqlalchemy.exc import SQLAlchemyError

    from toolwire.bootstrap import load_secret, prepare_data_dir
    from toolwire.store import Store
    from toolwire.store.secrets import SecretStore
    from toolwire.vault import Vault, VaultError

    async def run() -> T:
        prepare_data_dir(settings)
        master = load_secret(settings)
        store = await Store.open(settings.sqlalchemy_url)
        try:
            return await action(Vault.over(SecretStore(store.engine), master))
        finally:
            await store.close()

    try:
        return asyncio.run(run())
    except VaultError as exc:
        raise fail(escape(str(exc))) from None
    except SQLAlchemyError as exc:
        raise fail(escape(f"database error: {exc.__class__.__name__}")) from None
    except (ValueError, OSError) as exc:
        raise fail(escape(str(exc))) from None


def _read_value(given: str | None) -> str:
    if given is not None:
        return given
    if sys.stdin.isatty():
        value: str = typer.prompt("value", hide_input=True, confirmation_prompt=True)
        return value
    return sys.stdin.read().rstrip("\r\n")


@secrets_app.command("set")
def secrets_set(
    name: SecretName,
    value: Annotated[
        str | None,
        typer.Option(
            "--value", help="The value (visible in shell history; prefer the prompt or a pipe)."
        ),
    ] = None,
    data_dir: DataDir = None,
    database_url: DatabaseUrl = None,
    as_json: JsonOut = False,
) -> None:
    """Create or replace a secret. The value is read from a hidden prompt or standard input."""
    secret = _read_value(value)
    if not secret:
        raise fail("the value is empty")
    settings = store_settings(data_dir, database_url)
    created = with_vault(settings, lambda vault: vault.set(name, secret))
    if as_json:
        print_json({"name": name, "created": created})
        return
    console.print(f"secret [bold]{escape(name)}[/] {'created' if created else 'replaced'}")


@secrets_app.command("list")
def secrets_list(
    data_dir: DataDir = None, database_url: DatabaseUrl = None, as_json: JsonOut = False
) -> None:
    """List secret names and dates (never values)."""
    settings = store_settings(data_dir, database_url)
    infos = with_vault(settings, lambda vault: vault.list())
    if as_json:
        print_json({"secrets": [info.to_dict() for info in infos]})
        return
    table = Table(title=f"{len(infos)} secrets")
    for column in ("name", "created", "updated"):
        table.add_column(column, no_wrap=True)
    for info in infos:
        row = info.to_dict()
        table.add_row(row["name"], row["created_at"][:16], row["updated_at"][:16])
    console.print(table)


@secrets_app.command("delete")
def secrets_delete(
    name: SecretName,
    data_dir: DataDir = None,
    database_url: DatabaseUrl = None,
    as_json: JsonOut = False,
) -> None:
    """Delete a secret. Operations that refer to it fail until it is set again."""
    settings = store_settings(data_dir, database_url)
    deleted = with_vault(settings, lambda vault: vault.delete(name))
    if not deleted:
        raise fail(escape(f"no secret named {name!r}"))
    if as_json:
        print_json({"name": name, "deleted": True})
        return
    console.print(f"secret [bold]{escape(name)}[/] deleted")
