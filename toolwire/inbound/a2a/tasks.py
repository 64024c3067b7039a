"""`StateTaskStore`: A2A tasks kept in toolwire's state backend, so every instance sees them.

Keys (all expire `retention_s` after the task's last write; the state backend holds only facts
that expire):

    a2a:task:<owner>:<task id>   the task, as protobuf bytes
    a2a:tasks:<owner>            log of the owner's task ids (the index `list` reads)

The owner is the key id of the caller (`PrincipalUser.user_name`): another key's task id is not
found, exactly like an unknown one (A2A 1.0 §4.6: not found and not authorised look the same).
Writing a task in the canceled state publishes on `cancel_channel(task_id)`, which stops the call
on whichever instance runs it. What this is not: durable; a task outlives its retention window
only in the caller's own records.
"""

from __future__ import annotations

from a2a.server.context import ServerCallContext
from a2a.server.tasks.inmemory_task_store import InMemoryTaskStore
from a2a.server.tasks.task_store import TaskStore
from a2a.types.a2a_pb2 import ListTasksRequest, ListTasksResponse, Task, TaskState

from toolwire.inbound.a2a.executor import cancel_channel
from toolwire.state import StateBackend

MAX_LISTED = 1000
"""At most this many of an owner's newest task ids are kept in the index `list` reads."""


class StateTaskStore(TaskStore):
    """The a2a-sdk `TaskStore` over a `StateBackend` (memory:// or redis://)."""

    def __init__(self, state: StateBackend, retention_s: float) -> None:
        self.state = state
        self.retention_s = retention_s

    async def save(self, task: Task, context: ServerCallContext) -> None:
        owner = context.user.user_name
        key = _task_key(owner, task.id)
        if await self.state.get(key) is None:
            await self.state.append(
                _index_key(owner), task.id.encode(), self.retention_s, MAX_LISTED
            )
        await self.state.set(key, task.SerializeToString(), self.retention_s)
        if task.status.state == TaskState.TASK_STATE_CANCELED:
            await self.state.publish(cancel_channel(task.id), b"cancel")

    async def get(self, task_id: str, context: ServerCallContext) -> Task | None:
        raw = await self.state.get(_task_key(context.user.user_name, task_id))
        if not raw:  # absent, expired, or deleted
            return None
        task = Task()
        task.ParseFromString(raw)
        return task

    async def list(self, params: ListTasksRequest, context: ServerCallContext) -> ListTasksResponse:
        """The owner's live tasks, filtered, sorted and paged by the SDK's own in-memory store."""
        page = InMemoryTaskStore()
        seen: set[str] = set()
        for _, raw_id in await self.state.read_after(_index_key(context.user.user_name), 0):
            task_id = raw_id.decode()
            task = None if task_id in seen else await self.get(task_id, context)
            seen.add(task_id)
            if task is not None:
                await page.save(task, context)
        return await page.list(params, context)

    async def delete(self, task_id: str, context: ServerCallContext) -> None:
        await self.state.set(_task_key(context.user.user_name, task_id), b"", 0.001)


def _task_key(owner: str, task_id: str) -> str:
    return f"a2a:task:{owner}:{task_id}"


def _index_key(owner: str) -> str:
    return f"a2a:tasks:{owner}"
