"""Activities: the only place for side effects.

    @continuum.activity(retry=continuum.Retry(max_attempts=5), timeout=30)
    def charge_card(card, amount): ...

Inside a running workflow a call runs the function once and journals its
result or final error; replay returns the journaled outcome without calling it.
Anywhere else the call is a plain call, and that includes the body of another
activity: an activity is the unit that is journaled and retried, so one called
from inside another is part of the outer one's work. It is not journaled on its
own, its retry policy and timeout do not apply, and its exceptions reach the
outer activity, whose retry policy decides.

Retry decisions are written once, as a generator that yields what it needs
done (`_Invoke`, `_Pause`); a sync driver and an async driver carry those out.
Short pauses between attempts are waited in place (the lease is renewed
meanwhile); longer ones journal the failed attempt and suspend the run.
"""

from __future__ import annotations

import asyncio
import functools
import inspect
import logging
import threading
import time
from collections.abc import Callable, Coroutine, Generator
from dataclasses import dataclass, replace
from typing import Any, ParamSpec, TypeVar, overload

from continuum import serialization, validation
from continuum.errors import ActivityFailed, ConfigurationError, SerializationError
from continuum.runtime import saga
from continuum.runtime.context import AttemptContext, Harness, current, outside_workflow
from continuum.runtime.retry import NO_RETRY, Retry
from continuum.store.base import JournalEntry
from continuum.workflow import module_identity

logger = logging.getLogger("continuum.activity")

P = ParamSpec("P")
R = TypeVar("R")

ACTIVITY = frozenset({"activity", "activity_retry"})
# Pauses between attempts up to this long are waited in place, holding the lease.
INLINE_PAUSE_LIMIT = 1.0


@dataclass(frozen=True, slots=True)
class ActivityDefinition:
    name: str
    fn: Callable[..., Any]
    retry: Retry
    timeout: float | None
    is_async: bool
    compensate: Callable[..., Any] | None = None  # an activity: saga.after_success


@dataclass(frozen=True, slots=True)
class _Invoke:
    attempt: int


@dataclass(frozen=True, slots=True)
class _Pause:
    seconds: float


_Outcome = tuple[bool, Any]  # (succeeded, value or exception)


def _position(ctx: AttemptContext, spec: ActivityDefinition) -> tuple[int, JournalEntry | None]:
    """Take the call's journal position (at call time, also for async) and its row."""
    position = ctx.next_position()
    return position, ctx.replayed(position, ACTIVITY, spec.name)


def _steps(
    ctx: AttemptContext, spec: ActivityDefinition, position: int, entry: JournalEntry | None
) -> Generator[_Invoke | _Pause, _Outcome | None, Any]:
    """Run one activity call not yet journaled; yields requests, returns its value."""
    attempt = 1
    if entry is not None:  # an earlier attempt failed and the run slept on its retry
        pending = serialization.loads(entry.payload_json)
        attempt = int(pending["attempt"]) + 1
        retry_at = float(pending["retry_at"])
        if ctx.clock() < retry_at:
            ctx.suspend(wake_at=retry_at)
    ctx.flush()  # buffered values become durable before the side effect sees them
    meta = {"activity": spec.name, "position": position}
    while True:
        # The flush or a pause may have taken long, or the node stalled: invoke
        # nothing unless the lease still holds by this node's own clock.
        ctx.check_running()
        ctx.may_act()
        ctx.emit(("continuum", "activity", "start"), {"attempt": attempt}, **meta)
        started = time.perf_counter()
        outcome = yield _Invoke(attempt)
        assert outcome is not None
        succeeded, value = outcome
        took = time.perf_counter() - started
        # No shutdown check here: a finished activity is journaled first (the
        # commit is fenced, so a lost lease still refuses it); the next call stops.
        if succeeded:
            try:
                payload = serialization.dumps({"result": value}, what=f"the result of {spec.name}")
            except SerializationError as exc:
                succeeded, value = False, exc
            else:
                ctx.commit(JournalEntry(position, "activity", spec.name, payload))
                ctx.emit(
                    ("continuum", "activity", "stop"),
                    {"duration": took, "attempt": attempt},
                    **meta,
                )
                return serialization.loads(payload)["result"]
        # A timeout is recorded as the TimeoutError it is to the workflow.
        kind = TimeoutError if isinstance(value, ActivityTimedOut) else type(value)
        error = {"type": kind.__name__, "message": str(value)}
        if isinstance(value, ActivityTimedOut):
            ctx.emit(
                ("continuum", "activity", "timeout"),
                {"timeout": value.timeout, "attempt": attempt},
                **meta,
            )
        ctx.emit(
            ("continuum", "activity", "exception"),
            {"duration": took, "attempt": attempt},
            **meta,
            error_type=error["type"],
            error_message=error["message"],
        )
        if isinstance(value, SerializationError) or spec.retry.gives_up(attempt, value):
            logger.warning(
                "run %s: activity %s failed after %d attempt(s): %s: %s",
                ctx.run_id,
                spec.name,
                attempt,
                error["type"],
                error["message"],
            )
            ctx.commit(
                JournalEntry(
                    position,
                    "activity",
                    spec.name,
                    serialization.dumps(
                        {"error": error, "attempts": attempt}, what="activity error"
                    ),
                )
            )
            raise ActivityFailed(spec.name, error["type"], error["message"])
        attempt += 1
        pause = spec.retry.pause_before(attempt)
        ctx.emit(
            ("continuum", "activity", "retry"),
            {"delay": pause, "attempt": attempt},
            **meta,
            error_type=error["type"],
            retry_at=ctx.clock() + pause,
        )
        logger.warning(
            "run %s: activity %s attempt %d failed (%s: %s); retrying in %.3gs",
            ctx.run_id,
            spec.name,
            attempt - 1,
            error["type"],
            error["message"],
            pause,
        )
        if pause > INLINE_PAUSE_LIMIT:
            retry_at = ctx.clock() + pause
            row = {"attempt": attempt - 1, "retry_at": retry_at, "error": error}
            ctx.commit(
                JournalEntry(
                    position,
                    "activity_retry",
                    spec.name,
                    serialization.dumps(row, what="activity retry"),
                )
            )
            ctx.suspend(wake_at=retry_at)
        yield _Pause(pause)


def _journaled_outcome(spec: ActivityDefinition, entry: JournalEntry) -> Any:
    payload = serialization.loads(entry.payload_json)
    if "error" in payload:
        error = payload["error"]
        raise ActivityFailed(spec.name, error["type"], error["message"])
    return payload["result"]


def _call_sync(ctx: AttemptContext, spec: ActivityDefinition, args: Any, kwargs: Any) -> Any:
    position, entry = _position(ctx, spec)
    if entry is not None and entry.kind == "activity":
        # replay: no generator, no waiting
        return _succeeded(ctx, spec, position, _journaled_outcome(spec, entry))
    if ctx.harness is not None:
        spec = _harnessed(ctx.harness, spec)
    steps = _steps(ctx, spec, position, entry)
    reply: _Outcome | None = None
    try:
        while True:
            request = steps.send(reply)
            if isinstance(request, _Pause):
                _pause(ctx, request.seconds)
                reply = None
            else:
                reply = _invoke_sync(spec, args, kwargs)
    except StopIteration as done:
        return _succeeded(ctx, spec, position, done.value)


def _harnessed(harness: Harness, spec: ActivityDefinition) -> ActivityDefinition:
    """The activity as an attempt under a test harness calls it: maybe a mock."""
    return replace(spec, fn=harness.activity(spec.name, spec.fn))


def _succeeded(ctx: AttemptContext, spec: ActivityDefinition, position: int, value: Any) -> Any:
    if spec.compensate is not None:
        saga.after_success(ctx, spec.compensate, position, value)
    return value


def _call_async(
    ctx: AttemptContext, spec: ActivityDefinition, args: Any, kwargs: Any
) -> Coroutine[Any, Any, Any]:
    position, entry = _position(ctx, spec)
    if entry is not None and entry.kind == "activity":
        return _replayed_async(ctx, spec, position, entry)
    if ctx.harness is not None:
        spec = _harnessed(ctx.harness, spec)
    steps = _steps(ctx, spec, position, entry)
    return _drive_async(ctx, spec, steps, args, kwargs, position=position)


async def _replayed_async(
    ctx: AttemptContext, spec: ActivityDefinition, position: int, entry: JournalEntry
) -> Any:
    return _succeeded(ctx, spec, position, _journaled_outcome(spec, entry))


async def _drive_async(
    ctx: AttemptContext,
    spec: ActivityDefinition,
    steps: Generator[_Invoke | _Pause, _Outcome | None, Any],
    args: Any,
    kwargs: Any,
    *,
    position: int,
) -> Any:
    reply: _Outcome | None = None
    try:
        while True:
            request = steps.send(reply)
            if isinstance(request, _Pause):
                await _pause_async(ctx, request.seconds)
                reply = None
            else:
                reply = await _invoke_async(spec, args, kwargs)
    except StopIteration as done:
        return _succeeded(ctx, spec, position, done.value)


class ActivityTimedOut(TimeoutError):
    """An activity ran past its `timeout=`; its try counts as failed."""

    def __init__(self, name: str, timeout: float) -> None:
        super().__init__(f"activity {name} timed out after {timeout:g}s")
        self.timeout = timeout


async def _pause_async(ctx: AttemptContext, seconds: float) -> None:
    if ctx.harness is None:
        await asyncio.sleep(seconds)
    else:
        ctx.harness.pause(seconds)
        await asyncio.sleep(0)  # other gathered activities go on, as in a real pause


def _pause(ctx: AttemptContext, seconds: float) -> None:
    if ctx.harness is not None:
        ctx.harness.pause(seconds)
        return
    # Wake early when the node is stopping or the lease is lost.
    deadline = time.monotonic() + seconds
    while (left := deadline - time.monotonic()) > 0:
        if ctx.stopping.wait(min(left, 0.05)) or not ctx.guard.holds():
            break


def _invoke_sync(spec: ActivityDefinition, args: Any, kwargs: Any) -> _Outcome:
    if spec.timeout is None:
        try:
            with outside_workflow():
                return True, spec.fn(*args, **kwargs)
        except Exception as exc:
            return False, exc
    # A thread cannot be killed: past the timeout the attempt counts as failed and
    # the call is left to finish on its own. Make timed activities idempotent.
    box: list[_Outcome] = []

    def target() -> None:
        try:
            box.append((True, spec.fn(*args, **kwargs)))
        except Exception as exc:
            box.append((False, exc))

    worker = threading.Thread(target=target, name=f"activity {spec.name}", daemon=True)
    worker.start()
    worker.join(spec.timeout)
    if not box:
        return False, ActivityTimedOut(spec.name, spec.timeout)
    return box[0]


async def _invoke_async(spec: ActivityDefinition, args: Any, kwargs: Any) -> _Outcome:
    try:
        with outside_workflow():
            if spec.timeout is None:
                return True, await spec.fn(*args, **kwargs)
            return True, await asyncio.wait_for(spec.fn(*args, **kwargs), spec.timeout)
    except TimeoutError:
        assert spec.timeout is not None
        return False, ActivityTimedOut(spec.name, spec.timeout)
    except Exception as exc:
        return False, exc


@overload
def activity(fn: Callable[P, R], /) -> Callable[P, R]: ...


@overload
def activity(
    *,
    name: str | None = None,
    retry: Retry | None = None,
    timeout: float | None = None,
    compensate: Callable[..., Any] | None = None,
) -> Callable[[Callable[P, R]], Callable[P, R]]: ...


def activity(
    fn: Callable[P, R] | None = None,
    /,
    *,
    name: str | None = None,
    retry: Retry | None = None,
    timeout: float | None = None,
    compensate: Callable[..., Any] | None = None,
) -> Any:
    """Mark a function as an activity: `@activity` or `@activity(name=, retry=, timeout=)`.

    `compensate=undo` (itself an activity) registers `undo(result)` as a saga
    step after each success inside a workflow (see `continuum.compensate_all`).
    """
    if retry is not None and not isinstance(retry, Retry):
        raise ConfigurationError("activity(retry=) takes a continuum.Retry(...)")
    timeout = validation.duration(timeout, name="activity(timeout=)", allow_none=True)
    if name is not None:
        validation.identifier(name, name="activity(name=)")
    undo = (
        None if compensate is None else saga.undo_activity(compensate, what="activity(compensate=)")
    )

    def decorate(func: Callable[P, R]) -> Callable[P, R]:
        if not callable(func):
            raise ConfigurationError(f"@continuum.activity decorates functions, not {func!r}")
        spec = ActivityDefinition(
            # named as other processes import it, also when defined in a script
            name=name or f"{module_identity(func.__module__)}.{func.__qualname__}",
            fn=func,
            retry=retry or NO_RETRY,
            timeout=timeout,
            is_async=inspect.iscoroutinefunction(func),
            compensate=compensate,
        )
        if undo is not None and undo.is_async and not spec.is_async:
            raise ConfigurationError(
                f"activity {spec.name} is a def but its compensate= {undo.name} is async; "
                "make both async, or the compensation a def"
            )
        if spec.is_async:

            @functools.wraps(func)
            def call_async(*args: Any, **kwargs: Any) -> Any:
                ctx = current()
                if ctx is None:
                    return func(*args, **kwargs)
                if not ctx.is_async:
                    raise ConfigurationError(
                        f"async activity {spec.name} was called from a sync workflow; "
                        "make the workflow 'async def run' and await it, or make the activity a def"
                    )
                return _call_async(ctx, spec, args, kwargs)

            wrapper: Any = call_async
        else:

            @functools.wraps(func)
            def call_sync(*args: Any, **kwargs: Any) -> Any:
                ctx = current()
                if ctx is None:
                    return func(*args, **kwargs)
                return _call_sync(ctx, spec, args, kwargs)

            wrapper = call_sync
        wrapper.__continuum_activity__ = spec
        return wrapper  # type: ignore[no-any-return]

    return decorate if fn is None else decorate(fn)
