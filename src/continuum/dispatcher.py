"""The dispatcher: claims due runs, runs their attempts, keeps their leases alive.

Five kinds of thread per node:
- the claim loop leases due runs of the versions this node has loaded, never
  more than it has free workers (a node does not hoard runs another node could
  start now), and sleeps until a local wakeup, the next due time or the poll
  interval, whichever comes first. While busy it gathers freed workers (half
  of them, or 10 ms), so claims come in batches rather than one round trip each.
  A worker that frees up wakes it only while runs may be waiting (the last
  claim filled every worker, a start, signal or notification came since, or
  the next due time has passed);
- `concurrency` workers, each running one attempt at a time;
- the heartbeat (`heartbeat`), which renews every lease this node holds in one
  statement and stops attempts whose lease was lost. Each attempt also keeps its
  own local deadline (`LeaseGuard`), so a worker that runs again after a stall
  stops before the heartbeat has had a chance to learn the lease is gone;
- retention (`retention`), which deletes expired finished runs once a minute;
- the ticker (`ticker`), which fires the due ticks of schedules.

Runs of versions this node does not have are never claimed with the others,
so they cannot hold up runs it knows. Every `unknown_version_backoff` seconds
a probe claims a few of them, reports each with the `unknown_version` event and
hands it straight back, due, for a node that has the version.
"""

from __future__ import annotations

import logging
import math
import queue
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from continuum import telemetry
from continuum.errors import ContinuumError
from continuum.heartbeat import Heartbeat, Held
from continuum.retention import Retention
from continuum.runtime.attempt import Outcome, close_thread_loop, execute
from continuum.runtime.lease_guard import LeaseGuard, lease_clock
from continuum.store.base import Claim, Lease, NewRun, RunRecord, Store, VersionKey
from continuum.ticker import Ticker
from continuum.workflow import entrypoints

logger = logging.getLogger("continuum.dispatcher")

# After a failed store call the loop backs off this long before trying again.
_ERROR_BACKOFF = 0.5
# Smallest pause when a claim found nothing though something looked due
# (another node won the race), so the loop never spins.
_MIN_IDLE = 0.01
_PROBE_BATCH = 10
_GATHER_SECONDS = 0.01
_DUE_CACHE_SECONDS = 0.02
_CLAIM_EVENT = ("continuum", "dispatcher", "claim")
_CLAIMED_EVENT = ("continuum", "run", "claimed")


@dataclass(slots=True)
class _InFlight:
    claim: Claim
    guard: LeaseGuard
    metadata: Mapping[str, Any]  # of the attempt's telemetry events


class Dispatcher:
    def __init__(
        self,
        store: Store,
        *,
        instance: str,
        node: str,
        concurrency: int,
        poll_interval: float,
        lease_seconds: float,
        unknown_version_backoff: float,
        known_versions: Callable[[], Sequence[VersionKey]],
        on_outcome: Callable[[Outcome], None],
        refresh_versions: Callable[[], None],
        listener_state: Callable[[], str] = lambda: "off",
    ) -> None:
        """`known_versions()`: the versions this node can run (read on every claim).
        `on_outcome(outcome)`: an attempt ended. `refresh_versions()`: keep this
        node's versions current in the durable registry (called every heartbeat).
        `listener_state()`: what the heartbeat writes about the notification listener."""
        self._store = store
        self._instance = instance
        self._node = node
        self._concurrency = concurrency
        self._poll_interval = poll_interval
        self._lease_seconds = lease_seconds
        self._probe_every = unknown_version_backoff
        self._known_versions = known_versions
        self._on_outcome = on_outcome
        self._retention = Retention(store, metadata=self.metadata)
        self.ticker = Ticker(
            store,
            metadata=self.metadata,
            known_versions=known_versions,
            poll_interval=poll_interval,
            on_fired=self.wake,
        )
        self._heartbeat = Heartbeat(
            store,
            metadata=self.metadata,
            lease_seconds=lease_seconds,
            concurrency=concurrency,
            held=self._held,
            refresh_versions=refresh_versions,
            listener_state=listener_state,
        )
        self._wake = threading.Event()
        self._stopping = threading.Event()
        self._lock = threading.Lock()
        self._inflight: dict[str, _InFlight] = {}
        self._queue: queue.SimpleQueue[_InFlight | None] = queue.SimpleQueue()
        self._threads: list[threading.Thread] = []
        self._next_probe = 0.0
        self._reserved = 0
        # While busy, claims wait until this many workers are free, or _GATHER_SECONDS.
        self._batch = max(1, concurrency // 2)
        self._due_cache: tuple[float, float | None] = (-1.0, None)
        self._last_full = 0.0
        # Whether runs may be waiting for a free worker: the last claim filled every
        # free worker, or something was started, signalled or handed back since.
        # Only then is a worker that frees up a reason to claim again: on a node
        # whose runs are started locally and leased at once, claims after every
        # attempt would nearly all come back empty.
        self._maybe_due = True
        # When the next run becomes due (monotonic clock), as last looked up: a timer
        # that fires while every worker is busy is claimed as soon as one frees.
        self._due_at = 0.0

    @property
    def metadata(self) -> dict[str, str]:
        return {"instance": self._instance, "node": self._node}

    # -- lifecycle -----------------------------------------------------------------
    def start(self) -> None:
        name = f"continuum[{self._instance}]"
        self._threads = [
            threading.Thread(target=self._claim_loop, name=f"{name} claims", daemon=True),
            threading.Thread(
                target=self._heartbeat.loop,
                args=(self._stopping,),
                name=f"{name} heartbeat",
                daemon=True,
            ),
            threading.Thread(
                target=self._retention.loop,
                args=(self._stopping,),
                name=f"{name} retention",
                daemon=True,
            ),
            threading.Thread(
                target=self.ticker.loop, args=(self._stopping,), name=f"{name} ticker", daemon=True
            ),
        ] + [
            threading.Thread(target=self._worker, name=f"{name} worker {i}", daemon=True)
            for i in range(self._concurrency)
        ]
        for thread in self._threads:
            thread.start()

    def stop(self, timeout: float) -> bool:
        """Stop claiming; attempts stop at their next safe point and hand their runs back.

        Returns False when some attempt was still busy (inside a long activity)
        at the deadline; its lease then simply expires.
        """
        self._stopping.set()
        self._wake.set()
        self.ticker.wake()
        for _ in range(self._concurrency):
            self._queue.put(None)
        deadline = time.monotonic() + timeout
        for thread in self._threads:
            thread.join(max(0.0, deadline - time.monotonic()))
        return not any(thread.is_alive() for thread in self._threads)

    def wake(self) -> None:
        """Look for due runs now (a local start or signal, a notification)."""
        self._set_maybe_due(True)
        self._wake.set()

    def start_here(self, new: NewRun) -> tuple[RunRecord, bool]:
        """Insert a new run; if a worker is free, leased to this node and run at once.

        A node that runs what it starts saves the claim round trip and the
        notification. When every worker is busy (or the node is stopping) the
        run is inserted due, for whichever node claims it first. Returns the
        run's record and whether it was created (False: the id existed).
        """
        with self._lock:
            reserved = not self._stopping.is_set() and self._free() > 0
            if reserved:
                self._reserved += 1
        requested_at = lease_clock()
        try:
            record, created = self._store.create_run(
                new,
                lease_to=self._node if reserved else None,
                lease_seconds=self._lease_seconds,
            )
        except BaseException:
            if reserved:
                self._unreserve()
            raise
        if reserved and created:
            claim = Claim(record, Lease.of(record), db_now=record.updated_at, fresh=True)
            self._dispatch(claim, requested_at, reserved=True)
        elif reserved:
            self._unreserve()
        elif created:
            self.wake()
        return record, created

    def _unreserve(self) -> None:
        with self._lock:
            self._reserved -= 1
        self._worker_freed()

    def _set_maybe_due(self, value: bool) -> None:
        with self._lock:  # written by the claim loop, workers, and callers of wake()
            self._maybe_due = value

    def _worker_freed(self) -> None:
        """Claim again only if runs may be waiting for this worker."""
        if self._maybe_due or time.monotonic() >= self._due_at:
            self._wake.set()

    def _free(self) -> int:
        """Workers with nothing to do: what a locally started run may take at once."""
        return self._concurrency - len(self._inflight) - self._reserved

    def alive(self) -> bool:
        """Whether every thread of this dispatcher is running (and it is not stopping)."""
        return not self._stopping.is_set() and all(t.is_alive() for t in self._threads)

    @property
    def in_flight(self) -> int:
        return len(self._inflight)

    def _held(self) -> list[Held]:
        with self._lock:
            return [Held(i.claim.lease, i.guard, i.metadata) for i in self._inflight.values()]

    def holds(self, run_id: str) -> bool:
        """Whether this node is running (or about to run) the run now."""
        return run_id in self._inflight

    # -- claim loop ------------------------------------------------------------------
    def _claim_loop(self) -> None:
        while not self._stopping.is_set():
            try:
                wait = self._claim_once()
            except ContinuumError as exc:
                logger.warning("dispatcher: store call failed, retrying: %s", exc)
                wait = _ERROR_BACKOFF
            except Exception:
                logger.exception("dispatcher: unexpected error, retrying")
                wait = _ERROR_BACKOFF
            if wait > 0:
                self._wake.wait(wait)
            self._wake.clear()

    def _claim_once(self) -> float:
        """Claim what fits; return how long to sleep before looking again."""
        now = time.monotonic()
        if now >= self._next_probe:
            self._next_probe = now + self._probe_every
            self._probe_unknown()
        versions = self._known_versions()
        free = self._free()
        if 0 < free < self._batch and self._inflight:
            gathering = self._last_full + _GATHER_SECONDS - time.monotonic()
            if gathering > 0:
                return gathering  # busy: let a few more workers free up first
        if free > 0 and versions:
            self._set_maybe_due(False)  # before the claim: a wake() meanwhile sets it again
            requested_at = lease_clock()
            claims = self._store.claim_runs(
                self._node,
                limit=free,
                lease_seconds=self._lease_seconds,
                versions=versions,
                known=True,
            )
            if telemetry.wanted(_CLAIM_EVENT):
                took = lease_clock() - requested_at
                measurements = {"duration": took, "count": len(claims), "limit": free}
                telemetry.execute(_CLAIM_EVENT, measurements, self.metadata)
            for claim in claims:
                self._dispatch(claim, requested_at)
            if len(claims) == free:
                self._set_maybe_due(True)
                self._last_full = time.monotonic()
                return 0.0  # there may be more: look again as soon as a worker frees
        due_in = self._next_due_in(versions)
        self._due_at = math.inf if due_in is None else time.monotonic() + due_in
        if free <= 0:
            return self._poll_interval  # all busy: a finishing attempt wakes us
        wait = self._poll_interval if due_in is None else min(self._poll_interval, due_in)
        until_probe = self._next_probe - time.monotonic()
        return max(_MIN_IDLE, min(wait, until_probe))

    def _next_due_in(self, versions: Sequence[VersionKey]) -> float | None:
        """Seconds to the next due run, asked of the database at most every _DUE_CACHE_SECONDS.

        Under load the loop comes here after nearly every claim; a cached answer only
        ages by the time elapsed, and a timer set meanwhile is seen at most that late.
        """
        now = time.monotonic()
        asked_at, due_in = self._due_cache
        if now - asked_at > _DUE_CACHE_SECONDS or not versions:
            due_in = self._store.next_due_in(versions) if versions else None
            asked_at = now
            self._due_cache = (asked_at, due_in)
        return None if due_in is None else due_in - (now - asked_at)

    def _dispatch(self, claim: Claim, requested_at: float, *, reserved: bool = False) -> None:
        run = claim.run
        metadata = {
            "run_id": run.run_id,
            "workflow": run.workflow,
            "version_hash": run.version_hash,
            **self.metadata,
            "attempt": claim.lease.token,
            "trace_context": run.trace_context,
        }
        if telemetry.wanted(_CLAIMED_EVENT):
            latency = 0.0 if claim.due_at is None else max(0.0, claim.db_now - claim.due_at)
            telemetry.execute(_CLAIMED_EVENT, {"latency": latency}, metadata)
        item = _InFlight(claim, LeaseGuard(requested_at, self._lease_seconds), metadata)
        with self._lock:  # the slot moves from reserved to in flight in one step
            if reserved:
                self._reserved -= 1
            self._inflight[claim.run.run_id] = item
        self._queue.put(item)

    def _probe_unknown(self) -> None:
        requested_at = lease_clock()
        claims = self._store.claim_runs(
            self._node,
            limit=_PROBE_BATCH,
            lease_seconds=self._lease_seconds,
            versions=self._known_versions(),
            known=False,
        )
        if not claims:
            return
        known = set(self._known_versions())  # a fresh look: a reload may have added one
        for claim in claims:
            run = claim.run
            if (run.workflow, run.version_hash) in known:
                self._dispatch(claim, requested_at)  # loaded since the probe query was built
                continue
            self._store.release(claim.lease, delay=0.0)
            telemetry.execute(
                ("continuum", "run", "unknown_version"),
                {"count": 1},
                {
                    "run_id": run.run_id,
                    "workflow": run.workflow,
                    "version_hash": run.version_hash,
                    **self.metadata,
                },
            )
            logger.warning(
                "run %s needs %s@%s, which is not loaded on node %s; left for a node that has it",
                run.run_id,
                run.workflow,
                run.version_hash,
                self._node,
            )

    # -- workers ---------------------------------------------------------------------
    def _worker(self) -> None:
        try:
            while (item := self._queue.get()) is not None:
                outcome = self._attempt(item)
                with self._lock:
                    # Only if it is still this attempt's: after a stall past its lease,
                    # this node may have claimed the run again for a newer attempt.
                    if self._inflight.get(item.claim.run.run_id) is item:
                        del self._inflight[item.claim.run.run_id]
                self._on_outcome(outcome)  # first: a caller may be waiting for it
                self._worker_freed()
        finally:
            close_thread_loop()

    def _attempt(self, item: _InFlight) -> Outcome:
        run = item.claim.run
        entrypoint = entrypoints.resolve(run.workflow, run.version_hash)
        try:
            if entrypoint is None:  # cannot happen for a known-version claim; be safe anyway
                self._store.release(item.claim.lease, delay=0.0)
                return Outcome(run.run_id, "released")
            return execute(
                self._store,
                item.claim,
                entrypoint,
                metadata=item.metadata,
                stopping=self._stopping,
                guard=item.guard,
            )
        except ContinuumError as exc:
            logger.warning("run %s: attempt could not reach the store: %s", run.run_id, exc)
            return Outcome(run.run_id, "interrupted")
        except Exception:
            logger.exception("run %s: attempt crashed; its lease will expire", run.run_id)
            return Outcome(run.run_id, "interrupted")
