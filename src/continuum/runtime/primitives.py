"""What workflow code calls besides activities: timers, signals, patches, stable values.

Each primitive claims the next journal position, then either replays what is
recorded there or acts and records. The async forms share the same code: none
of these waits in place (a wait suspends the run), so there is nothing to await.
"""

from __future__ import annotations

import datetime as _dt
import random as _random
import uuid as _uuid
from collections.abc import Callable
from typing import Any, TypeVar

from continuum import serialization, validation
from continuum.errors import SignalTimeout
from continuum.runtime.context import current, entry_value, require
from continuum.store.base import JournalEntry

T = TypeVar("T")

TIMER = frozenset({"timer"})
SIGNAL = frozenset({"signal", "signal_timeout", "signal_wait"})
SIDE_EFFECT = frozenset({"side_effect"})
PATCH = "patch"
_WAITING = ("continuum", "signal", "waiting")
_CONSUMED = ("continuum", "signal", "consumed")
_TIMED_OUT = ("continuum", "signal", "timed_out")


def _payload(**values: Any) -> str:
    return serialization.dumps(values, what="journal payload")


def sleep(seconds: float) -> None:
    """Suspend the run for `seconds`; no thread or lease is held meanwhile."""
    ctx = require("sleep")
    # Checked before the call takes a journal position: a refused call records nothing.
    seconds = validation.duration(seconds, name="continuum.sleep(seconds=)", allow_zero=True)
    position = ctx.next_position()
    entry = ctx.replayed(position, TIMER, "sleep")
    if entry is not None:
        fire_at = float(entry_value(entry, "fire_at"))
        set_at = entry_value(entry, "set_at")  # None in timers set by older releases
        first_pass = ctx.at_frontier(position)
    else:
        set_at = ctx.clock()
        fire_at = set_at + seconds
        payload = _payload(fire_at=fire_at, set_at=set_at)
        ctx.buffer(JournalEntry(position, "timer", "sleep", payload))
        ctx.emit(
            ("continuum", "timer", "scheduled"),
            {"delay": seconds},
            position=position,
            due_at=fire_at,
        )
        first_pass = True
    now = ctx.clock()
    if now < fire_at:
        ctx.suspend(wake_at=fire_at)
    if first_pass:
        ctx.emit(
            ("continuum", "timer", "fired"),
            {"lateness": now - fire_at},
            position=position,
            set_at=set_at,
            due_at=fire_at,
        )


async def sleep_async(seconds: float) -> None:
    """`await continuum.sleep_async(seconds)` in an `async def run`."""
    sleep(seconds)


def wait_for_signal(name: str, timeout: float | None = None) -> Any:
    """Return the payload of the next signal `name`, suspending until it arrives.

    Raises SignalTimeout when `timeout` seconds pass first. When both have
    happened by the time the run resumes, the signal wins if it was sent before
    the deadline: the outcome depends on recorded times, never on who looked first.
    """
    ctx = require("wait_for_signal")
    # Checked before the call takes a journal position: a refused call records nothing.
    validation.identifier(name, name="continuum.wait_for_signal(name=)")
    timeout = validation.duration(
        timeout, name="continuum.wait_for_signal(timeout=)", allow_zero=True, allow_none=True
    )
    position = ctx.next_position()
    entry = ctx.replayed(position, SIGNAL, name)
    if entry is not None and entry.kind == "signal":
        return entry_value(entry, "payload")
    if entry is not None and entry.kind == "signal_timeout":
        raise SignalTimeout(name, float(entry_value(entry, "timeout")))
    now = ctx.clock()
    if entry is not None:
        deadline = entry_value(entry, "deadline")
        since = entry_value(entry, "since")  # None in waits recorded by older releases
    else:
        deadline = None if timeout is None else now + timeout
        since = None
    about = {"signal": name, "position": position, "waited_since": since}

    signal = ctx.take_signal(name)
    if signal is not None and (deadline is None or signal.sent_at <= deadline):
        payload = serialization.loads(signal.payload_json)
        row = _payload(payload=payload, signal_id=signal.signal_id, sent_at=signal.sent_at)
        ctx.buffer(JournalEntry(position, "signal", name, row, consumes_signal=signal.signal_id))
        ctx.emit(_CONSUMED, {"wait": 0.0 if since is None else now - since}, **about)
        return payload
    if signal is not None:
        ctx.put_back(signal)  # sent after the deadline: leave it for a later wait
    if deadline is not None and now >= deadline:
        waited = timeout if timeout is not None else 0.0
        row = _payload(deadline=deadline, timeout=waited)
        ctx.buffer(JournalEntry(position, "signal_timeout", name, row))
        ctx.emit(_TIMED_OUT, {"wait": 0.0 if since is None else now - since}, **about)
        raise SignalTimeout(name, float(waited))
    if entry is None:
        row = _payload(deadline=deadline, since=now)
        ctx.buffer(JournalEntry(position, "signal_wait", name, row))
        ctx.emit(_WAITING, {"timeout": timeout}, signal=name, position=position)
    ctx.suspend(wake_at=deadline, signal=name)
    raise AssertionError("unreachable")  # pragma: no cover


async def wait_for_signal_async(name: str, timeout: float | None = None) -> Any:
    """`await continuum.wait_for_signal_async(name, timeout)` in an `async def run`."""
    return wait_for_signal(name, timeout)


def patched(patch_id: str) -> bool:
    """True where the code runs past recorded history (or history made with the patch).

    Replaying history that was recorded without the patch returns False and
    consumes nothing. The first answer for a run and an id is kept for that run:
    a later call returns it and records nothing, but still consumes a marker for
    this id recorded at its position (history from code that asked elsewhere),
    so the rest of the journal stays in step. Outside a workflow: False.
    """
    validation.identifier(patch_id, name="patched(patch_id=)")
    ctx = current()
    if ctx is None:
        return False
    ctx.check_running()
    position = ctx.position
    entry = ctx.entries.get(position)
    marker_here = entry is not None and entry.kind == PATCH and entry.name == patch_id
    if patch_id in ctx.patches:
        if marker_here:
            ctx.position += 1
        return ctx.patches[patch_id]
    if marker_here:
        ctx.position += 1
        decision = True
    elif ctx.beyond_journal(position):
        ctx.may_act()
        ctx.position += 1
        ctx.buffer(JournalEntry(position, PATCH, patch_id, None))
        decision = True
    else:
        decision = False
    ctx.patches[patch_id] = decision
    ctx.emit(("continuum", "patched", "hit"), {"count": 1}, patch_id=patch_id, patched=decision)
    return decision


def side_effect(fn: Callable[[], T]) -> T:
    """Run `fn` once and journal its (JSON) value; replay returns the recorded value.

    For cheap, non-failing values such as ids or clock reads. Anything that
    talks to the outside world belongs in an activity.
    """
    name = str(getattr(fn, "__qualname__", None) or getattr(fn, "__name__", "side_effect"))
    value: T = _stable_value("side_effect", name, fn)
    return value


def _stable_value(primitive: str, name: str, produce: Callable[[], Any]) -> Any:
    ctx = require(primitive)
    position = ctx.next_position()
    entry = ctx.replayed(position, SIDE_EFFECT, name)
    if entry is not None:
        return entry_value(entry, "value")
    value, text = serialization.normalise(produce(), what=f"the value of {primitive}({name})")
    ctx.buffer(JournalEntry(position, "side_effect", name, '{"value":' + text + "}"))
    return value


def now() -> _dt.datetime:
    """The current UTC time, journaled: replay returns the same instant."""
    ctx = require("now")
    stamp = _stable_value("now", "now", ctx.clock)
    return _dt.datetime.fromtimestamp(float(stamp), tz=_dt.UTC)


def uuid4() -> _uuid.UUID:
    """A random UUID, journaled: replay returns the same one (use it as an idempotency key)."""
    return _uuid.UUID(_stable_value("uuid4", "uuid4", lambda: str(_uuid.uuid4())))


def random() -> float:
    """A random float in [0, 1), journaled."""
    return float(_stable_value("random", "random", _random.random))


def deprecate_patch(patch_id: str) -> None:
    """Stands where a `patched(patch_id)` branch was removed from the code.

    Replaying a history that recorded the patch's marker here consumes it, so the
    rest of that history stays in step; anywhere else it does nothing and records
    nothing. Remove the `patched()` check (keeping the patched branch's code)
    once no live run's history lacks the patch (`continuum versions list` counts
    them), and put this call in its place; it can go too once no live run has the
    marker. Outside a workflow it does nothing.
    """
    validation.identifier(patch_id, name="deprecate_patch(patch_id=)")
    ctx = current()
    if ctx is None:
        return
    ctx.check_running()
    entry = ctx.entries.get(ctx.position)
    if entry is not None and entry.kind == PATCH and entry.name == patch_id:
        ctx.position += 1
