"""First start: the data directory, the gateway's secret, the admin key, and a demo account.

The demo credentials are created and shown exactly once per database: an atomic set-if-absent on
`system_meta` decides which process (of several starting together) does it. Secrets are never
logged; the CLI prints them to the terminal of the person who started the gateway.

Files that hold secrets are private to the user running the gateway, whatever the umask: the
data directory is created 0700, `secret.key` and the SQLite database (key hashes, encrypted
credentials, the ledger) 0600; SQLite gives its -wal/-shm/-journal files the database's mode.
A file of ours found looser is tightened; a looser directory the operator made is reported.
"""

from __future__ import annotations

import base64
import hashlib
import logging
import os
import secrets
import stat
from dataclasses import dataclass
from pathlib import Path

from toolwire.core.model import MICRO
from toolwire.settings import Settings
from toolwire.store import Store

SECRET_FILE = "secret.key"
DB_FILE = "toolwire.db"
PRIVATE_DIR = 0o700
PRIVATE_FILE = 0o600

log = logging.getLogger("toolwire.bootstrap")


@dataclass(frozen=True)
class FirstStart:
    """What was created on first start; shown once, never stored in clear."""

    admin_key: str | None
    demo_account_id: str
    demo_key: str
    demo_credits: int


def load_secret(settings: Settings) -> bytes:
    """32 bytes from `TOOLWIRE_SECRET_KEY`, or from (or newly into) `<data_dir>/secret.key`."""
    if settings.secret_key:
        return _key_bytes(settings.secret_key)
    path = settings.data_dir / SECRET_FILE
    try:
        text = path.read_text(encoding="ascii").strip()
    except FileNotFoundError:
        pass
    else:
        _tighten(path)
        return _key_bytes(text)
    prepare_data_dir(settings)
    value = base64.urlsafe_b64encode(secrets.token_bytes(32)).decode()
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:  # another process won the race: use its key
        return _key_bytes(path.read_text(encoding="ascii").strip())
    with os.fdopen(fd, "w", encoding="ascii") as fh:
        fh.write(value + "\n")
    return _key_bytes(value)


def _key_bytes(text: str) -> bytes:
    """A urlsafe-base64 32-byte key as generated, or any other passphrase stretched by SHA-256."""
    try:
        raw = base64.urlsafe_b64decode(text.encode())
        if len(raw) == 32:
            return raw
    except ValueError:
        pass
    return hashlib.sha256(text.encode()).digest()


async def admin_account_id(store: Store) -> str:
    """The account that owns admin keys, created once."""
    existing = await store.accounts.get_meta("admin_account_id")
    if existing:
        return existing
    account = await store.accounts.create_account("admin", 0)
    if await store.accounts.set_meta_if_absent("admin_account_id", account.id):
        return account.id
    winner = await store.accounts.get_meta("admin_account_id")
    assert winner is not None
    return winner


async def first_start(settings: Settings, store: Store, admin_account: str) -> FirstStart | None:
    """Create the admin key and the demo account on the very first start; None afterwards."""
    if not await store.accounts.set_meta_if_absent("bootstrapped", "1"):
        return None
    admin_key: str | None = None
    if not settings.admin_key:
        _, admin_key = await store.accounts.create_key(admin_account, "admin", ["*"], is_admin=True)
    credits = settings.demo_credits * MICRO
    demo = await store.accounts.create_account("demo", credits)
    _, demo_key = await store.accounts.create_key(demo.id, "demo", ["*"])
    return FirstStart(admin_key, demo.id, demo_key, credits)


async def bootstrap_once(settings: Settings) -> FirstStart | None:
    """What `toolwire serve --workers N` runs once, in the parent, before its workers start: the
    data directory, the secret, the schema, the admin account and the first-start keys. Each
    worker then finds them made (every step is race-safe on its own too: several instances
    starting together on one database still bootstrap once)."""
    prepare_data_dir(settings)
    load_secret(settings)
    store = await Store.open(
        settings.sqlalchemy_url,
        key_cache_seconds=settings.key_cache_seconds,
        connect_timeout_s=settings.db_connect_timeout_s,
        pool_timeout_s=settings.db_pool_timeout_s,
        statement_timeout_s=settings.db_statement_timeout_s,
        busy_timeout_s=settings.db_busy_timeout_s,
    )
    try:
        return await first_start(settings, store, await admin_account_id(store))
    finally:
        await store.close()


def prepare_data_dir(settings: Settings) -> None:
    """Create the data directory (0700) and, when the database is the default SQLite file in
    it, that file (0600) before SQLite does (it would follow the umask, often 0644)."""
    path = settings.data_dir
    if not path.exists():
        path.mkdir(mode=PRIVATE_DIR, parents=True, exist_ok=True)
    elif stat.S_IMODE(path.stat().st_mode) & 0o077:
        log.warning("data directory %s is readable by other users; chmod 700 it", path)
    if settings.database_url:
        return
    db = path / DB_FILE
    try:
        os.close(os.open(db, os.O_WRONLY | os.O_CREAT | os.O_EXCL, PRIVATE_FILE))
    except FileExistsError:
        _tighten(db)
        for suffix in ("-wal", "-shm", "-journal"):
            _tighten(db.with_name(DB_FILE + suffix))


def _tighten(path: Path) -> None:
    """chmod 600 a file of ours that other users could read."""
    try:
        info = path.stat()
    except FileNotFoundError:
        return
    if stat.S_IMODE(info.st_mode) & 0o077 and info.st_uid == os.getuid():
        path.chmod(PRIVATE_FILE)
