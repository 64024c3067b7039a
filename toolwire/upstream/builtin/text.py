"""`text.stats` and `text.regex_extract`.

Regular expressions from callers are the classic CPU bomb: `(a|aa)+b` against a line of `a`s
backtracks for ever, and the stdlib `re` holds the GIL while it does, so a thread with a timeout
would not even let the event loop breathe. `regex_extract` therefore:

- checks the pattern with the stdlib parser (Python `re` syntax) and refuses patterns whose
  counted repeats expand too far (`((a{1000}){1000}){1000}`), which would make compiling alone
  take minutes and gigabytes;
- matches with the `regex` module, which releases the GIL (`concurrent=True`) and aborts a search
  after `REGEX_TIMEOUT` seconds; the whole extraction also stops at that deadline;
- caps the pattern, the text, the number of matches and the total size of what it returns.
"""

from __future__ import annotations

import importlib
import re
import time
from collections import Counter
from typing import Annotated, Any

import regex
from pydantic import Field
from typing_extensions import TypedDict

from toolwire.core.errors import InvalidArguments
from toolwire.upstream.builtin.registry import BuiltinRegistry

registry = BuiltinRegistry()

MAX_TEXT_LENGTH = 1_000_000
MAX_PATTERN_LENGTH = 1000
MAX_PATTERN_WEIGHT = 20_000
"""Largest size a pattern may have once its counted repeats are expanded (`a{50}` weighs 50)."""
REGEX_TIMEOUT = 0.5
"""Seconds of matching allowed for one extraction."""
MAX_OUTPUT_CHARACTERS = 1_000_000
"""Characters of matched text and groups returned by one extraction, at most."""

_TOOL_DESCRIPTION = (
    "Text utilities: statistics of a text (characters, words, sentences, lines, most common "
    "words) and extraction of regular-expression matches with their groups and positions."
)

# Our own linear patterns, with `regex` so that the GIL is released while they scan a long text.
_WORD = regex.compile(r"[^\W_]+(?:['\u2019\-][^\W_]+)*")
_SENTENCE_END = regex.compile(r"[.!?\u2026]+(?=[\s\"'\u201d\u2019)\]]|$)")
_PARAGRAPH_BREAK = regex.compile(r"\n[ \t\r\f\v]*\n")

Text = Annotated[
    str,
    Field(description="The text to analyse.", max_length=MAX_TEXT_LENGTH),
]


class WordCount(TypedDict):
    word: Annotated[str, Field(description="The word, lower-cased.")]
    count: Annotated[int, Field(description="How many times it occurs.")]


class TextStats(TypedDict):
    characters: Annotated[int, Field(description="Characters (Unicode code points).")]
    characters_excluding_spaces: Annotated[int, Field(description="Characters minus whitespace.")]
    words: Annotated[int, Field(description="Words: runs of letters and digits.")]
    unique_words: Annotated[int, Field(description="Distinct words, ignoring case.")]
    lines: Annotated[int, Field(description="Lines (a final newline does not start a new one).")]
    sentences: Annotated[int, Field(description="Sentences: text ending with . ! ? or at the end.")]
    paragraphs: Annotated[int, Field(description="Blocks of text separated by blank lines.")]
    average_word_length: Annotated[float, Field(description="Mean characters per word.")]
    average_sentence_length: Annotated[float, Field(description="Mean words per sentence.")]
    most_common: Annotated[
        list[WordCount], Field(description="The most frequent words, most frequent first.")
    ]


@registry.operation(
    "text",
    "stats",
    category="text",
    title="Text statistics",
    read_only=True,
    destructive=False,
    idempotent=True,
    open_world=False,
    blocking=True,
    tool_description=_TOOL_DESCRIPTION,
)
def stats(
    text: Text,
    top: Annotated[
        int, Field(description="How many of the most common words to list.", ge=0, le=100)
    ] = 10,
    min_word_length: Annotated[
        int,
        Field(
            description="Leave words shorter than this out of the most common words (e.g. 4 to "
            "skip 'the', 'and').",
            ge=1,
            le=50,
        ),
    ] = 1,
) -> TextStats:
    """Count the characters, words, unique words, lines, sentences and paragraphs of a text,
    with average word and sentence lengths and the most common words."""
    words: list[str] = _WORD.findall(text, concurrent=True)
    counts = Counter(word.casefold() for word in words)
    sentences = _count_sentences(text)
    common = ((word, count) for word, count in counts.most_common() if len(word) >= min_word_length)
    most_common: list[WordCount] = []
    for word, count in common:
        if len(most_common) >= top:
            break
        most_common.append({"word": word, "count": count})
    return {
        "characters": len(text),
        "characters_excluding_spaces": len("".join(text.split())),
        "words": len(words),
        "unique_words": len(counts),
        "lines": 0 if not text else text.count("\n") + (0 if text.endswith("\n") else 1),
        "sentences": sentences,
        "paragraphs": sum(
            1 for block in _PARAGRAPH_BREAK.split(text, concurrent=True) if block.strip()
        ),
        "average_word_length": round(sum(map(len, words)) / len(words), 2) if words else 0.0,
        "average_sentence_length": round(len(words) / sentences, 2) if sentences else 0.0,
        "most_common": most_common,
    }


def _count_sentences(text: str) -> int:
    count = 0
    start = 0
    for end in _SENTENCE_END.finditer(text, concurrent=True):
        if _WORD.search(text, start, end.start(), concurrent=True):
            count += 1
        start = end.end()
    if _WORD.search(text, start, concurrent=True):
        count += 1
    return count


class RegexMatch(TypedDict):
    match: Annotated[str, Field(description="The matched text.")]
    start: Annotated[int, Field(description="Offset of the match in the text (characters).")]
    end: Annotated[int, Field(description="Offset just after the match (characters).")]
    groups: Annotated[
        list[str | None],
        Field(description="The numbered groups, in order (null for a group that took no part)."),
    ]
    named_groups: Annotated[
        dict[str, str | None], Field(description="The named groups (?P<name>...) by name.")
    ]


class Extraction(TypedDict):
    matches: Annotated[list[RegexMatch], Field(description="The matches, in text order.")]
    count: Annotated[int, Field(description="How many matches are listed.")]
    truncated: Annotated[
        bool,
        Field(
            description="True when more matches exist than were listed (max_matches or the "
            "output size limit was reached)."
        ),
    ]


@registry.operation(
    "text",
    "regex_extract",
    title="Extract regex matches",
    read_only=True,
    destructive=False,
    idempotent=True,
    open_world=False,
    blocking=True,
)
def regex_extract(
    pattern: Annotated[
        str,
        Field(
            description="A regular expression in Python `re` syntax, e.g. "
            r"'(?P<user>[\w.+-]+)@(?P<domain>[\w-]+\.[\w.-]+)' or '\d{4}-\d{2}-\d{2}'. "
            "Inline flags such as (?i) work too. Matching is stopped after "
            f"{REGEX_TIMEOUT:g} seconds: avoid nested quantifiers such as (a+)+.",
            min_length=1,
            max_length=MAX_PATTERN_LENGTH,
        ),
    ],
    text: Annotated[str, Field(description="The text to search.", max_length=MAX_TEXT_LENGTH)],
    ignorecase: Annotated[bool, Field(description="Match letters regardless of case.")] = False,
    multiline: Annotated[
        bool, Field(description="^ and $ match at the start and end of every line.")
    ] = False,
    dotall: Annotated[bool, Field(description=". matches newlines too.")] = False,
    max_matches: Annotated[int, Field(description="Most matches to return.", ge=1, le=1000)] = 100,
) -> Extraction:
    """Find every match of a regular expression in a text and return each match with its
    numbered and named groups and its position."""
    flags = (
        (re.IGNORECASE if ignorecase else 0)
        | (re.MULTILINE if multiline else 0)
        | (re.DOTALL if dotall else 0)
    )
    check_pattern(pattern, flags)
    try:
        compiled = regex.compile(pattern, flags | regex.VERSION0)
    except regex.error as exc:
        raise InvalidArguments(
            f"invalid regular expression: {exc}",
            details={"pattern": pattern, "position": getattr(exc, "pos", None)},
        ) from None
    deadline = time.monotonic() + REGEX_TIMEOUT
    matches: list[RegexMatch] = []
    budget = MAX_OUTPUT_CHARACTERS
    truncated = False
    try:
        for found in compiled.finditer(text, timeout=REGEX_TIMEOUT, concurrent=True):
            size = sum(end - start for start, end in found.regs if start >= 0)
            if len(matches) >= max_matches or size > budget:
                truncated = True
                break
            budget -= size
            matches.append(
                {
                    "match": found.group(),
                    "start": found.start(),
                    "end": found.end(),
                    "groups": list(found.groups()),
                    "named_groups": found.groupdict(),
                }
            )
            if time.monotonic() > deadline:
                raise TimeoutError
    except TimeoutError:
        raise InvalidArguments(
            f"the regular expression took longer than {REGEX_TIMEOUT:g}s on this text; "
            "simplify it (avoid nested or overlapping quantifiers such as (a+)+ or (a|aa)*)",
            details={"pattern": pattern, "reason": "timeout", "timeout_s": REGEX_TIMEOUT},
        ) from None
    return {"matches": matches, "count": len(matches), "truncated": truncated}


_re_parser: Any = importlib.import_module("re._parser")
_re_constants: Any = importlib.import_module("re._constants")
_REPEATS = frozenset(
    {_re_constants.MAX_REPEAT, _re_constants.MIN_REPEAT, _re_constants.POSSESSIVE_REPEAT}
)


def check_pattern(pattern: str, flags: int = 0) -> int:
    """Parse `pattern` with the stdlib parser (no compilation, no expansion) and return its
    weight: its size with counted repeats multiplied out. INVALID_ARGUMENTS when it is not valid
    `re` syntax or weighs more than MAX_PATTERN_WEIGHT."""
    try:
        parsed = _re_parser.parse(pattern, flags)
        weight = _weight(parsed)
    except re.error as exc:
        raise InvalidArguments(
            f"invalid regular expression: {exc.msg}",
            details={"pattern": pattern, "position": exc.pos},
        ) from None
    except RecursionError:
        raise InvalidArguments(
            "the regular expression is nested too deeply", details={"pattern": pattern}
        ) from None
    if weight > MAX_PATTERN_WEIGHT:
        raise InvalidArguments(
            "the regular expression repeats too much: counted repeats such as {1000} multiply "
            f"out to more than {MAX_PATTERN_WEIGHT} items",
            details={"pattern": pattern, "reason": "too_large", "limit": MAX_PATTERN_WEIGHT},
        )
    return weight


def _weight(subpattern: Any) -> int:
    total = 0
    for op, av in subpattern:
        if op in _REPEATS:
            low, high, item = av
            count = low if high == _re_constants.MAXREPEAT else high
            total += max(count, 1) * _weight(item)
        else:
            total += 1 + sum(_weight(sub) for sub in _nested(av))
        if total > MAX_PATTERN_WEIGHT:
            return total
    return total


def _nested(value: Any) -> list[Any]:
    """The sub-patterns inside an opcode's argument (groups, branches, assertions...)."""
    if isinstance(value, _re_parser.SubPattern):
        return [value]
    if isinstance(value, tuple | list):
        return [sub for item in value for sub in _nested(item)]
    return []
