"""What a parallel run (`pytest -n N`, pytest-xdist, as `scripts/test` runs the whole suite) needs
so that workers never share what one test assumes is its own (docs/design/test-parallelism.md):

- `LongestFirst`: the scheduler. A unit of work is a test module, or every test marked
  `@pytest.mark.xdist_group(name)` wherever it is (modules that share fixed state run in one
  unit, one after the other); units start longest first (`UNIT_SECONDS`, measured), so the long
  modules do not end up alone at the end of the run.
- `configure_worker`: each worker gets its own slice of ports for `toolwire.testing.free_port`
  (`TOOLWIRE_TEST_PORTS`, below the kernel's ephemeral range) and `redis_db` its own database of
  the machine's Redis. PostgreSQL needs nothing: every test creates its own database.
- `install_lock`: one worker at a time runs an installer (npm ci, apt-get) into a shared place;
  the others wait, then see it installed.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from xdist.scheduler import LoadScopeScheduling

PORT_BASE = 20000
"""The first worker's slice starts here; the kernel's ephemeral ports start at 32768."""
PORTS_PER_WORKER = 1500
REDIS_DB_BASE = 2
"""Worker N uses database REDIS_DB_BASE + N of the machine's Redis (the serial run keeps each
module's own number)."""

UNIT_SECONDS: dict[str, float] = {
    # measured: a fresh-clone `CI=true ./scripts/test` on the 2-core machine (3 workers, load
    # 6-19 from other work), the unit's slowest setups and calls (`--durations`) summed; a unit
    # not named here counts 0.05 s per test
    "tests/upstream/mcp/test_mcp_federation_conformance.py": 190.0,
    "tests/cli/test_serve_workers.py": 150.0,
    "tests/e2e/test_billing_features.py": 140.0,
    "tests/e2e/test_scale_out.py": 130.0,
    "tests/e2e/test_mcp_clients.py": 120.0,
    "tests/inbound/console/test_console_browser.py": 100.0,
    "tests/e2e/test_mcp_conformance.py": 90.0,
    "tests/e2e/test_openapi_fuzz.py": 80.0,
    "tests/e2e/test_pinning_mcp.py": 70.0,
    "tests/e2e/test_rate_limits.py": 70.0,
    "tests/e2e/test_pinning.py": 50.0,
    "tests/e2e/test_reload_under_load.py": 45.0,
    "tests/cli/test_serve_workers_metrics.py": 40.0,
    "tests/e2e/test_billing_exactness.py": 40.0,
    "tests/upstream/mcp/test_mcp_federation_http_session.py": 40.0,
    "tests/upstream/mcp/test_mcp_federation_reload_window.py": 40.0,
    "tests/inbound/mcp/test_mcp_sessions_memory.py": 35.0,
}


def worker_index() -> int | None:
    """This xdist worker's number (`gw2` -> 2), or None outside a parallel run."""
    name = os.environ.get("PYTEST_XDIST_WORKER", "")
    return int(name[2:]) if name.startswith("gw") and name[2:].isdigit() else None


def configure_worker() -> None:
    """Give this worker its own port slice (inherited by the processes its tests start)."""
    index = worker_index()
    if index is None:
        return
    low = PORT_BASE + index * PORTS_PER_WORKER
    os.environ.setdefault("TOOLWIRE_TEST_PORTS", f"{low}-{low + PORTS_PER_WORKER - 1}")


def redis_db(serial: int) -> int:
    """The Redis database number a test module uses: `serial` outside a parallel run, else this
    worker's own (two workers never share keys or, with the redis state backend's per-database
    channel names, pub/sub channels)."""
    index = worker_index()
    return serial if index is None else REDIS_DB_BASE + index


@contextlib.contextmanager
def install_lock(name: str) -> Iterator[None]:
    """Hold an exclusive file lock named `name` (in the temp directory) while installing; a
    second worker blocks here, then finds the installation done."""
    path = Path(tempfile.gettempdir()) / f"toolwire-tests-{name}.lock"
    with path.open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def unit_of(nodeid: str) -> str:
    """The unit of work of a test id: its `xdist_group` name (xdist appends `@name` to the id),
    else its module's path."""
    if nodeid.rfind("@") > nodeid.rfind("]"):
        return nodeid.rsplit("@", 1)[-1]
    return nodeid.split("::", 1)[0]


def unit_cost(unit: str, tests: int) -> float:
    """Estimated seconds of a unit of `tests` tests: the measured figure, else 0.05 s a test."""
    return UNIT_SECONDS.get(unit, 0.05 * tests)


class LongestFirst(LoadScopeScheduling):
    """xdist's scope scheduling with `unit_of` as the scope and the longest units first."""

    def _split_scope(self, nodeid: str) -> str:
        return unit_of(nodeid)

    def schedule(self) -> None:
        if self.collection is None and self.collection_is_completed:
            if not self._check_nodes_have_same_collection():
                self.log("**Different tests collected, aborting run**")
                return
            collection = list(next(iter(self.registered_collections.values())))
            units: dict[str, dict[str, bool]] = {}
            for nodeid in collection:
                units.setdefault(unit_of(nodeid), {})[nodeid] = False
            ordered = sorted(units.items(), key=lambda u: -unit_cost(u[0], len(u[1])))
            # the base class fills `workqueue` (an OrderedDict) in collection order: keys present
            # already keep their place, so it keeps this order and only replaces the values
            self.workqueue.clear()
            self.workqueue.update(ordered)
        super().schedule()


def make_scheduler(config: Any, log: Any) -> LongestFirst:
    """For `pytest_xdist_make_scheduler`; reordering by test count is off (ours sorts)."""
    config.option.loadscopereorder = False
    return LongestFirst(config, log)
