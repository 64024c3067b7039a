"""`toolwire tools list` (the local catalog) and `toolwire call` (a client of a running gateway),
plus the admin commands working on the data directory of a gateway that is running."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import yaml

from tests.cli.conftest import Ran, clean_env, run_toolwire
from toolwire.testing import RunningGateway, free_port, start_gateway

ECHO_PRICE = 0.5


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningGateway]:
    gw = start_gateway(
        tmp_path_factory.mktemp("cli-gateway"),
        config={"prices": {"echo": ECHO_PRICE}},
        env={"TOOLWIRE_KEY_CACHE_SECONDS": "0.2"},
    )
    try:
        yield gw
    finally:
        gw.stop()


@pytest.fixture(scope="module")
def key(gateway: RunningGateway) -> str:
    return gateway.create_account(credits=10, name="cli")[1]


def call(gateway: RunningGateway, key: str, *args: str) -> Ran:
    return run_toolwire("call", *args, "--url", gateway.url, "--key", key)


def test_tools_list_prints_the_catalog_with_prices_from_the_config(tmp_path: Path) -> None:
    config = tmp_path / "toolwire.yaml"
    config.write_text(yaml.safe_dump({"prices": {"echo": 0.25}}), encoding="utf-8")

    table = run_toolwire("tools", "list", "--config", str(config))
    as_json = run_toolwire("tools", "list", "--config", str(config), "--json")

    assert table.code == 0, table.err
    assert "calc.evaluate" in table.out and "math" in table.out
    tools = {t["name"]: t for t in as_json.json()["tools"]}
    assert tools["echo"]["price"] == 0.25
    assert tools["calc.evaluate"]["price"] == 0
    assert as_json.json()["count"] == len(tools)


def test_tools_list_filters_by_category_and_words() -> None:
    math = run_toolwire("tools", "list", "--category", "math", "--json").json()["tools"]
    words = run_toolwire("tools", "list", "--q", "arithmetic", "--json").json()["tools"]

    assert math and {t["category"] for t in math} == {"math"}
    assert "calc.evaluate" in {t["name"] for t in words}


def test_tools_list_refuses_a_broken_config(tmp_path: Path) -> None:
    config = tmp_path / "toolwire.yaml"
    config.write_text("prices: {no_such_tool: 1}\n", encoding="utf-8")

    ran = run_toolwire("tools", "list", "--config", str(config))

    assert ran.code == 1 and "error" in ran.err and "Traceback" not in ran.err


def test_call_prints_the_data_and_the_receipt_on_stderr(gateway: RunningGateway, key: str) -> None:
    ran = call(gateway, key, "calc.evaluate", "--input", '{"expression": "6 * 7"}')

    assert ran.code == 0, ran.err
    assert json.loads(ran.out)["result"] == 42
    assert "calc.evaluate" in ran.err and "req_" in ran.err


def test_call_with_json_prints_the_whole_envelope(gateway: RunningGateway, key: str) -> None:
    ran = call(gateway, key, "echo", "--input", '{"message": "hi"}', "--json")

    assert ran.code == 0, ran.err
    envelope = ran.json()
    assert envelope["ok"] is True
    assert envelope["meta"]["credits_charged"] == ECHO_PRICE
    assert envelope["meta"]["tool"] == "echo"


def test_call_reads_the_url_and_key_from_the_environment(gateway: RunningGateway, key: str) -> None:
    env = clean_env(TOOLWIRE_URL=gateway.url, TOOLWIRE_API_KEY=key)

    ran = run_toolwire(
        "call", "calc.evaluate", "--input", "-", env=env, stdin='{"expression": "1"}'
    )

    assert ran.code == 0, ran.err
    assert json.loads(ran.out)["result"] == 1


def test_a_failing_call_exits_1_with_its_code_and_json_envelope(
    gateway: RunningGateway, key: str
) -> None:
    plain = call(gateway, key, "no_such_tool")
    as_json = call(gateway, key, "calc.evaluate", "--input", '{"expression": 1}', "--json")

    assert plain.code == 1 and "TOOL_NOT_FOUND" in plain.err
    assert as_json.code == 1 and "INVALID_ARGUMENTS" in as_json.err
    assert as_json.json()["error"]["details"]["errors"][0]["path"] == "/expression"
    assert "Traceback" not in plain.err + as_json.err


def test_call_refuses_bad_input_and_an_unreachable_gateway(key: str) -> None:
    url = f"http://127.0.0.1:{free_port()}"
    for args in (
        ("echo", "--input", "{not json", "--url", url, "--key", key),
        ("echo", "--input", "[1, 2]", "--url", url, "--key", key),
        ("echo", "--url", url, "--key", key),
        ("echo", "--url", url),
    ):
        ran = run_toolwire("call", *args)
        assert ran.code == 1 and "error" in ran.err and "Traceback" not in ran.err, args


def test_admin_commands_work_on_a_running_gateways_store(gateway: RunningGateway) -> None:
    def tw(*args: str) -> Ran:
        return run_toolwire(*args, "--data-dir", str(gateway.data_dir), "--json")

    account_id = tw("accounts", "create", "live", "--credits", "2").json()["account"]["id"]
    created = tw("keys", "create", account_id).json()
    headers = {"Authorization": f"Bearer {created['secret']}"}

    with httpx.Client(base_url=gateway.url, headers=headers) as http:
        assert http.get("/api/v1/me").json()["balance"] == 2
        tw("credits", "grant", account_id, "3")
        deadline = time.monotonic() + 5  # a receipt's balance may be up to 1 s old (ledger cache)
        while http.get("/api/v1/me").json()["balance"] != 5:
            assert time.monotonic() < deadline, "the grant never showed in the balance"
            time.sleep(0.05)
        assert tw("keys", "revoke", created["key"]["id"]).code == 0
        deadline = time.monotonic() + 5
        while http.get("/api/v1/me").status_code != 401:  # the key cache is 0.2 s here
            assert time.monotonic() < deadline, "the revoked key is still accepted"
            time.sleep(0.05)
