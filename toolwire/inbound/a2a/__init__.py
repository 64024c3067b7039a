"""The A2A door: other agents hand toolwire tasks over the Agent-to-Agent protocol (1.0 and 0.3).

    GET  /.well-known/agent-card.json   the card (per key; anonymous: public shape, no skills)
    GET  /.well-known/agent.json        the same (0.2 clients' path)
    POST /a2a, /api/a2a                 JSON-RPC: 1.0 methods (`A2A-Version: 1.0`) and 0.3 ones
                                        (no header), by the a2a-sdk's dispatcher
    /a2a/message:send, /a2a/tasks/...   HTTP+JSON 1.0 (and 0.3 under /a2a/v1/...)

A thin translator built on the a2a-sdk's server components (see docs/design/0009-a2a-door.md):
the SDK's request handler keeps the task lifecycle, the protocol versions and the A2A errors;
`GatewayExecutor` turns a task into one `Gateway.execute`; `StateTaskStore` keeps tasks in the
state backend. This package authenticates each request with the toolwire key and refuses what
fails admission (key, body size) through `messages.ADMISSION`.
"""

from toolwire.inbound.a2a.routes import routes

__all__ = ["routes"]
