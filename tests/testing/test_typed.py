"""A user's test module type-checks against the kit's types (mypy --strict)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import strict_mypy

USER_TESTS = """\
import continuum
from continuum.testing import Call, WorkflowEnvironment, replay


@continuum.activity
def charge(card: str, amount: int) -> str:
    return f"{card}:{amount}"


class Order(continuum.Workflow):
    def run(self, input: dict[str, int]) -> str:
        return charge("4242", input["amount"])


def test_order() -> None:
    with WorkflowEnvironment([Order], paranoid=True) as env:
        mock = env.mock_activity(charge, returns="ok")
        run_id: str = env.start(Order, {"amount": 10})
        env.skip(60.0)
        assert env.result(run_id) == "ok"
        first: Call = mock.calls[0]
        assert first.args == ("4242", 10)
        replay(env.history(run_id), Order)
        replay(env.history(run_id), Order, version="recorded")
        seconds: str = env.fire_timers()  # line 25: fire_timers returns a float
"""


@pytest.mark.slow  # mypy reads the package and the standard library: seconds
def test_mypy_strict_on_a_users_tests(tmp_path: Path) -> None:
    errors, report = strict_mypy(tmp_path, "test_user.py", USER_TESTS)
    assert errors == [
        "test_user.py:25: error: Incompatible types in assignment (expression has type "
        '"float", variable has type "str")  [assignment]'
    ], report
