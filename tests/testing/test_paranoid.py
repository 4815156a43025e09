"""Paranoid mode: every journal write replayed at once, so drift shows in the first test."""

from __future__ import annotations

import uuid
from collections.abc import Callable

import pytest

import continuum
from continuum.testing import NondeterminismError, WorkflowEnvironment
from tests.testing import flows
from tests.testing.flows import (
    Approval,
    AsyncGather,
    AsyncStateDrift,
    Child,
    ClockDrift,
    Countdown,
    Month,
    Parent,
    RandomDrift,
    Retrying,
    Saga,
    StateDrift,
    Steps,
    WaitDrift,
)

STEP_A = flows.name_of(flows.step_a)
STEP_B = flows.name_of(flows.step_b)


def drive_approval(env: WorkflowEnvironment) -> None:
    run_id = env.start(Approval, {"card": "1", "amount": 1, "item": "x"})
    env.run_due()
    env.signal(run_id, "approval", {"by": "ana"})
    env.result(run_id)
    env.result(env.start(Approval, {"card": "2", "amount": 2, "item": "y"}))  # expires


def drive_month(env: WorkflowEnvironment) -> None:
    run_id = env.start(Month)
    env.skip(30 * 86400)
    env.signal(run_id, "first", 1)
    env.result(run_id)


def drive_retrying(env: WorkflowEnvironment) -> None:
    failures = iter([ValueError("a"), ValueError("b")])

    def flaky(key: str) -> str:
        error = next(failures, None)
        if error is not None:
            raise error
        return key

    env.mock_activity(flows.flaky_lookup, side_effect=flaky)
    env.mock_activity(flows.quick_retry, side_effect=flaky)
    env.result(env.start(Retrying, "k"))


def drive_saga(env: WorkflowEnvironment) -> None:
    env.mock_activity(flows.charge, raises=RuntimeError("declined"))
    with pytest.raises(continuum.RunFailed):
        env.result(env.start(Saga, "c"))


def drive_async(env: WorkflowEnvironment) -> None:
    run_id = env.start(AsyncGather, ["a", "b", "c"])
    env.skip(3600)
    env.signal(run_id, "go", "now")
    env.result(run_id)
    with pytest.raises(continuum.RunFailed, match="SignalTimeout"):
        env.result(env.start(AsyncGather, ["d"]))  # no "go": the wait times out


def drive_children(env: WorkflowEnvironment) -> None:
    if not hasattr(continuum, "child"):
        pytest.skip("child workflows have not landed in this tree")
    assert env.result(env.start(Parent, 1)) == 3


def drive_continue_as_new(env: WorkflowEnvironment) -> None:
    if not hasattr(continuum, "continue_as_new"):
        pytest.skip("continue_as_new has not landed in this tree")
    run_id = env.start(Countdown, 3)
    assert env.result(run_id) == "lift-off"
    assert env.get(run_id).status == "completed"


def drive_steps(env: WorkflowEnvironment) -> None:
    assert env.result(env.start(Steps, 30)) == sum(range(30))


@pytest.mark.parametrize(
    "drive",
    [
        drive_approval,
        drive_month,
        drive_retrying,
        drive_saga,
        drive_async,
        drive_children,
        drive_continue_as_new,
        drive_steps,
    ],
)
def test_deterministic_workflows_pass_in_paranoid_mode(
    drive: Callable[[WorkflowEnvironment], None],
) -> None:
    flows_used = [Approval, Month, Retrying, Saga, AsyncGather, Parent, Child, Countdown, Steps]
    with WorkflowEnvironment(flows_used, paranoid=True) as env:
        drive(env)


def test_state_outside_the_journal_is_caught_at_the_first_write() -> None:
    key = str(uuid.uuid4())
    with WorkflowEnvironment([StateDrift], paranoid=True) as env:
        run_id = env.start(StateDrift, key)
        with pytest.raises(NondeterminismError) as caught:
            env.run_until_idle()
    error = caught.value
    assert (error.run_id, error.position) == (run_id, 0)
    assert error.recorded == f"activity {STEP_A!r}"
    assert error.now == f"activity/activity_retry {STEP_B!r}"


def test_without_paranoid_mode_a_run_that_never_resumes_hides_its_drift() -> None:
    with WorkflowEnvironment([StateDrift, ClockDrift, RandomDrift]) as env:
        assert env.result(env.start(StateDrift, str(uuid.uuid4()))) == "a"
        env.result(env.start(ClockDrift))
        env.result(env.start(RandomDrift))


@pytest.mark.parametrize("workflow", [ClockDrift, RandomDrift])
def test_a_clock_or_random_value_in_the_output_is_caught(
    workflow: type[continuum.Workflow],
) -> None:
    with WorkflowEnvironment([workflow], paranoid=True) as env:
        run_id = env.start(workflow)
        with pytest.raises(
            NondeterminismError, match=r"the output .* but the code now did return"
        ) as caught:
            env.result(run_id)
    assert caught.value.position == 1  # after the one journaled step


def test_an_async_workflow_is_caught_too() -> None:
    with WorkflowEnvironment([AsyncStateDrift], paranoid=True) as env:
        env.start(AsyncStateDrift, str(uuid.uuid4()))
        with pytest.raises(NondeterminismError, match=STEP_B) as caught:
            env.run_until_idle()
    assert caught.value.position == 0


def test_a_wait_that_differs_is_caught_where_the_run_suspends() -> None:
    with WorkflowEnvironment([WaitDrift], paranoid=True) as env:
        env.start(WaitDrift, str(uuid.uuid4()))
        with pytest.raises(NondeterminismError) as caught:
            env.run_until_idle()
    assert (caught.value.position, caught.value.recorded) == (1, "signal_wait 'left'")
    assert "'right'" in caught.value.now


def test_paranoid_mode_can_be_switched_within_a_test() -> None:
    with WorkflowEnvironment([StateDrift]) as env:
        assert env.paranoid is False
        env.result(env.start(StateDrift, str(uuid.uuid4())))
        env.paranoid = True
        with pytest.raises(NondeterminismError):
            env.result(env.start(StateDrift, str(uuid.uuid4())))
