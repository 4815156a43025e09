"""What a durable engine is trusted for, tried where it used to break.

- an attempt whose lease ran out while it stalled invokes nothing more;
- a memoized `patched()` answer still consumes a marker recorded for its id;
- a signal sent again with the same delivery id reaches the run once.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import pytest

import continuum
from continuum.errors import DatabaseUnavailable, RunFinished, RunNotFound
from continuum.store import Lease
from tests.conftest import wait_until
from tests.engine import flows
from tests.engine.test_execution import journal, plant, status_is

STEP = flows.step.__continuum_activity__.name


def test_an_attempt_that_outlived_its_lease_invokes_no_further_activity(
    make_app: Callable[..., continuum.Continuum],
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Node A's attempt stalls between two steps while its lease cannot be renewed
    (its heartbeat never learns the lease is gone); node B takes the run over and
    finishes it. When A goes on, its own clock tells it the lease ran out: it stops
    before invoking the next activity, which B has journaled already."""
    caplog.set_level(logging.INFO, logger="continuum")
    node_a = make_app(name="a", lease_seconds=1.0, concurrency=1)

    def cannot_renew(leases: Any, lease_seconds: float) -> list[Lease]:
        raise DatabaseUnavailable("no route to the database (a partition, for this test)")

    monkeypatch.setattr(node_a.store, "renew_leases", cannot_renew)
    run_id = node_a.start(flows.StallsBetweenSteps)  # runs on A at once
    assert flows.STALLED.wait(10)

    node_b = make_app(name="b", lease_seconds=1.0)
    assert node_b.result(run_id, timeout=20) == ["did before-stall", "did after-stall"]
    history = journal(node_b, run_id)

    flows.STALL.set()  # A goes on, as a stopped process does after SIGCONT
    wait_until(
        lambda: "lease expired on this node's clock" in caplog.text, what="A's attempt to stop"
    )
    assert flows.CALLS == {"before-stall": 1, "after-stall": 1}
    assert journal(node_b, run_id) == history
    assert node_b.get(run_id).output == ["did before-stall", "did after-stall"]


def test_a_memoized_false_patch_still_consumes_a_marker_recorded_later(
    make_app: Callable[..., continuum.Continuum],
) -> None:
    """Release 1 asked `patched("feature")` after step "first" (in a module-level
    helper, so the class hash did not change) and recorded its marker there.
    Release 2 asks earlier too: that first answer is False (no marker at its
    position) and is kept, and the later call consumes the recorded marker, so
    the wait after it replays in step instead of halting as nondeterministic."""
    client = make_app(name="client", dispatch=False)
    run_id = client.start(flows.PatchAskedEarly)
    plant(
        client,
        run_id,
        [
            ("activity", STEP, {"result": "did first"}),
            ("patch", "feature", None),
            ("signal_wait", "go", {"deadline": None}),
        ],
    )
    client.signal(run_id, "go", "now")
    make_app(name="worker")
    assert client.result(run_id, timeout=10) == {"early": False, "late": False, "payload": "now"}
    assert [kind for _, kind, _ in journal(client, run_id)] == ["activity", "patch", "signal"]
    assert flows.CALLS == {}


def test_a_memoized_true_patch_consumes_a_repeated_marker(
    make_app: Callable[..., continuum.Continuum],
) -> None:
    """The mirror case: the first call finds its marker (True), and a marker of the
    same id recorded again further on is consumed by the later call."""
    client = make_app(name="client", dispatch=False)
    run_id = client.start(flows.PatchAskedEarly)
    plant(
        client,
        run_id,
        [
            ("patch", "feature", None),
            ("activity", STEP, {"result": "did first"}),
            ("patch", "feature", None),
            ("signal_wait", "go", {"deadline": None}),
        ],
    )
    client.signal(run_id, "go", "now")
    make_app(name="worker")
    assert client.result(run_id, timeout=10) == {"early": True, "late": True, "payload": "now"}
    kinds = [kind for _, kind, _ in journal(client, run_id)]
    assert kinds == ["patch", "activity", "patch", "signal"]


def test_a_patch_asked_twice_past_the_journal_records_one_marker(
    app: continuum.Continuum,
) -> None:
    run_id = app.start(flows.PatchAskedEarly)
    wait_until(status_is(app, run_id, "suspended"), what="waiting")
    app.signal(run_id, "go", 1)
    assert app.result(run_id, timeout=10) == {"early": True, "late": True, "payload": 1}
    assert [kind for _, kind, _ in journal(app, run_id)] == ["patch", "activity", "signal"]


def test_a_signal_sent_again_with_its_delivery_id_arrives_once(
    make_app: Callable[..., continuum.Continuum],
) -> None:
    client = make_app(name="client", dispatch=False)
    run_id = client.start(flows.TwoWaits, {"timeout": 3600})
    for _ in range(3):  # a webhook retried after its acknowledgement was lost
        client.signal(run_id, "go", "first", delivery_id="hook-1")
    client.signal(run_id, "go", "second", delivery_id="hook-2")
    make_app(name="worker")
    assert client.result(run_id, timeout=10) == ["first", "second"]
    # after the run ended: a repeat is still accepted and dropped, a new one refused
    client.signal(run_id, "go", "first", delivery_id="hook-1")
    with pytest.raises(RunFinished):
        client.signal(run_id, "go", "third", delivery_id="hook-3")
    with pytest.raises(RunNotFound):
        client.signal("no-such-run", "go", delivery_id="hook-1")


@pytest.mark.parametrize("bad", ["", 7, b"id"])
def test_a_bad_delivery_id_is_refused_before_anything_is_written(
    app: continuum.Continuum, bad: object
) -> None:
    run_id = app.start(flows.WaitsForApproval)
    with pytest.raises(continuum.ContinuumError, match="delivery_id"):
        app.signal(run_id, "approval", delivery_id=bad)  # type: ignore[arg-type]
    assert app.store.load_history(run_id).pending_signals == []


@pytest.mark.parametrize("bad", ["a\x00b", "\ud800", "x" * 256])
def test_a_delivery_id_no_backend_can_store_is_refused_alike(
    app: continuum.Continuum, bad: str
) -> None:
    run_id = app.start(flows.WaitsForApproval)
    with pytest.raises(continuum.ContinuumError, match=r"signal\(delivery_id=\)"):
        app.signal(run_id, "approval", delivery_id=bad)
    assert app.store.load_history(run_id).pending_signals == []


@pytest.mark.parametrize("bad", ["", "a\x00b", 3])
def test_a_bad_patch_id_is_refused(bad: object) -> None:
    with pytest.raises(continuum.ContinuumError, match=r"patched\(patch_id=\)"):
        continuum.patched(bad)  # type: ignore[arg-type]
