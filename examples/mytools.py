"""A tool of your own: one typed, decorated function (shown in the README, proved by a test).

Serve it with a catalog file that lists this module:

    builtins:
      modules: ["mytools"]

and `PYTHONPATH=examples toolwire serve --config that-file.yaml`.
"""

from typing import Annotated

from pydantic import Field

from toolwire import BuiltinRegistry

registry = BuiltinRegistry()


@registry.operation("greet", category="demo", read_only=True)
def greet(
    name: Annotated[str, Field(description="who to greet", max_length=100)],
) -> dict[str, str]:
    """Say hello to someone by name."""
    return {"greeting": f"hello, {name}"}
