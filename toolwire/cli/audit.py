"""`toolwire audit`: read the audit records (one per call), filter them, export them.

    toolwire audit [--account A] [--key K] [--tool T] [--outcome O] [--since 1h] [--until ...]
                   [--limit 50] [--json]                    newest first: a table, or JSON lines
    toolwire audit export [filters] [--output FILE]         every match, oldest first, JSON lines

Reads the deployment's store directly (like `toolwire usage`), so it works with or without a
running server; the admin API's `GET /admin/v1/audit` and `/admin/v1/audit/export` give the
same records through the same `Admin` service. Field names: docs/audit.md.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import IO, Annotated

import orjson
import typer
from rich.markup import escape
from rich.table import Table

from toolwire.cli.admin import store_settings, with_store
from toolwire.cli.common import DatabaseUrl, DataDir, console
from toolwire.core.admin import Admin
from toolwire.core.records import AuditFilter, AuditRecord, audit_filter

group = typer.Typer(
    help="Audit records: who called which tool, with what outcome and cost.",
    no_args_is_help=False,
    invoke_without_command=True,
)

Account = Annotated[str | None, typer.Option("--account", help="Only this account id.")]
Key = Annotated[str | None, typer.Option("--key", help="Only this key id.")]
Tool = Annotated[str | None, typer.Option("--tool", help="Only this tool.")]
OutcomeOpt = Annotated[
    str | None, typer.Option("--outcome", help="Only this outcome: OK or an error code.")
]
Since = Annotated[
    str | None, typer.Option("--since", help="From this time: 15m, 1h, 7d or ISO 8601 (UTC).")
]
Until = Annotated[
    str | None, typer.Option("--until", help="Before this time: 15m, 1h, 7d or ISO 8601 (UTC).")
]


def register(app: typer.Typer) -> None:
    app.add_typer(group, name="audit")


def _where(
    account: str | None,
    key: str | None,
    tool: str | None,
    outcome: str | None,
    since: str | None,
    until: str | None,
) -> AuditFilter:
    from toolwire.cli.common import fail
    from toolwire.core.errors import ToolwireError

    try:
        return audit_filter(
            account_id=account, key_id=key, tool=tool, outcome=outcome, since=since, until=until
        )
    except ToolwireError as exc:
        raise fail(escape(f"{exc.message} [{exc.code}]")) from None


@group.callback()
def audit(
    ctx: typer.Context,
    account: Account = None,
    key: Key = None,
    tool: Tool = None,
    outcome: OutcomeOpt = None,
    since: Since = None,
    until: Until = None,
    limit: Annotated[int, typer.Option("--limit", min=1, max=1000, help="At most.")] = 50,
    as_json: Annotated[bool, typer.Option("--json", help="JSON lines instead of a table.")] = False,
    data_dir: DataDir = None,
    database_url: DatabaseUrl = None,
) -> None:
    """Show audit records, newest first."""
    if ctx.invoked_subcommand is not None:
        return
    where = _where(account, key, tool, outcome, since, until)
    settings = store_settings(data_dir, database_url)

    async def run(admin: Admin) -> list[AuditRecord]:
        records, _ = await admin.audit(where, limit=limit)
        return records

    records = with_store(settings, run)
    if as_json:
        for record in records:
            typer.echo(orjson.dumps(record.to_dict()).decode())
        return
    table = Table(title=f"audit ({len(records)} newest)")
    for column in ("at", "key", "door", "tool", "outcome", "credits", "ms", "request"):
        right = column in ("credits", "ms")
        if column == "request":
            table.add_column(column, overflow="fold", min_width=12)
        else:
            table.add_column(column, justify="right" if right else "left", no_wrap=True)
    for r in records:
        d = r.to_dict()
        name = r.tool or ""
        if r.operation and r.operation != r.tool:
            name = f"{name}.{r.operation}"
        table.add_row(
            (d["at"] or "").replace("T", " ")[:19], r.key_id or "", r.door,
            escape(name), r.outcome, str(d["credits_charged"]), f"{r.latency_ms:.1f}",
            r.request_id,
        )  # fmt: skip
    console.print(table)


@group.command("export")
def export(
    account: Account = None,
    key: Key = None,
    tool: Tool = None,
    outcome: OutcomeOpt = None,
    since: Since = None,
    until: Until = None,
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="Write to this file (default: stdout).")
    ] = None,
    data_dir: DataDir = None,
    database_url: DatabaseUrl = None,
) -> None:
    """Export every matching record as JSON lines, oldest first (for SIEM shippers)."""
    where = _where(account, key, tool, outcome, since, until)
    settings = store_settings(data_dir, database_url)

    async def run(admin: Admin) -> int:
        count = 0
        out: IO[bytes] = output.open("wb") if output is not None else sys.stdout.buffer
        try:
            async for record in admin.audit_export(where):
                out.write(orjson.dumps(record.to_dict()) + b"\n")
                count += 1
        finally:
            out.flush()
            if output is not None:
                out.close()
        return count

    count = with_store(settings, run)
    if output is not None:
        console.print(f"{count} record(s) written to {escape(str(output))}")
