"""The agent card's skills, in process: one per tool by default, one per category by setting,
only `discovery` for an anonymous caller or a key with no tool; every operation named in the
text form; every card spec-compliant (the a2a-sdk's own REQUIRED-field check finds nothing)."""

from __future__ import annotations

from pathlib import Path

import pytest
from a2a.utils.proto_utils import warn_on_missing_required_fields

from toolwire.config import build_catalog, parse_config
from toolwire.core.catalog import Catalog
from toolwire.inbound.a2a import card
from toolwire.settings import Settings


def catalog(tmp_path: Path) -> Catalog:
    config = {"builtins": {"modules": ["tests.support.door_tools"]}}
    return build_catalog(parse_config(config, base_dir=tmp_path))


def test_one_skill_per_tool_naming_each_operation(tmp_path: Path) -> None:
    ops = [op for op in catalog(tmp_path) if op.tool in ("matrix", "hidden")]
    built = card.agent_card(Settings(), ops)
    skills = {s.id: sorted(s.examples) for s in built.skills}
    assert skills == {
        "matrix": ["matrix.add {...}", "matrix.stall {...}", "matrix.wait {...}"],
        "hidden": ["hidden.peek {...}"],
    }


def test_one_skill_per_category_when_configured(tmp_path: Path) -> None:
    ops = [op for op in catalog(tmp_path) if op.tool in ("matrix", "hidden")]
    built = card.agent_card(Settings(a2a_skills="category"), ops)
    assert sorted(s.id for s in built.skills) == sorted({op.category for op in ops})
    assert sum(len(s.examples) for s in built.skills) == len(ops) == 4


def test_an_anonymous_card_has_the_public_shape_and_only_the_discovery_skill() -> None:
    built = card.agent_card(Settings(public_url="https://gw.example"), None)
    assert [s.id for s in built.skills] == ["discovery"]
    assert {i.url for i in built.supported_interfaces} == {"https://gw.example/a2a"}
    assert built.capabilities.streaming


@pytest.mark.parametrize("who", ["anonymous", "no tool", "tools", "categories"])
def test_every_card_has_every_field_the_spec_requires(
    tmp_path: Path, who: str, caplog: pytest.LogCaptureFixture
) -> None:
    ops = {"anonymous": None, "no tool": []}.get(who, list(catalog(tmp_path)))
    per = "category" if who == "categories" else "tool"
    built = card.agent_card(Settings(a2a_skills=per), ops)
    assert warn_on_missing_required_fields(built, "test"), caplog.text
    assert "not spec-compliant" not in caplog.text
