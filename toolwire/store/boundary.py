"""The store's boundary: a database that cannot be reached becomes the core's `Unavailable`.

What it is: `guard(store, name)`, a thin proxy around one store object (the key store, the
ledger, the accounts, the audit reader, ...) whose coroutine methods and async generators
translate, once, at the edge where the database's exceptions enter: an exception that
`toolwire.store.db.unreachable` classifies as "the database could not be reached" (the
allow-list there) is raised as `Unavailable` (UNAVAILABLE; every door answers 503 +
`Retry-After` in its own form), and so is the ledger's `Internal` whose cause is such an error
(its writer fails a batch with `Internal`, the database error as `__cause__`). Only the cause's
type name is logged: a driver's message can name the host, the database and its user.

Everything else passes through untouched: a constraint violation, bad data or a programming
error is a bug or the request's fault, not an outage, and keeps its own error (a 500 stays a
500). Attributes are read and written through to the store (`guard(x).stats is x.stats`).

What it is not: a retry layer, nor a circuit breaker. docs/design/durable-audit.md has the why.
"""

from __future__ import annotations

import functools
import inspect
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, TypeVar, cast

from toolwire.core.errors import Internal, ToolwireError, Unavailable
from toolwire.store.db import unreachable

log = logging.getLogger("toolwire.store")

T = TypeVar("T")


def translate(error: BaseException) -> Unavailable | None:
    """The `Unavailable` that stands for `error`, or None when `error` is not an outage."""
    if isinstance(error, Unavailable):
        return None  # already the answer
    if isinstance(error, ToolwireError) and not isinstance(error, Internal):
        return None  # a decision (InsufficientCredits, NotFound, ...), not a failure
    cause = error.__cause__ if isinstance(error, Internal) else error
    if cause is None or not unreachable(cause):
        return None
    return Unavailable("the gateway cannot reach its database right now; retry later")


def guard(store: T, name: str) -> T:
    """`store` behind the boundary: the same object to its callers, but an unreachable
    database surfaces as `Unavailable` (see the module docstring). `name` appears in the log
    line (e.g. ``"ledger"``)."""
    return cast(T, _Guarded(store, name))


class _Guarded:
    __slots__ = ("_inner", "_methods", "_name")

    def __init__(self, inner: Any, name: str) -> None:
        object.__setattr__(self, "_inner", inner)
        object.__setattr__(self, "_name", name)
        object.__setattr__(self, "_methods", {})

    def __getattr__(self, attr: str) -> Any:
        methods: dict[str, Any] = self._methods
        wrapped = methods.get(attr)
        if wrapped is not None:
            return wrapped
        value = getattr(self._inner, attr)
        if inspect.iscoroutinefunction(value):
            wrapped = methods[attr] = _coroutine(value, f"{self._name}.{attr}")
            return wrapped
        if inspect.isasyncgenfunction(value):
            wrapped = methods[attr] = _generator(value, f"{self._name}.{attr}")
            return wrapped
        return value

    def __setattr__(self, attr: str, value: Any) -> None:
        self._methods.pop(attr, None)
        setattr(self._inner, attr, value)

    def __delattr__(self, attr: str) -> None:
        self._methods.pop(attr, None)
        delattr(self._inner, attr)

    def __repr__(self) -> str:
        return f"guard({self._inner!r})"


def _coroutine(method: Callable[..., Awaitable[Any]], where: str) -> Callable[..., Any]:
    @functools.wraps(method)
    async def call(*args: Any, **kwargs: Any) -> Any:
        try:
            return await method(*args, **kwargs)
        except Exception as exc:
            answer = _outage(exc, where)
            if answer is None:
                raise
            raise answer from None

    return call


def _generator(method: Callable[..., AsyncIterator[Any]], where: str) -> Callable[..., Any]:
    @functools.wraps(method)
    async def iterate(*args: Any, **kwargs: Any) -> AsyncIterator[Any]:
        try:
            async for item in method(*args, **kwargs):
                yield item
        except Exception as exc:
            answer = _outage(exc, where)
            if answer is None:
                raise
            raise answer from None

    return iterate


def _outage(exc: Exception, where: str) -> Unavailable | None:
    """`Unavailable` for an outage (logged by type name), else None (re-raise `exc`)."""
    answer = translate(exc)
    if answer is None:
        return None
    cause = exc.__cause__ if isinstance(exc, Internal) else exc
    log.warning("%s: database unreachable (%s)", where, type(cause).__name__)
    return answer
