"""`toolwire usage`: calls, failures and credits per account, key, tool, operation and UTC day.

Reads the deployment's store directly (like `toolwire accounts`), so it works with or without a
running server; the admin API's `GET /admin/v1/usage` gives the same rows. A table by default,
`--json` for scripts, `--csv` for spreadsheets. What this is not: the ledger (see
`toolwire credits history`).
"""

from __future__ import annotations

import asyncio
from typing import Annotated

import typer
from rich.markup import escape
from rich.table import Table

from toolwire.cli.admin import print_json, store_settings
from toolwire.cli.common import DatabaseUrl, DataDir, JsonOut, console, fail
from toolwire.core.errors import ToolwireError
from toolwire.core.model import micro_to_credits
from toolwire.core.records import UsageRow, parse_day, to_csv


def register(app: typer.Typer) -> None:
    app.command("usage")(usage)


def usage(
    account: Annotated[str | None, typer.Option("--account", help="Only this account.")] = None,
    key: Annotated[str | None, typer.Option("--key", help="Only this key id.")] = None,
    tool: Annotated[str | None, typer.Option("--tool", help="Only this tool.")] = None,
    since: Annotated[str | None, typer.Option("--since", help="First UTC day, YYYY-MM-DD.")] = None,
    until: Annotated[str | None, typer.Option("--until", help="Last UTC day, YYYY-MM-DD.")] = None,
    as_csv: Annotated[bool, typer.Option("--csv", help="Print CSV instead of a table.")] = False,
    data_dir: DataDir = None,
    database_url: DatabaseUrl = None,
    as_json: JsonOut = False,
) -> None:
    """Show usage per account, key, tool, operation and day."""
    from toolwire.store import Store
    from toolwire.store.usage import UsageReport

    settings = store_settings(data_dir, database_url)

    async def run() -> list[UsageRow]:
        store = await Store.open(settings.sqlalchemy_url)
        try:
            return await UsageReport(store.engine).rows(
                account_id=account,
                key_id=key,
                tool=tool,
                since=parse_day(since, "since"),
                until=parse_day(until, "until"),
            )
        finally:
            await store.close()

    try:
        rows = asyncio.run(run())
    except ToolwireError as exc:
        raise fail(escape(f"{exc.message} [{exc.code}]")) from None
    if as_csv:
        typer.echo(to_csv(rows), nl=False)
        return
    if as_json:
        print_json({"usage": [r.to_dict() for r in rows], "count": len(rows)})
        return
    table = Table(title="usage")
    for column in ("day", "account", "key", "tool", "calls", "failures", "credits"):
        numeric = column in ("calls", "failures", "credits")
        table.add_column(column, justify="right" if numeric else "left")
    for r in rows:
        name = r.tool or ""
        if r.operation and r.operation != r.tool:
            name = f"{name}.{r.operation}"
        table.add_row(
            r.day, r.account_id or "", r.key_id or "", name, str(r.calls), str(r.failures),
            str(micro_to_credits(r.credits)),
        )  # fmt: skip
    console.print(table)
