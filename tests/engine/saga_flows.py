"""Workflows and activities for the saga tests (tests/engine/test_sagas.py).

`LOG` records every booking and undo in the order they ran; `CALLS` counts
calls; `FAILURES` says how many more times an activity should fail; `GATES`
lets a test hold an undo step open.
"""

from __future__ import annotations

import asyncio
import threading
from collections import Counter
from typing import Any

import continuum

LOG: list[Any] = []
CALLS: Counter[str] = Counter()
FAILURES: Counter[str] = Counter()
GATES: dict[str, threading.Event] = {}
MODE = {"register": True}


def reset() -> None:
    LOG.clear()
    CALLS.clear()
    FAILURES.clear()
    GATES.clear()
    MODE["register"] = True


def _maybe_fail(name: str) -> None:
    CALLS[name] += 1
    if FAILURES[name] > 0:
        FAILURES[name] -= 1
        raise ConnectionError(f"{name} unreachable")


# -- the booking of README.md's Sagas section -----------------------------------------
@continuum.activity
def cancel_hotel(booking: dict[str, str]) -> None:
    LOG.append(["cancel_hotel", booking])


@continuum.activity(compensate=cancel_hotel)
def book_hotel(city: str) -> dict[str, str]:
    LOG.append(["book_hotel", city])
    return {"hotel": f"H-{city}"}


@continuum.activity
def book_flight(city: str) -> dict[str, str]:
    LOG.append(["book_flight", city])
    return {"flight": f"F-{city}"}


@continuum.activity
def cancel_flight(flight_id: str, *, reason: str) -> None:
    LOG.append(["cancel_flight", flight_id, reason])


@continuum.activity
def charge(amount: int) -> str:
    LOG.append(["charge", amount])
    _maybe_fail("charge")
    return "paid"


class Booking(continuum.Workflow, version=1):
    def run(self, trip: dict[str, Any]) -> str:
        try:
            book_hotel(trip["city"])
            flight = book_flight(trip["city"])
            continuum.add_compensation(cancel_flight, flight["flight"], reason="payment")
            charge(trip["amount"])
        except continuum.ActivityFailed:
            continuum.compensate_all()
            raise
        return "booked"


# -- undo steps that count, fail on demand, or wait on a gate ---------------------------
@continuum.activity(retry=continuum.Retry(max_attempts=3, initial_interval=0.01, jitter=0))
def undo(name: str) -> str:
    LOG.append(["undo", name])
    _maybe_fail(name)
    gate = GATES.get(name)
    if gate is not None:
        gate.wait(30)
    return f"undid {name}"


@continuum.activity
def undo_once(name: str) -> str:
    """No retry: a failure is final."""
    LOG.append(["undo_once", name])
    _maybe_fail(name)
    return f"undid {name}"


class UndoesInOrder(continuum.Workflow, version=1):
    """Registers undo(name) for each name, then compensates."""

    def run(self, names: list[str]) -> str:
        for name in names:
            continuum.add_compensation(undo, name)
        continuum.compensate_all()
        return "compensated"


class TriesEveryStep(continuum.Workflow, version=1):
    """Every step is tried; the failed one stays registered for a second call."""

    def run(self, names: list[str]) -> dict[str, Any]:
        for name in names:
            continuum.add_compensation(undo_once, name)
        try:
            continuum.compensate_all()
        except continuum.ActivityFailed as error:
            failures = [f.activity.rsplit(".", 1)[-1] for f in getattr(error, "failures", [])]
            first = {"type": type(error).__name__, "message": str(error), "failures": failures}
        else:
            return {"first": None}
        continuum.compensate_all()  # only the steps that failed run again
        continuum.compensate_all()  # nothing left: runs nothing
        return {"first": first}


# -- compensate= --------------------------------------------------------------------------
@continuum.activity
def release(seat: str) -> None:
    LOG.append(["release", seat])


@continuum.activity(compensate=release)
def reserve(seat: str) -> str:
    LOG.append(["reserve", seat])
    _maybe_fail(seat)
    return f"seat-{seat}"


class ReservesSeats(continuum.Workflow, version=1):
    """A failed reserve registers nothing; the rest are released most recent first."""

    def run(self, seats: list[str]) -> list[str]:
        failed = []
        for seat in seats:
            try:
                reserve(seat)
            except continuum.ActivityFailed:
                failed.append(seat)
        continuum.compensate_all()
        return failed


class RegistersThenSleeps(continuum.Workflow, version=1):
    """Registrations made before a timer are rebuilt by replay after it."""

    def run(self, seconds: float) -> str:
        reserve("a")
        continuum.add_compensation(undo, "b")
        reserve("c")
        continuum.sleep(seconds)
        continuum.compensate_all()
        return "compensated"


class Switchable(continuum.Workflow, version=1):
    """Registers a compensation or runs an activity at the same position, per MODE."""

    def run(self, seconds: float) -> str:
        if MODE["register"]:
            continuum.add_compensation(undo, "x")
        else:
            undo("x")
        continuum.sleep(seconds)
        return "done"


# -- refusals ---------------------------------------------------------------------------
def not_an_activity(name: str) -> None:
    LOG.append(["not_an_activity", name])


class BadCompensations(continuum.Workflow, version=1):
    def run(self, _: Any) -> list[str]:
        refused = []
        try:
            continuum.add_compensation(not_an_activity, "x")
        except continuum.ConfigurationError as error:
            refused.append(f"ConfigurationError: {error}")
        try:
            continuum.add_compensation(undo, {"not json": object()})
        except continuum.SerializationError as error:
            refused.append(f"SerializationError: {error}")
        continuum.compensate_all()  # nothing was registered
        return refused


# -- async --------------------------------------------------------------------------------
@continuum.activity
async def unbook_async(booking: str) -> None:
    await asyncio.sleep(0)
    LOG.append(["unbook_async", booking])


@continuum.activity(compensate=unbook_async)
async def book_async(item: str) -> str:
    await asyncio.sleep(0.05 if item == "first" else 0)  # "first" finishes last
    LOG.append(["book_async", item])
    return f"booked-{item}"


class AsyncBooking(continuum.Workflow, version=1):
    async def run(self, seconds: float) -> str:
        await asyncio.gather(book_async("first"), book_async("second"))
        await continuum.add_compensation_async(undo, "sync-step")
        await continuum.sleep_async(seconds)
        await continuum.compensate_all_async()
        return "compensated"


class AsyncStepsInSyncCall(continuum.Workflow, version=1):
    async def run(self, _: Any) -> str:
        await book_async("only")
        try:
            continuum.compensate_all()
        except continuum.ConfigurationError as error:
            return str(error)
        return "not refused"


# -- cancelling a run that unwinds -------------------------------------------------------
class Nap(continuum.Workflow, version=1):
    """A child of `CancellableTrip`: waits until it is cancelled along with its parent."""

    def run(self, _: Any) -> Any:
        return continuum.wait_for_signal("never")


class CancellableTrip(continuum.Workflow, version=1, on_cancel="unwind"):
    """README's cancellable booking: cancelling it undoes the flight, then the hotel."""

    def run(self, trip: dict[str, Any]) -> Any:
        continuum.start_child(Nap, None)
        try:
            book_hotel(trip["city"])
            flight = book_flight(trip["city"])
            continuum.add_compensation(cancel_flight, flight["flight"], reason="cancelled")
            return continuum.wait_for_signal("confirm")
        except continuum.CancelRequested:
            continuum.compensate_all()
            raise


class UnwindsSlowly(continuum.Workflow, version=1, on_cancel="unwind"):
    """Unwinds through `undo("slow")`, which a test can hold at its gate."""

    def run(self, _: Any) -> Any:
        continuum.add_compensation(undo, "slow")
        try:
            return continuum.wait_for_signal("confirm")
        except continuum.CancelRequested:
            continuum.compensate_all()
            return "unwound"
