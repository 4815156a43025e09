"""Child workflows (SPEC 9): start_child, await_child, child, and cancelling a parent."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator

import pytest

import continuum
from tests.conftest import Events, wait_until
from tests.engine import composition_flows as flows


@pytest.fixture(autouse=True)
def _reset() -> Iterator[None]:
    flows.reset()
    yield
    for gate in flows.GATES.values():
        gate.set()


def kinds(app: continuum.Continuum, run_id: str) -> list[tuple[int, str, str]]:
    return [(e.seq, e.kind, e.name) for e in app.store.load_history(run_id).entries]


def status_is(app: continuum.Continuum, run_id: str, status: str) -> Callable[[], bool]:
    """Whether the run exists (a child is started with its parent's next write) and has
    that status."""

    def check() -> bool:
        record = app.store.get_run(run_id)
        return record is not None and record.status == status

    return check


def test_a_parent_starts_children_and_collects_their_outputs(app: continuum.Continuum) -> None:
    run_id = app.start(flows.Order, ["a", "b", "c"])
    assert app.result(run_id, timeout=10) == ["shipped a", "shipped b", "shipped c"]
    children = [f"{run_id}/{position}" for position in range(3)]
    assert app.get(run_id).children == tuple(children)
    for child_id, parcel in zip(children, "abc", strict=True):
        child = app.get(child_id)
        assert (child.workflow, child.status, child.input) == (
            flows.Shipment.workflow,
            "completed",
            parcel,
        )
        assert child.parent_run_id == run_id
        assert child.version_hash == flows.Shipment.version_hash  # its own pin
    journal = kinds(app, run_id)
    assert [k for _, k, _ in journal] == ["child"] * 3 + ["child_result"] * 3
    assert [name for _, _, name in journal[3:]] == children
    # every child's end was taken: no signal is left pending for the parent
    assert app.store.load_history(run_id).pending_signals == []


def test_replay_starts_no_second_child(app: continuum.Continuum) -> None:
    flows.GATES["b"] = gate = threading.Event()
    run_id = app.start(flows.Order, ["a", "b"])
    wait_until(lambda: ["ship", "b"] in flows.LOG, what="the second child shipping")
    # the parent has suspended (at least once) waiting for its children, and will
    # replay its two start_child calls when it resumes
    gate.set()
    assert app.result(run_id, timeout=10) == ["shipped a", "shipped b"]
    assert sorted(map(str, flows.LOG)) == sorted(map(str, [["ship", "a"], ["ship", "b"]]))
    assert len(app.query(parent_run_id=run_id).runs) == 2


def test_a_failed_child_raises_child_failed_in_the_parent(app: continuum.Continuum) -> None:
    run_id = app.start(flows.OrderKeepsGoing, ["a", "lost"])
    outcome = app.result(run_id, timeout=10)
    assert outcome[0] == "shipped a"
    assert outcome[1] == [
        "failed",
        f"{run_id}/1",
        "ActivityFailed",
        "activity 'tests.engine.composition_flows.ship' failed: "
        "LookupError: parcel lost in transit",
    ]


def test_an_uncaught_child_failure_fails_the_parent_naming_the_child(
    app: continuum.Continuum,
) -> None:
    run_id = app.start(flows.Order, ["lost"])
    with pytest.raises(continuum.RunFailed) as failed:
        app.result(run_id, timeout=10)
    assert failed.value.error_type == "ChildFailed"
    assert f"child run {run_id}/0" in failed.value.error_message


def test_a_child_id_given_is_the_child_run_id(app: continuum.Continuum) -> None:
    run_id = app.start(flows.NamedChild, "shipment-7")
    assert app.result(run_id, timeout=10) == "shipped named"
    assert app.get("shipment-7").parent_run_id == run_id


def test_a_child_id_taken_by_another_run_is_refused(app: continuum.Continuum) -> None:
    app.start(flows.WaitsForever, "other", run_id="taken")
    run_id = app.start(flows.NamedChild, "taken")
    with pytest.raises(continuum.RunFailed) as failed:
        app.result(run_id, timeout=10)
    assert failed.value.error_type == "ConfigurationError"
    assert "already names run taken" in failed.value.error_message
    assert kinds(app, run_id) == []  # nothing recorded
    assert app.get("taken").status in ("pending", "suspended", "running")


def test_cancelling_a_parent_cancels_its_children_unless_abandoned(
    app: continuum.Continuum,
) -> None:
    run_id = app.start(flows.Grandparent, None)
    parent_id = f"{run_id}/0"
    kept, doomed = f"{parent_id}/0", f"{parent_id}/1"
    for waiting in (kept, doomed):
        wait_until(status_is(app, waiting, "suspended"), what=f"{waiting} waiting")
    assert app.cancel(run_id) is True
    for cancelled in (run_id, parent_id, doomed):
        assert app.get(cancelled).status == "cancelled"
    assert app.get(kept).status == "suspended"  # abandoned: it goes on
    with pytest.raises(continuum.RunCancelled):
        app.result(parent_id, timeout=5)
    assert app.cancel(run_id) is False


def test_a_cancelled_child_raises_child_cancelled_in_its_parent(app: continuum.Continuum) -> None:
    run_id = app.start(flows.Parent, None)
    doomed = f"{run_id}/1"
    wait_until(status_is(app, doomed, "suspended"), what="the child waiting")
    app.cancel(doomed)
    with pytest.raises(continuum.RunFailed) as failed:
        app.result(run_id, timeout=10)
    assert failed.value.error_type == "ChildCancelled"
    assert f"child run {doomed}" in failed.value.error_message


def test_async_children_run_together_with_gather(app: continuum.Continuum) -> None:
    run_id = app.start(flows.AsyncOrder, ["x", "y", "z"])
    assert app.result(run_id, timeout=10) == ["shipped x", "shipped y", "shipped z"]
    assert len(app.get(run_id).children or ()) == 3


def test_a_child_of_an_unregistered_workflow_is_refused(
    make_app: Callable[..., continuum.Continuum],
) -> None:
    app = make_app(workflow_modules=[flows.StartsUnregistered, flows.Shipment])
    run_id = app.start(flows.StartsUnregistered, None)
    refused = app.result(run_id, timeout=10)
    assert "is not registered on any node" in refused
    assert "workflow_modules" in refused
    assert app.get(run_id).children == ()
    assert kinds(app, run_id) == []


def test_a_child_input_that_is_not_json_is_refused(app: continuum.Continuum) -> None:
    run_id = app.start(flows.BadChildInput, None)
    assert app.result(run_id, timeout=10) == "refused: SerializationError"
    assert app.get(run_id).children == ()
    assert kinds(app, run_id) == []


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: continuum.start_child(flows.Shipment, "p"), "outside a running workflow"),
        (lambda: continuum.await_child(continuum.ChildHandle("x", "w")), "outside"),
    ],
)
def test_children_need_a_workflow(call: Callable[[], object], message: str) -> None:
    with pytest.raises(continuum.NotInWorkflow, match=message):
        call()


def test_await_child_takes_only_a_handle(app: continuum.Continuum) -> None:
    class AwaitsAString(continuum.Workflow, version=1):
        def run(self, _: object) -> object:
            return continuum.await_child("some-run")  # type: ignore[arg-type]

    run_id = app.start(AwaitsAString, None)
    with pytest.raises(continuum.RunFailed, match="takes the handle start_child"):
        app.result(run_id, timeout=10)


def test_children_report_started_and_ended(app: continuum.Continuum, events: Events) -> None:
    child_events = [("continuum", "child", "started"), ("continuum", "child", "ended")]
    continuum.telemetry.attach_many("test-children", child_events, events)
    run_id = app.start(flows.OrderKeepsGoing, ["a", "lost"])
    app.result(run_id, timeout=10)
    started = events.named("child", "started", run_id=run_id)
    ended = events.named("child", "ended", run_id=run_id)
    assert [m["child_run_id"] for m in started] == [f"{run_id}/0", f"{run_id}/1"]
    assert [m["status"] for m in ended] == ["completed", "failed"]
    continuum.telemetry.detach("test-children")


def test_hundreds_of_children_wake_their_parent_only_when_awaited(
    app: continuum.Continuum, events: Events
) -> None:
    parcels = list(range(300))
    run_id = app.start(flows.Order, parcels)
    assert app.result(run_id, timeout=60) == [f"shipped {p}" for p in parcels]
    resumed = events.named("run", "resumed", run_id=run_id)
    # Children end in roughly the order they were started, and the parent waits for
    # them in that order: far fewer resumes than children (not one per child).
    assert len(resumed) < len(parcels) / 3
    payload = app.store.load_history(run_id).entries[-1].payload_json
    assert json.loads(payload or "")["status"] == "completed"
