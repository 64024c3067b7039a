"""`StateEventStream`: A2A task events shared by every instance through the state backend.

The a2a-sdk's request handler runs in "shared-stream mode" with it (`event_stream=`): the instance
that runs a task publishes each event it applies; an instance asked to subscribe to a task it
does not run serves the stored task, then tails these events until the task ends (the SDK's
`DefaultRequestHandlerV2._subscribe_remote`). So a task started on instance A can be followed
live from instance B (memory:// within one process, redis:// across processes).

Keys (expiring `retention_s` after the last event, like the tasks themselves):

    a2a:events:<task id>     log of the task's events (`StreamResponse` protobuf bytes)
    a2a:events:<task id>     channel: the sequence number of each event appended

A subscriber listens on the channel first, then reads the whole log, then reads on after each
notification, so no event published while it starts is lost (one already reflected in the stored
task may come twice; applying a status or artifact update again changes nothing). Only the owner
reaches a task's events: the handler looks the task up in the owner-scoped task store
(`tasks.StateTaskStore`) before it subscribes. What this is not: durable, or a queue; a
subscriber that is too slow reads on from the log, which keeps the newest `MAX_EVENTS`.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator

from a2a.server.cluster.event_stream import TaskEventStream, VersionedEvent
from a2a.server.cluster.version import TaskVersion
from a2a.server.events.event_queue import Event
from a2a.types.a2a_pb2 import (
    Message,
    StreamResponse,
    Task,
    TaskArtifactUpdateEvent,
    TaskStatusUpdateEvent,
)

from toolwire.state import StateBackend

MAX_EVENTS = 1000
"""At most this many of a task's newest events are kept for subscribers."""


class StateEventStream(TaskEventStream):
    """The a2a-sdk `TaskEventStream` over a `StateBackend`."""

    def __init__(self, state: StateBackend, retention_s: float) -> None:
        self.state = state
        self.retention_s = retention_s

    async def publish(self, task_id: str, event: VersionedEvent) -> None:
        raw = to_stream_response(event.event).SerializeToString()
        seq = await self.state.append(_key(task_id), raw, self.retention_s, MAX_EVENTS)
        await self.state.publish(_key(task_id), str(seq).encode())

    async def subscribe(
        self, task_id: str, *, after: TaskVersion
    ) -> AsyncGenerator[VersionedEvent, None]:
        """Every event of the task so far, then each new one (the caller stops at the end)."""
        async with self.state.subscribe(_key(task_id)) as notifications:
            seen = 0
            for seq, raw in await self.state.read_after(_key(task_id), seen):
                seen = seq
                yield VersionedEvent(from_bytes(raw), TaskVersion(seq))
            async for _ in notifications:
                for seq, raw in await self.state.read_after(_key(task_id), seen):
                    seen = seq
                    yield VersionedEvent(from_bytes(raw), TaskVersion(seq))

    async def destroy(self, task_id: str) -> None:
        """Nothing to release: the log expires with the task's retention window."""


def _key(task_id: str) -> str:
    return f"a2a:events:{task_id}"


def to_stream_response(event: Event) -> StreamResponse:
    """An event as the `StreamResponse` that carries it on the wire."""
    if isinstance(event, Task):
        return StreamResponse(task=event)
    if isinstance(event, Message):
        return StreamResponse(message=event)
    if isinstance(event, TaskStatusUpdateEvent):
        return StreamResponse(status_update=event)
    if isinstance(event, TaskArtifactUpdateEvent):
        return StreamResponse(artifact_update=event)
    raise TypeError(f"not an A2A event: {type(event).__name__}")


def from_bytes(raw: bytes) -> Event:
    """`to_stream_response(event).SerializeToString()` back to the event."""
    response = StreamResponse()
    response.ParseFromString(raw)
    kind = response.WhichOneof("payload")
    if kind == "task":
        return response.task
    if kind == "message":
        return response.message
    if kind == "status_update":
        return response.status_update
    if kind == "artifact_update":
        return response.artifact_update
    raise ValueError(f"a stored A2A event without a payload: {kind!r}")
