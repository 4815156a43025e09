"""The instruments of the meter `continuum`, and the due-backlog gauges.

Counters are kept in the process and reported by observable counters: adding is a
dict update under a lock, far cheaper than a synchronous counter's measurement,
which goes through the SDK's whole pipeline on the worker's thread.
"""

from __future__ import annotations

import logging
import threading
import time
import weakref
from collections.abc import Callable, Iterable, Mapping
from typing import TYPE_CHECKING, Any

from opentelemetry import metrics
from opentelemetry.metrics import CallbackOptions, Observation

if TYPE_CHECKING:
    from continuum.instance import Continuum

logger = logging.getLogger("continuum.otel")

# Seconds: from a fast activity to a timer that fires an hour late.
SECONDS_BUCKETS = (
    0.001,
    0.0025,
    0.005,
    0.01,
    0.025,
    0.05,
    0.1,
    0.25,
    0.5,
    1.0,
    2.5,
    5.0,
    10.0,
    30.0,
    60.0,
    300.0,
    900.0,
    3600.0,
)


class Metrics:
    """The instruments one bridge records to, and its share of the backlog gauges."""

    def __init__(self, meter: metrics.Meter, app: Continuum) -> None:
        self.app: Continuum | None = app
        self.instance = app.name
        self.active = True
        self._meter = meter
        # Each attribute set is made once and kept (their number is the metric's
        # cardinality anyway): the SDK then hashes the same small dicts every time.
        self._labels: dict[tuple[str, ...], Mapping[str, str]] = {}
        self._backlog_lock = threading.Lock()
        self._backlog: tuple[tuple[int, float | None], set[str]] | None = None
        shared = self._shared = _Shared.of(meter)
        tally = shared.tally
        self.runs_started = tally("continuum.runs.started", "{run}", "Runs started (app.start).")
        self.runs_finished = tally(
            "continuum.runs.finished",
            "{run}",
            "Runs that ended, by outcome: completed, failed or cancelled.",
        )
        self.attempts = tally(
            "continuum.run.attempts",
            "{attempt}",
            "Attempts of runs, by how they ended (completed, failed, suspended, "
            "nondeterminism, released, interrupted); their durations are the run spans.",
        )
        self.activity_retries = tally(
            "continuum.activity.retries",
            "{retry}",
            "Failed activity tries that will be tried again.",
        )
        self.signals_sent = tally(
            "continuum.signals.sent", "{signal}", "Signals sent, by outcome (sent, duplicate)."
        )
        self.lease_lost = tally(
            "continuum.run.lease_lost",
            "{run}",
            "Runs whose lease this node lost while running them.",
        )
        self.unknown_version = tally(
            "continuum.run.unknown_version",
            "{run}",
            "Due runs handed on because this node lacks their version.",
        )
        self.activity_duration = self._histogram(
            "continuum.activity.duration",
            "Activity invocations (each try), by activity and outcome (completed, failed).",
        )
        self.claim_latency = self._histogram(
            "continuum.run.claim.latency", "How long a run had been due when a node claimed it."
        )
        self.claim_duration = self._histogram(
            "continuum.dispatcher.claim.duration", "Claim queries of this node's dispatcher."
        )
        self.timer_lateness = self._histogram(
            "continuum.timer.lateness", "How long after its due time a timer was passed."
        )
        self.signal_wait = self._histogram(
            "continuum.signal.wait",
            "How long runs waited for signals, by signal and outcome (consumed, timed_out).",
        )
        shared.add(self)

    def _histogram(self, name: str, description: str) -> metrics.Histogram:
        return self._meter.create_histogram(
            name,
            unit="s",
            description=description,
            explicit_bucket_boundaries_advisory=SECONDS_BUCKETS,
        )

    def labels(self, *pairs: str) -> Mapping[str, str]:
        """Metric attributes for ("key", value, ...) pairs."""
        found = self._labels.get(pairs)
        if found is None:
            found = self._labels[pairs] = {
                "continuum.instance": self.instance,
                **{
                    f"continuum.{key}": value
                    for key, value in zip(pairs[::2], pairs[1::2], strict=True)
                },
            }
        return found

    def close(self) -> None:
        self.active = False
        self.app = None
        self._shared.discard(self)

    def backlog(self, gauge: str) -> tuple[int, float | None] | None:
        """app.due_backlog(), asked once per collection for both gauges: the first
        gauge observed asks, the other takes the same answer."""
        app = self.app
        if not self.active or app is None or not app.booted:
            return None
        with self._backlog_lock:
            cached = self._backlog
            if cached is not None and gauge not in cached[1]:
                cached[1].add(gauge)
                return cached[0]
            try:
                value = app.due_backlog()
            except Exception as exc:
                logger.debug("continuum.otel: due_backlog() failed: %s", exc)
                self._backlog = None
                return None
            self._backlog = (value, {gauge})
            return value


class Tally:
    """A monotonic total per attribute set, reported by an observable counter."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        # By the identity of a labels mapping (held here, so the id stays its own).
        self._totals: dict[int, list[Any]] = {}

    def add(self, amount: int, labels: Mapping[str, str]) -> None:
        with self._lock:
            entry = self._totals.get(id(labels))
            if entry is None:
                self._totals[id(labels)] = [labels, amount]
            else:
                entry[1] += amount

    def observe(self, options: CallbackOptions) -> Iterable[Observation]:
        with self._lock:
            entries = [(labels, total) for labels, total in self._totals.values()]
        # Bridges of several instances may have made equal labels: one point each.
        totals: dict[frozenset[tuple[str, str]], list[Any]] = {}
        for labels, total in entries:
            key = frozenset(labels.items())
            if key in totals:
                totals[key][1] += total
            else:
                totals[key] = [labels, total]
        return [Observation(total, labels) for labels, total in totals.values()]


class _Shared:
    """The asynchronous instruments of one meter, made once and shared by every bridge
    that uses it: the backlog gauges, which observe every live bridge, and the counters.

    OpenTelemetry keeps the callbacks of the first registration of an instrument name
    on a meter and drops later ones, so they cannot be made per bridge (several
    instances in a process, or instrumenting again after uninstrument). Counter totals
    outlive a bridge, so a counter never goes back when an instance is instrumented again.
    """

    def __init__(self, meter: metrics.Meter) -> None:
        self._meter = meter
        self._members: list[Metrics] = []
        self._tallies: dict[str, Tally] = {}
        meter.create_observable_gauge(
            "continuum.runs.due",
            callbacks=[self._due],
            unit="{run}",
            description="Runs due now that no node has claimed yet (the whole database).",
        )
        meter.create_observable_gauge(
            "continuum.runs.due.oldest_age",
            callbacks=[self._oldest],
            unit="s",
            description="How long the oldest unclaimed due run has been due (0 when none).",
        )

    @classmethod
    def of(cls, meter: metrics.Meter) -> _Shared:
        with _shared_lock:
            shared = _shared_by_meter.get(meter)
            if shared is None:
                shared = _shared_by_meter[meter] = cls(meter)
            return shared

    def tally(self, name: str, unit: str, description: str) -> Tally:
        with _shared_lock:
            found = self._tallies.get(name)
            if found is None:
                found = self._tallies[name] = Tally()
                self._meter.create_observable_counter(
                    name, callbacks=[found.observe], unit=unit, description=description
                )
            return found

    def add(self, member: Metrics) -> None:
        with _shared_lock:
            self._members = [*self._members, member]

    def discard(self, member: Metrics) -> None:
        with _shared_lock:
            self._members = [m for m in self._members if m is not member]

    def _observe(
        self, gauge: str, value: Callable[[tuple[int, float | None]], float]
    ) -> Iterable[Observation]:
        # Instances on one database report the same backlog: one point per instance.
        seen: set[str] = set()
        observations = []
        for member in self._members:
            if member.instance in seen:
                continue
            backlog = member.backlog(gauge)
            if backlog is not None:
                seen.add(member.instance)
                observations.append(Observation(value(backlog), member.labels()))
        return observations

    def _due(self, options: CallbackOptions) -> Iterable[Observation]:
        return self._observe("due", lambda backlog: backlog[0])

    def _oldest(self, options: CallbackOptions) -> Iterable[Observation]:
        return self._observe(
            "oldest",
            lambda backlog: 0.0 if backlog[1] is None else max(0.0, time.time() - backlog[1]),
        )


_shared_lock = threading.Lock()
_shared_by_meter: weakref.WeakKeyDictionary[Any, _Shared] = weakref.WeakKeyDictionary()
