"""The SDK's `execute` against a real gateway: results with their receipt, and every failure
raised as the exception class its error code names."""

from __future__ import annotations

import socket
from collections.abc import Callable
from typing import Any

import pytest

from toolwire.client import (
    InvalidArguments,
    Meta,
    PayloadTooLarge,
    Result,
    ToolNotFound,
    ToolwireError,
    TransportError,
    TransportTimeout,
    Unauthenticated,
)
from toolwire.testing import RunningGateway, free_port

ClientFactory = Callable[..., Any]


async def test_execute_returns_the_data_and_a_receipt_with_the_charge(
    client: Any, echo_price: float
) -> None:
    before = (await client.me())["balance"]

    result = await client.execute("echo", {"message": "hi"})

    assert isinstance(result, Result)
    assert isinstance(result.meta, Meta)
    assert result.data is not None
    assert result.meta.tool == "echo"
    assert result.meta.credits_charged == echo_price
    assert result.meta.balance == before - echo_price
    assert result.meta.request_id
    assert result.meta.latency_ms >= 0


async def test_execute_accepts_tool_and_operation_separately_or_dotted(client: Any) -> None:
    dotted = await client.execute("calc.evaluate", {"expression": "6 * 7"})
    split = await client.execute("calc", {"expression": "6 * 7"}, operation="evaluate")

    assert dotted.data["result"] == split.data["result"] == 42
    assert dotted.meta.credits_charged == 0


async def test_an_unknown_tool_raises_tool_not_found_with_status_404(client: Any) -> None:
    with pytest.raises(ToolNotFound) as caught:
        await client.execute("no_such_tool", {})

    assert caught.value.code == "TOOL_NOT_FOUND"
    assert caught.value.status == 404
    assert caught.value.request_id
    assert caught.value.meta is not None
    assert caught.value.meta.credits_charged == 0


async def test_bad_arguments_raise_invalid_arguments_with_the_failing_paths(client: Any) -> None:
    with pytest.raises(InvalidArguments) as caught:
        await client.execute("calc.evaluate", {"expression": 5})

    assert caught.value.code == "INVALID_ARGUMENTS"
    assert caught.value.status == 422
    assert [e["path"] for e in caught.value.details["errors"]] == ["/expression"]


async def test_a_revoked_key_raises_unauthenticated(
    make_client: ClientFactory, gateway: RunningGateway
) -> None:
    account_id, key = gateway.create_account(credits=1, name="revoked")
    admin = make_client(api_key=gateway.admin_key).admin
    key_id = (await admin.list_keys(account_id))[0]["id"]
    await admin.revoke_key(key_id)

    with pytest.raises(Unauthenticated) as caught:
        await make_client(api_key=key).execute("echo", {"message": "hi"})

    assert caught.value.code == "UNAUTHENTICATED"
    assert caught.value.status == 401


async def test_a_missing_key_raises_unauthenticated(
    make_client: ClientFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("TOOLWIRE_API_KEY", raising=False)

    with pytest.raises(Unauthenticated):
        await make_client(api_key=None).tools()


async def test_a_key_without_the_scope_raises_tool_not_found(
    make_client: ClientFactory, gateway: RunningGateway
) -> None:
    _, key = gateway.create_account(credits=10, scopes=["calc.*"], name="calc-only")
    client = make_client(api_key=key)

    with pytest.raises(ToolNotFound) as caught:
        await client.execute("echo", {"message": "hi"})

    assert caught.value.code == "TOOL_NOT_FOUND"
    assert caught.value.status == 404
    assert (await client.execute("calc.evaluate", {"expression": "1+1"})).data["result"] == 2


async def test_a_body_over_the_limit_raises_payload_too_large(client: Any) -> None:
    with pytest.raises(PayloadTooLarge) as caught:
        await client.execute("echo", {"message": "x" * (1024 * 1024 + 1)})

    assert caught.value.code == "PAYLOAD_TOO_LARGE"
    assert caught.value.status == 413


async def test_every_gateway_error_is_a_toolwire_error(client: Any) -> None:
    with pytest.raises(ToolwireError):
        await client.execute("no_such_tool")


async def test_a_refused_connection_raises_transport_error(make_client: ClientFactory) -> None:
    client = make_client(api_key="tw_x", base_url=f"http://127.0.0.1:{free_port()}")

    with pytest.raises(TransportError) as caught:
        await client.execute("echo", {"message": "hi"})

    assert isinstance(caught.value, ConnectionError)
    assert caught.value.code == "TRANSPORT_ERROR"
    assert caught.value.__cause__ is not None


async def test_a_gateway_that_never_answers_raises_transport_timeout(
    make_client: ClientFactory,
) -> None:
    with socket.socket() as listener:  # accepts connections (backlog) but never answers
        listener.bind(("127.0.0.1", 0))
        listener.listen(8)
        port = listener.getsockname()[1]
        client = make_client(api_key="tw_x", base_url=f"http://127.0.0.1:{port}", timeout=0.2)

        with pytest.raises(TransportTimeout) as caught:
            await client.execute("echo", {"message": "hi"})

    assert isinstance(caught.value, TransportError)
    assert isinstance(caught.value, TimeoutError)


async def test_me_describes_the_calling_key(client: Any, account: tuple[str, str]) -> None:
    me = await client.me()

    assert me["account_id"] == account[0]
    assert me["is_admin"] is False
    assert me["scopes"] == ["*"]
    assert isinstance(me["balance"], int | float)
