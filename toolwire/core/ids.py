"""Random identifiers for requests and calls, from the OS's CSPRNG, a page at a time.

`random_hex(n)` is ``os.urandom(n).hex()`` with the `getrandom` system call made once per
`POOL_BYTES` instead of once per identifier: every request takes two or three identifiers
(request id, call id, MCP ids), and on a virtual machine the system call was a visible share of
a free call (~3 µs each under load, docs/benchmarks.md). The bytes are the same CSPRNG output,
each used once; what changes is only how many are fetched at a time.

Each thread keeps its own pool (no lock, no byte handed out twice), and a forked child drops the
pool it inherited (`os.register_at_fork`), so parent and child never hand out the same bytes.
Cryptographic material (keys, nonces, tokens) keeps calling `os.urandom`/`secrets` directly.

`time_prefix()` goes in front of the random part of ids a unique index keys, so that they sort
in the order they were made (call ids, reservation ids).
"""

from __future__ import annotations

import os
import threading
import time

POOL_BYTES = 4096


class _Pool(threading.local):
    def __init__(self) -> None:
        self.buffer = b""
        self.at = 0


_pool = _Pool()


def random_hex(nbytes: int) -> str:
    """`nbytes` random bytes (at most `POOL_BYTES`) as `2 * nbytes` lower-case hex digits."""
    pool = _pool
    at = pool.at
    end = at + nbytes
    if end > len(pool.buffer):
        pool.buffer = os.urandom(max(POOL_BYTES, nbytes))
        at, end = 0, nbytes
    pool.at = end
    return pool.buffer[at:end].hex()


def time_prefix() -> str:
    """The current Unix time in milliseconds as 12 hex digits (fixed width, so ids that start
    with it sort in the order they were made, to the millisecond, until the year 10889).

    Put in front of the random part of an id a unique index keys (audit records' `call_id`,
    reservation ids): a new key then lands at the index's right edge, in pages already in
    cache, instead of on a random page of a large index (docs/design/audit-batch-writes.md).
    Not a sequence: ids of one millisecond, or of instances whose clocks differ, interleave;
    only the random part makes an id unique."""
    return f"{time.time_ns() // 1_000_000:012x}"


def _forked() -> None:
    global _pool
    _pool = _Pool()


os.register_at_fork(after_in_child=_forked)
