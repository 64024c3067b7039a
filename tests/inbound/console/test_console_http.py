"""The console's rules over real HTTP against a real `toolwire serve` (no browser needed for
these): cookies, CSRF and Origin, audiences and ownership (404, never the data), bad input
(a clear message, nothing changed), and no secret rendered back. The browser tests
(test_console_browser.py) drive the same pages in Chromium."""

from __future__ import annotations

import html
import json
import re
import secrets
import time
from collections.abc import Iterator

import httpx
import pytest

from tests.support.billing_tools import PROVIDER
from tests.support.console import CONFIG, ENV, csrf_of, own_origin, post, sign_in
from toolwire.testing import RunningGateway, running_gateway


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningGateway]:
    with running_gateway(tmp_path_factory.mktemp("console"), config=CONFIG, env=ENV) as gw:
        yield gw


def browser(gateway: RunningGateway) -> httpx.Client:
    return httpx.Client(base_url=gateway.url, timeout=30, follow_redirects=False)


def balance(gateway: RunningGateway, account_id: str) -> float:
    with gateway.admin() as admin:
        return float(admin.get(f"/admin/v1/accounts/{account_id}/balance").json()["balance"])


def test_a_wrong_key_is_refused_on_the_page_and_signs_nobody_in(gateway: RunningGateway) -> None:
    with browser(gateway) as http:
        refused = sign_in(http, "tw_nothere_" + "x" * 32)
        assert refused.status_code == 401
        assert "not valid, or it was revoked" in refused.text
        assert http.get("/console/accounts").headers["location"] == "/console/login"


def test_the_session_cookie_is_sealed_http_only_strict_and_holds_no_key(
    gateway: RunningGateway,
) -> None:
    with browser(gateway) as http:
        signed = sign_in(http, gateway.admin_key)
        assert (signed.status_code, signed.headers["location"]) == (303, "/console/accounts")
        cookie = signed.headers["set-cookie"]
        assert re.search(r"(?i)httponly", cookie) and re.search(r"(?i)samesite=strict", cookie)
        assert "Path=/console" in cookie and "secure" not in cookie.lower()  # http dev case
        assert gateway.admin_key not in cookie
        page = http.get("/console/accounts")
        assert page.status_code == 200
        assert "script-src 'self'" in page.headers["content-security-policy"]
        assert page.headers["x-frame-options"] == "DENY"
        assert gateway.admin_key not in page.text


def test_a_form_without_the_sessions_token_or_from_another_origin_changes_nothing(
    gateway: RunningGateway,
) -> None:
    account_id, _ = gateway.create_account(credits=5, name="csrf-target")
    page = f"/console/accounts/{account_id}"
    action = f"{page}/credits"
    with browser(gateway) as http:
        sign_in(http, gateway.admin_key)
        token = csrf_of(http.get(page).text)
        missing = http.post(action, data={"amount": "100"}, headers=own_origin(http))
        forged = http.post(action, data={"amount": "100", "csrf": "x" * 43})
        foreign = http.post(
            action,
            data={"amount": "100", "csrf": token},
            headers={"origin": "https://evil.example"},
        )
        with browser(gateway) as other:  # another visitor's token is not this session's
            sign_in(other, gateway.admin_key)
            stolen = csrf_of(other.get(page).text)
        crossed = http.post(action, data={"amount": "100", "csrf": stolen})
        for refused in (missing, forged, foreign, crossed):
            assert refused.status_code == 403, refused.text
            assert "Nothing was changed" in refused.text
        assert balance(gateway, account_id) == 5
        done = http.post(action, data={"amount": "1.5", "csrf": token}, headers=own_origin(http))
        assert done.status_code == 303
        assert balance(gateway, account_id) == 6.5


@pytest.mark.parametrize(
    ("action", "data", "message"),
    [
        ("credits", {"amount": "-5"}, "'amount' must be positive"),
        ("credits", {"amount": "lots"}, "'amount'"),
        ("credits", {"amount": "1000000001"}, "at most 1000000000"),
        ("low-balance", {"low_balance": "-1"}, "'low_balance' must be zero or more"),
        ("plan", {"plan": "gold"}, "the catalog defines no plan 'gold'"),
        ("plan", {"plan": "bad name"}, "a plan name is a letter"),
        ("keys", {"name": "k", "scopes": "calc evaluate/x"}, "is not a valid pattern"),
    ],
)
def test_out_of_range_values_get_a_clear_message_and_change_nothing(
    gateway: RunningGateway, action: str, data: dict[str, str], message: str
) -> None:
    account_id, _ = gateway.create_account(credits=5, name="bad-input")
    page = f"/console/accounts/{account_id}"
    with browser(gateway) as http, gateway.admin() as admin:
        sign_in(http, gateway.admin_key)
        keys_before = admin.get("/admin/v1/keys", params={"account_id": account_id}).json()
        refused = post(http, page, f"{page}/{action}", data)
        assert refused.status_code == 400
        assert message in html.unescape(refused.text)
        assert balance(gateway, account_id) == 5
        account = admin.get(f"/admin/v1/accounts/{account_id}").json()["account"]
        assert account["low_balance"] is None and account["plan"] is None
        assert admin.get("/admin/v1/keys", params={"account_id": account_id}).json() == keys_before


def test_an_operator_puts_an_account_on_a_plan_and_clears_it(gateway: RunningGateway) -> None:
    account_id, _ = gateway.create_account(credits=5, name="plan")
    page = f"/console/accounts/{account_id}"
    with browser(gateway) as http, gateway.admin() as admin:
        sign_in(http, gateway.admin_key)
        shown = http.get(page).text
        assert '<option value="pro">pro</option>' in shown and 'id="plan-select"' in shown
        done = post(http, page, f"{page}/plan", {"plan": "pro"})
        assert done.status_code == 303, done.text
        assert admin.get(f"/admin/v1/accounts/{account_id}").json()["account"]["plan"] == "pro"
        shown = http.get(done.headers["location"]).text
        assert "Plan saved." in shown and '<option value="pro" selected>' in shown
        assert post(http, page, f"{page}/plan", {"plan": ""}).status_code == 303
        assert admin.get(f"/admin/v1/accounts/{account_id}").json()["account"]["plan"] is None


def test_an_absurd_budget_is_refused_and_the_key_keeps_none(gateway: RunningGateway) -> None:
    account_id, _ = gateway.create_account(credits=5, name="budget")
    with gateway.admin() as admin:
        key_id = admin.get("/admin/v1/keys", params={"account_id": account_id}).json()["keys"][0]
    page = f"/console/accounts/{account_id}"
    with browser(gateway) as http, gateway.admin() as admin:
        sign_in(http, gateway.admin_key)
        refused = post(http, page, f"/console/keys/{key_id['id']}/budget", {"day": "1e12"})
        assert refused.status_code == 400 and "'day'" in html.unescape(refused.text)
        budget = admin.get(f"/admin/v1/keys/{key_id['id']}/budget").json()["budget"]
        assert (budget["hour"], budget["day"]) == (None, None)


def test_a_customer_gets_404_for_operator_pages_and_another_accounts_things(
    gateway: RunningGateway,
) -> None:
    other_id, other_key = gateway.create_account(credits=7, name="someone-else-secretive")
    _, my_key = gateway.create_account(credits=3, name="me")
    with gateway.admin() as admin:
        other_key_id = admin.get("/admin/v1/keys", params={"account_id": other_id}).json()
    with browser(gateway) as http:
        assert sign_in(http, my_key).headers["location"] == "/console/me"
        for path in (f"/console/accounts/{other_id}", "/console/accounts", "/console/usage"):
            refused = http.get(path)
            assert refused.status_code == 404, path
            assert "someone-else-secretive" not in refused.text and other_id not in refused.text
        revoke = post(
            http,
            "/console/me/keys",
            f"/console/me/keys/{other_key_id['keys'][0]['id']}/revoke",
            {},
        )
        assert revoke.status_code == 404
    with gateway.client(other_key) as theirs:
        assert theirs.get("/api/v1/me").status_code == 200  # still a working key


def test_a_customer_makes_keys_only_within_its_scopes_and_sees_the_secret_once(
    gateway: RunningGateway,
) -> None:
    account_id, key = gateway.create_account(credits=3, scopes=["echo", "calc.*"], name="scoped")
    with browser(gateway) as http:
        sign_in(http, key)
        wider = post(http, "/console/me/keys", "/console/me/keys", {"scopes": "*"})
        assert wider.status_code == 403 and "wider than the scopes" in wider.text
        made = post(http, "/console/me/keys", "/console/me/keys", {"name": "ci", "scopes": "echo"})
        assert made.status_code == 200
        secret = re.search(r"tw_[a-z0-9]+_[a-z0-9]+", made.text)
        assert secret and "shown this once" in made.text
        assert secret.group(0) not in http.get("/console/me/keys").text
    with gateway.client(secret.group(0)) as new:
        assert new.get("/api/v1/me").json()["account_id"] == account_id


def test_a_byok_credential_goes_in_and_never_comes_back(gateway: RunningGateway) -> None:
    _, key = gateway.create_account(credits=3, name="byok")
    value = f"sk-acme-{secrets.token_hex(16)}"
    with browser(gateway) as http:
        sign_in(http, key)
        unknown = post(
            http, "/console/me/byok", "/console/me/byok", {"provider": "nope", "value": value}
        )
        assert unknown.status_code == 404 and value not in unknown.text
        saved = post(
            http, "/console/me/byok", "/console/me/byok", {"provider": PROVIDER, "value": value}
        )
        assert saved.status_code == 303
        page = http.get(saved.headers["location"])
        assert PROVIDER in page.text and value not in page.text
        for path in ("/console/me", "/console/me/keys", "/console/tools"):
            assert value not in http.get(path).text


def test_a_revoked_key_ends_its_session_at_once(gateway: RunningGateway) -> None:
    account_id, key = gateway.create_account(credits=3, name="soon-revoked")
    with browser(gateway) as http, gateway.admin() as admin:
        sign_in(http, key)
        assert http.get("/console/me").status_code == 200
        key_id = admin.get("/admin/v1/keys", params={"account_id": account_id}).json()["keys"][0]
        admin.delete(f"/admin/v1/keys/{key_id['id']}").raise_for_status()
        ended = http.get("/console/me")
        assert (ended.status_code, ended.headers["location"]) == (
            303,
            "/console/login?done=expired",
        )
        assert "revoked" in http.get("/console/login?done=expired").text


def test_the_vendored_libraries_are_served_with_their_licenses(gateway: RunningGateway) -> None:
    with browser(gateway) as http:
        for path in ("htmx.min.js", "chart.umd.min.js", "console.js", "console.css"):
            assert http.get(f"/console/static/{path}").status_code == 200, path
        listing = http.get("/console/static/licenses/README.md").text
        assert "htmx.org" in listing and "chart.js" in listing


def test_a_body_that_is_not_a_small_form_is_refused_on_the_page(gateway: RunningGateway) -> None:
    account_id, _ = gateway.create_account(credits=5, name="not-a-form")
    action = f"/console/accounts/{account_id}/credits"
    with browser(gateway) as http:
        sign_in(http, gateway.admin_key)
        as_json = http.post(action, json={"amount": 5}, headers=own_origin(http))
        assert as_json.status_code == 400 and "x-www-form-urlencoded" in as_json.text
        huge = http.post(action, data={"amount": "1", "note": "x" * 70_000})
        assert huge.status_code == 413 and "<html" in huge.text
        assert balance(gateway, account_id) == 5


def _audited(gateway: RunningGateway, account_id: str, count: int) -> list[dict[str, object]]:
    """The account's audit records once `count` are written (events land just after a call)."""
    with gateway.admin() as admin:
        for _ in range(100):
            got = admin.get("/admin/v1/audit", params={"account_id": account_id}).json()
            if len(got["records"]) >= count:
                return list(got["records"])
            time.sleep(0.1)
    raise AssertionError("the calls never reached the audit log")


def test_the_audit_page_filters_pages_by_cursor_and_exports_what_it_shows(
    gateway: RunningGateway,
) -> None:
    account_id, key = gateway.create_account(credits=5, name="audited")
    with gateway.client(key) as api:
        for word in ("one", "two", "three"):
            api.post("/api/v1/execute", json={"tool": "echo", "input": {"message": word}})
        api.post("/api/v1/execute", json={"tool": "echo", "input": {"nope": 1}})
    records = _audited(gateway, account_id, 4)
    failed = [r for r in records if r["outcome"] != "OK"]
    assert len(failed) == 1

    with browser(gateway) as http:
        sign_in(http, gateway.admin_key)
        page = http.get("/console/audit", params={"account_id": account_id, "outcome": "ok"})
        assert page.status_code == 200
        rows = re.findall(r"<tr><td>\d{4}-", page.text)
        assert len(rows) == 3 and str(failed[0]["outcome"]) not in page.text.split("<tbody>")[1]
        assert key not in page.text and gateway.admin_key not in page.text

        first = http.get("/console/audit", params={"account_id": account_id, "limit": "2"})
        older = re.search(r'id="audit-older" href="/console/audit\?([^"]+)"', first.text)
        assert older is not None
        second = http.get("/console/audit?" + html.unescape(older.group(1)))
        seen = [re.findall(r"<code>(req_\w+)</code>", p.text) for p in (first, second)]
        assert len(seen[0]) == 2 and len(seen[1]) == 2 and not set(seen[0]) & set(seen[1])
        assert 'id="audit-older"' not in second.text  # four records: two pages

        bad = http.get("/console/audit", params={"since": "last tuesday"})
        assert bad.status_code == 400 and "&#39;since&#39; must be a time like 1h" in bad.text
        bad = http.get("/console/audit", params={"limit": "5000"})
        assert bad.status_code == 400 and "limit" in bad.text

        export = http.get("/console/audit/export", params={"account_id": account_id})
        assert export.status_code == 200
        assert export.headers["content-type"].startswith("application/x-ndjson")
        assert "attachment" in export.headers["content-disposition"]
        lines = [json.loads(line) for line in export.text.splitlines()]
        assert [r["request_id"] for r in lines] == [r["request_id"] for r in reversed(records)]
        assert key not in export.text
        refused = http.get("/console/audit/export", params={"until": "not a time"})
        assert refused.status_code == 400 and "until" in refused.text

    other_id, other_key = gateway.create_account(credits=5, name="someone-else")
    with gateway.client(other_key) as api:
        api.post("/api/v1/execute", json={"tool": "echo", "input": {"message": "theirs"}})
    _audited(gateway, other_id, 1)
    with browser(gateway) as http:
        sign_in(http, key)
        assert http.get("/console/audit").status_code == 404
        assert http.get("/console/audit/export").status_code == 404
        own = http.get("/console/me/audit", params={"account_id": other_id})  # ignored
        assert own.status_code == 200 and other_id not in own.text
        assert len(re.findall(r"<tr><td>\d{4}-", own.text)) == 4
        mine = http.get("/console/me/audit/export", params={"account_id": other_id})
        assert {json.loads(line)["account_id"] for line in mine.text.splitlines()} == {account_id}


def test_the_upstreams_page_approves_only_with_the_forms_token_and_only_for_operators(
    gateway: RunningGateway,
) -> None:
    with browser(gateway) as http:
        sign_in(http, gateway.admin_key)
        page = http.get("/console/upstreams")
        assert page.status_code == 200 and 'id="no-held"' in page.text
        forged = http.post(
            "/console/upstreams/shop/approve", data={"tool": "x"}, headers=own_origin(http)
        )
        assert forged.status_code == 403
        unknown = post(http, "/console/upstreams", "/console/upstreams/shop/approve", {"tool": "x"})
        assert unknown.status_code == 404 and "shop" in html.unescape(unknown.text)
        empty = post(http, "/console/upstreams", "/console/upstreams/shop/approve", {"tool": ""})
        assert empty.status_code == 400
    _, key = gateway.create_account(credits=1, name="not-an-operator")
    with browser(gateway) as http:
        sign_in(http, key)
        assert http.get("/console/upstreams").status_code == 404
        token = csrf_of(http.get("/console/me").text)
        refused = http.post(
            "/console/upstreams/shop/approve",
            data={"csrf": token, "tool": "x"},
            headers=own_origin(http),
        )
        assert refused.status_code == 404
