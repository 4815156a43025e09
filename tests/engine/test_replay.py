"""Replaying recorded journals through code without acting, and retiring a patch."""

from __future__ import annotations

from collections.abc import Callable

import continuum
from continuum.runtime.replay import Drift, replay
from tests.conftest import wait_until
from tests.engine import flows
from tests.engine.test_execution import journal, status_is


def history_of(app: continuum.Continuum, run_id: str):  # type: ignore[no-untyped-def]
    return app.store.load_history(run_id).entries


def test_a_journal_replays_cleanly_through_the_code_that_wrote_it(
    app: continuum.Continuum,
) -> None:
    run_id = app.start(flows.Planned)
    wait_until(status_is(app, run_id, "suspended"), what="waiting")
    record = app.store.get_run(run_id)
    assert record is not None
    before = dict(flows.CALLS)
    ep = flows.Planned.__continuum_entrypoint__()
    assert replay(ep, record.input_json, history_of(app, run_id)) is None
    assert before == flows.CALLS  # nothing ran
    assert [k for _, k, _ in journal(app, run_id)] == ["activity", "activity", "signal_wait"]


def test_a_changed_module_level_helper_is_caught_at_its_first_drift(
    app: continuum.Continuum,
) -> None:
    run_id = app.start(flows.Planned)
    wait_until(status_is(app, run_id, "suspended"), what="waiting")
    record = app.store.get_run(run_id)
    assert record is not None
    flows.PLAN[:] = ["step", "observe"]  # same class hash, another sequence of primitives
    drift = replay(
        flows.Planned.__continuum_entrypoint__(), record.input_json, history_of(app, run_id)
    )
    assert isinstance(drift, Drift)
    assert (drift.position, drift.recorded_kind) == (1, "activity")
    assert drift.recorded_name == flows.step.__continuum_activity__.name  # type: ignore[attr-defined]
    assert flows.observe.__continuum_activity__.name in drift.code_did  # type: ignore[attr-defined]
    assert "position 1" in str(drift)
    assert flows.SEEN == []  # the drifting code ran nothing either


def test_a_removed_patch_branch_replays_histories_with_and_without_its_marker(
    make_app: Callable[..., continuum.Continuum],
) -> None:
    app = make_app(name="default")
    past_patch = app.start(flows.Shipping)  # will record the marker
    before_patch = app.start(flows.Shipping)  # will not have reached it
    for run_id in (past_patch, before_patch):
        wait_until(status_is(app, run_id, "suspended"), what="waiting for packed")
    app.signal(past_patch, "packed")
    wait_until(lambda: "patch" in [k for _, k, _ in journal(app, past_patch)], what="the marker")
    wait_until(status_is(app, past_patch, "suspended"), what="waiting for shipped")

    flows.SHIPPING["mode"] = "deprecated"  # the patched() check removed, its branch kept
    app.signal(before_patch, "packed")
    for run_id in (past_patch, before_patch):
        app.signal(run_id, "shipped")
        assert app.result(run_id, timeout=10) == "done"
    assert [k for _, k, _ in journal(app, past_patch)] == [
        "activity",
        "signal",
        "patch",
        "activity",
        "signal",
    ]
    assert [k for _, k, _ in journal(app, before_patch)] == [
        "activity",
        "signal",
        "activity",
        "signal",
    ]
    assert flows.CALLS["fast"] == 2  # once per run: replay never ran it again
