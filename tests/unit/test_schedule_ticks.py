"""When schedules tick (cron in time zones across DST, intervals, one-offs) and what a
firing does under each policy: the pure functions behind the ticker."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import pytest

from continuum.schedules import (
    MAX_RUNS_PER_FIRING,
    MISSED_AFTER,
    Plan,
    Timing,
    define,
    plan,
    tick_run_id,
)
from tests.engine.schedule_flows import Tick

PARIS = ZoneInfo("Europe/Paris")
NEW_YORK = ZoneInfo("America/New_York")


def utc(*fields: int) -> float:
    return dt.datetime(*fields, tzinfo=dt.UTC).timestamp()


def ticks(timing: Timing, after: float, count: int) -> list[float]:
    found: list[float] = []
    for _ in range(count):
        nxt = timing.next_after(found[-1] if found else after)
        assert nxt is not None
        found.append(nxt)
    return found


# -- cron across DST -------------------------------------------------------------------------
def test_a_daily_time_skipped_in_spring_runs_once_right_after_the_gap() -> None:
    # 30 March 2025, Paris: 02:00 CET becomes 03:00 CEST; 02:30 does not exist that night.
    daily = Timing(cron="30 2 * * *", zone=PARIS)
    assert ticks(daily, utc(2025, 3, 28, 12), 3) == [
        utc(2025, 3, 29, 1, 30),  # 02:30 CET
        utc(2025, 3, 30, 1, 0),  # 03:00 CEST, at once after the gap
        utc(2025, 3, 31, 0, 30),  # 02:30 CEST
    ]


def test_a_daily_time_repeated_in_autumn_runs_once() -> None:
    # 26 October 2025, Paris: 03:00 CEST becomes 02:00 CET; 02:30 happens twice.
    daily = Timing(cron="30 2 * * *", zone=PARIS)
    assert ticks(daily, utc(2025, 10, 25, 12), 2) == [
        utc(2025, 10, 26, 0, 30),  # the first 02:30 (CEST), not the second
        utc(2025, 10, 27, 1, 30),  # 02:30 CET
    ]


def test_an_hourly_schedule_follows_the_clock_through_both_changes() -> None:
    hourly = Timing(cron="0 * * * *", zone=PARIS)
    # autumn: every real hour, the repeated one included
    assert ticks(hourly, utc(2025, 10, 25, 23, 30), 4) == [
        utc(2025, 10, 26, 0),
        utc(2025, 10, 26, 1),
        utc(2025, 10, 26, 2),
        utc(2025, 10, 26, 3),
    ]
    # spring: the skipped hour has no tick, and no hour is fired twice
    assert ticks(hourly, utc(2025, 3, 30, 0, 30), 2) == [utc(2025, 3, 30, 1), utc(2025, 3, 30, 2)]


def test_a_local_time_is_the_same_wall_clock_time_all_year() -> None:
    nine = Timing(cron="0 9 * * 1-5", zone=NEW_YORK)
    assert nine.next_after(utc(2025, 7, 3, 0)) == utc(2025, 7, 3, 13)  # EDT
    assert nine.next_after(utc(2025, 12, 3, 0)) == utc(2025, 12, 3, 14)  # EST
    assert nine.next_after(utc(2025, 12, 6, 0)) == utc(2025, 12, 8, 14)  # Saturday: Monday


def test_cron_aliases_and_seconds() -> None:
    daily = Timing.of(define(Tick, None, **_args(cron="@daily", timezone="Europe/Paris")))
    assert daily.next_after(utc(2025, 7, 3, 10)) == utc(2025, 7, 3, 22)  # midnight CEST
    every_second = Timing(cron="* * * * * *")
    assert every_second.next_after(utc(2025, 1, 1) + 0.25) == utc(2025, 1, 1) + 1
    assert every_second.next_after(utc(2025, 1, 1)) == utc(2025, 1, 1) + 1  # strictly after


# -- intervals and one-offs ----------------------------------------------------------------
def test_interval_ticks_are_multiples_since_the_epoch_to_the_millisecond() -> None:
    every = Timing(every_ms=250)
    assert every.next_after(100.0) == 100.25
    assert every.next_after(100.1) == 100.25
    # A tick read back from a database a hair below itself counts as itself.
    assert every.next_after(100.25 - 1e-9) == 100.5
    hourly = Timing(every_ms=3_600_000)
    assert hourly.next_after(utc(2025, 5, 1, 10, 59, 59)) == utc(2025, 5, 1, 11)


def test_a_one_off_has_one_tick() -> None:
    once = Timing(at=500.0)
    assert once.next_after(100.0) == 500.0
    assert once.next_after(500.0) is None


def test_backlogs_are_counted_without_walking_every_tick() -> None:
    every = Timing(every_ms=100)
    assert every.backlog(10.0, 10.0) == (1, 10.0)
    assert every.backlog(10.0, 20.05) == (101, 20.0)
    # A day of an every-second cron: beyond what is counted one by one, the latest tick
    # is still found exactly.
    second = Timing(cron="* * * * * *")
    count, latest = second.backlog(utc(2025, 1, 1), utc(2025, 1, 2) + 0.5)
    assert count > 10_000 and latest == utc(2025, 1, 2)


def test_run_ids_name_the_schedule_and_the_tick_in_utc() -> None:
    assert tick_run_id("nightly", utc(2030, 1, 1, 1)) == "schedule:nightly:2030-01-01T01:00:00Z"
    assert tick_run_id("fast", utc(2030, 1, 1) + 0.25) == "schedule:fast:2030-01-01T00:00:00.250Z"
    assert tick_run_id("fast", utc(2030, 1, 1) + 0.25 - 1e-9) == tick_run_id(
        "fast", utc(2030, 1, 1) + 0.25
    )


# -- policies ----------------------------------------------------------------------------------
EVERY_MINUTE = Timing(every_ms=60_000)
T0 = utc(2030, 1, 1)


def fire(
    catch_up: str, overlap: str, *, late: float, going: bool = False, previous: str = "prev"
) -> Plan:
    """The firing of a schedule whose next tick was T0, looked at `late` seconds after."""
    return plan(
        EVERY_MINUTE,
        next_tick=T0,
        now=T0 + late,
        catch_up=catch_up,
        overlap=overlap,
        previous=previous,
        previous_going=going,
    )


def test_a_tick_on_time_runs_under_every_catch_up_policy() -> None:
    for catch_up in ("skip", "once", "all"):
        assert fire(catch_up, "skip", late=0.2) == Plan((T0,), T0 + 60)


def test_missed_ticks_under_each_catch_up_policy() -> None:
    # Every node down for 3.5 minutes: T0 .. T0+120 were missed (their next tick came);
    # T0+180, 30 s ago, is the tick of now.
    assert fire("skip", "allow", late=210) == Plan((T0 + 180,), T0 + 240, missed=3)
    assert fire("once", "allow", late=210) == Plan((T0 + 180,), T0 + 240, missed=3)
    assert fire("all", "allow", late=210) == Plan((T0, T0 + 60, T0 + 120, T0 + 180), T0 + 240)
    # Down for 2.5 hours, hourly: the latest tick, found 30 minutes late, was missed too.
    hourly = {"next_tick": T0, "now": T0 + 9000, "overlap": "allow", "previous": None}
    every_hour = Timing(every_ms=3_600_000)
    assert plan(every_hour, catch_up="skip", previous_going=False, **hourly) == Plan(
        (), T0 + 10800, missed=3
    )
    assert plan(every_hour, catch_up="once", previous_going=False, **hourly) == Plan(
        (T0 + 7200,), T0 + 10800, missed=2
    )
    assert plan(every_hour, catch_up="all", previous_going=False, **hourly) == Plan(
        (T0, T0 + 3600, T0 + 7200), T0 + 10800
    )
    # A tick is missed from MISSED_AFTER seconds late; a little less is only late.
    assert plan(
        every_hour,
        catch_up="skip",
        previous_going=False,
        **{**hourly, "now": T0 + MISSED_AFTER + 1},
    ) == Plan((), T0 + 3600, missed=1)
    assert fire("skip", "allow", late=MISSED_AFTER - 1) == Plan((T0,), T0 + 60)


def test_catch_up_all_fires_a_bounded_number_of_runs_per_firing() -> None:
    days = fire("all", "allow", late=3 * 24 * 3600)
    assert len(days.ticks) == MAX_RUNS_PER_FIRING
    assert days.next_tick == T0 + 60 * MAX_RUNS_PER_FIRING  # still due: the next firing goes on


def test_overlap_policies_while_the_previous_run_goes_on() -> None:
    assert fire("once", "skip", late=1, going=True) == Plan((), T0 + 60, overlapped=1)
    assert fire("once", "allow", late=1, going=True) == Plan((T0,), T0 + 60)
    assert fire("once", "cancel_previous", late=1, going=True) == Plan(
        (T0,), T0 + 60, cancel="prev"
    )
    assert fire("once", "cancel_previous", late=1, going=False) == Plan((T0,), T0 + 60)


def test_overlap_applies_tick_by_tick_to_catch_up_runs() -> None:
    assert fire("all", "skip", late=130) == Plan((T0,), T0 + 180, overlapped=2)
    assert fire("all", "skip", late=130, going=True) == Plan((), T0 + 180, overlapped=3)
    assert fire("all", "cancel_previous", late=130, going=True) == Plan(
        (T0 + 120,), T0 + 180, overlapped=2, cancel="prev"
    )


def test_a_one_off_missed_while_every_node_was_down() -> None:
    once = Timing(at=T0)
    common = {"next_tick": T0, "now": T0 + 3600, "overlap": "skip", "previous": None}
    assert plan(once, catch_up="skip", previous_going=False, **common) == Plan((), None, missed=1)
    assert plan(once, catch_up="once", previous_going=False, **common) == Plan((T0,), None)


# -- definitions -------------------------------------------------------------------------------
def _args(**given: object) -> dict[str, object]:
    args: dict[str, object] = {
        "cron": None,
        "every": None,
        "at": None,
        "timezone": "UTC",
        "schedule_id": None,
        "overlap": "skip",
        "catch_up": "once",
    }
    return {**args, **given}


def test_a_definition_is_normalised() -> None:
    d = define(Tick, {"a": (1, 2)}, **_args(every=dt.timedelta(minutes=1, microseconds=1)))
    assert d.interval == 60.0 and d.input_json == '{"a":[1,2]}'
    assert d.schedule_id == Tick.workflow and d.workflow == Tick.workflow
    assert define(Tick, None, **_args(every=0.1234)).interval == 0.123
    zoned = define(Tick, None, **_args(cron=" 0 2 * * * ", timezone=PARIS, schedule_id="n"))
    assert (zoned.cron, zoned.timezone, zoned.schedule_id) == ("0 2 * * *", "Europe/Paris", "n")
    at = define(Tick, None, **_args(at=dt.datetime(2030, 1, 1, 9), timezone="Asia/Kolkata"))
    assert at.run_at == utc(2030, 1, 1, 3, 30)


@pytest.mark.parametrize("timezone", ["UTC", "Europe/Paris", "America/Argentina/Buenos_Aires"])
def test_every_iana_zone_name_is_taken(timezone: str) -> None:
    assert define(Tick, None, **_args(cron="0 0 * * *", timezone=timezone)).timezone == timezone
