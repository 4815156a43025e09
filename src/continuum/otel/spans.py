"""The spans of attempts, activity tries, timers and signal waits.

Spans are started and ended explicitly, with explicit parents, never with
context managers across handler calls. The engine emits every event of an
attempt in the worker thread that runs it, so the open spans of an attempt
live in a thread-local table keyed by run id (an attempt) and journal
position (an activity: `asyncio.gather` runs several at once in one thread).
"""

from __future__ import annotations

import contextvars
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.trace import Span, SpanKind, Status, StatusCode, Tracer

_Token = contextvars.Token[Context]

# How an attempt ended, by event: its outcome, and whether the span is an error.
ATTEMPT_ENDS: dict[str, tuple[str, bool]] = {
    "stop": ("completed", False),
    "exception": ("failed", True),
    "suspended": ("suspended", False),
    "nondeterminism": ("nondeterminism", True),
    "released": ("released", False),
    "interrupted": ("interrupted", True),
}


class _Activity:
    __slots__ = ("context", "span", "token")

    def __init__(self, span: Span, context: Context, token: _Token) -> None:
        self.span = span
        self.context = context
        self.token = token


class _Attempt:
    """The open spans of one attempt (`span` is None for an attempt already under
    way when the app was instrumented: its activities still get spans)."""

    __slots__ = ("activities", "context", "previous", "span", "token")

    def __init__(
        self, span: Span | None, context: Context, token: _Token | None, previous: Context
    ) -> None:
        self.span = span
        self.context = context
        self.token = token
        self.previous = previous
        self.activities: dict[Any, _Activity] = {}


class _Local(threading.local):
    def __init__(self) -> None:
        self.attempts: dict[str, _Attempt] = {}


class Spans:
    def __init__(
        self, tracer: Tracer, instance: str, node: str, parent: Callable[[Any, str], Context]
    ) -> None:
        self._tracer = tracer
        self._instance = instance
        self._node = node
        self._parent = parent
        self._local = _Local()
        # Every open attempt on any thread, so that close() can end their spans.
        self._open: dict[int, _Attempt] = {}

    def begin_attempt(self, meta: Mapping[str, Any], journal_events: int, *, resumed: bool) -> None:
        attempts = self._local.attempts
        if attempts:  # a thread runs one attempt at a time: these never heard their end
            for run_id in list(attempts):
                self.end_attempt(run_id, "abandoned")
        run_id = meta["run_id"]
        parent = self._parent(meta["trace_context"], run_id)
        attributes = {
            "continuum.run_id": run_id,
            "continuum.workflow": meta["workflow"],
            "continuum.version_hash": meta["version_hash"],
            "continuum.attempt": meta["attempt"] or 0,
            "continuum.instance": self._instance,
            "continuum.node": self._node,
            "continuum.resumed": resumed,
            "continuum.journal_events": journal_events,
        }
        span = self._tracer.start_span("continuum.run", parent, SpanKind.INTERNAL, attributes)
        self._open_attempt(run_id, span, trace.set_span_in_context(span, parent))

    def _open_attempt(self, run_id: str, span: Span | None, ctx: Context) -> _Attempt:
        # Current in the worker thread during the attempt: logs and spans made by
        # workflow code join the attempt's trace. (Not for an attempt met halfway,
        # from inside an activity: that may be a task's context, not the thread's.)
        previous = otel_context.get_current()
        token = None if span is None else otel_context.attach(ctx)
        state = _Attempt(span, ctx, token, previous)
        self._local.attempts[run_id] = state
        self._open[id(state)] = state
        return state

    def end_attempt(
        self,
        run_id: str,
        outcome: str,
        *,
        error: str | None = None,
        attributes: Mapping[str, Any] | None = None,
        exception: tuple[str, str] | None = None,
    ) -> None:
        state = self._local.attempts.pop(run_id, None)
        if state is None:
            return
        self._open.pop(id(state), None)
        for activity in state.activities.values():
            if outcome == "uninstrumented":
                activity.span.set_attribute("continuum.outcome", outcome)
            else:
                activity.span.set_status(Status(StatusCode.ERROR, f"the attempt ended {outcome}"))
                activity.span.set_attribute("continuum.outcome", "abandoned")
            activity.span.end()
        span = state.span
        if span is not None:
            if attributes:
                span.set_attributes({"continuum.outcome": outcome, **attributes})
            else:
                span.set_attribute("continuum.outcome", outcome)
            if exception is not None:
                _exception_event(span, *exception)
            if error is not None:
                span.set_status(Status(StatusCode.ERROR, error))
            span.end()
        if state.token is None:
            return
        if otel_context.get_current() is state.context:
            otel_context.detach(state.token)
        else:  # something left a context attached: put back what was there before
            otel_context.attach(state.previous)

    # -- activity tries ----------------------------------------------------------------
    def begin_activity(self, meta: Mapping[str, Any], attempt: int) -> None:
        run_id = meta["run_id"]
        state = self._local.attempts.get(run_id)
        if state is None:  # the bridge came in after the attempt began
            state = self._open_attempt(run_id, None, self._parent(meta["trace_context"], run_id))
        position = meta["position"]
        stale = state.activities.pop(position, None)
        if stale is not None:  # its end was never reported
            stale.span.set_attribute("continuum.outcome", "abandoned")
            stale.span.end()
        attributes = {
            "continuum.run_id": run_id,
            "continuum.activity": meta["activity"],
            "continuum.position": position,
            "continuum.activity.attempt": attempt,
        }
        span = self._tracer.start_span("continuum.activity", state.context, attributes=attributes)
        ctx = trace.set_span_in_context(span, state.context)
        # Current while the activity runs: spans made inside it are its children.
        state.activities[position] = _Activity(span, ctx, otel_context.attach(ctx))

    def end_activity(self, meta: Mapping[str, Any], error: tuple[str, str] | None) -> None:
        state = self._local.attempts.get(meta["run_id"])
        if state is None:
            return
        activity = state.activities.pop(meta["position"], None)
        if activity is None:
            return
        if otel_context.get_current() is activity.context:
            otel_context.detach(activity.token)
        span = activity.span
        if error is not None:
            span.set_attribute("continuum.outcome", "failed")
            _exception_event(span, *error)
            span.set_status(Status(StatusCode.ERROR, f"{error[0]}: {error[1]}"))
        span.end()

    # -- span events and waits -----------------------------------------------------------
    def note(self, run_id: str, name: str, attributes: Mapping[str, Any]) -> None:
        """A span event on the open attempt's span."""
        state = self._local.attempts.get(run_id)
        if state is not None and state.span is not None:
            state.span.add_event(name, _clean(attributes))

    def note_activity(
        self, run_id: str, position: Any, name: str, attributes: Mapping[str, Any]
    ) -> None:
        """A span event on the open activity's span (or its attempt's)."""
        state = self._local.attempts.get(run_id)
        if state is None:
            return
        activity = state.activities.get(position)
        span = activity.span if activity is not None else state.span
        if span is not None:
            span.add_event(name, _clean(attributes))

    def wait(
        self,
        name: str,
        meta: Mapping[str, Any],
        began: float | None,
        attributes: Mapping[str, Any],
    ) -> None:
        """A wait that ended in this attempt, from when it began (an earlier attempt,
        perhaps on another node) to now: made afterwards, with explicit times."""
        run_id = meta["run_id"]
        state = self._local.attempts.get(run_id)
        parent = state.context if state is not None else self._parent(meta["trace_context"], run_id)
        end = time.time_ns()
        start = end if began is None else min(end, int(began * 1e9))
        attributes = {
            "continuum.run_id": run_id,
            "continuum.workflow": meta["workflow"],
            "continuum.position": meta["position"],
            **attributes,
        }
        span = self._tracer.start_span(
            name, parent, attributes=_clean(attributes), start_time=start
        )
        span.end(end_time=end)

    def close(self) -> None:
        # This thread's attempts are closed the usual way, their context put back.
        for run_id in list(self._local.attempts):
            self.end_attempt(run_id, "uninstrumented")
        # Other threads' are ended here; the context attached in those threads stays
        # until something there attaches another (no handler hears their end now).
        for state in list(self._open.values()):
            for activity in state.activities.values():
                activity.span.set_attribute("continuum.outcome", "uninstrumented")
                activity.span.end()
            if state.span is not None:
                state.span.set_attribute("continuum.outcome", "uninstrumented")
                state.span.end()
        self._open.clear()


def attempt_end_details(
    end: str, measurements: Mapping[str, Any], meta: Mapping[str, Any]
) -> tuple[str | None, tuple[str, str] | None, dict[str, Any]]:
    """What an attempt's end adds to its span: (status description of an error,
    (type, message) of an exception event, attributes)."""
    if end == "exception":
        exception = (str(meta["error_type"]), str(meta["error_message"]))
        return f"{exception[0]}: {exception[1]}", exception, {}
    if end == "suspended":
        return (
            None,
            None,
            _clean(
                {
                    "continuum.wake_at": meta["wake_at"],
                    "continuum.signals": list(meta["signals"] or ()) or None,
                }
            ),
        )
    if end == "nondeterminism":
        attributes = {
            "continuum.position": measurements.get("position"),
            "continuum.nondeterminism.expected": meta["expected"],
            "continuum.nondeterminism.recorded_kind": meta["recorded_kind"],
            "continuum.nondeterminism.recorded_name": meta["recorded_name"],
        }
        return str(meta["message"]), None, _clean(attributes)
    if end in ("released", "interrupted"):
        reason = meta["reason"]
        error = str(reason) if ATTEMPT_ENDS[end][1] else None
        return error, None, _clean({"continuum.reason": reason})
    return None, None, {}


def _exception_event(span: Span, error_type: str, message: str) -> None:
    # The engine reports errors as type and message, not as exception objects, so
    # the event record_exception() would make is written out.
    span.add_event("exception", {"exception.type": error_type, "exception.message": message})


def _clean(attributes: Mapping[str, Any]) -> dict[str, Any]:
    """OpenTelemetry attributes take no None."""
    return {key: value for key, value in attributes.items() if value is not None}
