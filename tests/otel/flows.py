"""Workflows and activities for the OpenTelemetry bridge tests.

`TRACER` is set by the tests: an activity that makes a span of its own with it
shows which span is current while an activity runs.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from typing import Any

from opentelemetry.trace import NoOpTracer, Tracer

import continuum

CALLS: Counter[str] = Counter()
FAILURES: Counter[str] = Counter()  # how many more times `flaky` should fail for a name
TRACER: list[Tracer] = [NoOpTracer()]


def reset() -> None:
    CALLS.clear()
    FAILURES.clear()
    TRACER[:] = [NoOpTracer()]


@continuum.activity
def step(name: str) -> str:
    CALLS[name] += 1
    return f"did {name}"


@continuum.activity
def traced(name: str) -> str:
    """Makes a span of its own, as an instrumented HTTP or database client would."""
    CALLS[name] += 1
    with TRACER[0].start_as_current_span("inside " + name):
        return f"did {name}"


@continuum.activity(retry=continuum.Retry(max_attempts=3, initial_interval=0.01, jitter=0))
def flaky(name: str) -> str:
    CALLS[name] += 1
    if FAILURES[name] > 0:
        FAILURES[name] -= 1
        raise ConnectionError(f"{name} unreachable")
    return f"{name} ok"


@continuum.activity
async def double(x: int) -> int:
    await asyncio.sleep(0.01 * (3 - x))
    return x * 2


class StepsAndRetry(continuum.Workflow):
    def run(self, input: Any) -> Any:
        return [step("a"), traced("b"), flaky("c")]


class Fails(continuum.Workflow):
    def run(self, input: Any) -> Any:
        step("a")
        raise ValueError("out of stock")


class WaitsThenSleeps(continuum.Workflow):
    def run(self, input: Any) -> Any:
        first = step("first")
        payload = continuum.wait_for_signal("go")
        continuum.sleep(0.3)
        return [first, payload, step("last")]


class Gathers(continuum.Workflow):
    async def run(self, input: Any) -> Any:
        return await asyncio.gather(double(1), double(2), double(3))


ALL = [StepsAndRetry, Fails, WaitsThenSleeps, Gathers]
