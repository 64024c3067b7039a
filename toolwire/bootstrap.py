"""First start: the gateway's secret, the admin key, and a demo account ready to call a tool.

The demo credentials are created and shown exactly once per database: an atomic set-if-absent on
`system_meta` decides which process (of several starting together) does it. Secrets are never
logged; the CLI prints them to the terminal of the person who started the gateway.
"""

from __future__ import annotations

import base64
import hashlib
import os
import secrets
from dataclasses import dataclass
from pathlib import Path

from toolwire.core.model import MICRO
from toolwire.settings import Settings
from toolwire.store import Store

SECRET_FILE = "secret.key"


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
        return _key_bytes(path.read_text(encoding="ascii").strip())
    except FileNotFoundError:
        pass
    settings.data_dir.mkdir(parents=True, exist_ok=True)
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


def data_dir_ready(path: Path) -> None:
    path.mkdir(parents=True, exist_ok=True)
