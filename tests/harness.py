"""Tests start gateways through `toolwire.testing` (shared with bench/)."""

from toolwire.testing import RunningGateway, free_port, running_gateway, start_gateway

__all__ = ["RunningGateway", "free_port", "running_gateway", "start_gateway"]
