"""`GatewayExecutor`: the a2a-sdk `AgentExecutor` that runs one A2A task as one `Gateway.execute`.

A task's life: submitted -> working (tool progress arrives as working status updates) -> completed
(an artifact with the result as a data part plus a text rendering) or failed / input-required /
auth-required, the state `messages.TASK_ERRORS` gives the error code. The receipt (credits, balance,
request id) goes in the task metadata under `toolwire`, the error under `toolwire.error`.

Cancellation: the SDK cancels `execute` on this instance; `Gateway.execute` then releases the
reservation. A cancel answered by another instance (tasks are shared through the state backend)
arrives as a message on `cancel_channel(task_id)`, published by `StateTaskStore` when it records a
task as canceled; the executor running the call cancels it the same way.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
from collections.abc import AsyncIterator, Mapping
from typing import Any

from a2a.auth.user import User
from a2a.helpers.proto_helpers import new_task
from a2a.server.agent_execution import AgentExecutor, RequestContext
from a2a.server.context import ServerCallContext
from a2a.server.events import EventQueue
from a2a.server.tasks.task_updater import TaskUpdater
from a2a.types.a2a_pb2 import Part, TaskState

from toolwire.core.errors import Internal, InvalidRequest, ToolwireError
from toolwire.core.gateway import Gateway
from toolwire.core.model import Principal
from toolwire.core.ports import NO_CLIENT_REQUESTS, ClientRequestError
from toolwire.inbound import tracecontext
from toolwire.inbound.a2a import messages
from toolwire.inbound.http import row_for
from toolwire.state import StateBackend


class PrincipalUser(User):
    """The toolwire key behind an A2A request, as the SDK's `User`. Tasks are owned per key."""

    def __init__(self, principal: Principal) -> None:
        self.principal = principal

    @property
    def is_authenticated(self) -> bool:
        return True

    @property
    def user_name(self) -> str:
        return self.principal.key_id


def principal_of(context: ServerCallContext) -> Principal:
    """The principal the route authenticated; `Internal` if a request got here without one."""
    user = context.user
    if not isinstance(user, PrincipalUser):
        raise Internal("an A2A request reached the executor unauthenticated")
    return user.principal


def cancel_channel(task_id: str) -> str:
    return f"a2a:cancel:{task_id}"


class GatewayExecutor(AgentExecutor):
    """Runs the call a message names through the one call path; knows nothing of JSON-RPC."""

    def __init__(self, gateway: Gateway, state: StateBackend) -> None:
        self.gateway = gateway
        self.state = state

    async def execute(self, context: RequestContext, event_queue: EventQueue) -> None:
        task_id, context_id = context.task_id or "", context.context_id or ""
        updater = TaskUpdater(event_queue, task_id, context_id)
        if context.current_task is None:
            history = [context.message] if context.message is not None else []
            await event_queue.enqueue_event(
                new_task(task_id, context_id, TaskState.TASK_STATE_SUBMITTED, history=history)
            )
        principal = principal_of(context.call_context)
        try:
            if context.message is None:
                raise InvalidRequest(f"no message: {messages.ACCEPTED_FORMS}")
            call = messages.parse_call(context.message, f"a2a_{task_id}")
        except ToolwireError as exc:
            await self._fail(updater, exc, {})
            return
        await updater.start_work()

        headers = context.call_context.state.get("headers") if context.call_context else None
        call = dataclasses.replace(
            call,
            channel=_TaskChannel(updater),
            trace_context=tracecontext.received(headers if isinstance(headers, dict) else None),
        )
        async with self._cancelled_elsewhere(task_id) as elsewhere:
            run = asyncio.ensure_future(self.gateway.execute(principal, call))
            elsewhere.append(run)
            try:
                outcome = await run
            except asyncio.CancelledError:
                if run.cancelled() and not _current_cancelling():
                    await updater.cancel()  # cancelled through another instance
                    return
                raise
        receipt: dict[str, Any] = {"toolwire": outcome.meta.to_dict()}
        if outcome.error is not None:
            await self._fail(updater, outcome.error, receipt)
            return
        await updater.add_artifact(messages.result_parts(outcome), name="result", metadata=receipt)
        await updater.update_status(TaskState.TASK_STATE_COMPLETED, metadata=receipt)

    async def cancel(self, context: RequestContext, event_queue: EventQueue) -> None:
        """The SDK has already cancelled `execute` (and with it the call); record the state."""
        updater = TaskUpdater(event_queue, context.task_id or "", context.context_id or "")
        await updater.cancel()

    @staticmethod
    async def _fail(updater: TaskUpdater, error: ToolwireError, receipt: dict[str, Any]) -> None:
        state = row_for(messages.TASK_ERRORS, type(error))
        await updater.update_status(
            state,
            message=updater.new_agent_message(messages.error_parts(error)),
            metadata={**receipt, "toolwire.error": error.to_dict()},
        )

    @contextlib.asynccontextmanager
    async def _cancelled_elsewhere(self, task_id: str) -> AsyncIterator[list[asyncio.Future[Any]]]:
        """Yields a list to put the running call in; a cancel published for the task cancels it."""
        runs: list[asyncio.Future[Any]] = []
        async with self.state.subscribe(cancel_channel(task_id)) as incoming:

            async def watch() -> None:
                async for _ in incoming:
                    for run in runs:
                        run.cancel()
                    return

            watcher = asyncio.create_task(watch())
            try:
                yield runs
            finally:
                watcher.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await watcher


def _current_cancelling() -> bool:
    """Whether this task itself is being cancelled (a local cancel), not only the call."""
    task = asyncio.current_task()
    return task is not None and task.cancelling() > 0


class _TaskChannel:
    """The A2A side of one running call (`core.ports.Channel`): tool progress becomes a `working`
    status update carrying the report as text and as a data part. An A2A client declares no MCP
    client capabilities, and tool log lines have no A2A counterpart: they are dropped."""

    def __init__(self, updater: TaskUpdater) -> None:
        self.updater = updater

    @property
    def client_capabilities(self) -> Mapping[str, Any]:
        return {}

    async def request(self, method: str, params: Mapping[str, Any]) -> dict[str, Any]:
        raise ClientRequestError(NO_CLIENT_REQUESTS, f"{method}: an A2A client cannot be asked")

    async def progress(self, progress: float, total: float | None, message: str | None) -> None:
        report = {"progress": progress, "total": total, "message": message}
        shown = f"{progress:g}/{total:g}" if total is not None else f"{progress:g}"
        parts = [Part(text=message or shown), messages.data_part(report)]
        await self.updater.update_status(
            TaskState.TASK_STATE_WORKING,
            message=self.updater.new_agent_message(parts),
            metadata={"toolwire.progress": report},
        )

    async def log(self, level: str, data: Any, logger: str | None = None) -> None:
        return None
