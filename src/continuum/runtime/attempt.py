"""Run one claimed attempt: replay the journal through the entrypoint, then settle.

Every way out ends in exactly one store call fenced by the attempt's lease:
`finish` (completed or failed), `suspend` (waiting), or `release` (the run
could not be continued here: drift, shutdown). A lost lease ends the attempt
with no write at all.
"""

from __future__ import annotations

import asyncio
import contextvars
import logging
import threading
import time
import traceback
from collections.abc import Coroutine, Mapping
from dataclasses import dataclass
from typing import Any, Literal

from continuum import serialization
from continuum.errors import ContinuumError, SerializationError
from continuum.runtime.children import continuation
from continuum.runtime.context import (
    AttemptContext,
    ContinueAsNew,
    Halt,
    Harness,
    Interrupted,
    Nondeterminism,
    Suspend,
    _current,
)
from continuum.runtime.lease_guard import LeaseGuard
from continuum.store.base import Claim, History, Store
from continuum.workflow import Workflow, is_async

logger = logging.getLogger("continuum.runtime")

# A run whose code drifted from its journal is looked at again after this long,
# so that a corrected deploy picks it up without a busy loop meanwhile.
NONDETERMINISM_RETRY_SECONDS = 60.0


# completed/failed/suspended: written. released: handed back, due again (drift,
# shutdown). interrupted: stopped without a write (lease lost, store unreachable).
AttemptEnd = Literal["completed", "failed", "suspended", "released", "interrupted", "cancelled"]


@dataclass(frozen=True, slots=True)
class Outcome:
    """How one attempt ended. `cancelled` is reported by the instance, not an attempt."""

    run_id: str
    status: AttemptEnd
    output_json: str | None = None
    error_json: str | None = None
    continued_to: str | None = None  # the run that continues this one (continue_as_new)


class _LoopHolder(threading.local):
    runner: asyncio.Runner | None = None


_loops = _LoopHolder()


def close_thread_loop() -> None:
    """Close this thread's event loop for async workflows, if it made one."""
    if _loops.runner is not None:
        _loops.runner.close()
        _loops.runner = None


def _run_coroutine(coro: Coroutine[Any, Any, Any]) -> Any:
    # One loop per worker thread, reused by every async attempt that thread runs. A
    # Runner copies the thread's context once, at first use: each attempt passes its
    # own copy, or the workflow would see the attempt context of the thread's first.
    if _loops.runner is None:
        _loops.runner = asyncio.Runner()
    return _loops.runner.run(_alone(coro), context=contextvars.copy_context())


async def _alone(coro: Coroutine[Any, Any, Any]) -> Any:
    """Await `coro`, then cancel whatever tasks it left behind (a gather branch that
    was still waiting when another suspended), so none leaks into the next attempt."""
    try:
        return await coro
    finally:
        me = asyncio.current_task()
        leftovers = [task for task in asyncio.all_tasks() if task is not me]
        for task in leftovers:
            task.cancel()
        await asyncio.gather(*leftovers, return_exceptions=True)


def execute(
    store: Store,
    claim: Claim,
    entrypoint: type[Workflow],
    *,
    metadata: Mapping[str, Any],
    stopping: threading.Event,
    guard: LeaseGuard,
    harness: Harness | None = None,
) -> Outcome:
    run = claim.run
    # A run this node has just inserted has no journal, and a signal sent to it in
    # the meantime marks its row, which wakes it again when it next suspends.
    history = History((), ()) if claim.fresh else store.load_history(run.run_id)
    ctx = AttemptContext(
        store=store,
        claim=claim,
        history=history,
        is_async=is_async(entrypoint),
        metadata=metadata,
        stopping=stopping,
        guard=guard,
        harness=harness,
    )
    started = time.perf_counter()
    resumed = bool(history.entries)
    ctx.emit(
        ("continuum", "run", "resumed" if resumed else "start"),
        {"journal_events": len(history.entries)},
    )
    logger.info("run %s (%s) %s", run.run_id, run.workflow, "resumed" if resumed else "started")
    try:
        return _attempt(ctx, entrypoint, started)
    except BaseException as exc:  # every attempt that began reports how it ended
        _ended(ctx, "interrupted", started, reason=f"{type(exc).__name__}: {exc}")
        raise


def _attempt(ctx: AttemptContext, entrypoint: type[Workflow], started: float) -> Outcome:
    run = ctx.claim.run
    token = _current.set(ctx)
    try:
        output = call_run(ctx, entrypoint, serialization.loads(run.input_json))
        if ctx.halted is not None:
            raise ctx.halted
        leftover = ctx.unreplayed()
        if leftover:
            ctx.halt(Nondeterminism(ctx.position, "the end of run()", leftover[0]))
    except Halt as halt:
        return _settle_halt(ctx, ctx.halted or halt, started, entrypoint)
    except Exception as error:
        if ctx.halted is not None:  # workflow code swallowed a halt, then raised
            return _settle_halt(ctx, ctx.halted, started, entrypoint)
        return _fail(ctx, error, started)
    finally:
        _current.reset(token)
    try:
        text = serialization.dumps(output, what=f"the output of run {run.run_id}")
    except SerializationError as error:
        return _fail(ctx, error, started)
    status: Literal["completed", "cancelled"] = "cancelled" if ctx.cancelled else "completed"
    return _settle(
        ctx,
        status,
        started,
        lambda: ctx.writer.finish(
            ctx.lease,
            ctx.pending,
            status=status,
            output_json=text,
            error_json=None,
            start_runs=ctx.starting,
            parent_run_id=run.parent_run_id,
        ),
        output_json=text,
    )


def call_run(ctx: AttemptContext, entrypoint: type[Workflow], input_value: Any) -> Any:
    workflow = entrypoint()
    if ctx.is_async:
        return _run_coroutine(workflow.run(input_value))
    return workflow.run(input_value)


def _fail(ctx: AttemptContext, error: BaseException, started: float) -> Outcome:
    details = {
        "type": type(error).__name__,
        "message": str(error),
        "traceback": "".join(traceback.format_exception(error)),
    }
    error_json = serialization.dumps(details, what="run error")
    status: Literal["failed", "cancelled"] = "cancelled" if ctx.cancelled else "failed"
    return _settle(
        ctx,
        status,
        started,
        lambda: ctx.writer.finish(
            ctx.lease,
            ctx.pending,
            status=status,
            output_json=None,
            error_json=error_json,
            start_runs=ctx.starting,
            parent_run_id=ctx.claim.run.parent_run_id,
        ),
        error_json=error_json,
        error_type=details["type"],
        error_message=details["message"],
    )


def _settle_halt(
    ctx: AttemptContext, halt: Halt, started: float, entrypoint: type[Workflow]
) -> Outcome:
    if isinstance(halt, ContinueAsNew):
        successor = continuation(ctx, halt, entrypoint)
        return _settle(
            ctx,
            "completed",
            started,
            lambda: ctx.writer.finish(
                ctx.lease,
                ctx.pending,
                status="completed",
                output_json=None,
                error_json=None,
                start_runs=[*ctx.starting, successor],
                continued_to=successor.run_id,
                parent_run_id=ctx.claim.run.parent_run_id,
            ),
            continued_to=successor.run_id,
        )
    if isinstance(halt, Suspend):
        timed = [w.wake_at for w in ctx.waits if w.wake_at is not None]
        signals = sorted({w.signal for w in ctx.waits if w.signal is not None})
        wake_at = min(timed) if timed else None
        return _settle(
            ctx,
            "suspended",
            started,
            lambda: ctx.writer.suspend(
                ctx.lease,
                ctx.pending,
                wake_at=wake_at,
                wake_on_signals=signals,
                start_runs=ctx.starting,
            ),
            wake_at=wake_at,
            signals=signals,
        )
    if isinstance(halt, Nondeterminism):
        # Keep the journal whole: nothing buffered by this attempt is written.
        _ended(
            ctx,
            "nondeterminism",
            started,
            {"position": halt.position},
            expected=halt.expected,
            recorded_kind=halt.recorded.kind,
            recorded_name=halt.recorded.name,
            message=str(halt),
        )
        logger.warning("run %s stopped: %s", ctx.run_id, halt)
        _release(ctx, NONDETERMINISM_RETRY_SECONDS)
        return Outcome(ctx.run_id, "released")
    assert isinstance(halt, Interrupted)
    if halt.reason == "shutdown":
        _release(ctx, 0.0)
        _ended(ctx, "released", started, reason="shutdown")
        return Outcome(ctx.run_id, "released")
    logger.warning("run %s: attempt stopped: %s (%s)", ctx.run_id, halt.reason, halt.cause)
    reason = halt.reason if halt.cause is None else f"{halt.reason}: {halt.cause}"
    _ended(ctx, "interrupted", started, reason=reason)
    return Outcome(ctx.run_id, "interrupted")


def _settle(
    ctx: AttemptContext,
    status: Literal["completed", "failed", "suspended", "cancelled"],
    started: float,
    write: Any,
    *,
    output_json: str | None = None,
    error_json: str | None = None,
    continued_to: str | None = None,
    **extra: Any,
) -> Outcome:
    """Make the outcome durable, then report it (`extra` goes to telemetry)."""
    ctx.guard.ending = True
    try:
        write()
    except ContinuumError as exc:
        logger.info("run %s: could not record %s: %s", ctx.run_id, status, exc)
        _ended(ctx, "interrupted", started, reason=f"could not record {status}: {exc}")
        return Outcome(ctx.run_id, "interrupted")
    if status == "failed" or (status == "cancelled" and error_json is not None):
        logger.warning(
            "run %s (%s) failed: %s: %s",
            ctx.run_id,
            ctx.claim.run.workflow,
            extra.get("error_type"),
            extra.get("error_message"),
        )
    else:
        logger.info("run %s (%s) %s", ctx.run_id, ctx.claim.run.workflow, status)
    # A run that unwound and ended cancelled reports how run() ended: returned or raised.
    event = {"completed": "stop", "failed": "exception", "suspended": "suspended"}.get(
        status, "stop" if error_json is None else "exception"
    )
    _ended(ctx, event, started, **extra)
    return Outcome(ctx.run_id, status, output_json, error_json, continued_to)


def _ended(
    ctx: AttemptContext,
    event: str,
    started: float,
    measurements: Mapping[str, Any] | None = None,
    **extra: Any,
) -> None:
    """Report how the attempt ended: exactly one such event follows each start/resumed."""
    took = {"duration": time.perf_counter() - started, **(measurements or {})}
    ctx.emit(("continuum", "run", event), took, **extra)


def _release(ctx: AttemptContext, delay: float) -> None:
    try:
        ctx.writer.release(ctx.lease, delay=delay)
    except ContinuumError as exc:
        logger.info("run %s: release failed (%s); its lease will expire", ctx.run_id, exc)
