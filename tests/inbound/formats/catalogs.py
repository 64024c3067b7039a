"""Every test catalog, built in process the way `toolwire serve` builds it: the built-in tools
with the conformance profile and the test tool modules, each OpenAPI test document with every
method allowed, and each example provider spec."""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any

import yaml

from toolwire.config import build_catalog, parse_config
from toolwire.core.catalog import Catalog

REPO = Path(__file__).resolve().parents[3]
FIXTURES = Path(__file__).parent / "fixtures"
VENDOR_KEYS = FIXTURES / "vendor_keys.yaml"
OPENAPI_DOCUMENTS = {
    "petstore": REPO / "tests" / "upstream" / "fixtures" / "petstore.yaml",
    "library": REPO / "tests" / "upstream" / "fixtures" / "library.json",
    "vendorkeys": VENDOR_KEYS,
}
ALL_METHODS = ["GET", "POST", "PUT", "PATCH", "DELETE"]
NOWHERE = "http://127.0.0.1:9"


def openapi_config(name: str, spec: Path, base_url: str = NOWHERE) -> dict[str, Any]:
    return {"spec": str(spec), "base_url": base_url, "allow_methods": ALL_METHODS, "tool": name}


def _configs() -> dict[str, dict[str, Any]]:
    configs: dict[str, dict[str, Any]] = {
        "builtins": {
            "builtins": {
                "profiles": ["conformance"],
                "modules": ["tests.support.tools", "tests.support.billing_tools"],
            }
        },
    }
    for name, spec in OPENAPI_DOCUMENTS.items():
        configs[f"openapi-{name}"] = {
            "builtins": {"include": []},
            "openapi": {name: openapi_config(name, spec)},
        }
    for spec in sorted((REPO / "examples" / "providers").glob("*.yaml")):
        raw = yaml.safe_load(spec.read_text())
        configs[f"provider-{spec.stem}"] = {"builtins": {"include": []}, **raw}
    return configs


@functools.cache
def catalogs() -> dict[str, Catalog]:
    """Name -> catalog, built once per test session."""
    return {
        name: build_catalog(parse_config(config, f"{name}.yaml", base_dir=REPO))
        for name, config in _configs().items()
    }


def every_operation() -> list[tuple[str, str]]:
    """(catalog name, qualified operation name) for every operation of every test catalog."""
    return [(name, op.qualified) for name, catalog in catalogs().items() for op in catalog]
