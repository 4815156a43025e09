"""Paranoid mode: after every journal write, replay the run from the top and check that
the code reaches the same point.

Each attempt write the store makes durable is kept with the journal as it stood
after it and the virtual time it was made at. When the attempt is over, each is
replayed through the same code, running nothing, at that same moment, and must
end where the attempt did:

- a write mid-attempt (an activity's result, values flushed before one): the
  code follows the journal to its end;
- a suspension: the code stops at the same waits (the same wake-up time, the
  same signals);
- the end of the run: the code returns the same output, or raises the same
  type of error.

So anything that makes one execution differ from the next (a clock or random
value, the order of a set, state outside the journal) is caught in the test
that first meets it, whereas in production it would surface only when the run
resumes, on another day, on another node. Replays run in this process: string
hashing, and so the order of a set of strings, is the same in every replay here,
while it differs between processes; a golden history (`replay`) recorded in
another process catches that.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from continuum import serialization
from continuum.errors import NondeterminismError, SerializationError
from continuum.runtime.context import CaughtUp, Nondeterminism, Suspend
from continuum.runtime.replay import Trace, trace
from continuum.store.base import JournalEntry, Write, WriteOutcome
from continuum.testing.history import mismatch_of
from continuum.workflow import Workflow

# How much of an output a mismatch message shows.
_SHOWN = 120


@dataclass(frozen=True, slots=True)
class Written:
    """One durable attempt write, with the journal after it and when it was made."""

    write: Write
    entries: tuple[JournalEntry, ...]
    at: float


class _At:
    """The harness of a paranoid replay: time stands at the moment of the write."""

    __slots__ = ("_at",)

    def __init__(self, at: float) -> None:
        self._at = at

    def now(self) -> float:
        return self._at

    def pause(self, seconds: float) -> None:  # a replay never gets as far as a retry
        return None

    def activity(self, name: str, fn: Callable[..., Any]) -> Callable[..., Any]:
        return fn


def check(entrypoint: type[Workflow], input_json: str | None, written: Written) -> None:
    """Raise NondeterminismError unless replaying `written.entries` ends where the write did."""
    write = written.write
    run_id = write.lease.run_id
    entries = written.entries
    done = trace(entrypoint, input_json, entries, run_id=run_id, harness=_At(written.at))
    mismatch = mismatch_of(done, entries)
    if mismatch is None:
        mismatch = _ending_mismatch(done, write, entries)
    if mismatch is not None:
        raise NondeterminismError(*mismatch, run_id=run_id)


def _ending_mismatch(
    done: Trace, write: Write, entries: Sequence[JournalEntry]
) -> tuple[int, str, str] | None:
    """Whether the replay stopped where the attempt did, as (position, recorded, now)."""
    halted = done.halted
    end = done.position
    last = end - 1  # where the code stopped: the last position it took
    if isinstance(halted, Nondeterminism):  # reported by mismatch_of; kept for the types
        return None
    outcome = write.outcome
    if write.continued_to is not None:  # continue_as_new: the run ended by going on
        return None
    if outcome == WriteOutcome.RECORD:
        return None  # the attempt went on: where it stopped, its last write says
    if outcome == WriteOutcome.SUSPENDED:
        if isinstance(halted, Suspend):
            timed = [wait.wake_at for wait in done.waits if wait.wake_at is not None]
            signals = sorted({wait.signal for wait in done.waits if wait.signal is not None})
            wake_at = min(timed) if timed else None
            if wake_at == write.wake_at and signals == sorted(write.wake_on_signals):
                return None
            return last, _waits(write.wake_at, write.wake_on_signals), _waits(wake_at, signals)
        return end, _waits(write.wake_at, write.wake_on_signals), _did(done)
    if outcome == WriteOutcome.COMPLETED:
        if halted is None and done.error is None and _output(done) == write.output_json:
            return None
        return end, f"the output {_short(write.output_json)}", _did(done)
    recorded_type = _error_type(write.error_json)
    if halted is None and done.error is not None:
        if type(done.error).__name__ == recorded_type:
            return None
    elif halted is None and recorded_type == "SerializationError" and _output(done) is None:
        return None  # the run failed because its output was not JSON, and so would this
    return end, f"a failure ({recorded_type})", _did(done)


def _output(done: Trace) -> str | None:
    """The replay's output as the run would store it; None when it is not JSON."""
    try:
        return serialization.dumps(done.output, what="the output")
    except SerializationError:
        return None


def _did(done: Trace) -> str:
    """What the replay did, in a few words."""
    halted = done.halted
    if isinstance(halted, CaughtUp):
        return "go on past the end of the journal"
    if isinstance(halted, Suspend):
        timed = [w.wake_at for w in done.waits if w.wake_at is not None]
        signals = sorted({w.signal for w in done.waits if w.signal is not None})
        return _waits(min(timed) if timed else None, signals)
    if halted is not None:
        return f"stop ({type(halted).__name__})"
    if done.error is not None:
        return f"raise {type(done.error).__name__}: {done.error}"
    text = _output(done)
    return f"return {_short(text)}" if text is not None else f"return {done.output!r:.{_SHOWN}}"


def _waits(wake_at: float | None, signals: Sequence[str]) -> str:
    parts = [f"signal {name!r}" for name in signals]
    if wake_at is not None:
        parts.append(f"until {wake_at!r}")
    return "a wait for " + (" or ".join(parts) if parts else "nothing")


def _short(text: str | None) -> str:
    if text is None:
        return "null"
    return text if len(text) <= _SHOWN else text[: _SHOWN - 3] + "..."


def _error_type(error_json: str | None) -> str:
    error = serialization.loads(error_json)
    return str(error.get("type", "Exception")) if isinstance(error, dict) else "Exception"
