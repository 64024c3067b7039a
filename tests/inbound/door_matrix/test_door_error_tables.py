"""Every error the core can raise has a row in every door's error table (issue 10 item 3), read
through the same door rows the behaviour matrix uses, and the SDK's reverse table agrees with
REST's. No gateway runs here: only the tables are read.
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Mapping
from typing import Any

import pytest

import toolwire
from tests.inbound.door_matrix.door import Door, NoTableRow, offline_world
from tests.inbound.door_matrix.registry import DOORS
from toolwire.client import _errors as sdk_errors
from toolwire.core import errors as core_errors
from toolwire.inbound import http, refusals, rest
from toolwire.inbound.a2a import messages as a2a
from toolwire.inbound.mcp import jsonrpc
from toolwire.inbound.mcp import refusals as mcp_refusals
from toolwire.inbound.mcp.sessions import SessionNotFound


def every_error_class() -> list[type[core_errors.ToolwireError]]:
    """`ToolwireError` and every subclass defined anywhere in the package (imported first)."""
    for module in pkgutil.walk_packages(toolwire.__path__, "toolwire."):
        if not module.name.startswith(("toolwire.store.migrations", "toolwire.__main__")):
            importlib.import_module(module.name)
    found: list[type[core_errors.ToolwireError]] = [core_errors.ToolwireError]
    for cls in found:
        found.extend(sub for sub in cls.__subclasses__() if sub not in found)
    return found


ERRORS = every_error_class()


@pytest.fixture
def table(door_name: str) -> Door:
    return DOORS[door_name](offline_world())


@pytest.mark.parametrize("error", ERRORS, ids=lambda cls: f"{cls.__name__}")
def test_every_core_error_has_a_row_in_every_doors_table(
    table: Door, error: type[core_errors.ToolwireError]
) -> None:
    try:
        table.expected_error(error.code)
    except NoTableRow as missing:
        pytest.fail(str(missing))


CLASS_TABLES: dict[str, Mapping[type[core_errors.ToolwireError], object]] = {
    "rest": rest.ERRORS,
    "mcp": jsonrpc.CORE_ERRORS,
    "a2a-task": a2a.TASK_ERRORS,
}
"""Every door's call-path table, keyed by error class (the OpenAI door and the SDK answer with
REST's; the admission tables `a2a.ADMISSION` and `mcp.refusals.TRANSPORT` close with
`ToolwireError`)."""


@pytest.mark.parametrize("name", sorted(CLASS_TABLES))
@pytest.mark.parametrize("error", core_errors.ALL_ERRORS, ids=lambda cls: cls.__name__)
def test_every_core_error_has_its_own_row_in_every_doors_class_table(
    name: str, error: type[core_errors.ToolwireError]
) -> None:
    """Its own row, not an ancestor's: a new core error must say how each door answers it."""
    assert error in CLASS_TABLES[name], f"{error.__name__} has no row in the {name} table"


@pytest.mark.parametrize("name", sorted(CLASS_TABLES))
@pytest.mark.parametrize("error", ERRORS, ids=lambda cls: cls.__name__)
def test_every_error_class_is_answered_as_its_code_at_every_door(
    name: str, error: type[core_errors.ToolwireError]
) -> None:
    """A subclass anywhere in the package (a transport refusal, `InvalidToken`, ...) resolves
    to the row of its code's class, so a door that knows only the code says the same."""
    table = CLASS_TABLES[name]
    listed = core_errors.BY_CODE.get(error.code, core_errors.ToolwireError)
    assert http.row_for(table, error) == http.row_for(table, listed)


@pytest.mark.parametrize("table", [rest.ERRORS, a2a.ADMISSION, mcp_refusals.TRANSPORT])
def test_a_retry_later_error_says_when_at_every_http_door(table: Mapping[Any, Any]) -> None:
    row = http.row_for(table, core_errors.Unavailable)
    assert row.status == 503 and row.retry_after


@pytest.mark.parametrize("error", ERRORS, ids=lambda cls: f"{cls.__name__}")
def test_every_error_class_is_one_of_the_listed_codes(
    error: type[core_errors.ToolwireError],
) -> None:
    listed = core_errors.BY_CODE.get(error.code)
    assert listed is not None, f"{error.__name__}: code {error.code!r} is not in ALL_ERRORS"
    assert issubclass(error, listed) or error is core_errors.ToolwireError


@pytest.mark.parametrize("error", core_errors.ALL_ERRORS, ids=lambda cls: cls.__name__)
def test_the_sdk_raises_the_same_named_class_for_every_code(
    error: type[core_errors.ToolwireError],
) -> None:
    raised = sdk_errors.ERRORS_BY_CODE[error.code]
    assert (raised.__name__, raised.code) == (error.__name__, error.code)
    parents = [c.__name__ for c in error.__mro__[1:] if issubclass(c, core_errors.ToolwireError)]
    assert [c.__name__ for c in raised.__mro__[1 : len(parents) + 1]] == parents


@pytest.mark.parametrize("status", sorted(set(rest.HTTP_STATUS.values())))
def test_the_sdk_reads_every_rest_status_back_to_a_code_with_that_status(status: int) -> None:
    """For an answer without an envelope (a proxy's page), the SDK guesses the code from the
    status alone; its guess must be a code REST answers with that same status."""
    guessed = sdk_errors.CODE_FOR_STATUS.get(status, "INTERNAL")
    assert rest.HTTP_STATUS[guessed] == status


TRANSPORT_REFUSALS = [
    cls for cls in ERRORS if cls.__module__ in (refusals.__name__, SessionNotFound.__module__)
]
"""The typed refusals the HTTP transports raise (issue 10 item 3): `toolwire.inbound.refusals`
and the MCP session's `SessionNotFound`."""


def test_the_transport_refusals_are_found() -> None:
    assert SessionNotFound in TRANSPORT_REFUSALS
    assert refusals.OriginNotAllowed in TRANSPORT_REFUSALS


@pytest.mark.parametrize("error", TRANSPORT_REFUSALS, ids=lambda cls: cls.__name__)
def test_every_transport_refusal_has_its_own_row_in_the_mcp_transport_table(
    error: type[core_errors.ToolwireError],
) -> None:
    """Its own row, not an ancestor's: a new refusal must say its status."""
    assert error in mcp_refusals.TRANSPORT, f"{error.__name__} has no row in refusals.TRANSPORT"


@pytest.mark.parametrize("error", ERRORS, ids=lambda cls: cls.__name__)
def test_every_error_class_has_a_rule_in_the_mcp_table_by_class(
    error: type[core_errors.ToolwireError],
) -> None:
    """The MCP table is keyed by class; the nearest listed ancestor answers for a subclass, and
    it says the same as the row for the class's code."""
    assert jsonrpc.rule_for(error) == jsonrpc.rule_for_code(error.code)


def test_a_missing_client_capability_is_32021_at_the_mcp_doors() -> None:
    rule = jsonrpc.rule_for(core_errors.MissingClientCapability)
    assert rule == jsonrpc.AsRpcError(jsonrpc.MISSING_REQUIRED_CLIENT_CAPABILITY)
    assert jsonrpc.MODERN_HTTP_STATUS[jsonrpc.MISSING_REQUIRED_CLIENT_CAPABILITY] == 400
