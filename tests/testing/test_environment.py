"""WorkflowEnvironment: driving runs on a virtual clock, from the test's own thread."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

import continuum
from continuum.store import JournalKind
from continuum.testing import (
    DEFAULT_START,
    Entry,
    NondeterminismError,
    StillWaiting,
    WorkflowEnvironment,
)
from tests.testing import flows
from tests.testing.flows import (
    Approval,
    AsyncGather,
    Child,
    Forever,
    Gate,
    Month,
    Parent,
    Retrying,
    Saga,
    StateDriftThenSleep,
    Steps,
)

START = DEFAULT_START.timestamp()
DAY = 86400.0
ORDER = {"card": "4242", "amount": 10, "item": "lamp"}


def at(seconds: float) -> dt.datetime:
    """The virtual moment `seconds` after the environment started."""
    return dt.datetime.fromtimestamp(START + seconds, tz=dt.UTC)


@pytest.fixture
def env() -> Iterator[WorkflowEnvironment]:
    flows.CALLS.clear()
    with WorkflowEnvironment([Approval, Month, Gate, Retrying, Saga, AsyncGather]) as made:
        yield made


# -- time skipping -----------------------------------------------------------------
def test_a_month_of_sleep_and_three_signal_timeouts_pass_at_once(env: WorkflowEnvironment) -> None:
    run_id = env.start(Month)
    assert env.result(run_id) == {
        "answers": [None, None, None],
        "at": at(30 * DAY + 3 * 3600).isoformat(),
    }
    assert env.now() == at(30 * DAY + 3 * 3600)
    journal = env.journal(run_id)
    assert [(e.kind, e.name) for e in journal] == [
        ("timer", "sleep"),
        ("signal_timeout", "first"),
        ("signal_timeout", "second"),
        ("signal_timeout", "third"),
        ("side_effect", "now"),
    ]
    # The recorded times are the virtual ones: each timeout is written when it fell due.
    assert journal[0].payload == {"set_at": START, "fire_at": START + 30 * DAY}
    assert [e.recorded_at for e in journal] == [
        at(0),
        at(30 * DAY + 3600),
        at(30 * DAY + 7200),
        at(30 * DAY + 3 * 3600),
        at(30 * DAY + 3 * 3600),
    ]


def test_the_test_drives_signals_and_timers_step_by_step(env: WorkflowEnvironment) -> None:
    run_id = env.start(Month)
    assert env.waiting(run_id).status == "pending"  # nothing runs until the test drives
    env.run_due()
    waiting = env.waiting(run_id)
    assert waiting.status == "suspended"
    assert [(w.kind, w.name, w.until) for w in waiting.waits] == [("timer", "sleep", at(30 * DAY))]
    assert waiting.signals == () and waiting.until == at(30 * DAY) == waiting.due_at

    env.signal(run_id, "first", "early")  # kept until the run asks for it
    env.skip(30 * DAY)  # the timer fires at its moment, and the run goes on
    waiting = env.waiting(run_id)
    assert waiting.signals == ("second",) and waiting.until == at(30 * DAY + 3600)
    assert "signal 'second' (times out at" in str(waiting)

    env.skip(1800)  # half the timeout: still waiting
    assert env.waiting(run_id).signals == ("second",)
    env.signal(run_id, "second", {"n": 2})
    env.run_due()
    assert env.waiting(run_id).signals == ("third",)
    assert env.fire_timers(run_id) == 3600.0  # the third times out
    assert env.get(run_id).status == "completed"
    assert env.result(run_id)["answers"] == ["early", {"n": 2}, None]
    with pytest.raises(continuum.RunFinished, match="no timer to fire"):
        env.fire_timers(run_id)


def test_skip_runs_what_falls_due_on_the_way_at_its_own_moment(env: WorkflowEnvironment) -> None:
    first = env.start(Month, run_id="first")
    env.skip(10 * DAY)
    second = env.start(Month, run_id="second")
    env.skip(25 * DAY)  # passes the first run's timer (day 30), not the second's (day 40)
    assert env.now() == at(35 * DAY)
    assert env.get(first).status == "completed"
    assert env.journal(first)[1].recorded_at == at(30 * DAY + 3600)  # not at day 35
    assert env.waiting(second).until == at(40 * DAY)


def test_run_until_idle_stops_at_a_signal_only_the_test_can_send(env: WorkflowEnvironment) -> None:
    gate = env.start(Gate)
    month = env.start(Month)
    env.run_until_idle()
    assert env.get(month).status == "completed"
    assert env.waiting(gate).signals == ("open",) and env.waiting(gate).until is None
    with pytest.raises(StillWaiting, match=r"signal 'open'.*env.signal"):
        env.result(gate)
    with pytest.raises(StillWaiting, match="no timer to fire"):
        env.fire_timers(gate)
    with pytest.raises(StillWaiting, match="no run waits for a timer"):
        env.fire_timers()
    env.signal(gate, "open", 42)
    assert env.result(gate) == 42


def test_a_run_that_never_ends_is_reported_not_looped_on_forever() -> None:
    with WorkflowEnvironment([Forever], max_attempts=50) as env:
        run_id = env.start(Forever)
        env.skip(600)  # ten timers, each at its minute
        assert env.now() == at(600)
        assert len(env.journal(run_id)) == 11
        with pytest.raises(StillWaiting, match="50 attempts ran"):
            env.run_until_idle()


def test_the_clock_starts_where_the_test_says() -> None:
    start = dt.datetime(2030, 6, 1, 12, tzinfo=dt.UTC)
    with WorkflowEnvironment([Month], start_time=start) as env:
        run_id = env.start(Month)
        assert env.now() == start
        assert env.result(run_id)["at"] == (start + dt.timedelta(days=30, hours=3)).isoformat()
        assert env.get(run_id).created_at == start
    with pytest.raises(continuum.ConfigurationError, match="start_time="):
        WorkflowEnvironment(start_time="tomorrow")  # type: ignore[arg-type]


# -- the run API -----------------------------------------------------------------------
def test_an_order_is_approved_or_expires(env: WorkflowEnvironment) -> None:
    approved = env.start(Approval, ORDER)
    expired = env.start(Approval, ORDER)
    env.run_due()
    assert env.waiting(approved).signals == ("approval",)
    env.signal(approved, "approval", {"by": "ana"})
    assert env.result(approved) == {"status": "shipped", "ship": "shipped lamp for ana"}
    assert env.result(expired) == {"status": "expired", "refund": "refunded ch-4242"}
    assert env.now() == at(DAY)  # the expiry took the day it had to, and no more


def test_cancel_ends_a_waiting_run(env: WorkflowEnvironment) -> None:
    run_id = env.start(Gate)
    env.run_due()
    assert env.cancel(run_id) is True
    assert env.cancel(run_id) is False
    assert env.waiting(run_id).status == "cancelled" and env.waiting(run_id).waits == ()
    with pytest.raises(continuum.RunCancelled):
        env.result(run_id)


def test_retry_backoffs_pass_on_the_virtual_clock(env: WorkflowEnvironment) -> None:
    attempts = {"slow": 0, "quick": 0}

    def slow(key: str) -> str:
        attempts["slow"] += 1
        if attempts["slow"] < 4:
            raise ConnectionError("down")
        return f"slow {key}"

    def quick(key: str) -> str:
        attempts["quick"] += 1
        if attempts["quick"] < 3:
            raise ConnectionError("blip")
        return f"quick {key}"

    slow_calls = env.mock_activity(flows.flaky_lookup, side_effect=slow)
    quick_calls = env.mock_activity(flows.quick_retry, side_effect=quick)
    run_id = env.start(Retrying, "k")
    env.run_due()
    waiting = env.waiting(run_id)
    assert [(w.kind, w.until) for w in waiting.waits] == [("retry", at(30))]
    assert env.result(run_id) == {"slow": "slow k", "quick": "quick k"}
    # 30 s, 60 s, 100 s (the cap) suspended between attempts; 0.5 s and 1 s waited in place.
    assert [call.at for call in slow_calls.calls] == [at(0), at(30), at(90), at(190)]
    assert [call.at for call in quick_calls.calls] == [at(190), at(190.5), at(191.5)]
    assert env.now() == at(191.5)


def test_a_saga_compensates_with_mocks(env: WorkflowEnvironment) -> None:
    env.mock_activity(flows.charge, raises=ValueError("card declined"))
    refunds = env.mock_activity(flows.refund, returns="ok")
    run_id = env.start(Saga, "4242")
    with pytest.raises(continuum.RunFailed, match="card declined"):
        env.result(run_id)
    assert [call.args for call in refunds.calls] == [("hold-4242",)]  # the real hold ran
    assert ("hold", "4242") in flows.CALLS


def test_async_workflows_run_with_gathered_activities(env: WorkflowEnvironment) -> None:
    fetched = env.mock_activity(flows.fetch, side_effect=lambda key: f"mock {key}")
    run_id = env.start(AsyncGather, ["a", "b"])
    env.run_due()
    assert env.waiting(run_id).waits[0].kind == "timer"
    env.skip(3600)
    assert env.waiting(run_id).signals == ("go",)
    env.signal(run_id, "go", True)
    assert env.result(run_id) == {"fetched": ["mock a", "mock b"], "go": True}
    assert sorted(call.args for call in fetched.calls) == [("a",), ("b",)]


def test_an_async_test_can_drive_async_workflows(env: WorkflowEnvironment) -> None:
    async def main() -> Any:  # the test's own event loop runs here
        run_id = env.start(AsyncGather, ["x"])
        env.run_due()
        env.skip(3600)
        env.signal(run_id, "go", 1)
        return env.result(run_id)

    assert asyncio.run(main()) == {"fetched": ["fetched x"], "go": 1}


def test_child_runs_are_driven_like_any_other() -> None:
    if not hasattr(continuum, "child"):
        pytest.skip("child workflows have not landed in this tree")
    with WorkflowEnvironment([Parent, Child]) as env:
        run_id = env.start(Parent, 20)
        assert env.result(run_id) == 41
        assert env.now() == at(3600)


def test_schedules_fire_on_the_virtual_clock() -> None:
    with WorkflowEnvironment([Steps]) as env:
        if not hasattr(env.app, "schedule"):
            pytest.skip("schedules have not landed in this tree")
        env.app.schedule(Steps, 3, every=3600, id="hourly")
        env.skip(3 * 3600 + 60)
        runs = env.app.runs(workflow=Steps.workflow)
        assert sorted(run.created_at for run in runs) == [at(3600), at(7200), at(10800)]
        assert {run.status for run in runs} == {"completed"}
        assert env.fire_timers() == 3600 - 60  # the next tick is a timer too
        assert len(env.app.runs(workflow=Steps.workflow)) == 4


def test_a_run_that_drifts_when_it_resumes_fails_the_driving_call() -> None:
    key = str(uuid.uuid4())
    with WorkflowEnvironment([StateDriftThenSleep]) as env:
        run_id = env.start(StateDriftThenSleep, key)
        with pytest.raises(NondeterminismError) as caught:
            env.run_until_idle()  # the first attempt took step_a; resumed, it takes step_b
        error = caught.value
        assert (error.run_id, error.position) == (run_id, 0)
        assert error.recorded == f"activity {flows.name_of(flows.step_a)!r}"
        assert "step_b" in error.now
        assert env.get(run_id).status == "suspended"  # the engine kept the journal whole


def test_starting_a_class_registers_it() -> None:
    with WorkflowEnvironment() as env:
        gate = env.start(Gate)
        env.signal(gate, "open", "now")
        assert env.result(gate) == "now"


# -- looking at runs ---------------------------------------------------------------------
def test_the_journal_is_typed_and_the_history_is_json(env: WorkflowEnvironment) -> None:
    env.mock_activity(flows.charge, returns={"id": "ch_1"})
    run_id = env.start(Approval, ORDER, run_id="order-1")
    env.run_due()
    journal = env.journal(run_id)
    assert journal == [
        Entry(
            0, JournalKind.ACTIVITY, flows.name_of(flows.charge), {"result": {"id": "ch_1"}}, at(0)
        ),
        Entry(
            1, JournalKind.SIGNAL_WAIT, "approval", {"deadline": START + DAY, "since": START}, at(0)
        ),
    ]
    history = env.history(run_id)
    assert json.loads(json.dumps(history)) == history
    assert history[0] == {
        "seq": None,
        "kind": "started",
        "name": Approval.workflow,
        "payload": {
            "run_id": "order-1",
            "version_hash": Approval.version_hash,
            "version": 1,
            "input": ORDER,
        },
        "recorded_at": at(0).isoformat(),
    }
    assert [(e["seq"], e["kind"], e["name"]) for e in history[1:]] == [
        (0, "activity", journal[0].name),
        (1, "signal_wait", "approval"),
    ]
    assert history[1]["recorded_at"] == at(0).isoformat()


def test_unknown_runs_are_refused(env: WorkflowEnvironment) -> None:
    for look in (env.waiting, env.journal, env.history, env.get, env.result):
        with pytest.raises(continuum.RunNotFound):
            look("no-such-run")


def test_driving_from_inside_an_activity_only_moves_the_clock(env: WorkflowEnvironment) -> None:
    def slow_charge(card: str, amount: int) -> dict[str, Any]:
        env.skip(120)  # the activity takes two minutes
        return {"id": card}

    env.mock_activity(flows.charge, side_effect=slow_charge)
    run_id = env.start(Approval, ORDER)
    env.run_due()
    assert env.journal(run_id)[0].recorded_at == at(120)
    assert env.waiting(run_id).until == at(120 + DAY)

    def drive(card: str, amount: int) -> dict[str, Any]:
        env.run_until_idle()
        return {}

    env.mock_activity(flows.charge, side_effect=drive)
    refused = env.start(Approval, ORDER)
    with pytest.raises(continuum.RunFailed, match="from inside an attempt"):
        env.result(refused)


def test_closing_twice_is_harmless_and_ends_the_instance() -> None:
    env = WorkflowEnvironment([Gate])
    env.close()
    env.close()
    with pytest.raises(continuum.NotBooted):
        env.start(Gate)
