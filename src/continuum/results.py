"""Waiting for runs to end: what `Continuum.result()` does between reads.

Outcomes reach an instance two ways without reading the run: a run that ends
on this node is handed over by its dispatcher, and, on a backend that
notifies, a run that ends anywhere is announced with its outcome
(`[id, status, output, error]`, or `[id]` alone when that was too big to send).
So a caller reads the run once, then again only when an announcement could not
carry the outcome, when one may have been missed (the listener reconnected),
or when a poll interval passed without news. Without notifications it polls,
quickly at first, then every poll interval.

The waiter knows nothing of stores or dispatchers: the instance hands it the
callables it needs.
"""

from __future__ import annotations

import json
import threading
import time
from collections import Counter, OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from continuum import serialization
from continuum.errors import RunCancelled, RunFailed

# How many outcomes of settled runs are kept for callers that have yet to ask.
SETTLED_KEPT = 10_000
_FIRST_POLL = 0.002


@dataclass(frozen=True, slots=True)
class Settled:
    """How a run ended, as far as it is known without reading it."""

    status: str  # completed, failed or cancelled
    output_json: str | None = None
    error_json: str | None = None
    continued_to: str | None = None  # a completed run that continued as new


# A run known to have ended whose outcome was too big for its announcement.
_READ_IT = Settled("ended; read the run")


class ResultWaiter:
    def __init__(
        self,
        *,
        read: Callable[[str], Settled],
        held_here: Callable[[str], bool],
        notifies: bool,
        poll_interval: float,
    ) -> None:
        """`read(run_id)`: the run's status and outcome, from the store.
        `held_here(run_id)`: whether this node is running the run now (its outcome
        will be handed over). `notifies`: whether announcements arrive."""
        self._read = read
        self._held_here = held_here
        self._notifies = notifies
        self._poll_interval = poll_interval
        self._changed = threading.Condition()
        self._settled: OrderedDict[str, Settled] = OrderedDict()
        self._awaited: Counter[str] = Counter()  # run ids someone is waiting for now
        self._reconnects = 0

    # -- news ----------------------------------------------------------------------
    def settled(self, run_id: str, outcome: Settled | None) -> None:
        """A run ended here (`outcome`), or something happened that a waiter may care
        about (None: e.g. an attempt stopped without an outcome)."""
        with self._changed:
            if outcome is not None:
                self._settled[run_id] = outcome
                while len(self._settled) > SETTLED_KEPT:
                    self._settled.popitem(last=False)
            self._changed.notify_all()

    def announced(self, payload: str) -> None:
        """A notification that a run ended: [id, status, output, error], the same with
        the run that continues it, [id], or ""."""
        if not payload:  # the listener reconnected: anything may have ended meanwhile
            with self._changed:
                self._reconnects += 1
                self._changed.notify_all()
            return
        try:
            fields = json.loads(payload)
        except ValueError:
            fields = None
        if not (isinstance(fields, list) and fields and isinstance(fields[0], str)):
            fields = [payload]  # a bare run id, as nodes on older code send during an upgrade
        run_id = fields[0]
        with self._changed:
            if run_id not in self._awaited:
                return  # kept only for a caller waiting now: others read the run
        if len(fields) in (4, 5) and all(f is None or isinstance(f, str) for f in fields):
            self.settled(run_id, Settled(*fields[1:]))
        else:
            self.settled(run_id, _READ_IT)

    # -- waiting -------------------------------------------------------------------
    def wait(self, run_id: str, timeout: float | None) -> Any:
        """The run's output; RunFailed, RunCancelled, or TimeoutError after `timeout`.
        A run that continued as new is followed to the end of its chain."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            with self._changed:
                self._awaited[run_id] += 1
            try:
                known = self._wait(run_id, deadline, timeout)
            finally:
                with self._changed:
                    self._awaited[run_id] -= 1
                    if not self._awaited[run_id]:
                        del self._awaited[run_id]
            if known.status == "completed" and known.continued_to is not None:
                run_id = known.continued_to
                continue
            if known.status == "completed":
                return serialization.loads(known.output_json)
            if known.status == "failed":
                raise RunFailed(run_id, serialization.loads(known.error_json) or {})
            raise RunCancelled(run_id)

    def _wait(self, run_id: str, deadline: float | None, timeout: float | None) -> Settled:
        """How the run ended, once it has; TimeoutError at the deadline."""
        last_read: float | None = None
        reconnects = -1
        pause = _FIRST_POLL
        while True:
            now = time.monotonic()
            left = None if deadline is None else deadline - now
            here = self._held_here(run_id)
            with self._changed:
                known = self._settled.get(run_id)
                if known is _READ_IT:
                    del self._settled[run_id]
                    known = None
                elif known is None and (left is None or left > 0):
                    pause_for = self._news_wait(here, reconnects, now, last_read)
                    if pause_for is not None:
                        self._changed.wait(pause_for if left is None else min(left, pause_for))
                        continue
                reconnects = self._reconnects
            if known is None:
                known = self._read(run_id)
                last_read = time.monotonic()
            if known.status in ("completed", "failed", "cancelled"):
                return known
            if left is not None and left <= 0:
                raise TimeoutError(
                    f"run {run_id} did not finish within {timeout}s (status {known.status}); "
                    "it goes on: call result() again later"
                )
            if not self._notifies:
                with self._changed:
                    self._changed.wait(pause if left is None else min(pause, left))
                pause = min(pause * 2, self._poll_interval)

    def _news_wait(
        self, here: bool, reconnects: int, now: float, last_read: float | None
    ) -> float | None:
        """How long to wait for news before reading the run; None: read it now."""
        if here:
            return self._poll_interval  # its outcome will be handed over here
        if (
            self._notifies
            and reconnects == self._reconnects
            and last_read is not None
            and now - last_read < self._poll_interval
        ):
            return self._poll_interval - (now - last_read)  # until news, or time to look
        return None
