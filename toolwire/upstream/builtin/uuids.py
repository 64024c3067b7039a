"""`uuid.generate`: random (version 4) or time-ordered (version 7, RFC 9562) UUIDs.

Python 3.11 has no `uuid.uuid7`, so version 7 is built here per RFC 9562 section 5.7, with the
monotonic counter of section 6.2 (method 1): 48 bits of Unix milliseconds, then a 42-bit counter
(the 12 `rand_a` bits and the top 30 bits of `rand_b`) seeded at random each millisecond with its
top bit clear, then 32 random bits. Within one process every UUID is greater than the previous
one, even within a millisecond or when the clock steps back.
"""

from __future__ import annotations

import os
import secrets
import threading
import time
import uuid
from typing import Annotated, Literal

from pydantic import Field
from typing_extensions import TypedDict

from toolwire.upstream.builtin.registry import BuiltinRegistry

registry = BuiltinRegistry()

_COUNTER_BITS = 42
_COUNTER_MAX = (1 << _COUNTER_BITS) - 1
_lock = threading.Lock()
_last_ms = 0
_counter = 0


class Generated(TypedDict):
    uuids: Annotated[list[str], Field(description="The UUIDs, lower-case, hyphenated.")]
    version: Annotated[int, Field(description="Their UUID version (4 or 7).")]


@registry.operation(
    "uuid",
    "generate",
    category="utility",
    title="Generate UUIDs",
    read_only=True,
    destructive=False,
    idempotent=False,
    open_world=False,
    tool_description=(
        "Generate UUIDs: random ones (version 4) or time-ordered ones that sort by creation "
        "time (version 7, RFC 9562), good as database keys."
    ),
)
def generate(
    version: Annotated[
        Literal[4, 7],
        Field(description="4 for random UUIDs, 7 for time-ordered ones (sortable by creation)."),
    ] = 4,
    count: Annotated[int, Field(description="How many UUIDs to generate.", ge=1, le=100)] = 1,
) -> Generated:
    """Generate one or more UUIDs, version 4 (random) or 7 (time-ordered, increasing)."""
    make = uuid7 if version == 7 else uuid.uuid4
    return {"uuids": [str(make()) for _ in range(count)], "version": version}


def uuid7() -> uuid.UUID:
    """A version 7 UUID, greater than every one this process made before."""
    global _last_ms, _counter
    with _lock:
        ms = time.time_ns() // 1_000_000
        if ms > _last_ms:
            _last_ms, _counter = ms, _seed()
        else:  # same millisecond, or the clock went back: keep counting from the last one
            _counter += 1
            if _counter > _COUNTER_MAX:  # practically never: 2**41 UUIDs in a millisecond
                _last_ms, _counter = _last_ms + 1, _seed()
        ms, counter = _last_ms, _counter
    tail = int.from_bytes(os.urandom(4))
    value = (
        (ms & 0xFFFF_FFFF_FFFF) << 80
        | 0x7 << 76
        | (counter >> 30) << 64
        | 0b10 << 62
        | (counter & 0x3FFF_FFFF) << 32
        | tail
    )
    return uuid.UUID(int=value)


def _seed() -> int:
    return secrets.randbits(_COUNTER_BITS - 1)
