"""`toolwire tools list` and `toolwire call`: what the catalog holds, and running one tool.

`tools list` reads the local catalog (built-in tools plus the `--config` file), with no server and
no key. `call` is a client: it runs a tool on a running gateway over HTTP with the Python SDK,
exactly as an application would, so it needs the gateway's URL and an API key.
"""

from __future__ import annotations

import json
import os
import sys
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.markup import escape
from rich.table import Table

from toolwire.cli.common import ConfigFile, JsonOut, console, err_console, fail, settings_from
from toolwire.core.model import micro_to_credits

if TYPE_CHECKING:
    from toolwire.client import Meta, ToolwireError

tools_app = typer.Typer(help="Inspect the tool catalog.", no_args_is_help=True)


def register(app: typer.Typer) -> None:
    app.add_typer(tools_app, name="tools")
    app.command("call")(call)


@tools_app.command("list")
def tools_list(
    category: Annotated[str | None, typer.Option("--category", help="Only this category.")] = None,
    q: Annotated[
        str | None, typer.Option("--q", help="Words that must all appear in name/description.")
    ] = None,
    config: ConfigFile = None,
    as_json: JsonOut = False,
) -> None:
    """List the tools this deployment's catalog serves: name, category, price, description."""
    from toolwire.config import ConfigError, build_catalog, load_config
    from toolwire.inbound.formats import catalog_entry

    try:
        settings = settings_from(config=config)
        catalog = build_catalog(load_config(settings.config), settings.builtin_profiles)
    except (ConfigError, ValueError) as exc:
        raise fail(escape(str(exc))) from None
    ops = catalog.search(q, category)
    if as_json:
        entries = [catalog_entry(op) for op in ops]
        typer.echo(json.dumps({"tools": entries, "count": len(entries)}, indent=2, default=str))
        return
    table = Table(title=f"{len(ops)} tools")
    table.add_column("name", no_wrap=True)
    table.add_column("category")
    table.add_column("price", justify="right")
    table.add_column("description")
    for op in ops:
        description = (op.description.strip() or op.tool_description.strip()).splitlines()
        table.add_row(
            op.qualified,
            op.category,
            str(micro_to_credits(op.price)),
            escape(description[0] if description else ""),
        )
    console.print(table)


def call(
    name: Annotated[
        str,
        typer.Argument(
            metavar="TOOL.OPERATION",
            help="The operation to run, e.g. calc.evaluate (or a bare single-operation tool).",
            show_default=False,
        ),
    ],
    input: Annotated[
        str, typer.Option("--input", "-i", help="Arguments as a JSON object; '-' reads stdin.")
    ] = "{}",
    url: Annotated[
        str | None,
        typer.Option(
            "--url", help="Gateway URL. Env: TOOLWIRE_URL. Default http://127.0.0.1:8787."
        ),
    ] = None,
    key: Annotated[
        str | None,
        typer.Option("--key", help="API key. Env: TOOLWIRE_API_KEY.", show_default=False),
    ] = None,
    idempotency_key: Annotated[
        str | None, typer.Option("--idempotency-key", help="Sent as the Idempotency-Key header.")
    ] = None,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print the whole envelope (data and meta) as JSON.")
    ] = False,
) -> None:
    """Run one tool operation on a running gateway; prints its data, the receipt on stderr."""
    arguments = _parse_input(sys.stdin.read() if input == "-" else input)
    api_key = key or os.environ.get("TOOLWIRE_API_KEY")
    if not api_key:
        raise fail("an API key is needed: pass --key or set TOOLWIRE_API_KEY")
    # here: the SDK (and httpx) load for this client command, not in `toolwire serve`
    from toolwire.client import Client, ToolwireError, TransportError

    client = Client(url, api_key=api_key)
    try:
        result = client.execute(name, arguments, idempotency_key=idempotency_key)
    except TransportError as exc:
        raise fail(escape(f"{exc.message} ({client.base_url})")) from None
    except ToolwireError as exc:
        if as_json:
            body = {"ok": False, "error": exc.to_dict(), "meta": _meta_dict(exc.meta)}
            typer.echo(json.dumps(body, indent=2, ensure_ascii=False))
        raise fail(_error_line(exc)) from None
    finally:
        client.close()
    if as_json:
        typer.echo(json.dumps(result.to_dict(), indent=2, ensure_ascii=False))
    else:
        data = result.data
        typer.echo(
            data if isinstance(data, str) else json.dumps(data, indent=2, ensure_ascii=False)
        )
    err_console.print(_receipt(result.meta), highlight=False, style="dim", soft_wrap=True)


def _parse_input(text: str) -> dict[str, Any]:
    try:
        value = json.loads(text)
    except ValueError as exc:
        raise fail(escape(f"--input is not valid JSON: {exc}")) from None
    if not isinstance(value, dict):
        raise fail('--input must be a JSON object, e.g. \'{"message": "hi"}\'')
    return value


def _meta_dict(meta: Meta | None) -> dict[str, Any] | None:
    return None if meta is None else meta.to_dict()


def _error_line(exc: ToolwireError) -> str:
    line = f"{exc.message} [{exc.code}]"
    if exc.code == "INVALID_ARGUMENTS" and isinstance(exc.details, dict):
        for err in exc.details.get("errors") or []:
            line += f"\n  {err.get('path', '/')}: {err.get('message', '')}"
    if exc.request_id:
        line += f"\n  request id {exc.request_id}"
    return escape(line)


def _receipt(meta: Meta) -> str:
    balance = "" if meta.balance is None else f" · balance {meta.balance}"
    return (
        f"{meta.tool or ''} · {meta.credits_charged} credits{balance} · "
        f"{meta.latency_ms:g} ms · {meta.request_id}"
    )
