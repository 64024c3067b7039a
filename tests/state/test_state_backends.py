"""The ephemeral state backends behave alike: memory:// always, redis:// against a throwaway
redis-server on a free port (skipped when redis-server is not installed, failed when CI=true)."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from collections.abc import AsyncIterator, Iterator

import anyio
import pytest

from toolwire.state import StateBackend, state_from_url


@pytest.fixture(scope="module")
def redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    server = shutil.which("redis-server")
    if server is None:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail("redis-server is not installed")
        pytest.skip("redis-server is not installed")
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    directory = tmp_path_factory.mktemp("redis")
    process = subprocess.Popen(
        [server, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--dir", str(directory)],
        stdout=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        with socket.socket() as probe:
            if probe.connect_ex(("127.0.0.1", port)) == 0:
                break
        time.sleep(0.02)
    try:
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        process.terminate()
        process.wait(timeout=10)


@pytest.fixture(params=["memory", "redis"])
async def state(request: pytest.FixtureRequest) -> AsyncIterator[StateBackend]:
    url = "memory://" if request.param == "memory" else request.getfixturevalue("redis_url")
    backend = state_from_url(url)
    try:
        yield backend
    finally:
        await backend.close()


async def test_values_expire_after_their_ttl(state: StateBackend) -> None:
    await state.set("k", b"v", 60)
    await state.set("short", b"v", 0.001)
    await anyio.sleep(0.01)
    assert (await state.get("k"), await state.get("short"), await state.get("none")) == (
        b"v",
        None,
        None,
    )


async def test_logs_number_entries_keep_the_newest_and_read_after_a_position(
    state: StateBackend,
) -> None:
    seqs = [await state.append("log", f"e{i}".encode(), 60, max_len=3) for i in range(5)]
    assert seqs == [1, 2, 3, 4, 5]
    assert await state.read_after("log", 3) == [(4, b"e3"), (5, b"e4")]
    assert [seq for seq, _ in await state.read_after("log", 0)] == [3, 4, 5]


async def test_sets_add_once_hold_a_bound_remove_and_expire(state: StateBackend) -> None:
    assert [await state.set_add("set", m, 60, max_members=2) for m in (b"a", b"a", b"b")] == [
        1,
        0,
        1,
    ]
    assert await state.set_add("set", b"c", 60, max_members=2) == -1
    assert await state.set_members("set") == {b"a", b"b"}
    assert (await state.set_has("set", b"a"), await state.set_has("set", b"c")) == (True, False)
    assert (await state.set_remove("set", b"a"), await state.set_remove("set", b"a")) == (
        True,
        False,
    )
    await state.set_add("short", b"x", 0.001, max_members=2)
    await anyio.sleep(0.01)
    assert await state.set_members("short") == set()


async def test_a_published_message_reaches_every_subscriber(state: StateBackend) -> None:
    received: list[bytes] = []
    with anyio.fail_after(5):
        async with state.subscribe("ch") as first, state.subscribe("ch") as second:
            await state.publish("ch", b"hello")
            received.append(await first.__anext__())
            received.append(await second.__anext__())
    assert received == [b"hello", b"hello"]


def test_an_unknown_state_url_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown state backend"):
        state_from_url("etcd://x")


async def test_a_redis_that_accepts_and_never_answers_times_out_instead_of_hanging() -> None:
    import redis.exceptions

    from toolwire.state.redis import COMMAND_TIMEOUT_S

    with socket.socket() as silent:  # a listener that accepts connections and never replies
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        state = state_from_url(f"redis://127.0.0.1:{silent.getsockname()[1]}/0")
        started = time.monotonic()
        with pytest.raises(Exception) as raised:
            with anyio.fail_after(COMMAND_TIMEOUT_S * 5):
                await state.get("anything")
        assert isinstance(raised.value, redis.exceptions.TimeoutError)  # its own deadline
        assert time.monotonic() - started < COMMAND_TIMEOUT_S * 5
        await state.close()


async def test_redis_channels_are_per_database(redis_url: str) -> None:
    """Pub/sub ignores Redis database numbers: the backend names channels per database, so two
    deployments sharing a server through databases 1 and 2 never hear each other, while two
    instances of one deployment (same database) do."""
    base = redis_url.rsplit("/", 1)[0]
    one, one_again, two = (state_from_url(f"{base}/{db}") for db in (1, 1, 2))
    try:
        async with two.subscribe("catalog:reload") as other, one.subscribe("catalog:reload") as own:
            await one_again.publish("catalog:reload", b"from db 1")
            with anyio.fail_after(5):
                assert await anext(own) == b"from db 1"
            await two.publish("catalog:reload", b"from db 2")
            with anyio.fail_after(5):
                assert await anext(other) == b"from db 2"  # db 1's message never reached it
    finally:
        for backend in (one, one_again, two):
            await backend.close()
