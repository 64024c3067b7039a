"""Each session's subscribed federated resources (`inbound.mcp.subscriptions`), on the real
in-memory state backend and on the machine's Redis shared by two instances: kept per session,
bounded, gone when removed, and never lost to a concurrent subscribe. Delivery end to end:
tests/upstream/mcp/test_mcp_federation_subscribe.py."""

from __future__ import annotations

import asyncio
import uuid

import pytest

from tests.support.cluster import redis_url
from toolwire.inbound.mcp.subscriptions import (
    MAX_PER_SESSION,
    Subscriptions,
    TooManySubscriptions,
    updated_frame,
)
from toolwire.state import state_from_url

URI = "toolwire://local/demo://resource/static/document/a.md"


async def test_subscriptions_are_kept_per_session_and_removed() -> None:
    subs = Subscriptions(state_from_url("memory://"), ttl_s=60)
    await subs.add("s1", URI)
    await subs.add("s1", URI)  # twice is once
    assert await subs.uris("s1") == [URI]
    assert await subs.holds("s1", URI)
    assert not await subs.holds("s2", URI)
    assert await subs.remove("s1", URI)
    assert not await subs.remove("s1", URI)
    assert not await subs.holds("s1", URI)


async def test_a_session_holds_at_most_the_bound() -> None:
    subs = Subscriptions(state_from_url("memory://"), ttl_s=60)
    for i in range(MAX_PER_SESSION):
        await subs.add("s1", f"{URI}{i}")
    with pytest.raises(TooManySubscriptions):
        await subs.add("s1", URI + "-one-more")
    await subs.add("s2", URI)  # another session is not affected


def test_the_notification_carries_the_uri_and_a_listen_streams_meta() -> None:
    assert updated_frame(URI)["params"] == {"uri": URI}
    meta = {"io.modelcontextprotocol/subscriptionId": 7}
    assert updated_frame(URI, meta)["params"] == {"uri": URI, "_meta": meta}


async def test_forty_concurrent_subscribes_from_two_instances_all_survive() -> None:
    """Two gateway instances' state clients on one Redis, 40 subscribes of one session at once
    (20 through each): every URI is held afterwards (a read-modify-write list loses most)."""
    url = redis_url()
    first, second = state_from_url(url), state_from_url(url)
    ttl = 60.0
    session = f"race-{uuid.uuid4().hex}"
    a, b = Subscriptions(first, ttl), Subscriptions(second, ttl)
    uris = [f"{URI}?n={i}" for i in range(40)]
    try:
        await asyncio.gather(*((a if i % 2 else b).add(session, u) for i, u in enumerate(uris)))
        assert await a.uris(session) == sorted(uris)
        assert await b.holds(session, uris[0])
        await asyncio.gather(*((b if i % 2 else a).remove(session, u) for i, u in enumerate(uris)))
        assert await a.uris(session) == []
    finally:
        await first.close()
        await second.close()


async def test_concurrent_subscribes_never_overshoot_the_bound() -> None:
    url = redis_url()
    first, second = state_from_url(url), state_from_url(url)
    session = f"bound-{uuid.uuid4().hex}"
    a, b = Subscriptions(first, 60.0), Subscriptions(second, 60.0)
    try:
        results = await asyncio.gather(
            *(
                (a if i % 2 else b).add(session, f"{URI}?n={i}")
                for i in range(MAX_PER_SESSION + 20)
            ),
            return_exceptions=True,
        )
        refused = [r for r in results if isinstance(r, TooManySubscriptions)]
        assert (len(refused), len(await a.uris(session))) == (20, MAX_PER_SESSION)
    finally:
        await first.close()
        await second.close()
