"""The declarative HTTP adapter against a local API: argument mapping, every auth mode, response
mapping, and every failure normalised to a stable code with the provider's status, no secret
and no charge."""

from __future__ import annotations

import gzip
import socket
import struct
import threading
from collections.abc import Iterator
from typing import Any

import pytest

from tests.upstream.harness import gateway_over
from tests.upstream.http_app import CLIENT_ID, CLIENT_SECRET, KEY, USER, Api
from tests.upstream.servers import Served, serving
from tests.upstream.test_http1 import bomb, gzipped
from tests.upstream.test_http1_retry import DropsTheSecond
from tests.upstream.test_sockets import port_of, serve
from tests.upstream.test_transport import Server

OBJ = {"type": "object"}
PRICE = 1


@pytest.fixture(scope="module")
def api() -> Iterator[tuple[Api, Served]]:
    state = Api()
    with serving(state.app()) as served:
        yield state, served


def op(path: str, method: str = "GET", schema: dict[str, Any] | None = None, **more: Any) -> Any:
    return {
        "upstream": more.pop("upstream", "local"),
        "description": f"{method} {path}",
        "input_schema": schema or OBJ,
        "method": method,
        "path": path,
        **more,
    }


def config(url: str, auth: dict[str, Any] | None = None, **upstream: Any) -> dict[str, Any]:
    local: dict[str, Any] = {"base_url": url, "allow_private_networks": True, "timeout": 2}
    if auth:
        local["auth"] = auth
    local.update(upstream)
    item_schema = {
        "type": "object",
        "properties": {"item_id": {"type": "string"}, "tags": {"type": "array"}, "n": {}},
        "required": ["item_id"],
    }
    return {
        "upstreams": {"local": local},
        "tools": {
            "api": {
                "description": "the local API",
                "operations": {
                    "item": op(
                        "/items/{item_id}", schema=item_schema, response="{id: id, q: query}"
                    ),
                    "item_trace": op(
                        "/items/{item_id}",
                        schema=item_schema,
                        query="{n: n}",
                        headers="{\"x-trace\": 'abc'}",
                    ),
                    "echo": op("/echo", "POST"),
                    "shaped": op(
                        "/echo", "POST", body="{wrapped: {v: v}, keep: `1`, gone: missing}"
                    ),
                    "auth": op(
                        "/auth/{mode}", schema={"type": "object", "properties": {"mode": {}}}
                    ),
                    "protected": op("/protected"),
                    "fail": op("/fail/{status}", error_message="error.message"),
                    "fail_post": op("/fail/{status}", "POST"),
                    "text": op("/text"),
                    "huge": op("/huge"),
                    "hang": op("/hang"),
                    "flaky_get": op("/flaky"),
                    "flaky_post": op("/flaky", "POST"),
                    "fetch": {
                        "upstream": "local",
                        "description": "GET any URL",
                        "input_schema": {
                            "type": "object",
                            "properties": {"url": {"type": "string"}},
                        },
                        "url": "{+url}",
                    },
                },
            }
        },
        "prices": {"api": PRICE},
    }


SECRETS = {
    "local_key": KEY,
    "local_user": USER,
    "oauth_id": CLIENT_ID,
    "oauth_secret": CLIENT_SECRET,
}


async def test_path_query_headers_and_body_are_mapped_from_the_arguments(
    api: tuple[Api, Served], sqlite_url: str
) -> None:
    _, served = api
    async with gateway_over(sqlite_url, config(served.url)) as h:
        got = await h.call("api.item", item_id="a b&c?d", tags=["x", "y"])
        assert got.ok, got.error
        assert got.data == {"id": "a b&c?d", "q": {"tags": "y"}}
        traced = await h.call("api.item_trace", item_id="7", n=3)
        assert (traced.data["query"], traced.data["header"]) == ({"n": "3"}, "abc")
        echoed = await h.call("api.echo", a=1, b=[True, None])
        assert echoed.data == {"body": {"a": 1, "b": [True, None]}, "method": "POST"}
        shaped = await h.call("api.shaped", v="x")
        assert shaped.data["body"] == {"wrapped": {"v": "x"}, "keep": 1}


@pytest.mark.parametrize(
    "auth",
    [
        {"type": "header", "name": "X-Api-Key", "format": "Token {secret}", "secret": "local_key"},
        {"type": "bearer", "secret": "local_key"},
        {"type": "basic", "username_secret": "local_user", "secret": "local_key"},
        {"type": "query", "name": "api_key", "secret": "local_key"},
    ],
    ids=["header", "bearer", "basic", "query"],
)
async def test_each_auth_mode_injects_the_vault_credential(
    api: tuple[Api, Served], sqlite_url: str, auth: dict[str, Any]
) -> None:
    _, served = api
    async with gateway_over(sqlite_url, config(served.url, auth), SECRETS) as h:
        got = await h.call("api.auth", mode=auth["type"])
        assert got.ok, got.error
        assert got.data == {"ok": True, "mode": auth["type"]}
        assert got.meta.credential_source == "platform"


async def test_oauth_client_credentials_token_is_cached_and_refreshed_after_a_401(
    api: tuple[Api, Served], sqlite_url: str
) -> None:
    state, served = api
    auth = {
        "type": "oauth2_client_credentials",
        "token_url": f"{served.url}/oauth/token",
        "client_id_secret": "oauth_id",
        "secret": "oauth_secret",
        "scopes": ["read"],
    }
    async with gateway_over(sqlite_url, config(served.url, auth), SECRETS) as h:
        before = state.tokens_issued
        assert (await h.call("api.protected")).ok
        assert (await h.call("api.protected")).ok
        assert state.tokens_issued == before + 1
        state.valid_token = "rotated-by-the-provider"
        again = await h.call("api.protected")
        assert again.ok, again.error
        assert state.tokens_issued == before + 2


async def test_a_missing_credential_fails_before_any_credit_moves(
    api: tuple[Api, Served], sqlite_url: str
) -> None:
    _, served = api
    async with gateway_over(
        sqlite_url, config(served.url, {"type": "bearer", "secret": "nope"})
    ) as h:
        got = await h.call("api.auth", mode="bearer")
        assert got.error is not None
        assert (got.error.code, got.error.details["reason"]) == (
            "UPSTREAM_ERROR",
            "credential_missing",
        )
        assert got.meta.credits_charged == 0


@pytest.mark.parametrize(
    ("operation", "arguments", "code", "reason", "status"),
    [
        ("api.fail", {"status": 404}, "UPSTREAM_ERROR", "http_status", 404),
        ("api.fail", {"status": 500}, "UPSTREAM_ERROR", "http_status", 500),
        ("api.text", {}, "UPSTREAM_ERROR", "not_json", 200),
        ("api.huge", {}, "UPSTREAM_ERROR", "too_large", 200),
        ("api.hang", {}, "UPSTREAM_TIMEOUT", "timeout", None),
    ],
)
async def test_upstream_failures_are_normalised_with_the_status_and_never_charged(
    api: tuple[Api, Served],
    sqlite_url: str,
    operation: str,
    arguments: dict[str, Any],
    code: str,
    reason: str,
    status: int | None,
) -> None:
    _, served = api
    cfg = config(
        served.url,
        {"type": "bearer", "secret": "local_key"},
        max_response_bytes=100_000,
        timeout=0.5,
    )
    async with gateway_over(sqlite_url, cfg, SECRETS) as h:
        before = await h.balance()
        got = await h.call(operation, **arguments)
        assert got.error is not None
        assert (got.error.code, got.error.details["reason"]) == (code, reason)
        assert got.error.details.get("status") == status
        assert KEY not in repr(got.error.to_dict())
        assert got.meta.credits_charged == 0
        assert await h.balance() == before


async def test_a_provider_message_is_kept_but_the_echoed_key_is_masked(
    api: tuple[Api, Served], sqlite_url: str
) -> None:
    _, served = api
    async with gateway_over(
        sqlite_url, config(served.url, {"type": "bearer", "secret": "local_key"}), SECRETS
    ) as h:
        got = await h.call("api.fail", status=429)
        assert got.error is not None
        assert got.error.details["provider_message"] == "quota exceeded for Bearer [REDACTED]"
        assert got.error.details["retryable"] is True
        assert KEY not in repr(got.error.to_dict())


def _resetting_server() -> tuple[int, threading.Thread, socket.socket]:
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)

    def run() -> None:
        conn, _ = listener.accept()
        conn.recv(65536)
        conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        conn.close()  # RST instead of an answer

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return listener.getsockname()[1], thread, listener


async def test_a_connection_reset_is_an_upstream_error(sqlite_url: str) -> None:
    port, thread, listener = _resetting_server()
    try:
        async with gateway_over(sqlite_url, config(f"http://127.0.0.1:{port}")) as h:
            got = await h.call("api.echo", a=1)
        assert got.error is not None
        assert (got.error.code, got.error.details["reason"]) == (
            "UPSTREAM_ERROR",
            "connection_reset",
        )
    finally:
        thread.join(timeout=5)
        listener.close()


async def test_a_closed_port_is_unreachable(sqlite_url: str) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    async with gateway_over(sqlite_url, config(f"http://127.0.0.1:{port}")) as h:
        got = await h.call("api.echo", a=1)
    assert got.error is not None
    assert (got.error.code, got.error.details["reason"]) == ("UPSTREAM_ERROR", "unreachable")


async def test_idempotent_operations_are_retried_and_others_are_not(
    api: tuple[Api, Served], sqlite_url: str
) -> None:
    state, served = api
    cfg = config(served.url, retries={"attempts": 3, "backoff": 0.01})
    async with gateway_over(sqlite_url, cfg) as h:
        state.hits["flaky"] = 0
        posted = await h.call("api.flaky_post")
        assert posted.error is not None and posted.error.details["status"] == 503
        assert state.hits["flaky"] == 1
        state.hits["flaky"] = 0
        got = await h.call("api.flaky_get")
        assert got.ok, got.error
        assert got.data == {"ok": True, "attempt": 3}


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:9/",
        "http://10.1.2.3/",
        "http://169.254.169.254/latest/meta-data/",
        "http://[::1]:9/",
        "http://[::ffff:127.0.0.1]:9/",
        "http://100.64.0.1/",
        "http://localhost:9/",
        "http://0.0.0.0:9/",
        "http://[64:ff9b::7f00:1]:9/",  # NAT64 of 127.0.0.1
        "http://[64:ff9b::a9fe:a9fe]/",  # NAT64 of the metadata address
        "http://[64:ff9b:1::808:808]/",  # local-use NAT64 prefix
        "http://[2002:7f00:1::1]:9/",  # 6to4 of 127.0.0.1
        "http://[2002:a00:1::1]/",  # 6to4 of 10.0.0.1
        "http://[::127.0.0.1]:9/",  # IPv4-compatible
        "http://[::ffff:0:7f00:1]:9/",  # IPv4-translated
        "http://[2001:0:4136:e378:8000:63bf:80ff:fffe]/",  # Teredo
        "http://[2600::200:5efe:7f00:1]/",  # ISATAP interface id around 127.0.0.1
        "http://[fec0::1]/",  # site-local
        "http://[fd00:ec2::254]/",  # unique local (the EC2 IPv6 metadata address)
        "http://[ff02::1]/",  # multicast
        "http://192.0.0.8/",
    ],
)
async def test_a_call_time_url_to_a_private_address_is_refused_by_default(
    sqlite_url: str, url: str
) -> None:
    cfg = config("https://api.example.invalid")
    cfg["upstreams"]["local"].pop("allow_private_networks")
    async with gateway_over(sqlite_url, cfg) as h:
        got = await h.call("api.fetch", url=url)
    assert got.error is not None
    assert (got.error.code, got.error.details["reason"]) == ("FORBIDDEN", "private_address")
    assert got.meta.credits_charged == 0


async def test_allow_private_networks_lets_a_configured_upstream_reach_loopback(
    api: tuple[Api, Served], sqlite_url: str
) -> None:
    _, served = api
    async with gateway_over(sqlite_url, config("https://api.example.invalid")) as h:
        got = await h.call("api.fetch", url=f"{served.url}/items/1")
    assert got.ok, got.error
    assert got.data["id"] == "1"


async def test_a_post_the_upstream_read_then_dropped_is_an_upstream_error_sent_once(
    sqlite_url: str,
) -> None:
    server = DropsTheSecond()  # answers a connection's first request, drops the second unanswered
    async with await serve(server.handler) as listening:
        url = f"http://127.0.0.1:{port_of(listening)}"
        async with gateway_over(sqlite_url, config(url)) as h:
            first = await h.call("api.echo", a=1)
            dropped = await h.call("api.echo", a=2)
    assert first.ok, first.error
    assert dropped.error is not None
    assert (dropped.error.code, dropped.error.details["reason"]) == (
        "UPSTREAM_ERROR",
        "connection_reset",
    )
    assert server.methods() == [b"POST", b"POST"]  # the second POST seen once: not sent again
    assert server.accepted == 1


async def test_gzip_is_asked_for_and_decoded_and_a_bomb_is_refused(sqlite_url: str) -> None:
    data = b'{"id": "1", "query": {}}'
    replies = iter([gzipped(gzip.compress(data)), gzipped(bomb(16 << 20)), gzipped(data, b"br")])
    server = Server(lambda head: next(replies))
    async with await serve(server.handler) as listening:
        url = f"http://127.0.0.1:{port_of(listening)}"
        cfg = config(url, max_response_bytes=1 << 20)
        async with gateway_over(sqlite_url, cfg) as h:
            got = await h.call("api.item", item_id="1")
            big = await h.call("api.item", item_id="1")
            coded = await h.call("api.item", item_id="1")
    assert got.ok, got.error
    assert got.data == {"id": "1", "q": {}}
    assert b"\r\naccept-encoding: gzip\r\n" in server.heads[0].lower()
    for failed, reason in ((big, "too_large"), (coded, "undecodable")):
        assert failed.error is not None
        assert (failed.error.code, failed.error.details["reason"]) == ("UPSTREAM_ERROR", reason)
