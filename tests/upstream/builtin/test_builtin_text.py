"""text.stats and text.regex_extract, including the guards against regex CPU and memory bombs."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from toolwire.core.errors import InvalidArguments
from toolwire.core.model import Outcome
from toolwire.upstream.builtin import text

Run = Callable[..., Awaitable[Any]]
Call = Callable[..., Awaitable[Outcome]]


async def test_stats_count_words_sentences_lines_and_common_words(run: Run) -> None:
    sample = "The cat sat. The cat ran!\nA dog? Yes"
    data = await run("text.stats", text=sample, top=2)
    assert data == {
        "characters": len(sample),
        "characters_excluding_spaces": len(sample) - 8,
        "words": 9,
        "unique_words": 7,
        "lines": 2,
        "sentences": 4,
        "paragraphs": 1,
        "average_word_length": 2.78,
        "average_sentence_length": 2.25,
        "most_common": [{"word": "the", "count": 2}, {"word": "cat", "count": 2}],
    }


async def test_stats_of_an_empty_text_are_zero(run: Run) -> None:
    data = await run("text.stats", text="")
    assert data["words"] == data["lines"] == data["sentences"] == data["paragraphs"] == 0
    assert data["average_word_length"] == data["average_sentence_length"] == 0.0
    assert data["most_common"] == []


async def test_words_are_unicode_aware_and_keep_inner_apostrophes_and_hyphens(run: Run) -> None:
    data = await run("text.stats", text="Zürich's well-known Straße, 東京 and ZÜRICH'S")
    assert data["words"] == 6
    assert data["unique_words"] == 5
    assert data["most_common"][0] == {"word": "zürich's", "count": 2}


async def test_short_words_can_be_left_out_of_the_most_common(run: Run) -> None:
    data = await run(
        "text.stats", text="the the the apple and apple pear", top=5, min_word_length=4
    )
    assert data["most_common"] == [{"word": "apple", "count": 2}, {"word": "pear", "count": 1}]
    none = await run("text.stats", text="a b c", top=0)
    assert none["most_common"] == []


async def test_lines_and_paragraphs_follow_newlines_and_blank_lines(run: Run) -> None:
    data = await run("text.stats", text="one\ntwo\n\n  \nthree\r\nfour\n")
    assert data["lines"] == 6
    assert data["paragraphs"] == 2


async def test_regex_extract_returns_matches_with_groups_named_groups_and_spans(run: Run) -> None:
    data = await run(
        "text.regex_extract",
        pattern=r"(?P<user>\w+)@(?P<domain>[\w.]+?)(\.org)?\b",
        text="mail ada@x.org or bob@y.net",
    )
    assert data == {
        "matches": [
            {
                "match": "ada@x.org",
                "start": 5,
                "end": 14,
                "groups": ["ada", "x", ".org"],
                "named_groups": {"user": "ada", "domain": "x"},
            },
            {
                "match": "bob@y",
                "start": 18,
                "end": 23,
                "groups": ["bob", "y", None],
                "named_groups": {"user": "bob", "domain": "y"},
            },
        ],
        "count": 2,
        "truncated": False,
    }


async def test_regex_flags_change_matching(run: Run) -> None:
    sample = "Alpha\nbeta\nGAMMA"
    plain = await run("text.regex_extract", pattern=r"^[a-z]+$", text=sample)
    assert plain["count"] == 0
    lines = await run(
        "text.regex_extract", pattern=r"^[a-z]+$", text=sample, multiline=True, ignorecase=True
    )
    assert [m["match"] for m in lines["matches"]] == ["Alpha", "beta", "GAMMA"]
    dotall = await run("text.regex_extract", pattern=r"a.b", text="a\nb", dotall=True)
    assert dotall["count"] == 1
    inline = await run("text.regex_extract", pattern=r"(?i)gamma", text=sample)
    assert inline["matches"][0]["start"] == 11


async def test_max_matches_truncates_and_says_so(run: Run) -> None:
    data = await run("text.regex_extract", pattern=r"\d", text="1 2 3 4 5", max_matches=3)
    assert [m["match"] for m in data["matches"]] == ["1", "2", "3"]
    assert data["count"] == 3
    assert data["truncated"] is True
    exact = await run("text.regex_extract", pattern=r"\d", text="1 2 3", max_matches=3)
    assert exact["truncated"] is False


async def test_empty_matches_advance_through_the_text(run: Run) -> None:
    data = await run("text.regex_extract", pattern="x*", text="ab")
    assert [(m["start"], m["end"]) for m in data["matches"]] == [(0, 0), (1, 1), (2, 2)]


async def test_returned_text_is_capped_in_total_size(
    run: Run, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(text, "MAX_OUTPUT_CHARACTERS", 10_000)
    data = await run("text.regex_extract", pattern="(?=(a*))", text="a" * 3000)
    assert data["truncated"] is True
    assert sum(len(m["groups"][0]) for m in data["matches"]) <= 10_000
    assert data["count"] < 100


@pytest.mark.parametrize(
    "pattern", ["(", "a{2,1}", "[z-a]", "*a", r"\p{L}+", "(?P<n>a)(?P<n>b)", r"\1(a)"]
)
async def test_an_invalid_pattern_is_invalid_arguments(run: Run, pattern: str) -> None:
    with pytest.raises(InvalidArguments) as caught:
        await run("text.regex_extract", pattern=pattern, text="abc")
    assert caught.value.details["pattern"] == pattern


@pytest.mark.parametrize(
    "pattern", [r"((a{1000}){1000}){1000}", r"(a{100}){300}", r"x{4294967294}", r"(?:ab){20001}"]
)
async def test_a_pattern_whose_repeats_expand_too_far_is_refused_before_compiling(
    run: Run, pattern: str
) -> None:
    started = time.perf_counter()
    with pytest.raises(InvalidArguments) as caught:
        await run("text.regex_extract", pattern=pattern, text="aaa")
    assert caught.value.details["reason"] == "too_large"
    assert time.perf_counter() - started < 10  # refused before compiling: never a long hang


def test_a_pattern_weight_counts_counted_repeats_through_groups_branches_and_lookarounds() -> None:
    assert text.check_pattern(r"\d{4}-\d{2}") == 7
    assert text.check_pattern(r"(?:a{10}|b){5}") == 5 * (1 + 10 + 1)
    assert text.check_pattern(r"(?=x{30})y+") == 1 + 30 + 1
    assert text.check_pattern(r"a{2,}b{0,3}") == 2 + 3


@pytest.mark.parametrize(
    ("pattern", "subject"),
    [(r"(a|aa)+b", "a" * 60), (r"(x+x+)+y", "x" * 5000), (r"(a|a)+b", "a" * 50)],
)
async def test_a_catastrophic_pattern_times_out_in_bounded_time(
    run: Run, pattern: str, subject: str
) -> None:
    started = time.perf_counter()
    with pytest.raises(InvalidArguments) as caught:
        await run("text.regex_extract", pattern=pattern, text=subject)
    assert caught.value.details["reason"] == "timeout"
    assert time.perf_counter() - started < 10


async def test_the_event_loop_keeps_running_while_a_regex_times_out(call: Call) -> None:
    ticks = 0

    async def ticker() -> None:
        nonlocal ticks
        while True:
            await asyncio.sleep(0.01)
            ticks += 1

    task = asyncio.create_task(ticker())
    outcome = await call("text.regex_extract", pattern=r"(a|aa)+b", text="a" * 60)
    task.cancel()
    assert outcome.error is not None
    assert outcome.error.code == "INVALID_ARGUMENTS"
    assert outcome.error.details["reason"] == "timeout"
    # A loop frozen by the match would tick at most once; a free loop ticks throughout.
    assert ticks >= 5


async def test_the_core_caps_pattern_and_text_sizes(call: Call) -> None:
    for arguments in (
        {"pattern": "a" * 1001, "text": "a"},
        {"pattern": "a", "text": "a" * 1_000_001},
        {"pattern": "", "text": "a"},
        {"pattern": "a", "text": "a", "max_matches": 0},
        {"pattern": "a", "text": "a", "flags": ["i"]},
    ):
        outcome = await call("text.regex_extract", **arguments)
        assert outcome.error is not None
        assert outcome.error.code == "INVALID_ARGUMENTS"


def test_text_tools_run_in_worker_threads() -> None:
    assert text.registry.get("text", "stats").blocking
    assert text.registry.get("text", "regex_extract").blocking
