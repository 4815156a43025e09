"""Child workflows and continue-as-new: runs that start other runs.

    class Order(continuum.Workflow, version=1):
        def run(self, order):
            parcels = [continuum.start_child(Shipment, p) for p in order["parcels"]]
            return [continuum.await_child(handle) for handle in parcels]

`start_child` journals a "child" row and starts the child in the same fenced
transaction as that row (the child is inserted with the attempt's next write),
so a crash either keeps both or neither, and replay finds the row and starts
nothing. The child's run id is the parent's id and the call's position
(`<parent>/<position>`), or the `id` given, so it is stable across replays.

A child that ends tells its parent in the transaction that ends it: a signal
named for the child (`store.child_ended_signal`), whose payload says how it
ended. `await_child` takes that signal like `wait_for_signal` takes one, and
journals the outcome ("child_result"); until then it suspends waiting for that
signal alone, so a parent of thousands of children is woken by the child it
waits for, not by each, and finds each child's signal without a search.

A child that continues as new tells its parent too, naming the run that
continues it: the parent's wait moves on to that run, at the same journal
position, until the chain ends.

`continue_as_new(input)` ends the run `completed` with `continued_to` naming a
fresh run of the same workflow, on the code this node has now for it, started
in the same transaction; the fresh run inherits the attributes, the parent and
the trace of the old one.
"""

from __future__ import annotations

import asyncio
import importlib
import uuid
from dataclasses import dataclass
from typing import Any, Literal, NoReturn

from continuum import serialization, validation
from continuum.errors import ChildCancelled, ChildFailed, ConfigurationError
from continuum.runtime.context import AttemptContext, ContinueAsNew, entry_value, require
from continuum.store.base import JournalEntry, NewRun, child_ended_signal
from continuum.workflow import Workflow, entrypoint_of

CHILD = frozenset({"child"})
CHILD_END = frozenset({"child_result", "child_wait"})
ParentCancel = Literal["cancel", "abandon"]


@dataclass(frozen=True, slots=True)
class ChildHandle:
    """A started child: pass it to `await_child`. `run_id` names the child's run."""

    run_id: str
    workflow: str


def start_child(
    workflow_cls: type[Workflow],
    input: Any = None,
    *,
    id: str | None = None,
    on_parent_cancel: ParentCancel = "cancel",
) -> ChildHandle:
    """Start a run of `workflow_cls` as a child of this run; returns its handle.

    The child is pinned to the code this node has for `workflow_cls` now, and
    starts when this run next writes (at the latest when it waits). Cancelling
    this run cancels the child too, unless `on_parent_cancel="abandon"`.
    """
    ctx = require("start_child")
    # Everything is checked before the call takes a journal position: a refused
    # call records nothing and starts nothing.
    entrypoint = entrypoint_of(workflow_cls)
    if id is not None:
        validation.identifier(id, name="start_child(id=)")
    if on_parent_cancel not in ("cancel", "abandon"):
        raise ConfigurationError(
            f"start_child(on_parent_cancel=) is 'cancel' or 'abandon', not {on_parent_cancel!r}"
        )
    input_json = serialization.dumps(input, what=f"the input of child {entrypoint.workflow}")
    position = ctx.next_position()
    entry = ctx.replayed(position, CHILD, entrypoint.workflow)
    if entry is not None:
        return ChildHandle(str(entry_value(entry, "run_id")), entrypoint.workflow)
    ctx.may_act()
    _require_registered(ctx, entrypoint)
    run_id = f"{ctx.run_id}/{position}" if id is None else id
    if id is not None:
        _require_free(ctx, id)
    run = ctx.claim.run
    ctx.starting.append(
        NewRun(
            run_id,
            entrypoint.workflow,
            entrypoint.version_hash,
            entrypoint.version,
            input_json,
            trace_context=run.trace_context,
            parent_run_id=run.run_id,
            cancel_with_parent=on_parent_cancel == "cancel",
            unwind_on_cancel=entrypoint.on_cancel == "unwind",
        )
    )
    payload = serialization.dumps({"run_id": run_id}, what="journal payload")
    ctx.buffer(JournalEntry(position, "child", entrypoint.workflow, payload))
    ctx.emit(
        ("continuum", "child", "started"),
        {"count": 1},
        position=position,
        child_run_id=run_id,
        child_workflow=entrypoint.workflow,
    )
    return ChildHandle(run_id, entrypoint.workflow)


def await_child(handle: ChildHandle) -> Any:
    """Wait for the child to end and return its output.

    Raises `ChildFailed` (with the child's run id and error) or `ChildCancelled`.
    The run suspends meanwhile; the child's end wakes it.
    """
    ctx = require("await_child")
    if not isinstance(handle, ChildHandle):
        raise ConfigurationError(
            f"await_child() takes the handle start_child() returned, not {handle!r}"
        )
    position = ctx.next_position()
    return _child_outcome(ctx, position, handle)


def child(
    workflow_cls: type[Workflow],
    input: Any = None,
    *,
    id: str | None = None,
    on_parent_cancel: ParentCancel = "cancel",
) -> Any:
    """Start a child and wait for it: `await_child(start_child(...))`."""
    handle = start_child(workflow_cls, input, id=id, on_parent_cancel=on_parent_cancel)
    return await_child(handle)


async def start_child_async(
    workflow_cls: type[Workflow],
    input: Any = None,
    *,
    id: str | None = None,
    on_parent_cancel: ParentCancel = "cancel",
) -> ChildHandle:
    """`await continuum.start_child_async(...)` in an `async def run`."""
    return start_child(workflow_cls, input, id=id, on_parent_cancel=on_parent_cancel)


async def await_child_async(handle: ChildHandle) -> Any:
    """`await continuum.await_child_async(handle)` in an `async def run`.

    Gives the other tasks of the workflow their turn once, every time, before it
    answers or suspends: children awaited with `asyncio.gather` all take their
    journal positions (and all wait at once) in the same order on every replay.
    """
    ctx = require("await_child_async")
    if not isinstance(handle, ChildHandle):
        raise ConfigurationError(
            f"await_child_async() takes the handle start_child() returned, not {handle!r}"
        )
    position = ctx.next_position()
    await asyncio.sleep(0)
    return _child_outcome(ctx, position, handle)


async def child_async(
    workflow_cls: type[Workflow],
    input: Any = None,
    *,
    id: str | None = None,
    on_parent_cancel: ParentCancel = "cancel",
) -> Any:
    """`await continuum.child_async(...)`: start a child and wait for it."""
    handle = start_child(workflow_cls, input, id=id, on_parent_cancel=on_parent_cancel)
    return await await_child_async(handle)


def continue_as_new(input: Any = None) -> NoReturn:
    """End this run and continue as a fresh run of the same workflow with `input`.

    The fresh run starts on the code this node has now for the workflow (the
    point where a long-lived loop picks up new code), with an empty journal.
    `result()` on any run of the chain follows it to the final outcome. Never
    returns; code after it does not run.
    """
    ctx = require("continue_as_new")
    # Checked before anything else: a refused call writes nothing and ends nothing.
    input_json = serialization.dumps(input, what="the input of continue_as_new")
    ctx.check_running()
    ctx.may_act()
    ctx.halt(ContinueAsNew(input_json))


async def continue_as_new_async(input: Any = None) -> NoReturn:
    """`await continuum.continue_as_new_async(input)` in an `async def run`."""
    continue_as_new(input)


def continuation(ctx: AttemptContext, halt: ContinueAsNew, entrypoint: type[Workflow]) -> NewRun:
    """The run that continues this one (see `continue_as_new`)."""
    run = ctx.claim.run
    current = current_entrypoint(entrypoint)
    return NewRun(
        str(uuid.uuid4()),
        current.workflow,
        current.version_hash,
        current.version,
        halt.input_json,
        trace_context=run.trace_context,
        parent_run_id=run.parent_run_id,
        cancel_with_parent=run.cancel_with_parent,
        continued_from=run.run_id,
        attributes_json=run.attributes_json,
        unwind_on_cancel=current.on_cancel == "unwind",
    )


def current_entrypoint(entrypoint: type[Workflow]) -> type[Workflow]:
    """The entrypoint of the code this process has now for `entrypoint`'s workflow:
    the class its module defines under that name today (it may have been reloaded
    with new code since the run started), or the run's own when there is none."""
    public = entrypoint.__mro__[1]
    try:
        found: Any = importlib.import_module(public.__module__)
        for part in public.__qualname__.split("."):
            found = getattr(found, part)
    except (ImportError, AttributeError):
        return entrypoint
    if isinstance(found, type) and issubclass(found, Workflow):
        current = entrypoint_of(found)
        if current.workflow == entrypoint.workflow:
            return current
    return entrypoint


# -- internals ---------------------------------------------------------------------
def _child_outcome(ctx: AttemptContext, position: int, handle: ChildHandle) -> Any:
    entry = ctx.replayed(position, CHILD_END, handle.run_id)
    if entry is not None and entry.kind == "child_result":
        return _settle(serialization.loads(entry.payload_json), handle)
    # The run this wait is on: the child, or a later run of its chain.
    waiting_on = handle.run_id if entry is None else str(entry_value(entry, "waiting_on"))
    since = ctx.clock() if entry is None else entry_value(entry, "since")
    while (signal := ctx.take_signal(child_ended_signal(waiting_on))) is not None:
        ended = serialization.loads(signal.payload_json)
        successor = ended.get("continued_to")
        if successor is None:
            text = serialization.dumps(ended, what="journal payload")
            entry = JournalEntry(
                position, "child_result", handle.run_id, text, consumes_signal=signal.signal_id
            )
            ctx.buffer(entry)
            ctx.emit(
                ("continuum", "child", "ended"),
                {"wait": max(0.0, ctx.clock() - float(since))},
                position=position,
                child_run_id=handle.run_id,
                child_workflow=handle.workflow,
                status=ended["status"],
            )
            return _settle(ended, handle)
        # The child continued as new: wait on for its successor, at this position. Written
        # at once: a row takes one signal, and the successor's may be here already.
        waiting_on = str(successor)
        wait = serialization.dumps({"waiting_on": waiting_on, "since": since}, what="payload")
        ctx.commit(
            JournalEntry(
                position, "child_wait", handle.run_id, wait, consumes_signal=signal.signal_id
            )
        )
        entry = ctx.entries[position]
    if entry is None:
        wait = serialization.dumps({"waiting_on": waiting_on, "since": since}, what="payload")
        ctx.buffer(JournalEntry(position, "child_wait", handle.run_id, wait))
    ctx.suspend(wake_at=None, signal=child_ended_signal(waiting_on))
    raise AssertionError("unreachable")  # pragma: no cover


def _settle(ended: dict[str, Any], handle: ChildHandle) -> Any:
    status = ended.get("status")
    if status == "completed":
        return ended.get("output")
    run_id = str(ended.get("run_id", handle.run_id))
    if status == "cancelled":
        raise ChildCancelled(run_id, handle.workflow)
    error = ended.get("error")
    raise ChildFailed(run_id, handle.workflow, error if isinstance(error, dict) else {})


def _require_registered(ctx: AttemptContext, entrypoint: type[Workflow]) -> None:
    """A child of a version no node has ever registered would wait forever: refuse it."""
    key = (entrypoint.workflow, entrypoint.version_hash)
    known = ctx.registered_versions
    if known is None or key not in known:
        known = ctx.registered_versions = {
            (v.workflow, v.version_hash) for v in ctx.writer.list_versions()
        }
    if key not in known:
        raise ConfigurationError(
            f"child workflow {entrypoint.workflow} (version {entrypoint.version}, hash "
            f"{entrypoint.version_hash}) is not registered on any node: add its module to "
            "workflow_modules of the instances that should run it; no child was started"
        )


def _require_free(ctx: AttemptContext, run_id: str) -> None:
    """A child id given by the workflow must not name a run that is not this run's child."""
    existing = ctx.writer.get_run(run_id)
    if existing is not None and existing.parent_run_id != ctx.run_id:
        raise ConfigurationError(
            f"start_child(id={run_id!r}): that id already names run {run_id} of "
            f"{existing.workflow}, which is not a child of this run; choose another id"
        )
