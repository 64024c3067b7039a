import re

import pytest

from toolwire.core import names

OPENAI_NAME = re.compile(r"^[a-zA-Z0-9_-]{1,64}$")
MCP_NAME = re.compile(r"^[A-Za-z0-9_.-]{1,128}$")


@pytest.mark.parametrize("fmt", names.FORMATS)
@pytest.mark.parametrize(
    ("tool", "op"),
    [("search", "web"), ("echo", "echo"), ("a" * 30, "b" * 30), ("x-y", "z_w"), ("t1", "op-2")],
)
def test_every_format_name_round_trips_and_is_valid_for_its_platform(
    fmt: names.Format, tool: str, op: str
) -> None:
    external = names.external(tool, op, fmt)
    pattern = MCP_NAME if fmt == "mcp" else OPENAI_NAME
    assert pattern.match(external)
    parsed_tool, parsed_op = names.parse(external, fmt)
    assert parsed_tool == tool
    assert (parsed_op or parsed_tool) == op


def test_a_tools_default_operation_is_named_by_the_bare_tool() -> None:
    assert names.qualified("echo", "echo") == "echo"
    assert names.qualified("search", "web") == "search.web"
    assert names.external("search", "web", "openai") == "search__web"


def test_parse_without_a_format_accepts_either_separator() -> None:
    assert names.parse("search.web") == ("search", "web")
    assert names.parse("search__web") == ("search", "web")
    assert names.parse("echo") == ("echo", None)


@pytest.mark.parametrize("bad", ["", "1abc", "a.b", "a__b", "a b", "a_", "é", "a" * 31, "a/b"])
def test_names_that_would_break_the_mapping_are_refused(bad: str) -> None:
    with pytest.raises(ValueError):
        names.check_part(bad, "tool")
