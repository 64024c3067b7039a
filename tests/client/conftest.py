"""One real gateway for the SDK tests (started once per session), and each test's client.

`client` runs every test twice: with the blocking `Client` and with `AsyncClient`. Tests await
its methods either way; the sync client's calls are simply wrapped, so one test body proves the
same behaviour for both shells.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import pytest

from toolwire.client import AsyncClient, Client
from toolwire.testing import RunningGateway, start_gateway

ECHO_PRICE = 0.5


@pytest.fixture(scope="session")
def gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningGateway]:
    gw = start_gateway(
        tmp_path_factory.mktemp("sdk-gateway"), config={"prices": {"echo": ECHO_PRICE}}
    )
    try:
        yield gw
    finally:
        gw.stop()


@pytest.fixture(scope="session")
def echo_price() -> float:
    return ECHO_PRICE


@pytest.fixture(scope="session")
def account(gateway: RunningGateway) -> tuple[str, str]:
    """(account_id, key) of an account with 1000 credits and an all-tools key."""
    return gateway.create_account(credits=1000, name="sdk")


class SyncAsAsync:
    """The blocking client's methods, awaitable, so one test body drives both clients."""

    def __init__(self, target: Any) -> None:
        self._target = target

    def __getattr__(self, name: str) -> Any:
        value = getattr(self._target, name)
        if name == "admin":
            return SyncAsAsync(value)
        if not callable(value):
            return value

        async def call(*args: Any, **kwargs: Any) -> Any:
            return value(*args, **kwargs)

        return call


ClientFactory = Callable[..., Any]


@pytest.fixture(params=["sync", "async"])
async def make_client(
    request: pytest.FixtureRequest, gateway: RunningGateway
) -> AsyncIterator[ClientFactory]:
    """`make_client(api_key=..., base_url=...)`: a client of the kind under test, closed after."""
    sync_clients: list[Client] = []
    async_clients: list[AsyncClient] = []

    def make(api_key: str | None = None, base_url: str | None = None, **kwargs: Any) -> Any:
        url = base_url or gateway.url
        if request.param == "sync":
            client = Client(url, api_key=api_key, **kwargs)
            sync_clients.append(client)
            return SyncAsAsync(client)
        aclient = AsyncClient(url, api_key=api_key, **kwargs)
        async_clients.append(aclient)
        return aclient

    yield make
    for client in sync_clients:
        client.close()
    for aclient in async_clients:
        await aclient.close()


@pytest.fixture
def client(make_client: ClientFactory, account: tuple[str, str]) -> Any:
    return make_client(api_key=account[1])


@pytest.fixture
def admin(make_client: ClientFactory, gateway: RunningGateway) -> Any:
    return make_client(api_key=gateway.admin_key).admin
