"""mock_activity: an activity replaced for one environment, and the record of its calls."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path

import pytest

import continuum
from continuum.testing import Call, WorkflowEnvironment
from tests.testing import flows
from tests.testing.flows import Approval, AsyncGather, Saga

ORDER = {"card": "4242", "amount": 10, "item": "lamp"}
START = continuum.testing.DEFAULT_START


@pytest.fixture
def env() -> Iterator[WorkflowEnvironment]:
    flows.CALLS.clear()
    with WorkflowEnvironment([Approval, AsyncGather, Saga]) as made:
        yield made


def test_returns_a_fixed_result_and_records_each_call(env: WorkflowEnvironment) -> None:
    charged = env.mock_activity(flows.charge, returns={"id": "ch_mock"})
    refunded = env.mock_activity(flows.refund, returns="ok")
    run_id = env.start(Approval, ORDER)
    assert env.result(run_id) == {"status": "expired", "refund": "ok"}
    assert charged.calls == [Call(("4242", 10), {}, run_id, START)]
    assert charged.count == 1 and charged.called and charged.last == charged.calls[0]
    assert refunded.calls[0].args == ("ch_mock",)
    assert refunded.calls[0].at == START + dt.timedelta(days=1)
    assert flows.CALLS == []  # the real functions never ran
    assert env.journal(run_id)[0].payload == {"result": {"id": "ch_mock"}}
    assert "calls=1" in repr(charged)


def test_raises_an_exception_class_or_instance(env: WorkflowEnvironment) -> None:
    env.mock_activity(flows.charge, raises=PermissionError)
    with pytest.raises(continuum.RunFailed, match="PermissionError"):
        env.result(env.start(Approval, ORDER))
    env.mock_activity(flows.charge, raises=ValueError("declined"))
    run_id = env.start(Approval, ORDER)
    with pytest.raises(continuum.RunFailed, match=r"ActivityFailed.*ValueError: declined"):
        env.result(run_id)
    assert env.journal(run_id)[0].payload["error"] == {"type": "ValueError", "message": "declined"}


def test_a_side_effect_gets_the_arguments(env: WorkflowEnvironment) -> None:
    env.mock_activity(flows.charge, side_effect=lambda card, amount: {"id": card * 2})
    ship = env.mock_activity(flows.ship, side_effect=lambda item, approver: f"{item}/{approver}")
    run_id = env.start(Approval, ORDER)
    env.signal(run_id, "approval", {"by": "bo"})
    assert env.result(run_id) == {"status": "shipped", "ship": "lamp/bo"}
    assert ship.calls[0].args == ("lamp", "bo") and ship.calls[0].kwargs == {}


def test_mocks_reach_async_activities_and_compensations(env: WorkflowEnvironment) -> None:
    async def fetch(key: str) -> str:
        return f"async {key}"

    env.mock_activity(flows.fetch, side_effect=fetch)
    run_id = env.start(AsyncGather, ["k"])
    env.skip(3600)
    env.signal(run_id, "go", None)
    assert env.result(run_id)["fetched"] == ["async k"]

    env.mock_activity(flows.hold, returns="hold-mock")
    env.mock_activity(flows.charge, raises=RuntimeError("no"))
    refund = env.mock_activity(flows.refund)  # returns None
    with pytest.raises(continuum.RunFailed):
        env.result(env.start(Saga, "c"))
    assert [call.args for call in refund.calls] == [("hold-mock",)]


def test_undo_and_with_blocks_bring_the_real_function_back(env: WorkflowEnvironment) -> None:
    mock = env.mock_activity(flows.charge, returns={"id": "fake"})
    mock.undo()
    mock.undo()  # harmless
    env.mock_activity(flows.refund, returns="r")
    env.result(env.start(Approval, ORDER))
    assert flows.CALLS == [("charge", ("4242", 10))]
    with env.mock_activity(flows.charge, returns={"id": "inside"}) as inside:
        env.result(env.start(Approval, ORDER))
    assert inside.count == 1
    env.result(env.start(Approval, ORDER))
    assert [name for name, _ in flows.CALLS] == ["charge", "charge"]


def test_a_newer_mock_replaces_an_older_one(env: WorkflowEnvironment) -> None:
    older = env.mock_activity(flows.charge, returns={"id": "older"})
    newer = env.mock_activity(flows.charge, returns={"id": "newer"})
    older.undo()  # no longer in place: leaves the newer one alone
    env.mock_activity(flows.refund, returns="r")
    env.result(env.start(Approval, ORDER))
    assert (older.count, newer.count) == (0, 1)


def test_a_mock_applies_to_its_own_environment_only(
    env: WorkflowEnvironment, tmp_path: Path
) -> None:
    env.mock_activity(flows.charge, returns={"id": "mocked"})
    assert flows.charge("1", 2) == {"id": "ch-1", "amount": 2}  # a plain call: the real one
    with WorkflowEnvironment([Approval]) as other:
        run_id = other.start(Approval, ORDER)
        other.run_due()
        assert other.journal(run_id)[0].payload == {"result": {"id": "ch-4242", "amount": 10}}
    database = f"sqlite:///{tmp_path / 'real.db'}"
    with continuum.Continuum(
        name="real", database=database, workflow_modules=[Approval], poll_interval=0.05
    ) as app:
        run_id = app.start(Approval, ORDER)
        app.signal(run_id, "approval", {"by": "cy"})
        assert app.result(run_id, timeout=30) == {
            "status": "shipped",
            "ship": "shipped lamp for cy",
        }
    assert [name for name, _ in flows.CALLS] == ["charge", "charge", "charge", "ship"]


def test_mocks_end_with_their_environment() -> None:
    flows.CALLS.clear()
    with WorkflowEnvironment([Approval]) as env:
        env.mock_activity(flows.charge, returns={"id": "x"})
    with WorkflowEnvironment([Approval]) as env:
        env.run_due()
        env.start(Approval, ORDER)
        env.run_due()
    assert flows.CALLS == [("charge", ("4242", 10))]


@pytest.mark.parametrize(
    ("target", "options", "message"),
    [
        (print, {}, "takes an @continuum.activity function, not print"),
        (flows.charge, {"returns": 1, "raises": ValueError}, "not returns and raises"),
        (flows.charge, {"raises": "boom"}, r"raises=\) takes an exception"),
        (flows.charge, {"side_effect": 3}, r"side_effect=\) takes a callable"),
        (flows.charge, {"returns": {1, 2}}, "not JSON|JSON serializable"),
    ],
)
def test_bad_mocks_are_refused(
    env: WorkflowEnvironment, target: object, options: dict[str, object], message: str
) -> None:
    with pytest.raises(continuum.ContinuumError, match=message):
        env.mock_activity(target, **options)  # type: ignore[arg-type]


def test_an_async_side_effect_for_a_def_activity_is_refused(env: WorkflowEnvironment) -> None:
    async def charge(card: str, amount: int) -> None: ...

    with pytest.raises(continuum.ConfigurationError, match="is async but"):
        env.mock_activity(flows.charge, side_effect=charge)
