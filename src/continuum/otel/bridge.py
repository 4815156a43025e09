"""The bridge of one instance: which telemetry event feeds which span and instrument.

Imported only by `continuum.otel.instrument()`; with carrier, spans and metrics,
the only modules of Continuum that import OpenTelemetry (the API; never the SDK).

Handlers run in the engine's threads, in the middle of attempts: each does the
least it can (whatever can be computed once is), and none of them may raise.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from opentelemetry import metrics, trace

from continuum import telemetry
from continuum.otel.carrier import Carrier
from continuum.otel.metrics import Metrics
from continuum.otel.spans import ATTEMPT_ENDS, Spans, attempt_end_details

if TYPE_CHECKING:
    from continuum.instance import Continuum

logger = logging.getLogger("continuum.otel")

SCOPE = "continuum"
VERSION = "0.1.0"

Handler = Callable[[Mapping[str, Any], Mapping[str, Any]], None]


class Bridge:
    def __init__(self, app: Continuum, *, tracer_provider: Any, meter_provider: Any) -> None:
        self.app: Continuum | None = app
        self.instance = app.name
        self.node = app.node
        self.handler_id = f"continuum.otel/{app.name}/{app.node}/{id(app):x}"
        self.active = True
        tracer = trace.get_tracer(SCOPE, VERSION, tracer_provider=tracer_provider)
        meter = metrics.get_meter(SCOPE, VERSION, meter_provider=meter_provider)
        self.carrier = Carrier(tracer, tracer_provider)
        self.spans = Spans(tracer, app.name, app.node, self.carrier.parent)
        self.metrics = Metrics(meter, app)
        self._complained: set[tuple[str, ...]] = set()
        self._table = self._handlers()
        # Only the events listed here are attached: the engine builds the metadata of
        # an event only when something listens to it.
        telemetry.attach_many(self.handler_id, list(self._table), self._handle)
        app.trace_context_capture = self._capture

    def _handlers(self) -> dict[tuple[str, ...], Handler]:
        table: dict[str, Handler] = {
            "run.created": self._run_created,
            "run.claimed": self._run_claimed,
            "run.start": self._attempt_started,
            "run.resumed": self._attempt_resumed,
            "run.cancelled": self._run_cancelled,
            "run.lease_lost": self._lease_lost,
            "run.unknown_version": self._unknown_version,
            "activity.start": self._activity_start,
            "activity.stop": self._activity_stop,
            "activity.exception": self._activity_exception,
            "activity.retry": self._activity_retry,
            "activity.timeout": self._activity_timeout,
            "timer.scheduled": self._timer_scheduled,
            "timer.fired": self._timer_fired,
            "signal.sent": self._signal_sent,
            "signal.waiting": self._signal_waiting,
            "signal.consumed": self._signal_consumed,
            "signal.timed_out": self._signal_timed_out,
            "dispatcher.claim": self._dispatcher_claim,
        }
        for end in ATTEMPT_ENDS:
            table[f"run.{end}"] = self._attempt_ender(end)
        return {("continuum", *name.split(".")): handler for name, handler in table.items()}

    def close(self) -> None:
        if not self.active:
            return
        self.active = False
        telemetry.detach(self.handler_id)
        app, self.app = self.app, None
        if app is not None and app.trace_context_capture == self._capture:
            app.trace_context_capture = None
        self.spans.close()
        self.metrics.close()

    def _capture(self) -> str | None:
        return self.carrier.capture() if self.active else None

    def _handle(
        self, event: tuple[str, ...], measurements: Mapping[str, Any], metadata: Mapping[str, Any]
    ) -> None:
        # Events are process-wide: keep those of this instance.
        if metadata.get("node") != self.node or metadata.get("instance") != self.instance:
            return
        try:
            self._table[event](measurements, metadata)
        except Exception:
            # Never let telemetry detach the bridge, and never break a run.
            if event in self._complained:
                logger.debug("continuum.otel: handling %r failed", event, exc_info=True)
            else:
                self._complained.add(event)
                logger.exception(
                    "continuum.otel: handling %r failed (further failures of this event are "
                    "logged at debug level)",
                    event,
                )

    # -- runs, in the caller's thread ------------------------------------------------------
    def _run_created(self, measurements: Mapping[str, Any], meta: Mapping[str, Any]) -> None:
        workflow = meta["workflow"]
        self.metrics.runs_started.add(1, self.metrics.labels("workflow", workflow))
        root = self.carrier.take_pending()
        if root is not None:
            root.set_attributes(
                {
                    "continuum.run_id": meta["run_id"],
                    "continuum.workflow": workflow,
                    "continuum.version_hash": meta["version_hash"],
                }
            )
            root.end()
        else:
            _note_on_caller(
                "continuum.run.created",
                {"continuum.run_id": meta["run_id"], "continuum.workflow": workflow},
            )

    def _run_cancelled(self, measurements: Mapping[str, Any], meta: Mapping[str, Any]) -> None:
        labels = self.metrics.labels("workflow", meta["workflow"], "outcome", "cancelled")
        self.metrics.runs_finished.add(1, labels)
        _note_on_caller("continuum.run.cancelled", {"continuum.run_id": meta["run_id"]})

    def _signal_sent(self, measurements: Mapping[str, Any], meta: Mapping[str, Any]) -> None:
        outcome = str(meta["outcome"])
        self.metrics.signals_sent.add(1, self.metrics.labels("outcome", outcome))
        _note_on_caller(
            "continuum.signal.sent",
            {
                "continuum.run_id": meta["run_id"],
                "continuum.signal": meta["signal"],
                "continuum.outcome": outcome,
            },
        )

    # -- the dispatcher ----------------------------------------------------------------------
    def _run_claimed(self, measurements: Mapping[str, Any], meta: Mapping[str, Any]) -> None:
        labels = self.metrics.labels("workflow", meta["workflow"])
        self.metrics.claim_latency.record(measurements["latency"], labels)

    def _dispatcher_claim(self, measurements: Mapping[str, Any], meta: Mapping[str, Any]) -> None:
        self.metrics.claim_duration.record(measurements["duration"], self.metrics.labels())

    def _lease_lost(self, measurements: Mapping[str, Any], meta: Mapping[str, Any]) -> None:
        self.metrics.lease_lost.add(1, self.metrics.labels("workflow", meta["workflow"]))

    def _unknown_version(self, measurements: Mapping[str, Any], meta: Mapping[str, Any]) -> None:
        labels = self.metrics.labels(
            "workflow", meta["workflow"], "version_hash", meta["version_hash"]
        )
        self.metrics.unknown_version.add(1, labels)

    # -- attempts ------------------------------------------------------------------------------
    def _attempt_started(self, measurements: Mapping[str, Any], meta: Mapping[str, Any]) -> None:
        self.spans.begin_attempt(meta, measurements["journal_events"], resumed=False)

    def _attempt_resumed(self, measurements: Mapping[str, Any], meta: Mapping[str, Any]) -> None:
        self.spans.begin_attempt(meta, measurements["journal_events"], resumed=True)

    def _attempt_ender(self, end: str) -> Handler:
        outcome = ATTEMPT_ENDS[end][0]
        finishes = end in ("stop", "exception")
        plain = end == "stop"  # the common end: nothing to add to the span but its outcome
        metrics, spans = self.metrics, self.spans

        def ended(measurements: Mapping[str, Any], meta: Mapping[str, Any]) -> None:
            labels = metrics.labels("workflow", meta["workflow"], "outcome", outcome)
            metrics.attempts.add(1, labels)
            if finishes:
                metrics.runs_finished.add(1, labels)
            if plain:
                spans.end_attempt(meta["run_id"], outcome)
                return
            error, exception, attributes = attempt_end_details(end, measurements, meta)
            spans.end_attempt(
                meta["run_id"], outcome, error=error, attributes=attributes, exception=exception
            )

        return ended

    # -- activities --------------------------------------------------------------------------
    def _activity_start(self, measurements: Mapping[str, Any], meta: Mapping[str, Any]) -> None:
        self.spans.begin_activity(meta, measurements["attempt"])

    def _activity_stop(self, measurements: Mapping[str, Any], meta: Mapping[str, Any]) -> None:
        # Recorded while the activity span is current: an exemplar points at it.
        labels = self.metrics.labels("activity", meta["activity"], "outcome", "completed")
        self.metrics.activity_duration.record(measurements["duration"], labels)
        self.spans.end_activity(meta, None)

    def _activity_exception(self, measurements: Mapping[str, Any], meta: Mapping[str, Any]) -> None:
        labels = self.metrics.labels("activity", meta["activity"], "outcome", "failed")
        self.metrics.activity_duration.record(measurements["duration"], labels)
        self.spans.end_activity(meta, (str(meta["error_type"]), str(meta["error_message"])))

    def _activity_retry(self, measurements: Mapping[str, Any], meta: Mapping[str, Any]) -> None:
        self.metrics.activity_retries.add(1, self.metrics.labels("activity", meta["activity"]))
        self.spans.note(
            meta["run_id"],
            "continuum.activity.retry",
            {
                "continuum.activity": meta["activity"],
                "continuum.position": meta["position"],
                "continuum.activity.attempt": measurements["attempt"],
                "continuum.retry.delay": measurements["delay"],
                "continuum.retry.at": meta["retry_at"],
                "exception.type": meta["error_type"],
            },
        )

    def _activity_timeout(self, measurements: Mapping[str, Any], meta: Mapping[str, Any]) -> None:
        self.spans.note_activity(
            meta["run_id"],
            meta["position"],
            "continuum.activity.timeout",
            {"continuum.timeout": measurements["timeout"]},
        )

    # -- timers and signals ----------------------------------------------------------------
    def _timer_scheduled(self, measurements: Mapping[str, Any], meta: Mapping[str, Any]) -> None:
        self.spans.note(
            meta["run_id"],
            "continuum.timer.scheduled",
            {
                "continuum.position": meta["position"],
                "continuum.timer.delay": measurements["delay"],
                "continuum.timer.due_at": meta["due_at"],
            },
        )

    def _timer_fired(self, measurements: Mapping[str, Any], meta: Mapping[str, Any]) -> None:
        lateness = measurements["lateness"]
        self.metrics.timer_lateness.record(
            lateness, self.metrics.labels("workflow", meta["workflow"])
        )
        set_at, due_at = meta["set_at"], meta["due_at"]
        self.spans.wait(
            "continuum.timer",
            meta,
            set_at if set_at is not None else due_at,
            {
                "continuum.timer.due_at": due_at,
                "continuum.timer.set_at": set_at,
                "continuum.timer.lateness": lateness,
            },
        )

    def _signal_waiting(self, measurements: Mapping[str, Any], meta: Mapping[str, Any]) -> None:
        self.spans.note(
            meta["run_id"],
            "continuum.signal.waiting",
            {
                "continuum.signal": meta["signal"],
                "continuum.position": meta["position"],
                "continuum.signal.timeout": measurements["timeout"],
            },
        )

    def _signal_consumed(self, measurements: Mapping[str, Any], meta: Mapping[str, Any]) -> None:
        self._signal_ended(measurements, meta, "consumed")

    def _signal_timed_out(self, measurements: Mapping[str, Any], meta: Mapping[str, Any]) -> None:
        self._signal_ended(measurements, meta, "timed_out")

    def _signal_ended(
        self, measurements: Mapping[str, Any], meta: Mapping[str, Any], outcome: str
    ) -> None:
        wait = measurements["wait"]
        labels = self.metrics.labels("signal", meta["signal"], "outcome", outcome)
        self.metrics.signal_wait.record(wait, labels)
        self.spans.wait(
            "continuum.signal",
            meta,
            meta["waited_since"],
            {
                "continuum.signal": meta["signal"],
                "continuum.outcome": outcome,
                "continuum.signal.wait": wait,
            },
        )


def _note_on_caller(name: str, attributes: Mapping[str, Any]) -> None:
    """A span event on the caller's current span, when it records."""
    current = trace.get_current_span()
    if current.is_recording():
        current.add_event(name, attributes)
