"""The `mcp:` catalog section: what it builds, and errors that name the location; the name
spelling of `discovery.local_name`; the catalog plan rebuilding from a source's operations."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import pytest

from toolwire.config import ConfigError, build_plan, parse_config
from toolwire.config.upstreams import KINDS
from toolwire.core import names
from toolwire.core.catalog import OperationSpec, ToolSpec
from toolwire.core.ports import CatalogChanged, SecretLookup
from toolwire.upstream.mcp.adapter import McpUpstream
from toolwire.upstream.mcp.discovery import local_name, operations
from toolwire.upstream.mcp.spec import Http, McpSpec, Stdio, ToolRule, ToolRules


def plan(mcp: Mapping[str, Any], **more: Any) -> Any:
    raw = {"builtins": {"include": ["echo"]}, "mcp": dict(mcp), **more}
    return build_plan(parse_config(raw, "t.yaml"))


def test_the_kinds_are_a_closed_map_in_build_order() -> None:
    assert list(KINDS) == ["upstreams", "tools", "openapi", "databases", "mcp"]
    with pytest.raises(TypeError):
        KINDS["new"] = KINDS["mcp"]  # type: ignore[index]


def test_a_stdio_and_an_http_server_become_sources_with_their_settings() -> None:
    built = plan(
        {
            "local": {
                "command": "srv",
                "args": ["--x"],
                "env_secrets": {"TOKEN": "srv_token"},
                "processes": 3,
                "price": "0.5",
                "tools": {"search": {"price": 1, "description": "Find things."}},
            },
            "remote": {
                "url": "https://mcp.example.org/mcp",
                "auth": {"type": "bearer", "secret": "remote_token"},
                "transport": "sse",
                "era": "handshake",
            },
        }
    )
    local, remote = built.sources
    assert isinstance(local, McpUpstream) and isinstance(remote, McpUpstream)
    assert isinstance(local.spec.transport, Stdio) and local.spec.transport.processes == 3
    assert local.spec.tools.price == 500_000
    assert local.spec.tools.per_tool["search"] == ToolRule(
        price=1_000_000, description="Find things."
    )
    assert local.spec.credentials == {"env:TOKEN": "srv_token"}
    assert isinstance(remote.spec.transport, Http) and remote.spec.transport.transport == "sse"
    assert remote.spec.era == "handshake"
    assert remote.spec.credentials == {"secret": "remote_token"}
    assert [t.name for t in built.compose()] == ["echo"]  # nothing discovered yet


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        ({"args": ["x"]}, "at mcp/srv: give exactly one of command"),
        ({"command": "x", "url": "https://a.example/mcp"}, "at mcp/srv: give exactly one"),
        ({"command": "x", "headers": {"a": "b"}}, "at mcp/srv: headers cannot be set for a stdio"),
        ({"url": "https://a.example/mcp", "processes": 2}, "at mcp/srv: processes is for stdio"),
        ({"url": "ftp://a.example"}, "at mcp/srv/url"),
        ({"command": "x", "price": -1}, "at mcp/srv: price: a price cannot be negative"),
        ({"command": "x", "tools": {"t": {"colour": 1}}}, "at mcp/srv/tools/t"),
        ({"command": "x", "auth": {"type": "query", "secret": "s"}}, "at mcp/srv/auth/type"),
    ],
)
def test_config_errors_name_the_location(entry: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError, match=message.replace("/", "/").replace(".", r"\.")):
        plan({"srv": entry})


def test_an_upstream_named_like_a_tool_is_declared_twice() -> None:
    with pytest.raises(ConfigError, match="'echo' is declared twice"):
        plan({"echo": {"command": "x"}})


@pytest.mark.parametrize(
    ("raw", "spelled"),
    [
        ("get_current_time", "get_current_time"),
        ("get-tiny-image", "get-tiny-image"),
        ("dotted.name v2", "dotted-name-v2"),
        ("a__b", "a_b"),
        ("1st", "t-1st"),
        ("_private_", "t-_private"),
    ],
)
def test_local_names_are_valid_in_every_format(raw: str, spelled: str) -> None:
    assert local_name(raw) == spelled
    names.check_part(local_name(raw), "tool")


def test_a_long_name_is_cut_with_a_hash_that_keeps_distinct_names_apart() -> None:
    a, b = local_name("x" * 40), local_name("x" * 41)
    assert len(a) == len(b) == 30 and a != b
    names.check_part(a, "tool")


def test_discovery_applies_globs_overrides_and_skips_what_cannot_be_served() -> None:
    spec = McpSpec(
        "up",
        Stdio("srv"),
        tools=ToolRules(
            exclude=["secret_*"],
            price=10,
            per_tool={"a": ToolRule(price=20, category="special", description="Mine.")},
        ),
    )
    obj = {"type": "object", "properties": {}}
    raw = [
        {
            "name": "a",
            "description": "Theirs.",
            "inputSchema": obj,
            "annotations": {"readOnlyHint": True},
        },
        {"name": "b", "inputSchema": obj, "outputSchema": {"type": "object"}, "title": "Bee"},
        {"name": "secret_c", "inputSchema": obj},
        {"name": "d", "inputSchema": {"type": "object", "properties": {"x": {"type": 5}}}},
        {"name": "e", "inputSchema": obj, "outputSchema": {"type": "string"}},
        {"inputSchema": obj},
    ]
    ops, skipped = operations(spec, raw, McpUpstream(spec, _redactor()))
    by_name = {op.name: op for op in ops}
    assert sorted(by_name) == ["a", "b"]
    assert (by_name["a"].price, by_name["a"].category, by_name["a"].description) == (
        20,
        "special",
        "Mine.",
    )
    assert by_name["a"].annotations.read_only is True
    assert by_name["a"].definition == raw[0]  # the raw definition, for pinning
    assert (by_name["b"].price, by_name["b"].title) == (10, "Bee")
    assert len(skipped) == 3 and any("'d' skipped: its input schema" in s for s in skipped)


def _redactor() -> Any:
    from toolwire.vault.redact import Redactor

    return Redactor()


class ListSource:
    """An OperationSource serving a list it is given: the plan composes whatever a source lists."""

    name = "src"

    def __init__(self) -> None:
        self.tools: list[ToolSpec] = []

    def operations(self) -> Sequence[ToolSpec]:
        return self.tools

    async def start(self, changed: CatalogChanged, secrets: SecretLookup, wait_s: float) -> None:
        return None

    def status(self) -> Mapping[str, Any]:
        return {"name": self.name}

    async def aclose(self) -> None:
        return None


def test_the_plan_composes_static_tools_and_a_sources_current_operations() -> None:
    from toolwire.config.plan import CatalogPlan
    from toolwire.upstream.builtin import builtin_specs

    source = ListSource()
    static = [t for t in builtin_specs() if t.name == "echo"]
    current = CatalogPlan(static, [source])
    assert [op.qualified for op in current.compose()] == ["echo"]
    echo = static[0].operations[0]
    op = OperationSpec("echo", "theirs", {"type": "object"}, echo.adapter)
    source.tools = [ToolSpec("src", "d", (op,))]
    assert [op.qualified for op in current.compose()] == ["echo", "src.echo"]
