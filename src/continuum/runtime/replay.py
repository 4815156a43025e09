"""Replaying a recorded journal through some code, acting on nothing.

Used to ask "would this code resume that run?" before it has to: `continuum
replay-check` (the code a release would run for live runs), `continuum versions
migrate` (re-pinning runs to another version), and the testing kit's recorded
histories. The attempt has no store: recorded results are returned as in any
replay, and at the first point where the code would act (invoke an activity,
record a value, write) it stops (`CaughtUp`). Time stands at the end of time, so
every recorded timer has fired and a recorded wait is where the replay stops.

The answer is the first drift, if any: the position, what the journal holds
there and what the code did instead.
"""

from __future__ import annotations

import threading
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from continuum import serialization
from continuum.runtime.attempt import call_run
from continuum.runtime.context import (
    AttemptContext,
    CaughtUp,
    Halt,
    Harness,
    Nondeterminism,
    Suspend,
    Wait,
    _current,
)
from continuum.store.base import Claim, History, JournalEntry, Lease, RunRecord, RunStatus
from continuum.workflow import Workflow, is_async


@dataclass(frozen=True, slots=True)
class Drift:
    """Where replaying a journal through code first went another way."""

    position: int
    recorded_kind: str  # what the journal holds there ("" past its end)
    recorded_name: str
    code_did: str  # what the code asked for instead

    def __str__(self) -> str:
        recorded = (
            f"{self.recorded_kind} {self.recorded_name!r}"
            if self.recorded_kind
            else "the end of the journal"
        )
        return (
            f"at position {self.position} the journal holds {recorded}, "
            f"the code did {self.code_did}"
        )


@dataclass(frozen=True, slots=True)
class ReplayError:
    """The code raised something other than a drift while replaying (a bug, a NameError)."""

    error: str

    def __str__(self) -> str:
        return f"the code raised {self.error} while replaying"


def replay(
    entrypoint: type[Workflow],
    input_json: str | None,
    entries: Sequence[JournalEntry],
    *,
    run_id: str = "replay",
) -> Drift | ReplayError | None:
    """Replay `entries` through `entrypoint`; None when it follows them to their end."""
    return first_drift(trace(entrypoint, input_json, entries, run_id=run_id))


@dataclass(frozen=True, slots=True)
class Trace:
    """What the code did over a recorded journal: how it stopped, and where."""

    halted: Halt | None  # None: run() returned `output` or raised `error`
    position: int  # the next journal position the code would have taken
    last_recorded: int  # the journal's last position (-1: empty)
    unreplayed: list[JournalEntry]  # recorded rows the code never reached
    waits: list[Wait]  # where it suspended, when `halted` is a Suspend
    output: Any = None
    error: Exception | None = None


def trace(
    entrypoint: type[Workflow],
    input_json: str | None,
    entries: Sequence[JournalEntry],
    *,
    run_id: str = "replay",
    harness: Harness | None = None,
) -> Trace:
    """Run `entrypoint` over `entries`, acting on nothing. Time stands at the end of
    time, or where `harness` says (the testing kit's paranoid mode replays a run at
    the moment of each of its writes)."""
    run = RunRecord(
        run_id=run_id,
        workflow=entrypoint.workflow,
        version_hash=entrypoint.version_hash,
        version=entrypoint.version,
        status=RunStatus.RUNNING,
        input_json=input_json,
        output_json=None,
        error_json=None,
        created_at=0.0,
        updated_at=0.0,
    )
    claim = Claim(run, Lease(run_id, "replay", 0, 0), db_now=float("inf"))
    ctx = AttemptContext(
        store=None,
        claim=claim,
        history=History(sorted(entries), ()),
        is_async=is_async(entrypoint),
        metadata={"run_id": run_id, "workflow": entrypoint.workflow, "replay": True},
        stopping=threading.Event(),
        harness=harness,
    )
    output: Any = None
    error: Exception | None = None
    token = _current.set(ctx)
    try:
        with warnings.catch_warnings():
            # A replay that stops (CaughtUp) while `asyncio.gather(...)` takes its
            # arguments leaves the coroutines of the activities it replayed before
            # unawaited; they did nothing, so their warning is noise.
            warnings.filterwarnings("ignore", "coroutine .* was never awaited", RuntimeWarning)
            output = call_run(ctx, entrypoint, serialization.loads(input_json))
        halted = ctx.halted
    except Halt as halt:
        halted = ctx.halted or halt
    except Exception as exc:
        halted = ctx.halted
        error = exc
    finally:
        _current.reset(token)
    return Trace(
        halted, ctx.position, ctx.last_recorded, ctx.unreplayed(), list(ctx.waits), output, error
    )


def first_drift(done: Trace) -> Drift | ReplayError | None:
    """Where a trace first went another way than its journal; None when it did not."""
    halted = done.halted
    if halted is None and done.error is not None:
        # A workflow that fails while replaying recorded results: it would fail
        # the same way when resumed, unless the journal ends before the failure.
        if done.position > done.last_recorded:
            return None
        return ReplayError(f"{type(done.error).__name__}: {done.error}")
    if isinstance(halted, Nondeterminism):
        return Drift(halted.position, halted.recorded.kind, halted.recorded.name, halted.expected)
    if isinstance(halted, CaughtUp):
        return None
    if halted is None or isinstance(halted, Suspend):
        if done.unreplayed:  # rows the code never reached
            first = done.unreplayed[0]
            did = "return from run()" if halted is None else "wait there"
            return Drift(first.seq, first.kind, first.name, did)
        return None
    return ReplayError(f"{type(halted).__name__}: {halted}")
