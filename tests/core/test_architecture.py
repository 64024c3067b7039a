"""The core imports nothing outside itself: doors, adapters and stores depend on it, not back."""

import ast
from pathlib import Path

import toolwire.core

CORE = Path(toolwire.core.__file__).parent
FORBIDDEN = (
    "toolwire.inbound",
    "toolwire.upstream",
    "toolwire.store",
    "toolwire.app",
    "toolwire.cli",
    "starlette",
    "mcp",
    "sqlalchemy",
    "httpx",
    "uvicorn",
    "redis",
)


def _imports(path: Path) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
    return found


def test_core_imports_nothing_from_doors_adapters_stores_or_frameworks() -> None:
    offenders = {
        f"{path.name}: {name}"
        for path in CORE.rglob("*.py")
        for name in _imports(path)
        if any(name == f or name.startswith(f + ".") for f in FORBIDDEN)
    }
    assert offenders == set()
