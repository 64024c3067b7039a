"""time.now and time.convert: IANA zones, offsets, DST gaps and folds."""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from toolwire.core.errors import InvalidArguments
from toolwire.core.model import Outcome

Run = Callable[..., Awaitable[Any]]
Call = Callable[..., Awaitable[Outcome]]


async def test_now_defaults_to_utc_with_a_matching_unix_timestamp(run: Run) -> None:
    before = int(time.time())
    data = await run("time.now")
    after = time.time()
    assert data["zone"] == "UTC"
    assert data["utc_offset"] == "+00:00"
    assert data["datetime"].endswith("+00:00")
    assert before <= data["unix"] <= after
    assert dt.datetime.fromisoformat(data["datetime"]).timestamp() == data["unix"]
    assert data["dst"] is False


async def test_now_in_a_zone_with_a_half_hour_offset(run: Run) -> None:
    data = await run("time.now", zone="Asia/Kolkata")
    assert data["zone"] == "Asia/Kolkata"
    assert data["utc_offset"] == "+05:30"
    assert data["abbreviation"] == "IST"
    assert data["datetime"].endswith("+05:30")
    moment = dt.datetime.fromisoformat(data["datetime"])
    assert data["weekday"] == moment.strftime("%A")


@pytest.mark.parametrize(
    ("given", "zone"),
    [
        ("europe/paris", "Europe/Paris"),
        ("utc", "UTC"),
        ("Tokyo", "Asia/Tokyo"),
        ("new york", "America/New_York"),
    ],
)
async def test_zone_names_are_found_regardless_of_case_or_by_unique_city(
    run: Run, given: str, zone: str
) -> None:
    assert (await run("time.now", zone=given))["zone"] == zone


@pytest.mark.parametrize(
    "zone", ["Mars/Olympus_Mons", "../../etc/passwd", "/etc/localtime", "America", "Europe/Pariss"]
)
async def test_an_unknown_zone_is_invalid_arguments(run: Run, zone: str) -> None:
    with pytest.raises(InvalidArguments) as caught:
        await run("time.now", zone=zone)
    assert caught.value.details["argument"] == "zone"


async def test_an_unknown_zone_comes_with_suggestions(run: Run) -> None:
    with pytest.raises(InvalidArguments) as caught:
        await run("time.convert", datetime="2024-01-01T00:00:00Z", to_zone="Europe/Pariss")
    assert "Europe/Paris" in caught.value.details["suggestions"]
    assert caught.value.details["argument"] == "to_zone"


async def test_convert_an_instant_with_an_offset_to_another_zone(run: Run) -> None:
    data = await run("time.convert", datetime="2024-01-15T12:00:00Z", to_zone="Asia/Tokyo")
    assert data["datetime"] == "2024-01-15T21:00:00+09:00"
    assert data["source"] == "2024-01-15T12:00:00+00:00"
    assert data["zone"] == "Asia/Tokyo"
    assert data["unix"] == 1705320000
    assert data["weekday"] == "Monday"
    assert data["ambiguous"] is False


async def test_convert_a_local_time_using_from_zone_and_daylight_saving(run: Run) -> None:
    data = await run(
        "time.convert",
        datetime="2024-07-01 09:30",
        from_zone="America/New_York",
        to_zone="Europe/Berlin",
    )
    assert data["source"] == "2024-07-01T09:30:00-04:00"
    assert data["datetime"] == "2024-07-01T15:30:00+02:00"
    assert (data["abbreviation"], data["dst"], data["utc_offset"]) == ("CEST", True, "+02:00")
    winter = await run(
        "time.convert", datetime="2024-01-01T09:30", from_zone="UTC", to_zone="Europe/Berlin"
    )
    assert (winter["abbreviation"], winter["dst"], winter["utc_offset"]) == ("CET", False, "+01:00")


async def test_fractional_seconds_are_kept(run: Run) -> None:
    data = await run("time.convert", datetime="2024-01-15T12:00:00.250Z", to_zone="UTC")
    assert data["datetime"] == "2024-01-15T12:00:00.250000+00:00"
    assert data["unix"] == 1705320000.25


async def test_historic_offsets_with_seconds_are_rendered(run: Run) -> None:
    data = await run("time.convert", datetime="1900-01-01T00:00:00Z", to_zone="Europe/Amsterdam")
    assert data["utc_offset"] == "+00:19:32"


async def test_a_local_time_without_offset_or_from_zone_is_invalid(run: Run) -> None:
    with pytest.raises(InvalidArguments) as caught:
        await run("time.convert", datetime="2024-07-01T09:30:00", to_zone="UTC")
    assert caught.value.details["argument"] == "from_zone"


async def test_an_offset_that_contradicts_from_zone_is_invalid(run: Run) -> None:
    with pytest.raises(InvalidArguments):
        await run(
            "time.convert",
            datetime="2024-07-01T09:30:00+01:00",
            from_zone="America/New_York",
            to_zone="UTC",
        )
    agreeing = await run(
        "time.convert",
        datetime="2024-07-01T09:30:00-04:00",
        from_zone="America/New_York",
        to_zone="UTC",
    )
    assert agreeing["datetime"] == "2024-07-01T13:30:00+00:00"


async def test_a_local_time_skipped_by_daylight_saving_is_invalid(run: Run) -> None:
    with pytest.raises(InvalidArguments) as caught:
        await run(
            "time.convert",
            datetime="2024-03-31T02:30:00",
            from_zone="Europe/Berlin",
            to_zone="UTC",
        )
    assert caught.value.details["reason"] == "nonexistent"


async def test_a_local_time_that_happened_twice_is_flagged_and_the_first_one_used(
    run: Run,
) -> None:
    data = await run(
        "time.convert", datetime="2024-10-27T02:30:00", from_zone="Europe/Berlin", to_zone="UTC"
    )
    assert data["ambiguous"] is True
    assert data["source"] == "2024-10-27T02:30:00+02:00"
    assert data["datetime"] == "2024-10-27T00:30:00+00:00"


@pytest.mark.parametrize("value", ["next tuesday", "2024-13-01", "12:00", "2024-02-30T00:00:00Z"])
async def test_a_date_time_that_is_not_iso_8601_is_invalid(run: Run, value: str) -> None:
    with pytest.raises(InvalidArguments) as caught:
        await run("time.convert", datetime=value, to_zone="UTC")
    assert caught.value.details["argument"] == "datetime"


async def test_a_conversion_past_the_representable_range_is_invalid(run: Run) -> None:
    with pytest.raises(InvalidArguments):
        await run(
            "time.convert", datetime="0001-01-01T00:00:00", from_zone="Asia/Tokyo", to_zone="UTC"
        )


async def test_the_core_requires_to_zone_and_refuses_unknown_arguments(call: Call) -> None:
    for arguments in (
        {"datetime": "2024-01-01T00:00:00Z"},
        {"datetime": "2024-01-01T00:00:00Z", "to_zone": "UTC", "zone": "UTC"},
        {"datetime": "2024-01-01T00:00:00Z", "to_zone": "x" * 65},
    ):
        outcome = await call("time.convert", **arguments)
        assert outcome.error is not None
        assert outcome.error.code == "INVALID_ARGUMENTS"
