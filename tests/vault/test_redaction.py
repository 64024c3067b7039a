"""Redaction: registered secret values never survive into text, data or log records."""

from __future__ import annotations

import logging

import pytest

from toolwire.vault import MASK, Redactor, install_log_redaction

SECRET = "canary-5f1e0c9a7b"


def test_every_occurrence_is_masked_in_text_and_nested_data() -> None:
    redactor = Redactor([SECRET, "abc"])  # too short to register
    assert redactor.scrub(f"a {SECRET} b {SECRET}") == f"a {MASK} b {MASK}"
    assert redactor.scrub("abc") == "abc"
    data = {"k": [f"x{SECRET}", {SECRET: 1}], "n": 3}
    assert redactor.scrub_obj(data) == {"k": [f"x{MASK}", {MASK: 1}], "n": 3}


def test_log_records_are_scrubbed_in_message_arguments_and_tracebacks(
    caplog: pytest.LogCaptureFixture,
) -> None:
    redactor = Redactor([SECRET])
    install_log_redaction(redactor)
    log = logging.getLogger("toolwire.test.redaction")
    with caplog.at_level(logging.INFO):
        log.info("calling with %s", SECRET)
        log.info(f"inline {SECRET}")
        try:
            raise RuntimeError(f"url=https://x/?key={SECRET}")
        except RuntimeError:
            log.exception("failed")
    assert len(caplog.records) == 3
    assert SECRET not in caplog.text
    assert "RuntimeError" in caplog.text
    assert MASK in caplog.records[0].getMessage()
