"""`toolwire serve` and `toolwire init`: run the gateway; write an example catalog."""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.panel import Panel

from toolwire.cli.common import ConfigFile, DatabaseUrl, DataDir, console, fail, settings_from
from toolwire.core.model import micro_to_credits

if TYPE_CHECKING:
    from toolwire.bootstrap import FirstStart
    from toolwire.services import Services
    from toolwire.settings import Settings

log = logging.getLogger("toolwire.serve")

# The server's imports (uvicorn, the app, the store) load inside `serve` so that every other
# command starts fast.


def register(app: typer.Typer) -> None:
    app.command()(serve)
    app.command()(init)


def serve(
    host: Annotated[str | None, typer.Option(help="Interface to bind. Env: TOOLWIRE_HOST.")] = None,
    port: Annotated[int | None, typer.Option(help="Port. Env: TOOLWIRE_PORT.")] = None,
    data_dir: DataDir = None,
    database_url: DatabaseUrl = None,
    config: ConfigFile = None,
    profile: Annotated[
        list[str] | None, typer.Option(help="Extra built-in catalog profile (repeatable).")
    ] = None,
    log_level: Annotated[str | None, typer.Option(help="debug, info, warning, error.")] = None,
    log_format: Annotated[str | None, typer.Option(help="console or json.")] = None,
    workers: Annotated[
        int | None,
        typer.Option(
            help="Processes serving this port; above 1 needs TOOLWIRE_STATE_URL=redis://... "
            "Env: TOOLWIRE_WORKERS."
        ),
    ] = None,
) -> None:
    """Run the gateway. With no options: SQLite in ./.toolwire, built-in tools, 127.0.0.1:8787.

    SIGTERM (or Ctrl-C) drains: new connections are refused, calls in flight get
    TOOLWIRE_DRAIN_TIMEOUT_S (10 s) to finish (then they fail with UNAVAILABLE, uncharged), then
    the ledger and audit are flushed."""
    from toolwire import logs
    from toolwire.app import create_app, prepare
    from toolwire.cli import workers as procs
    from toolwire.config import ConfigError

    settings = settings_from(data_dir, database_url, config).with_overrides(
        host=host,
        port=port,
        log_level=log_level,
        log_format=log_format,
        builtin_profiles=tuple(profile) if profile else None,
        workers=workers,
    )
    logs.configure(settings.log_level, settings.log_format)
    if (problem := procs.check_workers(settings)) is not None:
        raise fail(problem)
    try:
        prepared = prepare(settings)  # once: the app serves this catalog (issue 9 item 16)
        app = create_app(settings, on_ready=print_banner, prepared=prepared)
        server = procs.server(settings, app)
    except (ConfigError, ValueError) as exc:
        raise fail(str(exc)) from None
    if settings.workers == 1:
        server.run()
        return
    raise typer.Exit(_serve_workers(settings, len(prepared.catalog)))


def _serve_workers(settings: Settings, tools: int) -> int:
    """`--workers N`: first start once here, then N children on one socket (`cli.workers`)."""
    import asyncio

    from toolwire.bootstrap import bootstrap_once
    from toolwire.cli import workers as procs

    try:
        created = asyncio.run(bootstrap_once(settings))
    except Exception as exc:
        raise fail(f"could not prepare the database: {type(exc).__name__}: {exc}") from None
    try:
        sock = procs.listening_socket(settings.host, settings.port)
    except OSError as exc:
        raise fail(f"cannot listen on {settings.host}:{settings.port}: {exc}") from None
    url = settings.base_url
    if created is not None:
        _first_start(url, created)
    console.print(
        f"[bold green]toolwire[/] listening on [bold]{url}[/] · {settings.workers} workers · "
        f"{tools} tools · {_where(settings)}"
    )
    console.print(f"  REST  POST {url}/api/v1/execute    catalog  GET {url}/api/v1/tools")
    return procs.supervise(settings, sock, worker_ready)


def worker_ready(services: Services, created: FirstStart | None) -> None:
    """A worker's `on_ready`: the parent printed the banner; a worker logs one line."""
    log.info("worker %d ready", os.getpid())


def _where(settings: Settings) -> str:
    return (settings.database_url and "database from TOOLWIRE_DATABASE_URL") or (
        f"SQLite in {settings.data_dir.resolve()}"
    )


def print_banner(services: Services, created: FirstStart | None) -> None:
    settings = services.settings
    url = settings.base_url
    if created is not None:
        _first_start(url, created)
    console.print(
        f"[bold green]toolwire[/] listening on [bold]{url}[/] · "
        f"{len(services.gateway.catalog)} tools · {_where(settings)}"
    )
    console.print(f"  REST  POST {url}/api/v1/execute    catalog  GET {url}/api/v1/tools")
    console.print(f"  web console  {url}/console  (sign in with the admin key or an account's key)")


def _first_start(url: str, created: FirstStart) -> None:
    lines = []
    if created.admin_key:
        lines.append(f"[bold]admin key[/]  {created.admin_key}")
    lines.append(f"[bold]demo key[/]   {created.demo_key}")
    lines.append(
        f"           account {created.demo_account_id}, "
        f"{micro_to_credits(created.demo_credits)} credits"
    )
    lines.append("")
    lines.append("These keys are shown once. Keep them somewhere safe.")
    console.print(Panel("\n".join(lines), title="toolwire: first start", expand=False))
    from toolwire.inbound.console.snippets import snippets

    shown = snippets(url, created.demo_key)
    console.print("[bold]curl[/]", soft_wrap=True)
    console.print(shown["curl"], highlight=False, soft_wrap=True)
    console.print("[bold]MCP client config[/]")
    console.print(shown["mcp"], highlight=False, soft_wrap=True)
    console.print("[bold]Python SDK[/]")
    console.print(shown["python"], highlight=False, soft_wrap=True)


def init(
    path: Annotated[Path, typer.Argument(help="Where to write the example catalog.")] = Path(
        "toolwire.yaml"
    ),
    force: Annotated[bool, typer.Option(help="Overwrite an existing file.")] = False,
) -> None:
    """Write a commented example catalog (tools, prices, timeouts)."""
    from toolwire.config import EXAMPLE

    if path.exists() and not force:
        raise fail(f"{path} exists; pass --force to overwrite")
    path.write_text(EXAMPLE, encoding="utf-8")
    console.print(f"wrote {path}; start with: toolwire serve --config {path}")
