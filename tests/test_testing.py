"""`toolwire.testing.free_port` within a `TOOLWIRE_TEST_PORTS` slice (a parallel run's worker)."""

from __future__ import annotations

import socket
from concurrent.futures import ThreadPoolExecutor

import pytest

from toolwire.testing import PORTS_ENV, free_port


def test_free_port_stays_in_its_slice_and_passes_over_a_port_in_use(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    with socket.socket() as held:
        held.bind(("127.0.0.1", 0))
        held.listen()
        busy = held.getsockname()[1]
        monkeypatch.setenv(PORTS_ENV, f"{busy}-{busy + 1}")
        given = {free_port() for _ in range(4)}
        assert given == {busy + 1}  # the port in use is never handed out
        monkeypatch.setenv(PORTS_ENV, f"{busy}-{busy}")
        with pytest.raises(RuntimeError, match="no free port"):
            free_port()


def test_gateways_started_side_by_side_never_get_the_same_port(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Three threads at once, as a fixture starting three instances does (before the lock, two
    of them read the same place in the slice about once in 40 such starts: both gateways were
    then told the one port, and the one that lost the bind was silently the other's twin)."""
    with socket.socket() as probe:  # a slice of 100 ports, as a parallel run's worker has
        probe.bind(("127.0.0.1", 0))
        low = probe.getsockname()[1]
    monkeypatch.setenv(PORTS_ENV, f"{low}-{low + 99}")
    for _ in range(300):
        with ThreadPoolExecutor(3) as pool:
            ports = list(pool.map(lambda _: free_port(), range(3)))
        assert len(set(ports)) == 3, ports
