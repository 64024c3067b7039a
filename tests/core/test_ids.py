"""`toolwire.core.ids.random_hex`: CSPRNG bytes fetched a page at a time, each handed out once,
per thread, and never shared with a forked child."""

from __future__ import annotations

import os
import re
import threading

from toolwire.core import ids
from toolwire.core.ids import POOL_BYTES, random_hex


def test_ids_are_hex_of_the_asked_length_and_never_repeat_across_refills() -> None:
    seen = [random_hex(16) for _ in range(3 * POOL_BYTES // 16 + 7)]  # crosses refills
    assert all(re.fullmatch(r"[0-9a-f]{32}", one) for one in seen)
    assert len(set(seen)) == len(seen)
    assert re.fullmatch(r"[0-9a-f]{24}", random_hex(12))


def test_a_request_larger_than_what_is_left_takes_a_fresh_page() -> None:
    random_hex(POOL_BYTES - 5)  # leaves 5 bytes (or fewer) in this thread's pool
    fresh = random_hex(12)
    assert len(fresh) == 24
    assert ids._pool.at == 12  # served from the start of a new page


def test_threads_draw_from_their_own_pools() -> None:
    got: dict[str, list[str]] = {}

    def draw(name: str) -> None:
        got[name] = [random_hex(16) for _ in range(500)]

    threads = [threading.Thread(target=draw, args=(f"t{i}",)) for i in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    every = [one for values in got.values() for one in values]
    assert len(set(every)) == len(every) == 2000


def test_a_forked_child_does_not_hand_out_the_parents_bytes() -> None:
    random_hex(16)  # the parent's pool holds a page now
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: its next ids, to the parent
        os.close(read)
        os.write(write, "".join(random_hex(16) for _ in range(8)).encode())
        os._exit(0)
    os.close(write)
    child = os.read(read, 1024).decode()
    os.close(read)
    os.waitpid(pid, 0)
    parent = "".join(random_hex(16) for _ in range(8))
    assert len(child) == len(parent) == 256
    assert child != parent
