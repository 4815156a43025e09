"""A run's journal as a timeline: one step per journal row, placed on a time scale.

The journal keeps one row per primitive call, rewritten as the call progresses
(an activity's `activity_retry` row becomes its `activity` row; a `signal_wait`
becomes `signal` or `signal_timeout`), each with the time it was written
(`recorded_at`). A step therefore knows when it ended; when it began is taken as
the end of the step before it (the run's creation for the first), which is when
the workflow reached it. Payloads are read as `runtime/activity.py` and
`runtime/primitives.py` write them:

    activity        {"result": v}  or  {"error": {type, message}, "attempts": n}
    activity_retry  {"attempt": n, "retry_at": t, "error": {type, message}}
    timer           {"fire_at": t}
    signal_wait     {"deadline": t | None}
    signal          {"payload": v, "signal_id": id, "sent_at": t}
    signal_timeout  {"deadline": t, "timeout": seconds}
    side_effect     {"value": v}
    patch           null (the patch id is the row's name)

A payload of a shape this release does not know is shown as it is.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from continuum.store.values import JournalEntry, SignalRecord
from continuum.web.format import compact, span

# Journal rows a run page draws; the rest are counted, not read into the page.
MAX_STEPS = 500


@dataclass(frozen=True, slots=True)
class Step:
    """One journal row as the page shows it. Times are seconds since the epoch."""

    seq: int
    kind: str
    name: str
    state: str  # done, failed, retrying, waiting, fired, received, timed_out, stopped, marker
    summary: str
    started: float | None
    ended: float | None  # None: still under way
    due: float | None = None  # a timer's fire time, a retry's time, a signal's deadline
    attempts: int | None = None
    error: dict[str, Any] | None = None
    value: Any = None
    has_value: bool = False
    recorded_at: float | None = None
    run_link: str | None = None  # a run this step names (a child): the page links it
    # Where it sits on the run's scale, in percent of its width: (left, width), and
    # the due marker; None when it has no extent there.
    bar: tuple[float, float] | None = None
    mark: float | None = None

    @property
    def label(self) -> str:
        """The name as the timeline shows it: an activity without its module."""
        if self.kind in ("activity", "activity_retry"):
            return self.name.rpartition(".")[2] or self.name
        return self.name

    @property
    def state_label(self) -> str:
        if self.state == "marker":
            return "patched" if self.kind == "patch" else "recorded"
        return self.state.replace("_", " ")

    @property
    def more(self) -> bool:
        """Whether the value holds more than its one-line summary shows."""
        return self.has_value and self.summary != compact(self.value, 10**9)

    @property
    def duration(self) -> str:
        if self.started is None or self.ended is None or self.state == "marker":
            return ""
        return span(self.ended - self.started)


@dataclass(frozen=True, slots=True)
class Timeline:
    steps: list[Step]
    total: int  # journal rows in all (more than len(steps) when cut at MAX_STEPS)
    start: float
    end: float
    signals: list[SignalRecord] = field(default_factory=list)
    pending_signals: int = 0

    @property
    def cut(self) -> bool:
        return self.total > len(self.steps)


def build(
    entries: Sequence[JournalEntry],
    *,
    created_at: float,
    updated_at: float,
    ended: bool,
    now: float,
    signals: Sequence[SignalRecord] = (),
    limit: int = MAX_STEPS,
) -> Timeline:
    """The timeline of a run's journal (the first `limit` rows of it)."""
    steps: list[Step] = []
    previous_end = created_at
    stop_at = updated_at if ended else now
    for entry in entries[:limit]:
        step = _step(entry, previous_end, stop_at=stop_at, ended=ended)
        steps.append(step)
        reached = [t for t in (step.ended, step.recorded_at) if t is not None]
        if reached:
            previous_end = max(previous_end, *reached)
    end = max([stop_at, created_at, *(s.ended or 0 for s in steps)])
    placed = [_place(step, created_at, end, stop_at) for step in steps]
    pending = sum(1 for s in signals if s.consumed_seq is None)
    return Timeline(placed, len(entries), created_at, end, list(signals), pending)


def _step(entry: JournalEntry, began: float, *, stop_at: float, ended: bool) -> Step:
    recorded = entry.recorded_at or None
    try:
        payload = json.loads(entry.payload_json) if entry.payload_json is not None else None
    except ValueError:
        payload = entry.payload_json
    base: dict[str, Any] = {
        "seq": entry.seq,
        "kind": str(entry.kind),
        "name": entry.name,
        "recorded_at": recorded,
    }
    try:
        shaped = _shape(str(entry.kind), payload, began, recorded, stop_at)
    except (KeyError, TypeError, ValueError):
        shaped = None
    if shaped is None:  # a shape this release does not know
        shaped = {
            "state": "marker",
            "summary": "" if payload is None else compact(payload),
            "started": recorded,
            "ended": recorded,
        }
    if shaped["ended"] is None and ended:
        shaped["state"], shaped["ended"] = "stopped", stop_at  # the run ended while it waited
    return Step(**base, **shaped)


def _shape(
    kind: str, p: Any, began: float, recorded: float | None, stop_at: float
) -> dict[str, Any] | None:
    if kind == "activity":
        if "result" in p:
            return {
                "state": "done",
                "summary": compact(p["result"], 80),
                "started": began,
                "ended": recorded,
                "value": p["result"],
                "has_value": True,
            }
        attempts = int(p["attempts"])
        return {
            "state": "failed",
            "summary": f"failed after {_count(attempts, 'attempt')}: {_error(p['error'])}",
            "started": began,
            "ended": recorded,
            "attempts": attempts,
            "error": p["error"],
        }
    if kind == "activity_retry":
        attempt = int(p["attempt"])
        return {
            "state": "retrying",
            "summary": f"attempt {attempt} failed: {_error(p['error'])}",
            "started": began,
            "ended": None,
            "due": float(p["retry_at"]),
            "attempts": attempt,
            "error": p["error"],
        }
    if kind == "timer":
        fire_at = float(p["fire_at"])
        fired = fire_at <= stop_at
        return {
            "state": "fired" if fired else "waiting",
            "summary": "sleeping" if not fired else "slept",
            "started": recorded if recorded is not None else began,
            "ended": fire_at if fired else None,
            "due": fire_at,
        }
    if kind == "signal_wait":
        deadline = p.get("deadline")
        return {
            "state": "waiting",
            "summary": "waiting" + ("" if deadline is not None else ", no timeout"),
            "started": recorded if recorded is not None else began,
            "ended": None,
            "due": None if deadline is None else float(deadline),
        }
    if kind == "signal":
        return {
            "state": "received",
            "summary": compact(p["payload"], 80),
            "started": began,
            "ended": recorded,
            "due": float(p["sent_at"]),  # drawn as the moment it was sent
            "value": p["payload"],
            "has_value": True,
        }
    if kind == "signal_timeout":
        return {
            "state": "timed_out",
            "summary": f"timed out after {span(float(p['timeout']))}",
            "started": began,
            "ended": recorded,
            "due": float(p["deadline"]),
        }
    if kind == "side_effect":
        return {
            "state": "marker",
            "summary": compact(p["value"], 80),
            "started": recorded,
            "ended": recorded,
            "value": p["value"],
            "has_value": True,
        }
    if kind == "patch":
        return {
            "state": "marker",
            "summary": "patch marker",
            "started": recorded,
            "ended": recorded,
        }
    return _composition_shape(kind, p, began, recorded)


def _composition_shape(
    kind: str, p: Any, began: float, recorded: float | None
) -> dict[str, Any] | None:
    """Children and cancels: rows that name other runs, or how the run was asked to end."""
    if kind == "child":
        return {
            "state": "marker",
            "summary": "started child",
            "started": recorded,
            "ended": recorded,
            "run_link": str(p["run_id"]),
        }
    if kind == "child_wait":
        return {
            "state": "waiting",
            "summary": "waiting for child",
            "started": recorded if recorded is not None else began,
            "ended": None,
            "run_link": str(p["waiting_on"]),
        }
    if kind == "child_result":
        status = str(p["status"])
        state = {"completed": "done", "failed": "failed"}.get(status, "stopped")
        summary = {
            "completed": compact(p.get("output"), 80),
            "failed": f"child failed: {_error(p.get('error') or {})}",
        }.get(status, "child cancelled")
        return {
            "state": state,
            "summary": summary,
            "started": began,
            "ended": recorded,
            "value": p.get("output"),
            "has_value": status == "completed",
            "run_link": str(p["run_id"]),
            "error": p.get("error") if status == "failed" else None,
        }
    if kind == "cancel":
        return {
            "state": "stopped",
            "summary": "cancel asked: the run unwinds from here",
            "started": recorded,
            "ended": recorded,
        }
    return None


def _place(step: Step, start: float, end: float, stop_at: float) -> Step:
    """The step with its bar and marker in percent of [start, end]."""
    width = max(end - start, 1e-6)

    def pct(t: float) -> float:
        return round(min(max((t - start) / width * 100, 0.0), 100.0), 3)

    bar = None
    if step.started is not None:
        left = pct(step.started)
        right = pct(step.ended if step.ended is not None else stop_at)
        bar = (left, max(right - left, 0.6))
        if left + bar[1] > 100:
            bar = (100 - bar[1], bar[1])
    mark = pct(step.due) if step.due is not None and start <= step.due <= end else None
    return replace(step, bar=bar, mark=mark)


def _error(error: Any) -> str:
    if isinstance(error, dict) and "type" in error:
        return f"{error['type']}: {error.get('message', '')}"
    return compact(error, 80)


def _count(n: int, one: str) -> str:
    return f"{n} {one}" if n == 1 else f"{n} {one}s"
