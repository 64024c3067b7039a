"""JSON log lines: one object per line, the request id on every line logged inside a request
or call, and no secret: the vault's redaction stays in front of the renderer."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator

import pytest

from toolwire import logs
from toolwire.core.context import bound, current_request_id
from toolwire.vault import Redactor, install_log_redaction

SECRET = "sk-live-logs-secret-0123456789abcdef"


@pytest.fixture
def lines(monkeypatch: pytest.MonkeyPatch) -> Iterator[io.StringIO]:
    out = io.StringIO()
    monkeypatch.setattr("sys.stderr", out)
    root = logging.getLogger()
    saved = root.handlers[:], root.level
    logs.configure("info", "json")
    try:
        yield out
    finally:
        root.handlers[:], level = saved
        root.setLevel(level)


def test_every_line_inside_a_request_carries_its_id_and_no_secret(lines: io.StringIO) -> None:
    redactor = Redactor([SECRET])  # held: the redaction hook keeps redactors weakly
    install_log_redaction(redactor)
    log = logging.getLogger("toolwire.test")
    log.info("before any request")
    with bound("req_outer"):
        log.info("inside, with %s", SECRET)
        with bound("req_inner"):
            log.warning("nested call")
        log.info("explicit", extra={"request_id": "req_given"})
    assert current_request_id() is None
    parsed = [json.loads(line) for line in lines.getvalue().splitlines()]
    assert [p.get("request_id") for p in parsed] == [None, "req_outer", "req_inner", "req_given"]
    assert parsed[1]["logger"] == "toolwire.test" and parsed[1]["level"] == "info"
    assert "timestamp" in parsed[1]
    assert SECRET not in lines.getvalue()
