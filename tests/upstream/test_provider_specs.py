"""The provider specs in examples/providers/, each against a local server following that
provider's documented contract (tests/upstream/contracts.py): what is sent, what the agent gets,
and that swapping provider changes nothing the agent sees."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from starlette.applications import Starlette

from tests.upstream import contracts
from tests.upstream.harness import EXAMPLES, gateway_over, include
from tests.upstream.servers import serving

KEY = "prov-key-3b9f1d2c7a"
SEARCH = [("tavily", contracts.tavily), ("exa", contracts.exa), ("brave", contracts.brave)]
EMAIL = [("resend", contracts.resend), ("sendgrid", contracts.sendgrid)]


def spec_for(provider: str, url: str) -> dict[str, Any]:
    return include(
        EXAMPLES / f"{provider}.yaml",
        **{provider: {"base_url": url, "allow_private_networks": True}},
    )


async def run(
    provider: str,
    app: Callable[[str, list[dict[str, Any]]], Starlette],
    db: str,
    tool: str,
    **args: Any,
) -> tuple[Any, list[dict[str, Any]]]:
    hits: list[dict[str, Any]] = []
    with serving(app(KEY, hits)) as served:
        async with gateway_over(
            db, spec_for(provider, served.url), {f"{provider}_api_key": KEY}
        ) as h:
            outcome = await h.call(tool, **args)
    return outcome, hits


@pytest.mark.parametrize(("provider", "app"), SEARCH, ids=[p for p, _ in SEARCH])
async def test_each_search_provider_answers_search_web_in_the_common_shape(
    provider: str, app: Any, sqlite_url: str
) -> None:
    got, hits = await run(
        provider, app, sqlite_url, "search.web", query="mcp gateway", max_results=2
    )
    assert got.ok, got.error
    assert got.data == {
        "results": [
            {"title": p["title"], "url": p["url"], "snippet": p["text"]}
            for p in contracts.PAGES[:2]
        ]
    }
    sent = hits[0]
    if provider == "brave":
        assert (sent["method"], sent["query"]) == ("GET", {"q": "mcp gateway", "count": "2"})
    else:
        assert sent["method"] == "POST"
        assert sent["json"]["query"] == "mcp gateway"


async def test_swapping_search_provider_keeps_the_agent_visible_output_identical(
    sqlite_url: str, tmp_path: Any
) -> None:
    outputs = []
    for provider, app in SEARCH:
        got, _ = await run(
            provider,
            app,
            f"sqlite+aiosqlite:///{tmp_path / provider}.db",
            "search.web",
            query="q",
            max_results=3,
        )
        assert got.ok, got.error
        outputs.append((got.data, got.meta.tool, got.meta.credential_source))
    assert outputs[0] == outputs[1] == outputs[2]


@pytest.mark.parametrize(("provider", "app"), EMAIL, ids=[p for p, _ in EMAIL])
async def test_each_email_provider_sends_with_its_own_request_shape(
    provider: str, app: Any, sqlite_url: str
) -> None:
    message = {"from": "Ops <ops@example.com>", "to": ["a@example.com", "b@example.com"]}
    got, hits = await run(
        provider, app, sqlite_url, "email.send", **message, subject="Hi", text="Hello"
    )
    assert got.ok, got.error
    assert set(got.data) == {"id"} and isinstance(got.data["id"], str)
    body = hits[0]["json"]
    if provider == "sendgrid":
        assert body["personalizations"] == [
            {"to": [{"email": "a@example.com"}, {"email": "b@example.com"}]}
        ]
        assert body["content"] == [{"type": "text/plain", "value": "Hello"}]
    else:
        assert body == {
            "from": "Ops <ops@example.com>",
            "to": ["a@example.com", "b@example.com"],
            "subject": "Hi",
            "text": "Hello",
        }


async def test_a_provider_error_keeps_its_message_and_status(sqlite_url: str) -> None:
    got, _ = await run(
        "resend",
        contracts.resend,
        sqlite_url,
        "email.send",
        **{"from": "nobody", "to": ["a@b.c"], "subject": "s", "html": "<p>x</p>"},
    )
    assert got.error is not None
    assert (got.error.code, got.error.details["status"]) == ("UPSTREAM_ERROR", 422)
    assert got.error.details["provider_message"] == "Invalid `from` field."


async def test_a_wrong_key_is_an_upstream_401_that_does_not_echo_the_key(sqlite_url: str) -> None:
    hits: list[dict[str, Any]] = []
    with serving(contracts.tavily("another-key-entirely", hits)) as served:
        async with gateway_over(
            sqlite_url, spec_for("tavily", served.url), {"tavily_api_key": KEY}
        ) as h:
            got = await h.call("search.web", query="x")
    assert got.error is not None
    assert (got.error.code, got.error.details["status"]) == ("UPSTREAM_ERROR", 401)
    assert KEY not in repr(got.error.to_dict())


async def test_firecrawl_scrapes_a_page_to_markdown(sqlite_url: str) -> None:
    got, hits = await run(
        "firecrawl", contracts.firecrawl, sqlite_url, "web.scrape", url="https://example.org/a"
    )
    assert got.ok, got.error
    assert got.data == {
        "url": "https://example.org/a",
        "title": "Page",
        "markdown": "# Page\n\nContent of https://example.org/a",
    }
    assert hits[0]["json"] == {"url": "https://example.org/a", "formats": ["markdown"]}
