"""Workflows and activities used by the engine tests.

Activities count their calls in `CALLS` so tests can prove what ran and what
was replayed; `GATES` lets a test hold an activity open.
"""

from __future__ import annotations

import asyncio
import threading
from collections import Counter
from typing import Any

import continuum

CALLS: Counter[str] = Counter()
SEEN: list[Any] = []
GATES: dict[str, threading.Event] = {}
FAILURES: Counter[str] = Counter()  # how many more times an activity should fail


def reset() -> None:
    PLAN[:] = ["step", "step"]
    SHIPPING["mode"] = "patched"
    STALL.clear()
    STALLED.clear()
    CALLS.clear()
    SEEN.clear()
    GATES.clear()
    FAILURES.clear()


@continuum.activity
def step(name: str) -> str:
    CALLS[name] += 1
    return f"did {name}"


@continuum.activity
def observe(value: Any) -> Any:
    SEEN.append(value)
    return value


@continuum.activity
def gated(name: str) -> str:
    CALLS[name] += 1
    GATES.setdefault(name, threading.Event()).wait(30)
    return name


@continuum.activity(retry=continuum.Retry(max_attempts=4, initial_interval=0.01, jitter=0))
def flaky(name: str) -> str:
    CALLS[name] += 1
    if FAILURES[name] > 0:
        FAILURES[name] -= 1
        raise ConnectionError(f"{name} unreachable")
    return f"{name} ok"


@continuum.activity(retry=continuum.Retry(max_attempts=3, initial_interval=1.5, jitter=0))
def slow_retry(name: str) -> str:
    CALLS[name] += 1
    if FAILURES[name] > 0:
        FAILURES[name] -= 1
        raise ConnectionError("try later")
    return "finally"


@continuum.activity(retry=continuum.Retry(max_attempts=5, non_retryable=(PermissionError,)))
def forbidden() -> None:
    CALLS["forbidden"] += 1
    raise PermissionError("card declined")


@continuum.activity(timeout=0.2)
def too_slow() -> None:
    CALLS["too_slow"] += 1
    threading.Event().wait(2)


@continuum.activity(timeout=0.2)
async def too_slow_async() -> None:
    CALLS["too_slow_async"] += 1
    await asyncio.sleep(2)


@continuum.activity
def not_json() -> object:
    return object()


@continuum.activity
async def double(x: int) -> int:
    CALLS[f"double{x}"] += 1
    await asyncio.sleep(0.01 * (3 - x))  # finish in reverse order of start
    return x * 2


class ThreeSteps(continuum.Workflow):
    def run(self, input):
        return [step("a"), step("b"), step("c")]


class WaitsForApproval(continuum.Workflow, version=1):
    def run(self, input):
        charged = step("charge")
        approval = continuum.wait_for_signal("approval")
        shipped = step("ship")
        return {"charged": charged, "approval": approval, "shipped": shipped}


class Sleeper(continuum.Workflow):
    def run(self, input):
        step("before")
        continuum.sleep(input["seconds"])
        return step("after")


class TimedWait(continuum.Workflow):
    def run(self, input):
        try:
            return {"signal": continuum.wait_for_signal("go", timeout=input["timeout"])}
        except continuum.SignalTimeout as exc:
            return {"timeout": str(exc)}


class TwoWaits(continuum.Workflow):
    def run(self, input):
        try:
            first = continuum.wait_for_signal("go", timeout=input["timeout"])
        except continuum.SignalTimeout:
            first = "timed out"
        second = continuum.wait_for_signal("go")
        return [first, second]


class StableValues(continuum.Workflow):
    def run(self, input):
        values = {
            "uuid": str(continuum.uuid4()),
            "now": continuum.now().isoformat(),
            "random": continuum.random(),
            "side": continuum.side_effect(lambda: CALLS.update(["side"]) or CALLS["side"]),
        }
        observe(values)
        continuum.wait_for_signal("go")
        return values


class Patched(continuum.Workflow):
    def run(self, input):
        step("a")
        continuum.wait_for_signal("go")
        first = continuum.patched("new-step")
        if first:
            step("patched")
        step("b")
        return {"first": first, "again": continuum.patched("new-step")}


class AsyncGather(continuum.Workflow):
    async def run(self, input):
        results = await asyncio.gather(double(1), double(2), double(3))
        await continuum.sleep_async(0.05)
        payload = await continuum.wait_for_signal_async("go")
        return {"results": results, "payload": payload}


class Retrying(continuum.Workflow):
    def run(self, input):
        return flaky(input)


class RetryingLater(continuum.Workflow):
    def run(self, input):
        return slow_retry(input)


class CatchesFailure(continuum.Workflow):
    def run(self, input):
        try:
            forbidden()
        except continuum.ActivityFailed as exc:
            return {"type": exc.error_type, "message": exc.error_message}
        return "unreachable"


class Fails(continuum.Workflow):
    def run(self, input):
        step("a")
        raise ValueError("out of stock")


class LetsActivityFail(continuum.Workflow):
    def run(self, input):
        return forbidden()


class TimesOut(continuum.Workflow):
    def run(self, input):
        try:
            too_slow()
        except continuum.ActivityFailed as exc:
            return exc.error_type


class TimesOutAsync(continuum.Workflow):
    async def run(self, input):
        try:
            await too_slow_async()
        except continuum.ActivityFailed as exc:
            return exc.error_type


class BadResult(continuum.Workflow):
    def run(self, input):
        try:
            not_json()
        except continuum.ActivityFailed as exc:
            return exc.error_type


class BadOutput(continuum.Workflow):
    def run(self, input):
        return {1, 2}


class Gated(continuum.Workflow):
    def run(self, input):
        first = gated(input)
        return [first, step("after-gate")]


class SwallowsHalts(continuum.Workflow):
    def run(self, input):
        try:  # noqa: SIM105 - the point is a bare swallow
            continuum.wait_for_signal("go")
        except BaseException:
            pass
        return step("must-not-run")


class AsyncActivityInSyncFlow(continuum.Workflow):
    def run(self, input):
        return double(1)


class PatchAskedEarly(continuum.Workflow):
    """Release 2 of a flow whose release 1 asked `patched("feature")` after step "first"."""

    def run(self, input):
        early = continuum.patched("feature")
        step("first")
        late = continuum.patched("feature")
        payload = continuum.wait_for_signal("go")
        return {"early": early, "late": late, "payload": payload}


STALL = threading.Event()  # set by a test to let a stalled attempt go on
STALLED = threading.Event()  # set when the first attempt reaches the stall


def stall_once() -> None:
    """Hold the first attempt that gets here (in workflow code, between two
    activities) until the test lets it go; every later attempt passes through."""
    if not STALLED.is_set():
        STALLED.set()
        STALL.wait(30)


class StallsBetweenSteps(continuum.Workflow):
    def run(self, input):
        first = step("before-stall")
        stall_once()
        return [first, step("after-stall")]


@continuum.activity(retry=continuum.Retry(max_attempts=5, initial_interval=0.01, jitter=0))
def inner_flaky(name: str) -> str:
    CALLS[name] += 1
    if FAILURES[name] > 0:
        FAILURES[name] -= 1
        raise ConnectionError(f"{name} unreachable")
    return f"{name} ok"


@continuum.activity(retry=continuum.Retry(max_attempts=2, initial_interval=0.01, jitter=0))
def outer(name: str) -> str:
    CALLS["outer"] += 1
    return "outer: " + inner_flaky(name)


class NestedActivities(continuum.Workflow):
    def run(self, input):
        try:
            return outer(input)
        except continuum.ActivityFailed as exc:
            return {"failed": exc.error_type}


PLAN: list[str] = ["step", "step"]  # module-level: changing it does not move any hash


class Planned(continuum.Workflow):
    def run(self, input):
        done = [step(kind) if kind == "step" else observe(kind) for kind in list(PLAN)]
        continuum.wait_for_signal("go")
        return done


SHIPPING = {"mode": "patched"}  # how ship_helper() reads: "patched" or "deprecated"


def ship_helper() -> None:
    """Module-level code the workflow calls: not covered by its class hash."""
    if SHIPPING["mode"] == "patched":
        if continuum.patched("fast-ship"):
            step("fast")
    else:
        continuum.deprecate_patch("fast-ship")
        step("fast")


class Shipping(continuum.Workflow):
    def run(self, input):
        step("pack")
        continuum.wait_for_signal("packed")
        ship_helper()
        continuum.wait_for_signal("shipped")
        return "done"


class AsyncTwoSleeps(continuum.Workflow):
    """Resumes twice; with one worker, every attempt runs on the same thread's loop."""

    async def run(self, input):
        first = await double(1)
        await continuum.sleep_async(0.02)
        second = await double(2)
        await continuum.sleep_async(0.02)
        return [first, second]
