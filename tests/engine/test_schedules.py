"""Schedules (SPEC 9): app.schedule() with cron, every and at; pause, resume, delete,
update; the overlap and catch-up policies; which node fires what. On both backends."""

from __future__ import annotations

import datetime as dt
import math
import time
from collections.abc import Callable, Iterator
from typing import Any
from zoneinfo import ZoneInfo

import pytest

import continuum
from continuum import ConfigurationError, ScheduleNotFound, SerializationError
from continuum.errors import WorkflowDefinitionError
from continuum.store.schedules import Firing, ScheduleDefinition
from tests.conftest import Events, wait_until
from tests.engine import schedule_flows as flows

MakeApp = Callable[..., continuum.Continuum]
EVENTS = [
    ("continuum", "schedule", "fired"),
    ("continuum", "schedule", "skipped"),
    ("continuum", "run", "created"),
    ("continuum", "run", "cancelled"),
]


@pytest.fixture
def seen() -> Iterator[Events]:
    recorder = Events()
    handler_id = f"schedule-events-{id(recorder)}"
    continuum.telemetry.attach_many(handler_id, EVENTS, recorder)
    yield recorder
    continuum.telemetry.detach(handler_id)


def tick_of(run_id: str) -> float:
    """The tick in a scheduled run's id (schedule:<id>:<ISO 8601 UTC>)."""
    stamp = run_id.split(":", 2)[2]
    return dt.datetime.fromisoformat(stamp).timestamp()


def scheduled(app: continuum.Continuum, schedule_id: str) -> list[continuum.RunInfo]:
    """The runs of a schedule's ticks, in tick order."""
    prefix = f"schedule:{schedule_id}:"
    runs = [run for run in app.runs(limit=1000) if run.run_id.startswith(prefix)]
    return sorted(runs, key=lambda run: tick_of(run.run_id))


def wait_runs(
    app: continuum.Continuum, schedule_id: str, count: int, timeout: float = 15.0
) -> list[continuum.RunInfo]:
    def enough() -> list[continuum.RunInfo] | None:
        runs = scheduled(app, schedule_id)
        return runs if len(runs) >= count else None

    found: list[continuum.RunInfo] = wait_until(enough, timeout, f"{count} runs of {schedule_id}")
    return found


def skipped(seen: Events, schedule_id: str, reason: str) -> int:
    return sum(
        e["measurements"]["count"]
        for e in seen.named("schedule", "skipped")
        if e["schedule_id"] == schedule_id and e["reason"] == reason
    )


def the(app: continuum.Continuum, schedule_id: str) -> continuum.Schedule:
    [found] = [s for s in app.schedules() if s.id == schedule_id]
    return found


# -- ticks ---------------------------------------------------------------------------------
def test_an_interval_starts_one_run_per_tick_on_its_grid(make_app: MakeApp, seen: Events) -> None:
    app = make_app(workflow_modules=[flows.Tick])
    assert app.schedule(flows.Tick, {"n": 1}, every=0.2, id="fast", catch_up="all") == "fast"
    wait_runs(app, "fast", 4)
    app.pause_schedule("fast")
    runs = scheduled(app, "fast")
    ticks = [round(tick_of(run.run_id) * 1000) for run in runs]
    assert all(tick % 200 == 0 for tick in ticks)  # multiples of the interval since the epoch
    assert ticks == list(range(ticks[0], ticks[-1] + 1, 200))  # every tick, each once
    entrypoint = flows.Tick.__continuum_entrypoint__()
    for run in runs:
        assert app.result(run.run_id, timeout=10) == {"n": 1}
        assert (run.workflow, run.version_hash) == (entrypoint.workflow, entrypoint.version_hash)
    fired = [e for e in seen.named("schedule", "fired") if e["schedule_id"] == "fast"]
    assert sorted(e["run_id"] for e in fired) == sorted(run.run_id for run in runs)
    assert all(0 <= e["measurements"]["delay"] < 5 for e in fired)
    assert all(math.isclose(e["tick"], tick_of(e["run_id"])) for e in fired)
    created = {e["run_id"] for e in seen.named("run", "created")}
    assert {run.run_id for run in runs} <= created
    schedule = the(app, "fast")
    assert (schedule.workflow, schedule.every, schedule.cron, schedule.at) == (
        flows.Tick.workflow,
        0.2,
        None,
        None,
    )
    assert schedule.last_run_id == runs[-1].run_id and schedule.state == "paused"
    assert schedule.last_tick is not None and schedule.last_tick.timestamp() == pytest.approx(
        tick_of(runs[-1].run_id)
    )


def test_two_nodes_fire_each_cron_tick_exactly_once(make_app: MakeApp, seen: Events) -> None:
    a = make_app(workflow_modules=[flows.Tick], node="node-a")
    make_app(workflow_modules=[flows.Tick], node="node-b")
    a.schedule(
        flows.Tick,
        "tick",
        cron="* * * * * *",
        timezone="Asia/Kolkata",
        id="each-second",
        catch_up="all",
    )
    wait_runs(a, "each-second", 3)
    a.pause_schedule("each-second")
    runs = scheduled(a, "each-second")
    ticks = [tick_of(run.run_id) for run in runs]
    assert ticks == [ticks[0] + i for i in range(len(ticks))]  # every second, none twice
    fired = [e for e in seen.named("schedule", "fired") if e["schedule_id"] == "each-second"]
    assert sorted(e["run_id"] for e in fired) == [run.run_id for run in runs]  # by one node
    assert {e["node"] for e in fired} <= {"node-a", "node-b"}
    for run in runs:
        assert a.result(run.run_id, timeout=10) == "tick"


def test_a_one_off_runs_once_at_its_time_then_is_done(make_app: MakeApp) -> None:
    app = make_app(workflow_modules=[flows.Tick])
    when = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=0.3)
    app.schedule(flows.Tick, "once", at=when, id="one-off")
    [run] = wait_runs(app, "one-off", 1)
    assert tick_of(run.run_id) == pytest.approx(when.timestamp(), abs=1e-3)
    assert app.result(run.run_id, timeout=10) == "once"
    wait_until(lambda: the(app, "one-off").state == "done", what="the one-off done")
    done = the(app, "one-off")
    assert done.next_tick is None and done.last_run_id == run.run_id
    # Declared again as it was, after its time (a boot that declares it): nothing changes.
    assert app.schedule(flows.Tick, "once", at=when, id="one-off") == "one-off"
    assert the(app, "one-off") == done
    # A new time that has passed is refused, and the schedule is left as it was.
    with pytest.raises(ConfigurationError, match="in the past"):
        app.schedule(flows.Tick, "once", at=when - dt.timedelta(minutes=5), id="one-off")
    assert the(app, "one-off") == done
    assert len(scheduled(app, "one-off")) == 1


def test_a_naive_at_is_read_in_the_schedules_time_zone(make_app: MakeApp) -> None:
    client = make_app(dispatch=False)
    local = dt.datetime(2031, 7, 4, 9, 30)
    client.schedule(flows.Tick, at=local, timezone="America/New_York", id="fourth")
    schedule = the(client, "fourth")
    assert schedule.at == local.replace(tzinfo=ZoneInfo("America/New_York"))
    assert schedule.at is not None and schedule.at.astimezone(dt.UTC).hour == 13  # EDT
    assert schedule.next_tick == schedule.at and schedule.timezone == "America/New_York"


def test_a_cron_schedule_in_a_time_zone_ticks_at_its_local_time(make_app: MakeApp) -> None:
    client = make_app(dispatch=False)
    client.schedule(flows.Tick, cron="30 2 * * *", timezone="Europe/Paris", id="paris")
    client.schedule(flows.Tick, cron="@hourly", id="hourly")
    paris = the(client, "paris").next_tick
    assert paris is not None
    local = paris.astimezone(ZoneInfo("Europe/Paris"))
    assert (local.hour, local.minute, local.second) == (2, 30, 0) or (
        # 02:30 does not exist on the night clocks go forward: 03:00 instead
        (local.hour, local.minute) == (3, 0)
    )
    assert 0 < (paris - dt.datetime.now(dt.UTC)).total_seconds() <= 25 * 3600
    hourly = the(client, "hourly").next_tick
    assert hourly is not None and (hourly.minute, hourly.second) == (0, 0)


# -- changing schedules -------------------------------------------------------------------------
def test_a_paused_schedule_fires_nothing_and_resumes_from_now(make_app: MakeApp) -> None:
    app = make_app(workflow_modules=[flows.Tick])
    app.schedule(flows.Tick, {"v": 1}, every=0.2, id="paused")
    wait_runs(app, "paused", 1)
    app.pause_schedule("paused")
    app.pause_schedule("paused")  # again: nothing to do
    before = [run.run_id for run in scheduled(app, "paused")]
    app.schedule(flows.Tick, every=0.2, id="witness")
    wait_runs(app, "witness", 3)  # ticks came and went
    assert [run.run_id for run in scheduled(app, "paused")] == before
    # Declared again while paused (a deploy's boot): it stays paused.
    app.schedule(flows.Tick, {"v": 2}, every=0.2, id="paused")
    assert the(app, "paused").state == "paused"
    resumed_at = time.time()
    app.resume_schedule("paused")
    app.resume_schedule("paused")  # again: nothing to do
    runs = wait_runs(app, "paused", len(before) + 1)
    new = [run for run in runs if run.run_id not in before]
    assert new and all(tick_of(run.run_id) > resumed_at for run in new)  # no make-up burst
    assert all(run.input == {"v": 2} for run in new)


def test_declaring_again_updates_and_the_same_declaration_changes_nothing(
    make_app: MakeApp,
) -> None:
    app = make_app(workflow_modules=[flows.Tick])
    app.schedule(flows.Tick, {"v": 1}, every=0.2, id="upd")
    wait_runs(app, "upd", 1)
    app.schedule(flows.Tick, {"v": 2}, every=0.2, id="upd")  # the same ticks, a new input

    def with_input(v: int) -> list[continuum.RunInfo]:
        return [run for run in scheduled(app, "upd") if run.input == {"v": v}]

    wait_until(lambda: with_input(2), what="a tick with the new input")
    app.schedule(flows.Tick, {"v": 3}, every=0.3, id="upd", catch_up="all")  # new ticks
    record = app.store.get_schedule("upd")
    assert record is not None and record.next_tick is not None
    assert round(record.next_tick * 1000) % 300 == 0
    [first] = wait_until(lambda: with_input(3), what="a tick of the new interval")
    assert round(tick_of(first.run_id) * 1000) % 300 == 0
    app.pause_schedule("upd")
    paused = app.store.get_schedule("upd")
    assert paused is not None
    app.schedule(flows.Tick, {"v": 3}, every=0.3, id="upd", catch_up="all")
    assert app.store.get_schedule("upd") == paused  # not even its revision moved


def test_a_deleted_schedule_fires_no_more_and_its_runs_stay(make_app: MakeApp) -> None:
    app = make_app(workflow_modules=[flows.Tick])
    app.schedule(flows.Tick, every=0.2, id="doomed")
    runs = wait_runs(app, "doomed", 1)
    assert app.delete_schedule("doomed") is True
    assert app.delete_schedule("doomed") is False
    kept = [run.run_id for run in scheduled(app, "doomed")]
    assert kept[: len(runs)] == [run.run_id for run in runs]
    app.schedule(flows.Tick, every=0.2, id="witness")
    wait_runs(app, "witness", 3)
    assert [run.run_id for run in scheduled(app, "doomed")] == kept
    assert [s.id for s in app.schedules()] == ["witness"]
    with pytest.raises(ScheduleNotFound, match="doomed"):
        app.pause_schedule("doomed")


def test_a_node_fires_only_schedules_of_workflows_it_runs(make_app: MakeApp) -> None:
    make_app(name="node", workflow_modules=[flows.Tick])
    client = make_app(name="client", dispatch=False)
    client.schedule(flows.Other, every=0.2, id="other")
    client.schedule(flows.Tick, every=0.2, id="witness")
    wait_runs(client, "witness", 3)
    assert scheduled(client, "other") == []
    make_app(name="node-2", workflow_modules=[flows.Other])
    [run, *_] = wait_runs(client, "other", 1)
    assert client.result(run.run_id, timeout=10) == "other"


# -- overlap ----------------------------------------------------------------------------------
def test_overlap_skip_starts_nothing_while_the_previous_run_goes_on(
    make_app: MakeApp, seen: Events
) -> None:
    app = make_app(workflow_modules=[flows.Hold])
    app.schedule(flows.Hold, every=0.2, id="hold")  # overlap="skip" by default
    [first] = wait_runs(app, "hold", 1)
    wait_until(lambda: skipped(seen, "hold", "overlap") >= 2, what="ticks skipped")
    assert len(scheduled(app, "hold")) == 1
    app.signal(first.run_id, "done", "ok")
    assert app.result(first.run_id, timeout=10) == "ok"
    runs = wait_runs(app, "hold", 2)
    app.pause_schedule("hold")
    assert tick_of(runs[1].run_id) > tick_of(first.run_id) + 0.2  # ticks between skipped
    for run in scheduled(app, "hold"):
        app.cancel(run.run_id)


def test_overlap_allow_lets_runs_overlap(make_app: MakeApp) -> None:
    app = make_app(workflow_modules=[flows.Hold])
    app.schedule(flows.Hold, every=0.2, id="many", overlap="allow")
    runs = wait_runs(app, "many", 3)
    app.pause_schedule("many")
    assert all(not app.get(run.run_id).finished for run in runs)  # all three going at once
    for run in scheduled(app, "many"):
        app.cancel(run.run_id)


def test_overlap_cancel_previous_cancels_the_run_before(make_app: MakeApp, seen: Events) -> None:
    app = make_app(workflow_modules=[flows.Hold])
    app.schedule(flows.Hold, every=0.2, id="latest", overlap="cancel_previous")
    wait_runs(app, "latest", 3)
    app.pause_schedule("latest")
    runs = scheduled(app, "latest")
    statuses = [app.get(run.run_id).status for run in runs]
    assert statuses[:-1] == ["cancelled"] * (len(runs) - 1)
    assert statuses[-1] in ("pending", "running", "suspended")
    cancelled = {e["run_id"] for e in seen.named("run", "cancelled")}
    assert {run.run_id for run in runs[:-1]} <= cancelled
    app.cancel(runs[-1].run_id)


# -- ticks missed while every node was down -------------------------------------------------------
@pytest.mark.parametrize(
    "case",
    [
        ("skip", "skip", [], 4, 0),  # none runs: even the latest was long past
        ("once", "skip", [0], 3, 0),  # one run, for the latest
        ("all", "allow", [-3, -2, -1, 0], 0, 0),  # one run per tick
        ("all", "skip", [-3], 0, 3),  # tick by tick: the first run goes on over the rest
    ],
    ids=["skip", "once", "all", "all-without-overlap"],
)
def test_ticks_missed_while_every_node_was_down(
    make_app: MakeApp, seen: Events, case: tuple[str, str, list[int], int, int]
) -> None:
    catch_up, overlap, years, missed, overlapped = case
    client = make_app(name="client", dispatch=False)
    client.schedule(flows.Tick, cron="0 0 1 1 *", id="yearly", catch_up=catch_up, overlap=overlap)
    # No node ran for three years: the schedule's next tick is 1 January three years ago.
    year = dt.datetime.now(dt.UTC).year
    record = client.store.get_schedule("yearly")
    assert record is not None
    long_ago = dt.datetime(year - 3, 1, 1, tzinfo=dt.UTC).timestamp()
    assert client.store.fire_schedules([Firing("yearly", record.revision, long_ago)])[0].fired
    make_app(name="node", workflow_modules=[flows.Tick])

    def caught_up() -> bool:
        upcoming = the(client, "yearly").next_tick
        return upcoming is not None and upcoming.year == year + 1

    wait_until(caught_up, what="the missed ticks handled")
    runs = scheduled(client, "yearly")
    assert [dt.datetime.fromtimestamp(tick_of(r.run_id), dt.UTC).year for r in runs] == [
        year + offset for offset in years
    ]
    assert skipped(seen, "yearly", "missed") == missed
    assert skipped(seen, "yearly", "overlap") == overlapped


# -- bad input -------------------------------------------------------------------------------------
class NoRun(continuum.Workflow):
    """A base class for workflows: it cannot be started, nor scheduled."""


PAST = dt.datetime(2020, 1, 1, tzinfo=dt.UTC)
FUTURE = dt.datetime(2090, 1, 1, tzinfo=dt.UTC)


@pytest.mark.parametrize(
    ("args", "error", "message"),
    [
        ({"cron": "61 * * * *"}, ConfigurationError, "does not parse"),
        ({"cron": "* * *"}, ConfigurationError, "does not parse"),
        ({"cron": "every day"}, ConfigurationError, "does not parse"),
        ({"cron": "0 0 30 2 *"}, ConfigurationError, "cron expression"),
        ({"cron": ""}, ConfigurationError, "cron="),
        ({"cron": 5}, ConfigurationError, "cron="),
        ({"cron": "0 2 * * *", "timezone": "Mars/Olympus_Mons"}, ConfigurationError, "time zone"),
        ({"cron": "0 2 * * *", "timezone": "../../etc/passwd"}, ConfigurationError, "time zone"),
        ({"cron": "0 2 * * *", "timezone": ""}, ConfigurationError, "timezone="),
        ({"every": 60, "timezone": "Nowhere/Land"}, ConfigurationError, "time zone"),
        ({"cron": "0 2 * * *", "every": 60}, ConfigurationError, "exactly one"),
        ({}, ConfigurationError, "exactly one"),
        ({"every": 0}, ConfigurationError, "every="),
        ({"every": -5}, ConfigurationError, "every="),
        ({"every": 0.01}, ConfigurationError, "every="),
        ({"every": float("nan")}, ConfigurationError, "every="),
        ({"every": True}, ConfigurationError, "every="),
        ({"every": "60"}, ConfigurationError, "every="),
        ({"at": "2030-01-01"}, ConfigurationError, "datetime"),
        ({"at": PAST}, ConfigurationError, "in the past"),
        (
            {"at": dt.datetime(2090, 3, 26, 2, 30), "timezone": "Europe/Paris"},
            ConfigurationError,
            "does not exist",
        ),
        ({"every": 60, "overlap": "sometimes"}, ConfigurationError, "overlap="),
        ({"every": 60, "catch_up": "never"}, ConfigurationError, "catch_up="),
        ({"every": 60, "catch_up": None}, ConfigurationError, "catch_up="),
        ({"every": 60, "id": ""}, ConfigurationError, "id="),
        ({"every": 60, "id": "x" * 201}, ConfigurationError, "id="),
        ({"every": 60, "id": "a\x00b"}, ConfigurationError, "id="),
        ({"every": 60, "input": object()}, SerializationError, "not JSON"),
        ({"at": FUTURE, "input": {"n": float("nan")}}, SerializationError, "not JSON"),
        ({"every": 60, "workflow_cls": str}, WorkflowDefinitionError, "not a workflow"),
        ({"every": 60, "workflow_cls": flows.Tick()}, WorkflowDefinitionError, "not a workflow"),
        ({"every": 60, "workflow_cls": NoRun}, WorkflowDefinitionError, "run"),
    ],
)
def test_bad_input_is_refused_and_nothing_is_stored(
    app: continuum.Continuum, args: dict[str, Any], error: type[Exception], message: str
) -> None:
    args = dict(args)  # the parameters are shared by both backends' runs
    workflow_cls = args.pop("workflow_cls", flows.Tick)
    with pytest.raises(error, match=message):
        app.schedule(workflow_cls, **args)
    assert issubclass(error, continuum.ContinuumError)
    assert app.schedules() == []


def test_unknown_schedule_ids(app: continuum.Continuum) -> None:
    for call in (app.pause_schedule, app.resume_schedule):
        for bad in ("nope", "", "x" * 300, None):
            with pytest.raises(ScheduleNotFound, match="no schedule"):
                call(bad)  # type: ignore[arg-type]
    assert app.delete_schedule("nope") is False
    assert app.delete_schedule("") is False


def test_a_changed_definition_of_another_schedule_is_kept_apart(app: continuum.Continuum) -> None:
    """The default id is the workflow's name: one schedule per workflow unless named."""
    assert app.schedule(flows.Other, cron="0 2 * * *") == flows.Other.workflow
    assert app.schedule(flows.Other, cron="0 3 * * *") == flows.Other.workflow
    assert app.schedule(flows.Other, cron="0 4 * * *", id="second") == "second"
    assert [(s.id, s.cron) for s in app.schedules()] == sorted(
        [(flows.Other.workflow, "0 3 * * *"), ("second", "0 4 * * *")]
    )


def test_a_schedule_a_node_cannot_read_holds_up_no_other(make_app: MakeApp) -> None:
    """A row written by a release (or a machine) that knew a zone this node does not:
    this node leaves it due, says so in its log, and fires the others on time."""
    app = make_app(workflow_modules=[flows.Tick])
    unreadable = ScheduleDefinition(
        schedule_id="elsewhere",
        workflow=flows.Tick.workflow,
        input_json="null",
        cron="* * * * * *",
        interval=None,
        run_at=None,
        timezone="Mars/Olympus_Mons",
        overlap="skip",
        catch_up="once",
    )
    assert app.store.put_schedule(unreadable, next_tick=app.store.now() - 1, revision=None)
    app.schedule(flows.Tick, every=0.2, id="witness", catch_up="all")
    runs = wait_runs(app, "witness", 4)
    ticks = [round(tick_of(run.run_id) * 1000) for run in runs]
    assert ticks == list(range(ticks[0], ticks[-1] + 1, 200))  # none missed meanwhile
    assert scheduled(app, "elsewhere") == []
    assert the(app, "elsewhere").state == "active"  # still due, for a node that can
