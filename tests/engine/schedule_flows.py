"""Workflows the schedule tests (tests/engine/test_schedules.py) start from schedules."""

from __future__ import annotations

from typing import Any

import continuum


class Tick(continuum.Workflow):
    """Returns its input: the run a tick starts, done at once."""

    def run(self, input: Any) -> Any:
        return input


class Hold(continuum.Workflow):
    """Goes on until it is signalled "done": a run still going at the next tick."""

    def run(self, input: Any) -> Any:
        return continuum.wait_for_signal("done")


class Other(continuum.Workflow):
    """A workflow only some nodes run."""

    def run(self, input: Any) -> str:
        return "other"
