"""calc.evaluate: exact arithmetic, and everything that is not arithmetic refused."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from toolwire.core.errors import InvalidArguments
from toolwire.core.model import Outcome
from toolwire.upstream.builtin import builtin_specs, calc

Run = Callable[..., Awaitable[Any]]
Call = Callable[..., Awaitable[Outcome]]

EXACT = [
    ("1 + 2", 3, "3"),
    ("0.1 + 0.2", 0.3, "0.3"),
    ("1/3", 1 / 3, "1/3"),
    ("(1/3) * 3", 1, "1"),
    ("10 / 4", 2.5, "2.5"),
    ("7 // 2", 3, "3"),
    ("-7 // 2", -4, "-4"),
    ("7 % 3", 1, "1"),
    ("1.5 % 0.4", 0.3, "0.3"),
    ("-2**2", -4, "-4"),
    ("2**-1", 0.5, "0.5"),
    ("2**10", 1024, "1024"),
    ("+-+3", -3, "-3"),
    ("1e3", 1000, "1000"),
    ("1_000 + 0x10", 1016, "1016"),
    ("sqrt(16)", 4, "4"),
    ("sqrt(9/4)", 1.5, "1.5"),
    ("abs(-3.25)", 3.25, "3.25"),
    ("round(2.675, 2)", 2.68, "2.68"),
    ("round(2.5)", 2, "2"),
    ("round(1234.5678, -2)", 1200, "1200"),
    ("min(3, 1.5, 2)", 1.5, "1.5"),
    ("max(3, 1.5, 2)", 3, "3"),
    ("floor(-2.5)", -3, "-3"),
    ("ceil(2.1)", 3, "3"),
    ("10**400 / 10**399", 10, "10"),
    (" 1 +\n  2 ", 3, "3"),
    ("-" * 900 + "1", 1, "1"),
]


@pytest.mark.parametrize(("expression", "result", "exact"), EXACT)
async def test_exact_arithmetic_gives_exact_results_and_integers_stay_integers(
    run: Run, expression: str, result: float, exact: str
) -> None:
    data = await run("calc.evaluate", expression=expression)
    assert data == {"expression": expression, "result": result, "exact": exact}
    assert type(data["result"]) is type(result)


@pytest.mark.parametrize(
    ("expression", "result"),
    [
        ("sqrt(2)", 2**0.5),
        ("pi", 3.141592653589793),
        ("e", 2.718281828459045),
        ("4**0.5", 2.0),
        ("log(8, 2)", 3.0),
        ("log10(1000)", 3.0),
        ("log10(0.001)", -3.0),
        ("exp(0)", 1.0),
        ("cos(0)", 1.0),
        ("round(sin(pi), 10)", 0.0),
        ("tan(0)", 0.0),
        ("0.5**5000", 0.0),
    ],
)
async def test_floating_point_functions_give_floats_and_no_exact_value(
    run: Run, expression: str, result: float
) -> None:
    data = await run("calc.evaluate", expression=expression)
    assert data["result"] == pytest.approx(result)
    assert isinstance(data["result"], float)
    assert data["exact"] is None


async def test_integers_beyond_two_to_the_53_keep_every_digit_in_exact(run: Run) -> None:
    data = await run("calc.evaluate", expression="2**100")
    assert data["result"] == float(2**100)
    assert data["exact"] == str(2**100)


REFUSED = [
    "1/0",
    "1 % 0",
    "0**-1",
    "__import__('os')",
    "__import__(os)",
    "(1).real",
    "pi.real",
    "math.sqrt(2)",
    "x",
    "x + 1",
    "sqrt",
    "lambda: 1",
    "(lambda: 1)()",
    "[x for x in (1, 2)]",
    "sum(x for x in (1, 2))",
    "max(x for x in (1, 2))",
    "(1, 2)",
    "1 if 1 else 2",
    "1 < 2",
    "1 and 2",
    "not 1",
    "~1",
    "1 << 2",
    "'a' * 10",
    "True + 1",
    "None",
    "1j",
    "(y := 2)",
    "round(1, ndigits=2)",
    "max(*(1, 2))",
    "foo(1)",
    "sqrt(1, 2)",
    "min()",
    "round(1, 0.5)",
    "round(1, 1000)",
    "sqrt(-1)",
    "log(0)",
    "(-8) ** (1/3)",
    "1 +",
    "",
    "   ",
    "(" * 300 + "1" + ")" * 300,
]


@pytest.mark.parametrize("expression", REFUSED)
async def test_anything_but_arithmetic_and_impossible_math_is_invalid_arguments(
    run: Run, expression: str
) -> None:
    with pytest.raises(InvalidArguments):
        await run("calc.evaluate", expression=expression)


@pytest.mark.parametrize(
    "expression",
    [
        "9**9**9",
        "9**9**9**9",
        "2**100000",
        "10**400",
        "1e999",
        "1e308 * 10",
        "exp(1000)",
        "exp(700) * exp(700)",
        "(2**4000) ** (2**4000)",
        "*".join(["(2**4096/3**2583)"] * 20),
    ],
)
async def test_cpu_bombs_and_overflows_fail_fast(run: Run, expression: str) -> None:
    started = time.perf_counter()
    with pytest.raises(InvalidArguments) as caught:
        await run("calc.evaluate", expression=expression)
    assert time.perf_counter() - started < 0.5
    assert caught.value.details["reason"] == "overflow"


async def test_a_huge_expression_is_refused_by_the_schema_and_by_the_tool(
    call: Call, run: Run
) -> None:
    huge = "1+" * 600 + "1"
    with pytest.raises(InvalidArguments):
        await run("calc.evaluate", expression=huge)
    outcome = await call("calc.evaluate", expression=huge)
    assert outcome.error is not None
    assert outcome.error.code == "INVALID_ARGUMENTS"
    assert outcome.error.details["errors"][0]["path"] == "/expression"


async def test_the_core_rejects_bad_arguments_before_the_calculator_runs(
    call: Call, monkeypatch: pytest.MonkeyPatch
) -> None:
    ran: list[str] = []
    monkeypatch.setattr(calc, "compute", ran.append)
    bad: list[dict[str, Any]] = [{}, {"expression": 12}, {"expression": ""}, {"expr": "1"}]
    for arguments in bad:
        outcome = await call("calc.evaluate", **arguments)
        assert outcome.error is not None
        assert outcome.error.code == "INVALID_ARGUMENTS"
    assert ran == []


async def test_errors_point_at_the_offending_position(run: Run) -> None:
    with pytest.raises(InvalidArguments) as caught:
        await run("calc.evaluate", expression="  1 + x")
    assert caught.value.details["position"] == 6
    with pytest.raises(InvalidArguments) as caught:
        await run("calc.evaluate", expression="1 + 2; 3")
    assert caught.value.details["position"] == 5


async def test_a_priced_calculation_is_charged_on_success_and_released_on_error(
    gateway_for: Any, make_call: Any, principal: Any, ledger: Any
) -> None:
    gateway = gateway_for(builtin_specs({"calc.evaluate": 2_500}))
    ok = await gateway.execute(principal, make_call("calc.evaluate", {"expression": "6*7"}))
    assert ok.data["result"] == 42
    assert ok.meta.credits_charged == 2_500
    failed = await gateway.execute(principal, make_call("calc.evaluate", {"expression": "1/0"}))
    assert failed.error is not None
    assert failed.error.code == "INVALID_ARGUMENTS"
    assert failed.meta.credits_charged == 0
    invalid = await gateway.execute(principal, make_call("calc.evaluate", {}))
    assert invalid.error is not None
    assert ledger.calls == [
        ("reserve", 2_500),
        ("settle", 2_500),
        ("reserve", 2_500),
        ("release", 2_500),
    ]


def test_the_calculator_runs_inline_without_a_thread_hop() -> None:
    op = calc.registry.get("calc", "evaluate")
    assert not op.blocking
    assert not op.is_async
