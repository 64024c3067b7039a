"""`json.query`: a JMESPath expression over a JSON document, with a cost budget.

JMESPath cannot loop, but a short expression can still build values exponentially large by
reference (`[@, @] | [@, @] | ...`) and then flatten, compare, join or stringify them. The query
runs in a metered interpreter: every node visited, every element a flatten copies, the size of
every function argument and of both sides of an equality is charged against `COST_BUDGET`, and the
result must stay under `MAX_RESULT_NODES`. An over-budget query fails with INVALID_ARGUMENTS
instead of running away with the CPU or the memory.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from typing import Annotated, Any

import jmespath
from jmespath import exceptions as jmespath_errors
from jmespath import functions as jmespath_functions
from jmespath import lexer as jmespath_lexer
from jmespath import visitor as jmespath_visitor
from pydantic import Field
from typing_extensions import TypedDict

from toolwire.core.errors import InvalidArguments
from toolwire.upstream.builtin.registry import BuiltinRegistry

registry = BuiltinRegistry()

MAX_EXPRESSION_LENGTH = 2000
COST_BUDGET = 500_000
MAX_RESULT_NODES = 500_000
_STRING_UNIT = 64
"""Characters of a string counted as one unit of cost."""


class QueryResult(TypedDict):
    result: Annotated[
        Any, Field(description="The value the expression selects (null when nothing matches).")
    ]


@registry.operation(
    "json",
    "query",
    category="data",
    title="Query JSON (JMESPath)",
    read_only=True,
    destructive=False,
    idempotent=True,
    open_world=False,
    blocking=True,
    tool_description=(
        "Select, filter and reshape JSON data with a JMESPath expression: fields, indexes, "
        "slices, projections, filters, multi-selects, pipes and functions (length, sort_by, "
        "max_by, sum, join, keys, ...)."
    ),
)
def query(
    data: Annotated[Any, Field(description="The JSON document to query: any JSON value.")],
    expression: Annotated[
        str,
        Field(
            description="A JMESPath expression, e.g. "
            "\"people[?age > `30`].name\", 'items[0].price', 'length(orders)', "
            "'sort_by(people, &age)[-1].name' or '{names: people[*].name}'. Literal values go "
            'in backticks (`30`, `"x"`); raw strings in single quotes.',
            min_length=1,
            max_length=MAX_EXPRESSION_LENGTH,
        ),
    ],
) -> QueryResult:
    """Run a JMESPath expression over a JSON document and return what it selects."""
    try:
        for _ in _StrictLexer().tokenize(expression):
            pass
        parsed = jmespath.compile(expression)
    except jmespath_errors.JMESPathError as exc:
        raise InvalidArguments(
            f"invalid JMESPath expression: {_message(exc)}",
            details={"expression": expression, "position": getattr(exc, "lex_position", None)},
        ) from None
    except RecursionError:
        raise InvalidArguments(
            "the JMESPath expression is nested too deeply", details={"expression": expression}
        ) from None
    interpreter = _MeteredInterpreter(COST_BUDGET)
    try:
        result = interpreter.visit(parsed.parsed, data)
        if _size(result, MAX_RESULT_NODES, values_only=True) > MAX_RESULT_NODES:
            raise _OverBudget(f"the result is larger than {MAX_RESULT_NODES} values")
    except jmespath_errors.JMESPathError as exc:
        raise InvalidArguments(
            f"the JMESPath expression failed: {_message(exc)}", details={"expression": expression}
        ) from None
    except _OverBudget as exc:
        raise InvalidArguments(
            f"the query is too expensive: {exc}",
            details={"expression": expression, "reason": "budget"},
        ) from None
    except RecursionError:
        raise InvalidArguments(
            "the data or the expression is nested too deeply", details={"expression": expression}
        ) from None
    except _NotAValue:
        raise InvalidArguments(
            "the expression evaluates to an expression reference (&...), not a JSON value",
            details={"expression": expression},
        ) from None
    return {"result": result}


def _message(exc: Exception, limit: int = 500) -> str:
    """The library's message on one line, cut short: type errors quote the offending value."""
    text = " ".join(str(exc).split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


class _StrictLexer(jmespath_lexer.Lexer):
    """JMESPath's lexer with its deprecated leniency removed: a backtick literal that is not
    JSON is an error (jmespath would read it as a string and emit a warning)."""

    def _consume_literal(self) -> dict[str, Any]:
        start: int = self._position  # type: ignore[attr-defined]
        lexeme = self._consume_until("`").replace("\\`", "`")  # type: ignore[attr-defined]
        try:
            value = json.loads(lexeme)
        except ValueError:
            raise jmespath_errors.LexerError(
                lexer_position=start,
                lexer_value=lexeme,
                message=f"`{lexeme}` is not a JSON literal: quote strings inside backticks "
                "(`\"text\"`) or use a 'raw string'",
            ) from None
        end: int = self._position  # type: ignore[attr-defined]
        return {"type": "literal", "value": value, "start": start, "end": end - start}


class _OverBudget(Exception):
    pass


class _NotAValue(Exception):
    pass


class _MeteredInterpreter(jmespath_visitor.TreeInterpreter):
    """A TreeInterpreter that charges its work against a budget."""

    def __init__(self, budget: int) -> None:
        self.remaining = budget
        self._methods: dict[str, Any] = {}
        super().__init__(jmespath_visitor.Options(custom_functions=_MeteredFunctions(self)))

    def charge(self, cost: int) -> None:
        self.remaining -= cost
        if self.remaining < 0:
            raise _OverBudget(f"it needs more than {COST_BUDGET} steps")

    def charge_size(self, *values: Any) -> None:
        for value in values:
            self.charge(_size(value, self.remaining + 1))

    def visit(self, node: Any, *args: Any, **kwargs: Any) -> Any:
        # Visitor.visit, inlined with the charge: this runs once per node per value.
        self.remaining -= 1
        if self.remaining < 0:
            raise _OverBudget(f"it needs more than {COST_BUDGET} steps")
        kind = node["type"]
        method = self._methods.get(kind)
        if method is None:
            method = self._methods[kind] = getattr(self, f"visit_{kind}", self.default_visit)
        return method(node, *args, **kwargs)

    def visit_flatten(self, node: Any, value: Any) -> Any:
        base = self.visit(node["children"][0], value)
        if isinstance(base, list):
            self.charge(sum(len(e) if isinstance(e, list) else 1 for e in base))
        return _flatten(base)

    def visit_comparator(self, node: Any, value: Any) -> Any:
        if node["value"] not in ("eq", "ne"):
            return super().visit_comparator(node, value)
        left = self.visit(node["children"][0], value)
        right = self.visit(node["children"][1], value)
        self.charge_size(left, right)
        return self.COMPARATOR_FUNC[node["value"]](left, right)


def _flatten(base: Any) -> Any:
    if not isinstance(base, list):
        return None
    merged: list[Any] = []
    for element in base:
        if isinstance(element, list):
            merged.extend(element)
        else:
            merged.append(element)
    return merged


class _MeteredFunctions(jmespath_functions.Functions):
    """JMESPath's functions, charging for their arguments before they run: the full size for
    those that walk values deeply (`to_string`, `contains`), the top-level size for the rest."""

    def __init__(self, interpreter: _MeteredInterpreter) -> None:
        super().__init__()
        self._interpreter = interpreter

    def call_function(self, function_name: str, resolved_args: Iterable[Any]) -> Any:
        args = list(resolved_args)
        if function_name in _DEEP_FUNCTIONS:
            self._interpreter.charge_size(*args)
        else:
            self._interpreter.charge(sum(_shallow_size(arg) for arg in args))
        return super().call_function(function_name, args)


_DEEP_FUNCTIONS = frozenset({"to_string", "contains"})


def _shallow_size(value: Any) -> int:
    if isinstance(value, list):
        return 1 + len(value) + sum(len(v) // _STRING_UNIT for v in value if isinstance(v, str))
    if isinstance(value, dict):
        return 1 + len(value)
    if isinstance(value, str):
        return 1 + len(value) // _STRING_UNIT
    return 1


_SCALARS = (str, int, float, bool, type(None))


def _size(value: Any, limit: int, *, values_only: bool = False) -> int:
    """Values in `value`, counted as a serializer would meet them (a list that appears twice is
    counted twice); strings count one more per `_STRING_UNIT` characters. Stops past `limit`.
    With `values_only`, anything that is not JSON (an expression reference) raises."""
    count = 0
    stack: list[Iterator[Any]] = [iter((value,))]
    while stack:
        for item in stack[-1]:
            count += 1
            if count > limit:
                return count
            if isinstance(item, list):
                stack.append(iter(item))
                break
            if isinstance(item, dict):
                stack.append(iter(item.values()))
                break
            if isinstance(item, str):
                count += len(item) // _STRING_UNIT
            elif values_only and not isinstance(item, _SCALARS):
                raise _NotAValue
        else:
            stack.pop()
    return count
