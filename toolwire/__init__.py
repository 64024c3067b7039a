"""toolwire: an MCP gateway. One key, one catalog, every tool, billed per call.

The public API is what `__all__` names (pinned by a test); everything else may change. Building
your own tools: `BuiltinRegistry` (see `toolwire.upstream.builtin`). Embedding the gateway:
`create_app(Settings(...))`. Calling one: `toolwire.client`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

__all__ = [
    "BuiltinRegistry",
    "Outcome",
    "Principal",
    "Settings",
    "ToolCall",
    "ToolwireError",
    "__version__",
    "create_app",
]

if TYPE_CHECKING:
    from toolwire.app import create_app
    from toolwire.core.errors import ToolwireError
    from toolwire.core.model import Outcome, Principal, ToolCall
    from toolwire.settings import Settings
    from toolwire.upstream.builtin import BuiltinRegistry

_LAZY = {
    "create_app": "toolwire.app",
    "ToolwireError": "toolwire.core.errors",
    "Outcome": "toolwire.core.model",
    "Principal": "toolwire.core.model",
    "ToolCall": "toolwire.core.model",
    "Settings": "toolwire.settings",
    "BuiltinRegistry": "toolwire.upstream.builtin",
}


def __getattr__(name: str) -> Any:
    """Import on first use, so `import toolwire.client` stays light (the SDK needs only httpx)."""
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'toolwire' has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module(module), name)
