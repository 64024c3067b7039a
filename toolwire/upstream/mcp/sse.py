"""A server-sent events parser (the WHATWG "event stream" format) for MCP answers.

    parser = SseParser(max_event_size=1 << 20)
    for event in parser.feed(chunk):      # bytes as they arrive, split anywhere
        event.event, event.data, event.id
    parser.last_id, parser.retry_ms       # for a reconnect with Last-Event-ID

Lines end with LF, CRLF or CR; a line starting with ":" is a comment; `data` lines join with LF;
a blank line dispatches the event (one with no data line is not dispatched, as a browser does);
`id` sets the last event id (one holding NUL is ignored) and `retry` the reconnection delay in
milliseconds (digits only). An event over `max_event_size` bytes raises `SseError`.

What it is not: a reconnecting client (`streamable.StreamableHttp` decides that).
"""

from __future__ import annotations

from dataclasses import dataclass

MAX_EVENT_SIZE = 1 << 20
"""Bytes one event may hold (the SDK's default for its Streamable HTTP client)."""


class SseError(ValueError):
    """The stream is not one this parser accepts (an event over the size limit)."""


@dataclass(slots=True)
class Event:
    event: str
    data: str
    id: str | None


class SseParser:
    """See the module docstring."""

    def __init__(self, max_event_size: int = MAX_EVENT_SIZE) -> None:
        self.max_event_size = max_event_size
        self.last_id: str | None = None
        self.retry_ms: int | None = None
        self._buffer = b""
        self._kind = ""
        self._data: list[str] = []
        self._size = 0
        self._cr = False

    def feed(self, chunk: bytes) -> list[Event]:
        """The events `chunk` completes, in order."""
        if self._cr and chunk.startswith(b"\n"):
            chunk = chunk[1:]  # the LF of a CRLF split across chunks
        self._cr = chunk.endswith(b"\r")
        text = self._buffer + chunk
        lines = text.replace(b"\r\n", b"\n").replace(b"\r", b"\n").split(b"\n")
        self._buffer = lines.pop()
        if len(self._buffer) > self.max_event_size:
            raise SseError(f"an event is over {self.max_event_size} bytes")
        events: list[Event] = []
        for raw in lines:
            event = self._line(raw.decode("utf-8", "replace"))
            if event is not None:
                events.append(event)
        return events

    def _line(self, line: str) -> Event | None:
        if not line:
            return self._dispatch()
        if line.startswith(":"):
            return None
        name, _, value = line.partition(":")
        value = value.removeprefix(" ")
        if name == "data":
            self._size += len(value) + 1
            if self._size > self.max_event_size:
                raise SseError(f"an event is over {self.max_event_size} bytes")
            self._data.append(value)
        elif name == "event":
            self._kind = value
        elif name == "id":
            if "\0" not in value:
                self.last_id = value
        elif name == "retry" and value.isdigit():
            self.retry_ms = int(value)
        return None

    def _dispatch(self) -> Event | None:
        if not self._data:
            self._kind = ""
            return None
        event = Event(self._kind or "message", "\n".join(self._data), self.last_id)
        self._kind, self._data, self._size = "", [], 0
        return event
