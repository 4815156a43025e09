"""continue_as_new (SPEC 9): a run ends and a fresh run of its workflow continues it."""

from __future__ import annotations

import sys

import pytest

import continuum
from tests.engine import composition_flows as flows


def chain(app: continuum.Continuum, run_id: str) -> list[continuum.RunInfo]:
    runs = [app.get(run_id)]
    while runs[-1].continued_to is not None:
        runs.append(app.get(runs[-1].continued_to))
    return runs


def test_result_follows_the_chain_to_its_final_outcome(app: continuum.Continuum) -> None:
    run_id = app.start(flows.Countdown, {"n": 3}, attributes={"customer": "c-1"})
    assert app.result(run_id, timeout=10) == {"n": 0, "runs": 4}
    runs = chain(app, run_id)
    assert [r.input["n"] for r in runs] == [3, 2, 1, 0]
    assert [r.status for r in runs] == ["completed"] * 4
    assert runs[0].output is None  # a continued run has no output of its own
    assert [r.continued_from for r in runs] == [None, *(r.run_id for r in runs[:-1])]
    # each run has a journal of its own, bounded by one pass of the loop
    sizes = [len(app.store.load_history(run.run_id).entries) for run in runs]
    assert sizes == [1, 1, 1, 0]  # the last returns before its sleep
    # operator metadata goes along the chain
    assert all(r.attributes == {"customer": "c-1"} for r in runs)
    # the middle of a chain follows to the same end
    assert app.result(runs[1].run_id, timeout=1) == {"n": 0, "runs": 4}


def test_an_async_workflow_continues_as_new(app: continuum.Continuum) -> None:
    run_id = app.start(flows.AsyncCountdown, 2)
    assert app.result(run_id, timeout=10) == 0
    assert len(chain(app, run_id)) == 3


def test_a_child_that_continues_as_new_is_awaited_to_the_end_of_its_chain(
    app: continuum.Continuum,
) -> None:
    run_id = app.start(flows.ParentOfCountdown, 2)
    assert app.result(run_id, timeout=10) == {"n": 0, "runs": 3}
    first_child = f"{run_id}/0"
    runs = chain(app, first_child)
    assert len(runs) == 3
    assert all(r.parent_run_id == run_id for r in runs)
    history = app.store.load_history(run_id)
    assert [e.kind for e in history.entries] == ["child", "child_result"]
    assert history.pending_signals == []


def test_input_that_is_not_json_is_refused_and_nothing_ends(app: continuum.Continuum) -> None:
    run_id = app.start(flows.BadContinue, None)
    assert app.result(run_id, timeout=10) == "refused: SerializationError"
    info = app.get(run_id)
    assert info.continued_to is None
    assert app.query(workflow=flows.BadContinue).runs == [info]


def test_continue_as_new_needs_a_workflow() -> None:
    with pytest.raises(continuum.NotInWorkflow):
        continuum.continue_as_new(1)


def test_the_continuation_runs_the_code_loaded_now(app: continuum.Continuum) -> None:
    """A run pinned to version 1 continues on version 2, the code its module has now
    (as after a deploy that reloaded it)."""
    module = sys.modules[__name__]

    class Loop(continuum.Workflow, workflow="tests.continue.Loop", version=1):
        def run(self, n: int) -> object:
            if n == 0:
                return "old code"
            continuum.continue_as_new(n - 1)

    class LoopV2(continuum.Workflow, workflow="tests.continue.Loop", version=2):
        def run(self, n: int) -> object:
            if n == 0:
                return "new code"
            continuum.continue_as_new(n - 1)

    # Both classes stand for the module's `ContinuedLoop`, which is now version 2.
    Loop.__qualname__ = LoopV2.__qualname__ = "ContinuedLoop"
    module.ContinuedLoop = LoopV2  # type: ignore[attr-defined]
    try:
        app.versions.sync()
        run_id = app.start(Loop, 1)
        assert app.get(run_id).version == 1
        assert app.result(run_id, timeout=10) == "new code"
        continued = app.get(run_id).continued_to
        assert continued is not None
        assert (app.get(continued).version, app.get(continued).continued_from) == (2, run_id)
    finally:
        del module.ContinuedLoop  # type: ignore[attr-defined]
