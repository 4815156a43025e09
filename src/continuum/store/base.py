"""The Store interface, and the states and frozen values that cross it.

`Store` is an interface and nothing else: no state, no constructor to call.
Whether a backend batches attempt writes (`group_commit`) is its own business.

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

from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping, Sequence
from typing import ClassVar

from continuum.errors import ContinuumError
from continuum.store.schedules import ScheduleStore
from continuum.store.values import (
    ENDING_OUTCOMES,
    RESERVED_SIGNAL_PREFIX,
    STATUSES,
    TERMINAL_STATUSES,
    ActivityBucket,
    Claim,
    History,
    JournalEntry,
    JournalKind,
    Lease,
    NewRun,
    NodeRecord,
    PatchUsage,
    RunCursor,
    RunFilter,
    RunRecord,
    RunStatus,
    SignalOutcome,
    SignalRecord,
    StoreHealth,
    VersionHolder,
    VersionKey,
    VersionRecord,
    VersionRow,
    Versions,
    VersionUsage,
    Write,
    WriteOutcome,
    child_ended_signal,
    new_lease_nonce,
)

__all__ = [
    "ENDING_OUTCOMES",
    "RESERVED_SIGNAL_PREFIX",
    "STATUSES",
    "TERMINAL_STATUSES",
    "ActivityBucket",
    "Claim",
    "History",
    "JournalEntry",
    "JournalKind",
    "Lease",
    "NewRun",
    "NodeRecord",
    "PatchUsage",
    "RunCursor",
    "RunFilter",
    "RunRecord",
    "RunStatus",
    "SignalOutcome",
    "SignalRecord",
    "Store",
    "StoreHealth",
    "VersionHolder",
    "VersionKey",
    "VersionRecord",
    "VersionRow",
    "VersionUsage",
    "Versions",
    "Write",
    "WriteOutcome",
    "child_ended_signal",
    "new_lease_nonce",
]


class Store(ScheduleStore, ABC):
    """What the engine needs from a database. Implementations are thread-safe. `url`
    names the database (no password); `notifies`: does `listen` deliver (else poll)."""

    url: str
    notifies: ClassVar[bool]

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

    @abstractmethod
    def latest_schema_version(self) -> int:
        """The newest migration this release knows: what `migrate` brings a database to."""

    @abstractmethod
    def listen(self, handlers: Mapping[str, Callable[[str], None]]) -> Callable[[], None]:
        """Subscribe to what other processes do; returns a function that stops listening.

        Topics: "wakeup" (a run became due; payload empty) and "settled" (a run ended;
        payload the JSON array [id, status, output, error], or [id] when too big to
        send). After a lost connection each handler is called with an empty payload:
        anything may have happened meanwhile. The pseudo-topic "listener" is told
        "listening" whenever the subscription is (re)established, "reconnecting" when
        it is lost. Handlers run on a listener thread and must be quick. Backends
        without notifications return a function that does nothing.
        """

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
    def query_runs(
        self, where: RunFilter, *, limit: int, after: RunCursor | None = None
    ) -> list[RunRecord]:
        """Runs matching `where`, newest first (by created_at, then id), starting after
        `after`: keyset pagination, as fast on the last page as on the first."""

    @abstractmethod
    def run_activity(self, *, since: float, bucket_seconds: float) -> list[ActivityBucket]:
        """Runs started and ended per bucket from `since` to now, oldest bucket first;
        buckets with nothing in them are left out."""

    @abstractmethod
    def list_signals(self, run_id: str) -> list[SignalRecord]:
        """Every signal sent to the run, consumed or not, in the order sent."""

    @abstractmethod
    def cancel_run(self, run_id: str) -> list[RunRecord]:
        """Mark a live run `cancelled` (revoking any lease), and with it, in the same
        transaction, its live descendants started `cancel_with_parent`. Returns the
        runs cancelled, the one asked for first; none if it had ended or is absent.
        A cancelled child's parent is told as when the child ends (see `Write`).

        A run started `unwind_on_cancel` that was not asked before is not ended: it
        is marked `cancel_requested` and made due, and returned alone, still live; it
        ends `cancelled` by its own write once it has unwound. Asked again, it ends."""

    @abstractmethod
    def set_attributes(self, run_id: str, attributes_json: str) -> str | None:
        """Merge a JSON object into the run's attributes (a null value removes the key);
        returns the attributes now, or None when the run is absent."""

    @abstractmethod
    def child_run_ids(self, run_id: str) -> list[str]:
        """The runs started as children of this one, oldest first."""

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
        self, node: str, *, limit: int, lease_seconds: float, versions: Versions, known: bool
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
    def next_due_in(self, versions: Versions) -> float | None:
        """Seconds until the next run among `versions` becomes due (<= 0: now)."""

    @abstractmethod
    def renew_leases(self, leases: Sequence[Lease], lease_seconds: float) -> list[Lease]:
        """Extend current leases in one round trip; return the ones that were lost."""

    # -- attempt writes (fenced) -----------------------------------------------------
    @abstractmethod
    def load_history(self, run_id: str) -> History:
        """The journal (without write times: replay has no use for them) and the
        pending signals, in one read."""

    @abstractmethod
    def load_journal(self, run_id: str) -> list[JournalEntry]:
        """The journal in order, each entry with when it was written (for people)."""

    @abstractmethod
    def apply_writes(self, writes: Sequence[Write]) -> list[ContinuumError | None]:
        """Make `writes` durable in one transaction, each fenced by its own lease.

        Returns, per write, None when it was written, or the error that refused
        it and left nothing of it: `LeaseLost`; `StoreError` when a signal it
        takes was already consumed; `SerializationError` when a value it carries
        is not JSON (`Write.malformed`). Raises only when the transaction as a
        whole failed, which keeps none of them.
        """

    @abstractmethod
    def submit(self, write: Write) -> None:
        """Make one write durable as `apply_writes` would, alone or batched with writes
        of other threads; raise what refused it. `record`, `suspend` and `finish` call it."""

    def record(
        self, lease: Lease, entries: Sequence[JournalEntry], *, start_runs: Sequence[NewRun] = ()
    ) -> None:
        """Write journal entries (and start `start_runs`); the run keeps running."""
        self.submit(Write(lease, entries, start_runs=start_runs))

    def suspend(
        self,
        lease: Lease,
        entries: Sequence[JournalEntry],
        *,
        wake_at: float | None,
        wake_on_signals: Sequence[str],
        start_runs: Sequence[NewRun] = (),
    ) -> None:
        """Write entries and suspend, releasing the lease.

        The run becomes due at `wake_at`, or at once when a pending signal named
        in `wake_on_signals` is already there (a signal sent while it ran).
        """
        outcome = WriteOutcome.SUSPENDED
        self.submit(
            Write(
                lease,
                entries,
                outcome,
                wake_at=wake_at,
                wake_on_signals=wake_on_signals,
                start_runs=start_runs,
            )
        )

    def finish(
        self,
        lease: Lease,
        entries: Sequence[JournalEntry],
        *,
        status: str,
        output_json: str | None,
        error_json: str | None,
        start_runs: Sequence[NewRun] = (),
        continued_to: str | None = None,
        parent_run_id: str | None = None,
    ) -> None:
        """Write entries and end the run `completed` or `failed` (or `cancelled`: a run
        that unwound after cancel was asked, whose children go with it as `cancel_run`
        takes them); tell its parent, if any.

        `continued_to` names the run, among `start_runs`, that continues this one."""
        if status not in ENDING_OUTCOMES:
            raise ValueError(f"a run finishes completed, failed or cancelled, not {status!r}")
        outcome = WriteOutcome(status)
        self.submit(
            Write(
                lease,
                entries,
                outcome,
                output_json=output_json,
                error_json=error_json,
                start_runs=start_runs,
                continued_to=continued_to,
                parent_run_id=parent_run_id,
            )
        )

    @abstractmethod
    def release(self, lease: Lease, *, delay: float) -> None:
        """Give the run back, `suspended`, due again after `delay` seconds.

        Needs only the lease's token and nonce, not an unexpired lease: handing
        back a run this node cannot execute is always safe.
        """

    # -- versions registry -----------------------------------------------------------
    @abstractmethod
    def register_versions(
        self,
        instance: str,
        node: str,
        versions: Sequence[VersionRecord],
        *,
        dispatching: bool = True,
    ) -> int:
        """Upsert versions (keeping a source already stored when none is given) and this
        node's hold on them; set `stuck_unknown_version` runs of these versions back to
        `suspended` and due. Returns how many."""

    @abstractmethod
    def version_source(self, workflow: str, version_hash: str) -> str | None:
        """The class source the registry keeps for a version, if any."""

    @abstractmethod
    def version_usage(self) -> list[VersionUsage]:
        """Runs per version and status, with the oldest live run: one grouped read."""

    @abstractmethod
    def patch_usage(self) -> list[PatchUsage]:
        """Per workflow and patch id any of its runs recorded: live runs with and without."""

    @abstractmethod
    def delete_versions(self, versions: Versions) -> list[VersionKey]:
        """Remove registry rows (and their holders) of versions no live run is pinned to;
        returns those removed. A version a live run needs is left, whatever was asked."""

    @abstractmethod
    def repin_run(
        self,
        run_id: str,
        *,
        from_hash: str,
        to_hash: str,
        to_version: int,
        lease_token: int,
        updated_at: float,
    ) -> bool:
        """Pin a suspended run to another version of its workflow, only if it is still
        as it was read (same hash, status, lease token and updated_at): a concurrent
        claim, signal or cancel wins. Returns whether it was re-pinned."""

    @abstractmethod
    def unregister_node(self, instance: str, node: str) -> None:
        """Forget this node: the versions it has loaded and its heartbeat (clean shutdown)."""

    # -- nodes, health, retention ------------------------------------------------------
    @abstractmethod
    def heartbeat_node(
        self,
        instance: str,
        node: str,
        *,
        hostname: str,
        pid: int,
        dispatching: bool,
        concurrency: int,
        in_flight: int,
        listener: str,
    ) -> None:
        """Record that this node is alive, on the database clock (the first beat also
        sets `started_at`). Nodes silent for a week are forgotten by the same call."""

    @abstractmethod
    def list_nodes(self) -> list[NodeRecord]:
        """Every node that has beaten (and not unregistered), most recently seen first."""

    @abstractmethod
    def store_health(
        self, *, grace: float, overdue_after: float, alive_within: float, examples: int = 5
    ) -> StoreHealth:
        """Counts of what needs attention (see `StoreHealth`), on the database clock."""

    @abstractmethod
    def due_backlog(self) -> tuple[int, float | None]:
        """Runs due now that no node has claimed, and the oldest one's due time."""

    @abstractmethod
    def prune_runs(
        self,
        *,
        finished_before: float,
        statuses: Sequence[str],
        workflows: Sequence[str] | None = None,
        limit: int,
    ) -> int:
        """Delete up to `limit` runs that ended (in one of `statuses`, all terminal)
        before `finished_before`, with their journals and signals; returns how many.
        One short transaction that skips rows others hold: it never blocks claims."""

    @abstractmethod
    def count_prunable(
        self,
        *,
        finished_before: float,
        statuses: Sequence[str],
        workflows: Sequence[str] | None = None,
    ) -> int:
        """How many runs `prune_runs` would delete, all batches together."""

    @abstractmethod
    def list_versions(self) -> list[VersionRow]: ...
