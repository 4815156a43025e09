"""What a store keeps of schedules, and the frozen values that cross that part of it.

`Store` (see `base`) inherits `ScheduleStore`. A store keeps schedule rows and
answers which are due by the database clock; it never reads a cron expression or
decides a policy. The engine (`continuum.schedules`, `continuum.ticker`) works out
which ticks to fire and what the next tick is, and hands the store a `Firing`.

Every change to a schedule row is a compare-and-set on its `revision`, which each
change moves on: `fire_schedules` writes a firing only over the revision it was
planned from, and inserts the firing's runs (deterministic ids, an id that exists is
left as it is) in the same transaction. Two nodes that plan the same tick cannot
both fire it, and a node that dies before its commit leaves the tick due.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple

from continuum.store.values import NewRun


@dataclass(frozen=True, slots=True)
class ScheduleDefinition:
    """What a schedule is, as `app.schedule()` declares it. Exactly one of `cron`,
    `interval` (seconds) and `run_at` (seconds since the epoch) is set."""

    schedule_id: str
    workflow: str
    input_json: str
    cron: str | None
    interval: float | None
    run_at: float | None
    timezone: str
    overlap: str
    catch_up: str

    def same_timing(self, other: ScheduleDefinition) -> bool:
        """Whether both tick at the same moments (input and policies aside)."""
        return (self.cron, self.interval, self.run_at, self.timezone) == (
            other.cron,
            other.interval,
            other.run_at,
            other.timezone,
        )


@dataclass(frozen=True, slots=True)
class ScheduleRecord:
    """A schedule row. `next_tick` is None once a one-off has fired; `last_run_id` is
    the run of the last tick that started one, and `last_run_status` its status
    (None when it is gone) where the read joins it."""

    definition: ScheduleDefinition
    paused: bool
    next_tick: float | None
    last_tick: float | None
    last_run_id: str | None
    revision: int
    created_at: float
    updated_at: float
    last_run_status: str | None = None


@dataclass(frozen=True, slots=True)
class Firing:
    """One node's firing of a schedule planned from the row at `revision`: the runs of
    the ticks it starts (in tick order; none when every due tick is skipped), the tick
    of the last of them, and the schedule's next tick after it (None: no more)."""

    schedule_id: str
    revision: int
    next_tick: float | None
    runs: Sequence[NewRun] = ()
    last_tick: float | None = None


class FireOutcome(NamedTuple):
    """Whether the firing was written (its revision still held), and the runs it
    inserted (a run whose id existed is not among them)."""

    fired: bool
    created: tuple[str, ...]


class ScheduleStore(ABC):
    """The schedule verbs of `base.Store`."""

    @abstractmethod
    def put_schedule(
        self, definition: ScheduleDefinition, *, next_tick: float | None, revision: int | None
    ) -> bool:
        """Insert a schedule (`revision` None; False if the id exists), or replace the
        definition and next tick of the one at `revision` (False if it changed since or
        is gone). Whether it is paused stays as it was (a new one is not)."""

    @abstractmethod
    def get_schedule(self, schedule_id: str) -> ScheduleRecord | None: ...

    @abstractmethod
    def list_schedules(self) -> list[ScheduleRecord]:
        """Every schedule, by id, each with its last run's status."""

    @abstractmethod
    def set_schedule_paused(
        self, schedule_id: str, *, paused: bool, next_tick: float | None, revision: int
    ) -> bool:
        """Pause or resume the schedule at `revision`, with the next tick it takes;
        False if it changed since or is gone."""

    @abstractmethod
    def delete_schedule(self, schedule_id: str) -> bool:
        """Remove it (its runs stay); False if there was none."""

    @abstractmethod
    def next_schedule_in(
        self, workflows: Sequence[str], *, skip: Sequence[str] = ()
    ) -> float | None:
        """Seconds until the earliest next tick among schedules of `workflows` that are
        not paused, other than those whose ids are in `skip` (<= 0: one is due now), or
        None when none has a next tick."""

    @abstractmethod
    def due_schedules(
        self, workflows: Sequence[str], *, limit: int
    ) -> tuple[float, list[ScheduleRecord]]:
        """The database clock, and up to `limit` schedules of `workflows`, not paused,
        whose next tick has come by it, earliest first, each with its last run's status."""

    @abstractmethod
    def fire_schedules(self, firings: Sequence[Firing]) -> list[FireOutcome]:
        """Write each firing whose schedule is still at its revision and not paused
        (moving the revision on, taking its next tick, last tick and last run) and
        insert its runs, pending and due, all in one transaction; a schedule another
        transaction holds at that moment is not waited for (not fired). One outcome
        per firing, in order."""


def schedule_record(row: Any, stamp: Callable[[Any], float] = float) -> ScheduleRecord:
    """A row of `continuum_schedules`' columns read by name (plus `last_run_status`,
    if the read joins it); `stamp` turns the backend's times into seconds."""

    def maybe(value: Any) -> float | None:
        return None if value is None else stamp(value)

    keys = row.keys()
    return ScheduleRecord(
        definition=ScheduleDefinition(
            schedule_id=row["id"],
            workflow=row["workflow"],
            input_json=row["input"],
            cron=row["cron"],
            interval=row["interval_seconds"],
            run_at=maybe(row["run_at"]),
            timezone=row["timezone"],
            overlap=row["overlap"],
            catch_up=row["catch_up"],
        ),
        paused=bool(row["paused"]),
        next_tick=maybe(row["next_tick"]),
        last_tick=maybe(row["last_tick"]),
        last_run_id=row["last_run_id"],
        revision=int(row["revision"]),
        created_at=stamp(row["created_at"]),
        updated_at=stamp(row["updated_at"]),
        last_run_status=row["last_run_status"] if "last_run_status" in keys else None,
    )


def definition_params(definition: ScheduleDefinition) -> dict[str, Any]:
    """The parameters `put_schedule`'s statements take from a definition."""
    return {
        "id": definition.schedule_id,
        "workflow": definition.workflow,
        "input": definition.input_json,
        "cron": definition.cron,
        "interval_seconds": definition.interval,
        "run_at": definition.run_at,
        "timezone": definition.timezone,
        "overlap": definition.overlap,
        "catch_up": definition.catch_up,
    }
