"""Sagas: undo steps registered as a workflow goes, run back to front on failure.

    @continuum.activity(compensate=cancel_hotel)   # cancel_hotel(booking) after each success
    def book_hotel(trip): ...

    class Trip(continuum.Workflow, version=1):
        def run(self, trip):
            try:
                book_hotel(trip)
                flight = book_flight(trip)
                continuum.add_compensation(cancel_flight, flight["id"])
                charge(trip)
            except Exception:
                continuum.compensate_all()   # cancel_flight, then cancel_hotel
                raise

The list of registered steps lives in the attempt and is rebuilt by replay:
`add_compensation` journals a "compensation" row at its own position (checked
on replay like any primitive), and `compensate=` registers from the activity's
journaled success, so it needs no row of its own. Steps are ordered by the
journal position of the call that registered them, which is fixed at call time:
the order is the same on every replay, also for activities run with
`asyncio.gather`.

`compensate_all()` runs each step as an ordinary activity call at its own
journal position: retried per the step's `Retry`, journaled, and after a crash
the steps already journaled replay while the rest run. Failure policy: every
step is tried, even after one fails for good; then `CompensationFailed` (an
`ActivityFailed`) is raised naming every failure. Steps that succeeded are
removed from the list; the failed ones stay registered, so a later
`compensate_all()` (after a `sleep`, or a signal from an operator) tries just
those again.

A workflow unwinds on its own failures (`except Exception: compensate_all();
raise`). Cancelling a run (`app.cancel`) ends it at once and runs no
compensations, unless its workflow is declared `on_cancel="unwind"`: then the
cancel raises `continuum.CancelRequested` in the run at the step it is at (an
`except Exception` catches it too), the run unwinds, and it ends `cancelled`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from continuum import serialization
from continuum.errors import ActivityFailed, CompensationFailed, ConfigurationError
from continuum.runtime.context import AttemptContext, require
from continuum.store.base import JournalEntry

COMPENSATION = frozenset({"compensation"})


@dataclass(frozen=True, slots=True)
class Compensation:
    """One registered undo step: call `fn(*args, **kwargs)` as an activity."""

    position: int  # of the call that registered it: the step's place in the order
    name: str
    fn: Callable[..., Any]
    is_async: bool
    args: list[Any]
    kwargs: dict[str, Any]


def undo_activity(fn: Any, *, what: str) -> Any:
    """The activity definition behind `fn`, or a ConfigurationError saying to decorate it."""
    spec = getattr(fn, "__continuum_activity__", None)
    if spec is None:
        name = getattr(fn, "__qualname__", None) or repr(fn)
        raise ConfigurationError(
            f"{what} takes an @continuum.activity function, not {name}; "
            "decorate the undo step with @continuum.activity so it is journaled and retried"
        )
    return spec


def _check_runnable(ctx: AttemptContext, spec: Any) -> None:
    if spec.is_async and not ctx.is_async:
        raise ConfigurationError(
            f"compensation {spec.name} is an async activity but the workflow is sync; "
            "make the workflow 'async def run' or the compensation a def"
        )


def add_compensation(activity_fn: Callable[..., Any], *args: Any, **kwargs: Any) -> None:
    """Register `activity_fn(*args, **kwargs)` as an undo step (journaled).

    `activity_fn` must be an `@continuum.activity` function and the arguments
    JSON; a refused call records nothing. On replay the step is rebuilt from the
    journaled arguments (as with activity results, only the name is checked).
    """
    ctx = require("add_compensation")
    spec = undo_activity(activity_fn, what="continuum.add_compensation()")
    payload = serialization.dumps(
        {"args": list(args), "kwargs": kwargs}, what=f"the arguments of compensation {spec.name}"
    )
    _check_runnable(ctx, spec)
    position = ctx.next_position()
    entry = ctx.replayed(position, COMPENSATION, spec.name)
    if entry is None:
        ctx.buffer(JournalEntry(position, "compensation", spec.name, payload))
    else:
        payload = entry.payload_json or payload  # what history registered
    recorded = serialization.loads(payload)
    step = Compensation(
        position, spec.name, activity_fn, spec.is_async, recorded["args"], recorded["kwargs"]
    )
    ctx.compensations.append(step)


async def add_compensation_async(
    activity_fn: Callable[..., Any], *args: Any, **kwargs: Any
) -> None:
    """`await continuum.add_compensation_async(fn, ...)` in an `async def run`."""
    add_compensation(activity_fn, *args, **kwargs)


def after_success(
    ctx: AttemptContext, undo: Callable[..., Any], position: int, result: Any
) -> None:
    """`@activity(compensate=undo)`: the activity at `position` succeeded with `result`."""
    spec = undo_activity(undo, what="activity(compensate=)")
    _check_runnable(ctx, spec)
    ctx.compensations.append(Compensation(position, spec.name, undo, spec.is_async, [result], {}))


def _take(ctx: AttemptContext) -> list[Compensation]:
    steps = sorted(ctx.compensations, key=lambda step: step.position, reverse=True)
    ctx.compensations = []
    return steps


def _settle(ctx: AttemptContext, failed: list[Compensation], errors: list[ActivityFailed]) -> None:
    # Failed steps stay registered (with any registered while compensating).
    ctx.compensations = failed + ctx.compensations
    if errors:
        raise CompensationFailed(errors)


def compensate_all() -> None:
    """Run the registered undo steps, most recent first, each as an activity.

    Every step is tried; then, if any failed for good, `CompensationFailed` (an
    `ActivityFailed`) names them all and they stay registered. In an `async def
    run`, use `await continuum.compensate_all_async()`.
    """
    ctx = require("compensate_all")
    if any(step.is_async for step in ctx.compensations):
        raise ConfigurationError(
            "async compensations are registered: use 'await continuum.compensate_all_async()'"
        )
    failed: list[Compensation] = []
    errors: list[ActivityFailed] = []
    for step in _take(ctx):
        try:
            step.fn(*step.args, **step.kwargs)
        except ActivityFailed as error:
            failed.append(step)
            errors.append(error)
    _settle(ctx, failed, errors)


async def compensate_all_async() -> None:
    """`await continuum.compensate_all_async()` in an `async def run`; awaits async steps."""
    ctx = require("compensate_all_async")
    failed: list[Compensation] = []
    errors: list[ActivityFailed] = []
    for step in _take(ctx):
        try:
            outcome = step.fn(*step.args, **step.kwargs)
            if step.is_async:
                await outcome
        except ActivityFailed as error:
            failed.append(step)
            errors.append(error)
    _settle(ctx, failed, errors)
