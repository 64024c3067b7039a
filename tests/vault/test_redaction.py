"""Redaction: registered secret values never survive into text, data or log records."""

from __future__ import annotations

import logging
import re

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


TRICKY = "k3y+Part/Two==é\"&<'~"
"""Changes under URL, form, JSON, HTML and base64 encoding."""


def _forms(value: str) -> dict[str, str]:
    import base64
    import json
    from urllib.parse import quote, quote_plus

    raw = value.encode()
    return {
        "raw": value,
        "quote": quote(value, safe=""),
        "quote_slash_safe": quote(value),
        "quote_lower_hex": re.sub(r"%[0-9A-F]{2}", lambda m: m.group().lower(), quote(value)),
        "quote_plus": quote_plus(value),
        "quote_twice": quote(quote(value, safe=""), safe=""),
        "every_byte_encoded": "".join(f"%{b:02X}" for b in raw),
        "form_decoded_plus": value.replace("+", " "),
        "json_ascii": json.dumps(value),
        "json_utf8": json.dumps(value, ensure_ascii=False),
        "json_escaped_slash": json.dumps(value).replace("/", "\\/"),
        "json_in_json": json.dumps(json.dumps(value)),
        "json_every_char_escaped": "".join(f"\\u{ord(c):04x}" for c in value),
        "html": value.replace("&", "&amp;").replace('"', "&quot;").replace("<", "&lt;"),
        "base64": base64.b64encode(raw).decode(),
        "base64_urlsafe_unpadded": base64.urlsafe_b64encode(raw).decode().rstrip("="),
        "basic_user_pass": base64.b64encode(b"svc-user:" + raw).decode(),
        "basic_other_user": base64.b64encode(b"ab:" + raw).decode(),
        "base64_inside_blob": base64.b64encode(b'{"k": "' + raw + b'"}').decode(),
        "bearer_header": f"Authorization: Bearer {value}",
    }


@pytest.mark.parametrize(("form", "text"), sorted(_forms(TRICKY).items()))
def test_a_secret_is_masked_in_every_form_the_gateway_or_an_upstream_turns_it_into(
    form: str, text: str
) -> None:
    redactor = Redactor([TRICKY])
    scrubbed = redactor.scrub(f"before {text} after")
    assert MASK in scrubbed
    assert scrubbed.startswith("before ") and scrubbed.endswith(" after")
    leftovers = [f for f, t in _forms(TRICKY).items() if t in scrubbed and len(t) > 6]
    assert leftovers == []


def test_text_without_a_secret_is_left_exactly_as_it_was() -> None:
    redactor = Redactor([TRICKY, SECRET])
    text = 'https://x.test/?q=a%20b&c=%2e%41 {"u": "\\u00e9\\/"} YWJj Part Two=='
    assert redactor.scrub(text) == text


def test_extra_fields_and_stack_info_of_log_records_are_scrubbed(
    caplog: pytest.LogCaptureFixture,
) -> None:
    from urllib.parse import quote

    # a secret of this test only: redactors other tests installed may still be alive (the hook
    # holds them weakly) and would mask a shared secret's parts first
    secret = "w4x+Only/Here==é\"&<'~"
    redactor = Redactor([secret])  # held: the hook keeps only a weak reference
    install_log_redaction(redactor)
    log = logging.getLogger("toolwire.test.redaction")
    with caplog.at_level(logging.INFO):
        log.info(
            "sent",
            extra={"url": f"https://x/?k={quote(secret)}", "nested": {"k": [secret]}},
            stack_info=True,
        )
    record = caplog.records[-1]
    assert secret not in repr(record.__dict__)
    assert quote(secret) not in repr(record.__dict__)
    assert record.__dict__["nested"] == {"k": [MASK]}


def test_third_party_loggers_that_print_urls_are_kept_at_warning() -> None:
    from toolwire.logs import URL_LOGGERS, configure

    root = logging.getLogger()
    saved = root.handlers[:], root.level
    try:
        configure("debug")
        assert {n: logging.getLogger(n).getEffectiveLevel() for n in URL_LOGGERS} == {
            n: logging.WARNING for n in URL_LOGGERS
        }
    finally:
        root.handlers[:], level = saved
        root.setLevel(level)
