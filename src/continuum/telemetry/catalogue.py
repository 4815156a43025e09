"""Every event the engine emits, with the keys of its measurements and metadata.

The catalogue is the contract for handlers: an emission carries exactly the
keys listed for its event (a test runs the engine through every event and
checks both ways). Durations and delays are seconds; times in metadata are
seconds since the epoch on the database clock.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["CATALOGUE", "Event", "EventSpec", "events", "spec_of"]

Event = tuple[str, ...]


@dataclass(frozen=True, slots=True)
class EventSpec:
    event: Event
    measurements: tuple[str, ...]
    metadata: tuple[str, ...]
    description: str


# Who emitted it: an instance and one of its nodes.
_NODE = ("instance", "node")
# About one run, outside an attempt.
_RUN = ("run_id", "workflow", "version_hash", *_NODE)
# Inside an attempt: which claim of the run it is, and the trace context stored with the run.
_ATTEMPT = (*_RUN, "attempt", "trace_context")


def _spec(
    name: str, measurements: tuple[str, ...], metadata: tuple[str, ...], description: str
) -> EventSpec:
    return EventSpec(("continuum", *name.split(".")), measurements, metadata, description)


CATALOGUE: tuple[EventSpec, ...] = (
    # -- the run lifecycle ---------------------------------------------------------------
    _spec(
        "run.created",
        ("count",),
        (*_RUN, "trace_context"),
        "start() stored a new run (in the caller's thread), or a schedule's tick did "
        "(in the ticker's).",
    ),
    _spec(
        "run.claimed",
        ("latency",),
        _ATTEMPT,
        "A node leased the run; latency is how long it had been due.",
    ),
    _spec(
        "run.start",
        ("journal_events",),
        _ATTEMPT,
        "An attempt begins on a run with an empty journal.",
    ),
    _spec(
        "run.resumed",
        ("journal_events",),
        _ATTEMPT,
        "An attempt begins by replaying the journal.",
    ),
    _spec("run.stop", ("duration",), _ATTEMPT, "The attempt ended the run completed."),
    _spec(
        "run.exception",
        ("duration",),
        (*_ATTEMPT, "error_type", "error_message"),
        "The attempt ended the run failed.",
    ),
    _spec(
        "run.suspended",
        ("duration",),
        (*_ATTEMPT, "wake_at", "signals"),
        "The attempt suspended the run until wake_at or one of the signals.",
    ),
    _spec(
        "run.nondeterminism",
        ("duration", "position"),
        (*_ATTEMPT, "expected", "recorded_kind", "recorded_name", "message"),
        "Replay met a different call than the journal holds; the run was handed back.",
    ),
    _spec(
        "run.released",
        ("duration",),
        (*_ATTEMPT, "reason"),
        "The attempt handed the run back unfinished (the node is shutting down).",
    ),
    _spec(
        "run.interrupted",
        ("duration",),
        (*_ATTEMPT, "reason"),
        "The attempt stopped without a write (lease lost, store unreachable, a crash).",
    ),
    _spec("run.cancelled", ("count",), _RUN, "cancel() ended the run."),
    _spec(
        "run.lease_lost",
        ("count",),
        _ATTEMPT,
        "A heartbeat found the lease of a run this node executes taken over.",
    ),
    _spec(
        "run.unknown_version",
        ("count",),
        _RUN,
        "A due run is pinned to a version this node does not have; it was handed on.",
    ),
    _spec(
        "patched.hit",
        ("count",),
        (*_ATTEMPT, "patch_id", "patched"),
        "patched() answered for a patch id.",
    ),
    # -- activities ------------------------------------------------------------------------
    _spec(
        "activity.start",
        ("attempt",),
        (*_ATTEMPT, "activity", "position"),
        "An activity is invoked (attempt counts its tries).",
    ),
    _spec(
        "activity.stop",
        ("duration", "attempt"),
        (*_ATTEMPT, "activity", "position"),
        "An activity returned; its result is journaled.",
    ),
    _spec(
        "activity.exception",
        ("duration", "attempt"),
        (*_ATTEMPT, "activity", "position", "error_type", "error_message"),
        "An activity raised (or timed out).",
    ),
    _spec(
        "activity.retry",
        ("delay", "attempt"),
        (*_ATTEMPT, "activity", "position", "error_type", "retry_at"),
        "A failed activity will be tried again after delay.",
    ),
    _spec(
        "activity.timeout",
        ("timeout", "attempt"),
        (*_ATTEMPT, "activity", "position"),
        "An activity ran past its timeout; the try counts as failed.",
    ),
    # -- timers and signals ------------------------------------------------------------------
    _spec(
        "timer.scheduled",
        ("delay",),
        (*_ATTEMPT, "position", "due_at"),
        "sleep() set a timer.",
    ),
    _spec(
        "timer.fired",
        ("lateness",),
        (*_ATTEMPT, "position", "set_at", "due_at"),
        "The run passed a timer for the first time (set_at is None for timers set by "
        "older releases).",
    ),
    _spec(
        "signal.sent",
        ("count",),
        ("run_id", "signal", *_NODE, "outcome"),
        "signal() was called; outcome is sent or duplicate.",
    ),
    _spec(
        "signal.waiting",
        ("timeout",),
        (*_ATTEMPT, "signal", "position"),
        "The run suspends to wait for a signal (timeout None: no deadline).",
    ),
    _spec(
        "signal.consumed",
        ("wait",),
        (*_ATTEMPT, "signal", "position", "waited_since"),
        "The run took a signal; wait is how long it had waited (0 when it was there).",
    ),
    _spec(
        "signal.timed_out",
        ("wait",),
        (*_ATTEMPT, "signal", "position", "waited_since"),
        "A signal wait reached its deadline.",
    ),
    # -- children -------------------------------------------------------------------------
    _spec(
        "child.started",
        ("count",),
        (*_ATTEMPT, "position", "child_run_id", "child_workflow"),
        "start_child() recorded a child run; it is started with the attempt's next write.",
    ),
    _spec(
        "child.ended",
        ("wait",),
        (*_ATTEMPT, "position", "child_run_id", "child_workflow", "status"),
        "await_child() took how a child ended (status completed, failed or cancelled); "
        "wait is how long since the parent began to wait for it.",
    ),
    # -- versions -----------------------------------------------------------------------------
    _spec(
        "versions.registered",
        ("count",),
        (*_NODE, "versions"),
        "An instance registered the versions it has (at boot and on reload).",
    ),
    _spec(
        "versions.frozen_loaded",
        ("count",),
        (*_NODE, "workflow", "version_hash", "path"),
        "A frozen version was loaded from the versions folder.",
    ),
    _spec(
        "versions.unstuck",
        ("count",),
        _NODE,
        "Runs left stuck_unknown_version by an older release were made due again.",
    ),
    # -- schedules ----------------------------------------------------------------------------
    _spec(
        "schedule.fired",
        ("delay",),
        (*_RUN, "schedule_id", "tick"),
        "A schedule's tick started a run; delay is from the tick to when a node fired it "
        "(database clock).",
    ),
    _spec(
        "schedule.skipped",
        ("count",),
        (*_NODE, "schedule_id", "workflow", "reason"),
        "Ticks of a schedule started nothing: reason missed (catch_up) or overlap (its "
        "previous run was still going).",
    ),
    # -- the dispatcher and the store -------------------------------------------------------
    _spec(
        "dispatcher.claim",
        ("duration", "count", "limit"),
        _NODE,
        "A claim query: how long it took and how many runs it leased (of limit).",
    ),
    _spec(
        "dispatcher.heartbeat",
        ("duration", "leases", "lost"),
        _NODE,
        "A heartbeat renewed this node's leases and its entry in the nodes table.",
    ),
    _spec(
        "dispatcher.listener",
        ("count",),
        (*_NODE, "state"),
        "The notification listener connected (state listening) or lost its connection "
        "(state reconnecting).",
    ),
    _spec(
        "dispatcher.pruned",
        ("count", "duration"),
        (*_NODE, "workflow"),
        "Retention deleted a batch of finished runs of a workflow.",
    ),
    _spec(
        "store.write_batch",
        ("size", "duration"),
        ("backend",),
        "One transaction made attempt writes of size runs durable (group commit).",
    ),
)

_BY_EVENT = {spec.event: spec for spec in CATALOGUE}


def events() -> list[EventSpec]:
    """Every event the engine emits, with its measurement and metadata keys."""
    return list(CATALOGUE)


def spec_of(event: Event) -> EventSpec | None:
    return _BY_EVENT.get(event)
