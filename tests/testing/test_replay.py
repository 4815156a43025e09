"""Recorded histories: export from any database, replay through code, catch the drift."""

from __future__ import annotations

import copy
import json
import os
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import pytest

import continuum
from continuum.testing import NondeterminismError, WorkflowEnvironment, export_history, replay
from tests.testing import flows
from tests.testing.flows import Approval, Countdown, StateDrift

GOLDEN = Path(__file__).parent / "histories" / "approval.json"
ORDER = {"card": "4242", "amount": 10, "item": "lamp"}
SHIP = flows.name_of(flows.ship)


def record_golden_scenario() -> dict[str, Any]:
    """The run the golden history was recorded from (see histories/approval.json)."""
    with WorkflowEnvironment([Approval]) as env:
        run_id = env.start(Approval, ORDER, run_id="golden-approval")
        env.run_due()
        env.skip(3600)
        env.signal(run_id, "approval", {"by": "ana"})
        env.result(run_id)
        return env.export_history(run_id)


# Changed versions of Approval, as a developer might write them next.
class ApprovalRenamedSignal(continuum.Workflow):
    def run(self, order: dict[str, Any]) -> dict[str, Any]:
        charged = flows.charge(order["card"], order["amount"])
        try:
            approval = continuum.wait_for_signal("approved", timeout=86400)
        except continuum.SignalTimeout:
            return {"status": "expired", "refund": flows.refund(charged["id"])}
        return {"status": "shipped", "ship": flows.ship(order["item"], approval["by"])}


class ApprovalWithReceipt(continuum.Workflow):
    """A compatible change: the new step is guarded by patched()."""

    def run(self, order: dict[str, Any]) -> dict[str, Any]:
        charged = flows.charge(order["card"], order["amount"])
        try:
            approval = continuum.wait_for_signal("approval", timeout=86400)
        except continuum.SignalTimeout:
            return {"status": "expired", "refund": flows.refund(charged["id"])}
        if continuum.patched("receipt"):
            flows.step(1)
        return {"status": "shipped", "ship": flows.ship(order["item"], approval["by"])}


class ApprovalWithoutGuard(continuum.Workflow):
    def run(self, order: dict[str, Any]) -> dict[str, Any]:
        charged = flows.charge(order["card"], order["amount"])
        approval = continuum.wait_for_signal("approval", timeout=86400)
        flows.step(1)  # a new step, unguarded, where history has ship
        return {"charged": charged, "ship": flows.ship(order["item"], approval["by"])}


class Broken(continuum.Workflow):
    def run(self, order: dict[str, Any]) -> Any:
        flows.charge(order["card"], order["amount"])
        return order["missing"]


# -- the golden history ------------------------------------------------------------------
def test_the_golden_history_replays_through_the_current_code() -> None:
    replay(GOLDEN, Approval)
    replay(str(GOLDEN), Approval)
    replay(json.loads(GOLDEN.read_text()), Approval)
    replay(GOLDEN, ApprovalWithReceipt)  # patched() keeps old histories in step


def test_a_change_that_breaks_the_golden_history_names_the_first_mismatch() -> None:
    with pytest.raises(NondeterminismError) as caught:
        replay(GOLDEN, ApprovalRenamedSignal)
    error = caught.value
    assert (error.run_id, error.position) == ("golden-approval", 1)
    assert error.recorded == "signal 'approval'"
    assert error.now == "signal/signal_timeout/signal_wait 'approved'"
    assert "at journal position 1 the history holds signal 'approval'" in str(error)
    assert isinstance(error, continuum.ContinuumError)

    with pytest.raises(NondeterminismError) as caught:
        replay(GOLDEN, ApprovalWithoutGuard)
    assert (caught.value.position, caught.value.recorded) == (2, f"activity {SHIP!r}")
    assert "step" in caught.value.now


def test_code_that_raises_where_history_went_on_is_a_mismatch() -> None:
    with pytest.raises(NondeterminismError, match="KeyError") as caught:
        replay(GOLDEN, Broken)
    assert caught.value.position == 1 and caught.value.recorded == "signal 'approval'"


def test_the_environment_records_the_golden_history_again_exactly() -> None:
    """Virtual time is the same on every run of a test: the recorded history is too."""
    recorded = record_golden_scenario()
    golden = json.loads(GOLDEN.read_text())
    assert recorded["version_hash"] == Approval.version_hash  # the golden file may be older
    recorded.pop("version_hash")
    golden.pop("version_hash")
    assert recorded == golden


# -- the recorded shapes -----------------------------------------------------------------
def test_env_history_lists_replay_and_catch_a_nondeterministic_workflow() -> None:
    key = str(uuid.uuid4())
    with WorkflowEnvironment([StateDrift]) as env:
        run_id = env.start(StateDrift, key)
        assert env.result(run_id) == "a"  # one attempt: nothing noticed without paranoid
        history = env.history(run_id)
    with pytest.raises(NondeterminismError) as caught:
        replay(history, StateDrift)  # this time the code takes the other path
    assert caught.value.position == 0
    assert caught.value.recorded == f"activity {flows.name_of(flows.step_a)!r}"
    assert caught.value.now == f"activity/activity_retry {flows.name_of(flows.step_b)!r}"


def test_a_suspended_history_replays_to_where_it_waits() -> None:
    with WorkflowEnvironment([Approval]) as env:
        run_id = env.start(Approval, ORDER)
        env.run_due()
        history = env.history(run_id)
    replay(history, Approval)
    with pytest.raises(NondeterminismError, match="approved"):
        replay(history, ApprovalRenamedSignal)


def test_a_run_that_continued_as_new_replays() -> None:
    if not hasattr(continuum, "continue_as_new"):
        pytest.skip("continue_as_new has not landed in this tree")
    with WorkflowEnvironment([Countdown]) as env:
        first = env.start(Countdown, 1)
        assert env.result(first) == "lift-off"
        history = env.history(first)
    assert [entry["kind"] for entry in history] == ["started", "activity", "timer"]
    replay(history, Countdown)


def test_a_history_exported_from_a_database_and_by_the_cli_replays(tmp_path: Path) -> None:
    database = f"sqlite:///{tmp_path / 'prod.db'}"
    with continuum.Continuum(
        name="prod", database=database, workflow_modules=[Approval], poll_interval=0.05
    ) as app:
        run_id = app.start(Approval, ORDER)
        app.signal(run_id, "approval", {"by": "ana"})
        app.result(run_id, timeout=30)
        from_app = export_history(app, run_id)
    path = tmp_path / "history.json"
    from_url = export_history(database, run_id, path)
    assert from_url == from_app == json.loads(path.read_text())
    shown = subprocess.run(
        [sys.executable, "-m", "continuum", "show", run_id, "--format", "json"],
        env={**os.environ, "CONTINUUM_DATABASE_URL": database},
        capture_output=True,
        text=True,
        check=True,
    )
    from_cli = json.loads(shown.stdout)
    assert from_cli == from_url
    replay(from_cli, Approval)
    replay(path, Approval)
    with pytest.raises(NondeterminismError):
        replay(from_cli, ApprovalRenamedSignal)


# -- which version a history is replayed through -----------------------------------------
class Shop(continuum.Workflow, workflow="tests.testing.shop"):
    def run(self, order: dict[str, Any]) -> str:
        flows.charge(order["card"], order["amount"])
        return str(flows.ship(order["item"], "shop"))


def test_recorded_or_current_version_is_an_explicit_choice() -> None:
    with WorkflowEnvironment([Shop]) as env:
        run_id = env.start(Shop, ORDER)
        env.result(run_id)
        history = env.history(run_id)
    old = Shop

    class ShopV2(continuum.Workflow, workflow="tests.testing.shop"):  # ships before charging
        def run(self, order: dict[str, Any]) -> str:
            shipped = flows.ship(order["item"], "shop")
            flows.charge(order["card"], order["amount"])
            return str(shipped)

    assert ShopV2.version_hash != old.version_hash
    with pytest.raises(NondeterminismError, match="position 0"):
        replay(history, ShopV2)  # the new code against the old history
    replay(history, ShopV2, version="recorded")  # what runs pinned to the old version resume on

    unknown = copy.deepcopy(history)
    unknown[0]["payload"]["version_hash"] = "0" * 16
    with pytest.raises(continuum.ConfigurationError, match=r"cannot load.*versions freeze"):
        replay(unknown, ShopV2, version="recorded")
    with pytest.raises(continuum.ConfigurationError, match=r"is of workflow tests\.testing\.shop"):
        replay(history, Approval, version="recorded")
    with pytest.raises(continuum.ConfigurationError, match="'current' or 'recorded'"):
        replay(history, ShopV2, version="latest")  # type: ignore[arg-type]


# -- refusals ------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("history", "message"),
    [
        ({"history": []}, "not a recorded history"),
        ([{"kind": "activity", "seq": 0, "name": "x"}], "0 'started' entries"),
        ([{"seq": 0}], "not a recorded history"),
        (42, "not int"),
    ],
)
def test_what_is_not_a_history_is_refused(history: Any, message: str) -> None:
    with pytest.raises(continuum.ConfigurationError, match=message):
        replay(history, Approval)


def test_a_missing_or_broken_file_is_refused(tmp_path: Path) -> None:
    with pytest.raises(continuum.ConfigurationError, match="cannot read"):
        replay(tmp_path / "none.json", Approval)
    (tmp_path / "bad.json").write_text("{not json")
    with pytest.raises(continuum.ConfigurationError, match="is not JSON"):
        replay(tmp_path / "bad.json", Approval)
