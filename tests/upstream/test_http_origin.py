"""Credential confinement: an upstream's credentials reach only its own origin, however the URL was
built (`{+name}` templates, an absolute `path`, origin look-alikes), in every auth mode; a foreign
origin the operator allowed gets the request without them; and the guard under the client refuses
a credential in any form even when the adapter is bypassed."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from typing import Any
from urllib.parse import quote

import httpx
import pytest

from tests.upstream.harness import gateway_over
from tests.upstream.http_app import CLIENT_ID, CLIENT_SECRET, KEY, USER, Api, Recorder
from tests.upstream.servers import Served, serving
from toolwire.upstream.http.origin import (
    Confinement,
    CredentialGuard,
    ForeignOrigin,
    origin_of,
)
from toolwire.upstream.net import make_client
from toolwire.vault import Redactor

SECRETS = {"key": KEY, "user": USER, "oauth_id": CLIENT_ID, "oauth_secret": CLIENT_SECRET}
AUTHS = {
    "header": {"type": "header", "name": "X-Api-Key", "format": "Token {secret}", "secret": "key"},
    "bearer": {"type": "bearer", "secret": "key"},
    "basic": {"type": "basic", "username_secret": "user", "secret": "key"},
    "query": {"type": "query", "name": "api_key", "secret": "key"},
}
URL_SCHEMA = {"type": "object", "properties": {"u": {"type": "string"}}}


@pytest.fixture(scope="module")
def home() -> Iterator[Served]:
    with serving(Api().app()) as served:
        yield served


@pytest.fixture(scope="module")
def other() -> Iterator[tuple[Recorder, Served]]:
    recorder = Recorder()
    with serving(recorder.app()) as served:
        yield recorder, served


def config(base_url: str, auth: dict[str, Any] | None, **upstream: Any) -> dict[str, Any]:
    local: dict[str, Any] = {"base_url": base_url, "allow_private_networks": True, "timeout": 2}
    if auth is not None:
        local["auth"] = auth
    local.update(upstream)

    def op(**where: str) -> dict[str, Any]:
        return {"upstream": "local", "description": "d", "input_schema": URL_SCHEMA, **where}

    return {
        "upstreams": {"local": local},
        "tools": {
            "t": {
                "description": "t",
                "operations": {
                    "url": op(url="{+u}"),
                    "path": op(path="{+u}"),
                    "next": op(url="{+u}/page", method="POST"),
                },
            }
        },
    }


@pytest.mark.parametrize("mode", sorted(AUTHS))
@pytest.mark.parametrize("operation", ["t.url", "t.path", "t.next"])
async def test_a_url_from_arguments_that_leaves_the_origin_is_refused_and_nothing_is_sent(
    home: Served,
    other: tuple[Recorder, Served],
    sqlite_url: str,
    mode: str,
    operation: str,
) -> None:
    recorder, elsewhere = other
    before = len(recorder.requests)
    async with gateway_over(sqlite_url, config(home.url, AUTHS[mode]), SECRETS) as h:
        got = await h.call(operation, u=f"{elsewhere.url}/x")
        same = await h.call("t.url", u=f"{home.url}/auth/{mode}")
    assert got.error is not None
    assert (got.error.code, got.error.details["reason"]) == ("FORBIDDEN", "foreign_origin")
    assert got.error.details["origin"] == elsewhere.url
    assert got.meta.credits_charged == 0
    assert len(recorder.requests) == before
    assert same.ok and same.data == {"ok": True, "mode": mode}


@pytest.mark.parametrize(
    "shape",
    [
        "http://localhost:{own}/auth/bearer",  # another name for the same address: another origin
        "https://127.0.0.1:{own}/auth/bearer",  # another scheme
        "http://127.0.0.1:{other}/auth/bearer",  # another port
        "http://127.0.0.1:{own}@127.0.0.1:{other}/x",  # userinfo that looks like the host
        "http://127.0.0.1:{other}#@127.0.0.1:{own}/",
        "http://127.0.0.1:{other}?@127.0.0.1:{own}/",
        "http://%31%32%37.0.0.1:{own}/x",  # a percent-encoded host
        "//127.0.0.1:{other}/x",  # scheme-relative: stays a path under base_url
    ],
)
async def test_origin_look_alikes_never_carry_the_credential_elsewhere(
    home: Served, other: tuple[Recorder, Served], sqlite_url: str, shape: str
) -> None:
    recorder, elsewhere = other
    before = len(recorder.requests)
    url = shape.format(own=home.port, other=elsewhere.port)
    async with gateway_over(sqlite_url, config(home.url, AUTHS["bearer"]), SECRETS) as h:
        got = await h.call("t.url", u=url)
    assert all(KEY not in repr(r) for r in recorder.requests[before:])
    if got.error is not None:
        assert got.error.code in {"FORBIDDEN", "UPSTREAM_ERROR"}, got.error
        assert KEY not in repr(got.error.to_dict())


@pytest.mark.parametrize(
    ("url", "origin"),
    [
        ("HTTPS://API.Example.COM", ("https", "api.example.com", 443)),
        ("https://api.example.com.:443/v1", ("https", "api.example.com", 443)),
        ("http://api.example.com:80", ("http", "api.example.com", 80)),
        ("https://api.example.com:8443", ("https", "api.example.com", 8443)),
        ("https://user:pw@api.example.com/", ("https", "api.example.com", 443)),
        ("https://api.example.com\\@evil.test/", ("https", "evil.test", 443)),
        ("https://evil.test\\@api.example.com/", ("https", "api.example.com", 443)),
        ("https://bücher.example/", ("https", "xn--bcher-kva.example", 443)),
        ("https://%61pi.example.com/", ("https", "%61pi.example.com", 443)),
        ("http://[::1]:8080/", ("http", "::1", 8080)),
    ],
)
def test_an_origin_is_compared_the_way_the_client_will_connect(
    url: str, origin: tuple[str, str, int]
) -> None:
    assert origin_of(url) == origin


def test_a_url_without_an_http_origin_has_none() -> None:
    with pytest.raises(ValueError, match="scheme"):
        origin_of("file:///etc/passwd")


@pytest.mark.parametrize("mode", sorted(AUTHS))
async def test_an_allowed_foreign_origin_gets_the_request_without_any_credential(
    home: Served, other: tuple[Recorder, Served], sqlite_url: str, mode: str
) -> None:
    recorder, elsewhere = other
    before = len(recorder.requests)
    cfg = config(home.url, AUTHS[mode], allow_foreign_origins=[elsewhere.url])
    async with gateway_over(sqlite_url, cfg, SECRETS) as h:
        got = await h.call("t.url", u=f"{elsewhere.url}/next?page=2")
        still_home = await h.call("t.url", u=f"{home.url}/auth/{mode}")
    assert got.ok, got.error
    [sent] = recorder.requests[before:]
    assert sent["url"] == f"{elsewhere.url}/next?page=2"
    assert "authorization" not in sent["headers"] and "x-api-key" not in sent["headers"]
    assert KEY not in repr(sent) and quote(KEY, safe="") not in repr(sent)
    assert still_home.ok, still_home.error


async def test_any_foreign_origin_can_be_allowed_without_credentials(
    home: Served, other: tuple[Recorder, Served], sqlite_url: str
) -> None:
    recorder, elsewhere = other
    cfg = config(home.url, AUTHS["bearer"], allow_foreign_origins=["*"])
    async with gateway_over(sqlite_url, cfg, SECRETS) as h:
        got = await h.call("t.url", u=f"{elsewhere.url}/any")
    assert got.ok, got.error
    assert "authorization" not in recorder.requests[-1]["headers"]


async def test_an_oauth_token_endpoint_on_its_own_origin_is_reached(
    home: Served, other: tuple[Recorder, Served], sqlite_url: str
) -> None:
    with serving(Api().app()) as token_server:  # the token endpoint, on another origin
        auth = {
            "type": "oauth2_client_credentials",
            "token_url": f"{token_server.url}/oauth/token",
            "client_id_secret": "oauth_id",
            "secret": "oauth_secret",
        }
        async with gateway_over(sqlite_url, config(home.url, auth), SECRETS) as h:
            refused = await h.call("t.url", u=f"{other[1].url}/x")
            # the API itself rejects the token (another server issued it): reached, and 401
            reached = await h.call("t.url", u=f"{home.url}/protected")
    assert refused.error is not None and refused.error.details["reason"] == "foreign_origin"
    assert reached.error is not None and reached.error.details["status"] == 401


def test_an_upstream_with_auth_but_no_base_url_is_a_config_error(sqlite_url: str) -> None:
    from toolwire.config import ConfigError, build_catalog, parse_config

    raw = config("", AUTHS["bearer"])
    raw["upstreams"]["local"].pop("base_url")
    with pytest.raises(ConfigError, match="upstreams/local: an upstream with auth needs base_url"):
        build_catalog(parse_config({"builtins": {"include": []}, **raw}, "t.yaml"))


@pytest.mark.parametrize(
    "carry",
    [
        lambda r: r.headers.__setitem__("X-Anything", f"Bearer {KEY}"),
        lambda r: r.headers.__setitem__(
            "Authorization", "Basic " + base64.b64encode(f"someone:{KEY}".encode()).decode()
        ),
        lambda r: setattr(r, "url", r.url.copy_add_param("k", KEY)),
        lambda r: setattr(r, "url", r.url.copy_with(path="/" + quote(KEY, safe=""))),
    ],
    ids=["header", "basic", "query", "path"],
)
async def test_the_guard_under_the_client_refuses_a_credential_in_any_form_to_a_foreign_origin(
    home: Served, other: tuple[Recorder, Served], carry: Any
) -> None:
    recorder, elsewhere = other
    before = len(recorder.requests)
    redactor = Redactor([KEY])
    confinement = Confinement.of([home.url])
    client = make_client(
        timeout=2,
        allow_private_networks=True,
        guard=lambda inner: CredentialGuard(inner, confinement, redactor),
    )
    async with client:
        request = client.build_request("GET", f"{elsewhere.url}/x")
        carry(request)
        with pytest.raises(ForeignOrigin):
            await client.send(request)
        plain = await client.get(f"{elsewhere.url}/plain")
        own = client.build_request("GET", f"{home.url}/auth/bearer")
        own.headers["Authorization"] = f"Bearer {KEY}"
        mine = await client.send(own)
    assert [r["url"] for r in recorder.requests[before:]] == [f"{elsewhere.url}/plain"]
    assert (plain.status_code, mine.status_code) == (200, 200)
    assert isinstance(ForeignOrigin("x"), httpx.TransportError)


async def test_the_reported_input_a_next_link_to_another_host_is_refused(
    home: Served, sqlite_url: str
) -> None:
    cfg = config(home.url, AUTHS["bearer"])
    cfg["tools"]["t"]["operations"]["next"] = {
        "upstream": "local",
        "description": "follow a pagination link",
        "input_schema": {"type": "object", "properties": {"next": {"type": "string"}}},
        "url": "{+next}",
    }
    async with gateway_over(sqlite_url, cfg, SECRETS) as h:
        got = await h.call("t.next", next="http://other-host.test/x")
    assert got.error is not None
    assert got.error.details == {
        "upstream": "local",
        "reason": "foreign_origin",
        "origin": "http://other-host.test",
    }
