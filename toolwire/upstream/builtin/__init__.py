"""Built-in tools: typed Python functions served in-process, useful offline.

    echo            returns its input (tests, benchmarks)
    calc.evaluate   exact arithmetic on a parsed expression
    time.now        current time in an IANA zone
    time.convert    date-time conversion between zones
    json.query      JMESPath over a JSON document
    text.stats      counts and most common words of a text
    text.regex_extract  regex matches with groups and spans, under a time budget
    uuid.generate   UUID v4 or v7

`builtin_specs()` is what the app calls. Optional profiles (off by default) add more tools: a
profile is just another `BuiltinRegistry`, registered under a name with `BUILTINS.add_profile`,
given directly or as the dotted path of the module that holds it (imported only when asked for).
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping, Sequence

from toolwire.core.catalog import ToolSpec
from toolwire.upstream.builtin import calc, clock, echo, jsonquery, text, uuids
from toolwire.upstream.builtin.registry import (
    BuiltinAdapter,
    BuiltinOperation,
    BuiltinRegistry,
    build_operation,
)

BUILTINS = BuiltinRegistry()
"""Every default built-in tool, in listing order."""
BUILTINS.include(
    echo.registry,
    calc.registry,
    clock.registry,
    jsonquery.registry,
    text.registry,
    uuids.registry,
)
# Optional profiles: a name and the module that holds its `registry` (imported when asked for).
BUILTINS.add_profile("conformance", "toolwire.upstream.builtin.conformance")


def builtin_specs(
    prices: Mapping[str, int] | None = None, profiles: Sequence[str] = ()
) -> list[ToolSpec]:
    """The ToolSpecs of the built-in tools plus those of the named profiles.

    `prices` maps qualified names (`calc.evaluate`, `echo`) to micro-credits; default 0.
    An unknown profile name is a ValueError (a configuration mistake, found at startup).
    """
    return BUILTINS.specs(prices, profiles)


def module_specs(source: str) -> list[ToolSpec]:
    """The ToolSpecs of a user's module of tools: `"package.module"` (its `registry`) or
    `"package.module:attribute"`, a `BuiltinRegistry` of decorated functions."""
    module_name, _, attribute = source.partition(":")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise ValueError(f"cannot import tool module {module_name!r}: {exc}") from None
    registry = getattr(module, attribute or "registry", None)
    if not isinstance(registry, BuiltinRegistry):
        raise ValueError(f"{source!r} does not name a BuiltinRegistry")
    return registry.specs()


__all__ = [
    "BUILTINS",
    "BuiltinAdapter",
    "BuiltinOperation",
    "BuiltinRegistry",
    "build_operation",
    "builtin_specs",
    "module_specs",
]
