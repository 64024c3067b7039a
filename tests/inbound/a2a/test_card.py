"""The agent card's skills, in process: one per tool by default, one per category by setting,
none for an anonymous caller; every operation named in the text form."""

from __future__ import annotations

from pathlib import Path

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


def test_an_anonymous_card_has_the_public_shape_and_no_skills() -> None:
    built = card.agent_card(Settings(public_url="https://gw.example"), None)
    assert list(built.skills) == []
    assert {i.url for i in built.supported_interfaces} == {"https://gw.example/a2a"}
    assert built.capabilities.streaming
