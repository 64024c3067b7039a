"""The nouns of the call path: call ids for audit records."""

from __future__ import annotations

import re
import time

from toolwire.core.model import AuditEvent, new_call_id


def test_call_ids_are_random_and_sort_in_the_order_they_were_made() -> None:
    before = time.time_ns() // 1_000_000
    batches = []
    for _ in range(3):
        batches.append([new_call_id() for _ in range(2_000)])
        time.sleep(0.002)
    after = time.time_ns() // 1_000_000
    ids = [i for batch in batches for i in batch]
    assert all(re.fullmatch(r"call_[0-9a-f]{36}", i) for i in ids)
    assert len(set(ids)) == len(ids)
    assert len({i[17:] for i in ids}) == len(ids)  # 96 random bits each, not a counter
    assert all(before <= int(i[5:17], 16) <= after for i in ids)
    assert max(batches[0]) < min(batches[1]) and max(batches[1]) < min(batches[2])


def _event(**over: str) -> AuditEvent:
    return AuditEvent("req", 0.0, None, None, None, None, "rest", "OK", 0, 0.0, **over)


def test_an_event_gets_a_fresh_call_id_unless_given_one() -> None:
    assert _event().call_id != _event().call_id
    assert _event(call_id="res_x").call_id == "res_x"
