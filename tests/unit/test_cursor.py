"""The journal cursor: positions, replay matching and patch markers, without a dispatcher."""

from __future__ import annotations

import json
import threading

import pytest

from continuum.runtime.context import AttemptContext, Nondeterminism, _current
from continuum.runtime.primitives import patched, side_effect
from continuum.store import Claim, History, JournalEntry, Lease, RunRecord
from continuum.store.sqlite import SQLiteStore


def context(entries: list[JournalEntry]) -> AttemptContext:
    run = RunRecord("r", "wf", "h", 1, "running", "null", None, None, 0.0, 0.0)
    return AttemptContext(
        store=SQLiteStore("sqlite:///:memory:"),
        claim=Claim(run, Lease("r", "n", 1, 7), db_now=1000.0),
        history=History(entries, []),
        is_async=False,
        metadata={},
        stopping=threading.Event(),
    )


def row(seq: int, kind: str, name: str, payload: object = None) -> JournalEntry:
    return JournalEntry(seq, kind, name, json.dumps(payload))


def test_positions_follow_call_order_and_match_recorded_rows() -> None:
    ctx = context([row(0, "activity", "a"), row(1, "timer", "sleep")])
    assert ctx.next_position() == 0
    assert ctx.replayed(0, frozenset({"activity"}), "a") is not None
    assert ctx.unreplayed() == [row(1, "timer", "sleep")]  # the code has not reached it yet
    assert ctx.next_position() == 1
    assert ctx.unreplayed() == []
    assert not ctx.beyond_journal(1)
    assert ctx.beyond_journal(2)


@pytest.mark.parametrize(("kinds", "name"), [({"activity"}, "b"), ({"timer"}, "a")])
def test_a_different_primitive_at_a_position_is_nondeterminism(kinds: set[str], name: str) -> None:
    ctx = context([row(0, "activity", "a")])
    with pytest.raises(Nondeterminism, match="journal recorded activity 'a'"):
        ctx.replayed(0, frozenset(kinds), name)
    with pytest.raises(Nondeterminism):
        ctx.check_running()  # once halted, every later call halts too


def test_buffered_rows_are_visible_to_replay_in_the_same_attempt() -> None:
    ctx = context([])
    token = _current.set(ctx)
    try:
        assert side_effect(lambda: 41) == 41
        assert [e.seq for e in ctx.pending] == [0]
        assert ctx.entries[0].kind == "side_effect"
    finally:
        _current.reset(token)


def test_patch_marker_replays_true_and_missing_marker_consumes_nothing() -> None:
    ctx = context([row(0, "patch", "p"), row(1, "activity", "a")])
    token = _current.set(ctx)
    try:
        assert patched("p") is True and ctx.position == 1
        assert patched("q") is False and ctx.position == 1  # history made without q
        assert patched("q") is False  # memoized
        ctx.position = 2
        assert patched("r") is True and ctx.position == 3  # past the journal: recorded
        assert ctx.pending[-1] == JournalEntry(2, "patch", "r", None)
    finally:
        _current.reset(token)


def test_clock_is_anchored_on_the_database_clock_of_the_claim() -> None:
    ctx = context([])
    assert 1000.0 <= ctx.clock() < 1010.0
