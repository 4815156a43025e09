"""The Store contract for composition: runs an attempt starts, a child's end told to
its parent, the cancel cascade, attributes and delayed starts. Every backend runs it."""

from __future__ import annotations

import json
from dataclasses import replace

import pytest

from continuum.errors import LeaseLost, SerializationError
from continuum.store import NewRun, RunFilter, RunStatus, Store
from continuum.store.base import child_ended_signal
from tests.contract.test_store import V1, claim_one, entry, new_run


def child_of(parent: str, run_id: str, *, cancel_with_parent: bool = True) -> NewRun:
    return replace(new_run(run_id), parent_run_id=parent, cancel_with_parent=cancel_with_parent)


def start_children(store: Store, parent: str, *children: NewRun) -> None:
    """The parent starts `children` in the write that suspends it, waiting for the first."""
    claim = claim_one(store)
    assert claim.run.run_id == parent
    entries = [entry(i, "child", "wf.Order", {"run_id": c.run_id}) for i, c in enumerate(children)]
    wait_on = [child_ended_signal(children[0].run_id)] if children else []
    store.suspend(claim.lease, entries, wake_at=None, wake_on_signals=wait_on, start_runs=children)


def finish(store: Store, run_id: str, output: object) -> None:
    """Claim the run (handing back whatever else was due) and complete it."""
    claims = store.claim_runs("n1", limit=50, lease_seconds=30, versions=[V1], known=True)
    claim = next(c for c in claims if c.run.run_id == run_id)
    for other in claims:
        if other is not claim:
            store.release(other.lease, delay=0)
    store.finish(
        claim.lease,
        [],
        status="completed",
        output_json=json.dumps(output),
        error_json=None,
        parent_run_id=claim.run.parent_run_id,
    )


def test_runs_started_by_a_write_exist_with_their_parent(store: Store) -> None:
    store.create_run(new_run("p"))
    start_children(store, "p", child_of("p", "p/0"), child_of("p", "p/1", cancel_with_parent=False))
    kids = [store.get_run(run_id) for run_id in ("p/0", "p/1")]
    assert [(k.status, k.parent_run_id) for k in kids if k] == [("pending", "p")] * 2
    assert [k.cancel_with_parent for k in kids if k] == [True, False]
    assert store.child_run_ids("p") == ["p/0", "p/1"]
    assert [r.run_id for r in store.query_runs(RunFilter(parent_run_id="p"), limit=10)] == [
        "p/1",
        "p/0",
    ]
    # both children are due: a claim takes them
    due = store.claim_runs("n2", limit=10, lease_seconds=30, versions=[V1], known=True)
    assert {c.run.run_id for c in due} == {"p/0", "p/1"}


def test_a_refused_write_starts_nothing(store: Store) -> None:
    store.create_run(new_run("p"))
    claim = claim_one(store)
    store.cancel_run("p")
    with pytest.raises(LeaseLost):
        store.record(claim.lease, [entry(0, "child")], start_runs=[child_of("p", "p/0")])
    assert store.get_run("p/0") is None


def test_a_child_input_that_is_not_json_is_refused_alone(store: Store) -> None:
    store.create_run(new_run("p"))
    claim = claim_one(store)
    bad = replace(child_of("p", "p/0"), input_json="{not json")
    with pytest.raises(SerializationError, match="input of run p/0"):
        store.record(claim.lease, [entry(0, "child")], start_runs=[bad])
    assert store.get_run("p/0") is None
    assert store.load_journal("p") == []


def test_a_child_that_ends_tells_its_parent_and_wakes_it_only_if_awaited(store: Store) -> None:
    store.create_run(new_run("p"))
    start_children(store, "p", child_of("p", "p/0"), child_of("p", "p/1"))
    # the second child ends first: the parent waits for the first, so it sleeps on
    finish(store, "p/1", "two")
    parent = store.get_run("p")
    assert parent is not None and parent.status == "suspended" and parent.available_at is None
    signals = store.load_history("p").pending_signals
    assert [s.name for s in signals] == [child_ended_signal("p/1")]
    told = json.loads(signals[0].payload_json or "")
    assert told == {
        "run_id": "p/1",
        "status": "completed",
        "output": "two",
        "error": None,
        "continued_to": None,
    }
    # the child it waits for ends: now it is due
    finish(store, "p/0", "one")
    parent = store.get_run("p")
    assert parent is not None and parent.available_at is not None


def test_a_child_ending_while_its_parent_runs_marks_the_parent(store: Store) -> None:
    store.create_run(new_run("p"))
    start_children(store, "p", child_of("p", "p/0"), child_of("p", "p/1"))
    finish(store, "p/1", "two")  # not awaited: no wake
    finish(store, "p/0", "one")  # awaited: the parent is due
    parent_claim = claim_one(store)
    assert parent_claim.run.run_id == "p"
    # a third child started now ends while the parent runs: its suspension wakes at once
    store.record(parent_claim.lease, [entry(2, "child")], start_runs=[child_of("p", "p/2")])
    finish(store, "p/2", "three")
    store.suspend(parent_claim.lease, [], wake_at=None, wake_on_signals=[child_ended_signal("p/9")])
    parent = store.get_run("p")
    assert parent is not None and parent.available_at is not None


def test_a_child_of_an_ended_parent_tells_nobody(store: Store) -> None:
    store.create_run(new_run("p"))
    start_children(store, "p", child_of("p", "p/0", cancel_with_parent=False))
    store.cancel_run("p")
    finish(store, "p/0", "late")
    assert store.list_signals("p") == []


def test_cancel_takes_the_children_to_be_cancelled_with_it(store: Store) -> None:
    store.create_run(new_run("p"))
    start_children(
        store,
        "p",
        child_of("p", "p/0"),
        child_of("p", "p/1", cancel_with_parent=False),
        child_of("p", "p/2"),
    )
    finish(store, "p/2", "done")  # ended already: stays completed
    # a grandchild under the child that is cancelled with its parent
    store.create_run(child_of("p/0", "p/0/0"))
    cancelled = store.cancel_run("p")
    assert cancelled[0].run_id == "p"
    assert {r.run_id for r in cancelled} == {"p", "p/0", "p/0/0"}
    assert all(r.status == RunStatus.CANCELLED for r in cancelled)
    abandoned, ended = store.get_run("p/1"), store.get_run("p/2")
    assert abandoned is not None and abandoned.status not in ("cancelled", "completed")
    assert ended is not None and ended.status == "completed"


def test_cancelling_a_child_tells_its_parent(store: Store) -> None:
    store.create_run(new_run("p"))
    start_children(store, "p", child_of("p", "p/0"))
    [cancelled] = store.cancel_run("p/0")
    assert cancelled.run_id == "p/0"
    [told] = store.load_history("p").pending_signals
    assert json.loads(told.payload_json or "")["status"] == "cancelled"
    parent = store.get_run("p")
    assert parent is not None and parent.available_at is not None  # it waited for p/0


def test_continued_to_is_recorded_with_the_runs_end(store: Store) -> None:
    store.create_run(new_run("a"))
    claim = claim_one(store)
    successor = replace(new_run("b"), continued_from="a", attributes_json='{"k":1}')
    store.finish(
        claim.lease,
        [],
        status="completed",
        output_json=None,
        error_json=None,
        start_runs=[successor],
        continued_to="b",
    )
    first, second = store.get_run("a"), store.get_run("b")
    assert first is not None and (first.status, first.continued_to) == ("completed", "b")
    assert second is not None and (second.status, second.continued_from) == ("pending", "a")
    assert json.loads(second.attributes_json or "") == {"k": 1}


def test_attributes_merge_and_filter(store: Store) -> None:
    store.create_run(replace(new_run("a"), attributes_json='{"customer":"c-1","n":1}'))
    store.create_run(replace(new_run("b"), attributes_json='{"customer":"c-2","n":1}'))
    store.create_run(new_run("c"))
    merged = store.set_attributes("a", '{"n":2,"customer":null,"vip":true}')
    assert merged is not None and json.loads(merged) == {"n": 2, "vip": True}
    assert store.set_attributes("missing", '{"n":1}') is None

    def ids(attributes: dict[str, object]) -> list[str]:
        where = RunFilter(attributes_json=json.dumps(attributes))
        return [r.run_id for r in store.query_runs(where, limit=10)]

    assert ids({"n": 1}) == ["b"]
    assert ids({"vip": True}) == ["a"]
    assert ids({"vip": 1}) == []
    assert ids({"customer": "c-2", "n": 1}) == ["b"]
    assert set(ids({})) == {"a", "b", "c"}


def test_a_delayed_run_is_due_at_its_start_time(store: Store) -> None:
    later = store.now() + 3600
    store.create_run(replace(new_run("later"), start_at=later))
    due_in = store.next_due_in([V1])
    assert due_in is not None and 3500 < due_in <= 3600
    store.create_run(replace(new_run("past"), start_at=store.now() - 10))
    due = store.claim_runs("n1", limit=10, lease_seconds=30, versions=[V1], known=True)
    assert [c.run.run_id for c in due] == ["past"]
    run = store.get_run("later")
    assert run is not None and run.status == "pending"
    assert run.available_at is not None and abs(run.available_at - later) < 0.01
