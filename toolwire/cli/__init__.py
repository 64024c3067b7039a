"""The `toolwire` command. Each group lives in its own module and uses the same services as the
server; `main` is the console-script entry point."""

from __future__ import annotations

import typer

from toolwire.cli import admin, audit, openapi, secrets, serve, stdio, tools, upstreams, usage

app = typer.Typer(
    name="toolwire",
    help="toolwire: an MCP gateway. One key, one catalog, every tool, billed per call.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
serve.register(app)
admin.register(app)
tools.register(app)
stdio.register(app)
secrets.register(app)
openapi.register(app)
usage.register(app)
audit.register(app)
upstreams.register(app)


def main() -> None:
    app()
