"""Group commit: concurrent writers share one transaction, and so one disk flush.

Every attempt write is durable before the call returns, and a durable commit
costs a flush of the database's log, plus, on a server, a round trip. Paid
once per write, that bounds a node far below what its database can do. Here a
writer that finds a batch free (fewer than `max_in_flight` being written) writes
its own at once. Writers arriving while every batch is taken queue up; when a
batch commits, the first of them leads the next, with everything queued behind
it, in one transaction. A writer alone never waits for anyone.

A policy a backend uses, not part of the Store interface: a backend that
wants it holds one `GroupCommit` over its `apply_writes` and routes
`Store.submit` (so `record`, `suspend` and `finish`) through it.

Each write keeps its own outcome: the backend fences every write by its own
lease inside the shared transaction and reports per write. If the batch as a
whole fails for a reason other than the database being unreachable (a value one
write carries that the database rejects, a deadlock), its writes are tried again
one by one, so one bad write cannot fail the others.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from typing import Generic, TypeVar

from continuum import telemetry
from continuum.errors import DatabaseUnavailable, StoreError

T = TypeVar("T")

# Enough to amortise a flush over many writers; small enough that one batch's
# statement stays cheap to build and to plan.
MAX_BATCH = 64
_WRITE_BATCH = ("continuum", "store", "write_batch")


class _Slot(Generic[T]):
    __slots__ = ("batch", "done", "error", "item")

    def __init__(self, item: T) -> None:
        self.item = item
        self.error: BaseException | None = None
        self.batch: list[_Slot[T]] | None = None  # handed over when this slot is to lead
        # Held until the slot is settled or handed a batch: a bare lock is the
        # cheapest one-shot signal between threads, and every write makes one.
        self.done = threading.Lock()
        self.done.acquire()


class GroupCommit(Generic[T]):
    """Funnel `submit` calls from many threads into batched calls of `apply`.

    `apply(items)` writes the items in one transaction and returns, for each,
    None (written) or the exception that refused that item alone. Up to
    `max_in_flight` batches are written at once (on connections of their own),
    so a batch forms while the one before it waits for the disk.
    """

    def __init__(
        self,
        apply: Callable[[Sequence[T]], Sequence[BaseException | None]],
        *,
        max_batch: int = MAX_BATCH,
        max_in_flight: int = 1,
        backend: str = "",
    ) -> None:
        self._apply = apply
        self._metadata = {"backend": backend}  # of the store.write_batch event
        self._max_batch = max_batch
        self._max_in_flight = max_in_flight
        self._lock = threading.Lock()
        self._queue: list[_Slot[T]] = []
        self._leaders = 0  # batches being written; below the limit the queue is empty

    def submit(self, item: T) -> None:
        """Write `item` durably (alone or with others); raise what refused it."""
        slot = _Slot(item)
        with self._lock:
            if self._leaders < self._max_in_flight:
                self._leaders += 1
                slot.batch = [slot]
            else:
                self._queue.append(slot)
        if slot.batch is None:
            slot.done.acquire()  # released once this write is settled, or is to lead
        if slot.batch is not None:
            self._lead(slot.batch)
        if slot.error is not None:
            raise slot.error

    def _lead(self, batch: list[_Slot[T]]) -> None:
        try:
            self._write(batch)
        finally:
            successor = None
            with self._lock:
                if self._queue:
                    successor = self._queue[0]
                    successor.batch = self._queue[: self._max_batch]
                    del self._queue[: self._max_batch]
                else:
                    self._leaders -= 1
            for slot in batch:  # the leader's own slot too: nobody waits on it, no harm
                slot.done.release()
            if successor is not None:
                successor.done.release()

    def _write(self, batch: list[_Slot[T]]) -> None:
        started = time.perf_counter()
        try:
            outcomes = self._apply([slot.item for slot in batch])
        except DatabaseUnavailable as error:
            for slot in batch:  # an exception of its own for each thread that raises it
                slot.error = DatabaseUnavailable(str(error))
                slot.error.__cause__ = error
            return
        except Exception as error:
            if len(batch) == 1:
                batch[0].error = error
                return
            for slot in batch:  # nothing of the batch was kept: each on its own now
                self._write([slot])
            return
        except BaseException as error:  # the leader is being torn down mid-write
            for slot in batch:
                slot.error = StoreError(
                    f"the write was interrupted ({error!r}); it may not have landed"
                )
            raise
        if telemetry.wanted(_WRITE_BATCH):
            took = {"size": len(batch), "duration": time.perf_counter() - started}
            telemetry.execute(_WRITE_BATCH, took, self._metadata)
        for slot, outcome in zip(batch, outcomes, strict=True):
            slot.error = outcome
