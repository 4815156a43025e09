"""The pure parts of the web observer: a journal as a timeline, buckets as a chart."""

from __future__ import annotations

import json
from typing import Any

from continuum.store.values import ActivityBucket, JournalEntry, SignalRecord
from continuum.web import chart, timeline
from continuum.web.format import relative, span

T0 = 1_700_000_000.0


def entry(seq: int, kind: str, name: str, payload: Any, at: float) -> JournalEntry:
    text = None if payload is None else json.dumps(payload)
    return JournalEntry(seq, kind, name, text, recorded_at=T0 + at)


def test_each_kind_of_entry_becomes_a_step() -> None:
    error = {"type": "ConnectionError", "message": "down"}
    entries = [
        entry(0, "activity", "shop.charge", {"result": {"ok": True}}, 2),
        entry(1, "timer", "sleep", {"fire_at": T0 + 10}, 2.1),
        entry(2, "signal", "approval", {"payload": "yes", "signal_id": 1, "sent_at": T0 + 12}, 14),
        entry(3, "side_effect", "uuid4", {"value": "abc"}, 14),
        entry(4, "patch", "receipts", None, 14),
        entry(5, "activity", "shop.refund", {"error": error, "attempts": 3}, 20),
        entry(6, "signal_timeout", "late", {"deadline": T0 + 25, "timeout": 5}, 26),
        entry(
            7,
            "activity_retry",
            "shop.notify",
            {"attempt": 2, "retry_at": T0 + 90, "error": error},
            30,
        ),
    ]
    line = timeline.build(entries, created_at=T0, updated_at=T0 + 30, ended=False, now=T0 + 40)
    states = [(s.kind, s.label, s.state_label) for s in line.steps]
    assert states == [
        ("activity", "charge", "done"),
        ("timer", "sleep", "fired"),
        ("signal", "approval", "received"),
        ("side_effect", "uuid4", "recorded"),
        ("patch", "receipts", "patched"),
        ("activity", "refund", "failed"),
        ("signal_timeout", "late", "timed out"),
        ("activity_retry", "notify", "retrying"),
    ]
    charge, timer, approval, _, _, refund, late, notify = line.steps
    assert (charge.started, charge.ended, charge.duration) == (T0, T0 + 2, "2 s")
    assert (timer.started, timer.ended, timer.due) == (T0 + 2.1, T0 + 10, T0 + 10)
    assert approval.started == T0 + 10 and approval.ended == T0 + 14  # waited from the timer
    assert approval.value == "yes" and approval.due == T0 + 12
    assert (
        refund.attempts == 3 and refund.summary == "failed after 3 attempts: ConnectionError: down"
    )
    assert late.summary == "timed out after 5 s"
    assert notify.ended is None and notify.due == T0 + 90 and notify.attempts == 2
    assert line.end == T0 + 40  # the run is live: the scale reaches now
    assert charge.bar == (0.0, 5.0)  # 2 s of 40
    assert notify.mark is None  # its retry lies beyond the scale
    assert timer.mark == 25.0


def test_a_run_that_ended_while_waiting() -> None:
    entries = [entry(0, "signal_wait", "approval", {"deadline": None}, 1)]
    line = timeline.build(entries, created_at=T0, updated_at=T0 + 5, ended=True, now=T0 + 99)
    (wait,) = line.steps
    assert wait.state == "stopped" and wait.ended == T0 + 5
    assert line.end == T0 + 5


def test_unknown_shapes_are_shown_as_they_are() -> None:
    entries = [
        entry(0, "activity", "odd", {"neither": 1}, 1),
        entry(1, "something_new", "x", [1, 2], 2),
    ]
    line = timeline.build(entries, created_at=T0, updated_at=T0, ended=False, now=T0 + 3)
    assert [(s.state, s.summary) for s in line.steps] == [
        ("marker", '{"neither": 1}'),
        ("marker", "[1, 2]"),
    ]


def test_a_long_journal_is_cut() -> None:
    entries = [entry(n, "side_effect", "now", {"value": n}, n) for n in range(700)]
    line = timeline.build(entries, created_at=T0, updated_at=T0, ended=False, now=T0 + 700)
    assert len(line.steps) == timeline.MAX_STEPS and line.total == 700 and line.cut


def test_pending_signals_are_counted() -> None:
    signals = [
        SignalRecord(1, "approval", "1", T0, consumed_seq=2),
        SignalRecord(2, "late", "2", T0 + 1),
    ]
    line = timeline.build([], created_at=T0, updated_at=T0, ended=False, now=T0, signals=signals)
    assert line.pending_signals == 1 and len(line.signals) == 2


def test_the_chart_lays_out_every_bucket_of_the_window() -> None:
    since = chart.window_start(T0, 86400, 3600)
    assert since % 3600 == 0 and since + 86400 > T0 >= since + 86400 - 3600
    buckets = [
        ActivityBucket(since, 4, 3, 1, 0),
        ActivityBucket(since + 23 * 3600, 2, 0, 0, 2),
        ActivityBucket(since + 30 * 3600, 9, 9, 9, 9),  # outside the window: left out
    ]
    drawn = chart.build(buckets, since=since, seconds=86400, bucket=3600)
    assert drawn.totals == {"started": 6, "completed": 3, "failed": 1, "cancelled": 2}
    assert [b.count for b in drawn.bars] == [4, 3, 1, 2, 2]
    assert drawn.y_ticks[-1].label == "4"  # the axis rounds up to a multiple of 4
    tallest = max(drawn.bars, key=lambda b: b.height)
    assert tallest.y == drawn.top and tallest.label.endswith("UTC: 4 started")
    assert all(drawn.left <= b.x < drawn.width for b in drawn.bars)
    assert len(drawn.x_ticks) == 8


def test_times_for_people() -> None:
    assert span(0.25) == "250 ms" and span(4.2) == "4.2 s" and span(184) == "3m 4s"
    assert span(7380) == "2h 3m" and span(86400 * 5 + 7200) == "5d 2h"
    assert relative(T0 - 90, T0) == "1m 30s ago" and relative(T0 + 600, T0) == "in 10m"
    assert relative(None, T0) == "-" and relative(T0, T0) == "just now"
