"""What a reload does with federated MCP servers (`config.sources.compare`), on sources built
from real `mcp:` entries (not started): unchanged ones are kept, new and changed ones started,
removed and replaced ones retired. End to end with processes:
tests/upstream/mcp/test_mcp_federation_reload.py."""

from __future__ import annotations

import sys
from typing import Any

from toolwire.config import build_plan, load_config
from toolwire.config.sources import compare
from toolwire.core.ports import OperationSource
from toolwire.vault import Redactor


def sources(tmp_path: Any, mcp: dict[str, Any]) -> list[OperationSource]:
    import yaml

    path = tmp_path / f"c{len(list(tmp_path.iterdir()))}.yaml"
    path.write_text(yaml.safe_dump({"mcp": mcp}))
    plan = build_plan(load_config(path), redactor=Redactor())
    return list(plan.sources)


def entry(mark: str) -> dict[str, Any]:
    return {"command": sys.executable, "args": ["-c", "pass"], "env": {"MARK": mark}}


def test_kept_started_and_retired(tmp_path: Any) -> None:
    running = sources(tmp_path, {"a": entry("1"), "b": entry("1"), "c": entry("1")})
    built = sources(tmp_path, {"a": entry("1"), "b": entry("2"), "d": entry("1")})
    change = compare(running, built)
    assert [s.name for s in change.sources] == ["a", "b", "d"]
    assert change.sources[0] is running[0]  # unchanged: the running one
    assert change.sources[1] is built[1] and change.sources[2] is built[2]
    assert change.started == [built[1], built[2]]
    assert change.unused == [built[0]]  # the unchanged one's twin, never started
    assert change.retired == [running[1], running[2]]  # replaced b, removed c


def test_nothing_changed_keeps_everything(tmp_path: Any) -> None:
    running = sources(tmp_path, {"a": entry("1")})
    built = sources(tmp_path, {"a": entry("1")})
    change = compare(running, built)
    assert change.sources == running and not change.started and not change.retired
