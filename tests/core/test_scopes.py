import pytest

from toolwire.core.scopes import ScopeSet


@pytest.mark.parametrize(
    ("patterns", "tool", "op", "category", "allowed"),
    [
        (["*"], "search", "web", "web", True),
        ([], "search", "web", "web", False),
        (["search.*"], "search", "web", "web", True),
        (["search"], "search", "web", "web", True),
        (["search.web"], "search", "news", "web", False),
        (["category:web"], "search", "web", "web", True),
        (["category:math"], "search", "web", "web", False),
        (["*", "!email.*"], "email", "send", "email", False),
        (["*", "!email.*"], "search", "web", "web", True),
        (["*", "!category:email"], "email", "send", "email", False),
        (["echo"], "echo", "echo", "testing", True),
        (["*", "!echo"], "echo", "echo", "testing", False),
    ],
)
def test_scopes_allow_by_glob_and_deny_wins(
    patterns: list[str], tool: str, op: str, category: str, allowed: bool
) -> None:
    assert ScopeSet(patterns).permits(tool, op, category) is allowed


def test_scope_decisions_are_memoised_and_stable() -> None:
    scopes = ScopeSet(["calc.*"])
    assert scopes.permits("calc", "evaluate", "math")
    assert scopes.permits("calc", "evaluate", "math")
    assert not scopes.permits("time", "now", "time")
    assert scopes.patterns == ["calc.*"]
