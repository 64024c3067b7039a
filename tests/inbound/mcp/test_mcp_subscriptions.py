"""Each session's subscribed federated resources (`inbound.mcp.subscriptions`), on the real
in-memory state backend: kept per session, bounded, and gone when removed. Delivery end to end:
tests/upstream/mcp/test_mcp_federation_subscribe.py."""

from __future__ import annotations

import pytest

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
