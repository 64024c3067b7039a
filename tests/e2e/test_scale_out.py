"""Three instances as one: `toolwire serve` x3 behind a real nginx (the deployment recipe,
examples/deploy/nginx.conf) on loopback, sharing one PostgreSQL database, one Redis and the
gateway secret. No sticky sessions: nginx round-robins every request.

Proves: an MCP session opened through one instance continues through the others; 2,000 priced
calls at c=64 against credits for N charge exactly N; an instance drained with SIGTERM under load
finishes its calls, settles them, and nginx moves traffic to the others without one failed call;
`kill -9` of an instance under load loses no credit (ledger == receipts) while the others serve.
The kill test runs last: it leaves the cluster one instance short."""

from __future__ import annotations

import asyncio
import signal
import warnings
from collections.abc import Iterator
from decimal import Decimal

import httpx2
import pytest
from mcp import Client
from mcp.client.streamable_http import streamable_http_client

from tests.support.books import books, eventually, scalar
from tests.support.cluster import UPSTREAM_HEADER, Cluster, fire, running_cluster, scratch_postgres
from toolwire.core.model import MICRO

pytestmark = pytest.mark.timeout(300)  # processes start slowly on a loaded machine
PRICE = 0.25
CONFIG = {
    "builtins": {"modules": ["tests.support.tools"]},
    "prices": {"echo": PRICE, "slow": 1},
    "timeouts": {"slow": 60},
}
DRAIN_TIMEOUT_S = 5
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
            env={"TOOLWIRE_DRAIN_TIMEOUT_S": str(DRAIN_TIMEOUT_S)},
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
    # settles are written in the next batch (<= 20 ms + a commit): wait for the last ones
    await eventually(lambda: _settled(cluster, account_id, AFFORDABLE), within=10)
    got = await books(cluster.database, account_id)
    assert (got.balance, got.ledger_sum, got.open_reservations) == (0, 0, 0)
    assert got.charges == got.reserves == AFFORDABLE


async def _settled(cluster: Cluster, account_id: str, charges: int) -> bool:
    got = await books(cluster.database, account_id)
    return got.charges == charges and got.open_reservations == 0


async def test_an_instance_drained_under_load_finishes_its_calls_and_nginx_moves_on(
    cluster: Cluster,
) -> None:
    credits = 1_000
    account_id, key = cluster.front.create_account(credits=credits, name="drain")
    drained: list[int] = []

    async def drain() -> None:
        drained.append(await asyncio.to_thread(cluster.terminate, 2, DRAIN_TIMEOUT_S + 30))

    try:
        async with asyncio.timeout(120):
            fired = await fire(cluster.front.url, key, 1_200, concurrency=32, after=(300, drain))
    finally:
        gone = cluster.instances[2]
    # uvicorn re-raises the SIGTERM once its shutdown is complete: "killed by SIGTERM", as
    # systemd and Kubernetes expect; the log shows the lifespan (ledger, audit) closed first
    assert drained == [-signal.SIGTERM]
    assert "Application shutdown complete" in gone.logs()
    assert fired.outcomes == {(200, "OK"): 1_200}, gone.logs()[-2000:]
    assert set(fired.upstreams) == upstreams(cluster)
    await eventually(lambda: _settled(cluster, account_id, 1_200), within=10)
    got = await books(cluster.database, account_id)
    assert got.balance == got.ledger_sum == credits * MICRO - 1_200 * round(PRICE * MICRO)
    assert (got.charges, got.releases, got.open_reservations) == (1_200, 0, 0)

    async def audited() -> bool:
        return await audit_charged(cluster, account_id) == 1_200 * round(PRICE * MICRO)

    await eventually(audited, within=10)
    await asyncio.to_thread(cluster.restart, 2)


async def test_killing_an_instance_mid_load_loses_no_credit_and_the_others_keep_serving(
    cluster: Cluster,
) -> None:
    """Every call carries an Idempotency-Key and is retried with it when the answer was lost
    (nginx's 502 for a call in flight on the killed instance, 409 while that instance's claim
    is pending): each call ends with one receipt, and the ledger charges exactly those."""
    credits = 1_000
    calls = 1_200
    account_id, key = cluster.front.create_account(credits=credits, name="kill")

    async def kill() -> None:
        cluster.kill(1)

    async with asyncio.timeout(120):
        fired = await fire(
            cluster.front.url, key, calls, concurrency=64, idempotent=True, after=(300, kill)
        )
    assert fired.outcomes == {(200, "OK"): calls}
    survivors = upstreams(cluster) - {f"127.0.0.1:{cluster.ports[1]}"}
    assert survivors <= set(fired.upstreams)

    async def resolved() -> bool:  # a survivor's recovery resolves what the dead one left open
        return (await books(cluster.database, account_id)).open_reservations == 0

    await eventually(resolved, within=30)
    got = await books(cluster.database, account_id)
    assert got.charges == calls
    assert got.balance == got.ledger_sum == credits * MICRO - calls * round(PRICE * MICRO)
