"""The state of one attempt, reachable from workflow code through a context variable.

The journal is indexed by call position: the n-th primitive call a workflow
makes is position n, in every attempt. Replay reads the recorded row at that
position; a position past the recorded journal executes for real and records.
Because positions are handed out at call time, activities started together
with `asyncio.gather` keep their positions whatever order they finish in.

Values that need no side effect to produce (now, uuid4, signal consumption,
timer deadlines) are buffered and written with the next write the attempt has
to make anyway; they are always written before an activity runs, so an
activity never sees a value a later attempt could produce differently.
"""

from __future__ import annotations

import contextvars
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, NoReturn, Protocol

from continuum import serialization, telemetry
from continuum.errors import CancelRequested, ContinuumError, NotInWorkflow
from continuum.runtime.lease_guard import LeaseGuard
from continuum.store.base import (
    Claim,
    History,
    JournalEntry,
    Lease,
    NewRun,
    SignalRecord,
    Store,
)

if TYPE_CHECKING:
    from continuum.runtime.saga import Compensation


CANCEL = "cancel"
# Rows a run stops at to wait: where a cancel asked meanwhile reaches it.
WAITS = frozenset({"timer", "signal_wait", "activity_retry", "child_wait"})


class Halt(BaseException):
    """Unwinds workflow code. A BaseException so that `except Exception` does not stop it."""


class Suspend(Halt):
    """The run waits for a timer, a retry or a signal."""


class Nondeterminism(Halt):
    """Replay met a different primitive than the journal recorded."""

    def __init__(self, position: int, expected: str, recorded: JournalEntry) -> None:
        super().__init__(
            f"at journal position {position} the code called {expected} but the journal "
            f"recorded {recorded.kind} {recorded.name!r}"
        )
        self.position = position
        self.expected = expected
        self.recorded = recorded


class CaughtUp(Halt):
    """A replay with no store reached the end of the recorded journal: from here on
    the code would act (run an activity, record a value), which a replay never does."""


class ContinueAsNew(Halt):
    """`continue_as_new(input)`: end this run and start the next of its chain."""

    def __init__(self, input_json: str) -> None:
        super().__init__("continue as new")
        self.input_json = input_json


class Interrupted(Halt):
    """The attempt must stop: lease lost, store unreachable, or the node shutting down."""

    def __init__(self, reason: str, cause: BaseException | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.cause = cause


@dataclass(slots=True)
class Wait:
    wake_at: float | None
    signal: str | None


class Harness(Protocol):
    """What `continuum.testing` puts under an attempt in place of the world: the clock
    it reads, its short waits between activity retries, and the function each activity
    calls. Attempts on a node have none (`AttemptContext.harness is None`)."""

    def now(self) -> float: ...

    def pause(self, seconds: float) -> None: ...

    def activity(self, name: str, fn: Callable[..., Any]) -> Callable[..., Any]: ...


@dataclass
class AttemptContext:
    store: Store | None  # None: replay only (see CaughtUp)
    claim: Claim
    history: History
    is_async: bool
    metadata: Mapping[str, Any]
    stopping: threading.Event
    guard: LeaseGuard = field(default_factory=LeaseGuard.unbounded)
    position: int = 0
    pending: list[JournalEntry] = field(default_factory=list)
    starting: list[NewRun] = field(default_factory=list)  # runs to start with the next write
    patches: dict[str, bool] = field(default_factory=dict)
    waits: list[Wait] = field(default_factory=list)
    compensations: list[Compensation] = field(default_factory=list)  # see saga.py
    # (workflow, version_hash) of every registered version, read when a child of a
    # version not seen yet is started (see children.py); None until then.
    registered_versions: set[tuple[str, str]] | None = None
    halted: Halt | None = None
    harness: Harness | None = None  # continuum.testing only

    def __post_init__(self) -> None:
        self.entries = {entry.seq: entry for entry in self.history.entries}
        self.last_recorded = max(self.entries, default=-1)
        # Cancel was asked of this (on_cancel="unwind") run: it ends cancelled, and the
        # request is raised at the step it is at, unless an earlier attempt did so.
        self.cancelled = self.claim.run.cancel_requested
        self.cancel_pending = self.cancelled and all(
            entry.kind != CANCEL for entry in self.history.entries
        )
        # Pending signals by name, oldest first: a parent of thousands of children
        # finds each child's signal without reading past the others.
        self.signals: dict[str, list[SignalRecord]] = {}
        for signal in self.history.pending_signals:
            self.signals.setdefault(signal.name, []).append(signal)
        self._monotonic_base = time.monotonic()

    @property
    def lease(self) -> Lease:
        return self.claim.lease

    @property
    def run_id(self) -> str:
        return self.claim.run.run_id

    def clock(self) -> float:
        """The database clock, carried forward from the claim by a monotonic clock."""
        if self.harness is not None:
            return self.harness.now()
        return self.claim.db_now + (time.monotonic() - self._monotonic_base)

    # -- the cursor ----------------------------------------------------------------
    def check_running(self) -> None:
        """Stop unless the attempt may go on: called before every primitive and
        before every activity invocation, so nothing runs on a lease that ended."""
        if self.halted is not None:
            raise self.halted  # workflow code swallowed a halt; keep unwinding
        if not self.guard.holds():
            lost = self.guard.lost.is_set()
            self.halt(Interrupted("lease lost" if lost else "lease expired on this node's clock"))
        if self.stopping.is_set():
            self.halt(Interrupted("shutdown"))

    def next_position(self) -> int:
        self.check_running()
        position = self.position
        if self.store is None and position > self.last_recorded:
            self.halt(CaughtUp())
        self.position += 1
        return position

    def may_act(self) -> None:
        """Before a side effect (an activity invocation, a write): a replay stops here."""
        if self.store is None:
            self.halt(CaughtUp())

    @property
    def writer(self) -> Store:
        """The store to write to; a replay, which has none, stops here instead."""
        if self.store is None:
            self.halt(CaughtUp())
        return self.store

    def replayed(self, position: int, kinds: frozenset[str], name: str) -> JournalEntry | None:
        """The recorded row at `position`, checked against what the code asks for.

        Raises CancelRequested where a cancel reached the run: at a recorded "cancel"
        row, or (the first time) at the step the run is at, past its journal or at the
        wait it stopped in, whose row the "cancel" row replaces."""
        entry = self.entries.get(position)
        if entry is not None and entry.kind == CANCEL:
            raise CancelRequested(self.run_id)
        if self.cancel_pending and (
            entry is None or (position == self.last_recorded and entry.kind in WAITS)
        ):
            self.cancel_pending = False
            self.buffer(JournalEntry(position, CANCEL, CANCEL, None))
            raise CancelRequested(self.run_id)
        if entry is not None and (entry.kind not in kinds or entry.name != name):
            expected = f"{'/'.join(sorted(kinds))} {name!r}"
            self.halt(Nondeterminism(position, expected, entry))
        return entry

    def beyond_journal(self, position: int) -> bool:
        return position > self.last_recorded

    def at_frontier(self, position: int) -> bool:
        """Whether `position` holds the last entry the attempt found recorded: the
        call the run last stopped at, which this attempt is the first to get past."""
        return position == self.last_recorded

    def unreplayed(self) -> list[JournalEntry]:
        """Recorded rows the code never reached (code paths removed under old history)."""
        if self.position > self.last_recorded:
            return []  # the usual answer, without looking at every row
        return [self.entries[seq] for seq in sorted(s for s in self.entries if s >= self.position)]

    # -- writes --------------------------------------------------------------------
    def buffer(self, entry: JournalEntry) -> None:
        self.pending.append(entry)
        self.entries[entry.seq] = entry

    def flush(self) -> None:
        if self.pending or self.starting:
            self.commit()

    def commit(self, entry: JournalEntry | None = None) -> None:
        """Write buffered rows (and `entry`) now, fenced by the lease."""
        if entry is not None:
            self.buffer(entry)
        store = self.writer
        rows, self.pending = self.pending, []
        runs, self.starting = self.starting, []
        try:
            store.record(self.lease, rows, start_runs=runs)
        except ContinuumError as exc:
            self.halt(Interrupted("store write refused", exc))

    def take_signal(self, name: str) -> SignalRecord | None:
        """The oldest pending signal `name`, taken (None when there is none)."""
        waiting = self.signals.get(name)
        return waiting.pop(0) if waiting else None

    def put_back(self, signal: SignalRecord) -> None:
        """Return a signal `take_signal` gave: it stays the oldest of its name."""
        self.signals.setdefault(signal.name, []).insert(0, signal)

    # -- leaving -------------------------------------------------------------------
    def suspend(self, *, wake_at: float | None, signal: str | None = None) -> None:
        self.waits.append(Wait(wake_at, signal))
        self.halt(Suspend())

    def halt(self, reason: Halt) -> NoReturn:
        if self.halted is None:
            self.halted = reason
        raise reason

    def emit(self, event: tuple[str, ...], measurements: Mapping[str, Any], **extra: Any) -> None:
        """Report an event of this attempt; a replay (no store) reports nothing."""
        if self.store is not None and telemetry.wanted(event):
            telemetry.execute(event, measurements, {**self.metadata, **extra})


_current: contextvars.ContextVar[AttemptContext | None] = contextvars.ContextVar(
    "continuum_attempt", default=None
)


def current() -> AttemptContext | None:
    return _current.get()


def require(primitive: str) -> AttemptContext:
    ctx = _current.get()
    if ctx is None:
        raise NotInWorkflow(
            f"continuum.{primitive}() was called outside a running workflow; call it from a "
            "workflow's run() (inside an activity, use ordinary Python instead)"
        )
    return ctx


def entry_value(entry: JournalEntry, key: str) -> Any:
    payload = serialization.loads(entry.payload_json)
    return payload.get(key) if isinstance(payload, dict) else None


class outside_workflow:  # lower case: it is used like a function, `with outside_workflow():`
    """Hide the workflow context (activity bodies: nested activities are plain calls).

    A class rather than a generator: it wraps every activity call, and this is
    the cheaper of the two by a few microseconds.
    """

    __slots__ = ("_token",)

    def __enter__(self) -> None:
        self._token = _current.set(None)

    def __exit__(self, *exc_info: object) -> None:
        _current.reset(self._token)
