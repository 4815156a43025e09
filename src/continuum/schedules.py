"""Schedules: runs started at the ticks of a cron expression, an interval, or one time.

    app.schedule(NightlyReport, {"to": "ops@example.com"}, cron="0 2 * * *",
                 timezone="Europe/Paris", id="nightly-report")
    app.schedule(Poll, every=30)                     # at :00 and :30 of every minute
    app.schedule(Reminder, at=datetime(2030, 1, 1, 9, 0), timezone="Europe/Paris")

A schedule is a row (`store.schedules`); the ticker of every dispatching node
(`continuum.ticker`) fires its due ticks. This module holds what is decided in
Python: checking a definition (`define`), when its ticks fall (`Timing`), what a
firing does under the policies (`plan`), the run id of a tick (`tick_run_id`), the
value `app.schedules()` returns (`Schedule`), and the instance's schedule API
(`ScheduleAPI`, which `Continuum` inherits).

Ticks. A cron expression (five fields, or six with seconds first; `@daily` and the
other usual aliases) is read in `timezone` by cronsim, which follows Debian cron
across DST changes: a job at a fixed time that falls in the hour skipped in spring
runs once right after it; one in the hour repeated in autumn runs once; jobs that
run every hour or more often simply follow the clock. An interval of `every`
seconds ticks at whole multiples of it since the epoch (every=3600: on the hour,
UTC), to the millisecond. `at` is one tick; a naive `at` is read in `timezone`.

Policies, at a tick whose previous run is still going (`overlap`): "skip" (the
tick starts nothing), "allow" (runs overlap), "cancel_previous" (the previous run
is cancelled, then the tick starts). For ticks missed while no node could fire
them (`catch_up`): a tick is missed when the next one has come too, or when it is
found more than `MISSED_AFTER` seconds late. "skip" runs none of them (only a tick
that is on time), "once" runs one run for the latest of them, "all" runs one per
tick, `MAX_RUNS_PER_FIRING` per firing until caught up. Overlap applies tick by
tick: a catch-up run counts as going for the ticks after it, so "all" starts more
than one run at once only with overlap="allow".
"""

from __future__ import annotations

import datetime as dt
import math
import zoneinfo
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING, Any

from continuum import serialization, validation
from continuum.errors import ConfigurationError, ScheduleNotFound, StoreError
from continuum.store.base import TERMINAL_STATUSES, Store
from continuum.store.schedules import ScheduleDefinition, ScheduleRecord
from continuum.workflow import Workflow, entrypoint_of

if TYPE_CHECKING:
    from continuum.dispatcher import Dispatcher

__all__ = [
    "MAX_RUNS_PER_FIRING",
    "MISSED_AFTER",
    "CatchUp",
    "Overlap",
    "Plan",
    "Schedule",
    "ScheduleAPI",
    "Timing",
    "define",
    "plan",
    "tick_run_id",
]


class Overlap(StrEnum):
    """What a tick does while the run of the schedule's previous tick is still going."""

    SKIP = "skip"  # start nothing for this tick
    ALLOW = "allow"  # start it anyway: runs overlap
    CANCEL_PREVIOUS = "cancel_previous"  # cancel the previous run, then start this one


class CatchUp(StrEnum):
    """What becomes of ticks missed while no node could fire them."""

    SKIP = "skip"  # none of them runs; the schedule goes on from the next tick
    ONCE = "once"  # one run, for the latest of them
    ALL = "all"  # one run per missed tick


# A tick found this many seconds after its time was missed (every node was down).
MISSED_AFTER = 60.0
# Catch-up runs one firing starts at most (catch_up="all"); the rest follow at once.
MAX_RUNS_PER_FIRING = 100
# The shortest interval, in seconds.
MIN_EVERY = 0.1
# A schedule id leaves room in a run id for the "schedule:" prefix and the tick.
MAX_ID_LENGTH = 200
MAX_CRON_LENGTH = 255
# How far in the past a new one-off `at` may be (the call's own time, clocks apart).
AT_GRACE = 1.0
# Ticks counted one by one at most when a cron schedule's missed ticks are skipped.
_COUNT_LIMIT = 10_000
_UTC = dt.UTC
_CRON_ALIASES = {
    "@yearly": "0 0 1 1 *",
    "@annually": "0 0 1 1 *",
    "@monthly": "0 0 1 * *",
    "@weekly": "0 0 * * 0",
    "@daily": "0 0 * * *",
    "@midnight": "0 0 * * *",
    "@hourly": "0 * * * *",
}
_CRON_HELP = (
    "five fields (minute hour day-of-month month day-of-week), or six with seconds "
    "first, or @yearly, @monthly, @weekly, @daily or @hourly; e.g. '0 2 * * *' is 02:00 "
    "every day"
)
_RETRIES = 5


# -- ticks -----------------------------------------------------------------------------
def _cron(expression: str, start: dt.datetime, *, reverse: bool = False) -> Iterator[dt.datetime]:
    """cronsim's matches of `expression` after (or before) `start`. cronsim is imported
    on first use: `import continuum` needs nothing beyond the standard library."""
    from cronsim import CronSim  # noqa: PLC0415

    return CronSim(expression, start, reverse=reverse)


def _ms(moment: float) -> int:
    """A time as whole milliseconds since the epoch. A time read back from a database
    may sit a hair below the tick it was (float and microsecond rounding): it counts
    as the tick, never as the millisecond before."""
    return math.floor(moment * 1000 + 0.01)


@dataclass(frozen=True, slots=True)
class Timing:
    """When a schedule ticks: one of a cron expression in a zone, an interval in whole
    milliseconds (ticks at its multiples since the epoch), or one time."""

    cron: str | None = None
    every_ms: int | None = None
    at: float | None = None
    zone: dt.tzinfo = _UTC

    @classmethod
    def of(cls, definition: ScheduleDefinition) -> Timing:
        _, zone = zone_of(definition.timezone)
        if definition.cron is not None:
            return cls(cron=_expression(definition.cron), zone=zone)
        if definition.interval is not None:
            return cls(every_ms=round(definition.interval * 1000), zone=zone)
        return cls(at=definition.run_at, zone=zone)

    def next_after(self, moment: float) -> float | None:
        """The first tick strictly after `moment`; None when there is none."""
        if self.at is not None:
            return self.at if self.at > moment else None
        if self.every_ms is not None:
            return (_ms(moment) // self.every_ms + 1) * self.every_ms / 1000
        assert self.cron is not None
        # Cron ticks are whole seconds: start from the second `moment` is in.
        start = dt.datetime.fromtimestamp(math.floor(moment + 1e-5), self.zone)
        try:
            return next(_cron(self.cron, start)).timestamp()
        except StopIteration:  # no match within 50 years
            return None

    def due(self, start: float, until: float, limit: int) -> tuple[list[float], bool]:
        """The ticks from `start` (itself a tick) to `until`, at most `limit`, and
        whether more follow by `until`."""
        ticks: list[float] = []
        tick: float | None = start
        while tick is not None and tick <= until and len(ticks) < limit:
            ticks.append(tick)
            tick = self.next_after(tick)
        return ticks, tick is not None and tick <= until

    def backlog(self, start: float, until: float) -> tuple[int, float]:
        """How many ticks fall from `start` (a tick, <= `until`) to `until`, and the
        latest of them. Counted exactly, but at most `_COUNT_LIMIT` of a cron schedule."""
        if self.every_ms is not None:
            following = self.next_after(start)
            assert following is not None
            first, last = _ms(following), _ms(until)
            if first > last:
                return 1, start
            steps = (last - first) // self.every_ms
            return 2 + steps, (first + steps * self.every_ms) / 1000
        ticks, more = self.due(start, until, _COUNT_LIMIT)
        if not more:
            return len(ticks), ticks[-1]
        assert self.cron is not None
        end = dt.datetime.fromtimestamp(math.floor(until) + 0.5, self.zone)
        latest = next(_cron(self.cron, end, reverse=True)).timestamp()  # <= until
        return _COUNT_LIMIT + 1, max(latest, ticks[-1])


def tick_run_id(schedule_id: str, tick: float) -> str:
    """The id of the run a tick starts: the same on every node, so no node can start a
    second one (`schedule:nightly:2030-01-01T01:00:00Z`; milliseconds when it has them)."""
    ms = _ms(tick)
    seconds, fraction = divmod(ms, 1000)
    text = dt.datetime.fromtimestamp(seconds, _UTC).strftime("%Y-%m-%dT%H:%M:%S")
    return f"schedule:{schedule_id}:{text}{f'.{fraction:03d}' if fraction else ''}Z"


# -- what a firing does ------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Plan:
    """What firing a due schedule does: start a run for each of `ticks` (in order),
    after cancelling `cancel`, and go on from `next_tick`. `missed` ticks are skipped
    under catch_up, `overlapped` under overlap."""

    ticks: tuple[float, ...]
    next_tick: float | None
    missed: int = 0
    overlapped: int = 0
    cancel: str | None = None


def plan(
    timing: Timing,
    *,
    next_tick: float,
    now: float,
    catch_up: str,
    overlap: str,
    previous: str | None,
    previous_going: bool,
) -> Plan:
    """What to do, at `now`, about a schedule whose tick `next_tick` has come (see the
    module docstring for the policies). `previous` is the run of the last tick that
    started one, and `previous_going` whether it has not ended."""
    missed = 0
    if catch_up == CatchUp.ALL:
        chosen, _ = timing.due(next_tick, now, MAX_RUNS_PER_FIRING)
        following = timing.next_after(chosen[-1])  # still due if more were left
    else:
        count, latest = timing.backlog(next_tick, now)
        following = timing.next_after(latest)
        if catch_up == CatchUp.ONCE or now - latest <= MISSED_AFTER:
            chosen, missed = [latest], count - 1
        else:
            chosen, missed = [], count
    overlapped, cancel = 0, None
    if chosen and overlap == Overlap.SKIP:
        # Tick by tick: the first run started counts as going for the ticks after it.
        keep = 0 if previous_going else 1
        overlapped, chosen = len(chosen) - keep, chosen[:keep]
    elif chosen and overlap == Overlap.CANCEL_PREVIOUS:
        # Each would cancel the one before it: only the last is worth starting.
        overlapped, chosen = len(chosen) - 1, chosen[-1:]
        cancel = previous if previous_going else None
    return Plan(tuple(chosen), following, missed, overlapped, cancel)


def is_going(status: str | None) -> bool:
    """Whether a run in `status` (None: gone) has not ended."""
    return status is not None and status not in TERMINAL_STATUSES


# -- checking a definition ---------------------------------------------------------------
def define(
    workflow_cls: object,
    input: Any,
    *,
    cron: object,
    every: object,
    at: object,
    timezone: object,
    schedule_id: object,
    overlap: object,
    catch_up: object,
) -> ScheduleDefinition:
    """A checked definition for `app.schedule()`'s arguments, or the ContinuumError
    that says what is wrong with them (nothing is written before this passes)."""
    entrypoint = entrypoint_of(workflow_cls)
    zone_name, zone = zone_of(timezone)
    given = [n for n, v in (("cron", cron), ("every", every), ("at", at)) if v is not None]
    if len(given) != 1:
        raise ConfigurationError(
            "schedule() takes exactly one of cron= (an expression), every= (seconds) and "
            f"at= (a datetime), got {' and '.join(given) if given else 'none of them'}"
        )
    interval = run_at = None
    if cron is not None:
        _check_cron(cron, zone)
    elif every is not None:
        interval = _interval(every)
    else:
        run_at = _instant(at, zone, zone_name)
    if schedule_id is None:
        schedule_id = entrypoint.workflow
        if not validation.is_identifier(schedule_id, max_length=MAX_ID_LENGTH):
            raise ConfigurationError(
                f"the workflow name {validation.shown(schedule_id)} is too long to be a "
                f"schedule id (at most {MAX_ID_LENGTH} characters): give schedule(id=...)"
            )
    schedule_id = validation.identifier(schedule_id, name="schedule(id=)", max_length=MAX_ID_LENGTH)
    return ScheduleDefinition(
        schedule_id=schedule_id,
        workflow=entrypoint.workflow,
        input_json=serialization.dumps(input, what=f"the input of schedule {schedule_id!r}"),
        cron=cron.strip() if isinstance(cron, str) else None,
        interval=interval,
        run_at=run_at,
        timezone=zone_name,
        overlap=_choice(overlap, Overlap, "overlap"),
        catch_up=_choice(catch_up, CatchUp, "catch_up"),
    )


def zone_of(timezone: object) -> tuple[str, dt.tzinfo]:
    """The name and the zone of the IANA time zone `timezone` (a name, or a
    `zoneinfo.ZoneInfo`). UTC needs no time zone database."""
    if isinstance(timezone, zoneinfo.ZoneInfo):
        return timezone.key, timezone
    if not validation.is_identifier(timezone):
        raise ConfigurationError(
            f"timezone= must be an IANA time zone name such as 'Europe/Paris' or 'UTC', "
            f"got {validation.shown(timezone)}"
        )
    assert isinstance(timezone, str)
    if timezone == "UTC":
        return timezone, _UTC
    try:
        return timezone, zoneinfo.ZoneInfo(timezone)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError, OSError):
        pass
    hint = ""
    if not zoneinfo.available_timezones():
        hint = " (this machine has no time zone database: pip install tzdata)"
    raise ConfigurationError(
        f"unknown time zone {timezone!r}{hint}: use an IANA name such as 'Europe/Paris', "
        "'America/New_York' or 'UTC'"
    )


def _expression(cron: str) -> str:
    text = cron.strip()
    return _CRON_ALIASES.get(text.lower(), text)


def _check_cron(cron: object, zone: dt.tzinfo) -> None:
    if not isinstance(cron, str) or not cron.strip() or len(cron) > MAX_CRON_LENGTH:
        raise ConfigurationError(
            f"cron= must be a cron expression ({_CRON_HELP}), got {validation.shown(cron)}"
        )
    try:
        next(_cron(_expression(cron), dt.datetime.now(zone)))
    except StopIteration:
        raise ConfigurationError(
            f"cron expression {cron!r} never fires (no matching time within 50 years)"
        ) from None
    except Exception as exc:  # cronsim says what it could not read; nothing else can fail
        raise ConfigurationError(
            f"cron expression {cron!r} does not parse ({exc}): write {_CRON_HELP}"
        ) from None


def _interval(every: object) -> float:
    seconds = every.total_seconds() if isinstance(every, dt.timedelta) else every
    try:
        value = validation.number(
            seconds, name="schedule(every=)", minimum=MIN_EVERY, maximum=validation.MAX_SECONDS
        )
    except ConfigurationError as exc:
        raise ConfigurationError(f"{exc} (seconds, or a timedelta)") from None
    return round(value * 1000) / 1000


def _instant(at: object, zone: dt.tzinfo, zone_name: str) -> float:
    if not isinstance(at, dt.datetime):
        raise ConfigurationError(f"schedule(at=) must be a datetime, got {validation.shown(at)}")
    if at.tzinfo is None:
        local = at.replace(tzinfo=zone)
        if local.astimezone(_UTC).astimezone(zone).replace(tzinfo=None) != at:
            raise ConfigurationError(
                f"schedule(at=) {at.isoformat()} does not exist in {zone_name} (the clocks "
                "skip it when they go forward): give another time, or an aware datetime"
            )
        at = local
    return round(at.timestamp() * 1000) / 1000


def _choice(value: object, allowed: type[StrEnum], name: str) -> str:
    if isinstance(value, str) and value in {member.value for member in allowed}:
        return value
    choices = ", ".join(repr(member.value) for member in allowed)
    raise ConfigurationError(
        f"schedule({name}=) must be one of {choices}, got {validation.shown(value)}"
    )


# -- what app.schedules() returns ----------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Schedule:
    """A schedule as stored. Exactly one of `cron`, `every` (seconds) and `at` is set.
    `next_tick` is when it fires next (None: a one-off that has fired, or whose time
    passed while it was paused); `last_run_id` is the run of the last tick that started
    one. `state` is "active", "paused" or "done"."""

    id: str
    workflow: str
    input: Any
    cron: str | None
    every: float | None
    at: dt.datetime | None
    timezone: str
    overlap: str
    catch_up: str
    paused: bool
    next_tick: dt.datetime | None
    last_tick: dt.datetime | None
    last_run_id: str | None
    created_at: dt.datetime
    updated_at: dt.datetime

    @classmethod
    def from_record(cls, record: ScheduleRecord) -> Schedule:
        d = record.definition
        return cls(
            id=d.schedule_id,
            workflow=d.workflow,
            input=serialization.loads(d.input_json),
            cron=d.cron,
            every=d.interval,
            at=_time(d.run_at),
            timezone=d.timezone,
            overlap=d.overlap,
            catch_up=d.catch_up,
            paused=record.paused,
            next_tick=_time(record.next_tick),
            last_tick=_time(record.last_tick),
            last_run_id=record.last_run_id,
            created_at=dt.datetime.fromtimestamp(record.created_at, _UTC),
            updated_at=dt.datetime.fromtimestamp(record.updated_at, _UTC),
        )

    @property
    def state(self) -> str:
        if self.paused:
            return "paused"
        return "done" if self.next_tick is None else "active"


def _time(stamp: float | None) -> dt.datetime | None:
    return None if stamp is None else dt.datetime.fromtimestamp(stamp, _UTC)


# -- the instance's API ----------------------------------------------------------------------
class ScheduleAPI:
    """`app.schedule()` and the calls that look at and change schedules (`Continuum`
    inherits them). Any booted instance can call them, one that does not dispatch
    too; dispatching nodes fire the ticks of the workflows they run."""

    _dispatcher: Dispatcher | None

    def _store_required(self) -> Store:
        raise NotImplementedError

    def schedule(
        self,
        workflow_cls: type[Workflow],
        input: Any = None,
        *,
        cron: str | None = None,
        every: float | dt.timedelta | None = None,
        at: dt.datetime | None = None,
        timezone: str = "UTC",
        id: str | None = None,
        overlap: str = "skip",
        catch_up: str = "once",
    ) -> str:
        """Start a run of `workflow_cls` with `input` at each tick of `cron` (read in
        `timezone`), every `every` seconds, or once `at` a time; return the schedule id.

        `id` defaults to the workflow's name. Calling again with the same id updates
        that schedule: the same arguments change nothing, so declaring schedules at
        every boot is safe; new ones take effect from the next tick (a new timing
        counts its ticks from now) and a paused schedule stays paused. `overlap`:
        "skip", "allow" or "cancel_previous"; `catch_up`: "skip", "once" or "all" (see
        `continuum.schedules`). An `at` already past is refused. Bad arguments raise a
        ContinuumError and store nothing.
        """
        store = self._store_required()
        definition = define(
            workflow_cls,
            input,
            cron=cron,
            every=every,
            at=at,
            timezone=timezone,
            schedule_id=id,
            overlap=overlap,
            catch_up=catch_up,
        )
        timing = Timing.of(definition)
        schedule_id = definition.schedule_id

        def put(existing: ScheduleRecord | None) -> bool | None:
            if existing is not None and existing.definition == definition:
                return None  # nothing to change
            if existing is not None and existing.definition.same_timing(definition):
                next_tick = existing.next_tick  # the same ticks go on
            else:
                now = store.now()
                if definition.run_at is not None and definition.run_at < now - AT_GRACE:
                    raise ConfigurationError(
                        f"schedule(at=) {_iso(definition.run_at)} is in the past (the "
                        f"database clock reads {_iso(now)}); to run now, use start()"
                    )
                next_tick = timing.next_after(now) if definition.run_at is None else timing.at
            revision = None if existing is None else existing.revision
            return store.put_schedule(definition, next_tick=next_tick, revision=revision)

        self._change(schedule_id, put, missing_ok=True)
        return schedule_id

    def schedules(self) -> list[Schedule]:
        """Every schedule, by id."""
        return [Schedule.from_record(r) for r in self._store_required().list_schedules()]

    def pause_schedule(self, id: str) -> None:
        """Stop firing its ticks until `resume_schedule(id)`; runs already started go on."""
        store = self._store_required()

        def pause(existing: ScheduleRecord | None) -> bool | None:
            assert existing is not None
            if existing.paused:
                return None
            return store.set_schedule_paused(
                existing.definition.schedule_id,
                paused=True,
                next_tick=existing.next_tick,
                revision=existing.revision,
            )

        self._change(id, pause)

    def resume_schedule(self, id: str) -> None:
        """Fire its ticks again, from the first one after now: ticks that passed while
        it was paused are not made up (nor is a one-off whose time passed)."""
        store = self._store_required()

        def resume(existing: ScheduleRecord | None) -> bool | None:
            assert existing is not None
            if not existing.paused:
                return None
            return store.set_schedule_paused(
                existing.definition.schedule_id,
                paused=False,
                next_tick=Timing.of(existing.definition).next_after(store.now()),
                revision=existing.revision,
            )

        self._change(id, resume)

    def delete_schedule(self, id: str) -> bool:
        """Remove the schedule (runs it started go on); False when there was none."""
        if not validation.is_identifier(id, max_length=MAX_ID_LENGTH):
            return False
        deleted = self._store_required().delete_schedule(id)
        return deleted

    def _change(
        self,
        schedule_id: str,
        change: Callable[[ScheduleRecord | None], bool | None],
        *,
        missing_ok: bool = False,
    ) -> None:
        """Apply `change` to the schedule as read (None: nothing to do; False: it
        changed meanwhile, read it again), then wake this node's ticker."""
        if not validation.is_identifier(schedule_id, max_length=MAX_ID_LENGTH):
            raise ScheduleNotFound(validation.shown(schedule_id))
        store = self._store_required()
        for _ in range(_RETRIES):
            existing = store.get_schedule(schedule_id)
            if existing is None and not missing_ok:
                raise ScheduleNotFound(schedule_id)
            done = change(existing)
            if done is None:
                return
            if done:
                dispatcher = self._dispatcher
                if dispatcher is not None:
                    dispatcher.ticker.wake()
                return
        raise StoreError(
            f"schedule {schedule_id!r} kept changing while this call tried to change it "
            f"({_RETRIES} tries); try again"
        )


def _iso(stamp: float) -> str:
    return dt.datetime.fromtimestamp(stamp, _UTC).isoformat()
