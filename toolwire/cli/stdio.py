"""`toolwire stdio`: MCP over stdin/stdout, for desktop clients that only launch commands.

    toolwire stdio --url https://gw.example.com/mcp --key tw_...   bridge to a remote gateway
    toolwire stdio --local --key tw_...                              serve the local config here

Only JSON-RPC goes to stdout; every log line goes to stderr.
"""

from __future__ import annotations

import asyncio
import logging
import os
from typing import Annotated

import typer

from toolwire import logs
from toolwire.cli.common import ConfigFile, DatabaseUrl, DataDir, fail, settings_from


def register(app: typer.Typer) -> None:
    app.command()(stdio)


def stdio(
    url: Annotated[
        str | None, typer.Option(help="The gateway's MCP URL, e.g. http://127.0.0.1:8787/mcp.")
    ] = None,
    key: Annotated[
        str | None, typer.Option(help="API key. Env: TOOLWIRE_API_KEY.", show_default=False)
    ] = None,
    local: Annotated[
        bool, typer.Option("--local", help="Serve the local configuration in this process.")
    ] = False,
    data_dir: DataDir = None,
    database_url: DatabaseUrl = None,
    config: ConfigFile = None,
    profile: Annotated[
        list[str] | None, typer.Option(help="Extra built-in catalog profile (--local).")
    ] = None,
    server: Annotated[
        str | None,
        typer.Option(
            help="Serve only this virtual server's tools (--local; with --url, use .../mcp/NAME)."
        ),
    ] = None,
) -> None:
    """Speak MCP over stdio: bridge to a gateway URL, or serve the local catalog (--local)."""
    key = key or os.environ.get("TOOLWIRE_API_KEY") or os.environ.get("TOOLWIRE_ADMIN_KEY")
    if local == (url is not None):
        raise fail("give exactly one of --url URL or --local")
    if not key:
        raise fail("an API key is needed: --key or TOOLWIRE_API_KEY")
    settings = settings_from(data_dir, database_url, config).with_overrides(
        builtin_profiles=tuple(profile) if profile else None
    )
    logs.configure(settings.log_level, settings.log_format)
    logging.getLogger("httpx").setLevel(logging.WARNING)  # one line per forwarded message
    if url is not None:
        from toolwire.inbound.mcp.bridge import bridge

        asyncio.run(bridge(url, key))
        return
    asyncio.run(_serve_local(settings, key, server))


async def _serve_local(settings: object, key: str, server: str | None = None) -> None:
    """The gateway in this process, for the principal of `key`. A store that cannot be reached
    (at start, or while authenticating the key) is not fatal: the process speaks MCP and answers
    `UNAVAILABLE` until it can start (`serve_local`); a bad key ends it with a message."""
    from toolwire.app import build_services, face_of
    from toolwire.core.errors import ToolwireError, Unavailable
    from toolwire.inbound.mcp.stdio import Started, serve_local
    from toolwire.settings import Settings
    from toolwire.store.db import unreachable

    assert isinstance(settings, Settings)

    async def start() -> Started:
        try:
            services, _ = await build_services(settings)
        except Exception as exc:
            if not unreachable(exc):
                raise
            raise Unavailable from exc

        async def stop() -> None:
            await services.stop_sharing()
            await services.gateway.live.aclose()
            await services.store.close()
            await services.state.close()

        try:
            principal = await services.auth.authenticate(key)
            if server is not None:
                principal = services.gateway.within(principal, server)
        except ToolwireError as exc:
            if isinstance(exc, Unavailable):
                await stop()
                raise
            await stop()
            raise fail(exc.message) from None
        except BaseException:
            await stop()
            raise
        await services.start_sharing(sighup=False)  # a catalog edit reaches the client
        return face_of(services), principal, stop

    await serve_local(start)
