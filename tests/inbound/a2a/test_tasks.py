"""`StateTaskStore` over the memory backend, in process: tasks are per key, listed newest first,
deleted, and a canceled write is published for the instance running the call."""

from __future__ import annotations

from collections.abc import AsyncIterator

import anyio
import pytest
from a2a.server.context import ServerCallContext
from a2a.types.a2a_pb2 import ListTasksRequest, Task, TaskState, TaskStatus

from toolwire.core.model import Principal
from toolwire.core.scopes import ScopeSet
from toolwire.inbound.a2a.executor import PrincipalUser, cancel_channel
from toolwire.inbound.a2a.tasks import StateTaskStore
from toolwire.state.memory import MemoryState


def context(key_id: str) -> ServerCallContext:
    principal = Principal(key_id=key_id, account_id="acct", scopes=ScopeSet(["*"]))
    return ServerCallContext(user=PrincipalUser(principal))


def task(task_id: str, state: int = TaskState.TASK_STATE_WORKING) -> Task:
    return Task(id=task_id, context_id="c", status=TaskStatus(state=state))  # type: ignore[arg-type]


@pytest.fixture
async def store() -> AsyncIterator[StateTaskStore]:
    state = MemoryState()
    yield StateTaskStore(state, retention_s=60)
    await state.close()


async def test_a_task_is_read_back_by_its_owner_only(store: StateTaskStore) -> None:
    await store.save(task("t1"), context("k1"))
    assert await store.get("t1", context("k1")) == task("t1")
    assert await store.get("t1", context("k2")) is None


async def test_list_returns_the_owners_tasks_and_delete_removes_one(store: StateTaskStore) -> None:
    for task_id in ("t1", "t2", "t3"):
        await store.save(task(task_id), context("k1"))
    await store.save(task("t1", TaskState.TASK_STATE_COMPLETED), context("k1"))  # no duplicate
    await store.save(task("other"), context("k2"))
    await store.delete("t2", context("k1"))
    listed = await store.list(ListTasksRequest(), context("k1"))
    assert sorted(t.id for t in listed.tasks) == ["t1", "t3"]
    assert listed.total_size == 2


async def test_a_canceled_write_is_published_for_the_instance_running_the_call(
    store: StateTaskStore,
) -> None:
    await store.save(task("t1"), context("k1"))
    async with store.state.subscribe(cancel_channel("t1")) as incoming:
        await store.save(task("t1", TaskState.TASK_STATE_CANCELED), context("k1"))
        with anyio.fail_after(5):
            assert await anext(aiter(incoming)) == b"cancel"
