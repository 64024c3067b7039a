"""The A2A agent card (`/.well-known/agent-card.json`): who this gateway is, where to reach it,
and one skill per tool the caller's key may use (or one per category, `a2a_skills=category`).

Fetched anonymously (or with a key that may use no tool), the card has the public shape and one
skill, `discovery`, saying how to see the tools: the A2A 1.0 `AgentCard` makes `skills` REQUIRED
and non-empty (field presence, §5.7), and the a2a-sdk warns at every start about a card without
one. The served JSON is the 1.0 card with the 0.3 fields merged in (`protocolVersion`, `url`,
`preferredTransport`, OpenAPI-style `securitySchemes`) by the a2a-sdk's `agent_card_to_dict`, as
its 0.3 clients expect (A2A 1.0 §4.2 and the SDK's compat layer).
"""

from __future__ import annotations

from collections.abc import Sequence

from a2a.types.a2a_pb2 import (
    AgentCapabilities,
    AgentCard,
    AgentInterface,
    AgentSkill,
    APIKeySecurityScheme,
    HTTPAuthSecurityScheme,
    SecurityRequirement,
    SecurityScheme,
    StringList,
)

from toolwire import __version__
from toolwire.core.catalog import Operation
from toolwire.settings import Settings

RPC_PATH = "/a2a"
"""The JSON-RPC binding (`/api/a2a` answers the same), and the base of the HTTP+JSON one."""

MODES = ["application/json", "text/plain"]


DISCOVERY = AgentSkill(
    id="discovery",
    name="Discover this gateway's tools",
    description="This card lists one skill per tool the caller's key may run. Fetch it again "
    "with your key (Authorization: Bearer <key>, or X-API-Key) to see yours; a key that may run "
    "no tool sees only this skill.",
    tags=["discovery"],
    examples=["GET /.well-known/agent-card.json with Authorization: Bearer <key>"],
    input_modes=MODES,
    output_modes=MODES,
)
"""The skill of a card that names no tool (anonymous, or a key with none)."""


def agent_card(settings: Settings, ops: Sequence[Operation] | None) -> AgentCard:
    """The card for a caller who may use `ops` (None: an anonymous caller): one skill per tool
    (or category), or `DISCOVERY` when that would be none."""
    url = settings.base_url + RPC_PATH
    named = skills(ops, settings.a2a_skills) if ops else []
    return AgentCard(
        name="toolwire",
        description="toolwire gateway: run any tool of its catalog as an A2A task. Send a data "
        'part {"tool", "operation", "input"} or a text part "tool.operation {json}".',
        version=__version__,
        supported_interfaces=[
            AgentInterface(url=url, protocol_binding="JSONRPC", protocol_version="1.0"),
            AgentInterface(url=url, protocol_binding="JSONRPC", protocol_version="0.3"),
            AgentInterface(url=url, protocol_binding="HTTP+JSON", protocol_version="1.0"),
            AgentInterface(url=url, protocol_binding="HTTP+JSON", protocol_version="0.3"),
        ],
        capabilities=AgentCapabilities(streaming=True, push_notifications=False),
        security_schemes={
            "bearer": SecurityScheme(
                http_auth_security_scheme=HTTPAuthSecurityScheme(scheme="Bearer")
            ),
            "apiKey": SecurityScheme(
                api_key_security_scheme=APIKeySecurityScheme(location="header", name="X-API-Key")
            ),
        },
        security_requirements=[
            SecurityRequirement(schemes={"bearer": StringList()}),
            SecurityRequirement(schemes={"apiKey": StringList()}),
        ],
        default_input_modes=MODES,
        default_output_modes=MODES,
        skills=named or [DISCOVERY],
    )


def skills(ops: Sequence[Operation], per: str) -> list[AgentSkill]:
    """One skill per tool (id: the tool name), or per category (id: the category)."""
    groups: dict[str, list[Operation]] = {}
    for op in ops:
        groups.setdefault(op.category if per == "category" else op.tool, []).append(op)
    return [_skill(name, group, per) for name, group in groups.items()]


def _skill(name: str, ops: list[Operation], per: str) -> AgentSkill:
    first = ops[0]
    description = first.tool_description if per != "category" else f"{name} tools"
    listed = ", ".join(op.qualified for op in ops)
    return AgentSkill(
        id=name,
        name=name,
        description=f"{description} Operations: {listed}.",
        tags=sorted({first.category, *(op.tool for op in ops)}),
        examples=[f"{op.qualified} {{...}}" for op in ops],  # the text form, one per operation
        input_modes=MODES,
        output_modes=MODES,
    )
