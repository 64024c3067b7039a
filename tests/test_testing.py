"""`toolwire.testing.free_port` within a `TOOLWIRE_TEST_PORTS` slice (a parallel run's worker)."""

from __future__ import annotations

import socket

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
