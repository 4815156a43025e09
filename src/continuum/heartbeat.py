"""A node's heartbeat: every `lease_seconds / 3` it keeps the node's claims alive.

Each beat refreshes the versions registry, renews every lease the node holds in
one statement (an attempt whose lease was lost is told to stop at its next safe
point, and `run.lease_lost` fires), and writes the node's row in the nodes table
(what `continuum health` and the observer show). Its thread does nothing else, so
no slow work can delay a renewal past a lease's end.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
from collections.abc import Callable, Mapping, Sequence
from typing import Any, NamedTuple

from continuum import telemetry
from continuum.errors import ContinuumError
from continuum.runtime.lease_guard import LeaseGuard, lease_clock
from continuum.store.base import Lease, Store

logger = logging.getLogger("continuum.dispatcher")


class Held(NamedTuple):
    """A lease an attempt of this node holds, its guard, and its events' metadata."""

    lease: Lease
    guard: LeaseGuard
    metadata: Mapping[str, Any]


class Heartbeat:
    def __init__(
        self,
        store: Store,
        *,
        metadata: Mapping[str, str],
        lease_seconds: float,
        concurrency: int,
        held: Callable[[], Sequence[Held]],
        refresh_versions: Callable[[], None],
        listener_state: Callable[[], str],
    ) -> None:
        self._store = store
        self._metadata = metadata
        self._lease_seconds = lease_seconds
        self._concurrency = concurrency
        self._held = held
        self._refresh_versions = refresh_versions
        self._listener_state = listener_state

    def loop(self, stopping: threading.Event) -> None:
        self._beat_node(0)  # a node shows in the nodes table as soon as it starts
        while not stopping.wait(self._lease_seconds / 3):
            started = lease_clock()
            try:
                self._refresh_versions()
            except ContinuumError as exc:
                logger.warning("heartbeat: could not refresh the versions registry: %s", exc)
            leases, lost = self._renew_leases()
            self._beat_node(leases - lost)
            telemetry.execute(
                ("continuum", "dispatcher", "heartbeat"),
                {"duration": lease_clock() - started, "leases": leases, "lost": lost},
                self._metadata,
            )

    def _renew_leases(self) -> tuple[int, int]:
        """Renew every lease held; stop the attempts whose lease was lost. Returns
        how many leases were held and how many of them were lost."""
        held = self._held()
        if not held:
            return 0, 0
        requested_at = lease_clock()
        try:
            lost = set(self._store.renew_leases([h.lease for h in held], self._lease_seconds))
        except ContinuumError as exc:
            logger.warning("heartbeat: could not renew leases: %s", exc)
            return len(held), 0
        taken = 0
        for lease, guard, metadata in held:
            if lease not in lost:
                guard.renewed(requested_at)
            elif not guard.ending:  # else its last write gave it up (or its outcome says)
                taken += 1
                guard.lost.set()
                telemetry.execute(("continuum", "run", "lease_lost"), {"count": 1}, metadata)
                logger.warning(
                    "run %s: lease lost (expired, taken over or cancelled)", lease.run_id
                )
        return len(held), taken

    def _beat_node(self, in_flight: int) -> None:
        try:
            self._store.heartbeat_node(
                self._metadata["instance"],
                self._metadata["node"],
                hostname=socket.gethostname(),
                pid=os.getpid(),
                dispatching=True,
                concurrency=self._concurrency,
                in_flight=in_flight,
                listener=self._listener_state(),
            )
        except ContinuumError as exc:
            logger.warning("heartbeat: could not record this node's heartbeat: %s", exc)
