"""A hundred thousand sessions opened and never closed leave memory flat: a session lives in its
sealed token, not in the gateway. (The HTTP-level check that `initialize` stores nothing is
`test_sessions_leave_no_state_behind`; this one scales the same path to 100k sessions.)"""

from __future__ import annotations

import gc
import os
import tracemalloc

from toolwire.inbound.mcp.sessions import SessionSealer, SessionStore
from toolwire.state import state_from_url

SESSIONS = 100_000


async def test_a_hundred_thousand_open_sessions_leave_memory_flat() -> None:
    state = state_from_url("memory://")
    store = SessionStore(SessionSealer(os.urandom(32), ttl_s=3600), state)
    info = {"name": "client", "version": "1"}

    async def open_and_use_one() -> None:
        token = store.sealer.seal(store.sealer.new("2025-11-25", "key1", info, {"roots": {}}))
        session = await store.resume(token, "key1")
        assert session.key_id == "key1"

    for _ in range(1_000):  # warm caches and allocators before measuring
        await open_and_use_one()
    gc.collect()
    tracemalloc.start()
    try:
        before, _ = tracemalloc.get_traced_memory()
        for _ in range(SESSIONS):
            await open_and_use_one()
        gc.collect()
        after, _ = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
        await state.close()
    # Each session's token is ~300 bytes; retaining them would be tens of MB.
    assert after - before < 256 * 1024
    assert len(state) == 0  # type: ignore[arg-type]
