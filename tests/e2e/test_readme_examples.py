"""The README's own-tool example runs as shown: served from a module, listed, called, validated."""

from __future__ import annotations

from pathlib import Path

from toolwire.testing import running_gateway

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def test_the_readme_tool_module_is_served_listed_and_called(tmp_path: Path) -> None:
    config = {"builtins": {"modules": ["mytools"]}, "prices": {"greet": 0.5}}
    with running_gateway(tmp_path, config=config, env={"PYTHONPATH": str(EXAMPLES)}) as gw:
        _, key = gw.create_account(credits=1)
        with gw.client(key) as http:
            listed = http.get("/api/v1/tools/greet").json()
            assert listed["price"] == 0.5
            assert listed["input_schema"]["required"] == ["name"]
            ok = http.post("/api/v1/execute", json={"tool": "greet", "input": {"name": "Ada"}})
            assert ok.json()["data"] == {"greeting": "hello, Ada"}
            bad = http.post("/api/v1/execute", json={"tool": "greet", "input": {"name": 1}})
            assert bad.status_code == 422
            assert http.get("/api/v1/me").json()["balance"] == 0.5
