"""Logging: structlog over the standard library, console for people or JSON for shippers.

Configured once by the process entry point (the CLI); library code just uses `logging`.
`TOOLWIRE_LOG_FORMAT=json` prints one JSON object per line (`event`, `level`, `timestamp`,
`logger`, and `request_id` on every line logged while a request or call runs, from
`toolwire.core.context`). Secrets are scrubbed before any of this: the vault's redaction
(`toolwire.vault.redact.install_log_redaction`) rewrites each record as it is made.
"""

from __future__ import annotations

import logging
import sys

import structlog

from toolwire import log_flood
from toolwire.core.context import current_request_id

URL_LOGGERS = (
    "httpx",
    "httpcore",
    "httpx2",
    "httpcore2",
    "urllib3",
    "requests",
    "hpack",
    "h11",
    "h2",
)
"""Third-party loggers that print request URLs (a query-string credential among them) at INFO
or DEBUG (`httpx2` logs a line per request, the MCP SDK's client among them): kept at WARNING
whatever the level. Their lines are scrubbed anyway
(`toolwire.vault.redact`); this keeps them out of the log in the first place."""


def configure(level: str = "info", fmt: str = "console") -> None:
    renderer: structlog.types.Processor
    if fmt == "json":
        renderer = structlog.processors.JSONRenderer()
    else:
        renderer = structlog.dev.ConsoleRenderer(colors=sys.stderr.isatty())
    formatter = structlog.stdlib.ProcessorFormatter(
        processors=[
            structlog.stdlib.ProcessorFormatter.remove_processors_meta,
            _drop_color_message,
            renderer,
        ],
        foreign_pre_chain=[
            _add_request_id,
            structlog.stdlib.add_logger_name,
            structlog.stdlib.add_log_level,
            structlog.stdlib.ExtraAdder(),
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.processors.format_exc_info,
        ],
    )
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(formatter)
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    for noisy in ("uvicorn.access", "aiosqlite", "sqlalchemy.engine", "alembic", *URL_LOGGERS):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    log_flood.install()  # what clients can trigger at will: once per kind per interval


def _drop_color_message(
    logger: object, method: str, event: structlog.types.EventDict
) -> structlog.types.EventDict:
    """uvicorn attaches an ANSI-coloured copy of each message; the renderer colours already."""
    event.pop("color_message", None)
    return event


def _add_request_id(
    logger: object, method: str, event: structlog.types.EventDict
) -> structlog.types.EventDict:
    """The current request id (`toolwire.core.context`), unless the line names its own."""
    rid = current_request_id()
    if rid is not None:
        event.setdefault("request_id", rid)
    return event
