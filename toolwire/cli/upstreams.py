"""`toolwire upstreams list|diff|approve`: upstream health, and pins against silent changes.

`diff` and `approve` act on the deployment's store, like `toolwire keys` (pins live in the
database, so every instance agrees; running servers serve an approved tool again within their
`TOOLWIRE_PIN_REFRESH_S`). `list` asks a running gateway (`--url`, admin key from
`TOOLWIRE_ADMIN_KEY`), since breaker state and latency live in the serving process. With
`--json` each prints the admin API's JSON (`/admin/v1/upstreams...`).
"""

from __future__ import annotations

import asyncio
import os
from typing import Annotated, Any

import typer
from rich.markup import escape
from rich.table import Table
from rich.text import Text

from toolwire.cli.admin import print_json, store_settings
from toolwire.cli.common import DatabaseUrl, DataDir, JsonOut, console, fail
from toolwire.core import pins
from toolwire.core.admin import Admin
from toolwire.core.errors import ToolwireError
from toolwire.core.pins import PinRecord

upstreams_app = typer.Typer(
    help="Upstream health, and pinned tool definitions.", no_args_is_help=True
)

Name = Annotated[str, typer.Argument(help="Upstream name, as in the catalog.", show_default=False)]
Url = Annotated[
    str,
    typer.Option("--url", help="A running gateway. Env: TOOLWIRE_BASE_URL.", show_default=False),
]


def register(app: typer.Typer) -> None:
    app.add_typer(upstreams_app, name="upstreams")


def _with_pins(data_dir: Any, database_url: Any, action: Any) -> Any:
    from toolwire.store import Store
    from toolwire.store.pins import PinStore

    settings = store_settings(data_dir, database_url)

    async def run() -> Any:
        store = await Store.open(settings.sqlalchemy_url)
        try:
            return await action(Admin(store.accounts, pins=PinStore(store.engine)))
        finally:
            await store.close()

    try:
        return asyncio.run(run())
    except ToolwireError as exc:
        raise fail(escape(f"{exc.message} [{exc.code}]")) from None
    except (ValueError, OSError) as exc:
        raise fail(escape(str(exc))) from None


@upstreams_app.command("list")
def upstreams_list(
    url: Url = "",
    as_json: JsonOut = False,
) -> None:
    """Each upstream of a running gateway: kind, breaker state, tools, pinned/held, processes,
    last error, p50 latency."""
    base = url or os.environ.get("TOOLWIRE_BASE_URL") or "http://127.0.0.1:8080"
    key = os.environ.get("TOOLWIRE_ADMIN_KEY")
    if not key:
        raise fail("set TOOLWIRE_ADMIN_KEY to the gateway's admin key")
    import httpx  # here: `toolwire serve` loads this module but never needs httpx

    try:
        response = httpx.get(
            base.rstrip("/") + "/admin/v1/upstreams",
            headers={"Authorization": f"Bearer {key}"},
            timeout=10,
        )
    except httpx.HTTPError as exc:
        raise fail(escape(f"cannot reach {base}: {exc}")) from None
    if response.status_code != 200:
        raise fail(escape(f"{base} answered {response.status_code}: {response.text[:200]}"))
    rows = response.json()["upstreams"]
    if as_json:
        print_json({"upstreams": rows})
        return
    table = Table(title="upstreams")
    for column in ("name", "kind", "state", "tools", "pinned", "held", "processes", "p50 ms"):
        table.add_column(column, no_wrap=True)
    table.add_column("last error", overflow="fold")
    colours = {"closed": "green", "half_open": "yellow", "open": "red"}
    for row in rows:
        state = Text(row["state"], style=colours.get(row["state"], ""))
        table.add_row(
            row["name"],
            row["kind"] or "",
            state,
            str(row["tools"]),
            str(row["pinned"]),
            Text(str(row["held"]), style="bold red" if row["held"] else ""),
            "" if row["processes"] is None else str(row["processes"]),
            "" if row["p50_ms"] is None else f"{row['p50_ms']:.1f}",
            row["last_error"] or "",
        )
    console.print(table)


def _words(runs: list[dict[str, str]]) -> Text:
    """Removed words as `[-...-]` in red, added ones as `{+...+}` in green (git's plain word-diff
    marks, so the change reads without colours too)."""
    text = Text()
    for run in runs:
        if run["op"] == "delete":
            text.append(f"[-{run['text']}-]", style="bold red")
        elif run["op"] == "insert":
            text.append(f"{{+{run['text']}+}}", style="bold green")
        else:
            text.append(run["text"])
    return text


@upstreams_app.command("diff")
def upstreams_diff(
    name: Name,
    data_dir: DataDir = None,
    database_url: DatabaseUrl = None,
    as_json: JsonOut = False,
) -> None:
    """What changed in each held tool of upstream NAME, word by word ([-removed-] in red,
    {+added+} in green), against the approved definition."""
    records: list[PinRecord] = _with_pins(data_dir, database_url, lambda a: a.pins(name))
    held = [r for r in records if r.held]
    if as_json:
        print_json({"pins": [{**r.to_dict(), "diff": pins.diff(r)} for r in held]})
        return
    if not held:
        console.print(f"nothing held for {escape(name)}: {len(records)} tool(s) approved")
        return
    for record in held:
        title = f"{record.upstream}/{record.tool}"
        if record.approved is None:
            title += " (new: never approved)"
        table = Table(title=escape(title), show_lines=True)
        table.add_column("field", no_wrap=True)
        table.add_column("change (approved -> now)", overflow="fold")
        for change in pins.diff(record):
            table.add_row(change["field"], _words(change["words"]))
        console.print(table)
    console.print(f"approve with: toolwire upstreams approve {escape(name)} [TOOL]")


@upstreams_app.command("approve")
def upstreams_approve(
    name: Name,
    tool: Annotated[
        str | None, typer.Argument(help="Only this tool (default: every held tool).")
    ] = None,
    data_dir: DataDir = None,
    database_url: DatabaseUrl = None,
    as_json: JsonOut = False,
) -> None:
    """Approve the held definitions of upstream NAME (or of one TOOL): they are served again."""
    approved: list[PinRecord] = _with_pins(data_dir, database_url, lambda a: a.approve(name, tool))
    if as_json:
        print_json({"approved": [r.to_dict() for r in approved]})
        return
    if not approved:
        console.print(f"nothing was held for {escape(name)}")
        return
    for record in approved:
        console.print(
            f"approved {escape(record.upstream)}/{escape(record.tool)} ({record.approved_hash})"
        )
