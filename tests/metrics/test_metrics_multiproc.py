"""`toolwire.metrics.multiproc`: two processes that counted calls in plain tables and flushed
them (once half way, once as their flusher stopped, as at a graceful shutdown) leave
prometheus_client multiprocess files that read exactly as if both had counted straight into
prometheus_client's own metrics (issue 14). Each process runs `tests.support.metrics_process`:
prometheus_client picks its multiprocess mode when it is imported."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.parser import text_string_to_metric_families

from toolwire.metrics import process_exited

REPO = Path(__file__).resolve().parents[2]
N = 600


def count(mode: str, directory: Path, start: int, stop: int) -> None:
    """Run one counting process to its end."""
    env = {**os.environ, "PROMETHEUS_MULTIPROC_DIR": str(directory), "PYTHONPATH": str(REPO)}
    done = subprocess.run(
        [sys.executable, "-m", "tests.support.metrics_process", mode, str(start), str(stop)],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr


def workers(mode: str, directory: Path) -> list[int]:
    """Two processes counting calls 0..N/2 and N/2..N into `directory`; their pids."""
    directory.mkdir()
    pids = []
    for start, stop in ((0, N // 2), (N // 2, N)):
        before = _pids(directory)
        count(mode, directory, start, stop)
        (pid,) = _pids(directory) - before
        pids.append(pid)
    return pids


def _pids(directory: Path) -> set[int]:
    return {int(f.stem.rsplit("_", 1)[1]) for f in directory.glob("*.db")}


def host(directory: Path) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    registry = CollectorRegistry()
    MultiProcessCollector(registry, path=str(directory))
    text = generate_latest(registry).decode()
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def test_two_flushed_processes_read_as_prometheus_clients_own_metrics(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ours_dir, theirs_dir = tmp_path / "toolwire", tmp_path / "reference"
    ours_pids = workers("toolwire", ours_dir)
    workers("reference", theirs_dir)
    ours, theirs = host(ours_dir), host(theirs_dir)

    assert ours.keys() == theirs.keys()
    for key, value in theirs.items():
        if key[0].endswith("_sum"):  # two partial sums added in another order
            assert ours[key] == pytest.approx(value, rel=1e-12), key
        else:
            assert ours[key] == value, key
    assert sum(v for (n, _), v in ours.items() if n == "toolwire_calls_total") == N
    assert ours[("toolwire_reservations_in_flight", ())] == 2  # one per process (livesum)

    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(ours_dir))
    process_exited(ours_pids[0])  # the supervisor saw one worker exit
    after = host(ours_dir)
    assert after[("toolwire_reservations_in_flight", ())] == 1
    assert sum(v for (n, _), v in after.items() if n == "toolwire_calls_total") == N
