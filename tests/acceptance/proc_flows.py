"""Workflows run by worker processes in the acceptance tests.

Activities append one line per execution to a log file (O_APPEND writes of one
short line are atomic), so a test can count exactly what ran, and where.
"""

from __future__ import annotations

import os
import time

import continuum


def _append(log: str, line: str) -> None:
    with open(log, "a", encoding="utf-8") as handle:
        handle.write(line + "\n")


@continuum.activity
def record(log: str, run: str, step: str) -> str:
    _append(log, f"{run} {step} {os.getpid()}")
    return step


@continuum.activity
def hold(log: str, run: str, step: str, release_file: str) -> str:
    """Log the start, wait until `release_file` exists; return which process did it."""
    _append(log, f"{run} {step}-start {os.getpid()}")
    while not os.path.exists(release_file):
        time.sleep(0.01)
    _append(log, f"{run} {step} {os.getpid()}")
    return f"{step}@{os.getpid()}"


@continuum.activity
def work(log: str, run: str, step: str) -> str:
    """A short piece of work (a few milliseconds), so that kills land inside activities."""
    time.sleep(0.005)
    _append(log, f"{run} {step} {os.getpid()}")
    return step


class Ledger(continuum.Workflow):
    def run(self, input):
        return [record(input["log"], input["run"], s) for s in ("a", "b", "c")]


class Busy(continuum.Workflow):
    def run(self, input):
        return [work(input["log"], input["run"], s) for s in ("a", "b", "c")]


class Crashable(continuum.Workflow):
    def run(self, input):
        first = record(input["log"], input["run"], "a")
        second = hold(input["log"], input["run"], "b", input["release"])
        third = record(input["log"], input["run"], "c")
        return [first, second, third]
