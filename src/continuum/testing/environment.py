"""`WorkflowEnvironment`: an instance on an in-memory database and a virtual clock,
driven by the test that holds it.

    with WorkflowEnvironment([OrderFlow]) as env:
        charge = env.mock_activity(charge_card, returns={"id": "ch_1"})
        run_id = env.start(OrderFlow, {"card": "4242", "amount": 10})
        env.run_until_idle()                      # charges, then waits for "approval"
        assert env.waiting(run_id).signals == ("approval",)
        env.signal(run_id, "approval", {"by": "ana"})
        assert env.result(run_id) == {...}
        assert charge.count == 1

No dispatcher thread runs here. Nothing happens until the test drives: each
driving call claims the runs that are due, oldest first, and runs their attempts
on the calling thread through the engine's own attempt code (`runtime.attempt`),
exactly as a node would. When nothing is due, time skips: the clock moves to the
moment the next run falls due (a timer, a signal timeout, a retry, a start_at),
and that run goes on. So `run_until_idle()` returns once every run has ended or
waits for something only the test can give (a signal), whatever the timers say.

The attempts run under a harness (`runtime.context.Harness`): they read the
virtual clock, short retry pauses advance it instead of waiting, and activities
mocked with `mock_activity` call their stand-ins. A node's attempts have no
harness, so none of this costs the engine anything.

A run whose code stops matching its journal is stopped by the engine as on a
node; here that is also a `continuum.NondeterminismError` from the driving call.
With `paranoid=True` every journal write is replayed at once (see `paranoid`).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import itertools
import math
import os
import threading
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from types import TracebackType
from typing import Any, TypeVar

from continuum import serialization, telemetry, validation
from continuum.errors import (
    ConfigurationError,
    ContinuumError,
    NondeterminismError,
    RunFinished,
    RunNotFound,
)
from continuum.instance import Continuum
from continuum.runs import RunInfo
from continuum.runtime.attempt import close_thread_loop, execute
from continuum.runtime.lease_guard import LeaseGuard
from continuum.store.base import (
    TERMINAL_STATUSES,
    Claim,
    JournalEntry,
    JournalKind,
    RunRecord,
    RunStatus,
    Write,
)
from continuum.testing import paranoid as paranoid_mode
from continuum.testing.clock import DEFAULT_START, VirtualClock, epoch_seconds
from continuum.testing.history import Entry, export_history, history_list
from continuum.testing.mocks import UNSET, MockedActivity, activity_name, responder
from continuum.testing.store import VirtualTimeStore
from continuum.ticker import Ticker
from continuum.versions import VersionRegistry
from continuum.workflow import Workflow, entrypoint_of, entrypoints

T = TypeVar("T")

NODE = "testing"
# Nothing else claims runs here, and virtual time moves only between attempts (or by
# a test's own skip): a lease that never runs out is the right one.
LEASE_SECONDS = 100 * 365 * 86400.0
MAX_ATTEMPTS = 10_000
_DRIFT = ("continuum", "run", "nondeterminism")
_numbers = itertools.count(1)


class StillWaiting(ContinuumError, TimeoutError):
    """The environment ran everything it could and the run has not ended: it waits for
    something only the test can give (a signal), or it never stops (a loop on timers)."""


@dataclass(frozen=True, slots=True)
class Wait:
    """One thing a suspended run waits for."""

    kind: str  # "timer", "signal", "retry" (an activity's next attempt) or "child"
    name: str  # the timer's name, the signal's, the activity's, the child's
    position: int  # in the journal
    until: dt.datetime | None  # when it ends by itself (fires, times out); None: never


@dataclass(frozen=True, slots=True)
class Waiting:
    """Where a run stands: its status and, when suspended, what it waits for."""

    run_id: str
    status: str
    waits: tuple[Wait, ...]
    due_at: dt.datetime | None  # when it next runs by itself; None: only a signal wakes it

    @property
    def signals(self) -> tuple[str, ...]:
        """The signals it waits for."""
        return tuple(wait.name for wait in self.waits if wait.kind == "signal")

    @property
    def until(self) -> dt.datetime | None:
        """When the earliest of its waits ends by itself (a timer, a timeout, a retry)."""
        ends = [wait.until for wait in self.waits if wait.until is not None]
        return min(ends) if ends else None

    def __str__(self) -> str:
        if not self.waits:
            return self.status
        parts = []
        for wait in self.waits:
            what = f"{wait.kind} {wait.name!r}"
            if wait.until is not None:
                ends = "times out" if wait.kind == "signal" else "due"
                what += f" ({ends} at {wait.until.isoformat()})"
            parts.append(what)
        return f"{self.status}, waiting for " + " and ".join(parts)


class _Harness:
    """What the environment's attempts run under: its clock and its mocks."""

    __slots__ = ("_clock", "_mocks")

    def __init__(self, clock: VirtualClock, mocks: Mapping[str, MockedActivity]) -> None:
        self._clock = clock
        self._mocks = mocks

    def now(self) -> float:
        return self._clock.now()

    def pause(self, seconds: float) -> None:
        self._clock.advance(seconds)

    def activity(self, name: str, fn: Callable[..., Any]) -> Callable[..., Any]:
        mock = self._mocks.get(name)
        return fn if mock is None else mock.stand_in()


class WorkflowEnvironment:
    """A booted instance on an in-memory database with a virtual clock. See the module
    docstring; every method that runs something says so."""

    def __init__(
        self,
        workflows: Iterable[type[Workflow] | str] = (),
        *,
        paranoid: bool = False,
        start_time: dt.datetime | float | None = None,
        max_attempts: int = MAX_ATTEMPTS,
    ) -> None:
        """`workflows`: classes or dotted paths, as `Continuum(workflow_modules=)` takes
        them (`start()` adds the class it starts). `paranoid`: replay every journal
        write at once (see `continuum.testing.paranoid`). `start_time`: where the
        virtual clock starts (a datetime, naive meaning UTC, or epoch seconds; default
        2025-01-01 UTC, the same in every test run). `max_attempts`: how many attempts
        one driving call may run before it gives up (StillWaiting)."""
        start = DEFAULT_START if start_time is None else start_time
        self._clock = VirtualClock(epoch_seconds(start, name="start_time="))
        self._max_attempts = validation.count(max_attempts, name="max_attempts=")
        self.paranoid = bool(paranoid)
        self._mocks: dict[str, MockedActivity] = {}
        self._harness = _Harness(self._clock, self._mocks)
        self._workflows: list[type[Workflow] | str] = list(workflows)
        self._written: list[paranoid_mode.Written] = []
        self._journal: dict[int, JournalEntry] | None = None  # the attempt's, as written
        self._drifts: dict[str, NondeterminismError] = {}
        self._stopping = threading.Event()  # never set: the test decides when to stop
        self._attempting = False
        self._inline_threads: set[int] = set()
        self._helper: ThreadPoolExecutor | None = None
        self._closed = False
        self._store = VirtualTimeStore(self._clock.now, self._on_write)
        self.app = Continuum(
            name=f"testing-{next(_numbers)}",
            database=self._store,
            workflow_modules=self._workflows,
            dispatch=False,
            node=NODE,
            concurrency=1,
            lease_seconds=LEASE_SECONDS,
        )
        self.app.boot()
        # Schedules fire here as on a dispatching node, on the virtual clock.
        self._ticker = Ticker(
            self._store,
            metadata={"instance": self.app.name, "node": NODE},
            known_versions=self.app.versions.known,
            poll_interval=LEASE_SECONDS,
            on_fired=lambda: None,
        )
        self._handler_id = f"continuum.testing:{self.app.name}:{id(self)}"
        telemetry.attach(self._handler_id, _DRIFT, self._on_drift)

    # -- lifecycle -------------------------------------------------------------------
    def close(self) -> None:
        """Shut the instance down and drop the database and the mocks."""
        if self._closed:
            return
        self._closed = True
        telemetry.detach(self._handler_id)
        self._mocks.clear()
        if self._helper is not None:
            self._helper.submit(close_thread_loop).result()
            self._helper.shutdown()
        if threading.get_ident() in self._inline_threads:
            close_thread_loop()  # the loop this thread made for async workflows, if any
        self.app.shutdown()

    def __enter__(self) -> WorkflowEnvironment:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<WorkflowEnvironment {self.app.name} at {self.now().isoformat()}>"

    # -- runs ------------------------------------------------------------------------
    def start(
        self,
        workflow_cls: type[Workflow],
        input: Any = None,
        *,
        run_id: str | None = None,
        **options: Any,
    ) -> str:
        """Record a run (it runs when the test drives). Other keywords go to
        `Continuum.start`."""
        entrypoint = entrypoint_of(workflow_cls)
        if not self.app.versions.runs(entrypoint.workflow):
            self._workflows.append(workflow_cls)
            VersionRegistry.upsert_instance(self.app, self._workflows)
        run: str = self.app.start(workflow_cls, input, run_id=run_id, **options)
        return run

    def signal(
        self, run_id: str, name: str, payload: Any = None, *, delivery_id: str | None = None
    ) -> None:
        """Send a signal (the run takes it when the test next drives)."""
        self.app.signal(run_id, name, payload, delivery_id=delivery_id)

    def cancel(self, run_id: str) -> bool:
        """End the run `cancelled`; False when it had already ended."""
        return self.app.cancel(run_id)

    def get(self, run_id: str) -> RunInfo:
        return self.app.get(run_id)

    def result(self, run_id: str) -> Any:
        """Run everything (skipping time as needed) until this run ends; return its
        output. Raises RunFailed or RunCancelled as `Continuum.result` does, and
        StillWaiting when the run cannot end without the test (it waits for a signal)."""
        self._drive(math.inf, until_ended=run_id)
        if not self._ended(run_id):
            raise StillWaiting(f"run {run_id} has not ended: {self._stuck(run_id)}")
        return self.app.result(run_id, timeout=0)

    # -- driving ---------------------------------------------------------------------
    def run_until_idle(self) -> None:
        """Run every due run, skipping time to the next due moment while nothing else can
        happen, until every run has ended or waits for a signal."""
        self._drive(math.inf)

    def run_due(self) -> None:
        """Run every run that is due now, without moving the clock: each goes on until
        it ends or waits (for a signal, or for a time still to come)."""
        self._drive(self._clock.now())

    def skip(self, seconds: float) -> None:
        """Move the clock `seconds` forward, running what falls due on the way, each at
        its moment. Called from an activity (or a mock), it only moves the clock."""
        seconds = validation.duration(seconds, name="skip(seconds=)", allow_zero=True)
        target = self._clock.now() + seconds
        if self._attempting:
            self._clock.advance_to(target)
            return
        self._drive(target)

    def fire_timers(self, run_id: str | None = None) -> float:
        """Skip to the moment the next timer (a sleep, a signal timeout, a retry) falls
        due, of `run_id` or of any run, and run what is due then; return the seconds
        skipped. StillWaiting when there is none to fire."""
        now = self._clock.now()
        if run_id is None:
            due_in = self._next_due_in()
            if due_in is None:
                raise StillWaiting(
                    "no run waits for a timer: every run has ended or waits for a signal"
                )
        else:
            record = self._record(run_id)
            if record.status in TERMINAL_STATUSES:
                raise RunFinished(run_id, record.status, "it has no timer to fire")
            if record.available_at is None:
                raise StillWaiting(f"run {run_id} has no timer to fire: {self.waiting(run_id)}")
            due_in = record.available_at - now
        skipped = max(0.0, due_in)
        self._drive(now + skipped)
        return skipped

    # -- looking -----------------------------------------------------------------------
    def now(self) -> dt.datetime:
        """The virtual clock."""
        return self._clock.datetime()

    def waiting(self, run_id: str) -> Waiting:
        """Where the run stands and, if suspended, what it waits for (from its journal)."""
        record = self._record(run_id)
        waits: list[Wait] = []
        if record.status == RunStatus.SUSPENDED:
            entries = self._store.load_history(run_id).entries
            last = max((entry.seq for entry in entries), default=-1)
            now = self._clock.now()
            for entry in entries:
                wait = _wait_of(entry, now, last=entry.seq == last)
                if wait is not None:
                    waits.append(wait)
        return Waiting(run_id, str(record.status), tuple(waits), _moment(record.available_at))

    def journal(self, run_id: str) -> list[Entry]:
        """The run's journal as typed entries, in order, with their (virtual) write times."""
        self._record(run_id)
        return [
            Entry(
                seq=entry.seq,
                kind=_kind(entry.kind),
                name=entry.name,
                payload=serialization.loads(entry.payload_json),
                recorded_at=_moment(entry.recorded_at),
            )
            for entry in self._store.load_journal(run_id)
        ]

    def history(self, run_id: str) -> list[dict[str, Any]]:
        """The run's recorded history as a JSON-ready list (a `started` entry with the
        input and version, then the journal): what `replay()` takes."""
        return history_list(self.export_history(run_id))

    def export_history(
        self, run_id: str, path: str | os.PathLike[str] | None = None
    ) -> dict[str, Any]:
        """The document `continuum show RUN --format json` prints; written to `path` too."""
        return export_history(self.app, run_id, path)

    # -- mocks -----------------------------------------------------------------------
    def mock_activity(
        self,
        fn: Callable[..., Any],
        *,
        returns: Any = UNSET,
        raises: BaseException | type[BaseException] | None = None,
        side_effect: Callable[..., Any] | None = None,
    ) -> MockedActivity:
        """Replace an activity in this environment: it returns `returns`, raises
        `raises`, or calls `side_effect(*args, **kwargs)` (at most one; none: returns
        None). Returns the record of its calls; `undo()` (or a `with` block) ends it."""
        name, is_async = activity_name(fn)
        respond = responder(
            name, is_async=is_async, returns=returns, raises=raises, side_effect=side_effect
        )
        mock = MockedActivity(
            name, respond, is_async=is_async, clock=self._clock.datetime, remove=self._unmock
        )
        self._mocks[name] = mock
        return mock

    def _unmock(self, mock: MockedActivity) -> None:
        if self._mocks.get(mock.name) is mock:
            del self._mocks[mock.name]

    # -- the drive loop ----------------------------------------------------------------
    def _drive(self, horizon: float, *, until_ended: str | None = None) -> None:
        if self._attempting:
            raise ConfigurationError(
                "the environment was asked to run workflows from inside an attempt (an "
                "activity or a mock); only skip() works there, and it only moves the clock"
            )
        self._call(lambda: self._drive_here(horizon, until_ended))

    def _call(self, work: Callable[[], T]) -> T:
        """Run `work` here, or on a helper thread when this thread runs an event loop (an
        async test): async workflows need a thread whose loop they can run."""
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            self._inline_threads.add(threading.get_ident())
            return work()
        if self._helper is None:
            self._helper = ThreadPoolExecutor(1, thread_name_prefix="continuum-testing")
        return self._helper.submit(work).result()

    def _drive_here(self, horizon: float, until_ended: str | None) -> None:
        budget = self._max_attempts
        while True:
            self._fire_schedules()
            budget -= self._run_due(budget, until_ended)
            if until_ended is not None and self._ended(until_ended):
                return
            due_in = self._next_due_in()
            if due_in is None or due_in <= 0:  # <= 0: due, yet nothing took it; stop
                break
            wake = self._clock.now() + due_in
            if wake > horizon:
                break
            self._clock.advance_to(wake)
        if math.isfinite(horizon) and horizon > self._clock.now():
            self._clock.advance_to(horizon)
            self._fire_schedules()
            self._run_due(budget, until_ended)

    def _fire_schedules(self) -> None:
        """Start the runs of every schedule tick that is due by the virtual clock."""
        for _ in range(self._max_attempts):
            if self._ticker.tick() != 0.0:  # 0.0: it fired a batch and more may be due
                return

    def _next_due_in(self) -> float | None:
        """Seconds until a run falls due, or a schedule's next tick; None: nothing will."""
        found = [self._store.next_due_in(self.app.versions.known())]
        workflows = sorted(self._ticker.current())
        if workflows:
            found.append(self._store.next_schedule_in(workflows))
        times = [due_in for due_in in found if due_in is not None]
        return min(times) if times else None

    def _run_due(self, budget: int, until_ended: str | None) -> int:
        """Run due runs one by one, oldest due first, until none is; return how many."""
        ran = 0
        while until_ended is None or not self._ended(until_ended):
            claims = self._store.claim_runs(
                NODE,
                limit=1,
                lease_seconds=LEASE_SECONDS,
                versions=self.app.versions.known(),
                known=True,
            )
            if not claims:
                break
            if ran >= budget:
                self._store.release(claims[0].lease, delay=0.0)
                raise StillWaiting(
                    f"{self._max_attempts} attempts ran and runs are still due (a workflow "
                    "that never ends?); drive less at once (skip(seconds)), or raise "
                    "WorkflowEnvironment(max_attempts=)"
                )
            self._attempt(claims[0])
            ran += 1
        return ran

    def _attempt(self, claim: Claim) -> None:
        run = claim.run
        entrypoint = entrypoints.resolve(run.workflow, run.version_hash)
        if entrypoint is None:  # cannot happen: claimed among the versions loaded here
            raise ConfigurationError(f"{run.workflow}@{run.version_hash} is not loaded")
        metadata = {
            "run_id": run.run_id,
            "workflow": run.workflow,
            "version_hash": run.version_hash,
            "instance": self.app.name,
            "node": NODE,
            "attempt": claim.lease.token,
            "trace_context": run.trace_context,
        }
        self._attempting = True
        self._journal = None
        try:
            execute(
                self._store,
                claim,
                entrypoint,
                metadata=metadata,
                stopping=self._stopping,
                guard=LeaseGuard.unbounded(),
                harness=self._harness,
            )
        finally:
            self._attempting = False
            written, self._written = self._written, []
        drift = self._drifts.pop(run.run_id, None)
        if drift is not None:
            raise drift
        for write in written:
            paranoid_mode.check(entrypoint, run.input_json, write)

    def _on_write(self, write: Write) -> None:
        """Paranoid mode: keep the write with the journal as it stands after it."""
        if not self.paranoid:
            return
        if self._journal is None:  # the attempt's first write: read what it wrote onto
            entries = self._store.load_history(write.lease.run_id).entries
            self._journal = {entry.seq: entry for entry in entries}
        else:  # then follow it write by write, as the store does (one row per position)
            self._journal.update((entry.seq, entry) for entry in write.entries)
        journal = tuple(self._journal.values())
        self._written.append(paranoid_mode.Written(write, journal, self._clock.now()))

    def _on_drift(
        self, event: tuple[str, ...], measurements: Mapping[str, Any], metadata: Mapping[str, Any]
    ) -> None:
        """The engine stopped an attempt here on a drift: the driving call raises it."""
        if metadata.get("instance") != self.app.name:
            return
        run_id = str(metadata["run_id"])
        recorded = f"{metadata.get('recorded_kind')} {metadata.get('recorded_name')!r}"
        position = int(measurements.get("position", -1))
        self._drifts[run_id] = NondeterminismError(
            position, recorded, str(metadata.get("expected")), run_id=run_id
        )

    # -- internals ---------------------------------------------------------------------
    def _record(self, run_id: str) -> RunRecord:
        record = self._store.get_run(run_id)
        if record is None:
            raise RunNotFound(run_id)
        return record

    def _ended(self, run_id: str) -> bool:
        """Whether the run, and the runs it continued as, have ended."""
        record = self._record(run_id)
        while record.status == RunStatus.COMPLETED and record.continued_to is not None:
            record = self._record(record.continued_to)
        return record.status in TERMINAL_STATUSES

    def _stuck(self, run_id: str) -> str:
        """Why a run has not ended, and what the test can do about it."""
        record = self._record(run_id)
        while record.continued_to is not None:
            record = self._record(record.continued_to)
        if (record.workflow, record.version_hash) not in set(self.app.versions.known()):
            return (
                f"it is a run of {record.workflow}@{record.version_hash}, which this "
                "environment does not run: add its class to workflows=[...]"
            )
        waiting = self.waiting(record.run_id)
        if waiting.signals:
            return f"{waiting}; send the signal with env.signal()"
        return str(waiting)


def _wait_of(entry: JournalEntry, now: float, *, last: bool) -> Wait | None:
    """What a journal row says a suspended run waits for, if anything."""
    kind, name, seq = entry.kind, entry.name, entry.seq
    payload = serialization.loads(entry.payload_json)
    if not isinstance(payload, dict):
        return None
    if kind == JournalKind.TIMER and (payload["fire_at"] > now or last):
        return Wait("timer", name, seq, _moment(payload["fire_at"]))
    if kind == JournalKind.SIGNAL_WAIT:
        return Wait("signal", name, seq, _moment(payload.get("deadline")))
    if kind == JournalKind.ACTIVITY_RETRY:
        return Wait("retry", name, seq, _moment(payload.get("retry_at")))
    if kind == JournalKind.CHILD_WAIT:
        return Wait("child", name, seq, None)
    return None


def _kind(kind: str) -> str:
    try:
        return JournalKind(kind)
    except ValueError:
        return kind  # a kind this release does not know


def _moment(stamp: float | None) -> dt.datetime | None:
    return None if stamp is None else dt.datetime.fromtimestamp(stamp, tz=dt.UTC)
