"""Sagas (SPEC 9): add_compensation, compensate_all, @activity(compensate=)."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator

import pytest

import continuum
from continuum import CompensationFailed
from tests.conftest import Events, wait_until
from tests.engine import saga_flows as flows


@pytest.fixture(autouse=True)
def _reset() -> Iterator[None]:
    flows.reset()
    yield
    for gate in flows.GATES.values():
        gate.set()


def journal(app: continuum.Continuum, run_id: str) -> list[tuple[int, str, str]]:
    return [
        (e.seq, e.kind, e.name.rsplit(".", 1)[-1]) for e in app.store.load_history(run_id).entries
    ]


def status_is(app: continuum.Continuum, run_id: str, status: str) -> Callable[[], bool]:
    return lambda: app.get(run_id).status == status


def test_a_failed_payment_undoes_the_flight_then_the_hotel(app: continuum.Continuum) -> None:
    flows.FAILURES["charge"] = 1
    run_id = app.start(flows.Booking, {"city": "Lisbon", "amount": 90})
    with pytest.raises(continuum.RunFailed) as failed:
        app.result(run_id, timeout=10)
    assert failed.value.error_type == "ActivityFailed"
    assert flows.LOG == [
        ["book_hotel", "Lisbon"],
        ["book_flight", "Lisbon"],
        ["charge", 90],
        ["cancel_flight", "F-Lisbon", "payment"],
        ["cancel_hotel", {"hotel": "H-Lisbon"}],
    ]
    assert journal(app, run_id) == [
        (0, "activity", "book_hotel"),
        (1, "activity", "book_flight"),
        (2, "compensation", "cancel_flight"),
        (3, "activity", "charge"),
        (4, "activity", "cancel_flight"),
        (5, "activity", "cancel_hotel"),
    ]
    row = app.store.load_history(run_id).entries[2]
    assert json.loads(row.payload_json or "") == {
        "args": ["F-Lisbon"],
        "kwargs": {"reason": "payment"},
    }


def test_a_booking_that_succeeds_compensates_nothing(app: continuum.Continuum) -> None:
    run_id = app.start(flows.Booking, {"city": "Porto", "amount": 10})
    assert app.result(run_id, timeout=10) == "booked"
    assert [entry[0] for entry in flows.LOG] == ["book_hotel", "book_flight", "charge"]


def test_compensations_are_activities_retried_on_a_transient_failure(
    app: continuum.Continuum,
) -> None:
    flows.FAILURES["b"] = 2  # undo's Retry allows 3 attempts
    run_id = app.start(flows.UndoesInOrder, ["a", "b", "c"])
    assert app.result(run_id, timeout=10) == "compensated"
    assert flows.LOG == [["undo", "c"], ["undo", "b"], ["undo", "b"], ["undo", "b"], ["undo", "a"]]
    assert flows.CALLS == {"a": 1, "b": 3, "c": 1}
    assert [kind for _, kind, _ in journal(app, run_id)] == ["compensation"] * 3 + ["activity"] * 3


def test_every_step_is_tried_then_the_failures_are_named_and_stay_registered(
    app: continuum.Continuum,
) -> None:
    flows.FAILURES["b"] = 1  # undo_once has no retry: this failure is final
    flows.FAILURES["c"] = 1
    run_id = app.start(flows.TriesEveryStep, ["a", "b", "c"])
    out = app.result(run_id, timeout=10)
    first = out["first"]
    assert first["type"] == "CompensationFailed"
    assert first["failures"] == ["undo_once", "undo_once"]
    assert "2 compensation(s) failed" in first["message"]
    assert "ConnectionError: c unreachable" in first["message"]
    assert "ConnectionError: b unreachable" in first["message"]
    # first pass: c (fails), b (fails), a; second pass: only c then b, now succeeding
    assert [name for _, name in flows.LOG] == ["c", "b", "a", "c", "b"]
    assert flows.CALLS == {"a": 1, "b": 2, "c": 2}


def test_compensation_failed_is_an_activity_failed() -> None:
    error = CompensationFailed([continuum.ActivityFailed("m.undo", "ValueError", "no")])
    assert isinstance(error, continuum.ActivityFailed)
    assert (error.activity, error.error_type, error.error_message) == ("m.undo", "ValueError", "no")
    assert str(error) == "1 compensation(s) failed: m.undo: ValueError: no"


def test_a_crash_half_way_resumes_with_only_the_remaining_steps(
    make_app: Callable[..., continuum.Continuum],
) -> None:
    flows.GATES["b"] = threading.Event()
    worker = make_app(name="worker")
    run_id = worker.start(flows.UndoesInOrder, ["a", "b", "c"])
    wait_until(lambda: flows.CALLS["b"] == 1, what="undo b started")
    stopper = threading.Thread(target=worker.shutdown)
    stopper.start()
    flows.GATES["b"].set()  # b finishes and is journaled; the attempt stops before a
    stopper.join(10)
    client = make_app(name="client", dispatch=False)
    record = client.store.get_run(run_id)
    assert record is not None and record.status == "suspended"
    assert flows.CALLS == {"c": 1, "b": 1}
    assert [name for _, kind, name in journal(client, run_id) if kind == "activity"] == [
        "undo",
        "undo",
    ]
    make_app(name="next")
    assert client.result(run_id, timeout=10) == "compensated"
    assert flows.CALLS == {"c": 1, "b": 1, "a": 1}
    assert [name for _, name in flows.LOG] == ["c", "b", "a"]


def test_compensate_registers_per_success_only(app: continuum.Continuum) -> None:
    flows.FAILURES["y"] = 1  # reserve has no retry: y fails for good
    run_id = app.start(flows.ReservesSeats, ["x", "y", "z"])
    assert app.result(run_id, timeout=10) == ["y"]
    assert flows.LOG == [
        ["reserve", "x"],
        ["reserve", "y"],
        ["reserve", "z"],
        ["release", "seat-z"],
        ["release", "seat-x"],
    ]
    # compensate= writes no row of its own: the activity's journaled result implies it
    assert [kind for _, kind, _ in journal(app, run_id)] == ["activity"] * 5


def test_registrations_are_rebuilt_by_replay_after_a_timer(app: continuum.Continuum) -> None:
    run_id = app.start(flows.RegistersThenSleeps, 0.3)
    wait_until(status_is(app, run_id, "suspended"), what="sleeping")
    assert app.result(run_id, timeout=10) == "compensated"
    assert flows.LOG == [
        ["reserve", "a"],
        ["reserve", "c"],
        ["release", "seat-c"],
        ["undo", "b"],
        ["release", "seat-a"],
    ]
    assert [kind for _, kind, _ in journal(app, run_id)] == [
        "activity",
        "compensation",
        "activity",
        "timer",
        "activity",
        "activity",
        "activity",
    ]


def test_a_different_call_at_a_compensation_position_is_nondeterminism(
    app: continuum.Continuum, events: Events
) -> None:
    run_id = app.start(flows.Switchable, 0.3)
    wait_until(status_is(app, run_id, "suspended"), what="sleeping")
    flows.MODE["register"] = False
    found = wait_until(lambda: events.named("run", "nondeterminism", run_id=run_id))
    assert "compensation" in json.dumps(found[0], default=str)
    # The event comes first, then the run is handed back: wait for that.
    wait_until(status_is(app, run_id, "suspended"), what="handed back, suspended")
    assert flows.CALLS["x"] == 0
    assert journal(app, run_id)[:1] == [(0, "compensation", "undo")]


def test_bad_compensations_are_refused_and_record_nothing(app: continuum.Continuum) -> None:
    run_id = app.start(flows.BadCompensations)
    refused = app.result(run_id, timeout=10)
    assert refused[0].startswith("ConfigurationError: continuum.add_compensation() takes an")
    assert "not_an_activity" in refused[0] and "@continuum.activity" in refused[0]
    assert refused[1].startswith("SerializationError:")
    assert journal(app, run_id) == []
    assert flows.LOG == []


def test_compensate_must_be_an_activity_at_decoration() -> None:
    with pytest.raises(continuum.ConfigurationError, match="decorate the undo step"):
        continuum.activity(compensate=flows.not_an_activity)

    with pytest.raises(continuum.ConfigurationError, match=r"compensate= .* is async"):

        @continuum.activity(compensate=flows.unbook_async)
        def sync_booking() -> None: ...


def test_outside_a_workflow_the_primitives_refuse() -> None:
    with pytest.raises(continuum.NotInWorkflow):
        continuum.add_compensation(flows.undo, "x")
    with pytest.raises(continuum.NotInWorkflow):
        continuum.compensate_all()
    flows.book_hotel("Faro")  # a plain call registers nothing and needs no workflow
    assert flows.LOG == [["book_hotel", "Faro"]]


def test_async_workflow_compensates_in_position_order_after_a_timer(
    app: continuum.Continuum,
) -> None:
    run_id = app.start(flows.AsyncBooking, 0.3)
    wait_until(status_is(app, run_id, "suspended"), what="sleeping")
    assert app.result(run_id, timeout=10) == "compensated"
    # "second" finished first, but steps are ordered by call position, not completion
    assert flows.LOG == [
        ["book_async", "second"],
        ["book_async", "first"],
        ["undo", "sync-step"],
        ["unbook_async", "booked-second"],
        ["unbook_async", "booked-first"],
    ]


def test_sync_compensate_all_refuses_async_steps(app: continuum.Continuum) -> None:
    run_id = app.start(flows.AsyncStepsInSyncCall)
    assert "compensate_all_async" in app.result(run_id, timeout=10)


# -- cancelling a run that unwinds (on_cancel="unwind") -----------------------------------
def test_cancelling_an_unwinding_run_undoes_its_steps_then_ends_it(
    app: continuum.Continuum,
) -> None:
    run_id = app.start(flows.CancellableTrip, {"city": "Porto"})
    nap = f"{run_id}/0"
    wait_until(status_is(app, run_id, "suspended"), what="the trip waiting for confirm")
    wait_until(status_is(app, nap, "suspended"), what="its child waiting")
    assert app.cancel(run_id) is True
    with pytest.raises(continuum.RunCancelled):
        app.result(run_id, timeout=10)
    assert flows.LOG == [
        ["book_hotel", "Porto"],
        ["book_flight", "Porto"],
        ["cancel_flight", "F-Porto", "cancelled"],
        ["cancel_hotel", {"hotel": "H-Porto"}],
    ]
    info = app.get(run_id)
    assert info.status == "cancelled"
    assert info.error is not None and info.error["type"] == "CancelRequested"
    # the cancel reached it at the wait it was in: that row became the "cancel" row
    assert journal(app, run_id) == [
        (0, "child", "Nap"),
        (1, "activity", "book_hotel"),
        (2, "activity", "book_flight"),
        (3, "compensation", "cancel_flight"),
        (4, "cancel", "cancel"),
        (5, "activity", "cancel_flight"),
        (6, "activity", "cancel_hotel"),
    ]
    # its child went with it, once it had unwound
    assert app.get(nap).status == "cancelled"
    assert app.cancel(run_id) is False


def test_a_second_cancel_ends_an_unwinding_run_at_once(app: continuum.Continuum) -> None:
    flows.GATES["slow"] = threading.Event()
    run_id = app.start(flows.UnwindsSlowly, None)
    wait_until(status_is(app, run_id, "suspended"), what="waiting for confirm")
    assert app.cancel(run_id) is True
    wait_until(lambda: ["undo", "slow"] in flows.LOG, what="the undo step running")
    assert app.get(run_id).status == "running"
    assert app.cancel(run_id) is True  # asked again: it ends now
    assert app.get(run_id).status == "cancelled"
    flows.GATES["slow"].set()
    with pytest.raises(continuum.RunCancelled):
        app.result(run_id, timeout=10)


def test_a_run_that_unwinds_and_returns_ends_cancelled_with_its_output(
    app: continuum.Continuum,
) -> None:
    run_id = app.start(flows.UnwindsSlowly, None)
    wait_until(status_is(app, run_id, "suspended"), what="waiting for confirm")
    app.cancel(run_id)
    with pytest.raises(continuum.RunCancelled):
        app.result(run_id, timeout=10)
    info = app.get(run_id)
    assert (info.status, info.output, info.error) == ("cancelled", "unwound", None)


def test_on_cancel_must_be_end_or_unwind() -> None:
    with pytest.raises(continuum.WorkflowDefinitionError, match="on_cancel= must be"):

        class Wrong(continuum.Workflow, on_cancel="later"):  # type: ignore[call-arg]
            def run(self, _: object) -> None: ...
