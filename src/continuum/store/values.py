"""The states and frozen values that cross the Store interface (see `base`).

Run statuses, write outcomes and journal kinds are defined here once, as
`StrEnum`s whose members equal the strings the databases hold.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Literal, NamedTuple

from continuum.errors import SerializationError


class RunStatus(StrEnum):
    """Where a run stands. Members equal their strings, which is what the database holds."""

    PENDING = "pending"  # started, never claimed
    RUNNING = "running"  # leased to a node
    SUSPENDED = "suspended"  # waiting for a timer, a retry or a signal; no node holds it
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELLED = "cancelled"
    STUCK_UNKNOWN_VERSION = "stuck_unknown_version"  # written by older releases only


TERMINAL_STATUSES = frozenset({RunStatus.COMPLETED, RunStatus.FAILED, RunStatus.CANCELLED})
STATUSES = frozenset(RunStatus)


class WriteOutcome(StrEnum):
    """What an attempt write does to its run: nothing (`record`), or the status it stops in."""

    RECORD = "record"
    SUSPENDED = RunStatus.SUSPENDED.value
    COMPLETED = RunStatus.COMPLETED.value
    FAILED = RunStatus.FAILED.value
    CANCELLED = RunStatus.CANCELLED.value  # a run that unwound after cancel was asked


# The outcomes that end a run.
ENDING_OUTCOMES = frozenset({WriteOutcome.COMPLETED, WriteOutcome.FAILED, WriteOutcome.CANCELLED})


class JournalKind(StrEnum):
    """What a journal row records: the primitive call at its position."""

    ACTIVITY = "activity"  # an activity's result or final error
    ACTIVITY_RETRY = "activity_retry"  # an activity waiting to be tried again
    TIMER = "timer"
    SIGNAL = "signal"  # a signal taken
    SIGNAL_WAIT = "signal_wait"  # waiting for one, with its deadline
    SIGNAL_TIMEOUT = "signal_timeout"
    PATCH = "patch"
    SIDE_EFFECT = "side_effect"  # now(), uuid4(), random(), side_effect(fn)
    COMPENSATION = "compensation"  # add_compensation(fn, ...): an undo step registered
    CHILD = "child"  # start_child(): a child run started (its run id)
    CHILD_RESULT = "child_result"  # await_child(): how the child ended
    CHILD_WAIT = "child_wait"  # await_child(): waiting for the child to end
    CANCEL = "cancel"  # where a cancel asked of an on_cancel="unwind" run reached it


VersionKey = tuple[str, str]  # (workflow, version_hash)
Versions = Sequence[VersionKey]

# Signal names that begin so are the engine's own; senders cannot use them.
RESERVED_SIGNAL_PREFIX = "continuum:"


def child_ended_signal(run_id: str) -> str:
    """The signal a child run's parent is sent, in the transaction that ends the child."""
    return f"{RESERVED_SIGNAL_PREFIX}child:{run_id}"


# What became of a signal: kept, dropped as a repeated delivery, or refused (ended, missing).
SignalOutcome = Literal["sent", "duplicate", "ended", "missing"]


@dataclass(frozen=True, slots=True)
class NewRun:
    run_id: str
    workflow: str
    version_hash: str
    version: int
    input_json: str
    # Opaque: what a tracing bridge captured where the run was started (see `otel`).
    trace_context: str | None = None
    start_at: float | None = None  # due from then (None: at once)
    parent_run_id: str | None = None
    cancel_with_parent: bool = True  # only read for a run with a parent
    continued_from: str | None = None
    attributes_json: str | None = None  # a JSON object, or None for none
    unwind_on_cancel: bool = False  # cancel asks the run to unwind instead of ending it


@dataclass(frozen=True, slots=True)
class RunRecord:
    run_id: str
    workflow: str
    version_hash: str
    version: int
    status: str  # a RunStatus; a str until the engine builds records with the enum too
    input_json: str | None
    output_json: str | None
    error_json: str | None
    created_at: float
    updated_at: float
    available_at: float | None = None
    lease_owner: str | None = None
    lease_token: int = 0
    lease_expires_at: float | None = None
    lease_nonce: int = 0
    trace_context: str | None = None
    parent_run_id: str | None = None
    cancel_with_parent: bool = True
    continued_from: str | None = None
    continued_to: str | None = None
    attributes_json: str | None = None
    cancel_requested: bool = False  # cancelling was asked of this (unwinding) run


@dataclass(frozen=True, slots=True)
class RunFilter:
    """Which runs a query wants; each field given narrows it. Times are `created_at`
    bounds: `created_after` inclusive, `created_before` exclusive. `attributes_json`
    is a JSON object: runs whose attributes hold every one of its keys with that value."""

    statuses: tuple[str, ...] = ()
    workflow: str | None = None
    version_hash: str | None = None
    created_after: float | None = None
    created_before: float | None = None
    run_id: str | None = None
    parent_run_id: str | None = None
    attributes_json: str | None = None


class RunCursor(NamedTuple):
    """Where a page of runs (newest first) ended: the next page starts after it."""

    created_at: float
    run_id: str


class ActivityBucket(NamedTuple):
    """Runs started, and runs that ended by outcome, in [start, start + width)."""

    start: float
    started: int
    completed: int
    failed: int
    cancelled: int


@dataclass(frozen=True, slots=True)
class NodeRecord:
    """A node that runs an instance, as its heartbeat last wrote it."""

    instance: str
    node: str
    hostname: str
    pid: int
    started_at: float
    heartbeat_at: float
    dispatching: bool
    concurrency: int
    in_flight: int
    listener: str  # "listening", "reconnecting", "polling" (no notifications) or "off"


@dataclass(frozen=True, slots=True)
class StoreHealth:
    """What needs attention, as counts and a few examples, read in one go.

    `expired`: running runs whose lease ran out more than `grace` seconds ago
    (no node has recovered them). `overdue`: waiting runs due more than
    `overdue_after` seconds ago. `stranded`: live runs per version that no node
    seen within `alive_within` seconds holds for dispatching.
    """

    expired: int
    expired_examples: tuple[str, ...]
    overdue: int
    overdue_examples: tuple[str, ...]
    oldest_due: float | None  # available_at of the oldest due, unclaimed run
    stranded: tuple[tuple[str, str, int], ...]  # (workflow, version_hash, live runs)


@dataclass(frozen=True, slots=True)
class Lease:
    """Proof of a claim: writes are accepted only while it is current. `token` counts
    the run's claims; `nonce` is drawn at random by the claim that made it (see above)."""

    run_id: str
    node: str
    token: int
    nonce: int

    @classmethod
    def of(cls, run: RunRecord) -> Lease:
        """The lease a run's row records (right after the claim that made it)."""
        if run.lease_owner is None:
            raise ValueError(f"run {run.run_id} is not leased")
        return cls(run.run_id, run.lease_owner, run.lease_token, run.lease_nonce)


def new_lease_nonce() -> int:
    """A claim's nonce: random, so no other claim can draw it again."""
    return secrets.randbits(63)


@dataclass(frozen=True, slots=True)
class Claim:
    run: RunRecord
    lease: Lease
    db_now: float  # the database clock when the claim was made
    fresh: bool = False  # the run never ran before this claim: it has no journal to read
    due_at: float | None = None  # since when it was due (a wake time or a lapsed lease)


class JournalEntry(NamedTuple):
    """One journal row: the durable state of the primitive call at position `seq`.

    `kind` is a `JournalKind` (or its string). Writing an entry at an existing `seq`
    replaces it (a step that was waiting reaches its outcome). `consumes_signal` marks
    a signal as taken by this row in the same transaction. `load_history` leaves
    `recorded_at` at 0: replay does not need it, and reading it is a measurable share
    of a resume. A named tuple rather than a dataclass: replay builds one per
    journaled event, and this is the cheapest immutable value to build.
    """

    seq: int
    kind: str
    name: str
    payload_json: str | None
    consumes_signal: int | None = None
    recorded_at: float = 0.0


@dataclass(frozen=True, slots=True)
class SignalRecord:
    signal_id: int
    name: str
    payload_json: str | None
    sent_at: float
    consumed_seq: int | None = None  # the journal position that took it (list_signals only)
    delivery_id: str | None = None


@dataclass(frozen=True, slots=True)
class History:
    """Everything an attempt needs to replay: read in one go, never per event."""

    entries: Sequence[JournalEntry]
    pending_signals: Sequence[SignalRecord]


@dataclass(frozen=True, slots=True)
class Write:
    """One attempt write: journal entries and what becomes of the run, under a lease.

    Entries hold at most one row per `seq` (the store keeps the last). A
    suspension wakes at `wake_at`, or at once when a signal named in
    `wake_on_signals` is pending or any signal arrived during the attempt.
    """

    lease: Lease
    entries: Sequence[JournalEntry]
    outcome: WriteOutcome = WriteOutcome.RECORD
    output_json: str | None = None
    error_json: str | None = None
    wake_at: float | None = None
    wake_on_signals: Sequence[str] = ()
    # What the attempt starts in the same transaction: children, or the run that
    # continues this one (`continued_to` names it). Inserted only if the id is new.
    start_runs: Sequence[NewRun] = ()
    continued_to: str | None = None
    # The run's parent, told in the same transaction when the run ends.
    parent_run_id: str | None = None

    @property
    def plain(self) -> bool:
        """Nothing but journal rows and the run's own row: the fast path of every backend."""
        return (
            not self.start_runs
            and self.parent_run_id is None
            and self.outcome != WriteOutcome.CANCELLED
        )

    def malformed(self) -> SerializationError | None:
        """Why no database may take this write (a value that is not JSON), or None. Every
        backend asks before writing: a bad value is refused alone, never batched."""
        texts = [self.output_json, self.error_json, *(e.payload_json for e in self.entries)]
        texts += [text for run in self.start_runs for text in (run.input_json, run.attributes_json)]
        for n, text in enumerate(texts):
            try:
                text is None or _JSON.decode(text)
            except (TypeError, ValueError) as exc:
                what = ["output", "error", *(f"payload of entry {e.seq}" for e in self.entries)]
                what += [
                    f"{part} of run {r.run_id}"
                    for r in self.start_runs
                    for part in ("input", "attributes")
                ]
                return SerializationError(
                    f"run {self.lease.run_id}: the {what[n]} is not JSON ({exc}); nothing written"
                )
        return None


def _not_json(constant: str) -> None:
    raise ValueError(f"{constant} is not JSON")  # Python's json reads NaN; databases do not


_JSON = json.JSONDecoder(parse_constant=_not_json)


@dataclass(frozen=True, slots=True)
class VersionRecord:
    workflow: str
    version_hash: str
    version: int
    module: str
    qualname: str
    source: str | None = None  # the class statement, kept for `versions restore`/`diff`
    frozen: bool = False  # loaded from a frozen file rather than from the code


class VersionHolder(NamedTuple):
    """An instance's node that has a version loaded."""

    instance: str
    node: str
    last_seen: float
    dispatching: bool  # it executes runs (a client with dispatch=False does not)
    frozen: bool  # it has the version from a frozen file


@dataclass(frozen=True, slots=True)
class VersionRow:
    workflow: str
    version_hash: str
    version: int
    module: str
    qualname: str
    first_seen_at: float
    last_seen_at: float
    loaded_by: tuple[VersionHolder, ...] = field(default=())


@dataclass(frozen=True, slots=True)
class VersionUsage:
    """How many runs of one version are in each status, and the oldest live one."""

    workflow: str
    version_hash: str
    counts: Mapping[str, int]
    oldest_live: float | None  # created_at of the oldest run not yet ended

    @property
    def live(self) -> int:
        """Runs not yet ended: what pins this version."""
        return sum(n for status, n in self.counts.items() if status not in TERMINAL_STATUSES)


@dataclass(frozen=True, slots=True)
class PatchUsage:
    """For a patch id some run of `workflow` recorded: its live runs with the marker
    and without it (0 without: the `patched()` check can go)."""

    workflow: str
    patch_id: str
    live_with: int
    live_without: int
