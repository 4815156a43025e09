"""The Store interface and the values that cross it.

Times are seconds since the epoch on the database's clock. Every write made on
behalf of an attempt takes its `Lease` and is refused with `LeaseLost` unless,
in the same transaction, the run is still `running` under that lease (its token
and its nonce) and the lease has not expired by the database clock (fencing).
Attempt writes of many runs may share one transaction (group commit); each is
fenced on its own.

Why a nonce beside the token: the token counts claims, so a claim that the
database loses in a crash (acknowledged, not yet on disk) is followed by one
that hands out the same number again. The nonce is drawn at random by each
claim, so no later claim can reproduce a lost one, and the node that still
holds the lost lease can never write again.
"""

from __future__ import annotations

import secrets
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal, NamedTuple

from continuum.errors import ContinuumError
from continuum.store.group_commit import GroupCommit

VersionKey = tuple[str, str]

# What became of a signal: kept for the run, dropped as a repeated delivery,
# refused because the run has ended, or refused because there is no such run.
SignalOutcome = Literal["sent", "duplicate", "ended", "missing"]

TERMINAL_STATUSES = frozenset({"completed", "failed", "cancelled"})
STATUSES = frozenset(
    {"pending", "running", "suspended", "stuck_unknown_version", *TERMINAL_STATUSES}
)


@dataclass(frozen=True, slots=True)
class NewRun:
    run_id: str
    workflow: str
    version_hash: str
    version: int
    input_json: str


@dataclass(frozen=True, slots=True)
class RunRecord:
    run_id: str
    workflow: str
    version_hash: str
    version: int
    status: str
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


@dataclass(frozen=True, slots=True)
class Lease:
    """Proof of a claim: writes are accepted only while it is current.

    `token` counts the run's claims; `nonce` is drawn at random by the claim
    that made this lease (see the module docstring). The fence compares both.
    """

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


class JournalEntry(NamedTuple):
    """One journal row: the durable state of the primitive call at position `seq`.

    Writing an entry at an existing `seq` replaces it (a step that was waiting
    reaches its outcome). `consumes_signal` marks a signal as taken by this row
    in the same transaction. `load_history` leaves `recorded_at` at 0: replay
    does not need it, and reading it is a measurable share of a resume. A named
    tuple rather than a dataclass: replay builds one per journaled event, and
    this is the cheapest immutable value to build.
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


@dataclass(frozen=True, slots=True)
class History:
    """Everything an attempt needs to replay: read in one go, never per event."""

    entries: Sequence[JournalEntry]
    pending_signals: Sequence[SignalRecord]


@dataclass(frozen=True, slots=True)
class Write:
    """One attempt write: journal entries and what becomes of the run, under a lease.

    `outcome` is "record" (the run keeps running), "suspended", "completed" or
    "failed". Entries hold at most one row per `seq` (the store keeps the last).
    """

    lease: Lease
    entries: Sequence[JournalEntry]
    outcome: str = "record"
    output_json: str | None = None
    error_json: str | None = None
    wake_at: float | None = None
    wake_on_signals: Sequence[str] = ()


@dataclass(frozen=True, slots=True)
class VersionRecord:
    workflow: str
    version_hash: str
    version: int
    module: str
    qualname: str


@dataclass(frozen=True, slots=True)
class VersionRow:
    workflow: str
    version_hash: str
    version: int
    module: str
    qualname: str
    first_seen_at: float
    last_seen_at: float
    loaded_by: tuple[tuple[str, str, float], ...] = field(default=())  # (instance, node, last_seen)


class Store(ABC):
    """What the engine needs from a database. Implementations are thread-safe.

    Subclasses call `super().__init__()`: attempt writes from many threads go
    through one `GroupCommit`, which hands them to `apply_writes` in batches.
    """

    url: str

    # How many batches of attempt writes may be written at once.
    write_batches_in_flight = 1

    def __init__(self) -> None:
        self._group_commit = GroupCommit(
            self.apply_writes, max_in_flight=self.write_batches_in_flight
        )

    # -- lifecycle -----------------------------------------------------------------
    @abstractmethod
    def migrate(self) -> None:
        """Create or upgrade the schema. Idempotent; safe when nodes boot at once."""

    @abstractmethod
    def close(self) -> None: ...

    @abstractmethod
    def now(self) -> float:
        """The database clock."""

    @abstractmethod
    def schema_version(self) -> int:
        """The latest applied migration (0 for an empty database)."""

    # Whether `listen` delivers what other processes do (else callers poll).
    notifies = False

    def listen(self, handlers: Mapping[str, Callable[[str], None]]) -> Callable[[], None]:
        """Subscribe to what other processes do; returns a function that stops listening.

        Topics: "wakeup" (a run became due; payload empty) and "settled" (a run
        ended; payload the JSON array [id, status, output, error], or [id] alone
        when the outcome is too big to send). After a lost connection each handler
        is called with an empty payload: anything may have happened meanwhile.
        Handlers run on a listener thread and must be quick. Backends without
        notifications rely on polling and return a no-op.
        """
        return lambda: None

    # -- runs ----------------------------------------------------------------------
    @abstractmethod
    def create_run(
        self, new: NewRun, *, lease_to: str | None = None, lease_seconds: float = 0.0
    ) -> tuple[RunRecord, bool]:
        """Insert a `pending`, due run; if the id exists return it and False.

        With `lease_to`, the new run is inserted already `running` under a lease
        (token 1, a fresh nonce) held by that node, which then executes it itself.
        """

    @abstractmethod
    def get_run(self, run_id: str) -> RunRecord | None: ...

    @abstractmethod
    def list_runs(self, *, status: str | None, workflow: str | None, limit: int) -> list[RunRecord]:
        """Newest first."""

    @abstractmethod
    def cancel_run(self, run_id: str) -> RunRecord | None:
        """Mark a non-terminal run `cancelled` (revoking any lease); None if terminal or absent."""

    @abstractmethod
    def send_signal(
        self, run_id: str, name: str, payload_json: str, *, delivery_id: str | None = None
    ) -> SignalOutcome:
        """Keep a signal for a live run and make it due, in one transaction.

        A `delivery_id` the run has already received makes this a no-op that
        answers "duplicate" (checked before anything else, so a retry after the
        run ended still answers so). Otherwise "ended" or "missing" when the run
        cannot take it, and nothing is written.
        """

    # -- dispatch ------------------------------------------------------------------
    @abstractmethod
    def claim_runs(
        self,
        node: str,
        *,
        limit: int,
        lease_seconds: float,
        versions: Sequence[VersionKey],
        known: bool,
    ) -> list[Claim]:
        """Lease up to `limit` due runs, oldest due first.

        Due means `pending`/`suspended` with `available_at` reached, or `running`
        with an expired lease. `known=True` takes only runs whose (workflow,
        version_hash) is in `versions`; `known=False` only those that are not.
        A claim clears `available_at`; a signal sent while the run is leased sets
        it again, which `suspend` reads as "wake at once". A claim is `fresh` when
        the run was `pending`: it never ran, so there is no journal to load.
        """

    @abstractmethod
    def next_due_in(self, versions: Sequence[VersionKey]) -> float | None:
        """Seconds until the next run among `versions` becomes due (<= 0: now)."""

    @abstractmethod
    def renew_leases(self, leases: Sequence[Lease], lease_seconds: float) -> list[Lease]:
        """Extend current leases in one round trip; return the ones that were lost."""

    # -- attempt writes (fenced) -----------------------------------------------------
    @abstractmethod
    def load_history(self, run_id: str) -> History: ...

    @abstractmethod
    def apply_writes(self, writes: Sequence[Write]) -> list[ContinuumError | None]:
        """Make `writes` durable in one transaction, each fenced by its own lease.

        Returns, per write, None when it was written, or the error that refused
        it and left nothing of it: `LeaseLost`, or `StoreError` when a signal it
        takes was already consumed. Raises only when the transaction as a whole
        failed, which keeps none of them.
        """

    def record(self, lease: Lease, entries: Sequence[JournalEntry]) -> None:
        """Write journal entries; the run keeps running."""
        self._group_commit.submit(Write(lease, entries))

    def suspend(
        self,
        lease: Lease,
        entries: Sequence[JournalEntry],
        *,
        wake_at: float | None,
        wake_on_signals: Sequence[str],
    ) -> None:
        """Write entries and suspend, releasing the lease.

        The run becomes due at `wake_at`, or at once when a pending signal named
        in `wake_on_signals` is already there (a signal sent while it ran).
        """
        self._group_commit.submit(
            Write(lease, entries, "suspended", wake_at=wake_at, wake_on_signals=wake_on_signals)
        )

    def finish(
        self,
        lease: Lease,
        entries: Sequence[JournalEntry],
        *,
        status: str,
        output_json: str | None,
        error_json: str | None,
    ) -> None:
        """Write entries and end the run `completed` or `failed`."""
        if status not in ("completed", "failed"):
            raise ValueError(f"a run finishes completed or failed, not {status!r}")
        self._group_commit.submit(
            Write(lease, entries, status, output_json=output_json, error_json=error_json)
        )

    @abstractmethod
    def release(self, lease: Lease, *, delay: float) -> None:
        """Give the run back, `suspended`, due again after `delay` seconds.

        Needs only the lease's token and nonce, not an unexpired lease: handing
        back a run this node cannot execute is always safe.
        """

    # -- versions registry -----------------------------------------------------------
    @abstractmethod
    def register_versions(self, instance: str, node: str, versions: Sequence[VersionRecord]) -> int:
        """Upsert versions and this node's hold on them; set `stuck_unknown_version`
        runs of these versions back to `suspended` and due. Returns how many."""

    @abstractmethod
    def unregister_node(self, instance: str, node: str) -> None:
        """Forget which versions this node has loaded (clean shutdown)."""

    @abstractmethod
    def list_versions(self) -> list[VersionRow]: ...
