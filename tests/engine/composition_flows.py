"""Workflows for the composition tests: children, continue-as-new (tests/engine).

`LOG` records what activities did, in order; `GATES` lets a test hold a child
open until it says so.
"""

from __future__ import annotations

import asyncio
import threading
from typing import Any

import continuum

LOG: list[Any] = []
GATES: dict[str, threading.Event] = {}


def reset() -> None:
    LOG.clear()
    GATES.clear()


@continuum.activity
def ship(parcel: Any) -> str:
    LOG.append(["ship", parcel])
    gate = GATES.get(str(parcel))
    if gate is not None and not gate.wait(30):
        raise TimeoutError(f"gate {parcel} was never opened")
    if parcel == "lost":
        raise LookupError("parcel lost in transit")
    return f"shipped {parcel}"


class Shipment(continuum.Workflow, version=1):
    def run(self, parcel: Any) -> str:
        return ship(parcel)


class WaitsForever(continuum.Workflow, version=1):
    def run(self, name: str) -> Any:
        return continuum.wait_for_signal("never")


class Order(continuum.Workflow, version=1):
    """Starts a shipment per parcel, then collects them in order."""

    def run(self, parcels: list[Any]) -> list[Any]:
        handles = [continuum.start_child(Shipment, parcel) for parcel in parcels]
        return [continuum.await_child(handle) for handle in handles]


class OrderKeepsGoing(continuum.Workflow, version=1):
    """Reports a failed or cancelled child instead of failing."""

    def run(self, parcels: list[Any]) -> list[Any]:
        handles = [continuum.start_child(Shipment, parcel) for parcel in parcels]
        results: list[Any] = []
        for handle in handles:
            try:
                results.append(continuum.await_child(handle))
            except continuum.ChildFailed as failed:
                results.append(["failed", failed.run_id, failed.error_type, failed.error_message])
            except continuum.ChildCancelled as cancelled:
                results.append(["cancelled", cancelled.run_id])
        return results


class NamedChild(continuum.Workflow, version=1):
    def run(self, child_id: str) -> Any:
        return continuum.child(Shipment, "named", id=child_id)


class Parent(continuum.Workflow, version=1):
    """Starts two children that never end: one cancelled with it, one abandoned."""

    def run(self, _: Any) -> Any:
        kept = continuum.start_child(WaitsForever, "kept", on_parent_cancel="abandon")
        doomed = continuum.start_child(WaitsForever, "doomed")
        continuum.await_child(doomed)
        return continuum.await_child(kept)


class Grandparent(continuum.Workflow, version=1):
    def run(self, _: Any) -> Any:
        return continuum.child(Parent, None)


class AsyncOrder(continuum.Workflow, version=1):
    async def run(self, parcels: list[Any]) -> list[Any]:
        return list(
            await asyncio.gather(*(continuum.child_async(Shipment, parcel) for parcel in parcels))
        )


class Countdown(continuum.Workflow, version=1):
    """Continues as new until n reaches 0; returns how many runs the chain had."""

    def run(self, state: dict[str, int]) -> dict[str, int]:
        if state["n"] == 0:
            return state
        continuum.sleep(0)
        continuum.continue_as_new({"n": state["n"] - 1, "runs": state.get("runs", 1) + 1})


class AsyncCountdown(continuum.Workflow, version=1):
    async def run(self, n: int) -> int:
        if n == 0:
            return 0
        await continuum.continue_as_new_async(n - 1)


class BadContinue(continuum.Workflow, version=1):
    def run(self, _: Any) -> Any:
        try:
            continuum.continue_as_new({"when": object()})
        except continuum.SerializationError as refused:
            return f"refused: {type(refused).__name__}"


class ParentOfCountdown(continuum.Workflow, version=1):
    def run(self, n: int) -> Any:
        return continuum.child(Countdown, {"n": n})


class Unregistered(continuum.Workflow, version=1):
    """Never in any instance's workflow_modules in the tests that use it."""

    def run(self, _: Any) -> str:
        return "never"


class StartsUnregistered(continuum.Workflow, version=1):
    def run(self, _: Any) -> Any:
        try:
            continuum.start_child(Unregistered, None)
        except continuum.ConfigurationError as refused:
            return str(refused)
        return "started"


class BadChildInput(continuum.Workflow, version=1):
    def run(self, _: Any) -> Any:
        try:
            continuum.start_child(Shipment, {1, 2})
        except continuum.SerializationError as refused:
            return f"refused: {type(refused).__name__}"
        return "started"
