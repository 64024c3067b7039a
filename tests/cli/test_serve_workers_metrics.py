"""`toolwire serve --workers 2`: `/metrics` reports the whole host (prometheus_client's
multiprocess mode), on the main port (whichever worker answers) and on the separate metrics
port the supervisor serves. N calls spread over both workers are N in every scrape; a worker
killed with `kill -9` is replaced and its counts stay; scrapes are parsed with prometheus_client's
own parser; a graceful stop leaves every call counted in the files (each worker flushes its
counts about once a second and at shutdown). Needs PostgreSQL and Redis (several workers share
them), like the other workers tests."""

from __future__ import annotations

import os
import signal
import time
import warnings
from pathlib import Path

import httpx
import pytest
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.parser import text_string_to_metric_families

from tests.support.cluster import redis_url, scratch_postgres
from toolwire.testing import free_port, start_gateway

pytestmark = pytest.mark.timeout(300)  # processes start slowly on a loaded machine
REPO = Path(__file__).resolve().parents[2]
CONFIG = {"builtins": {"modules": ["tests.support.tools"]}, "prices": {"echo": 0.25}}
CALLS = 40
MAX_CALLS = 400


def _scrape(url: str, headers: dict[str, str]) -> dict[str, float]:
    """Every sample, summed over a `pid` label if there is one, keyed `name{k=v,...}`."""
    headers = {**headers, "Connection": "close"}
    reply = httpx.get(url, headers=headers, timeout=30)
    assert reply.status_code == 200, reply.text
    found: dict[str, float] = {}
    for family in text_string_to_metric_families(reply.text):
        for sample in family.samples:
            labels = ",".join(f"{k}={v}" for k, v in sorted(sample.labels.items()) if k != "pid")
            found[f"{sample.name}{{{labels}}}"] = found.get(f"{sample.name}{{{labels}}}", 0.0)
            found[f"{sample.name}{{{labels}}}"] += sample.value
    return found


def _files(directory: Path) -> dict[str, float]:
    """What the workers left in the multiprocess directory, keyed as `_scrape` keys it."""
    registry = CollectorRegistry()
    MultiProcessCollector(registry, path=str(directory))
    found: dict[str, float] = {}
    for family in text_string_to_metric_families(generate_latest(registry).decode()):
        for sample in family.samples:
            labels = ",".join(f"{k}={v}" for k, v in sorted(sample.labels.items()) if k != "pid")
            key = f"{sample.name}{{{labels}}}"
            found[key] = found.get(key, 0.0) + sample.value
    return found


def _workers(gw_pid: int) -> list[int]:
    children = Path(f"/proc/{gw_pid}/task/{gw_pid}/children").read_text().split()
    return [int(pid) for pid in children if _is_worker(int(pid))]


def _is_worker(pid: int) -> bool:
    try:
        return "spawn_main" in Path(f"/proc/{pid}/cmdline").read_text()
    except OSError:
        return False


@pytest.mark.parametrize("where", ["main port", "metrics port"])
def test_two_workers_report_the_whole_host(tmp_path: Path, where: str) -> None:
    metrics_port = free_port()
    with scratch_postgres() as database, warnings.catch_warnings():
        warnings.simplefilter("ignore", ResourceWarning)
        env = {
            "PYTHONPATH": str(REPO),
            "TOOLWIRE_DATABASE_URL": database,
            "TOOLWIRE_STATE_URL": redis_url(),
        }
        if where == "metrics port":
            env["TOOLWIRE_METRICS_PORT"] = str(metrics_port)
        prom = tmp_path / "prometheus"  # the operator's own directory: emptied at start
        prom.mkdir()
        (prom / "counter_4194999.db").write_bytes(b"left by an earlier run")
        env["PROMETHEUS_MULTIPROC_DIR"] = str(prom)
        gw = start_gateway(
            tmp_path, config=CONFIG, env=env, args=["--workers", "2"], startup_timeout=120
        )
        try:
            _, key = gw.create_account(credits=1000)
            admin = {"Authorization": f"Bearer {gw.admin_key}"}
            workers = _workers(gw.process.pid)
            assert len(workers) == 2, workers
            made = 0

            def counted() -> set[int]:  # the workers that have counted a call (their files)
                return {int(f.stem.split("_")[1]) for f in prom.glob("counter_*.db")}

            # A new connection each: the kernel spreads them over both workers. Go on until
            # both have served calls, so a scrape answered by one worker must include the
            # other's counts.
            while made < CALLS or (counted() != set(workers) and made < MAX_CALLS):
                i = made
                made += 1
                reply = httpx.post(
                    gw.url + "/api/v1/execute",
                    json={"tool": "echo", "input": {"message": str(i)}},
                    headers={"Authorization": f"Bearer {key}", "Connection": "close"},
                    timeout=30,
                )
                assert reply.status_code == 200, reply.text
            assert counted() == set(workers), f"{made} calls did not reach both workers"
            calls = "toolwire_calls_total{door=rest,outcome=OK,tool=echo}"
            credits = "toolwire_credits_charged_total{tool=echo}"
            latency = "toolwire_call_latency_seconds_count{tool=echo}"
            if where == "metrics port":  # served by the supervisor, no authentication
                url, headers = f"http://127.0.0.1:{metrics_port}/metrics", {}
                assert httpx.get(gw.url + "/metrics", headers=admin, timeout=30).status_code == 404
            else:  # answered by whichever worker the connection reaches
                url, headers = gw.url + "/metrics", admin
            for _ in range(6):  # several scrapes, each on a new connection
                scraped = _scrape(url, headers)
                assert scraped[calls] == made
                assert scraped[latency] == made
                assert scraped[credits] == pytest.approx(made * 0.25)
                assert scraped["toolwire_reservations_in_flight{}"] == 0

            # A worker killed with kill -9 is replaced; what it counted stays in the total.
            os.kill(workers[0], signal.SIGKILL)
            deadline = time.monotonic() + 120
            while time.monotonic() < deadline:
                now = _workers(gw.process.pid)
                if len(now) == 2 and workers[0] not in now:
                    break
                time.sleep(0.2)
            else:
                pytest.fail("the killed worker was not replaced")
            for i in range(4):
                reply = httpx.post(
                    gw.url + "/api/v1/execute",
                    json={"tool": "echo", "input": {"message": f"after {i}"}},
                    headers={"Authorization": f"Bearer {key}", "Connection": "close"},
                    timeout=30,
                )
                assert reply.status_code == 200, reply.text
            assert _scrape(url, headers)[calls] == made + 4

            # A graceful stop loses nothing: calls answered just before it (counted in the
            # workers' tables, not yet flushed by their timers) are in the files once it ends.
            for i in range(6):
                reply = httpx.post(
                    gw.url + "/api/v1/execute",
                    json={"tool": "echo", "input": {"message": f"last {i}"}},
                    headers={"Authorization": f"Bearer {key}", "Connection": "close"},
                    timeout=30,
                )
                assert reply.status_code == 200, reply.text
            gw.stop()
            assert gw.process.returncode == 0, gw.logs()[-2000:]
            left = _files(prom)
            assert left[calls] == made + 10
            assert left[latency] == made + 10
            assert left[credits] == pytest.approx((made + 10) * 0.25)
        finally:
            gw.stop()
