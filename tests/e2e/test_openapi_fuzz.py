"""Schemathesis against the complete `/openapi.json` of a real gateway: 0 server errors.

Every operation of the document is fuzzed twice: with inputs the schema allows (path ids of real
accounts and keys, so handlers run past their look-ups) and with inputs it forbids (Schemathesis'
negative mode: wrong types, missing required fields, unknown fields). Admin operations go with
the admin key, the others with a demo key. No response may be a 5xx. Bounded: a fixed number of
examples per operation, derandomized (the same cases every run), and a wall-clock budget.
"""

from __future__ import annotations

import contextlib
import json
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from toolwire.testing import RunningGateway, start_gateway

schemathesis = pytest.importorskip("schemathesis")
hypothesis = pytest.importorskip("hypothesis")

EXAMPLES_PER_OPERATION = 12
BUDGET_S = 75.0


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningGateway]:
    gw = start_gateway(tmp_path_factory.mktemp("openapi-fuzz"), config={"prices": {"echo": 0.5}})
    try:
        yield gw
    finally:
        gw.stop()


@dataclass
class World:
    gw: RunningGateway
    demo_key: str
    path_parameters: dict[str, str]


@pytest.fixture(scope="module")
def world(gateway: RunningGateway) -> World:
    account_id, demo_key = gateway.create_account(credits=1_000, name="fuzz")
    with gateway.admin() as admin:
        victim = admin.post(f"/admin/v1/accounts/{account_id}/keys", json={"name": "victim"})
        victim.raise_for_status()
        providers = admin.get(f"/admin/v1/accounts/{account_id}/byok").json()["providers"]
    return World(
        gateway,
        demo_key,
        {
            "account_id": account_id,
            "key_id": victim.json()["key"]["id"],
            "provider": providers[0] if providers else "openai",
            "name": "calc.evaluate",
        },
    )


def _cases(world: World) -> Iterator[tuple[Any, Any, dict[str, str]]]:
    """(operation, strategy, headers) for every operation, positive with real ids, then negative."""
    document = httpx.get(world.gw.url + "/openapi.json").json()
    schema = schemathesis.openapi.from_dict(document)
    modes = schemathesis.GenerationMode
    for result in schema.get_all_operations():
        op = result.ok()
        key = world.gw.admin_key if "admin" in (op.tags or []) else world.demo_key
        headers = {"authorization": f"Bearer {key}"}
        known = {p: v for p, v in world.path_parameters.items() if op.get_parameter(p, "path")}
        yield op, op.as_strategy(modes.POSITIVE, path_parameters=known or None), headers
        yield op, op.as_strategy(modes.NEGATIVE), headers


def test_no_operation_of_the_openapi_document_gives_a_server_error(world: World) -> None:
    failures: list[str] = []
    sent = 0
    deadline = time.monotonic() + BUDGET_S
    settings = hypothesis.settings(
        max_examples=EXAMPLES_PER_OPERATION,
        deadline=None,
        database=None,
        derandomize=True,
        phases=[hypothesis.Phase.generate],
        suppress_health_check=list(hypothesis.HealthCheck),
    )
    with httpx.Client(base_url=world.gw.url, timeout=30) as http:

        def send(*, case: Any, headers: dict[str, str]) -> None:
            nonlocal sent
            sent += 1
            request = case.as_transport_kwargs(base_url=world.gw.url, headers=headers)
            response = http.request(
                request["method"],
                request["url"],
                params=request.get("params"),
                headers=request.get("headers"),
                content=_content(request),
            )
            if response.status_code >= 500:
                failures.append(
                    f"{case.method} {request['url']} {request.get('params')} "
                    f"{_content(request)!r:.200} -> {response.status_code} {response.text[:200]}"
                )

        for _op, strategy, headers in _cases(world):
            if time.monotonic() > deadline:
                break
            # Unsatisfiable: nothing about this operation can be made invalid (its positive run
            # covers it)
            with contextlib.suppress(hypothesis.errors.Unsatisfiable):
                settings(hypothesis.given(case=strategy)(_bound(send, headers)))()
    assert failures == []
    assert sent > 200  # the budget let the fuzzing actually run
    assert "Traceback" not in world.gw.logs()


def _bound(send: Callable[..., None], headers: dict[str, str]) -> Callable[[Any], None]:
    def run(case: Any) -> None:
        send(case=case, headers=headers)

    return run


def _content(request: dict[str, Any]) -> bytes | None:
    if "json" in request:  # the stdlib writes what orjson will not (big integers, NaN)
        return json.dumps(request["json"]).encode()
    data = request.get("data")
    if isinstance(data, str):
        return data.encode()
    return data if isinstance(data, bytes) else None
