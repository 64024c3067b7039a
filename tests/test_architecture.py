"""Which package may import which: one table, checked on every `toolwire` module (AST, so imports
under `TYPE_CHECKING` and inside functions count too).

The shape it keeps (issue 10 item 4): doors (`inbound`) talk to the core's faces (`Gateway`,
`Authenticator`, `Admin`, handed over as one `inbound.face.Face`), never to `store`, `vault`,
`upstream` or the whole `services` bag; upstream
adapters never reach back into doors; the core imports nothing outward; `store` and `vault` share
`sealing` instead of importing each other; the SDK (`client`) stands alone. A new top-level
package or module fails here until it gets its row.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import toolwire

ROOT = Path(toolwire.__file__).parent

ALLOWED: dict[str, frozenset[str]] = {
    # the core: nothing outward
    "core": frozenset(),
    "sealing": frozenset(),
    "settings": frozenset(),
    "log_flood": frozenset(),
    "state": frozenset(),
    # what the core's ports are implemented with
    "store": frozenset({"core", "sealing"}),
    "vault": frozenset({"core", "sealing", "store"}),
    "upstream": frozenset({"core", "vault"}),
    "oauth": frozenset({"core", "settings"}),
    "config": frozenset({"core", "upstream", "vault"}),
    # doors: the core's faces (`inbound.face.Face`); never store, vault, upstream, services
    "inbound": frozenset({"__init__", "core", "oauth", "sealing", "settings", "state"}),
    "services": frozenset({"billing", "core", "metrics", "reload", "settings", "state", "store"}),
    # the billing services beside the store: idempotency, BYOK, budgets, usage, liveness
    "billing": frozenset({"core", "store"}),
    # the SDK is installed and used on its own
    "client": frozenset(),
    # composition: these build the process, so they may reach everything they wire
    "bootstrap": frozenset({"core", "settings", "store"}),
    "logs": frozenset({"core", "log_flood"}),
    # observability: metrics read the core's audit events; tracing is the core's tracer port
    "metrics": frozenset({"core"}),
    "tracing": frozenset({"__init__", "core"}),
    "testing": frozenset(),
    # hot catalog reload: builds a catalog from the config and swaps it into the gateway
    "reload": frozenset({"config", "core", "settings", "state", "upstream", "vault"}),
    "app": frozenset(
        {
            "__init__",
            "billing",
            "bootstrap",
            "config",
            "core",
            "inbound",
            "oauth",
            "metrics",
            "sealing",
            "reload",
            "services",
            "settings",
            "state",
            "store",
            "tracing",
            "upstream",
            "vault",
        }
    ),
    "cli": frozenset(
        {
            "__init__",
            "app",
            "bootstrap",
            "client",
            "config",
            "core",
            "inbound",
            "logs",
            "metrics",
            "services",
            "settings",
            "store",
            "upstream",
            "vault",
        }
    ),
    "__init__": frozenset({"app", "core", "settings", "upstream"}),
    "__main__": frozenset({"cli"}),
}

FORBIDDEN_IN_CORE = ("starlette", "mcp", "sqlalchemy", "httpx", "uvicorn", "redis", "typer")


def _package(path: Path) -> str:
    """The top-level name under toolwire/ that `path` belongs to (`app` for app.py)."""
    first = path.relative_to(ROOT).parts[0]
    return first.removesuffix(".py")


def _imports(path: Path) -> set[str]:
    """Every module name `path` imports, absolute; `from toolwire import x` counts as toolwire.x."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            assert node.level == 0, f"{path}: relative import"
            if node.module == "toolwire":
                found.update(
                    f"toolwire.{a.name}"
                    if (ROOT / a.name).is_dir() or (ROOT / f"{a.name}.py").exists()
                    else "toolwire.__init__"
                    for a in node.names
                )
            else:
                found.add(node.module)
    return found


def _toolwire_targets(path: Path) -> set[str]:
    return {
        name.split(".")[1]
        for name in _imports(path)
        if name.startswith("toolwire.") and name.split(".")[1] != _package(path)
    }


MODULES = sorted(ROOT.rglob("*.py"))


def test_every_top_level_package_has_a_row() -> None:
    assert {_package(p) for p in MODULES} - set(ALLOWED) == set()


@pytest.mark.parametrize("package", sorted(ALLOWED))
def test_a_package_imports_only_what_its_row_allows(package: str) -> None:
    offenders = {
        f"{path.relative_to(ROOT)} -> toolwire.{target}"
        for path in MODULES
        if _package(path) == package
        for target in _toolwire_targets(path)
        if target not in ALLOWED[package]
    }
    assert offenders == set()


def test_the_core_imports_no_framework_driver_or_client() -> None:
    offenders = {
        f"{path.name}: {name}"
        for path in (ROOT / "core").rglob("*.py")
        for name in _imports(path)
        if any(name == f or name.startswith(f + ".") for f in FORBIDDEN_IN_CORE)
    }
    assert offenders == set()


def test_the_table_itself_keeps_the_rules() -> None:
    """The rules the issue names, so an edit to the table cannot quietly drop one."""
    assert ALLOWED["core"] == frozenset()
    assert not {"store", "vault", "upstream", "services", "billing"} & ALLOWED["inbound"]
    assert "inbound" not in ALLOWED["upstream"]
    assert "vault" not in ALLOWED["store"]
    assert ALLOWED["client"] == frozenset()
