"""The Store contract for schedules. Every backend runs this same suite (see `backend_url`)."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable

import pytest

from continuum.store import NewRun, RunStatus, Store, open_store
from continuum.store.schedules import Firing, ScheduleDefinition

WF = "wf.Report"
HASH = "aaaaaaaaaaaaaaaa"


def definition(
    schedule_id: str = "nightly", workflow: str = WF, **changes: object
) -> ScheduleDefinition:
    fields: dict[str, object] = {
        "schedule_id": schedule_id,
        "workflow": workflow,
        "input_json": json.dumps({"to": "ops"}),
        "cron": "0 2 * * *",
        "interval": None,
        "run_at": None,
        "timezone": "Europe/Paris",
        "overlap": "skip",
        "catch_up": "once",
    }
    fields.update(changes)
    return ScheduleDefinition(**fields)  # type: ignore[arg-type]


def tick_run(schedule_id: str, tick: float, workflow: str = WF) -> NewRun:
    return NewRun(f"schedule:{schedule_id}:{tick}", workflow, HASH, 1, '{"to": "ops"}')


def test_a_schedule_is_stored_whole_and_read_back(store: Store) -> None:
    before = store.now()
    assert store.put_schedule(definition(), next_tick=before + 60, revision=None)
    record = store.get_schedule("nightly")
    assert record is not None
    assert record.definition == definition()
    assert record.paused is False
    assert record.next_tick == pytest.approx(before + 60, abs=1e-3)
    assert record.last_tick is None and record.last_run_id is None
    assert record.last_run_status is None
    assert record.revision == 0
    assert before - 1 <= record.created_at <= store.now() + 1
    assert store.get_schedule("other") is None


def test_every_timing_kind_round_trips(store: Store) -> None:
    kinds = [
        definition("c", cron="*/5 * * * * *", timezone="UTC"),
        definition("e", cron=None, interval=0.25),
        definition("a", cron=None, run_at=1_900_000_000.125, timezone="Asia/Kolkata"),
    ]
    for d in kinds:
        assert store.put_schedule(d, next_tick=None, revision=None)
    assert [r.definition for r in store.list_schedules()] == [kinds[2], kinds[0], kinds[1]]


def test_a_second_insert_of_an_id_is_refused_and_changes_nothing(store: Store) -> None:
    assert store.put_schedule(definition(), next_tick=10.0, revision=None)
    assert not store.put_schedule(definition(cron="0 3 * * *"), next_tick=20.0, revision=None)
    record = store.get_schedule("nightly")
    assert record is not None and record.definition.cron == "0 2 * * *"


def test_an_update_compares_and_sets_the_revision(store: Store) -> None:
    assert store.put_schedule(definition(), next_tick=10.0, revision=None)
    changed = definition(cron="0 3 * * *", overlap="allow")
    assert not store.put_schedule(changed, next_tick=20.0, revision=7)
    assert store.put_schedule(changed, next_tick=20.0, revision=0)
    assert not store.put_schedule(changed, next_tick=30.0, revision=0)  # moved on
    record = store.get_schedule("nightly")
    assert record is not None
    assert record.definition == changed and record.revision == 1
    assert record.next_tick == pytest.approx(20.0)


def test_pause_and_resume_move_the_revision_and_updates_keep_pause(store: Store) -> None:
    assert store.put_schedule(definition(), next_tick=10.0, revision=None)
    assert not store.set_schedule_paused("nightly", paused=True, next_tick=10.0, revision=3)
    assert store.set_schedule_paused("nightly", paused=True, next_tick=10.0, revision=0)
    assert store.put_schedule(definition(input_json="2"), next_tick=10.0, revision=1)
    record = store.get_schedule("nightly")
    assert record is not None and record.paused and record.revision == 2
    assert store.set_schedule_paused("nightly", paused=False, next_tick=50.0, revision=2)
    record = store.get_schedule("nightly")
    assert record is not None and not record.paused
    assert record.next_tick == pytest.approx(50.0)
    assert not store.set_schedule_paused("gone", paused=True, next_tick=None, revision=0)


def test_delete_removes_only_the_schedule(store: Store) -> None:
    assert store.put_schedule(definition(), next_tick=store.now() - 1, revision=None)
    fired = store.fire_schedules([Firing("nightly", 0, None, [tick_run("nightly", 1.0)], 1.0)])
    assert fired[0].fired
    assert store.delete_schedule("nightly")
    assert not store.delete_schedule("nightly")
    assert store.get_schedule("nightly") is None and store.list_schedules() == []
    assert store.get_run("schedule:nightly:1.0") is not None  # its runs stay


def test_due_schedules_are_those_of_the_workflows_asked_whose_tick_has_come(
    store: Store,
) -> None:
    now = store.now()
    store.put_schedule(definition("late"), next_tick=now - 10, revision=None)
    store.put_schedule(definition("later"), next_tick=now - 5, revision=None)
    store.put_schedule(definition("ahead"), next_tick=now + 3600, revision=None)
    store.put_schedule(definition("done"), next_tick=None, revision=None)
    store.put_schedule(definition("paused"), next_tick=now - 20, revision=None)
    store.set_schedule_paused("paused", paused=True, next_tick=now - 20, revision=0)
    store.put_schedule(definition("other", workflow="wf.Other"), next_tick=now - 30, revision=None)
    db_now, due = store.due_schedules([WF], limit=10)
    assert [r.definition.schedule_id for r in due] == ["late", "later"]
    assert now - 1 < db_now < now + 5
    _, first = store.due_schedules([WF], limit=1)
    assert [r.definition.schedule_id for r in first] == ["late"]
    _, both = store.due_schedules([WF, "wf.Other"], limit=10)
    assert [r.definition.schedule_id for r in both] == ["other", "late", "later"]
    assert store.due_schedules([], limit=10)[1] == []
    assert store.due_schedules(["wf.Nobody"], limit=10)[1] == []


def test_next_schedule_in_counts_from_the_database_clock(store: Store) -> None:
    assert store.next_schedule_in([WF]) is None
    now = store.now()
    store.put_schedule(definition("a"), next_tick=now + 120, revision=None)
    store.put_schedule(definition("b"), next_tick=now + 60, revision=None)
    store.put_schedule(definition("c", workflow="wf.Other"), next_tick=now + 5, revision=None)
    store.put_schedule(definition("d"), next_tick=now + 1, revision=None)
    store.set_schedule_paused("d", paused=True, next_tick=now + 1, revision=0)
    store.put_schedule(definition("e"), next_tick=None, revision=None)
    due_in = store.next_schedule_in([WF])
    assert due_in is not None and 55 < due_in <= 60
    other = store.next_schedule_in(["wf.Other", WF])
    assert other is not None and 0 < other <= 5
    assert store.next_schedule_in([]) is None
    skipping = store.next_schedule_in([WF], skip=["b", "nothing"])
    assert skipping is not None and 115 < skipping <= 120
    assert store.next_schedule_in([WF], skip=["a", "b"]) is None
    store.put_schedule(definition("f"), next_tick=now - 3, revision=None)
    overdue = store.next_schedule_in([WF])
    assert overdue is not None and overdue <= -3


def test_a_firing_inserts_its_runs_due_and_moves_the_schedule_on(store: Store) -> None:
    now = store.now()
    store.put_schedule(definition(), next_tick=now - 1, revision=None)
    runs = [tick_run("nightly", 1.0), tick_run("nightly", 2.0)]
    [outcome] = store.fire_schedules([Firing("nightly", 0, now + 100, runs, 2.0)])
    assert outcome.fired and outcome.created == (runs[0].run_id, runs[1].run_id)
    record = store.get_schedule("nightly")
    assert record is not None
    assert record.revision == 1 and record.next_tick == pytest.approx(now + 100)
    assert record.last_tick == pytest.approx(2.0)
    assert record.last_run_id == runs[1].run_id
    assert record.last_run_status == RunStatus.PENDING
    run = store.get_run(runs[0].run_id)
    assert run is not None and run.status == RunStatus.PENDING
    assert run.workflow == WF and run.version_hash == HASH and run.input_json is not None
    assert json.loads(run.input_json) == {"to": "ops"}
    claims = store.claim_runs("n1", limit=5, lease_seconds=30, versions=[(WF, HASH)], known=True)
    assert {c.run.run_id for c in claims} == {r.run_id for r in runs}
    assert all(c.fresh for c in claims)


def test_a_firing_that_starts_nothing_keeps_the_last_run(store: Store) -> None:
    store.put_schedule(definition(), next_tick=store.now() - 1, revision=None)
    run = tick_run("nightly", 1.0)
    store.fire_schedules([Firing("nightly", 0, 5.0, [run], 1.0)])
    [outcome] = store.fire_schedules([Firing("nightly", 1, 9.0)])
    assert outcome == (True, ())
    record = store.get_schedule("nightly")
    assert record is not None and record.last_run_id == run.run_id
    assert record.last_tick == pytest.approx(1.0) and record.next_tick == pytest.approx(9.0)


def test_a_stale_or_paused_firing_writes_nothing(store: Store) -> None:
    store.put_schedule(definition("a"), next_tick=1.0, revision=None)
    store.put_schedule(definition("b"), next_tick=1.0, revision=None)
    store.set_schedule_paused("b", paused=True, next_tick=1.0, revision=0)
    outcomes = store.fire_schedules(
        [
            Firing("a", 5, 2.0, [tick_run("a", 1.0)], 1.0),  # not the revision it is at
            Firing("b", 1, 2.0, [tick_run("b", 1.0)], 1.0),  # paused
            Firing("gone", 0, 2.0, [tick_run("gone", 1.0)], 1.0),
        ]
    )
    assert [o.fired for o in outcomes] == [False, False, False]
    assert all(o.created == () for o in outcomes)
    for run_id in ("schedule:a:1.0", "schedule:b:1.0", "schedule:gone:1.0"):
        assert store.get_run(run_id) is None
    record = store.get_schedule("a")
    assert record is not None and record.revision == 0 and record.next_tick == 1.0


def test_a_run_id_that_exists_is_left_as_it_is(store: Store) -> None:
    store.put_schedule(definition(), next_tick=1.0, revision=None)
    existing = NewRun("schedule:nightly:1.0", WF, HASH, 1, '"first"')
    store.create_run(existing)
    run = NewRun("schedule:nightly:1.0", WF, HASH, 1, '"second"')
    [outcome] = store.fire_schedules([Firing("nightly", 0, 2.0, [run], 1.0)])
    assert outcome == (True, ())
    got = store.get_run(run.run_id)
    assert got is not None and got.input_json == '"first"'


def test_many_firings_go_in_one_call_each_on_its_own_revision(store: Store) -> None:
    for i in range(20):
        store.put_schedule(definition(f"s{i:02d}"), next_tick=1.0, revision=None)
    firings = [
        Firing(f"s{i:02d}", 0 if i % 4 else 9, 2.0, [tick_run(f"s{i:02d}", 1.0)], 1.0)
        for i in reversed(range(20))
    ]
    outcomes = store.fire_schedules(firings)
    assert [o.fired for o in outcomes] == [i % 4 != 0 for i in reversed(range(20))]
    for firing, outcome in zip(firings, outcomes, strict=True):
        assert outcome.created == ((firing.runs[0].run_id,) if outcome.fired else ())
    assert store.fire_schedules([]) == []


def test_the_last_runs_status_is_read_with_the_schedule(store: Store) -> None:
    store.put_schedule(definition(), next_tick=store.now() - 1, revision=None)
    run = tick_run("nightly", 1.0)
    store.fire_schedules([Firing("nightly", 0, store.now() - 1, [run], 1.0)])
    store.cancel_run(run.run_id)
    [listed] = store.list_schedules()
    assert listed.last_run_status == RunStatus.CANCELLED
    _, [due] = store.due_schedules([WF], limit=5)
    assert due.last_run_status == RunStatus.CANCELLED
    got = store.get_schedule("nightly")
    assert got is not None and got.last_run_status == RunStatus.CANCELLED


def _race(stores: list[Store], schedule_id: str) -> list[bool]:
    """Each store fires the schedule's tick from revision 0 at the same moment; whether
    each firing was written with its run."""
    results: list[bool] = []
    barrier = threading.Barrier(len(stores))

    def fire(s: Store, node: str) -> None:
        run = NewRun(f"schedule:{schedule_id}:1.0", WF, HASH, 1, json.dumps(node))
        barrier.wait()
        [outcome] = s.fire_schedules([Firing(schedule_id, 0, 2.0, [run], 1.0)])
        results.append(outcome.fired and outcome.created == (run.run_id,))

    threads = [threading.Thread(target=fire, args=(s, f"n{i}")) for i, s in enumerate(stores)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    return results


def test_two_stores_firing_the_same_tick_fire_it_once(backend_url: str, store: Store) -> None:
    """Two nodes (a store each) planned the same tick from the same revision: one firing
    is written, with its run; the other writes nothing. Repeated for a margin."""
    other = open_store(backend_url)
    try:
        for round_ in range(20):
            schedule_id = f"race{round_}"
            store.put_schedule(definition(schedule_id), next_tick=1.0, revision=None)
            assert sorted(_race([store, other], schedule_id)) == [False, True], round_
            record = store.get_schedule(schedule_id)
            assert record is not None and record.revision == 1
    finally:
        other.close()


@pytest.mark.parametrize(
    "change",
    [
        lambda s: s.put_schedule(definition(input_json='"x"'), next_tick=3.0, revision=0),
        lambda s: s.set_schedule_paused("nightly", paused=True, next_tick=1.0, revision=0),
        lambda s: s.delete_schedule("nightly"),
    ],
    ids=["updated", "paused", "deleted"],
)
def test_a_change_between_the_read_and_the_firing_wins(
    store: Store, change: Callable[[Store], object]
) -> None:
    store.put_schedule(definition(), next_tick=store.now() - 1, revision=None)
    _, [due] = store.due_schedules([WF], limit=5)
    change(store)
    run = tick_run("nightly", 1.0)
    [outcome] = store.fire_schedules([Firing("nightly", due.revision, 5.0, [run], 1.0)])
    assert not outcome.fired
    assert store.get_run(run.run_id) is None
