"""`time.now` and `time.convert`: the current time and time-zone conversion, with IANA zones.

Zones come from `zoneinfo` (backed by the `tzdata` package, so they work on any OS). A zone name is
looked up exactly, then case-insensitively, then as a unique city (`Tokyo`, `new york`); anything
else is INVALID_ARGUMENTS with close matches as suggestions.
"""

from __future__ import annotations

import datetime as dt
import difflib
import functools
import zoneinfo
from typing import Annotated

from pydantic import Field
from typing_extensions import TypedDict

from toolwire.core.errors import InvalidArguments
from toolwire.upstream.builtin.registry import BuiltinRegistry

registry = BuiltinRegistry()

UTC = dt.UTC

_WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")

Zone = Annotated[
    str,
    Field(
        description="An IANA time zone name such as 'UTC', 'Europe/Paris', 'America/New_York' "
        "or 'Asia/Kolkata' (a unique city name such as 'Tokyo' is accepted too).",
        min_length=1,
        max_length=64,
    ),
]


class Moment(TypedDict):
    datetime: Annotated[str, Field(description="ISO 8601 date and time with its UTC offset.")]
    zone: Annotated[str, Field(description="The IANA time zone name.")]
    utc_offset: Annotated[str, Field(description="Offset from UTC, e.g. '+05:30' or '-04:00'.")]
    abbreviation: Annotated[str, Field(description="The zone's abbreviation then, e.g. 'CEST'.")]
    dst: Annotated[bool, Field(description="Whether daylight saving time is in effect then.")]
    weekday: Annotated[str, Field(description="Day of the week in that zone, e.g. 'Monday'.")]
    unix: Annotated[
        int | float, Field(description="Seconds since 1970-01-01T00:00:00Z (Unix time).")
    ]


class Conversion(Moment):
    source: Annotated[
        str, Field(description="The input instant as understood, ISO 8601 with its UTC offset.")
    ]
    ambiguous: Annotated[
        bool,
        Field(
            description="True when the input local time occurred twice (clocks turned back); "
            "the first occurrence was used."
        ),
    ]


_TOOL_DESCRIPTION = (
    "Current date and time in any IANA time zone, and conversion of a date-time between zones "
    "(daylight saving time included)."
)


@registry.operation(
    "time",
    "now",
    category="time",
    title="Current time",
    read_only=True,
    destructive=False,
    idempotent=False,
    open_world=False,
    tool_description=_TOOL_DESCRIPTION,
)
def now(zone: Zone = "UTC") -> Moment:
    """The current date and time in a time zone, with its UTC offset and Unix timestamp."""
    tz = resolve_zone(zone, "zone")
    moment = dt.datetime.now(tz).replace(microsecond=0)
    return describe(moment, tz, timespec="seconds")


@registry.operation(
    "time",
    "convert",
    title="Convert time zone",
    read_only=True,
    destructive=False,
    idempotent=True,
    open_world=False,
)
def convert(
    datetime: Annotated[
        str,
        Field(
            description="The date and time, ISO 8601: '2024-07-01T09:30:00', "
            "'2024-07-01 09:30', '2024-07-01T09:30:00Z' or '2024-07-01T09:30:00+02:00'.",
            min_length=1,
            max_length=64,
        ),
    ],
    *,
    from_zone: Annotated[
        str | None,
        Field(
            description="The IANA zone the date-time is in. Needed when `datetime` has no UTC "
            "offset; when it has one, both must agree.",
            max_length=64,
        ),
    ] = None,
    to_zone: Zone,
) -> Conversion:
    """Convert a date and time from one time zone (or UTC offset) to another IANA time zone."""
    try:
        parsed = dt.datetime.fromisoformat(datetime.strip())
    except ValueError:
        raise InvalidArguments(
            f"not an ISO 8601 date-time: {datetime!r}", details={"argument": "datetime"}
        ) from None
    source_tz = resolve_zone(from_zone, "from_zone") if from_zone is not None else None
    target = resolve_zone(to_zone, "to_zone")
    try:
        instant, ambiguous = _instant(parsed, source_tz, from_zone)
        converted = instant.astimezone(target)
    except OverflowError:
        raise InvalidArguments(
            "the date-time is out of range after conversion", details={"argument": "datetime"}
        ) from None
    return {
        **describe(converted, target),
        "source": instant.isoformat(),
        "ambiguous": ambiguous,
    }


def _instant(
    parsed: dt.datetime, source_tz: zoneinfo.ZoneInfo | None, from_zone: str | None
) -> tuple[dt.datetime, bool]:
    """The instant `parsed` denotes, in `source_tz` when given, and whether it was ambiguous."""
    if parsed.tzinfo is None:
        if source_tz is None:
            raise InvalidArguments(
                "the date-time has no UTC offset: give from_zone, or an offset such as 'Z'",
                details={"argument": "from_zone"},
            )
        return _localize(parsed, source_tz)
    if source_tz is None:
        return parsed, False
    local = parsed.astimezone(source_tz)
    if local.utcoffset() != parsed.utcoffset():
        raise InvalidArguments(
            f"the date-time's offset {_offset(parsed.utcoffset())} is not that of "
            f"{from_zone!r} at that moment; give only one of them",
            details={"argument": "from_zone"},
        )
    return local, False


def describe(moment: dt.datetime, tz: dt.tzinfo, timespec: str = "auto") -> Moment:
    stamp = moment.timestamp()
    return {
        "datetime": moment.isoformat(timespec=timespec),
        "zone": zone_name(tz),
        "utc_offset": _offset(moment.utcoffset()),
        "abbreviation": moment.tzname() or "",
        "dst": bool(moment.dst()),
        "weekday": _WEEKDAYS[moment.weekday()],
        "unix": int(stamp) if stamp.is_integer() else stamp,
    }


def zone_name(tz: dt.tzinfo) -> str:
    return str(getattr(tz, "key", None) or tz.tzname(None) or "UTC")


def _localize(naive: dt.datetime, tz: zoneinfo.ZoneInfo) -> tuple[dt.datetime, bool]:
    """Attach a zone to a wall-clock time; refuse a time skipped by a DST change, flag one that
    happened twice (the first occurrence is used)."""
    first = naive.replace(tzinfo=tz, fold=0)
    if first.utcoffset() == first.replace(fold=1).utcoffset():
        return first, False
    back = first.astimezone(UTC).astimezone(tz).replace(tzinfo=None)
    if back != naive:
        raise InvalidArguments(
            f"{naive.isoformat()} does not exist in {tz.key} (clocks were turned forward)",
            details={"argument": "datetime", "reason": "nonexistent"},
        )
    return first, True


def _offset(delta: dt.timedelta | None) -> str:
    seconds = int((delta or dt.timedelta()).total_seconds())
    sign = "-" if seconds < 0 else "+"
    hours, rest = divmod(abs(seconds), 3600)
    minutes, secs = divmod(rest, 60)
    text = f"{sign}{hours:02d}:{minutes:02d}"
    return f"{text}:{secs:02d}" if secs else text


def resolve_zone(name: str, argument: str) -> zoneinfo.ZoneInfo:
    """The ZoneInfo for `name` (exact, case-insensitive or unique city), else INVALID_ARGUMENTS
    with suggestions."""
    key = name.strip()
    try:
        return zoneinfo.ZoneInfo(key)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError, OSError):
        pass
    by_lower, by_city = _zone_index()
    folded = key.lower().replace(" ", "_")
    match = by_lower.get(folded)
    cities = by_city.get(folded, [])
    if match is None and len(cities) == 1:
        match = cities[0]
    if match is not None:
        return zoneinfo.ZoneInfo(match)
    suggestions = cities or difflib.get_close_matches(key, list(by_lower.values()), n=5, cutoff=0.6)
    raise InvalidArguments(
        f"unknown time zone {name!r}; use an IANA name such as 'Europe/Paris'",
        details={"argument": argument, "zone": name, "suggestions": suggestions},
    )


@functools.cache
def _zone_index() -> tuple[dict[str, str], dict[str, list[str]]]:
    """(lower-cased name -> name, lower-cased city -> names), built once on the first miss."""
    by_lower: dict[str, str] = {}
    by_city: dict[str, list[str]] = {}
    for zone in sorted(zoneinfo.available_timezones()):
        by_lower[zone.lower()] = zone
        if "/" in zone:
            by_city.setdefault(zone.rsplit("/", 1)[1].lower(), []).append(zone)
    return by_lower, by_city
