"""Workflow shapes measured by the benchmarks."""

from __future__ import annotations

import continuum


@continuum.activity
def noop(i: int) -> int:
    return i


class ThreeActivities(continuum.Workflow):
    def run(self, input):
        return [noop(0), noop(1), noop(2)]


class OneActivity(continuum.Workflow):
    def run(self, input):
        return noop(0)


class ManyActivities(continuum.Workflow):
    def run(self, count):
        for i in range(count):
            noop(i)
        return count
