"""Alembic environment for toolwire's store: runs revisions on a connection `migrate()` hands over.

What it is: the glue Alembic executes for every command. `toolwire.store.migrations.migrate`
passes an open, already-locked connection in `config.attributes["connection"]`; used from the
`alembic` command line instead, it builds an async engine from `sqlalchemy.url` and runs the
revisions through `connection.run_sync`. What it is not: a place for schema (see tables.py and
versions/).
"""

from __future__ import annotations

import asyncio

from alembic import context
from sqlalchemy import Connection
from sqlalchemy.pool import NullPool

from toolwire.store.tables import metadata

config = context.config


def _run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=metadata,
        render_as_batch=True,
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


async def _run_async(url: str) -> None:
    from toolwire.store.db import create_engine

    engine = create_engine(url, poolclass=NullPool)
    try:
        async with engine.connect() as connection:
            await connection.run_sync(_run)
            await connection.commit()
    finally:
        await engine.dispose()


def _main() -> None:
    url = config.get_main_option("sqlalchemy.url")
    if context.is_offline_mode():
        context.configure(url=url, target_metadata=metadata, literal_binds=True)
        with context.begin_transaction():
            context.run_migrations()
        return
    connection = config.attributes.get("connection")
    if connection is not None:
        _run(connection)
    elif url:
        asyncio.run(_run_async(url))
    else:
        raise RuntimeError("no connection given and no sqlalchemy.url configured")


_main()
