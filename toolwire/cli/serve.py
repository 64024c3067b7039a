"""`toolwire serve` and `toolwire init`: run the gateway; write an example catalog."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.panel import Panel

from toolwire.cli.common import ConfigFile, DatabaseUrl, DataDir, console, fail, settings_from
from toolwire.core.model import micro_to_credits

if TYPE_CHECKING:
    from toolwire.bootstrap import FirstStart
    from toolwire.services import Services

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
) -> None:
    """Run the gateway. With no options: SQLite in ./.toolwire, built-in tools, 127.0.0.1:8787."""
    import uvicorn

    from toolwire import logs
    from toolwire.app import create_app, prepare
    from toolwire.config import ConfigError
    from toolwire.inbound.slow_clients import guarded_protocol

    settings = settings_from(data_dir, database_url, config).with_overrides(
        host=host,
        port=port,
        log_level=log_level,
        log_format=log_format,
        builtin_profiles=tuple(profile) if profile else None,
    )
    logs.configure(settings.log_level, settings.log_format)
    try:
        prepared = prepare(settings)  # once: the app serves this catalog (issue 9 item 16)
    except (ConfigError, ValueError) as exc:
        raise fail(str(exc)) from None
    try:
        protocol = guarded_protocol(
            header_timeout=settings.header_timeout_s,
            body_timeout=settings.body_timeout_s,
            max_connections=settings.max_connections,
        )
    except ValueError as exc:
        raise fail(str(exc)) from None
    app = create_app(settings, on_ready=print_banner, prepared=prepared)
    server = uvicorn.Server(
        uvicorn.Config(
            app,
            host=settings.host,
            port=settings.port,
            loop="uvloop",
            http=protocol,
            timeout_keep_alive=max(1, round(settings.keep_alive_s)),
            lifespan="on",
            access_log=False,
            log_config=None,
            server_header=False,
            timeout_graceful_shutdown=10,
        )
    )
    server.run()


def print_banner(services: Services, created: FirstStart | None) -> None:
    settings = services.settings
    url = settings.base_url
    if created is not None:
        _first_start(url, created)
    where = (settings.database_url and "database from TOOLWIRE_DATABASE_URL") or (
        f"SQLite in {settings.data_dir.resolve()}"
    )
    console.print(
        f"[bold green]toolwire[/] listening on [bold]{url}[/] · "
        f"{len(services.gateway.catalog)} tools · {where}"
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
