"""toolwire: an MCP gateway. One key, one catalog, every tool, billed per call."""

__version__ = "0.1.0"
