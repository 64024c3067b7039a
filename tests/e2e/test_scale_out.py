"""Three instances as one: `toolwire serve` x3 behind a real nginx (the deployment recipe,
examples/deploy/nginx.conf) on loopback, sharing one PostgreSQL database, one Redis and the
gateway secret. No sticky sessions: nginx round-robins every request.

Proves: an MCP session opened through one instance continues through the others; 2,000 priced
calls at c=64 against credits for N charge exactly N; a rate limit of R per minute per key holds
across the three (counters in Redis); a catalog reload on one instance is served by all within a
second (Redis pub/sub); a key revoked through one instance is refused by all within the key-cache
window; an instance drained with SIGTERM under load finishes its calls, settles
them, and nginx moves traffic to the others without one failed call, while a call still running
at its drain deadline is answered 503 UNAVAILABLE, uncharged; `kill -9` of an instance under load
loses no credit (ledger == receipts) while the others serve, and every answer a client received
as charged stays charged. The kill test runs last: it leaves the cluster one instance short.
The file watch is off (`TOOLWIRE_RELOAD_POLL_S=0`): only the reload signal can reload the others."""

from __future__ import annotations

import asyncio
import signal
import time
import warnings
from collections.abc import Iterator
from decimal import Decimal

import httpx
import httpx2
import pytest
import yaml
from mcp import Client
from mcp.client.streamable_http import streamable_http_client

from tests.support.books import books, charged_requests, eventually, scalar
from tests.support.cluster import UPSTREAM_HEADER, Cluster, fire, running_cluster, scratch_postgres
from toolwire.core.model import MICRO, credits_to_micro
from toolwire.store.keys import parse_key

pytestmark = pytest.mark.timeout(300)  # processes start slowly on a loaded machine
PRICE = 0.25
RATE = 30
"""The rate limit of `uuid`, per key and minute."""
CONFIG = {
    "builtins": {"modules": ["tests.support.tools"]},
    "prices": {"echo": PRICE, "slow": 1},
    "timeouts": {"slow": 60},
    "limits": {"tools": {"uuid": {"per_key": f"{RATE}/minute"}}},
}
RELOADED = {**CONFIG, "prices": {**CONFIG["prices"], "calc": 0.5}}
"""The catalog the reload test serves for a while: `calc` priced."""
DRAIN_TIMEOUT_S = 5
KEY_CACHE_S = 5.0
"""`TOOLWIRE_KEY_CACHE_SECONDS` of the instances (the default, said here for the revoke test)."""
CALLS = 2_000
AFFORDABLE = 700


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    with (
        warnings.catch_warnings(),
        scratch_postgres() as database,
        running_cluster(
            tmp_path_factory.mktemp("scale-out"),
            database=database,
            config=CONFIG,
            env={
                "TOOLWIRE_DRAIN_TIMEOUT_S": str(DRAIN_TIMEOUT_S),
                "TOOLWIRE_RELOAD_POLL_S": "0",
                "TOOLWIRE_KEY_CACHE_SECONDS": str(KEY_CACHE_S),
            },
        ) as running,
    ):
        warnings.simplefilter("ignore", ResourceWarning)
        yield running


def upstreams(cluster: Cluster) -> set[str]:
    return {f"127.0.0.1:{port}" for port in cluster.ports}


async def audit_charged(cluster: Cluster, account_id: str) -> int:
    total = await scalar(
        cluster.database,
        "SELECT COALESCE(SUM(credits_charged), 0) FROM audit_events WHERE account_id = :a",
        a=account_id,
    )
    return int(Decimal(str(total)))  # PostgreSQL sums BIGINTs as NUMERIC


async def test_an_mcp_session_opened_through_one_instance_continues_through_the_others(
    cluster: Cluster,
) -> None:
    _, key = cluster.front.create_account(credits=10, name="mcp")
    served: list[tuple[str | None, str | None]] = []

    async def record(response: httpx2.Response) -> None:
        served.append(
            (response.headers.get(UPSTREAM_HEADER), response.request.headers.get("mcp-session-id"))
        )

    http = httpx2.AsyncClient(
        headers={"Authorization": f"Bearer {key}"},
        timeout=30,
        event_hooks={"response": [record]},
    )
    transport = streamable_http_client(cluster.front.url + "/mcp", http_client=http)
    async with asyncio.timeout(60), http, Client(transport, mode="legacy") as client:
        results = [await client.call_tool("echo", {"message": f"m{i}"}) for i in range(6)]
        version = client.protocol_version
    assert version == "2025-11-25"  # the handshake era: a session, its record in Redis
    assert [r.structured_content for r in results] == [
        {"echo": f"m{i}", "data": None} for i in range(6)
    ]
    in_session = {upstream for upstream, session in served if session}
    assert len({session for _, session in served if session}) == 1
    assert in_session == upstreams(cluster), served


async def test_2000_priced_calls_at_c64_against_credits_for_n_charge_exactly_n(
    cluster: Cluster,
) -> None:
    account_id, key = cluster.front.create_account(credits=AFFORDABLE * PRICE, name="exact")
    async with asyncio.timeout(90):
        fired = await fire(cluster.front.url, key, CALLS)
    assert fired.outcomes == {
        (200, "OK"): AFFORDABLE,
        (402, "INSUFFICIENT_CREDITS"): CALLS - AFFORDABLE,
    }
    assert set(fired.upstreams) == upstreams(cluster)
    # no wait: every answer was sent after its settle committed
    got = await books(cluster.database, account_id)
    assert (got.balance, got.ledger_sum, got.open_reservations) == (0, 0, 0)
    assert got.charges == got.reserves == AFFORDABLE


async def test_a_rate_limit_of_r_per_minute_per_key_holds_across_the_three(
    cluster: Cluster,
) -> None:
    """3R calls of one key spread over the three instances: exactly R pass in the window (a
    fixed window starts at the key's first call; the run is far shorter than a minute), and
    another key still has its own R."""
    _, key = cluster.front.create_account(credits=1, name="limited")
    _, other = cluster.front.create_account(credits=1, name="limited-2")
    async with asyncio.timeout(45):  # well inside the one-minute window
        fired = await fire(
            cluster.front.url, key, 3 * RATE, concurrency=8, tool="uuid", arguments=lambda i: {}
        )
        fresh = await fire(
            cluster.front.url, other, RATE, concurrency=8, tool="uuid", arguments=lambda i: {}
        )
    assert fired.outcomes == {(200, "OK"): RATE, (429, "RATE_LIMITED"): 2 * RATE}
    assert set(fired.upstreams) == upstreams(cluster)  # every instance counted in one window
    assert fresh.outcomes == {(200, "OK"): RATE}


async def test_a_catalog_reload_on_one_instance_is_served_by_all_within_a_second(
    cluster: Cluster,
) -> None:
    """Each instance reads its own copy of the catalog file; `POST /admin/v1/reload` on the
    first signals the others (Redis pub/sub), which re-read theirs: polled on their own ports,
    both serve the new version within a second of the first's answer, and price by it."""
    try:
        lag = await reload_from_first(cluster, RELOADED)
        assert max(lag) <= 1.0, lag
        _, key = cluster.front.create_account(credits=10, name="reloaded")
        for instance in cluster.instances:
            async with httpx.AsyncClient(base_url=instance.url, timeout=30) as http:
                reply = await http.post(
                    "/api/v1/execute",
                    json={"tool": "calc", "input": {"expression": "6*7"}},
                    headers={"Authorization": f"Bearer {key}"},
                )
            assert reply.json()["meta"]["credits_charged"] == 0.5, reply.text
    finally:  # as it was: later tests, and restarts, serve CONFIG
        lag = await reload_from_first(cluster, CONFIG)
    assert max(lag) <= 1.0, lag


async def reload_from_first(cluster: Cluster, config: dict[str, object]) -> list[float]:
    """Write `config` to every instance's catalog file, reload the first through its admin API,
    and wait for the others to serve the same version: each one's delay after the answer (s)."""
    for instance in cluster.instances:
        (instance.data_dir / "toolwire.yaml").write_text(yaml.safe_dump(config), "utf-8")
    admin = {"Authorization": f"Bearer {cluster.front.admin_key}"}
    first, *others = cluster.instances
    async with httpx.AsyncClient(timeout=30, headers=admin) as http:
        reply = await http.post(first.url + "/admin/v1/reload")
        answered = time.monotonic()
        assert reply.status_code == 200, reply.text
        version = reply.json()["version"]
        assert reply.json()["status"] == "reloaded", reply.text
        lag = []
        async with asyncio.timeout(30):
            for instance in others:  # another process: no event crosses to here, so poll
                while await served(http, instance.url) != version:  # noqa: ASYNC110
                    await asyncio.sleep(0.02)
                lag.append(time.monotonic() - answered)
    return lag


async def served(http: httpx.AsyncClient, url: str) -> str | None:
    """The catalog version the instance at `url` serves (its `/readyz`)."""
    version: str | None = (await http.get(url + "/readyz")).json().get("catalog_version")
    return version


async def test_a_key_revoked_through_one_instance_is_refused_by_all_within_the_key_cache(
    cluster: Cluster,
) -> None:
    """Each instance caches an accepted key for `TOOLWIRE_KEY_CACHE_SECONDS` (5 s): a revoke
    through the first instance's admin API is refused by every instance (their own ports, each
    with the key cached) within that window, and by nginx's round robin after it."""
    _, key = cluster.front.create_account(credits=1, name="revoked")
    parsed = parse_key(key)
    assert parsed is not None
    for instance in cluster.instances:  # each one has the key cached as valid
        with instance.client(key) as http:
            assert http.get("/api/v1/me").status_code == 200
    with cluster.instances[0].admin() as admin:
        assert admin.delete(f"/admin/v1/keys/{parsed.key_id}").status_code == 200
    revoked_at = time.monotonic()

    async def refused_everywhere() -> bool:
        async with httpx.AsyncClient(headers={"Authorization": f"Bearer {key}"}) as http:
            codes = [(await http.get(f"{i.url}/api/v1/me")).status_code for i in cluster.instances]
        return codes == [401] * len(cluster.instances)

    await eventually(refused_everywhere, within=KEY_CACHE_S + 2)
    assert time.monotonic() - revoked_at <= KEY_CACHE_S + 2
    with cluster.front.client(key) as http:
        assert {http.get("/api/v1/me").status_code for _ in range(6)} == {401}


async def test_an_instance_drained_under_load_finishes_its_calls_and_nginx_moves_on(
    cluster: Cluster,
) -> None:
    """Also: a call still running on the drained instance at its drain deadline (a 60 s tool,
    sent to it directly) is answered 503 UNAVAILABLE with `Retry-After`, and not charged."""
    credits = 1_000
    account_id, key = cluster.front.create_account(credits=credits, name="drain")
    slow_account, slow_key = cluster.front.create_account(credits=10, name="drain-slow")
    drained: list[int] = []
    cut: list[httpx.Response] = []

    async def slow_call() -> None:
        async with httpx.AsyncClient(base_url=cluster.instances[2].url, timeout=60) as http:
            cut.append(
                await http.post(
                    "/api/v1/execute",
                    json={"tool": "slow", "input": {"seconds": 60}},
                    headers={"Authorization": f"Bearer {slow_key}"},
                )
            )

    async def drain() -> None:
        drained.append(await asyncio.to_thread(cluster.terminate, 2, DRAIN_TIMEOUT_S + 30))

    try:
        async with asyncio.timeout(120), asyncio.TaskGroup() as group:
            slow = group.create_task(slow_call())
            await eventually(lambda: _reserved(cluster, slow_account), within=30)
            fired = await fire(cluster.front.url, key, 1_200, concurrency=32, after=(300, drain))
            await slow
    finally:
        gone = cluster.instances[2]
    # uvicorn re-raises the SIGTERM once its shutdown is complete: "killed by SIGTERM", as
    # systemd and Kubernetes expect; the log shows the lifespan (ledger, audit) closed first
    assert drained == [-signal.SIGTERM]
    assert "Application shutdown complete" in gone.logs()
    assert fired.outcomes == {(200, "OK"): 1_200}, gone.logs()[-2000:]
    assert set(fired.upstreams) == upstreams(cluster)
    got = await books(cluster.database, account_id)
    assert got.balance == got.ledger_sum == credits * MICRO - 1_200 * round(PRICE * MICRO)
    assert (got.charges, got.releases, got.open_reservations) == (1_200, 0, 0)

    async def audited() -> bool:
        return await audit_charged(cluster, account_id) == 1_200 * round(PRICE * MICRO)

    await eventually(audited, within=10)
    (stopped,) = cut
    assert stopped.status_code == 503, stopped.text
    assert stopped.headers["retry-after"] == "1"
    error = stopped.json()["error"]
    assert (error["code"], error["details"]["reason"]) == ("UNAVAILABLE", "draining")
    assert stopped.json()["meta"]["credits_charged"] == 0
    slow_books = await books(cluster.database, slow_account)
    assert (slow_books.reserves, slow_books.charges, slow_books.releases) == (1, 0, 1)
    assert slow_books.balance == slow_books.ledger_sum == 10 * MICRO
    await asyncio.to_thread(cluster.restart, 2)


async def _reserved(cluster: Cluster, account_id: str) -> bool:
    return (await books(cluster.database, account_id)).open_reservations == 1


async def test_killing_an_instance_mid_load_loses_no_credit_and_the_others_keep_serving(
    cluster: Cluster,
) -> None:
    """Two loads at once while an instance is killed. Retried: every call carries an
    Idempotency-Key and is retried with it when the answer was lost (nginx's 502 for a call in
    flight on the killed instance, 409 while that instance's claim is pending): each call ends
    with one receipt, and the ledger charges exactly those. Plain: no key, no retry; every
    answer a client received as charged is charged in the ledger after the crash (the answer
    waits for the settle's commit), and only calls whose answer was lost may be charged
    without a receipt."""
    credits = 1_000
    calls = 1_200
    account_id, key = cluster.front.create_account(credits=credits, name="kill")
    plain_account, plain_key = cluster.front.create_account(credits=credits, name="kill-plain")

    async def kill() -> None:
        cluster.kill(1)

    async with asyncio.timeout(120):
        fired, plain = await asyncio.gather(
            fire(cluster.front.url, key, calls, concurrency=32, idempotent=True, after=(300, kill)),
            fire(cluster.front.url, plain_key, calls, concurrency=32),
        )
    assert fired.outcomes == {(200, "OK"): calls}
    survivors = upstreams(cluster) - {f"127.0.0.1:{cluster.ports[1]}"}
    assert survivors <= set(fired.upstreams)
    killed = f"127.0.0.1:{cluster.ports[1]}"
    assert killed in plain.upstreams  # the plain load was running on it before the kill
    # the answers in flight on the killed instance: none is possible, when every answer it had
    # begun was already written back (the client, not the gateway, is the bottleneck here)
    lost = calls - plain.outcomes[200, "OK"]
    assert 0 <= lost <= 32, plain.outcomes

    async def resolved() -> bool:  # a survivor's recovery resolves what the dead one left open
        both = [await books(cluster.database, a) for a in (account_id, plain_account)]
        return all(got.open_reservations == 0 for got in both)

    await eventually(resolved, within=30)
    got = await books(cluster.database, account_id)
    assert got.charges == calls
    assert got.balance == got.ledger_sum == credits * MICRO - calls * round(PRICE * MICRO)
    charged = await charged_requests(cluster.database, plain_account)
    missing = {rid: c for rid, c in plain.receipts.items() if charged.get(rid) != c}
    assert missing == {}  # strict: no answer given as charged was released by the crash
    assert len(charged) - len(plain.receipts) <= lost
    got = await books(cluster.database, plain_account)
    assert got.balance == got.ledger_sum == credits * MICRO - sum(charged.values())
    assert sum(plain.receipts.values()) == len(plain.receipts) * credits_to_micro(PRICE)
