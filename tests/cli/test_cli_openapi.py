"""`toolwire openapi inspect` as an operator runs it: the same decision `serve` makes (issue 9
item 12), each schema's estimated size in tokens (item 15), the parameters it ignores (item 10),
and a chain of `$ref`s that used to blow up (item 11) answered at once."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import yaml

from tests.cli.conftest import run_toolwire
from toolwire.config import build_catalog, load_config


def chain_spec(depth: int = 12) -> dict[str, Any]:
    schemas = {
        f"L{i}": {
            "type": "object",
            "properties": {
                f"p{j}": {"$ref": f"#/components/schemas/L{i + 1}"}
                if i + 1 < depth
                else {"type": "string"}
                for j in range(4)
            },
        }
        for i in range(depth)
    }
    schemas["CompoundFilter"] = {"$recursiveAnchor": True, "type": "object"}
    body = {"content": {"application/json": {"schema": {"$ref": "#/components/schemas/L0"}}}}
    compound = {
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/CompoundFilter"}}}
    }
    return {
        "openapi": "3.1.0",
        "info": {"title": "chain", "version": "1"},
        "servers": [{"url": "https://api.example.test"}],
        "components": {"schemas": schemas},
        "paths": {
            "/chain": {"post": {"operationId": "createChain", "requestBody": body}},
            "/responses": {"post": {"operationId": "createResponse", "requestBody": compound}},
            "/things": {
                "get": {
                    "operationId": "listThings",
                    "parameters": [
                        {"name": n, "in": "header", "schema": {"type": "string"}}
                        for n in ("Authorization", "Accept", "X-Trace")
                    ],
                }
            },
        },
    }


def test_inspect_and_the_catalog_agree_and_show_sizes_and_ignored_parameters(
    tmp_path: Path,
) -> None:
    spec = tmp_path / "chain.json"
    spec.write_text(json.dumps(chain_spec()))
    config = tmp_path / "toolwire.yaml"
    config.write_text(
        yaml.safe_dump({"openapi": {"chain": {"spec": "chain.json", "allow_methods": ["POST"]}}})
    )
    ran = run_toolwire("openapi", "inspect", "--config", str(config), "chain", "--json")
    assert ran.code == 0, ran.err
    ops = {op["operation_id"]: op for op in ran.json()["operations"]}
    assert ops["createChain"]["exposed"] and ops["createChain"]["schema_tokens"] < 1000
    assert not ops["createResponse"]["exposed"]
    assert "cannot compile" in ops["createResponse"]["reason"]
    assert len(ops["listThings"]["ignored_parameters"]) == 2
    catalog = build_catalog(load_config(config))
    served = sorted(op.name for op in catalog if op.tool == "chain")
    assert served == sorted(op["name"] for op in ops.values() if op["exposed"])
