"""The doors of the matrix, one row each, and the cells known to fail today.

Adding a door means adding one row to `DOORS`: write a class with the `Door` face
(tests/inbound/door_matrix/door.py; subclass `PortalDoor` to run an async client): `list_tools`
maps the door's listing back to canonical `tool.operation`, `call` normalises its answer into
an `Answer`, `call_cancelled` cancels the door's own way (for A2A: `CancelTask`), and
`expected_error` reads the door's own error table (for A2A: `TASK_ERRORS` and
`ADMISSION` in toolwire/inbound/a2a/messages.py), never a literal. Every behaviour then
runs over it. A cell that fails because of a known drift gets a row in `DRIFTS`, which makes it
a strict xfail: it turns into a failure the day the drift is fixed, so the row is removed with
the fix.
"""

from __future__ import annotations

from collections.abc import Callable

from tests.inbound.door_matrix.a2a_door import A2ADoor
from tests.inbound.door_matrix.door import Door, World
from tests.inbound.door_matrix.http_doors import OpenAIDoor, RestDoor, SdkDoor
from tests.inbound.door_matrix.mcp_doors import (
    LegacySseDoor,
    mcp_handshake,
    mcp_modern,
    stdio_local,
    stdio_url,
)

DoorFactory = Callable[[World], Door]

DOORS: dict[str, DoorFactory] = {
    "rest": RestDoor,
    "openai": OpenAIDoor,
    "mcp-stateless": mcp_modern,
    "mcp-handshake": mcp_handshake,
    "legacy-sse": LegacySseDoor,
    "stdio-local": stdio_local,
    "stdio-url": stdio_url,
    "sdk": SdkDoor,
    "a2a": A2ADoor,
}
"""Door name -> factory over the shared `World` (one gateway, one portal)."""

DRIFTS: dict[tuple[str, str], str] = {}
"""(behaviour test name, door name) -> why that cell fails today."""

EVERY_DOOR_DRIFTS: dict[str, str] = {}
"""Behaviour test name -> why it fails today at every door."""


def drift(behaviour: str, door: str) -> str | None:
    """Why the cell (behaviour, door) is expected to fail today, or None."""
    return EVERY_DOOR_DRIFTS.get(behaviour) or DRIFTS.get((behaviour, door))
