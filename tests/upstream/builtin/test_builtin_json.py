"""json.query: JMESPath over any JSON, errors as INVALID_ARGUMENTS, and a cost budget."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from toolwire.core.errors import InvalidArguments
from toolwire.core.model import Outcome
from toolwire.upstream.builtin import jsonquery

Run = Callable[..., Awaitable[Any]]
Call = Callable[..., Awaitable[Outcome]]

PEOPLE = {
    "people": [
        {"name": "Ada", "age": 36, "tags": ["math"]},
        {"name": "Bob", "age": 25, "tags": []},
        {"name": "Cy", "age": 41, "tags": ["art", "math"]},
    ]
}


@pytest.mark.parametrize(
    ("expression", "result"),
    [
        ("people[?age > `30`].name", ["Ada", "Cy"]),
        ("people[0].name", "Ada"),
        ("people[-1].tags[0]", "art"),
        ("length(people)", 3),
        ("sort_by(people, &age)[0].name", "Bob"),
        ("max_by(people, &age).name", "Cy"),
        ("sum(people[*].age)", 102),
        (
            "{names: people[*].name, count: length(people)}",
            {"names": ["Ada", "Bob", "Cy"], "count": 3},
        ),
        ("people[*].tags[]", ["math", "art", "math"]),
        ("people[?contains(tags, 'math')].name | join(', ', @)", "Ada, Cy"),
        ("people[?name == 'Bob'] | [0].age", 25),
        ("missing.field", None),
        ("people[5]", None),
    ],
)
async def test_a_jmespath_expression_selects_from_the_document(
    run: Run, expression: str, result: Any
) -> None:
    assert await run("json.query", data=PEOPLE, expression=expression) == {"result": result}


@pytest.mark.parametrize(
    ("data", "expression", "result"),
    [([1, 2, 3], "[1:]", [2, 3]), ("text", "@", "text"), (None, "@", None), (7, "abs(@)", 7)],
)
async def test_any_json_value_can_be_queried(
    run: Run, data: Any, expression: str, result: Any
) -> None:
    assert await run("json.query", data=data, expression=expression) == {"result": result}


@pytest.mark.parametrize("expression", ["people[", "people[?", "]", "a.", "`{bad json`"])
async def test_a_malformed_expression_is_invalid_arguments_with_a_position(
    run: Run, expression: str
) -> None:
    with pytest.raises(InvalidArguments) as caught:
        await run("json.query", data=PEOPLE, expression=expression)
    assert caught.value.details["expression"] == expression
    assert "position" in caught.value.details


@pytest.mark.parametrize("expression", ["length(`1`)", "nope(@)", "sort(people)", "abs(@, @)"])
async def test_an_expression_that_fails_on_the_data_is_invalid_arguments(
    run: Run, expression: str
) -> None:
    with pytest.raises(InvalidArguments):
        await run("json.query", data=PEOPLE, expression=expression)


@pytest.mark.parametrize(
    "expression",
    [
        "[@, @] | " * 40 + "@",
        "[@, @] | " * 40 + "to_string(@)",
        "([@, @] | []) | " * 30 + "length(@)",
        "(" + "[@, @] | " * 30 + "@) == (" + "[@, @] | " * 30 + "@)",
        "join('', [s, s]) | " + "join('', [@, @]) | " * 40 + "length(@)",
        "[s, s] | " + "[@, @] | [] | " * 30 + "contains(@, 'x')",
    ],
)
async def test_an_exponential_query_is_stopped_by_the_cost_budget(
    run: Run, expression: str
) -> None:
    started = time.perf_counter()
    with pytest.raises(InvalidArguments) as caught:
        await run("json.query", data={"s": "x" * 100}, expression=expression)
    assert caught.value.details["reason"] == "budget"
    assert time.perf_counter() - started < 5


@pytest.mark.parametrize("expression", ["&name", "[&name]", "{f: &name}"])
async def test_an_expression_reference_is_not_a_json_result(run: Run, expression: str) -> None:
    with pytest.raises(InvalidArguments):
        await run("json.query", data=PEOPLE, expression=expression)


async def test_an_error_quoting_a_huge_value_is_cut_short(run: Run) -> None:
    with pytest.raises(InvalidArguments) as caught:
        await run("json.query", data={"x": list(range(10_000))}, expression="abs(x)")
    assert len(caught.value.message) < 600


async def test_a_deeply_nested_expression_is_invalid_arguments(run: Run) -> None:
    with pytest.raises(InvalidArguments):
        await run("json.query", data={}, expression="(" * 600 + "@" + ")" * 600)


async def test_a_large_document_fits_in_the_budget(run: Run) -> None:
    data = {"items": [{"id": i, "tags": ["a", "b"]} for i in range(20_000)]}
    result = await run("json.query", data=data, expression="length(items[?id > `9999`].tags[])")
    assert result == {"result": 20_000}


async def test_the_core_requires_an_expression(call: Call) -> None:
    for arguments in ({"data": {}}, {"data": {}, "expression": ""}, {"expression": "a"}):
        outcome = await call("json.query", **arguments)
        assert outcome.error is not None
        assert outcome.error.code == "INVALID_ARGUMENTS"


def test_queries_run_in_a_worker_thread() -> None:
    assert jsonquery.registry.get("json", "query").blocking
