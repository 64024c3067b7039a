"""A tool call's deadline: `asyncio.Timeout`'s contract, kept by one sweep per event loop.

`Gateway.invoke` runs every adapter under a deadline. `asyncio.timeout` starts an event-loop
timer per call and closes it after (with uvloop: a libuv timer allocated, started, stopped and
closed), ~4 µs of a free call that takes ~60 µs in process (docs/design/hot-path-front.md). A
`Deadline` puts the call in a bucket of its due time instead, and one sweep per loop, every
`GRAIN_S` while any deadline is armed, cancels the calls whose time has come.

The contract is `asyncio.Timeout`'s (Python 3.11, `asyncio/timeouts.py`), for what the gateway
uses of it: an async context manager entered inside a task; when the deadline passes, that task
is cancelled, and the `CancelledError` leaving the block becomes `TimeoutError` (``raise
TimeoutError from``), unless the task was also cancelled by someone else (then the cancellation
propagates). `when()`, `reschedule(when)` (None lifts the deadline; a time already past fires at
the loop's next turn) and `expired()` behave as there. Times are the loop's (`loop.time()`).

What differs: a deadline fires up to `GRAIN_S` late (never early). Tool timeouts are seconds;
a hundredth of a second on top is not a difference a caller can use.
"""

from __future__ import annotations

import asyncio
import heapq
import math
import weakref
from types import TracebackType

GRAIN_S = 0.01
"""The sweep's period, and how late a deadline may fire."""

_CREATED, _ENTERED, _EXPIRING, _EXPIRED, _EXITED = range(5)


class Deadline:
    """See the module docstring. `when`: loop time, or None for no deadline (yet)."""

    __slots__ = ("_cancelling", "_delay", "_slot", "_state", "_task", "_wheel", "_when")

    def __init__(self, when: float | None) -> None:
        self._when = when
        self._delay: float | None = None
        self._state = _CREATED
        self._task: asyncio.Task[object] | None = None
        self._cancelling = 0
        self._wheel: _Wheel | None = None
        self._slot: int | None = None

    @classmethod
    def after(cls, seconds: float) -> Deadline:
        """A deadline `seconds` from when it is entered (`asyncio.timeout(seconds)`, which
        counts from its making: the same, as both are entered at once). The loop is found
        through the entering task: one `get_running_loop` (a `getpid` system call in CPython
        3.11) per call instead of two."""
        deadline = cls(None)
        deadline._delay = seconds
        return deadline

    def when(self) -> float | None:
        """The current deadline (loop time), or None."""
        return self._when

    def expired(self) -> bool:
        """Whether the deadline passed while the block ran."""
        return self._state in (_EXPIRING, _EXPIRED)

    def reschedule(self, when: float | None) -> None:
        """Move the deadline to `when` (None: no deadline; a time already past: fire at the
        loop's next turn). `RuntimeError` outside the block, as `asyncio.Timeout.reschedule`."""
        if self._state != _ENTERED:
            raise RuntimeError("the deadline is not running: it cannot be rescheduled")
        wheel = self._wheel
        assert wheel is not None
        wheel.disarm(self)
        self._when = when
        if when is None:
            return
        if when <= wheel.loop.time():
            wheel.loop.call_soon(self._fire)
        else:
            wheel.arm(self, when)

    async def __aenter__(self) -> Deadline:
        if self._state != _CREATED:
            raise RuntimeError("a deadline is entered once")
        task = asyncio.current_task()
        if task is None:
            raise RuntimeError("a deadline is entered inside a task")
        self._task = task
        self._cancelling = task.cancelling()
        self._state = _ENTERED
        loop = task.get_loop()
        self._wheel = wheel = _Wheel.of(loop)
        if self._delay is not None:
            self._when = loop.time() + self._delay
        when = self._when
        if when is not None:
            if when <= wheel.loop.time():
                wheel.loop.call_soon(self._fire)  # due already: at the loop's next turn
            else:
                wheel.arm(self, when)
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        assert self._wheel is not None and self._task is not None
        self._wheel.disarm(self)
        if self._state == _EXPIRING:
            self._state = _EXPIRED
            if self._task.uncancel() <= self._cancelling and exc_type is asyncio.CancelledError:
                raise TimeoutError from exc  # nobody else cancelled the task: it was the deadline
        else:
            self._state = _EXITED

    def _fire(self) -> None:
        if self._state == _ENTERED:
            assert self._task is not None
            self._task.cancel()
            self._state = _EXPIRING


class _Wheel:
    """One event loop's armed deadlines, in buckets of `GRAIN_S` by due time, and the sweep that
    fires them: a timer every `GRAIN_S` while any deadline was armed since the last sweep, none
    otherwise (a call that arms and disarms within one period starts and stops no timer)."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.buckets: dict[int, set[Deadline]] = {}
        self.slots: list[int] = []
        """The buckets' slots, a heap (a slot stays until its time passes, even emptied)."""
        self.armed = 0
        self._timer: asyncio.TimerHandle | None = None

    @classmethod
    def of(cls, loop: asyncio.AbstractEventLoop) -> _Wheel:
        global _last
        last = _last  # one read: another thread may replace it (never change it in place)
        if last is not None and last[0] is loop:
            return last[1]
        wheel = _WHEELS.get(loop)
        if wheel is None:
            wheel = _WHEELS[loop] = cls(loop)
        _last = (loop, wheel)
        return wheel

    def arm(self, deadline: Deadline, when: float) -> None:
        """Watch `deadline`, due at `when` (a time to come)."""
        slot = math.ceil(when / GRAIN_S)  # the first sweep at or after `when`
        bucket = self.buckets.get(slot)
        if bucket is None:
            bucket = self.buckets[slot] = set()
            heapq.heappush(self.slots, slot)
        bucket.add(deadline)
        deadline._slot = slot
        self.armed += 1
        if self._timer is None:
            self._timer = self.loop.call_later(GRAIN_S, self._sweep)

    def disarm(self, deadline: Deadline) -> None:
        """Stop watching `deadline` (nothing when it is not watched)."""
        slot = deadline._slot
        if slot is None:
            return
        deadline._slot = None
        bucket = self.buckets.get(slot)
        if bucket is not None and deadline in bucket:
            bucket.discard(deadline)
            self.armed -= 1

    def _sweep(self) -> None:
        self._timer = None
        if self.armed == 0:  # nothing to watch: forget the emptied slots, stop sweeping
            self.buckets.clear()
            self.slots.clear()
            return
        now = self.loop.time()
        slots = self.slots
        while slots and slots[0] * GRAIN_S <= now:
            bucket = self.buckets.pop(heapq.heappop(slots), set())
            for deadline in bucket:
                deadline._slot = None
                self.armed -= 1
                deadline._fire()
        self._timer = self.loop.call_later(GRAIN_S, self._sweep)


_WHEELS: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _Wheel] = weakref.WeakKeyDictionary()
"""Each event loop's wheel (a process may run several loops: tests, `--workers` threads)."""
_last: tuple[asyncio.AbstractEventLoop, _Wheel] | None = None
"""The last (loop, wheel) looked up: the loop that serves every call of a process, mostly."""
