"""Retention: finished runs of workflows defined with `retention=` are deleted.

    class Report(continuum.Workflow, retention=timedelta(days=30)): ...

Each dispatching node looks every `PRUNE_EVERY` seconds, on a thread of its own
(never the heartbeat's, whose lease renewals must not wait), and deletes what has
expired in small batches (each its own short transaction, skipping rows other
transactions hold), so pruning never holds up claims. Several nodes pruning at
once share the work. When loaded versions of one workflow disagree, the longest
retention wins: deleting less is the mistake that can be undone.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence

from continuum import telemetry
from continuum.errors import ContinuumError
from continuum.store.base import TERMINAL_STATUSES, Store
from continuum.workflow import entrypoints

logger = logging.getLogger("continuum.retention")

PRUNE_EVERY = 60.0
BATCH = 500
# Batches per workflow per look: a large backlog is worked off over several looks.
MAX_BATCHES = 20
_FINISHED = tuple(sorted(TERMINAL_STATUSES))


def loaded_policies() -> dict[str, float]:
    """Retention in seconds per workflow, from the classes this process has loaded."""
    policies: dict[str, float] = {}
    for entrypoint in entrypoints.versions():
        if entrypoint.retention is not None:
            kept = policies.get(entrypoint.workflow, 0.0)
            policies[entrypoint.workflow] = max(kept, entrypoint.retention)
    return policies


class Retention:
    def __init__(
        self,
        store: Store,
        *,
        metadata: Mapping[str, str],
        policies: Callable[[], Mapping[str, float]] = loaded_policies,
        every: float | None = None,
    ) -> None:
        self._store = store
        self._metadata = metadata
        self._policies = policies
        self._every = PRUNE_EVERY if every is None else every

    def loop(self, stopping: threading.Event) -> None:
        """Prune, then wait `every` seconds, until `stopping` is set."""
        while not stopping.is_set():
            try:
                self.prune()
            except Exception:
                logger.exception("retention: unexpected error; trying again later")
            stopping.wait(self._every)

    def prune(self) -> int:
        """Delete what has expired now; returns how many runs were deleted."""
        deleted = 0
        for workflow, seconds in self._policies().items():
            try:
                deleted += self._prune(workflow, seconds)
            except ContinuumError as exc:
                logger.warning("retention: could not prune runs of %s: %s", workflow, exc)
        return deleted

    def _prune(self, workflow: str, seconds: float) -> int:
        deleted = 0
        batches = prune_in_batches(
            self._store,
            finished_before=self._store.now() - seconds,
            statuses=_FINISHED,
            workflows=[workflow],
            batch=BATCH,
            max_batches=MAX_BATCHES,
        )
        for count, took in batches:
            deleted += count
            if count:
                telemetry.execute(
                    ("continuum", "dispatcher", "pruned"),
                    {"count": count, "duration": took},
                    {**self._metadata, "workflow": workflow},
                )
        if deleted:
            logger.info("retention: deleted %d finished run(s) of %s", deleted, workflow)
        return deleted


def prune_in_batches(
    store: Store,
    *,
    finished_before: float,
    statuses: Sequence[str],
    workflows: Sequence[str] | None,
    batch: int,
    max_batches: int | None = None,
) -> Iterator[tuple[int, float]]:
    """Delete runs that ended before `finished_before`, `batch` per transaction, until a
    batch comes back short (or after `max_batches`); yields each batch's count and how
    long it took. Stopping early keeps what was deleted."""
    done = 0
    while max_batches is None or done < max_batches:
        started = time.perf_counter()
        count = store.prune_runs(
            finished_before=finished_before, statuses=statuses, workflows=workflows, limit=batch
        )
        done += 1
        yield count, time.perf_counter() - started
        if count < batch:
            return
