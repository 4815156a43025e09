"""The ticker: a dispatching node's thread that fires the due ticks of schedules.

Every dispatching node runs one (the dispatcher starts it, like retention). It
fires only schedules of workflows the node runs, each tick on the node's current
code for that workflow: the class its module defines now, never a frozen version.

It sleeps until the earliest next tick among those schedules, as the database
clock tells it, or the poll interval, whichever comes first; `wake()` (a schedule
created, changed or resumed on this node) cuts the sleep short. At a tick it reads
what is due, works out each firing (`schedules.plan`), cancels previous runs where
the overlap policy says so, and hands the firings to the store in one transaction,
which writes each only over the schedule revision it was planned from. When several
nodes fire at once, each tick is written by exactly one of them; the runs a firing
inserts have ids made from the schedule and the tick (`schedules.tick_run_id`), so no
second run of a tick can ever be inserted either. A node that dies before its commit
leaves the tick due for the others; after its commit, the run is there for any node.
"""

from __future__ import annotations

import logging
import sys
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from continuum import frozen, telemetry
from continuum.errors import ContinuumError
from continuum.schedules import Timing, is_going, plan, tick_run_id
from continuum.store.base import NewRun, Store, VersionKey
from continuum.store.schedules import Firing, ScheduleRecord
from continuum.workflow import Workflow, entrypoints

logger = logging.getLogger("continuum.ticker")

# Schedules read and fired per transaction; a fuller backlog is fired batch after batch.
BATCH = 500
_ERROR_BACKOFF = 0.5
# A schedule this node cannot fire (its zone or expression) is tried again this often,
# and logged this often at most.
_RETRY_UNREADABLE = 60.0
_WARN_EVERY = 300.0
_FIRED = ("continuum", "schedule", "fired")
_SKIPPED = ("continuum", "schedule", "skipped")
_CREATED = ("continuum", "run", "created")
_CANCELLED = ("continuum", "run", "cancelled")


class Ticker:
    def __init__(
        self,
        store: Store,
        *,
        metadata: Mapping[str, str],
        known_versions: Callable[[], Sequence[VersionKey]],
        poll_interval: float,
        on_fired: Callable[[], None],
    ) -> None:
        """`known_versions()`: what this node runs (its workflows are those it fires).
        `on_fired()`: runs were inserted (the dispatcher looks for them at once)."""
        self._store = store
        self._metadata = dict(metadata)
        self._known_versions = known_versions
        self._poll_interval = poll_interval
        self._on_fired = on_fired
        self._wake = threading.Event()
        self._current: tuple[int, int, dict[str, type[Workflow]]] = (-1, -1, {})
        self._warned: dict[str, float] = {}  # schedule id -> when last logged (monotonic)
        self._unreadable: dict[str, float] = {}  # schedule id -> when to try it again

    def wake(self) -> None:
        """Look at the schedules now (one was created, changed or resumed here)."""
        self._wake.set()

    def loop(self, stopping: threading.Event) -> None:
        """Fire due ticks until `stopping` is set (and `wake()` called to end a sleep)."""
        while not stopping.is_set():
            self._wake.clear()  # before looking: a wake() while it looks is kept
            try:
                wait = self.tick()
            except ContinuumError as exc:
                logger.warning("ticker: store call failed, retrying: %s", exc)
                wait = _ERROR_BACKOFF
            except Exception:
                logger.exception("ticker: unexpected error, retrying")
                wait = _ERROR_BACKOFF
            if wait > 0:
                self._wake.wait(wait)

    def tick(self) -> float:
        """Fire what is due now; return how long to sleep before looking again."""
        current = self.current()
        if not current:
            return self._poll_interval
        workflows = sorted(current)
        now = time.monotonic()
        self._unreadable = {k: v for k, v in self._unreadable.items() if v > now}
        due_in = self._store.next_schedule_in(workflows, skip=sorted(self._unreadable))
        if due_in is None:
            return self._poll_interval
        if due_in > 0:
            return min(self._poll_interval, due_in)
        db_now, due = self._store.due_schedules(workflows, limit=BATCH)
        if not due:
            return 0.001  # due by one clock reading, not yet by the next: look again soon
        self._fire(db_now, due, current)
        return 0.0  # look again at once: for more, or for how long to sleep

    def current(self) -> dict[str, type[Workflow]]:
        """The entrypoint each workflow this node runs starts fresh runs on."""
        generation, count, found = self._current
        known = self._known_versions()
        if generation != entrypoints.generation or count != len(known):
            workflows = {workflow for workflow, _ in known}
            found = {}
            for workflow in workflows:
                entrypoint = current_entrypoint(workflow)
                if entrypoint is not None:
                    found[workflow] = entrypoint
            self._current = (entrypoints.generation, len(known), found)
        return found

    def _fire(
        self, now: float, due: Sequence[ScheduleRecord], current: Mapping[str, type[Workflow]]
    ) -> None:
        firings: list[Firing] = []
        planned = []
        for record in due:
            definition = record.definition
            entrypoint = current.get(definition.workflow)
            assert record.next_tick is not None  # due
            if entrypoint is None or definition.schedule_id in self._unreadable:
                continue
            try:
                what = plan(
                    Timing.of(definition),
                    next_tick=record.next_tick,
                    now=now,
                    catch_up=definition.catch_up,
                    overlap=definition.overlap,
                    previous=record.last_run_id,
                    previous_going=is_going(record.last_run_status),
                )
            except Exception as exc:  # a zone or an expression this node cannot read
                self._cannot_fire(definition.schedule_id, exc)
                continue
            if what.cancel is not None:
                self._cancel(what.cancel, definition.schedule_id)
            runs = [
                NewRun(
                    tick_run_id(definition.schedule_id, tick),
                    entrypoint.workflow,
                    entrypoint.version_hash,
                    entrypoint.version,
                    definition.input_json,
                )
                for tick in what.ticks
            ]
            last_tick = what.ticks[-1] if what.ticks else None
            firings.append(
                Firing(definition.schedule_id, record.revision, what.next_tick, runs, last_tick)
            )
            planned.append((record, what))
        outcomes = self._store.fire_schedules(firings)
        created_any = False
        for firing, (record, what), outcome in zip(firings, planned, outcomes, strict=True):
            if not outcome.fired:
                continue  # another node fired it, or it changed meanwhile
            created_any |= bool(outcome.created)
            self._report(firing, record, what.ticks, outcome.created, now)
            schedule = {
                **self._metadata,
                "schedule_id": record.definition.schedule_id,
                "workflow": record.definition.workflow,
            }
            for reason, count in (("missed", what.missed), ("overlap", what.overlapped)):
                if count:
                    telemetry.execute(_SKIPPED, {"count": count}, {**schedule, "reason": reason})
                    logger.info(
                        "schedule %s: %d tick(s) skipped (%s)",
                        record.definition.schedule_id,
                        count,
                        reason,
                    )
        if created_any:
            self._on_fired()

    def _cannot_fire(self, schedule_id: str, exc: Exception) -> None:
        """Leave a schedule this node cannot fire aside for `_RETRY_UNREADABLE` seconds
        (its ticks do not keep the ticker awake meanwhile); log it now and then."""
        now = time.monotonic()
        self._unreadable[schedule_id] = now + _RETRY_UNREADABLE
        if now - self._warned.get(schedule_id, -_WARN_EVERY) >= _WARN_EVERY:
            self._warned[schedule_id] = now
            logger.warning(
                "schedule %s cannot be fired on this node (%s: %s); it stays due for a node "
                "that can",
                schedule_id,
                type(exc).__name__,
                exc,
            )

    def _report(
        self,
        firing: Firing,
        record: ScheduleRecord,
        ticks: Sequence[float],
        created: Sequence[str],
        now: float,
    ) -> None:
        made = set(created)
        for new, tick in zip(firing.runs, ticks, strict=True):
            if new.run_id not in made:
                continue  # its tick had started it before (a schedule deleted and made again)
            run: dict[str, Any] = {
                "run_id": new.run_id,
                "workflow": new.workflow,
                "version_hash": new.version_hash,
                **self._metadata,
            }
            telemetry.execute(_CREATED, {"count": 1}, {**run, "trace_context": None})
            telemetry.execute(
                _FIRED,
                {"delay": max(0.0, now - tick)},
                {**run, "schedule_id": record.definition.schedule_id, "tick": tick},
            )
            logger.info("schedule %s started run %s", record.definition.schedule_id, new.run_id)

    def _cancel(self, run_id: str, schedule_id: str) -> None:
        """Cancel the previous run before the tick that replaces it is fired: a node that
        dies in between leaves the tick due, and whoever fires it finds the run ended."""
        for run in self._store.cancel_run(run_id):
            telemetry.execute(
                _CANCELLED,
                {"count": 1},
                {
                    "run_id": run.run_id,
                    "workflow": run.workflow,
                    "version_hash": run.version_hash,
                    **self._metadata,
                },
            )
            logger.info("schedule %s cancelled run %s (overlap)", schedule_id, run.run_id)


def current_entrypoint(workflow: str) -> type[Workflow] | None:
    """The entrypoint of the class that defines `workflow` now: of the classes loaded
    with that name (not frozen versions), the one its module holds under its name
    (after a reload, the new one), else the one defined last."""
    chosen: type[Workflow] | None = None
    for entrypoint in entrypoints.versions(frozenset({workflow})):
        if (entrypoint.workflow, entrypoint.version_hash) in frozen.loaded_from:
            continue
        public = entrypoint.__mro__[1]  # the class the entrypoint was generated from
        still_its = public.__dict__.get("_continuum_entrypoint") is entrypoint
        if not still_its:  # an older body of a class redefined in place
            continue
        if _named_in_module(public):
            return entrypoint
        chosen = entrypoint
    return chosen


def _named_in_module(cls: type) -> bool:
    target: Any = sys.modules.get(cls.__module__)
    for part in cls.__qualname__.split("."):
        target = getattr(target, part, None)
    return target is cls
