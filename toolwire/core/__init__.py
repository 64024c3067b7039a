"""The core: one call path (`Gateway.execute`) and the types it speaks.

The core imports nothing from `toolwire.inbound`, `toolwire.upstream`, `toolwire.store`,
Starlette or
the MCP SDK. It declares what it needs in `ports.py`; `toolwire.app` wires implementations in.
"""
