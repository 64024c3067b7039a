"""`calc.evaluate`: exact arithmetic on a parsed expression, never `eval`.

The expression is parsed with `ast.parse(mode="eval")` and walked with an explicit stack (no
recursion, so no depth limit to hit) over an allow-list of nodes: numbers, + - * / // % **, unary
+/-, and calls of a few math functions by bare name. Anything else (names, attributes, strings,
lambdas, comprehensions, comparisons, subscripts) is refused before anything is computed.

Numbers are exact fractions while they can be: decimal literals are read from their source text,
so 0.1 + 0.2 is exactly 0.3, and integers stay integers. Functions such as sqrt(2) or sin(1), and
non-integer powers, switch to floating point. Exact values are capped in size (`MAX_BITS`), and a
power whose exact result would exceed the cap is computed in floating point, where it either fits
or overflows at once: `9**9**9` costs microseconds and fails with INVALID_ARGUMENTS.
"""

from __future__ import annotations

import ast
import math
import re
from collections.abc import Callable
from fractions import Fraction
from typing import Annotated, cast

from pydantic import Field
from typing_extensions import TypedDict

from toolwire.core.errors import InvalidArguments
from toolwire.upstream.builtin.registry import BuiltinRegistry

registry = BuiltinRegistry()

MAX_EXPRESSION_LENGTH = 1000
MAX_BITS = 4096
"""Largest numerator or denominator (in bits) an exact intermediate value may have."""
MAX_ROUND_DIGITS = 100
MAX_LITERAL_EXPONENT = 400
SAFE_INTEGER = 2**53
"""Integers beyond this are returned as floats in `result` (JSON consumers lose precision past
it); `exact` still carries every digit."""

Number = Fraction | float

_ALLOWED_CHARACTERS = re.compile(r"[0-9A-Za-z_.+\-*/%(), \t\r\n]*")
_SPACES = str.maketrans("\t\r\n", "   ")
_EXPONENT = re.compile(r"[eE]([+-]?\d+)$")

_CONSTANTS: dict[str, float] = {"pi": math.pi, "e": math.e}

_BINARY: dict[type[ast.operator], str] = {
    ast.Add: "+",
    ast.Sub: "-",
    ast.Mult: "*",
    ast.Div: "/",
    ast.FloorDiv: "//",
    ast.Mod: "%",
    ast.Pow: "**",
}


class CalcResult(TypedDict):
    expression: Annotated[str, Field(description="The expression as given.")]
    result: Annotated[
        int | float,
        Field(
            description="The value: an integer when it is a whole number within +/-2**53, "
            "else a floating-point number."
        ),
    ]
    exact: Annotated[
        str | None,
        Field(
            description="The exact value as text (an integer, a terminating decimal such as "
            "'0.3', or a fraction 'p/q'), or null when floating point was involved "
            "(sqrt(2), sin(1), pi, a non-integer power)."
        ),
    ]


@registry.operation(
    "calc",
    "evaluate",
    category="math",
    title="Calculator",
    read_only=True,
    destructive=False,
    idempotent=True,
    open_world=False,
    tool_description=(
        "Exact arithmetic. Evaluates one expression with + - * / // % ** and parentheses, and "
        "the functions sqrt, abs, round, min, max, floor, ceil, log, log10, exp, sin, cos, tan "
        "with the constants pi and e. Decimals are exact (0.1 + 0.2 = 0.3) and integers stay "
        "integers. No variables and no code: anything else is refused."
    ),
)
def evaluate(
    expression: Annotated[
        str,
        Field(
            description="An arithmetic expression, e.g. '(1.5 + 2) * 3**2 / 7' or "
            "'round(sqrt(2) * 100, 2)'. Functions: sqrt(x), abs(x), round(x[, digits]) (ties "
            "to even), min(a, b, ...), max(a, b, ...), floor(x), ceil(x), log(x[, base]), "
            "log10(x), exp(x), sin(x), cos(x), tan(x) (radians). Constants: pi, e.",
            min_length=1,
            max_length=MAX_EXPRESSION_LENGTH,
        ),
    ],
) -> CalcResult:
    """Evaluate an arithmetic expression exactly and return its value.

    Use it for any arithmetic whose digits matter: sums of money, percentages, unit conversions.
    """
    value = compute(expression)
    return {
        "expression": expression,
        "result": json_number(value, expression),
        "exact": exact_text(value),
    }


def compute(expression: str) -> Number:
    """The value of `expression`: a Fraction when exact, a float otherwise."""
    if not expression.strip():
        raise _refuse("the expression is empty", expression)
    if len(expression) > MAX_EXPRESSION_LENGTH:
        raise _refuse(
            f"the expression is longer than {MAX_EXPRESSION_LENGTH} characters",
            expression,
            limit=MAX_EXPRESSION_LENGTH,
        )
    allowed = _ALLOWED_CHARACTERS.match(expression)
    end = allowed.end() if allowed else 0
    if end < len(expression):
        raise _refuse(
            f"character {expression[end]!r} is not allowed in an arithmetic expression",
            expression,
            position=end,
        )
    # Any whitespace (a newline too) is a space, and positions in errors stay those of the
    # expression as given.
    text = expression.translate(_SPACES)
    lead = len(text) - len(text.lstrip())
    try:
        try:
            tree = ast.parse(text.strip(), mode="eval")
        except SyntaxError as exc:
            raise _refuse(
                f"not a valid expression: {exc.msg}", expression, position=(exc.offset or 1) - 1
            ) from None
        except (RecursionError, MemoryError, ValueError):
            raise _refuse("the expression is too complex to parse", expression) from None
        return _evaluate(tree.body, text.strip(), expression)
    except InvalidArguments as exc:
        if isinstance(exc.details, dict) and "position" in exc.details:
            exc.details["position"] += lead
        raise


def _evaluate(root: ast.expr, source: str, expression: str) -> Number:
    """Post-order evaluation with an explicit stack: each node is checked against the
    allow-list before its operands are visited."""
    pending: list[tuple[ast.expr, int]] = [(root, -1)]
    values: list[Number] = []
    while pending:
        node, arity = pending.pop()
        if arity < 0:
            operands = _operands(node, expression)
            pending.append((node, len(operands)))
            pending.extend((child, -1) for child in reversed(operands))
            continue
        args = values[len(values) - arity :] if arity else []
        del values[len(values) - arity :]
        values.append(_apply(node, args, source, expression))
    return values[0]


def _operands(node: ast.expr, expression: str) -> list[ast.expr]:
    if isinstance(node, ast.BinOp):
        if type(node.op) not in _BINARY:
            raise _refuse(_refused_what(node.op), expression, position=node.col_offset)
        return [node.left, node.right]
    if isinstance(node, ast.UnaryOp):
        if not isinstance(node.op, ast.UAdd | ast.USub):
            raise _refuse(_refused_what(node.op), expression, position=node.col_offset)
        return [node.operand]
    if isinstance(node, ast.Call):
        if not isinstance(node.func, ast.Name):
            raise _refuse(_refused_what(node.func), expression, position=node.col_offset)
        if node.func.id not in _FUNCTIONS:
            raise _refuse(
                f"unknown function {node.func.id!r}; allowed: {', '.join(_FUNCTIONS)}",
                expression,
                position=node.col_offset,
            )
        if node.keywords or any(isinstance(arg, ast.Starred) for arg in node.args):
            raise _refuse(
                "functions take plain positional arguments", expression, position=node.col_offset
            )
        return list(node.args)
    if isinstance(node, ast.Constant | ast.Name):
        return []
    raise _refuse(_refused_what(node), expression, position=getattr(node, "col_offset", 0))


def _apply(node: ast.expr, args: list[Number], source: str, expression: str) -> Number:
    position = node.col_offset
    try:
        if isinstance(node, ast.BinOp):
            return _normalize(_binary(node.op, args[0], args[1]), expression)
        if isinstance(node, ast.UnaryOp):
            return -args[0] if isinstance(node.op, ast.USub) else +args[0]
        if isinstance(node, ast.Call):
            assert isinstance(node.func, ast.Name)
            return _normalize(_call(node.func.id, args, expression, position), expression)
        if isinstance(node, ast.Name):
            return _name(node, expression)
        assert isinstance(node, ast.Constant)
        return _literal(node, source, expression)
    except ZeroDivisionError:
        raise _refuse("division by zero", expression, position=position) from None
    except OverflowError:
        raise _too_large(expression) from None
    except ValueError as exc:
        raise _refuse(str(exc) or "math domain error", expression, position=position) from None


def _binary(op: ast.operator, a: Number, b: Number) -> Number:
    if isinstance(op, ast.Add):
        return a + b
    if isinstance(op, ast.Sub):
        return a - b
    if isinstance(op, ast.Mult):
        return a * b
    if isinstance(op, ast.Div):
        return a / b
    if isinstance(op, ast.FloorDiv):
        return Fraction(a // b) if isinstance(a, Fraction) and isinstance(b, Fraction) else a // b
    if isinstance(op, ast.Mod):
        return a % b
    return _power(a, b)


def _power(base: Number, exponent: Number) -> Number:
    if isinstance(base, Fraction) and isinstance(exponent, Fraction) and exponent.denominator == 1:
        n = exponent.numerator
        if base == 0 and n < 0:
            raise ZeroDivisionError
        if n == 0 or abs(base) in (0, 1):
            return Fraction(base**n)
        bits = max(base.numerator.bit_length(), base.denominator.bit_length())
        if bits * abs(n) <= MAX_BITS:
            return Fraction(base**n)
    # Too large to compute exactly, or not an integer power: floating point either fits or
    # overflows immediately, whatever the exponent.
    return math.pow(float(base), float(exponent))


def _root(x: Number) -> Number:
    if isinstance(x, Fraction) and x >= 0:
        num, den = math.isqrt(x.numerator), math.isqrt(x.denominator)
        if num * num == x.numerator and den * den == x.denominator:
            return Fraction(num, den)
    return math.sqrt(x)


def _ln(x: Number, log: Callable[[float], float] = math.log) -> float:
    # math.log and math.log10 take integers of any size exactly; a fraction is split into its
    # numerator and denominator so that huge or tiny values do not overflow on the way.
    if isinstance(x, Fraction):
        if x <= 0:
            raise ValueError("math domain error")
        if x.denominator == 1:
            return log(x.numerator)
        return log(x.numerator) - log(x.denominator)
    return log(x)


def _log(x: Number, base: Number | None = None) -> Number:
    if base is None:
        return _ln(x)
    if _is_integer(x) and _is_integer(base) and x > 0 and base > 0:
        return math.log(int(x), int(base))
    return _ln(x) / _ln(base)


def _log10(x: Number) -> Number:
    return _ln(x, math.log10)


def _is_integer(x: Number) -> bool:
    return isinstance(x, Fraction) and x.denominator == 1


def _round(x: Number, digits: Number | None = None) -> Number:
    if digits is None:
        return Fraction(round(x))
    if isinstance(digits, float) and not digits.is_integer():
        raise ValueError("round() takes a whole number of digits")
    if isinstance(digits, Fraction) and digits.denominator != 1:
        raise ValueError("round() takes a whole number of digits")
    places = int(digits)
    if abs(places) > MAX_ROUND_DIGITS:
        raise ValueError(f"round() takes at most {MAX_ROUND_DIGITS} digits")
    return cast(Number, round(x, places))


def _floor(x: Number) -> Number:
    return Fraction(math.floor(x))


def _ceil(x: Number) -> Number:
    return Fraction(math.ceil(x))


def _float_fn(fn: Callable[[float], float]) -> Callable[[Number], Number]:
    def apply(x: Number) -> Number:
        return fn(float(x))

    return apply


def _smallest(*xs: Number) -> Number:
    return min(xs)


def _largest(*xs: Number) -> Number:
    return max(xs)


def _absolute(x: Number) -> Number:
    return cast(Number, abs(x))


# name -> (min args, max args or None for any, implementation)
_FUNCTIONS: dict[str, tuple[int, int | None, Callable[..., Number]]] = {
    "sqrt": (1, 1, _root),
    "abs": (1, 1, _absolute),
    "round": (1, 2, _round),
    "min": (1, None, _smallest),
    "max": (1, None, _largest),
    "floor": (1, 1, _floor),
    "ceil": (1, 1, _ceil),
    "log": (1, 2, _log),
    "log10": (1, 1, _log10),
    "exp": (1, 1, _float_fn(math.exp)),
    "sin": (1, 1, _float_fn(math.sin)),
    "cos": (1, 1, _float_fn(math.cos)),
    "tan": (1, 1, _float_fn(math.tan)),
}


def _call(name: str, args: list[Number], expression: str, position: int) -> Number:
    least, most, fn = _FUNCTIONS[name]
    if len(args) < least or (most is not None and len(args) > most):
        expected = str(least) if least == most else f"{least} to {most or 'any number of'}"
        raise _refuse(
            f"{name}() takes {expected} argument(s), got {len(args)}",
            expression,
            position=position,
        )
    return fn(*args)


def _name(node: ast.Name, expression: str) -> Number:
    if node.id in _CONSTANTS:
        return _CONSTANTS[node.id]
    if node.id in _FUNCTIONS:
        message = f"{node.id} is a function: call it, e.g. {node.id}(2)"
    else:
        message = f"unknown name {node.id!r}; the only constants are pi and e"
    raise _refuse(message, expression, position=node.col_offset)


def _literal(node: ast.Constant, source: str, expression: str) -> Number:
    value = node.value
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise _refuse(
            f"{type(value).__name__} literals are not allowed: only numbers",
            expression,
            position=node.col_offset,
        )
    if isinstance(value, int):
        return Fraction(value)
    # The source is one line of ASCII (checked above), so AST offsets index it directly.
    text = source[node.col_offset : node.end_col_offset].replace("_", "")
    exponent = _EXPONENT.search(text)
    if exponent is None or abs(int(exponent.group(1))) <= MAX_LITERAL_EXPONENT:
        return _normalize(Fraction(text), expression)
    return _normalize(value, expression)


def _normalize(value: Number | int, expression: str) -> Number:
    """Keep exact values within MAX_BITS (falling back to floating point) and refuse values
    that are not finite."""
    if isinstance(value, int):
        value = Fraction(value)
    if isinstance(value, Fraction):
        if max(value.numerator.bit_length(), value.denominator.bit_length()) <= MAX_BITS:
            return value
        value = float(value)
    if not math.isfinite(value):
        raise _too_large(expression)
    return value


def json_number(value: Number, expression: str) -> int | float:
    """The value as a JSON number: an int when whole and safe, else a float."""
    if isinstance(value, float):
        return value
    if value.denominator == 1 and abs(value.numerator) <= SAFE_INTEGER:
        return value.numerator
    try:
        return float(value)
    except OverflowError:
        raise _too_large(expression) from None


def exact_text(value: Number) -> str | None:
    """An exact rendering of a Fraction (integer, terminating decimal, or p/q); None for
    floats."""
    if isinstance(value, float):
        return None
    num, den = value.numerator, value.denominator
    if den == 1:
        return str(num)
    rest = den
    twos = (rest & -rest).bit_length() - 1
    rest >>= twos
    fives = 0
    while rest % 5 == 0:
        rest //= 5
        fives += 1
    scale = max(twos, fives)
    if rest != 1 or scale > 1000:
        return f"{num}/{den}"
    digits = str(abs(num) * 10**scale // den).rjust(scale + 1, "0")
    sign = "-" if num < 0 else ""
    return f"{sign}{digits[:-scale]}.{digits[-scale:]}"


def _refused_what(node: ast.AST) -> str:
    names = {
        ast.Attribute: "attribute access",
        ast.Subscript: "indexing",
        ast.Lambda: "lambda",
        ast.ListComp: "a comprehension",
        ast.SetComp: "a comprehension",
        ast.DictComp: "a comprehension",
        ast.GeneratorExp: "a generator expression",
        ast.Compare: "a comparison",
        ast.BoolOp: "a boolean operator",
        ast.IfExp: "a conditional expression",
        ast.Tuple: "a tuple",
        ast.NamedExpr: "an assignment",
        ast.MatMult: "the @ operator",
        ast.Not: "not",
        ast.Invert: "the ~ operator",
        ast.BitAnd: "bitwise operators",
        ast.BitOr: "bitwise operators",
        ast.BitXor: "bitwise operators",
        ast.LShift: "shift operators",
        ast.RShift: "shift operators",
    }
    what = names.get(type(node), type(node).__name__)
    return f"{what} is not allowed in an arithmetic expression"


def _refuse(message: str, expression: str, **details: object) -> InvalidArguments:
    return InvalidArguments(message, details={"expression": expression, **details})


def _too_large(expression: str) -> InvalidArguments:
    return _refuse(
        "the result is too large (or not a finite number)",
        expression,
        reason="overflow",
    )
