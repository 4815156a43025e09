"""Workflows the web observer's tests run: every kind of journal entry, a failure
with a traceback, a retry that waits, and a value holding markup.

`GATES` holds activities open so a test can look at a run while it is running.
"""

from __future__ import annotations

import threading
from collections import Counter
from typing import Any

import continuum

GATES: dict[str, threading.Event] = {}
FAILURES: Counter[str] = Counter()


@continuum.activity
def charge(order: dict[str, Any]) -> dict[str, Any]:
    return {"charged": order.get("amount", 0), "currency": "EUR"}


@continuum.activity
def send_receipt(email: str) -> str:
    return f"receipt sent to {email}"


@continuum.activity
def hold(name: str) -> str:
    GATES.setdefault(name, threading.Event()).wait(30)
    return name


@continuum.activity(retry=continuum.Retry(max_attempts=1))
def refuse(reason: str) -> None:
    raise PermissionError(reason)


@continuum.activity(
    retry=continuum.Retry(max_attempts=3, initial_interval=3600, max_interval=3600, jitter=0)
)
def later(name: str) -> str:
    if FAILURES[name] > 0:
        FAILURES[name] -= 1
        raise ConnectionError(f"{name} is unreachable")
    return "finally"


class Order(continuum.Workflow, version=1):
    """An activity, a timer, a signal wait, a patch, a side effect, another activity."""

    def run(self, order: dict[str, Any]) -> dict[str, Any]:
        charged = charge(order)
        continuum.sleep(order.get("sleep", 0.05))
        approval = continuum.wait_for_signal("approval", timeout=3600)
        key = str(continuum.uuid4())
        if continuum.patched("send-receipt"):
            send_receipt(order.get("email", "ana@example.com"))
        return {"charged": charged, "approved_by": approval, "key": key}


class Echo(continuum.Workflow, version=1):
    def run(self, value: Any) -> Any:
        return value


class Held(continuum.Workflow, version=1):
    """Runs until its gate opens: a run that stays `running`."""

    def run(self, name: str) -> str:
        return hold(name)


class Refused(continuum.Workflow, version=1):
    """Fails: its activity is refused, so the run ends failed with a traceback."""

    def run(self, reason: str) -> None:
        refuse(reason)


class Retrying(continuum.Workflow, version=1):
    """Its activity fails once and is retried an hour later: an `activity_retry` row."""

    def run(self, name: str) -> str:
        return later(name)


ALL = [Order, Echo, Held, Refused, Retrying]


class Parcel(continuum.Workflow, version=1):
    def run(self, parcel: Any) -> Any:
        return {"shipped": parcel}


class ParcelOrder(continuum.Workflow, version=1):
    """Ships each parcel in a child, then continues as new once."""

    def run(self, order: dict[str, Any]) -> Any:
        shipped = [continuum.child(Parcel, p) for p in order["parcels"]]
        if not order.get("again"):
            continuum.continue_as_new({"parcels": [], "again": True})
        return shipped


ALL.extend([Parcel, ParcelOrder])
