"""A `toolwire.core.ports.Channel` that records what a tool sent, for tests of the call path."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from toolwire.core.ports import NO_CLIENT_REQUESTS, ClientRequestError


@dataclass
class RecordingChannel:
    capabilities: dict[str, Any] = field(default_factory=dict)
    progress_reports: list[tuple[float, float | None, str | None]] = field(default_factory=list)
    logs: list[tuple[str, Any, str | None]] = field(default_factory=list)

    @property
    def client_capabilities(self) -> Mapping[str, Any]:
        return self.capabilities

    async def progress(self, progress: float, total: float | None, message: str | None) -> None:
        self.progress_reports.append((progress, total, message))

    async def log(self, level: str, data: Any, logger: str | None = None) -> None:
        self.logs.append((level, data, logger))

    async def request(self, method: str, params: Mapping[str, Any]) -> dict[str, Any]:
        raise ClientRequestError(NO_CLIENT_REQUESTS, f"{method}: a recording channel asks no one")
