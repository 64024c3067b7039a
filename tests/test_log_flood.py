"""Lines a client can trigger at will go through once per interval, with a count of the rest."""

from __future__ import annotations

import logging

import pytest

from toolwire import log_flood
from toolwire.log_flood import OncePerInterval


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def record(msg: str, *args: object, name: str = "uvicorn.error") -> logging.LogRecord:
    return logging.LogRecord(name, logging.WARNING, __file__, 1, msg, args, None)


def test_one_record_per_kind_per_interval_then_a_count_of_those_dropped() -> None:
    clock = Clock()
    limiter = OncePerInterval(10, clock)
    passed = [limiter.filter(record("Invalid HTTP request received.")) for _ in range(2_191)]
    assert passed.count(True) == 1
    other = record("closed a connection whose request %s took over %gs", "body", 0.5)
    assert limiter.filter(other)  # another kind has its own allowance
    clock.now = 10.0
    next_one = record("Invalid HTTP request received.")
    assert limiter.filter(next_one)
    assert next_one.getMessage() == (
        "Invalid HTTP request received. (2190 more like this in the last 10s)"
    )


def test_the_limiter_is_attached_only_to_loggers_a_client_can_drive(
    caplog: pytest.LogCaptureFixture,
) -> None:
    limiter = log_flood.install()
    try:
        with caplog.at_level(logging.WARNING):
            for _ in range(50):
                logging.getLogger("toolwire.http").warning("client went away")
                logging.getLogger("toolwire.gateway").warning("gateway failure")
        assert caplog.text.count("client went away") == 1
        assert caplog.text.count("gateway failure") == 50
    finally:
        for name in log_flood.CLIENT_LOGGERS:
            logging.getLogger(name).removeFilter(limiter)
