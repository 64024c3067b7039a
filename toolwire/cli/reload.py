"""`toolwire reload`: make a running gateway re-read its catalog file, through its admin API.

    toolwire reload                                  # http://127.0.0.1:8787, TOOLWIRE_ADMIN_KEY
    toolwire reload --url https://gw.example.com --key tw_...

The gateway checks the file and serves it without a restart, and signals every other instance
sharing its state backend to do the same (`toolwire.reload`). An invalid file is refused: the
command prints the reason and its location (file:line and YAML path) and exits 1; the gateway
keeps serving the catalog it had. Same as `kill -HUP <pid>` on the server's machine, but with
the answer.
"""

from __future__ import annotations

import json
import os
from typing import Annotated

import typer
from rich.markup import escape

from toolwire.cli.common import JsonOut, console, err_console, settings_from


def register(app: typer.Typer) -> None:
    app.command(name="reload")(reload_command)


def reload_command(
    url: Annotated[
        str | None,
        typer.Option(help="The gateway's base URL. Default: TOOLWIRE_PUBLIC_URL or host:port."),
    ] = None,
    key: Annotated[
        str | None, typer.Option(help="An admin key. Env: TOOLWIRE_ADMIN_KEY.", show_default=False)
    ] = None,
    as_json: JsonOut = False,
) -> None:
    """Reload the catalog of a running gateway (and of every instance sharing its state)."""
    from toolwire.client import Client
    from toolwire.client import ToolwireError as ClientError

    key = key or os.environ.get("TOOLWIRE_ADMIN_KEY")
    if not key:
        err_console.print("[bold red]error:[/] an admin key is needed: --key or TOOLWIRE_ADMIN_KEY")
        raise typer.Exit(1)
    base = url or settings_from().base_url
    try:
        with Client(base, api_key=key) as client:
            result = client.admin.reload()
    except ClientError as exc:
        if as_json:
            print(json.dumps({"error": exc.to_dict()}))
            raise typer.Exit(1) from None
        err_console.print(f"[bold red]error:[/] {escape(exc.message)} [{exc.code}]")
        details = exc.details if isinstance(exc.details, dict) else {}
        if details.get("location"):
            err_console.print(f"  at {escape(str(details['location']))}")
        if details.get("version"):
            err_console.print(f"  still serving catalog version {details['version']}")
        raise typer.Exit(1) from None
    if as_json:
        print(json.dumps(result))
        return
    added, removed = result.get("added", []), result.get("removed", [])
    if result["status"] == "unchanged":
        console.print(f"unchanged: still serving catalog version {result['version']}")
    else:
        console.print(
            f"reloaded: catalog version {result['previous']} -> {result['version']}, "
            f"{result['operations']} operations"
        )
    for name in added:
        console.print(f"  + {escape(name)}")
    for name in removed:
        console.print(f"  - {escape(name)}")
