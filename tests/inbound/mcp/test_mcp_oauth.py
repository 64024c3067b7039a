"""OAuth access tokens (JWT) at the MCP door: a local authorization server on 127.0.0.1 publishes
RFC 8414 metadata and a JWKS of keys generated here; the gateway (in process) verifies tokens
against it, maps their subject to an API key, bills that key's account, and never passes the
token to an upstream (a local Tavily-contract server records what it receives)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.testclient import TestClient

from tests.inbound.mcp.conftest import ACCEPT, ADMIN_KEY, Gateway, make_key
from tests.upstream import contracts
from tests.upstream.servers import serving
from toolwire.app import create_app
from toolwire.oauth import verifier as oauth
from toolwire.settings import Settings
from toolwire.testing import TOOLWIRE

REPO = Path(__file__).resolve().parents[3]
AUDIENCE = "http://127.0.0.1:8787/mcp"
CANARY = "tvly-oauth-canary-7f3a9b"


@dataclass
class Keys:
    rsa: rsa.RSAPrivateKey
    ec: ec.EllipticCurvePrivateKey
    other_rsa: rsa.RSAPrivateKey
    published: list[dict[str, Any]] = field(default_factory=list)
    """What the JWKS endpoint serves (a test may rotate a key in)."""
    jwks_fetches: int = 0


@dataclass
class World:
    http: TestClient
    issuer: str
    keys: Keys
    account_id: str
    narrow_account_id: str
    api_key: str
    upstream_hits: list[dict[str, Any]]

    def token(
        self,
        *,
        sub: str = "alice",
        alg: str = "RS256",
        kid: str = "rsa1",
        key: Any = None,
        **claims: Any,
    ) -> str:
        now = int(time.time())
        payload: dict[str, Any] = {
            "iss": self.issuer,
            "sub": sub,
            "aud": AUDIENCE,
            "iat": now,
            "exp": now + 300,
            **claims,
        }
        payload = {k: v for k, v in payload.items() if v is not None}
        signer = key or (self.keys.ec if alg == "ES256" else self.keys.rsa)
        return jwt.encode(payload, signer, algorithm=alg, headers={"kid": kid})

    def as_caller(self, credential: str) -> Gateway:
        return Gateway(self.http, credential, "", "")


def _jwk(public: Any, kid: str, alg: str) -> dict[str, Any]:
    jwk: dict[str, Any] = json.loads(jwt.algorithms.get_default_algorithms()[alg].to_jwk(public))
    return {**jwk, "kid": kid, "alg": alg, "use": "sig"}


def _authorization_server(keys: Keys) -> Starlette:
    keys.published = [
        _jwk(keys.rsa.public_key(), "rsa1", "RS256"),
        _jwk(keys.ec.public_key(), "ec1", "ES256"),
    ]

    def jwks(request: Request) -> Response:
        keys.jwks_fetches += 1
        return JSONResponse({"keys": keys.published})

    def metadata(request: Request) -> Response:
        issuer = str(request.base_url).rstrip("/")
        return JSONResponse({"issuer": issuer, "jwks_uri": issuer + "/jwks"})

    return Starlette(
        routes=[
            Route("/jwks", jwks),
            Route("/.well-known/oauth-authorization-server", metadata),
        ]
    )


def _set_secret(data: Path, name: str, value: str) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TOOLWIRE_")}
    done = subprocess.run(
        [TOOLWIRE, "secrets", "set", name, "--data-dir", str(data)],
        input=value + "\n",
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    data: Path = tmp_path_factory.mktemp("mcp-oauth")
    keys = Keys(
        rsa.generate_private_key(public_exponent=65537, key_size=2048),
        ec.generate_private_key(ec.SECP256R1()),
        rsa.generate_private_key(public_exponent=65537, key_size=2048),
    )
    hits: list[dict[str, Any]] = []
    _set_secret(data, "tavily_api_key", CANARY)
    with (
        serving(_authorization_server(keys)) as auth_server,
        serving(contracts.tavily(CANARY, hits)) as tavily,
    ):
        config = {
            "include": [str(REPO / "examples/providers/tavily.yaml")],
            "upstreams": {"tavily": {"base_url": tavily.url, "allow_private_networks": True}},
            "prices": {"echo": 0.5, "search": 0.25},
        }
        (data / "toolwire.yaml").write_text(json.dumps(config))
        base = Settings(
            data_dir=data,
            admin_key=ADMIN_KEY,
            config=data / "toolwire.yaml",
            builtin_profiles=("conformance",),
        )
        # First start: accounts and keys (whose ids the operator then maps subjects to).
        with TestClient(create_app(base), base_url="http://127.0.0.1:8787") as http:
            account_id, api_key = make_key(http, 10, ["*"])
            narrow_account_id, narrow_key = make_key(http, 10, ["echo"])
        key_id, narrow_id = api_key[3:15], narrow_key[3:15]
        settings = base.with_overrides(
            oauth_authorization_servers=(auth_server.url,),
            oauth_subject_keys=(f"alice={key_id}", f"{auth_server.url}#bob={narrow_id}"),
        )
        with TestClient(create_app(settings), base_url="http://127.0.0.1:8787") as http:
            yield World(http, auth_server.url, keys, account_id, narrow_account_id, api_key, hits)


def _balance(world: World, account_id: str) -> float:
    response = world.http.get(
        f"/admin/v1/accounts/{account_id}/balance",
        headers={"authorization": f"Bearer {ADMIN_KEY}"},
    )
    assert response.status_code == 200, response.text
    balance: float = response.json()["balance"]
    return balance


def _tool_names(response: Any) -> set[str]:
    assert response.status_code == 200, response.text
    return {t["name"] for t in response.json()["result"]["tools"]}


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _compact(header: dict[str, Any], payload: dict[str, Any], signature: bytes = b"") -> str:
    return f"{_b64(json.dumps(header).encode())}.{_b64(json.dumps(payload).encode())}." + _b64(
        signature
    )


def _claims(world: World, **extra: Any) -> dict[str, Any]:
    now = int(time.time())
    return {"iss": world.issuer, "sub": "alice", "aud": AUDIENCE, "exp": now + 300, **extra}


# -- accepted tokens ----------------------------------------------------------------------------


def test_a_valid_token_lists_and_calls_tools_billed_to_the_mapped_account(world: World) -> None:
    caller = world.as_caller(world.token())
    before = _balance(world, world.account_id)
    listed = caller.modern("tools/list")
    called = caller.modern("tools/call", {"name": "echo", "arguments": {"message": "hi"}})
    assert {"echo", "search.web"} <= _tool_names(listed)
    result = called.json()["result"]
    assert result["isError"] is False
    assert result["_meta"]["io.toolwire/meta"]["credits_charged"] == 0.5
    assert _balance(world, world.account_id) == before - 0.5


def test_an_es256_token_opens_a_session_and_calls_a_tool(world: World) -> None:
    caller = world.as_caller(world.token(alg="ES256", kid="ec1", aud=["other", AUDIENCE + "/"]))
    session = caller.initialize()
    called = caller.call(session, "tools/call", {"name": "echo", "arguments": {"message": "x"}})
    assert called.json()["result"]["isError"] is False


def test_rest_accepts_the_same_token(world: World) -> None:
    response = world.http.post(
        "/api/v1/execute",
        json={"tool": "echo", "input": {"message": "rest"}},
        headers={"authorization": f"Bearer {world.token()}"},
    )
    assert response.status_code == 200, response.text


def test_api_keys_still_work_beside_tokens(world: World) -> None:
    listed = world.as_caller(world.api_key).modern("tools/list")
    assert "echo" in _tool_names(listed)


def test_token_scopes_narrow_the_keys_scopes(world: World) -> None:
    caller = world.as_caller(world.token(scope="openid toolwire:echo"))
    assert _tool_names(caller.modern("tools/list")) == {"echo"}
    denied = caller.modern("tools/call", {"name": "calc", "arguments": {}})
    assert denied.json()["error"]["data"]["code"] == "TOOL_NOT_FOUND"  # as if it did not exist


def test_token_scopes_never_widen_the_keys_scopes(world: World) -> None:
    caller = world.as_caller(world.token(sub="bob", scope="toolwire:*"))
    before = _balance(world, world.narrow_account_id)
    assert _tool_names(caller.modern("tools/list")) == {"echo"}
    caller.modern("tools/call", {"name": "echo", "arguments": {"message": "bob"}})
    assert _balance(world, world.narrow_account_id) == before - 0.5


def test_the_token_never_reaches_an_upstream(world: World) -> None:
    token = world.token()
    caller = world.as_caller(token)
    called = caller.modern("tools/call", {"name": "search.web", "arguments": {"query": "mcp"}})
    assert called.json()["result"]["isError"] is False, called.text
    sent = world.upstream_hits[-1]
    assert sent["headers"]["authorization"] == f"Bearer {CANARY}"
    assert not any(token in str(value) for value in sent.values())
    assert not any(token.split(".")[2] in str(v) for v in sent["headers"].values())


# -- rejected tokens ----------------------------------------------------------------------------


def _rejected(world: World, credential: str) -> None:
    response = world.as_caller(credential).modern("tools/list")
    challenge = response.headers.get("www-authenticate", "")
    assert response.status_code == 401
    assert 'error="invalid_token"' in challenge
    prm = 'resource_metadata="http://127.0.0.1:8787/.well-known/oauth-protected-resource/mcp"'
    assert prm in challenge


def test_a_token_for_another_audience_is_rejected(world: World) -> None:
    _rejected(world, world.token(aud="https://other.example/mcp"))
    _rejected(world, world.token(aud=None))


def test_a_token_from_an_unconfigured_issuer_is_rejected(world: World) -> None:
    _rejected(world, world.token(iss="http://127.0.0.1:1/evil"))


def test_an_expired_token_is_rejected(world: World) -> None:
    now = int(time.time())
    _rejected(world, world.token(iat=now - 7200, exp=now - 3600))


def test_a_token_not_yet_valid_is_rejected(world: World) -> None:
    _rejected(world, world.token(nbf=int(time.time()) + 3600))


def test_a_token_with_a_bad_signature_is_rejected(world: World) -> None:
    _rejected(world, world.token(key=world.keys.other_rsa))
    good = world.token().split(".")
    _rejected(world, ".".join([*good[:2], good[2][::-1]]))


def test_an_unsigned_alg_none_token_is_rejected(world: World) -> None:
    _rejected(world, _compact({"alg": "none", "kid": "rsa1"}, _claims(world)))
    _rejected(world, _compact({"alg": "none"}, _claims(world)))


def test_an_hs256_token_keyed_with_the_public_key_is_rejected(world: World) -> None:
    pem = world.keys.rsa.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    header = {"alg": "HS256", "kid": "rsa1", "typ": "JWT"}
    unsigned = _compact(header, _claims(world)).rsplit(".", 1)[0]
    mac = hmac.new(pem, unsigned.encode(), hashlib.sha256).digest()
    _rejected(world, f"{unsigned}.{_b64(mac)}")


def test_a_token_signed_with_an_unknown_kid_is_rejected(world: World) -> None:
    _rejected(world, world.token(kid="rotated-away", key=world.keys.other_rsa))
    _rejected(world, world.token(kid="ec1"))  # an RS256 token naming the EC key


def test_unknown_kids_do_not_make_the_gateway_refetch_keys_per_request(world: World) -> None:
    world.as_caller(world.token()).modern("tools/list")  # keys fetched by now
    before = world.keys.jwks_fetches
    for _ in range(5):
        _rejected(world, world.token(kid="nope", key=world.keys.other_rsa))
    assert world.keys.jwks_fetches - before <= 1


def test_a_key_rotated_in_is_fetched_on_its_first_use(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(oauth, "REFETCH_MIN_S", 0.0)
    world.as_caller(world.token()).modern("tools/list")  # the old key set is cached
    rotated = _jwk(world.keys.other_rsa.public_key(), "rsa2", "RS256")
    monkeypatch.setattr(world.keys, "published", [*world.keys.published, rotated])
    caller = world.as_caller(world.token(kid="rsa2", key=world.keys.other_rsa))
    assert "echo" in _tool_names(caller.modern("tools/list"))


def test_a_token_whose_subject_maps_to_no_key_is_rejected(world: World) -> None:
    _rejected(world, world.token(sub="mallory"))
    _rejected(world, world.token(sub=None))


def test_garbage_credentials_get_invalid_token_and_none_get_no_error_code(world: World) -> None:
    _rejected(world, "not.a.jwt")
    _rejected(world, "tw_not_a_real_key")
    missing = world.http.post(
        "/mcp", json={"jsonrpc": "2.0", "id": 1, "method": "ping"}, headers={"accept": ACCEPT}
    )
    assert missing.status_code == 401
    assert "error=" not in missing.headers["www-authenticate"]
    assert "resource_metadata=" in missing.headers["www-authenticate"]


# -- pure helpers -------------------------------------------------------------------------------


def test_audiences_compare_canonically() -> None:
    assert oauth.canonical_uri("HTTPS://GW.Example.com:443/mcp/") == "https://gw.example.com/mcp"
    assert oauth.canonical_uri("http://127.0.0.1:8787/mcp#x") == "http://127.0.0.1:8787/mcp"
    assert oauth.canonical_uri("https://gw.example.com/MCP") != "https://gw.example.com/mcp"


def test_subject_mappings_parse_and_a_malformed_one_is_an_error() -> None:
    parsed = oauth.parse_subject_keys(("alice=abc", "https://as.example#bob=def"))
    assert parsed == {"alice": "abc", "https://as.example#bob": "def"}
    with pytest.raises(ValueError):
        oauth.parse_subject_keys(("no-key-id",))


async def test_a_token_narrows_only_the_scopes_and_keeps_the_keys_servers_and_plan(
    world: World,
) -> None:
    """A key limited to a virtual server stays limited through a token (`servers` was dropped
    once when the verifier rebuilt the principal field by field)."""
    from toolwire.core.model import Principal
    from toolwire.core.scopes import ScopeSet

    key = Principal("k1", "acc_1", ScopeSet(["*"]), servers=frozenset({"docs"}), plan="pro")

    async def lookup(key_id: str) -> Principal | None:
        return key if key_id == "k1" else None

    settings = Settings(
        oauth_authorization_servers=(world.issuer,), oauth_subject_keys=("alice=k1",)
    )
    verifier = oauth.OAuthVerifier(settings, lookup)
    narrowed = await verifier.principal(world.token(scope="toolwire:echo"))
    assert narrowed.servers == frozenset({"docs"}) and narrowed.plan == "pro"
    assert narrowed.scopes.permits("echo", "echo", "")
    assert not narrowed.scopes.permits("calc", "evaluate", "")
    assert not narrowed.is_admin
