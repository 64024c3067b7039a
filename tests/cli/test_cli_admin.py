"""`toolwire accounts|keys|credits` on a temporary data directory: tables for people, `--json`
for scripts, and bad input refused with a message and a non-zero exit, never a traceback.

Each command is a real `toolwire` process (about a second each), so tests chain several."""

from __future__ import annotations

import re
from pathlib import Path

from tests.cli.conftest import Ran, Run, run_toolwire
from toolwire.core.admin import MAX_CREDITS


def refused(ran: Ran) -> bool:
    return ran.code == 1 and "error" in ran.err and "Traceback" not in ran.err + ran.out


def test_accounts_are_created_listed_and_shown_as_tables_and_json(tw: Run) -> None:
    created = tw("accounts", "create", "acme", "--credits", "12.5", "--json")
    account = created.json()["account"]
    tw("keys", "create", account["id"], "--name", "ci-bot", "--json")

    listed = tw("accounts", "list", "--json")
    table = tw("accounts", "list")
    shown = tw("accounts", "show", account["id"])

    assert (created.code, listed.code, table.code, shown.code) == (0, 0, 0, 0)
    assert account["name"] == "acme"
    assert account["balance"] == 12.5
    assert [a["id"] for a in listed.json()["accounts"]] == [account["id"]]
    assert account["id"] in table.out and "12.5" in table.out
    assert account["id"] in shown.out and "ci-bot" in shown.out and "grant" in shown.out


def test_keys_are_created_with_a_secret_shown_once_listed_without_it_and_revoked(tw: Run) -> None:
    account_id = tw("accounts", "create", "acme", "--json").json()["account"]["id"]

    table = tw("keys", "create", account_id, "--name", "bot")
    created = tw(
        "keys", "create", account_id, "--scope", "calc.*", "--scope", "!calc.x", "--json"
    ).json()
    listed = tw("keys", "list", "--account", account_id, "--json").json()["keys"]
    revoked = tw("keys", "revoke", created["key"]["id"])
    after = tw("keys", "list")

    secret = re.search(r"tw_[A-Za-z0-9]+_[A-Za-z0-9]+", table.out)
    assert table.code == 0, table.err
    assert secret is not None and "shown once" in table.out
    assert created["secret"].startswith("tw_")
    assert created["key"]["scopes"] == ["calc.*", "!calc.x"]
    assert [(k["name"], k["revoked_at"]) for k in listed] == [("bot", None), ("default", None)]
    assert revoked.code == 0, revoked.err
    assert created["key"]["id"] in revoked.out and "5 s" in revoked.out
    assert "revoked" in after.out
    assert secret.group(0) not in after.out and created["secret"] not in after.out


def test_credits_are_granted_in_exact_decimals_and_read_back(tw: Run) -> None:
    created = tw("accounts", "create", "acme", "--credits", "1", "--json")
    account_id = created.json()["account"]["id"]

    granted = tw("credits", "grant", account_id, "0.000001", "--note", "tiny", "--json")
    table = tw("credits", "grant", account_id, "2")
    balance = tw("credits", "balance", account_id, "--json")
    history = tw("credits", "history", account_id, "--json")

    assert granted.json() == {"account_id": account_id, "balance": 1.000001}
    assert table.code == 0 and "3.000001" in table.out
    assert balance.json() == {"account_id": account_id, "balance": 3.000001}
    entries = history.json()["entries"]
    assert [(e["kind"], e["amount"], e["note"]) for e in entries] == [
        ("grant", 2, None),
        ("grant", 0.000001, "tiny"),
        ("grant", 1, "initial credits"),
    ]


def test_bad_amounts_are_refused_and_change_nothing(tw: Run) -> None:
    account_id = tw("accounts", "create", "acme", "--json").json()["account"]["id"]

    for amount in ("-5", "0.0000001", "lots"):
        assert refused(tw("credits", "grant", account_id, "--", amount)), amount
    assert refused(tw("accounts", "create", "other", "--credits", "-1"))
    assert refused(tw("accounts", "create", "other", "--credits", "1e400"))
    # One set of limits (toolwire.core.admin): over MAX_CREDITS is refused here as over HTTP,
    # including amounts the CLI once let through up to the 64-bit limit.
    assert refused(tw("credits", "grant", account_id, str(MAX_CREDITS + 1)))
    assert refused(tw("accounts", "create", "other", "--credits", "9223372036854"))
    assert [a["balance"] for a in tw("accounts", "list", "--json").json()["accounts"]] == [0]


def test_an_unknown_account_or_key_is_refused_with_its_code(tw: Run) -> None:
    for args in (
        ("accounts", "show", "acc_missing"),
        ("credits", "grant", "acc_missing", "1"),
        ("keys", "revoke", "key_missing"),
    ):
        ran = tw(*args)
        assert refused(ran), args
        assert "NOT_FOUND" in ran.err, args


def test_an_unusable_database_url_is_refused(tmp_path: Path) -> None:
    ran = run_toolwire("accounts", "list", "--database-url", "mysql://nowhere/db")

    assert refused(ran)
