"""The catalog's policy through the one call path: destructive grants, argument constraints,
result caps. Each refusal is POLICY_DENIED naming its rule, spends nothing and never reaches
the tool; a capped result says so in its receipt."""

from __future__ import annotations

from typing import Any

import pytest

from toolwire.config import ConfigError, build_catalog, parse_config
from toolwire.core.catalog import Catalog
from toolwire.core.content import TextBlock, ToolResult
from toolwire.core.errors import PolicyDenied
from toolwire.core.gateway import Gateway
from toolwire.core.model import Principal, ToolCall
from toolwire.core.policy import Constraint, cap_result
from toolwire.core.scopes import ScopeSet
from toolwire.store import Store

POLICY = {
    "calc.evaluate": {
        "destructive": True,
        "arguments": {"expression": {"forbid": ["\\*\\*"], "pattern": "[0-9+* ()-]+"}},
    },
    "uuid": {"arguments": {"count": {"max": 20}}, "max_result_bytes": 200},
}


def catalog(policy: dict[str, Any]) -> Catalog:
    config = {"builtins": {"include": ["echo", "calc", "uuid"]}, "policy": policy}
    return build_catalog(parse_config(config))


def principal(*scopes: str) -> Principal:
    return Principal("key_1", "acc_1", ScopeSet(scopes or ("*",)))


async def run(gateway: Gateway, who: Principal, tool: str, **arguments: Any) -> Any:
    return await gateway.execute(who, ToolCall(tool, arguments, request_id="req_1"))


@pytest.fixture
def gateway(store: Store) -> Gateway:
    return Gateway(catalog(POLICY), store.ledger, store.audit)


async def test_a_destructive_operation_needs_a_grant_however_wide_the_keys_allows(
    gateway: Gateway,
) -> None:
    refused = await run(gateway, principal("*"), "calc.evaluate", expression="1+1")
    assert refused.error is not None and refused.error.code == "POLICY_DENIED"
    assert refused.error.details["rule"] == "policy.calc.evaluate.destructive"
    assert refused.error.details["grant"] == "destructive:calc.evaluate"
    for grant in ("destructive:*", "destructive:calc", "destructive:calc.evaluate"):
        allowed = await run(gateway, principal("*", grant), "calc.evaluate", expression="1+1")
        assert allowed.ok, (grant, allowed.error)
    grant_only = await run(gateway, principal("echo", "destructive:*"), "calc.evaluate")
    assert grant_only.error is not None and grant_only.error.code == "TOOL_NOT_FOUND"


@pytest.mark.parametrize(
    ("expression", "rule"),
    [
        ("2**64", "policy.calc.evaluate.arguments.expression.forbid"),
        ("__import__('os')", "policy.calc.evaluate.arguments.expression.pattern"),
    ],
)
async def test_argument_constraints_refuse_naming_the_rule(
    gateway: Gateway, expression: str, rule: str
) -> None:
    who = principal("*", "destructive:*")
    refused = await run(gateway, who, "calc.evaluate", expression=expression)
    assert refused.error is not None and refused.error.code == "POLICY_DENIED"
    assert refused.error.details == {"rule": rule, "argument": "expression"}


async def test_a_capped_result_says_so_in_its_receipt(gateway: Gateway) -> None:
    got = await run(gateway, principal(), "uuid", count=20)
    assert got.ok, got.error
    assert 0 < len(got.data["uuids"]) < 20
    capped = got.meta.to_dict()["capped"]
    assert capped["rule"] == "policy.uuid.max_result_bytes"
    assert capped["limit_bytes"] == 200 < capped["original_bytes"]
    small = await run(gateway, principal(), "uuid", count=1)
    assert small.ok and "capped" not in small.meta.to_dict()
    over = await run(gateway, principal(), "uuid", count=21)
    assert over.error is not None and over.error.details["rule"] == (
        "policy.uuid.arguments.count.max"
    )


def constraint(rules: dict[str, Any]) -> Constraint:
    """The compiled rules of `echo`'s `message` argument."""
    built = catalog({"echo": {"arguments": {"message": rules}}})
    entry = built.policy.of(built.resolve("echo"))
    assert entry is not None
    return entry.constraints[0]


@pytest.mark.parametrize(
    ("url", "allowed"),
    [
        ("https://example.com/a", True),
        ("http://api.example.org:8443/x", True),
        ("HTTPS://EXAMPLE.COM/", True),
        ("https://example.com.evil.test/", False),
        ("https://evil.test/?https://example.com", False),
        ("https://example.com@evil.test/", False),
        ("https://evil.test\\@example.com/", False),
        ("https://user:pw@example.com/", False),
        ("ftp://example.com/", False),
        ("//example.com/", False),
        ("https://[::1]/", False),
        ("https://example.org/", False),
        ("not a url", False),
    ],
)
def test_a_domain_rule_allows_only_plain_urls_on_the_listed_hosts(url: str, allowed: bool) -> None:
    rules = constraint({"domains": ["example.com", "*.example.org"]})
    if allowed:
        rules.check({"message": url})
    else:
        with pytest.raises(PolicyDenied) as refused:
            rules.check({"message": url})
        assert refused.value.details["rule"] == "policy.echo.arguments.message.domains"


@pytest.mark.parametrize(
    ("rules", "value", "kind"),
    [
        ({"max": 100}, 101, "max"),
        ({"min": 1}, 0, "min"),
        ({"max": 100}, "50", "max"),
        ({"max": 100}, True, "max"),
        ({"max_items": 2}, [1, 2, 3], "max_items"),
        ({"max_items": 2}, "abc", "max_items"),
        ({"one_of": ["a", "b"]}, "c", "one_of"),
        ({"pattern": "[a-z]+"}, "abc1", "pattern"),
        ({"forbid": ["(?i)drop\\s+table"]}, ["ok", "DROP  TABLE x"], "forbid"),
    ],
)
def test_each_constraint_refuses_what_it_does_not_allow(
    rules: dict[str, Any], value: Any, kind: str
) -> None:
    rules_ = constraint(rules)
    with pytest.raises(PolicyDenied) as refused:
        rules_.check({"message": value})
    assert refused.value.details["rule"] == f"policy.echo.arguments.message.{kind}"
    rules_.check({})  # absent: left to the schema


def test_a_result_cap_cuts_rows_and_text_and_refuses_what_it_cannot_cut() -> None:
    rows = ToolResult(structured={"rows": [[i, "x" * 10] for i in range(100)], "n": 100})
    cut, note = cap_result(rows, 200, "policy.t.max_result_bytes")
    assert note is not None and note["original_bytes"] > 200
    assert 0 < len(cut.structured["rows"]) < 100 and cut.structured["n"] == 100
    assert cut.structured["rows"] == rows.structured["rows"][: len(cut.structured["rows"])]
    text = ToolResult(content=(TextBlock("é" * 100),))
    cut, note = cap_result(text, 51, "r")
    block = cut.content[0]
    assert isinstance(block, TextBlock) and block.text == "é" * 25 and note is not None
    with pytest.raises(PolicyDenied):
        cap_result(ToolResult(structured={"blob": "x" * 500}), 100, "r")


@pytest.mark.parametrize(
    ("policy", "message"),
    [
        ({"nosuch": {"destructive": True}}, "at policy/nosuch: no tool or operation"),
        ({"echo": {}}, "at policy/echo"),
        ({"echo": {"max_result_bytes": 0}}, "at policy/echo/max_result_bytes"),
        ({"echo": {"max_result_bytes": 10**12}}, "at policy/echo/max_result_bytes"),
        ({"echo": {"arguments": {"message": {"max_items": 0}}}}, "max_items"),
        ({"echo": {"arguments": {"message": {"pattern": "("}}}}, "not a valid regular"),
        ({"echo": {"arguments": {"message": {"min": 5, "max": 1}}}}, "min is above max"),
        ({"echo": {"arguments": {"message": {"domains": ["*"]}}}}, "domains"),
        ({"echo": {"arguments": {"message": {"shape": "url"}}}}, "shape"),
    ],
)
def test_a_bad_policy_is_refused_at_load_with_its_location(
    policy: dict[str, Any], message: str
) -> None:
    with pytest.raises(ConfigError, match="config") as refused:
        catalog(policy)
    assert message in str(refused.value)
