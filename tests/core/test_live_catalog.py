"""The live catalog (`toolwire.core.live`): a swap serves the new catalog to calls that start
afterwards; a call in flight finishes on the catalog it started on, with its adapter open; a
replaced adapter is closed once, after its last call, and never while a live catalog uses it."""

from __future__ import annotations

import asyncio
from typing import Any

from toolwire.core.catalog import Catalog, OperationSpec, ToolSpec
from toolwire.core.gateway import Gateway
from toolwire.core.live import LiveCatalog, close_unused
from toolwire.core.model import Principal, ToolCall
from toolwire.core.ports import InvokeContext
from toolwire.core.scopes import ScopeSet
from toolwire.store import Store

SCHEMA = {"type": "object", "properties": {"wait": {"type": "boolean"}}}


class Upstream:
    """An adapter that answers its name, can be held mid-call, and refuses calls once closed
    (as a pooled HTTP client or database pool does)."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.closes = 0
        self.entered = asyncio.Event()
        self.go = asyncio.Event()

    async def invoke(self, operation: Any, arguments: dict[str, Any], ctx: InvokeContext) -> Any:
        if self.closes:
            raise RuntimeError(f"{self.name} was closed")
        if arguments.get("wait"):
            self.entered.set()
            await self.go.wait()
        if self.closes:
            raise RuntimeError(f"{self.name} was closed while a call was running")
        return {"served_by": self.name}

    async def aclose(self) -> None:
        self.closes += 1


def catalog(*tools: tuple[str, Upstream]) -> Catalog:
    return Catalog(
        ToolSpec(name, f"{name} tool", (OperationSpec("run", "run", SCHEMA, up),))
        for name, up in tools
    )


async def test_a_swap_without_calls_in_flight_closes_the_replaced_adapters_at_once() -> None:
    old, kept, new = Upstream("old"), Upstream("kept"), Upstream("new")
    live = LiveCatalog(catalog(("a", old), ("k", kept)), "v1")
    replaced = await live.swap(catalog(("b", new), ("k", kept)), "v2")
    assert [op.tool for op in replaced] == ["a", "k"]
    assert (live.version, [op.tool for op in live.catalog]) == ("v2", ["b", "k"])
    assert (old.closes, kept.closes, new.closes) == (1, 0, 0)
    await live.aclose()
    assert (old.closes, kept.closes, new.closes) == (1, 1, 1)


async def test_a_retired_catalog_closes_after_its_last_call_and_shared_adapters_last() -> None:
    one, shared, two = Upstream("one"), Upstream("shared"), Upstream("two")
    live = LiveCatalog(catalog(("a", one), ("s", shared)), "v1")
    first = live.acquire()
    await live.swap(catalog(("s", shared), ("b", two)), "v2")
    second = live.acquire()
    await live.swap(catalog(("c", Upstream("three"))), "v3")
    assert live.retired == 2 and (one.closes, shared.closes) == (0, 0)
    live.release(second)  # v2 drains, but v1 (still running) uses `shared`: only `two` closes
    await asyncio.sleep(0)
    assert (one.closes, shared.closes, two.closes) == (0, 0, 1)
    live.release(first)
    async with asyncio.timeout(5):
        await live.drained()
    assert (one.closes, shared.closes, two.closes) == (1, 1, 1) and live.retired == 0


async def test_swapping_in_the_current_catalog_only_updates_the_version() -> None:
    up = Upstream("up")
    current = catalog(("a", up))
    live = LiveCatalog(current, "v1")
    assert await live.swap(current, "v2") is current
    assert (live.version, up.closes, live.retired) == ("v2", 0, 0)


async def test_close_unused_spares_what_the_served_catalog_uses() -> None:
    shared, extra = Upstream("shared"), Upstream("extra")
    await close_unused(catalog(("s", shared), ("e", extra)), keep=catalog(("s", shared)))
    assert (shared.closes, extra.closes) == (0, 1)


async def principal(store: Store) -> Principal:
    info = await store.accounts.create_account("live", 0)
    key, _ = await store.accounts.create_key(info.id, "k", ["*"])
    return Principal(key_id=key.id, account_id=info.id, scopes=ScopeSet(("*",)))


async def test_a_call_in_flight_finishes_on_its_catalog_while_new_calls_use_the_new_one(
    store: Store,
) -> None:
    old, new = Upstream("old"), Upstream("new")
    gateway = Gateway(catalog(("t", old)), store.ledger, store.audit, catalog_version="v1")
    who = await principal(store)
    running = asyncio.create_task(
        gateway.execute(who, ToolCall(tool="t", arguments={"wait": True}, request_id="r1"))
    )
    await asyncio.wait_for(old.entered.wait(), 5)
    await gateway.swap_catalog(catalog(("t", new)), "v2")
    fresh = await gateway.execute(who, ToolCall(tool="t", arguments={}, request_id="r2"))
    assert fresh.error is None and fresh.data == {"served_by": "new"}
    assert old.closes == 0 and gateway.catalog_version == "v2"
    old.go.set()
    finished = await asyncio.wait_for(running, 5)
    assert finished.error is None and finished.data == {"served_by": "old"}
    async with asyncio.timeout(5):
        await gateway.live.drained()
    assert (old.closes, new.closes) == (1, 0)
