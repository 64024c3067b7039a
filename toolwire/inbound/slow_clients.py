"""The HTTP/1.1 protocol `toolwire serve` runs: uvicorn's httptools protocol with deadlines.

uvicorn bounds only the idle time between requests (`timeout_keep_alive`). A client may still
take forever to send a request's headers or its body, and hold a connection (and, for a body, a
running handler) for as long as it likes (issue 8, item 12). This protocol adds, per connection:

- a header deadline: the request line and headers complete within `header_timeout` seconds of
  the connection opening (or, on a kept-alive connection, of the request's first byte); else the
  client gets `408 Request Timeout` and the connection is closed;
- a body deadline: the whole body arrives within `body_timeout` seconds of the headers; else the
  connection is closed and the handler sees the client gone (`ClientDisconnect`);
- a connection cap: beyond `max_connections` open connections a new one gets `503` and is
  closed at once, before any byte of it is parsed.

On shutdown (SIGTERM, `toolwire.cli.workers`) uvicorn closes the listening socket at once, so a
new connection is refused: the failure nginx retries on another instance for every method, POST
included, since nothing was sent. uvicorn would also close every idle kept-alive connection at
once, racing a proxy that has just written a request on it (nginx does not retry a POST it has
sent: the client would get a 502). Here an idle connection lingers `DRAIN_LINGER_S` instead: a
request that arrives on it in that time is served and answered with `Connection: close`, so the
proxy opens its next connection elsewhere. After the linger idle connections close.

The deadlines are checked by one sweep per event loop, every `sweep_interval` seconds (a tenth
of the shorter timeout, 0.05-1 s), over the connections that have one: arming a deadline is a
timestamp, not a timer per request (two `call_later` and two cancellations per request were a
visible share of a call: the hot path, docs/benchmarks.md). A deadline fires up to one interval
late.

Each request's response is written through `Corked`: its status line and headers leave with
its body in one write (uvicorn writes them apart), one `send()` less per request.

Each closing logs one line, without a traceback, through `toolwire.http` (rate-limited, see
`toolwire.log_flood`). Responses are not bounded here: SSE streams and slow tools run as long as
they need. What this is not: a substitute for a reverse proxy's own limits (docs/security.md).
"""

from __future__ import annotations

import asyncio
import logging
import weakref
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from toolwire.inbound.disconnect import EXTENSION, DisconnectSignal, signal_of

log = logging.getLogger("toolwire.http")

DRAIN_LINGER_S = 1.0
"""How long an idle kept-alive connection stays open after shutdown began (see above)."""

_REFUSED = (
    b"HTTP/1.1 503 Service Unavailable\r\ncontent-type: text/plain\r\ncontent-length: 21\r\n"
    b"connection: close\r\n\r\ntoo many connections\n"
)
_TIMED_OUT = (
    b"HTTP/1.1 408 Request Timeout\r\ncontent-type: text/plain\r\ncontent-length: 26\r\n"
    b"connection: close\r\n\r\nrequest headers too slow\r\n"
)


class GuardedHttpProtocol(HttpToolsProtocol):
    """`HttpToolsProtocol` with header and body deadlines and a connection cap (class
    attributes, set by `guarded_protocol`)."""

    header_timeout: float = 10.0
    body_timeout: float = 30.0
    max_connections: int = 1000
    sweep_interval: float = 1.0

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._due: float | None = None  # loop time when the armed phase expires
        self._phase = "headers"
        self._limit = 0.0
        self._sweep = _Sweep.of(self.loop, self.sweep_interval)
        self._draining = False
        self._linger: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        if len(self.connections) > self.max_connections:
            log.warning(
                "refused a connection: %d open, the cap is %d",
                len(self.connections) - 1,
                self.max_connections,
            )
            transport.write(_REFUSED)
            transport.close()
            return
        self._arm(self.header_timeout, "headers")

    def on_message_begin(self) -> None:
        super().on_message_begin()
        # The request's disconnect signal (`toolwire.inbound.disconnect`), fired below.
        self.scope["extensions"] = {EXTENSION: {"signal": DisconnectSignal(self.loop)}}
        if self._due is None:  # a kept-alive connection's next request
            self._arm(self.header_timeout, "headers")

    def on_headers_complete(self) -> None:
        before = self.cycle
        super().on_headers_complete()
        cycle = self.cycle
        if cycle is not None and cycle is not before:  # this request's: its writes are corked
            cycle.transport = Corked(self.transport, self.loop)  # type: ignore[assignment]
        if self._draining and cycle is not None:
            cycle.keep_alive = False  # answered with `Connection: close`
        self._arm(self.body_timeout, "body")

    def on_message_complete(self) -> None:
        super().on_message_complete()
        self._disarm()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        self._sweep.armed.discard(self)
        cycle = self.cycle
        if cycle is not None and not cycle.response_complete:
            signal = signal_of(cycle.scope)  # type: ignore[arg-type]
            if signal is not None:
                signal.fire()
        if self._linger is not None:
            self._linger.cancel()
        super().connection_lost(exc)

    def shutdown(self) -> None:
        """Graceful shutdown began: a busy connection closes after its response (uvicorn); an
        idle one after `DRAIN_LINGER_S`, or after the one request that arrives meanwhile."""
        self._draining = True
        if self.cycle is None or self.cycle.response_complete:
            if self._linger is None and not self.transport.is_closing():
                self._linger = self.loop.call_later(DRAIN_LINGER_S, self._close_if_idle)
        else:
            self.cycle.keep_alive = False

    def _close_if_idle(self) -> None:
        self._linger = None
        if self.cycle is None or self.cycle.response_complete:
            self.transport.close()

    def _arm(self, seconds: float, phase: str) -> None:
        self._due = self.loop.time() + seconds
        self._phase = phase
        self._limit = seconds
        self._sweep.arm(self)

    def _disarm(self) -> None:
        self._due = None  # the sweep forgets the connection when it next passes

    def _expire(self) -> None:
        self._due = None
        if self.transport.is_closing():
            return
        # One message per phase: the flood limit (`log_flood`) counts each message kind apart.
        if self._phase == "headers":
            log.warning("closed a connection whose request headers took over %gs", self._limit)
            self.transport.write(_TIMED_OUT)
        else:
            log.warning("closed a connection whose request body took over %gs", self._limit)
        self.transport.close()


class Corked:
    """The transport one request's response is written to: its first write (the status line
    and headers, uvicorn writes them on `http.response.start`) is held until the next write (the
    body) and goes out with it, so an answer sent at once leaves in one `send()` and one TCP
    segment instead of two (the hot path: one syscall less per request, and no moment where a
    peer holds a response's headers without its body). Whatever is held goes out at the loop's
    next turn at the latest (a stream's headers before its first event), before a close, and
    in order: every later write of the response follows it."""

    __slots__ = ("_first", "_held", "_loop", "_transport")

    def __init__(self, transport: asyncio.Transport, loop: asyncio.AbstractEventLoop) -> None:
        self._transport = transport
        self._loop = loop
        self._held: bytes | None = None
        self._first = True

    def write(self, data: bytes) -> None:
        held = self._held
        if held is not None:
            self._held = None
            self._transport.write(held + data)
        elif self._first:
            self._first = False
            self._held = bytes(data)
            self._loop.call_soon(self.flush)
        else:
            self._transport.write(data)

    def flush(self) -> None:
        """Write what is held now (nothing when nothing is)."""
        held, self._held = self._held, None
        if held is not None and not self._transport.is_closing():
            self._transport.write(held)

    def close(self) -> None:
        self.flush()
        self._transport.close()

    def is_closing(self) -> bool:
        return self._transport.is_closing()


class _Sweep:
    """The deadline sweep of one event loop: every `interval` seconds, while any connection has
    a deadline armed, expire the ones that are due."""

    def __init__(self, loop: asyncio.AbstractEventLoop, interval: float) -> None:
        self.loop = loop
        self.interval = interval
        self.armed: set[GuardedHttpProtocol] = set()
        self._timer: asyncio.TimerHandle | None = None

    @classmethod
    def of(cls, loop: asyncio.AbstractEventLoop, interval: float) -> _Sweep:
        """The loop's sweep (made on first use); the shortest interval asked for wins."""
        sweep = _SWEEPS.get(loop)
        if sweep is None:
            sweep = _SWEEPS[loop] = cls(loop, interval)
        sweep.interval = min(sweep.interval, interval)
        return sweep

    def arm(self, protocol: GuardedHttpProtocol) -> None:
        self.armed.add(protocol)
        if self._timer is None:
            self._timer = self.loop.call_later(self.interval, self._run)

    def _run(self) -> None:
        self._timer = None
        now = self.loop.time()
        for protocol in list(self.armed):
            due = protocol._due
            if due is None:
                self.armed.discard(protocol)
            elif due <= now:
                self.armed.discard(protocol)
                protocol._expire()
        if self.armed:
            self._timer = self.loop.call_later(self.interval, self._run)


def guarded_protocol(
    *, header_timeout: float, body_timeout: float, max_connections: int
) -> type[GuardedHttpProtocol]:
    """A `GuardedHttpProtocol` class with these limits, for `uvicorn.Config(http=...)`.

    Seconds for the timeouts; `ValueError` unless all three are positive."""
    if min(header_timeout, body_timeout) <= 0 or max_connections <= 0:
        raise ValueError("header and body timeouts and max_connections must be positive")
    return type(
        "GuardedHttpProtocol",
        (GuardedHttpProtocol,),
        {
            "header_timeout": header_timeout,
            "body_timeout": body_timeout,
            "max_connections": max_connections,
            "sweep_interval": min(1.0, max(0.05, min(header_timeout, body_timeout) / 10)),
        },
    )


_SWEEPS: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _Sweep] = weakref.WeakKeyDictionary()
"""Each event loop's sweep (a process may run several loops: tests, `--workers` threads)."""
