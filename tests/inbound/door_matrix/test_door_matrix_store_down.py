"""An auth-store failure through every door, for every kind of credential: an API key the
gateway has never seen, and an OAuth access token (valid signature, trusted issuer) whose subject
maps to a key the gateway has never seen, each presented while the gateway's database is
unreachable. The target is one answer everywhere: the core's "unavailable" code (`STORE_DOWN`),
in the form each door's own table gives it, never a bad-key 401 or a crash 500.

Besides the call doors of `registry.DOORS`: the A2A card per key (A2A's `ADMISSION` table), the
admin API (REST's table) and the console, whose
credential is a signed-in session (re-checked on every page) or a key typed into the sign-in form;
both answer from REST's table by class (`rest.ERRORS`), and the console keeps the session.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import httpx
import pytest
from anyio.from_thread import BlockingPortal

from tests.inbound.door_matrix.conftest import CONFIG, REPO
from tests.inbound.door_matrix.door import Answer, Door, Key, World
from tests.inbound.door_matrix.issuer import issuer
from tests.inbound.door_matrix.registry import DOORS
from tests.inbound.door_matrix.store_down import (
    fresh_database,
    maintenance_dsn,
    unreachable,
)
from tests.support.console import sign_in
from toolwire.core.errors import Unavailable
from toolwire.inbound import rest
from toolwire.inbound.a2a import messages
from toolwire.inbound.http import row_for
from toolwire.settings import Settings
from toolwire.testing import start_gateway

STORE_DOWN = "UNAVAILABLE"
"""The code an unreachable store is answered with (a 503-style refusal, retry later)."""

CREDENTIALS = ("api-key", "oauth-token")
SUBJECT = "matrix-user"
UNSEEN_KEY_ID = "unseenmatrix"
"""The key id the token's subject maps to: well formed, never created, so looking it up needs
the database."""

CARD = "/.well-known/agent-card.json"
"""The A2A card, listing the skills of the key that fetches it: a credential check too."""

Answers = dict[tuple[str, str], tuple[Door, Answer]]


@dataclass
class Down:
    answers: Answers
    """(door, credential kind) -> the door and its answer."""
    pages: dict[str, httpx.Response] = field(default_factory=dict)
    """The admin API's and the console's answers, by what was asked."""


@pytest.fixture(scope="module")
def down(tmp_path_factory: pytest.TempPathFactory, portal: BlockingPortal) -> Iterator[Down]:
    """Each door's answer to one call per credential kind made while the store is down (made
    once, read by every test here), with the doors that made them; and the admin API's and the
    console's answers."""
    dsn = maintenance_dsn(portal)
    with issuer() as trusted, fresh_database(portal, dsn) as url:
        env = {
            "PYTHONPATH": str(REPO),
            "TOOLWIRE_DATABASE_URL": url,
            **trusted.env([f"{SUBJECT}={UNSEEN_KEY_ID}"]),
        }
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ResourceWarning)
            gateway = start_gateway(tmp_path_factory.mktemp("store-down"), config=CONFIG, env=env)
        world = World(gateway, portal, env)
        doors: dict[str, Door] = {name: factory(world) for name, factory in DOORS.items()}
        browser = httpx.Client(base_url=gateway.url, timeout=30)
        newcomer = httpx.Client(base_url=gateway.url, timeout=30)
        try:
            # stdio --local serves on the default port's URL: the token names both audiences
            audiences = [gateway.url + "/mcp", Settings().base_url + "/mcp"]
            token = Key(trusted.token(SUBJECT, audiences), UNSEEN_KEY_ID, "")
            _token_reaches_the_key_store(gateway.url, token)
            keys: dict[tuple[str, str], Key] = {}
            for name in DOORS:
                keys[name, "api-key"] = world.new_key(10, ["*"], f"{name}-down")
                keys[name, "oauth-token"] = token
            assert sign_in(browser, world.new_key(10, ["*"], "console").secret).is_redirect
            with unreachable(portal, dsn, url), ThreadPoolExecutor(len(keys)) as pool:
                # All at once: most of the cost is starting stdio processes.
                answers = list(
                    pool.map(
                        lambda cell: doors[cell[0]].call(
                            keys[cell], "matrix.add", {"a": 1, "b": 2}
                        ),
                        keys,
                    )
                )
                result = Down({c: (doors[c[0]], a) for c, a in zip(keys, answers, strict=True)})
                result.pages["console-session"] = browser.get("/console/me")
                result.pages["console-sign-in"] = sign_in(newcomer, keys["rest", "api-key"].secret)
                for kind in CREDENTIALS:
                    bearer = {"Authorization": f"Bearer {keys['rest', kind].secret}"}
                    for page, path in (("admin", "/admin/v1/accounts"), ("card", CARD)):
                        result.pages[f"{page}-{kind}"] = httpx.get(
                            gateway.url + path, headers=bearer, timeout=30
                        )
            result.pages["console-after"] = browser.get("/console/me")
            yield result
        finally:
            browser.close()
            newcomer.close()
            for door in doors.values():
                door.close()
            world.close()
            gateway.kill()  # its shutdown would retry writes to a database about to be dropped


def _token_reaches_the_key_store(url: str, token: Key) -> None:
    """With the database up, the token verifies and only its key is unknown (a 401 naming the
    mapping): so the cells below test the key store's failure, not the token's."""
    reply = httpx.post(
        url + "/api/v1/execute",
        json={"tool": "matrix.add", "input": {"a": 1, "b": 2}},
        headers={"Authorization": f"Bearer {token.secret}"},
        timeout=30,
    )
    assert reply.status_code == 401, reply.text
    assert "maps to no usable API key" in reply.json()["error"]["message"]


@pytest.fixture(params=CREDENTIALS)
def answered(request: pytest.FixtureRequest, door_name: str, down: Down) -> tuple[Door, Answer]:
    return down.answers[door_name, request.param]


def test_an_auth_store_failure_refuses_the_call(answered: tuple[Door, Answer]) -> None:
    _, answer = answered
    assert answer.ok is False, answer.raw


def test_an_auth_store_failure_gets_the_same_unavailable_answer_at_every_door(
    answered: tuple[Door, Answer],
) -> None:
    door, answer = answered
    assert answer.code == STORE_DOWN, answer.raw
    expected = door.expected_error(STORE_DOWN, stage="admission")
    assert answer.wire.matches(expected), (answer.wire, expected)


def _refused_as_rest_says(reply: httpx.Response) -> None:
    row = rest.ERRORS[Unavailable]
    assert reply.status_code == row.status, reply.text
    assert row.retry_after
    assert reply.headers["retry-after"] == str(Unavailable.retry_after_s)
    assert "www-authenticate" not in reply.headers


@pytest.mark.parametrize("credential", CREDENTIALS)
def test_the_admin_api_answers_an_auth_store_failure_from_its_table(
    down: Down, credential: str
) -> None:
    reply = down.pages[f"admin-{credential}"]
    _refused_as_rest_says(reply)
    assert reply.json()["error"]["code"] == STORE_DOWN


def test_a_console_session_during_a_store_failure_is_told_to_retry_and_kept(down: Down) -> None:
    reply = down.pages["console-session"]
    _refused_as_rest_says(reply)
    assert "set-cookie" not in reply.headers  # not signed out: the key was never judged
    after = down.pages["console-after"]
    assert after.status_code == 200, after.text  # the same session, once the store is back


def test_a_console_sign_in_during_a_store_failure_is_not_called_a_bad_key(down: Down) -> None:
    reply = down.pages["console-sign-in"]
    _refused_as_rest_says(reply)
    assert "not valid" not in reply.text
    assert "cannot check keys right now" in reply.text


@pytest.mark.parametrize("credential", CREDENTIALS)
def test_the_a2a_card_per_key_answers_an_auth_store_failure_from_its_table(
    down: Down, credential: str
) -> None:
    reply = down.pages[f"card-{credential}"]
    row = row_for(messages.ADMISSION, Unavailable)
    assert reply.status_code == row.status, reply.text
    assert reply.headers["retry-after"] == str(Unavailable.retry_after_s)
    assert reply.json()["error"]["data"]["code"] == STORE_DOWN
