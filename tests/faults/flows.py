"""Workflows the fault tests run in worker processes, and the ledger they keep.

Every activity execution appends a START line when it begins and an END line
when it returns, each naming the run, the step, the process and the wall
time, to a ledger file (one short O_APPEND write per line, so lines from
concurrent processes never mix). Activities return "<step>@<pid>", so every
journaled result and every run output names the process that produced it:
a write accepted from a process that should have been fenced off shows up as
its pid in the journal.

Workflow code also notes, outside any activity, when an attempt begins (with
the lease it was given) and when it ends for any reason (return, failure,
suspension or a refused write all unwind through run()). A SIGKILLed attempt
notes no end.

    <EVENT> <run> <step> <pid> <wall time> <detail>
"""

from __future__ import annotations

import os
import time
from typing import Any

import continuum
from continuum.runtime.context import current

STEPS = ("a", "b", "c")


def note(ledger: str, event: str, run: str, step: str = "-", detail: str = "-") -> None:
    with open(ledger, "a", encoding="utf-8") as out:
        out.write(f"{event} {run} {step} {os.getpid()} {time.time():.6f} {detail}\n")


def wait_for_file(path: str) -> None:
    """Block until `path` exists (the tests create it; they fail at their own deadlines)."""
    while not os.path.exists(path):
        time.sleep(0.005)


@continuum.activity
def step(ledger: str, run: str, name: str, hold: str | None = None, work: float = 0.0) -> str:
    """One activity execution: START, optionally wait for `hold`, `work` seconds, END."""
    note(ledger, "START", run, name)
    if hold is not None:
        wait_for_file(hold)
    if work:
        time.sleep(work)  # the activity's own work: kills land inside it
    note(ledger, "END", run, name)
    return f"{name}@{os.getpid()}"


def attempt_began(ledger: str, run: str) -> None:
    """Note the lease this attempt was given (token, and nonce once the engine has one)."""
    ctx = current()
    lease = None if ctx is None else ctx.lease
    detail = "-"
    if lease is not None:
        detail = f"token={lease.token},nonce={getattr(lease, 'nonce', '-')}"
    note(ledger, "ATTEMPT", run, "-", detail)


def gate(ledger: str, run: str, marker: str, release: str) -> None:
    """Hold the first process that gets here until `release` exists; let later ones pass.

    Plain workflow code between two activities (nothing journaled): the first
    caller creates `marker` with O_EXCL and waits; any other caller finds the
    marker and goes straight on.
    """
    try:
        os.close(os.open(marker, os.O_CREAT | os.O_EXCL | os.O_WRONLY))
    except FileExistsError:
        note(ledger, "PASS", run, "gate")
        return
    note(ledger, "GATE", run, "gate")
    wait_for_file(release)
    note(ledger, "OPEN", run, "gate")


class LostClaim(continuum.Workflow):
    """Fault 1: the first step holds until `release`, the second until `release2`."""

    def run(self, input: dict[str, Any]) -> list[str]:
        ledger, run = input["ledger"], input["run"]
        attempt_began(ledger, run)
        try:
            first = step(ledger, run, "a", hold=input["release"])
            second = step(ledger, run, "b", hold=input["release2"])
            return [first, second]
        finally:
            note(ledger, "EXIT", run)


class Stall(continuum.Workflow):
    """Fault 2: a gate between two activities, where the first process to reach it waits."""

    def run(self, input: dict[str, Any]) -> list[str]:
        ledger, run = input["ledger"], input["run"]
        attempt_began(ledger, run)
        try:
            first = step(ledger, run, "a")
            gate(ledger, run, input["marker"], input["release"])
            second = step(ledger, run, "b")
            return [first, second]
        finally:
            note(ledger, "EXIT", run)


class Chain(continuum.Workflow):
    """Faults 3 and 4: three short activities in a row."""

    def run(self, input: dict[str, Any]) -> list[str]:
        ledger, run = input["ledger"], input["run"]
        attempt_began(ledger, run)
        try:
            return [step(ledger, run, name, work=input["work"]) for name in STEPS]
        finally:
            note(ledger, "EXIT", run)


class Parcel(continuum.Workflow):
    """A child of `FanOut`: one activity."""

    def run(self, input: dict[str, Any]) -> str:
        return step(input["ledger"], input["run"], "ship")


class FanOut(continuum.Workflow):
    """Starts children, passes a gate where the first process to arrive waits (and is
    killed there), then collects the children. With `flush_first`, an activity before
    the gate writes the children's start; without, they are only buffered at the gate:
    the node dies between starting the children and recording them."""

    def run(self, input: dict[str, Any]) -> list[str]:
        ledger, run = input["ledger"], input["run"]
        attempt_began(ledger, run)
        handles = [
            continuum.start_child(Parcel, {"ledger": ledger, "run": f"{run}.{i}"})
            for i in range(input["children"])
        ]
        if input["flush_first"]:
            step(ledger, run, "a")
        gate(ledger, run, input["marker"], input["release"])
        return [continuum.await_child(handle) for handle in handles]


class Unwinds(continuum.Workflow):
    """Registers three undo steps, then runs them (u3, u2, u1); u2 holds until `release`."""

    def run(self, input: dict[str, Any]) -> str:
        ledger, run = input["ledger"], input["run"]
        attempt_began(ledger, run)
        for name in ("u1", "u2", "u3"):
            hold = input["release"] if name == "u2" else None
            continuum.add_compensation(step, ledger, run, name, hold=hold)
        continuum.compensate_all()
        return "unwound"
