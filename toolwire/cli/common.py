"""Options and helpers shared by CLI commands: settings from flags over the environment."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from toolwire.settings import Settings

console = Console(width=None if sys.stdout.isatty() else 120)
err_console = Console(stderr=True)

DataDir = Annotated[
    Path | None,
    typer.Option("--data-dir", help="Data directory (SQLite, secret). Env: TOOLWIRE_DATA_DIR."),
]
DatabaseUrl = Annotated[
    str | None,
    typer.Option(
        "--database-url", help="SQLAlchemy URL, e.g. postgresql://... Env: TOOLWIRE_DATABASE_URL."
    ),
]
ConfigFile = Annotated[
    Path | None,
    typer.Option("--config", "-c", help="Catalog YAML (tools, prices). Env: TOOLWIRE_CONFIG."),
]
JsonOut = Annotated[bool, typer.Option("--json", help="Print JSON for scripts instead of a table.")]


def settings_from(
    data_dir: Path | None = None, database_url: str | None = None, config: Path | None = None
) -> Settings:
    return Settings.from_env().with_overrides(
        data_dir=data_dir, database_url=database_url, config=config
    )


def fail(message: str, code: int = 1) -> typer.Exit:
    err_console.print(f"[bold red]error:[/] {message}")
    return typer.Exit(code)
