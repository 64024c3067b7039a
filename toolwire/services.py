"""The services one gateway process runs on, built once in the app's lifespan and passed to doors.

No module-level singletons: two apps in one process (tests do this) never share state.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from toolwire.core.admin import Admin
from toolwire.core.auth import Authenticator
from toolwire.core.gateway import Gateway
from toolwire.settings import Settings
from toolwire.state import StateBackend

if TYPE_CHECKING:
    from toolwire.billing import Billing
    from toolwire.reload import Reloader
    from toolwire.store import Store


@dataclass
class Services:
    settings: Settings
    gateway: Gateway
    auth: Authenticator
    store: Store
    secret_key: bytes
    state: StateBackend
    """Ephemeral shared state (memory:// or redis://): MCP session revocations, fan-out."""
    billing: Billing
    """Idempotency, BYOK, budgets, usage reports, and this process's liveness row."""
    admin: Admin
    """Administration (accounts, keys, credits, budgets): what the admin doors translate onto."""
    reloader: Reloader
    """Hot catalog reload (file watch, SIGHUP, admin API, other instances' signals)."""
