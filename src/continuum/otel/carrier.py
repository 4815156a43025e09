"""The trace context of a run: captured where the run is started, restored by its attempts.

A run outlives the request that started it, and its attempts run on any node,
any time later: the engine stores what `capture()` returns with the run, every
run-scoped event carries it back, and `parent()` turns it into the parent of the
attempt's span. The carrier is JSON of what the global propagator injects, so the
nodes that start runs and the nodes that run them must use the same propagator.
"""

from __future__ import annotations

import hashlib
import json
import logging
import threading
from typing import Any

from opentelemetry import context as otel_context
from opentelemetry import propagate, trace
from opentelemetry.context import Context
from opentelemetry.trace import (
    NonRecordingSpan,
    Span,
    SpanContext,
    SpanKind,
    TraceFlags,
    Tracer,
    TracerProvider,
)

logger = logging.getLogger("continuum.otel")

EMPTY = Context()

_SAMPLED = TraceFlags(TraceFlags.SAMPLED)
_NOT_SAMPLED = TraceFlags(TraceFlags.DEFAULT)


def run_trace_ids(run_id: str) -> tuple[int, int]:
    """The trace id and parent span id every attempt of a run with no stored context
    shares: derived from the run id alone, so any node, at any time, finds the same
    trace (docs/opentelemetry.md gives the formula, to look a run's trace up)."""
    digest = hashlib.sha256(b"continuum.run:" + run_id.encode()).digest()
    # All zeros is an invalid id in W3C trace context (a chance in 2**64 at most).
    return int.from_bytes(digest[:16], "big") or 1, int.from_bytes(digest[16:24], "big") or 1


class Carrier:
    def __init__(self, tracer: Tracer, tracer_provider: TracerProvider | None) -> None:
        self._tracer = tracer
        self._provider = tracer_provider
        # The continuum.start span made by capture() for the start() under way in
        # this thread, until run.created names its run.
        self._pending = threading.local()

    def capture(self) -> str | None:
        """app.trace_context_capture: called by app.start() in the caller's thread."""
        try:
            self.end_pending()  # a start that failed before run.created
            ctx = otel_context.get_current()
            if not trace.get_current_span(ctx).get_span_context().is_valid:
                # A real root, not only the derived parent (cheaper): trace viewers
                # show a trace whose root never arrives as broken.
                root = self._tracer.start_span("continuum.start", EMPTY, SpanKind.PRODUCER)
                if not root.get_span_context().is_valid:
                    return None  # no SDK behind the API: the attempts derive their trace
                self._pending.root = root
                ctx = trace.set_span_in_context(root, ctx)
            carrier: dict[str, str] = {}
            propagate.inject(carrier, ctx)
            # Default arguments: json.dumps then reuses its cached encoder.
            return json.dumps(carrier) if carrier else None
        except Exception:
            logger.exception("continuum.otel: could not capture the trace context")
            return None

    def take_pending(self) -> Span | None:
        root: Span | None = getattr(self._pending, "root", None)
        if root is not None:
            self._pending.root = None
        return root

    def end_pending(self) -> None:
        root = self.take_pending()
        if root is not None:
            root.end()

    def parent(self, stored: Any, run_id: str) -> Context:
        """The parent of an attempt's spans (parsed once per attempt, not per event)."""
        ctx = EMPTY
        if stored:
            try:
                carrier = json.loads(stored)
            except ValueError:
                carrier = None
            if isinstance(carrier, dict):
                ctx = propagate.extract(carrier, EMPTY)
                if trace.get_current_span(ctx).get_span_context().is_valid:
                    return ctx
        return self._derived(run_id, ctx)  # keeping the baggage, if that was stored

    def _derived(self, run_id: str, ctx: Context) -> Context:
        """A remote parent that is never exported, for runs stored without a context
        (started by an instance that was not instrumented): their attempts still share
        one trace. Whether it is sampled is asked of the SDK's sampler as if it were a
        root, so all the attempts of the run agree and a ratio sampler keeps its ratio."""
        trace_id, span_id = run_trace_ids(run_id)
        flags = _SAMPLED
        provider = self._provider if self._provider is not None else trace.get_tracer_provider()
        sampler = getattr(provider, "sampler", None)
        if sampler is not None:
            try:
                decision = sampler.should_sample(EMPTY, trace_id, "continuum.run")
                flags = _SAMPLED if decision.decision.is_sampled() else _NOT_SAMPLED
            except Exception:
                logger.debug("continuum.otel: the sampler failed; sampled", exc_info=True)
        parent = SpanContext(trace_id, span_id, is_remote=True, trace_flags=flags)
        return trace.set_span_in_context(NonRecordingSpan(parent), ctx)
