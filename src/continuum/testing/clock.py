"""The environment's virtual clock: seconds since the epoch that move only when told to.

Everything in a `WorkflowEnvironment` reads this clock: the store (due times,
leases, when each journal row was written), and every attempt (`continuum.now()`,
timers, signal deadlines, retry times), through the attempt's harness. Time stands
still while a test runs; the environment moves it to the next due moment when
nothing else can happen, or when the test says so (`env.skip(seconds)`). So a run
that sleeps thirty days takes no longer to test than one that does not, and the
times it records are the same on every run of the test.
"""

from __future__ import annotations

import datetime as dt
import math

from continuum.errors import ConfigurationError

# Where a virtual clock starts unless told otherwise: a fixed moment, so that the
# histories a test records are the same every time it runs.
DEFAULT_START = dt.datetime(2025, 1, 1, tzinfo=dt.UTC)


def epoch_seconds(moment: dt.datetime | float, *, name: str) -> float:
    """`moment` as seconds since the epoch; a naive datetime is taken as UTC."""
    if isinstance(moment, dt.datetime):
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=dt.UTC)
        return moment.timestamp()
    if isinstance(moment, int | float) and not isinstance(moment, bool) and math.isfinite(moment):
        return float(moment)
    raise ConfigurationError(f"{name} takes a datetime or seconds since the epoch, not {moment!r}")


class VirtualClock:
    """A clock that stands still until advanced. Never goes back."""

    __slots__ = ("_now",)

    def __init__(self, start: float) -> None:
        self._now = start

    def now(self) -> float:
        return self._now

    def advance(self, seconds: float) -> None:
        if not seconds >= 0:  # also refuses NaN
            raise ConfigurationError(f"time only moves forward: cannot skip {seconds!r} seconds")
        self._now += seconds

    def advance_to(self, moment: float) -> None:
        """Move to `moment` if it is later than now."""
        self._now = max(self._now, moment)

    def datetime(self) -> dt.datetime:
        return dt.datetime.fromtimestamp(self._now, tz=dt.UTC)
