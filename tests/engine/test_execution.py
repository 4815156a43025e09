"""Durable execution (SPEC 3) on a real instance and dispatcher."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable

import pytest

import continuum
from continuum.store import JournalEntry
from tests.conftest import Events, raw_sql, wait_until
from tests.engine import flows


def journal(app: continuum.Continuum, run_id: str) -> list[tuple[int, str, str]]:
    return [(e.seq, e.kind, e.name) for e in app.store.load_history(run_id).entries]


def status_is(app: continuum.Continuum, run_id: str, status: str) -> Callable[[], bool]:
    return lambda: app.get(run_id).status == status


def test_activities_run_once_and_are_journaled(app: continuum.Continuum) -> None:
    run_id = app.start(flows.ThreeSteps)
    assert app.result(run_id, timeout=10) == ["did a", "did b", "did c"]
    assert flows.CALLS == {"a": 1, "b": 1, "c": 1}
    assert [kind for _, kind, _ in journal(app, run_id)] == ["activity"] * 3
    info = app.get(run_id)
    assert info.status == "completed" and info.output == ["did a", "did b", "did c"]
    assert info.workflow == flows.ThreeSteps.workflow
    assert info.version_hash == flows.ThreeSteps.version_hash
    assert info.created_at <= info.updated_at


def test_suspended_run_resumes_by_replay_without_rerunning_activities(
    app: continuum.Continuum, events: Events
) -> None:
    run_id = app.start(flows.WaitsForApproval, {"order": 1})
    wait_until(status_is(app, run_id, "suspended"), what="suspension")
    record = app.store.get_run(run_id)
    assert record is not None and record.lease_owner is None and record.available_at is None
    wait_until(lambda: not app._dispatcher.holds(run_id), what="no thread held")  # type: ignore[union-attr]
    app.signal(run_id, "approval", {"by": "ana"})
    out = app.result(run_id, timeout=10)
    assert out == {"charged": "did charge", "approval": {"by": "ana"}, "shipped": "did ship"}
    assert flows.CALLS == {"charge": 1, "ship": 1}
    assert [e["run_id"] for e in events.named("run", "resumed")] == [run_id]
    assert events.named("run", "resumed")[0]["measurements"]["journal_events"] == 2


def test_sleep_suspends_then_fires(app: continuum.Continuum) -> None:
    run_id = app.start(flows.Sleeper, {"seconds": 0.4})
    wait_until(status_is(app, run_id, "suspended"), what="sleeping")
    started = time.monotonic()
    assert app.result(run_id, timeout=10) == "did after"
    assert time.monotonic() - started < 5
    assert flows.CALLS == {"before": 1, "after": 1}
    assert [k for _, k, _ in journal(app, run_id)] == ["activity", "timer", "activity"]


def test_signal_sent_before_the_wait_is_kept(app: continuum.Continuum) -> None:
    run_id = app.start(flows.WaitsForApproval, run_id="early")
    app.signal(run_id, "approval", "yes")  # may land before the run even starts
    assert app.result(run_id, timeout=10)["approval"] == "yes"


def test_signal_timeout_raises_in_the_workflow(app: continuum.Continuum) -> None:
    run_id = app.start(flows.TimedWait, {"timeout": 0.2})
    out = app.result(run_id, timeout=10)
    assert "did not arrive within 0.2 seconds" in out["timeout"]
    assert [k for _, k, _ in journal(app, run_id)] == ["signal_timeout"]


def test_signal_sent_before_the_deadline_wins_even_if_resumed_late(
    make_app: Callable[..., continuum.Continuum], backend_url: str
) -> None:
    client = make_app(name="client", dispatch=False)
    worker = make_app(name="worker")
    run_id = client.start(flows.TimedWait, {"timeout": 0.5})
    wait_until(status_is(client, run_id, "suspended"), what="waiting")
    worker.shutdown()  # nobody dispatches now
    client.signal(run_id, "go", "in time")
    time.sleep(0.6)  # let the deadline pass before any node looks again
    make_app(name="late-worker")
    assert client.result(run_id, timeout=10) == {"signal": "in time"}


def test_signal_after_the_deadline_is_left_for_a_later_wait(
    make_app: Callable[..., continuum.Continuum],
) -> None:
    client = make_app(name="client", dispatch=False)
    worker = make_app(name="worker")
    run_id = client.start(flows.TwoWaits, {"timeout": 0.2})
    wait_until(status_is(client, run_id, "suspended"), what="waiting")
    worker.shutdown()
    time.sleep(0.3)  # the deadline passes with no signal
    client.signal(run_id, "go", "late")
    make_app(name="late-worker")
    assert client.result(run_id, timeout=10) == ["timed out", "late"]


def test_stable_values_replay_identically(app: continuum.Continuum) -> None:
    run_id = app.start(flows.StableValues)
    wait_until(status_is(app, run_id, "suspended"), what="waiting")
    app.signal(run_id, "go")
    out = app.result(run_id, timeout=10)
    assert out == flows.SEEN[0]
    assert flows.CALLS["side"] == 1
    assert 0 <= out["random"] < 1
    kinds = journal(app, run_id)
    assert [name for _, _, name in kinds[:3]] == ["uuid4", "now", "random"]


def test_patched_is_true_past_the_journal_and_memoized(
    app: continuum.Continuum, events: Events
) -> None:
    run_id = app.start(flows.Patched)
    wait_until(status_is(app, run_id, "suspended"), what="waiting")
    app.signal(run_id, "go")
    assert app.result(run_id, timeout=10) == {"first": True, "again": True}
    assert flows.CALLS == {"a": 1, "patched": 1, "b": 1}
    assert [k for _, k, _ in journal(app, run_id)][2] == "patch"
    hits = events.named("patched", "hit", run_id=run_id)
    assert hits and all(h["patched"] is True for h in hits)


def test_patched_is_false_on_history_made_without_the_patch(
    make_app: Callable[..., continuum.Continuum], events: Events
) -> None:
    client = make_app(name="client", dispatch=False)
    run_id = client.start(flows.Patched)
    # History recorded by the same workflow before the patch existed: a, go, b.
    plant(
        client,
        run_id,
        [
            ("activity", flows.step.__continuum_activity__.name, {"result": "did a"}),
            ("signal", "go", {"payload": None, "signal_id": 0, "sent_at": 0}),
            ("activity", flows.step.__continuum_activity__.name, {"result": "did b (old)"}),
        ],
    )
    make_app(name="worker")
    assert client.result(run_id, timeout=10) == {"first": False, "again": False}
    assert flows.CALLS == {}  # everything replayed; the patched branch never ran
    assert [k for _, k, _ in journal(client, run_id)] == ["activity", "signal", "activity"]
    assert [h["patched"] for h in events.named("patched", "hit", run_id=run_id)] == [False]


def test_async_workflow_with_gather_is_deterministic(app: continuum.Continuum) -> None:
    run_id = app.start(flows.AsyncGather)
    wait_until(status_is(app, run_id, "suspended"), what="waiting")
    app.signal(run_id, "go", 7)
    assert app.result(run_id, timeout=10) == {"results": [2, 4, 6], "payload": 7}
    assert flows.CALLS == {"double1": 1, "double2": 1, "double3": 1}
    names = journal(app, run_id)
    assert [seq for seq, _, _ in names] == [0, 1, 2, 3, 4]
    assert [k for _, k, _ in names] == ["activity"] * 3 + ["timer", "signal"]


def test_short_retries_wait_in_place(app: continuum.Continuum, events: Events) -> None:
    flows.FAILURES["svc"] = 2
    run_id = app.start(flows.Retrying, "svc")
    assert app.result(run_id, timeout=10) == "svc ok"
    assert flows.CALLS["svc"] == 3
    failures = events.named("activity", "exception", run_id=run_id)
    assert [f["measurements"]["attempt"] for f in failures] == [1, 2]
    assert failures[0]["error_type"] == "ConnectionError"


def test_long_retry_pause_suspends_the_run(app: continuum.Continuum) -> None:
    flows.FAILURES["later"] = 1
    run_id = app.start(flows.RetryingLater, "later")
    wait_until(status_is(app, run_id, "suspended"), what="retry pause")
    assert [k for _, k, _ in journal(app, run_id)] == ["activity_retry"]
    assert app.result(run_id, timeout=10) == "finally"
    assert flows.CALLS["later"] == 2
    assert [k for _, k, _ in journal(app, run_id)] == ["activity"]


def test_exhausted_retries_raise_activity_failed(app: continuum.Continuum) -> None:
    flows.FAILURES["never"] = 10
    run_id = app.start(flows.Retrying, "never")
    with pytest.raises(continuum.RunFailed, match="ConnectionError: never unreachable"):
        app.result(run_id, timeout=10)
    assert flows.CALLS["never"] == 4


def test_non_retryable_errors_fail_at_once_and_can_be_caught(app: continuum.Continuum) -> None:
    run_id = app.start(flows.CatchesFailure)
    assert app.result(run_id, timeout=10) == {"type": "PermissionError", "message": "card declined"}
    assert flows.CALLS["forbidden"] == 1


def test_failed_run_names_the_original_error(app: continuum.Continuum, events: Events) -> None:
    run_id = app.start(flows.Fails)
    with pytest.raises(continuum.RunFailed) as caught:
        app.result(run_id, timeout=10)
    assert "ValueError: out of stock" in str(caught.value)
    info = app.get(run_id)
    assert info.status == "failed" and info.error is not None
    assert info.error["type"] == "ValueError" and "Traceback" in info.error["traceback"]
    # The event follows the commit that result() may already have heard of.
    [failure] = wait_until(lambda: events.named("run", "exception", run_id=run_id))
    assert failure["error_type"] == "ValueError" and "duration" in failure["measurements"]


def test_activity_failure_escaping_fails_the_run(app: continuum.Continuum) -> None:
    run_id = app.start(flows.LetsActivityFail)
    with pytest.raises(continuum.RunFailed, match="PermissionError: card declined"):
        app.result(run_id, timeout=10)


@pytest.mark.parametrize("flow", [flows.TimesOut, flows.TimesOutAsync])
def test_activity_timeout(app: continuum.Continuum, flow: type[continuum.Workflow]) -> None:
    run_id = app.start(flow)
    assert app.result(run_id, timeout=10) == "TimeoutError"


def test_non_json_activity_result_is_an_activity_failure(app: continuum.Continuum) -> None:
    run_id = app.start(flows.BadResult)
    assert app.result(run_id, timeout=10) == "SerializationError"


def test_non_json_output_fails_the_run(app: continuum.Continuum) -> None:
    run_id = app.start(flows.BadOutput)
    with pytest.raises(continuum.RunFailed, match="SerializationError"):
        app.result(run_id, timeout=10)


def test_async_activity_from_a_sync_workflow_is_a_clear_failure(app: continuum.Continuum) -> None:
    run_id = app.start(flows.AsyncActivityInSyncFlow)
    with pytest.raises(continuum.RunFailed, match="async def run"):
        app.result(run_id, timeout=10)


def test_halts_cannot_be_swallowed_by_workflow_code(app: continuum.Continuum) -> None:
    run_id = app.start(flows.SwallowsHalts)
    wait_until(status_is(app, run_id, "suspended"), what="suspension")
    assert flows.CALLS["must-not-run"] == 0


def test_cancel_a_suspended_run(app: continuum.Continuum, events: Events) -> None:
    run_id = app.start(flows.WaitsForApproval)
    wait_until(status_is(app, run_id, "suspended"), what="waiting")
    assert app.cancel(run_id) is True
    assert app.cancel(run_id) is False
    with pytest.raises(continuum.RunCancelled):
        app.result(run_id, timeout=5)
    assert [e["run_id"] for e in events.named("run", "cancelled")] == [run_id]
    with pytest.raises(continuum.errors.RunFinished, match="already ended"):
        app.signal(run_id, "approval")
    assert flows.CALLS["ship"] == 0


def test_cancel_during_an_activity_stops_further_activities(app: continuum.Continuum) -> None:
    run_id = app.start(flows.Gated, "gate")
    wait_until(lambda: flows.CALLS["gate"] == 1, what="activity started")
    assert app.cancel(run_id) is True
    flows.GATES["gate"].set()
    wait_until(lambda: not app._dispatcher.holds(run_id), what="attempt ended")  # type: ignore[union-attr]
    assert app.get(run_id).status == "cancelled"
    assert flows.CALLS["after-gate"] == 0
    assert journal(app, run_id) == []  # the fenced-out attempt wrote nothing


def test_a_node_that_lost_its_lease_cannot_write(
    app: continuum.Continuum, backend_url: str
) -> None:
    run_id = app.start(flows.Gated, "gate")
    wait_until(lambda: flows.CALLS["gate"] == 1, what="activity started")
    expire_lease(backend_url, run_id)
    key = (flows.Gated.workflow, flows.Gated.version_hash)
    [theft] = app.store.claim_runs("thief", limit=1, lease_seconds=60, versions=[key], known=True)
    flows.GATES["gate"].set()
    wait_until(lambda: not app._dispatcher.holds(run_id), what="attempt ended")  # type: ignore[union-attr]
    assert journal(app, run_id) == []
    record = app.store.get_run(run_id)
    assert record is not None and record.lease_owner == "thief" and record.status == "running"
    assert flows.CALLS["after-gate"] == 0
    app.store.release(theft.lease, delay=0)


def test_drift_from_the_journal_leaves_the_run_suspended(
    make_app: Callable[..., continuum.Continuum], events: Events
) -> None:
    client = make_app(name="client", dispatch=False)
    run_id = client.start(flows.ThreeSteps)
    plant(client, run_id, [("activity", "some.other.activity", {"result": 1})])
    before = client.store.load_history(run_id).entries
    make_app(name="worker")
    [event] = wait_until(lambda: events.named("run", "nondeterminism", run_id=run_id))
    assert event["measurements"]["position"] == 0
    assert event["recorded_name"] == "some.other.activity"
    wait_until(status_is(client, run_id, "suspended"), what="left suspended")
    assert client.store.load_history(run_id).entries == before
    assert flows.CALLS == {}


def test_shutdown_hands_back_runs_at_a_safe_point(
    make_app: Callable[..., continuum.Continuum],
) -> None:
    worker = make_app(name="worker")
    run_id = worker.start(flows.Gated, "gate")
    wait_until(lambda: flows.CALLS["gate"] == 1, what="activity started")
    stopper = threading.Thread(target=worker.shutdown)
    stopper.start()
    flows.GATES["gate"].set()
    stopper.join(10)
    client = make_app(name="client", dispatch=False)
    record = client.store.get_run(run_id)
    assert record is not None and record.status == "suspended" and record.lease_owner is None
    assert [k for _, k, _ in journal(client, run_id)] == ["activity"]
    make_app(name="next")
    assert client.result(run_id, timeout=10) == ["gate", "did after-gate"]
    assert flows.CALLS["gate"] == 1


def test_lifecycle_telemetry(app: continuum.Continuum, events: Events) -> None:
    run_id = app.start(flows.WaitsForApproval)
    wait_until(status_is(app, run_id, "suspended"), what="waiting")
    app.signal(run_id, "approval")
    app.result(run_id, timeout=10)
    wait_until(lambda: events.named("run", "stop", run_id=run_id), what="stop event")
    kinds = [e[2] for e, _, meta in events.seen if meta.get("run_id") == run_id and e[1] == "run"]
    assert kinds == ["start", "suspended", "resumed", "stop"]
    [stop] = events.named("run", "stop", run_id=run_id)
    assert stop["measurements"]["duration"] >= 0
    assert {stop["instance"], stop["node"], stop["workflow"], stop["version_hash"]} >= {app.node}
    starts = events.named("activity", "start", run_id=run_id)
    stops = events.named("activity", "stop", run_id=run_id)
    assert len(starts) == len(stops) == 2
    assert all(s["measurements"]["duration"] >= 0 for s in stops)


def plant(app: continuum.Continuum, run_id: str, rows: list[tuple[str, str, object]]) -> None:
    """Give a pending run a journal, as if older code had recorded it."""
    record = app.store.get_run(run_id)
    assert record is not None
    key = (record.workflow, record.version_hash)
    [claim] = app.store.claim_runs("planter", limit=1, lease_seconds=30, versions=[key], known=True)
    entries = [
        JournalEntry(i, kind, name, json.dumps(payload))
        for i, (kind, name, payload) in enumerate(rows)
    ]
    app.store.record(claim.lease, entries)
    app.store.release(claim.lease, delay=0)


def expire_lease(url: str, run_id: str) -> None:
    """Make a live lease look expired, as if its node had stalled past it."""
    past = "0" if url.startswith("sqlite") else "to_timestamp(0)"
    raw_sql(url, f"UPDATE continuum_runs SET lease_expires_at = {past} WHERE id = ?", (run_id,))


@pytest.mark.parametrize(
    ("failures", "expected", "outer_calls", "inner_calls"),
    [
        (0, "outer: inner ok", 1, 1),
        # the inner policy (5 attempts) does not apply: the outer one (2) decides
        (1, "outer: inner ok", 2, 2),
        (2, {"failed": "ConnectionError"}, 2, 2),
    ],
)
def test_an_activity_called_inside_an_activity_is_a_plain_call(
    app: continuum.Continuum, failures: int, expected: object, outer_calls: int, inner_calls: int
) -> None:
    flows.FAILURES["inner"] = failures
    run_id = app.start(flows.NestedActivities, "inner")
    assert app.result(run_id, timeout=10) == expected
    assert (flows.CALLS["outer"], flows.CALLS["inner"]) == (outer_calls, inner_calls)
    outer_name = flows.outer.__continuum_activity__.name  # type: ignore[attr-defined]
    assert journal(app, run_id) == [(0, "activity", outer_name)]  # one row: the outer call


def test_async_attempts_on_one_worker_thread_each_see_their_own_context(
    make_app: Callable[..., continuum.Continuum],
) -> None:
    app = make_app(name="one-worker", concurrency=1)
    runs = [app.start(flows.AsyncTwoSleeps) for _ in range(3)]
    assert [app.result(run_id, timeout=10) for run_id in runs] == [[2, 4]] * 3
