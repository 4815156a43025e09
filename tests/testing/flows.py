"""Workflows the testing kit's tests drive: the shapes users write, sync and async, and a
few that break determinism on purpose."""

from __future__ import annotations

import asyncio
import random
import time
from typing import Any

import continuum

# -- activities (the tests mock most of them) ------------------------------------------
CALLS: list[tuple[str, Any]] = []  # what the real functions were called with


@continuum.activity
def charge(card: str, amount: int) -> dict[str, Any]:
    CALLS.append(("charge", (card, amount)))
    return {"id": f"ch-{card}", "amount": amount}


@continuum.activity
def refund(charge_id: str) -> str:
    CALLS.append(("refund", charge_id))
    return f"refunded {charge_id}"


@continuum.activity(compensate=refund)
def hold(card: str) -> str:
    CALLS.append(("hold", card))
    return f"hold-{card}"


@continuum.activity
def ship(item: str, approver: str) -> str:
    CALLS.append(("ship", (item, approver)))
    return f"shipped {item} for {approver}"


@continuum.activity(retry=continuum.Retry(max_attempts=4, initial_interval=30, jitter=0))
def flaky_lookup(key: str) -> str:
    CALLS.append(("flaky_lookup", key))
    return f"value of {key}"


@continuum.activity(retry=continuum.Retry(max_attempts=3, initial_interval=0.5, jitter=0))
def quick_retry(key: str) -> str:
    CALLS.append(("quick_retry", key))
    return key.upper()


@continuum.activity
def step(n: int) -> int:
    return n


@continuum.activity
def step_a() -> str:
    return "a"


@continuum.activity
def step_b() -> str:
    return "b"


@continuum.activity
async def fetch(key: str) -> str:
    CALLS.append(("fetch", key))
    await asyncio.sleep(0)
    return f"fetched {key}"


# -- well-behaved workflows --------------------------------------------------------------
class Approval(continuum.Workflow):
    """Charge, wait a day for an approval, ship; no approval in time: refund."""

    def run(self, order: dict[str, Any]) -> dict[str, Any]:
        charged = charge(order["card"], order["amount"])
        try:
            approval = continuum.wait_for_signal("approval", timeout=86400)
        except continuum.SignalTimeout:
            return {"status": "expired", "refund": refund(charged["id"])}
        return {"status": "shipped", "ship": ship(order["item"], approval["by"])}


class Month(continuum.Workflow):
    """Sleeps thirty days, then waits for three signals, each with a timeout."""

    def run(self, _: Any) -> dict[str, Any]:
        continuum.sleep(30 * 86400)
        answers = []
        for name in ("first", "second", "third"):
            try:
                answers.append(continuum.wait_for_signal(name, timeout=3600))
            except continuum.SignalTimeout:
                answers.append(None)
        return {"answers": answers, "at": continuum.now().isoformat()}


class Retrying(continuum.Workflow):
    def run(self, key: str) -> dict[str, Any]:
        return {"slow": flaky_lookup(key), "quick": quick_retry(key)}


class Saga(continuum.Workflow):
    def run(self, card: str) -> str:
        try:
            hold(card)
            charge(card, 10)
            return "charged"
        except continuum.ActivityFailed:
            continuum.compensate_all()
            raise


class AsyncGather(continuum.Workflow):
    async def run(self, keys: list[str]) -> dict[str, Any]:
        fetched = await asyncio.gather(*(fetch(key) for key in keys))
        await continuum.sleep_async(3600)
        go = await continuum.wait_for_signal_async("go", timeout=600)
        return {"fetched": list(fetched), "go": go}


class Steps(continuum.Workflow):
    """`n` activities one after the other: the paranoid-mode overhead benchmark."""

    def run(self, n: int) -> int:
        return sum(step(i) for i in range(n))


class Forever(continuum.Workflow):
    """A loop on a timer that never ends."""

    def run(self, _: Any) -> None:
        while True:
            continuum.sleep(60)


# -- nondeterministic on purpose ---------------------------------------------------------
SEEN: set[str] = set()


class StateDrift(continuum.Workflow, determinism="off"):
    """Takes one path the first time its code runs for a key in this process, another
    after: state outside the journal decides the path."""

    def run(self, key: str) -> str:
        first = key not in SEEN
        SEEN.add(key)
        return step_a() if first else step_b()


class StateDriftThenSleep(continuum.Workflow, determinism="off"):
    def run(self, key: str) -> str:
        first = key not in SEEN
        SEEN.add(key)
        done = step_a() if first else step_b()
        continuum.sleep(60)
        return done


class ClockDrift(continuum.Workflow, determinism="off"):
    """Returns the wall clock: different on every execution."""

    def run(self, _: Any) -> dict[str, float]:
        step(1)
        return {"at": time.time()}


class RandomDrift(continuum.Workflow, determinism="off"):
    def run(self, _: Any) -> float:
        step(1)
        return random.random()


class AsyncStateDrift(continuum.Workflow, determinism="off"):
    async def run(self, key: str) -> str:
        first = key not in SEEN
        SEEN.add(key)
        done = step_a() if first else step_b()
        await continuum.sleep_async(5)
        return done


class WaitDrift(continuum.Workflow, determinism="off"):
    """Waits for a signal whose name comes from state outside the journal."""

    def run(self, key: str) -> Any:
        first = key not in SEEN
        SEEN.add(key)
        step(1)
        return continuum.wait_for_signal("left" if first else "right")


class Gate(continuum.Workflow):
    """Waits for "open" with no timeout: only the test can end it."""

    def run(self, _: Any) -> Any:
        return continuum.wait_for_signal("open")


class Child(continuum.Workflow):
    def run(self, n: int) -> int:
        continuum.sleep(3600)
        return n * 2


class Parent(continuum.Workflow):
    def run(self, n: int) -> int:
        return int(continuum.child(Child, n)) + 1


class Countdown(continuum.Workflow):
    """Continues as new until it reaches zero."""

    def run(self, n: int) -> str:
        step(n)
        if n > 0:
            continuum.sleep(60)
            continuum.continue_as_new(n - 1)
        return "lift-off"


def name_of(activity_fn: Any) -> str:
    """The name an activity is journaled under."""
    return str(activity_fn.__continuum_activity__.name)
