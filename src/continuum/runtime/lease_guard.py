"""Whether an attempt may still act for its run, judged by this node alone.

The database decides whether a write is accepted: every write is fenced by
the lease. But an activity's side effect happens before its result is written,
so before it invokes one (or runs any other code for the run that the engine
controls) an attempt must also know that its lease is still valid. The
heartbeat thread's verdict can come too late for that: after a stall (a
stopped process, a long pause of the host), the worker thread runs again
before the heartbeat does, and would invoke the next activity of a run that
another node has taken over and moved past meanwhile.

So each attempt also keeps a local deadline: the lease's length counted from
the moment just before the request that granted or renewed it was sent (the
database started counting later, so this deadline always falls first), less a
safety margin. It is read on a clock that keeps counting while the host is
suspended (CLOCK_BOOTTIME on Linux; the monotonic clock elsewhere), never on
the wall clock, which may jump.

A stall that lands inside an activity, after this check, cannot be caught by
any check: the activity then runs to its end on the stalled node while another
node runs it again. Activities are at-least-once; see docs/operating.md for the
idempotency keys that make that safe.
"""

from __future__ import annotations

import threading
import time

# Share of the lease kept back from the local deadline: room for the heartbeat
# to be late and for clocks that run at slightly different rates.
SAFETY_MARGIN = 0.1

if hasattr(time, "CLOCK_BOOTTIME"):

    def lease_clock() -> float:
        """Seconds on a clock that never jumps and counts through host suspension."""
        return time.clock_gettime(time.CLOCK_BOOTTIME)

else:  # pragma: no cover - not Linux
    lease_clock = time.monotonic


class LeaseGuard:
    """One attempt's view of its lease: lost (the heartbeat was refused) or expired locally."""

    __slots__ = ("_lease_seconds", "ending", "lost", "valid_until")

    def __init__(self, requested_at: float, lease_seconds: float) -> None:
        """`requested_at`: `lease_clock()` read just before the claim was sent."""
        self._lease_seconds = lease_seconds
        self.valid_until = requested_at + lease_seconds * (1 - SAFETY_MARGIN)
        self.lost = threading.Event()
        # Set just before the attempt's last write, which gives the lease up: a
        # renewal that races it finds the lease gone, and that is no loss to report.
        self.ending = False

    def renewed(self, requested_at: float) -> None:
        """The database extended the lease by a request sent at `requested_at`."""
        self.valid_until = max(
            self.valid_until, requested_at + self._lease_seconds * (1 - SAFETY_MARGIN)
        )

    def holds(self) -> bool:
        """Whether the attempt may still act: not lost, and not past its local deadline."""
        return not self.lost.is_set() and lease_clock() < self.valid_until

    @classmethod
    def unbounded(cls) -> LeaseGuard:
        """A guard that only the `lost` event ends (tools that hold no real lease)."""
        return cls(requested_at=float("inf"), lease_seconds=0.0)
