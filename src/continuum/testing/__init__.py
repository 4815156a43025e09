"""Testing your own workflows: fast, on a virtual clock, and against recorded histories.

    from continuum.testing import WorkflowEnvironment, replay

    def test_order_is_approved():
        with WorkflowEnvironment([OrderFlow]) as env:
            env.mock_activity(charge_card, returns={"id": "ch_1"})
            run_id = env.start(OrderFlow, {"card": "4242", "amount": 10})
            env.run_until_idle()
            assert env.waiting(run_id).signals == ("approval",)
            env.signal(run_id, "approval", {"by": "ana"})
            assert env.result(run_id)["approved_by"] == "ana"

    def test_live_runs_still_replay():
        replay("tests/histories/order.json", OrderFlow)   # NondeterminismError if not

- `WorkflowEnvironment` (`environment`): an instance on an in-memory database with
  a virtual clock, driven by the test; `mock_activity` (`mocks`); paranoid mode
  (`paranoid`), which replays every journal write at once.
- `replay`, `export_history` (`history`): recorded histories, the JSON document
  `continuum show RUN --format json` prints.
- A pytest plugin (`plugin`, registered through the `pytest11` entry point) gives
  the `continuum_env` fixture and the `continuum` marker.

`import continuum` does not import this package, and this package does not import
pytest. The guide is docs/testing.md.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from continuum.errors import NondeterminismError
    from continuum.testing.clock import DEFAULT_START
    from continuum.testing.environment import StillWaiting, Wait, Waiting, WorkflowEnvironment
    from continuum.testing.history import Entry, export_history, replay
    from continuum.testing.mocks import Call, MockedActivity

# Loaded on first use: the pytest plugin lives in this package, and a pytest run
# that never asks for its fixture should not load the kit.
_HOMES = {
    "DEFAULT_START": "continuum.testing.clock",
    "Call": "continuum.testing.mocks",
    "Entry": "continuum.testing.history",
    "MockedActivity": "continuum.testing.mocks",
    "NondeterminismError": "continuum.errors",
    "StillWaiting": "continuum.testing.environment",
    "Wait": "continuum.testing.environment",
    "Waiting": "continuum.testing.environment",
    "WorkflowEnvironment": "continuum.testing.environment",
    "export_history": "continuum.testing.history",
    "replay": "continuum.testing.history",
}

__all__ = [
    "DEFAULT_START",
    "Call",
    "Entry",
    "MockedActivity",
    "NondeterminismError",
    "StillWaiting",
    "Wait",
    "Waiting",
    "WorkflowEnvironment",
    "export_history",
    "replay",
]


def __getattr__(name: str) -> object:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module 'continuum.testing' has no attribute {name!r}")
    return getattr(importlib.import_module(home), name)
