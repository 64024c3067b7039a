import pytest

from toolwire.core.errors import Forbidden, InvalidRequest
from toolwire.core.scopes import EXPECTED, ScopeSet, check_patterns, within


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


# issue 8, item 9: a deny that could never match is accepted in the names operators see, or
# refused at key creation with a message naming the expected form


@pytest.mark.parametrize(
    ("given", "stored"),
    [
        ("!calc__evaluate", "!calc.evaluate"),  # OpenAI / Anthropic / Gemini name
        ("!Calc.*", "!calc.*"),  # matching ignores case
        ("!CALC__EVALUATE", "!calc.evaluate"),
        ("calc__*", "calc.*"),
        ("category:Math", "category:math"),
        ("!category:math", "!category:math"),
        ("*", "*"),
        ("!echo", "!echo"),
        ("time-zone.to_utc", "time-zone.to_utc"),
        ("c?lc.ev*", "c?lc.ev*"),
    ],
)
def test_scopes_in_every_format_are_stored_canonical_and_deny(given: str, stored: str) -> None:
    assert check_patterns([given]) == [stored]
    if given.startswith("!") and "calc" in given.lower():
        assert not ScopeSet(["*", given]).permits("calc", "evaluate", "math")
        assert not ScopeSet(["*", stored]).permits("calc", "evaluate", "math")


@pytest.mark.parametrize(
    "given",
    [
        "!calc.evaluate.",
        "!calc/evaluate",
        "! calc.*",
        "!calc.* ",
        " *",
        "!!calc",
        "!",
        "",
        "calc.evaluate.extra",
        "calc[ab]",
        "calc.evaluate;drop",
        "category:",
        "category:a b",
        "calc\u00e9",
        "calc.\u200bevaluate",
        "!calc\tevaluate",
        "!destructive:*",
        "destructive:",
        "destructive:category:math",
        "destructive:calc.evaluate.extra",
    ],
)
def test_patterns_that_could_never_match_are_refused_naming_the_expected_form(
    given: str,
) -> None:
    with pytest.raises(InvalidRequest) as refused:
        check_patterns(["*", given])
    assert refused.value.details == {"scope": given, "expected": EXPECTED}
    assert "tool.operation" in refused.value.message


def test_every_refused_or_accepted_form_of_a_deny_either_denies_or_is_refused() -> None:
    forms = [
        "!calc.evaluate",
        "!calc__evaluate",
        "!Calc.*",
        "!calc.evaluate.",
        "!calc/evaluate",
        "! calc.*",
        "!CALC",
        "!category:MATH",
        "!calc*",
        "!*.evaluate",
    ]
    for form in forms:
        try:
            canonical_forms = check_patterns(["*", form])
        except InvalidRequest:
            continue
        assert not ScopeSet(canonical_forms).permits("calc", "evaluate", "math"), form


def test_keys_stored_before_checking_keep_the_deny_their_author_meant() -> None:
    legacy = ScopeSet(["*", "!calc/evaluate", "! time.*", "!echo."])
    assert not legacy.permits("calc", "evaluate", "math")
    assert not legacy.permits("time", "now", "time")
    assert not legacy.permits("echo", "echo", "utility")
    assert legacy.permits("text", "upper", "text")


def test_a_destructive_grant_is_stored_canonical_and_grants_without_allowing() -> None:
    assert check_patterns(["Destructive:Calc__Evaluate", "destructive:*"]) == [
        "destructive:calc.evaluate",
        "destructive:*",
    ]
    granted = ScopeSet(["echo", "destructive:calc"])
    assert granted.grants_destructive("calc", "evaluate")
    assert not granted.permits("calc", "evaluate", "math")  # a grant is not an allow
    assert not ScopeSet(["*"]).grants_destructive("calc", "evaluate")
    assert granted.patterns == ["echo", "destructive:calc"]
    narrowed = ScopeSet(["*", "destructive:*"]).narrowed(["calc.*"])
    assert not narrowed.grants_destructive("calc", "evaluate")  # the token must grant it too
    both = ScopeSet(["*", "destructive:*"]).narrowed(["calc.*", "destructive:calc.*"])
    assert both.grants_destructive("calc", "evaluate")


# a key made by a key: never wider (`within`, what `Admin.create_own_key` checks)

NARROWER = [
    (["*"], ["search.web"]),
    (["*"], ["category:math", "!calc.evaluate"]),
    (["search"], ["search.web"]),
    (["search.*"], ["search.web", "search.w*"]),
    (["se*"], ["search.web"]),
    (["category:m*"], ["category:math"]),
    (["calc.evaluate", "echo"], ["echo", "calc.evaluate"]),
]
WIDER = [
    (["search.web"], ["*"]),
    (["search.web"], ["search"]),
    (["search.*"], ["s*"]),
    (["search"], ["category:web"]),
    (["category:math"], ["calc"]),
    (["a?"], ["a*"]),  # `?` is one character; `a*` reaches further
]


@pytest.mark.parametrize(("outer", "inner"), NARROWER)
def test_a_key_within_its_makers_scopes_is_accepted_in_canonical_form(
    outer: list[str], inner: list[str]
) -> None:
    made = within(outer, inner)
    assert made[: len(inner)] == check_patterns(inner)


@pytest.mark.parametrize(("outer", "inner"), WIDER)
def test_a_key_wider_than_its_maker_is_forbidden_naming_the_scope(
    outer: list[str], inner: list[str]
) -> None:
    with pytest.raises(Forbidden) as refused:
        within(outer, inner)
    assert refused.value.details["scope"] in check_patterns(inner)


def test_the_makers_denies_are_carried_into_the_new_key() -> None:
    made = within(["*", "!calc.*"], ["calc.*", "echo"])
    assert made == ["calc.*", "echo", "!calc.*"]
    assert not ScopeSet(made).permits("calc", "evaluate", "math")
    assert ScopeSet(made).permits("echo", "echo", "utility")


def test_a_pattern_that_does_not_parse_is_an_invalid_request_not_forbidden() -> None:
    with pytest.raises(InvalidRequest):
        within(["*"], ["no spaces allowed"])
