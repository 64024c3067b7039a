"""A federated server's requests to its client (elicitation, sampling, roots) reach a 2026-07-28
client as multi round-trip requests: toolwire answers the call `input_required` with a sealed
`requestState`, the upstream keeps waiting, and the client's retry carries the call on. The same
holds for a `prompts/get` or `resources/read` whose upstream asks (and, for them, the handshake
era's relay on the request's stream is shown here too).

The upstream is tests/upstream/mcp/servers/asking.py (the official SDK's MCPServer, stdio). The
client is the official `mcp` SDK client on the 2026-07-28 era (it drives the rounds itself),
and raw JSON-RPC over real HTTP where a test needs to hold the requestState in its hands.
"""

from __future__ import annotations

import asyncio
import base64
import secrets
import sys
import time
import warnings
from collections.abc import AsyncIterator, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from typing import Any

import httpx
import httpx2
import mcp_types as types
import pytest
from mcp.client import Client
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.exceptions import MCPError

from tests.support.cluster import redis_url
from tests.upstream.mcp.support import HERE, STARTUP_TIMEOUT_S, gateway, wait_ready
from toolwire.testing import RunningGateway, start_gateway

pytestmark = pytest.mark.timeout(240)

ASKING = {"command": sys.executable, "args": [str(HERE / "servers" / "asking.py")]}
UPSTREAM = {
    **ASKING,
    "era": "handshake",
    "price": 0.5,
    "tools": {"ask_then_work": {"timeout": 1.5}},
}
INPUT_TIMEOUT_S = 4
MODERN = "2026-07-28"
ELICIT = {"elicitation": {}}


@pytest.fixture(scope="module")
def gw(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningGateway]:
    env = {"TOOLWIRE_MCP_INPUT_TIMEOUT_S": str(INPUT_TIMEOUT_S)}
    upstreams = {"ask": UPSTREAM, "modern": {**ASKING, "include": ["resolved_confirm"]}}
    with gateway(tmp_path_factory.mktemp("mrtr"), upstreams, env=env) as running:
        yield running


@asynccontextmanager
async def sdk_client(
    gw: RunningGateway, key: str, mode: str = "auto", **callbacks: Any
) -> AsyncIterator[Client]:
    """The official SDK client: `auto` speaks 2026-07-28 to toolwire, `legacy` the handshake."""
    headers = {"Authorization": f"Bearer {key}"}
    async with httpx2.AsyncClient(headers=headers, timeout=60) as http:
        transport = streamable_http_client(f"{gw.url}/mcp", http_client=http)
        async with Client(transport, mode=mode, cache=None, **callbacks) as client:
            yield client


def rpc(
    gw: RunningGateway,
    key: str,
    method: str,
    params: dict[str, Any],
    capabilities: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """One raw 2026-07-28 request over HTTP (`tools/call`, `prompts/get`, `resources/read`);
    its JSON-RPC response."""
    params = dict(params)
    params["_meta"] = {
        "io.modelcontextprotocol/protocolVersion": MODERN,
        "io.modelcontextprotocol/clientCapabilities": ELICIT
        if capabilities is None
        else capabilities,
    }
    headers = {
        "authorization": f"Bearer {key}",
        "accept": "application/json",
        "mcp-protocol-version": MODERN,
        "mcp-method": method,
        "mcp-name": params["uri"] if method == "resources/read" else params["name"],
    }
    body = {"jsonrpc": "2.0", "id": 1, "method": method, "params": params}
    response = httpx.post(f"{gw.url}/mcp", json=body, headers=headers, timeout=60)
    reply: dict[str, Any] = response.json()
    return reply


def call(
    gw: RunningGateway,
    key: str,
    name: str,
    arguments: dict[str, Any],
    capabilities: dict[str, Any] | None = None,
    **retry: Any,
) -> dict[str, Any]:
    """One raw 2026-07-28 `tools/call` over HTTP; its JSON-RPC response."""
    params = {"name": name, "arguments": arguments, **retry}
    return rpc(gw, key, "tools/call", params, capabilities)


def accept(answer: str) -> dict[str, Any]:
    return {"action": "accept", "content": {"answer": answer}}


def balance(gw: RunningGateway, key: str) -> float:
    with gw.client(key) as http:
        value: float = http.get("/api/v1/me").json()["balance"]
        return value


def audit(gw: RunningGateway, account_id: str, count: int = 1) -> list[dict[str, Any]]:
    """The account's audit records, once `count` are written (they are written in batches)."""
    deadline = time.monotonic() + 15
    with gw.admin() as admin:
        while True:
            rows = admin.get("/admin/v1/audit", params={"account_id": account_id}).json()
            records: list[dict[str, Any]] = rows["records"]
            if len(records) >= count or time.monotonic() > deadline:
                return records
            time.sleep(0.1)


def text_of(result: dict[str, Any]) -> str:
    return str(result["content"][0]["text"])


# -- the official SDK client drives the rounds -----------------------------------------------


async def test_an_elicitation_reaches_the_2026_client_and_the_call_is_billed_once(
    gw: RunningGateway,
) -> None:
    account_id, key = gw.create_account(credits=2)
    asked: list[str] = []

    async def elicit(_context: Any, params: types.ElicitRequestParams) -> types.ElicitResult:
        asked.append(params.message)
        return types.ElicitResult(action="accept", content={"answer": "yes"})

    async with sdk_client(gw, key, elicitation_callback=elicit) as client:
        result = await client.call_tool("ask.confirm", {"question": "proceed?"})
    assert not result.is_error, result
    assert result.content[0].text == "answered: yes"  # type: ignore[union-attr]
    assert asked == ["proceed?"]
    assert balance(gw, key) == 1.5  # charged once, for the whole call
    records = await asyncio.to_thread(audit, gw, account_id)
    assert len(records) == 1, records
    assert records[0]["outcome"].lower() == "ok" and records[0]["credits_charged"] == 0.5


async def test_sampling_roots_and_two_rounds_reach_the_2026_client(gw: RunningGateway) -> None:
    account_id, key = gw.create_account(credits=5)
    answers = iter(["one", "two"])

    async def sample(
        _context: Any, params: types.CreateMessageRequestParams
    ) -> types.CreateMessageResult:
        prompt = params.messages[0].content.text  # type: ignore[union-attr]
        return types.CreateMessageResult(
            role="assistant",
            content=types.TextContent(type="text", text=f"{prompt}!"),
            model="test-model",
            stop_reason="endTurn",
        )

    async def roots(_context: Any) -> types.ListRootsResult:
        return types.ListRootsResult(roots=[types.Root(uri="file:///work/project")])

    async def elicit(_context: Any, _params: types.ElicitRequestParams) -> types.ElicitResult:
        return types.ElicitResult(action="accept", content={"answer": next(answers)})

    callbacks: dict[str, Any] = {"sampling_callback": sample, "list_roots_callback": roots}
    async with sdk_client(gw, key, elicitation_callback=elicit, **callbacks) as client:
        sampled = await client.call_tool("ask.sample", {"prompt": "hello"})
        listed = await client.call_tool("ask.roots", {})
        twice = await client.call_tool("ask.two_questions", {})
    assert sampled.content[0].text == "sampled: hello! (test-model)"  # type: ignore[union-attr]
    assert listed.content[0].text == "roots: file:///work/project"  # type: ignore[union-attr]
    assert twice.content[0].text == "answers: one then two"  # type: ignore[union-attr]
    assert balance(gw, key) == 3.5
    assert len(await asyncio.to_thread(audit, gw, account_id, 3)) == 3


async def test_a_2026_upstreams_own_input_required_reaches_the_2026_client(
    gw: RunningGateway,
) -> None:
    """`modern` is spoken to in 2026-07-28: the server answers toolwire `input_required`, the
    SDK client toolwire uses turns it into an elicitation, which parks the client's call."""
    account_id, key = gw.create_account(credits=2)

    async def elicit(_context: Any, params: types.ElicitRequestParams) -> types.ElicitResult:
        assert params.message == "resolved?"
        return types.ElicitResult(action="accept", content={"answer": "both eras"})

    async with sdk_client(gw, key, elicitation_callback=elicit) as client:
        result = await client.call_tool("modern.resolved_confirm", {})
    assert result.content[0].text == "resolved: both eras", result  # type: ignore[union-attr]
    assert len(await asyncio.to_thread(audit, gw, account_id)) == 1


async def test_a_2026_client_without_the_capability_is_not_asked_and_the_upstream_hears_why(
    gw: RunningGateway,
) -> None:
    _, key = gw.create_account(credits=2)
    async with sdk_client(gw, key) as client:  # declares no elicitation
        result = await client.call_tool("ask.confirm", {"question": "proceed?"})
    text = result.content[0].text  # type: ignore[union-attr]
    assert result.is_error, text
    assert "did not declare the 'elicitation' capability" in text


# -- the requestState, by hand ------------------------------------------------------------------


def test_input_required_carries_the_upstreams_request_and_a_sealed_state(
    gw: RunningGateway,
) -> None:
    _, key = gw.create_account(credits=2)
    first = call(gw, key, "ask.confirm", {"question": "sure?"})["result"]
    assert first["resultType"] == "input_required"
    ((ask_key, request),) = first["inputRequests"].items()
    assert request["method"] == "elicitation/create"
    assert request["params"]["message"] == "sure?"
    state = first["requestState"]
    assert state.startswith("twrs1.") and "sure" not in state
    assert balance(gw, key) == 1.5  # reserved while the client is asked
    done = call(
        gw,
        key,
        "ask.confirm",
        {"question": "sure?"},
        inputResponses={ask_key: accept("ok")},
        requestState=state,
    )["result"]
    assert done["resultType"] == "complete" and text_of(done) == "answered: ok"
    replayed = call(
        gw,
        key,
        "ask.confirm",
        {"question": "sure?"},
        inputResponses={ask_key: accept("again")},
        requestState=state,
    )
    assert replayed["error"]["code"] == -32602
    assert "already answered" in replayed["error"]["message"]
    assert balance(gw, key) == 1.5


def test_a_forged_or_foreign_request_state_is_refused_and_the_call_waits_on(
    gw: RunningGateway,
) -> None:
    _, key = gw.create_account(credits=2)
    _, other_key = gw.create_account(credits=2)
    arguments = {"question": "which?"}
    first = call(gw, key, "ask.confirm", arguments)["result"]
    state = first["requestState"]
    (ask_key,) = first["inputRequests"]
    answers = {ask_key: accept("this")}
    raw = bytearray(base64.urlsafe_b64decode(state[6:] + "=" * (-len(state[6:]) % 4)))
    raw[-1] ^= 1
    forged = "twrs1." + base64.urlsafe_b64encode(bytes(raw)).decode().rstrip("=")
    attempts = [
        (key, "ask.confirm", arguments, forged),
        (key, "ask.confirm", {"question": "other?"}, state),  # other arguments
        (key, "ask.two_questions", {}, state),  # another tool
        (other_key, "ask.confirm", arguments, state),  # another key
        (key, "ask.confirm", arguments, "not a state"),
    ]
    for who, name, args, sent in attempts:
        refused = call(gw, who, name, args, inputResponses=answers, requestState=sent)
        assert refused["error"]["code"] == -32602, refused
        assert "does not belong to this call" in refused["error"]["message"]
    done = call(gw, key, "ask.confirm", arguments, inputResponses=answers, requestState=state)
    assert text_of(done["result"]) == "answered: this"
    assert balance(gw, key) == 1.5 and balance(gw, other_key) == 2


def test_answers_without_a_state_are_refused(gw: RunningGateway) -> None:
    _, key = gw.create_account(credits=2)
    refused = call(gw, key, "ask.confirm", {"question": "q"}, inputResponses={"r1": accept("x")})
    assert refused["error"]["code"] == -32602
    assert balance(gw, key) == 2


def test_an_abandoned_call_is_cancelled_upstream_released_and_audited(
    gw: RunningGateway,
) -> None:
    account_id, key = gw.create_account(credits=2)
    first = call(gw, key, "ask.confirm", {"question": "anyone?"})["result"]
    assert first["resultType"] == "input_required"
    assert balance(gw, key) == 1.5
    deadline = time.monotonic() + INPUT_TIMEOUT_S + 10
    while balance(gw, key) != 2 and time.monotonic() < deadline:
        time.sleep(0.2)
    assert balance(gw, key) == 2  # released
    (record,) = audit(gw, account_id)
    assert record["outcome"].lower() == "cancelled" and record["credits_charged"] == 0
    assert f"did not answer input_required within {INPUT_TIMEOUT_S}s" in record["message"]
    (ask_key,) = first["inputRequests"]
    late = call(
        gw,
        key,
        "ask.confirm",
        {"question": "anyone?"},
        inputResponses={ask_key: accept("late")},
        requestState=first["requestState"],
    )
    assert late["error"]["code"] == -32602


def test_the_tool_timeout_does_not_run_while_the_client_is_asked(gw: RunningGateway) -> None:
    """`ask_then_work` has a 1.5 s timeout; the client takes 2 s to answer, then the tool works
    0.5 s: it completes (the clock stopped while the client was asked)."""
    _, key = gw.create_account(credits=2)
    first = call(gw, key, "ask.ask_then_work", {"seconds": 0.5})["result"]
    time.sleep(2)
    (ask_key,) = first["inputRequests"]
    done = call(
        gw,
        key,
        "ask.ask_then_work",
        {"seconds": 0.5},
        inputResponses={ask_key: accept("go")},
        requestState=first["requestState"],
    )["result"]
    assert text_of(done) == "worked after accept", done
    slow = call(gw, key, "ask.ask_then_work", {"seconds": 3})["result"]
    timed_out = call(
        gw,
        key,
        "ask.ask_then_work",
        {"seconds": 3},
        inputResponses={next(iter(slow["inputRequests"])): accept("go")},
        requestState=slow["requestState"],
    )["result"]
    assert timed_out["isError"] and "UPSTREAM_TIMEOUT" in str(timed_out), timed_out


# -- prompts/get and resources/read whose upstream asks ---------------------------------------

TONE = "ask.tone"
VAULT = "toolwire://ask/asking://vault/box"


async def get_and_read(client: Client) -> tuple[str, str]:
    """The prompt `ask.tone` about rain and the resource `asking://vault/box`, as text."""
    prompt = await client.get_prompt(TONE, {"topic": "rain"})
    read = await client.read_resource(VAULT)
    return prompt.messages[0].content.text, read.contents[0].text  # type: ignore[union-attr]


@pytest.mark.parametrize("mode", ["auto", "legacy"])
async def test_a_prompt_and_a_resource_whose_upstream_asks_reach_the_client_in_both_eras(
    gw: RunningGateway, mode: str
) -> None:
    """`auto`: 2026-07-28, driven through `input_required` rounds by the SDK client; `legacy`:
    the handshake era, the upstream's request relayed on the request's own stream. Either way
    the answer reaches the upstream, the result comes back, and each is audited once,
    uncharged."""
    account_id, key = gw.create_account(credits=2)
    asked: list[str] = []

    async def elicit(_context: Any, params: types.ElicitRequestParams) -> types.ElicitResult:
        asked.append(params.message)
        answer = "calm" if "tone" in params.message else "sesame"
        return types.ElicitResult(action="accept", content={"answer": answer})

    async with sdk_client(gw, key, mode, elicitation_callback=elicit) as client:
        prompt, read = await get_and_read(client)
    assert prompt == "Write about rain in a calm tone."
    assert read == "box opened with sesame"
    assert asked == ["which tone for rain?", "passphrase for box?"]
    assert balance(gw, key) == 2
    records = await asyncio.to_thread(audit, gw, account_id, 2)
    assert sorted((r["tool"], r["operation"], r["outcome"].lower()) for r in records) == [
        ("ask", "prompts/get", "ok"),
        ("ask", "resources/read", "ok"),
    ]
    assert all(r["credits_charged"] == 0 for r in records)


@pytest.mark.parametrize("mode", ["auto", "legacy"])
async def test_without_the_capability_a_prompt_or_read_that_asks_gets_the_upstreams_error(
    gw: RunningGateway, mode: str
) -> None:
    """The upstream hears that the client did not declare the capability (no parking, no
    relay) and answers an error, which reaches the client as the upstream's failure."""
    _, key = gw.create_account(credits=2)
    async with sdk_client(gw, key, mode) as client:  # declares no elicitation
        with pytest.raises(MCPError) as prompt:
            await client.get_prompt(TONE, {"topic": "rain"})
        with pytest.raises(MCPError) as read:
            await client.read_resource(VAULT)
    for refused in (prompt.value, read.value):
        assert refused.error.code == -32603, refused.error
        assert refused.error.data["details"]["reason"] == "mcp_error", refused.error
        assert "did not declare the 'elicitation' capability" in refused.error.message


async def test_a_2026_upstreams_own_input_required_on_a_prompt_reaches_the_2026_client(
    gw: RunningGateway,
) -> None:
    """`modern.native_tone` answers toolwire `input_required` itself; the SDK client toolwire
    uses turns it into an elicitation, which parks the client's `prompts/get`."""
    _, key = gw.create_account(credits=2)

    async def elicit(_context: Any, params: types.ElicitRequestParams) -> types.ElicitResult:
        assert params.message == "which tone?"
        return types.ElicitResult(action="accept", content={"answer": "dry"})

    async with sdk_client(gw, key, elicitation_callback=elicit) as client:
        prompt = await client.get_prompt("modern.native_tone", {})
    assert prompt.messages[0].content.text == "Write in a dry tone."  # type: ignore[union-attr]


def test_prompt_and_resource_rounds_by_hand_with_a_state_bound_to_the_request(
    gw: RunningGateway,
) -> None:
    """The raw rounds: `input_required` with the upstream's request, a retry with the answer
    and the state completes it, the state opens for nothing else (another method, prompt,
    resource or arguments) and only once."""
    account_id, key = gw.create_account(credits=2)
    get = {"name": TONE, "arguments": {"topic": "snow"}}
    first = rpc(gw, key, "prompts/get", get)["result"]
    assert first["resultType"] == "input_required"
    ((ask_key, request),) = first["inputRequests"].items()
    assert request["method"] == "elicitation/create"
    assert request["params"]["message"] == "which tone for snow?"
    answered = {"inputResponses": {ask_key: accept("wry")}, "requestState": first["requestState"]}
    elsewhere: list[tuple[str, dict[str, Any]]] = [
        ("prompts/get", {"name": TONE, "arguments": {"topic": "hail"}}),
        ("resources/read", {"uri": VAULT}),
        ("tools/call", {"name": TONE, "arguments": {"topic": "snow"}}),
    ]
    for method, params in elsewhere:
        refused = rpc(gw, key, method, {**params, **answered})
        assert refused["error"]["code"] == -32602, refused
        assert "does not belong to this call" in refused["error"]["message"]
    done = rpc(gw, key, "prompts/get", {**get, **answered})["result"]
    assert done["resultType"] == "complete"
    assert done["messages"][0]["content"]["text"] == "Write about snow in a wry tone."
    replayed = rpc(gw, key, "prompts/get", {**get, **answered})
    assert replayed["error"]["code"] == -32602
    assert "already answered" in replayed["error"]["message"]

    read = rpc(gw, key, "resources/read", {"uri": VAULT})["result"]
    assert read["resultType"] == "input_required"
    (ask_key,) = read["inputRequests"]
    retry = {"inputResponses": {ask_key: accept("open")}, "requestState": read["requestState"]}
    done = rpc(gw, key, "resources/read", {"uri": VAULT, **retry})["result"]
    assert done["contents"] == [
        {"uri": VAULT, "mimeType": "text/plain", "text": "box opened with open"}
    ]
    records = audit(gw, account_id, 2)
    assert sorted(r["operation"] for r in records) == ["prompts/get", "resources/read"]


def test_an_abandoned_prompt_is_cancelled_upstream_and_audited(gw: RunningGateway) -> None:
    account_id, key = gw.create_account(credits=2)
    get = {"name": TONE, "arguments": {"topic": "fog"}}
    first = rpc(gw, key, "prompts/get", get)["result"]
    assert first["resultType"] == "input_required"
    (record,) = audit(gw, account_id)  # written once the round is given up
    assert record["operation"] == "prompts/get" and record["outcome"].lower() == "cancelled"
    assert f"did not answer input_required within {INPUT_TIMEOUT_S}s" in record["message"]
    (ask_key,) = first["inputRequests"]
    answered = {"inputResponses": {ask_key: accept("late")}, "requestState": first["requestState"]}
    late = rpc(gw, key, "prompts/get", {**get, **answered})
    assert late["error"]["code"] == -32602


# -- two instances on one Redis -----------------------------------------------------------------


@pytest.fixture(scope="module")
def pair(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[RunningGateway, ...]]:
    """Two gateways over one database and one Redis, federating the same server."""
    tmp_path = tmp_path_factory.mktemp("mrtr-pair")
    env = {
        "TOOLWIRE_SECRET_KEY": secrets.token_urlsafe(32),
        "TOOLWIRE_STATE_URL": redis_url(),
        "TOOLWIRE_UPSTREAM_START_WAIT_S": "0",
        "TOOLWIRE_MCP_RELAY_TIMEOUT_S": "3",
    }
    database = ["--database-url", f"sqlite:///{tmp_path / 'shared.db'}"]
    admin = f"tw_admin_{secrets.token_hex(8)}"
    config = {"mcp": {"ask": UPSTREAM}}

    def start(name: str) -> RunningGateway:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ResourceWarning)
            running = start_gateway(
                tmp_path / name,
                env=env,
                admin_key=admin,
                config=config,
                args=database,
                startup_timeout=STARTUP_TIMEOUT_S,
            )
        wait_ready(running, ["ask"])
        return running

    with ThreadPoolExecutor(3) as pool:  # started side by side: a loaded machine is slow
        futures = [pool.submit(start, name) for name in ("a", "b", "c")]
    started = [f.result() for f in futures if f.exception() is None]
    try:
        if len(started) < len(futures):
            raise next(e for f in futures if (e := f.exception()) is not None)
        # three instances, not one answering on another's port (`free_port`, thread-safe)
        assert len({g.url for g in started}) == len(started), [g.url for g in started]
        yield tuple(started)
    finally:
        for running in started:
            running.stop()


def test_a_retry_on_another_instance_is_relayed_to_the_one_holding_the_call(
    pair: tuple[RunningGateway, ...],
) -> None:
    a, b, _ = pair
    account_id, key = a.create_account(credits=2)
    first = call(a, key, "ask.two_questions", {})["result"]
    second = call(
        b,
        key,
        "ask.two_questions",
        {},
        inputResponses={next(iter(first["inputRequests"])): accept("from b")},
        requestState=first["requestState"],
    )["result"]
    assert second["resultType"] == "input_required"  # the next round, from a through b
    done = call(
        b,
        key,
        "ask.two_questions",
        {},
        inputResponses={next(iter(second["inputRequests"])): accept("b again")},
        requestState=second["requestState"],
    )["result"]
    assert text_of(done) == "answers: from b then b again"
    assert balance(a, key) == 1.5 and balance(b, key) == 1.5
    assert len(audit(a, account_id)) == 1


def test_a_silent_owner_is_a_retryable_owner_unreachable_error(
    pair: tuple[RunningGateway, ...],
) -> None:
    _, b, c = pair
    _, key = b.create_account(credits=2)
    first = call(c, key, "ask.confirm", {"question": "c?"})["result"]
    c.kill()
    started = time.monotonic()
    refused = call(
        b,
        key,
        "ask.confirm",
        {"question": "c?"},
        inputResponses={next(iter(first["inputRequests"])): accept("x")},
        requestState=first["requestState"],
    )
    assert refused["error"]["code"] == -32603, refused
    assert refused["error"]["data"]["reason"] == "owner_unreachable"
    assert refused["error"]["data"]["retryable"] is True
    assert 2.5 < time.monotonic() - started < 30


def test_a_prompts_retry_on_another_instance_is_relayed_to_the_one_holding_it(
    pair: tuple[RunningGateway, ...],
) -> None:
    a, b, _ = pair
    account_id, key = a.create_account(credits=2)
    get = {"name": TONE, "arguments": {"topic": "dew"}}
    first = rpc(a, key, "prompts/get", get)["result"]
    (ask_key,) = first["inputRequests"]
    answered = {"inputResponses": {ask_key: accept("soft")}, "requestState": first["requestState"]}
    done = rpc(b, key, "prompts/get", {**get, **answered})["result"]
    assert done["messages"][0]["content"]["text"] == "Write about dew in a soft tone."
    (record,) = audit(a, account_id)
    assert record["operation"] == "prompts/get" and record["outcome"].lower() == "ok"


def test_an_upstream_failure_after_a_relayed_round_reaches_the_client_as_such(
    pair: tuple[RunningGateway, ...],
) -> None:
    """The vault refuses a wrong passphrase (the SDK server words it its own way): the
    upstream's error, mapped on the instance
    holding the read, comes back through the relay as the upstream's failure (not as an
    internal error)."""
    a, b, _ = pair
    _, key = a.create_account(credits=2)
    first = rpc(a, key, "resources/read", {"uri": VAULT})["result"]
    (ask_key,) = first["inputRequests"]
    answered = {"inputResponses": {ask_key: accept("wrong")}, "requestState": first["requestState"]}
    refused = rpc(b, key, "resources/read", {"uri": VAULT, **answered})["error"]
    assert refused["code"] == -32603, refused
    assert refused["data"]["details"]["reason"] == "mcp_error", refused
    assert refused["message"].startswith("ask answered with an error: "), refused
