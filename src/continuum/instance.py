"""`Continuum`: one engine instance bound to one database.

    app = continuum.Continuum(name="orders", database="sqlite:///orders.db",
                              workflow_modules=[OrderFlow])
    with app:
        run_id = app.start(OrderFlow, {"amount": 10})
        print(app.result(run_id, timeout=30))

The instance holds the settings and the lifecycle, and answers the run API.
It wires the parts that do the work, each in a module of its own: the store
(`store/`), the versions it runs (`versions.InstanceVersions`), the dispatcher
that executes runs (`dispatcher`), and the waiter behind `result()` (`results`).

Its read side (`query`, `runs`, `health`) is in `views`; module-level
`continuum.start/signal/cancel/get/result` act on the default instance (`booted`).
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import socket
import uuid
from collections.abc import Callable, Iterable
from types import TracebackType
from typing import Any

from continuum import attributes as _attributes
from continuum import booted, serialization, telemetry, validation
from continuum.dispatcher import Dispatcher
from continuum.errors import (
    ConfigurationError,
    NotBooted,
    RunFinished,
    RunNotFound,
)
from continuum.results import ResultWaiter, Settled
from continuum.runs import RunInfo
from continuum.runtime.attempt import Outcome
from continuum.schedules import ScheduleAPI
from continuum.store import NewRun, Store, open_store
from continuum.store.base import RESERVED_SIGNAL_PREFIX, TERMINAL_STATUSES, RunRecord
from continuum.store.open import require_current_schema
from continuum.versions import InstanceVersions, VersionRegistry
from continuum.views import RunViews
from continuum.workflow import Workflow, entrypoint_of

logger = logging.getLogger("continuum")

MAX_RUN_ID_LENGTH = validation.MAX_IDENTIFIER_LENGTH


class Continuum(ScheduleAPI, RunViews):
    """A Continuum engine instance. See the module docstring."""

    def __init__(
        self,
        name: str = "default",
        database: object = None,
        workflow_modules: Iterable[type | str] | None = None,
        dispatch: bool = True,
        *,
        node: str | None = None,
        concurrency: int = 8,
        poll_interval: float = 1.0,
        lease_seconds: float = 30.0,
        unknown_version_backoff: float = 5.0,
        versions_dir: str | os.PathLike[str] | None = None,
        migrate: bool = True,
    ) -> None:
        self.name = validation.identifier(name, name="Continuum(name=)")
        self.database = database
        self.dispatch = dispatch
        # False: boot neither creates nor upgrades the schema (read-only tools: the
        # CLI's run commands, the web observer); a schema this release cannot use
        # is then a SchemaError that says what to run.
        self.migrate = migrate
        self.node = (
            f"{socket.gethostname()}:{os.getpid()}"
            if node is None
            else validation.identifier(node, name="Continuum(node=)")
        )
        self.concurrency = validation.count(concurrency, name="Continuum(concurrency=)")
        self.poll_interval = validation.duration(poll_interval, name="Continuum(poll_interval=)")
        self.lease_seconds = validation.duration(lease_seconds, name="Continuum(lease_seconds=)")
        self.unknown_version_backoff = validation.duration(
            unknown_version_backoff, name="Continuum(unknown_version_backoff=)"
        )
        self._workflow_modules = None if workflow_modules is None else list(workflow_modules)
        self._store: Store | None = None
        self._dispatcher: Dispatcher | None = None
        self._results: ResultWaiter | None = None
        self.versions = InstanceVersions(
            self._store_required,
            instance=self.name,
            node=self.node,
            versions_dir=versions_dir,
            dispatching=dispatch,
        )
        self._stop_listening: Callable[[], None] = lambda: None
        self._listener = "off"
        # Set by a tracing bridge (`continuum.otel.instrument`): called by start() in
        # the caller's thread, its answer is stored with the run and handed to every
        # event of the run's attempts, so they join the trace that started the run.
        self.trace_context_capture: Callable[[], str | None] | None = None

    # -- lifecycle -------------------------------------------------------------------
    def boot(self) -> Continuum:
        """Create or migrate the schema, register workflow versions, start dispatching."""
        if self._store is not None:
            return self
        # Workers, the claim loop, the heartbeat and callers of result() each need one.
        store = open_store(self.database, max_connections=self.concurrency + 4, create=self.migrate)
        try:
            if self.migrate:
                store.migrate()
            else:
                require_current_schema(store)
            self._store = store
            VersionRegistry.upsert_instance(self, self._workflow_modules)
        except BaseException:
            self._store = None
            store.close()
            raise
        self._listener = "connecting" if store.notifies else "polling"
        if self.dispatch:
            self._dispatcher = Dispatcher(
                store,
                instance=self.name,
                node=self.node,
                concurrency=self.concurrency,
                poll_interval=self.poll_interval,
                lease_seconds=self.lease_seconds,
                unknown_version_backoff=self.unknown_version_backoff,
                known_versions=self.versions.known,
                on_outcome=self._on_outcome,
                refresh_versions=self.versions.sync,
                listener_state=lambda: self._listener,
            )
            self._dispatcher.start()
        dispatcher = self._dispatcher
        self._results = ResultWaiter(
            read=self._status,
            held_here=(lambda _: False) if dispatcher is None else dispatcher.holds,
            notifies=store.notifies,
            poll_interval=self.poll_interval,
        )
        handlers: dict[str, Callable[[str], None]] = {
            "settled": self._results.announced,
            "listener": self._listener_changed,
        }
        if dispatcher is not None:
            handlers["wakeup"] = lambda _: dispatcher.wake()
        self._stop_listening = store.listen(handlers)
        booted.add(self)
        return self

    def shutdown(self, timeout: float = 30.0) -> None:
        """Stop claiming, let attempts reach a safe point, hand back their runs."""
        timeout = validation.duration(timeout, name="shutdown(timeout=)", allow_zero=True)
        store, self._store = self._store, None
        if store is None:
            return
        booted.remove(self)
        self._stop_listening()
        if self._dispatcher is not None:
            if not self._dispatcher.stop(timeout):
                logger.warning(
                    "shutdown: an attempt was still busy after %ss; its lease will expire", timeout
                )
            self._dispatcher = None
        try:
            store.unregister_node(self.name, self.node)
        except Exception as exc:
            logger.warning("shutdown: could not unregister node %s: %s", self.node, exc)
        store.close()

    def _trace_context(self) -> str | None:
        """What the tracing hook captures here; a hook that fails never fails start()."""
        capture = self.trace_context_capture
        if capture is None:
            return None
        try:
            captured = capture()
        except Exception:
            logger.exception("trace_context_capture raised; the run is started without one")
            return None
        return captured if isinstance(captured, str) else None

    def _listener_changed(self, state: str) -> None:
        self._listener = state
        telemetry.execute(
            ("continuum", "dispatcher", "listener"),
            {"count": 1},
            {"instance": self.name, "node": self.node, "state": state},
        )

    def __enter__(self) -> Continuum:
        return self.boot()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.shutdown()

    @property
    def booted(self) -> bool:
        return self._store is not None

    @property
    def store(self) -> Store:
        """The instance's store (for operators' tools and tests)."""
        return self._store_required()

    def _store_required(self) -> Store:
        if self._store is None:
            raise NotBooted(
                f"Continuum instance {self.name!r} is not booted: call boot() or use 'with app:'"
            )
        return self._store

    # -- runs ------------------------------------------------------------------------
    def start(
        self,
        workflow_cls: type[Workflow],
        input: Any = None,
        *,
        run_id: str | None = None,
        start_at: dt.datetime | None = None,
        start_in: float | None = None,
        attributes: dict[str, Any] | None = None,
    ) -> str:
        """Record a durable run of the class's current entrypoint; return its id.

        A second start with the same `run_id` returns that id and starts nothing.
        `start_at` (a timezone-aware datetime) or `start_in` (seconds) makes the
        run due then rather than now; `attributes` are its search attributes
        (see `continuum.attributes`).
        """
        store = self._store_required()
        entrypoint = entrypoint_of(workflow_cls)
        if run_id is None:
            run_id = _new_run_id()
        else:
            run_id = validation.identifier(run_id, name="start(run_id=)")
        input_json = serialization.dumps(input, what="the workflow input")
        due = _start_time(start_at, start_in, store.now)
        attributes_json = (
            None
            if attributes is None
            else _attributes.encode(attributes, name="start(attributes=)")
        )
        self.versions.sync()  # a version loaded since boot is in the registry before its runs
        new = NewRun(
            run_id,
            entrypoint.workflow,
            entrypoint.version_hash,
            entrypoint.version,
            input_json,
            self._trace_context(),
            start_at=due,
            attributes_json=attributes_json,
            unwind_on_cancel=entrypoint.on_cancel == "unwind",
        )
        dispatcher = self._dispatcher
        if dispatcher is not None and due is None and self.versions.runs(entrypoint.workflow):
            record, created = dispatcher.start_here(new)
        else:
            record, created = store.create_run(new)
        if not created and record.workflow != entrypoint.workflow:
            raise ConfigurationError(
                f"run id {run_id!r} already names a run of {record.workflow}, not "
                f"{entrypoint.workflow}; choose another run_id"
            )
        if created:
            telemetry.execute(
                ("continuum", "run", "created"),
                {"count": 1},
                {
                    "run_id": run_id,
                    "workflow": new.workflow,
                    "version_hash": new.version_hash,
                    "instance": self.name,
                    "node": self.node,
                    "trace_context": new.trace_context,
                },
            )
            if due is not None and self._dispatcher is not None:
                self._dispatcher.wake()  # it may be due sooner than anything it knows of
        return run_id

    def signal(
        self, run_id: str, name: str, payload: Any = None, *, delivery_id: str | None = None
    ) -> None:
        """Send a durable signal; it waits for the run to ask for it.

        With `delivery_id`, a second signal with the same id to the same run is
        accepted and dropped, even after the run has ended: a sender that did not
        hear back (a webhook retried, a connection cut before the reply) can send
        again without the run receiving it twice.
        """
        store = self._store_required()
        validation.identifier(name, name="signal(name=)")
        if name.startswith(RESERVED_SIGNAL_PREFIX):
            raise ConfigurationError(
                f"signal names that begin with {RESERVED_SIGNAL_PREFIX!r} are the engine's "
                f"own (a child's end is one); name it otherwise than {name!r}"
            )
        if delivery_id is not None:
            validation.identifier(delivery_id, name="signal(delivery_id=)")
        payload_json = serialization.dumps(payload, what=f"the payload of signal {name!r}")
        run_id = _known_form(run_id)
        outcome = store.send_signal(run_id, name, payload_json, delivery_id=delivery_id)
        if outcome == "missing":
            raise RunNotFound(run_id)
        if outcome == "ended":
            status = self._record(run_id).status
            raise RunFinished(run_id, status, f"signal {name!r} was not delivered")
        telemetry.execute(
            ("continuum", "signal", "sent"),
            {"count": 1},
            {
                "run_id": run_id,
                "signal": name,
                "instance": self.name,
                "node": self.node,
                "outcome": outcome,
            },
        )
        if outcome == "sent" and self._dispatcher is not None:
            self._dispatcher.wake()

    def cancel(self, run_id: str) -> bool:
        """End the run `cancelled`, with every live child it started to be cancelled
        with it (and theirs); False when it had already ended.

        A run of a workflow declared `on_cancel="unwind"` is asked instead: it is
        woken, `continuum.CancelRequested` is raised in it at the step it is at, and
        it ends `cancelled` (its children with it) once it has unwound. Cancelling it
        again ends it at once, unwound or not."""
        cancelled = self._store_required().cancel_run(_known_form(run_id))
        if not cancelled:
            self._record(run_id)  # RunNotFound for an unknown id
            return False
        if cancelled[0].status != "cancelled":  # asked to unwind: it ends by itself
            if self._dispatcher is not None:
                self._dispatcher.wake()
            return True
        for record in cancelled:
            telemetry.execute(
                ("continuum", "run", "cancelled"),
                {"count": 1},
                {
                    "run_id": record.run_id,
                    "workflow": record.workflow,
                    "version_hash": record.version_hash,
                    "instance": self.name,
                    "node": self.node,
                },
            )
            self._on_outcome(Outcome(record.run_id, "cancelled"))
        if cancelled[0].parent_run_id is not None and self._dispatcher is not None:
            self._dispatcher.wake()  # its parent may be due now
        return True

    def set_attributes(self, run_id: str, attributes: dict[str, Any]) -> dict[str, Any]:
        """Merge `attributes` into the run's search attributes (None removes a key);
        returns them all. Operator metadata: the run itself never sees them."""
        text = _attributes.encode(attributes, name="set_attributes(attributes=)", allow_none=True)
        merged = self._store_required().set_attributes(_known_form(run_id), text)
        if merged is None:
            raise RunNotFound(run_id)
        return _attributes.decode(merged)

    def get(self, run_id: str) -> RunInfo:
        """The run as stored, with the children it started."""
        record = self._record(run_id)
        children = tuple(self._store_required().child_run_ids(record.run_id))
        return RunInfo.from_record(record, children=children)

    def result(self, run_id: str, timeout: float | None = None) -> Any:
        """Wait for the run to end and return its output.

        Raises RunFailed, RunCancelled, or TimeoutError when `timeout` seconds
        pass first (the run goes on). None waits as long as it takes; 0 looks once.
        A run that continued as new is followed to the end of its chain.
        """
        timeout = validation.duration(
            timeout, name="result(timeout=)", allow_zero=True, allow_none=True
        )
        run_id = _known_form(run_id)
        self._store_required()
        assert self._results is not None  # made by boot()
        return self._results.wait(run_id, timeout)

    def node_status(self) -> dict[str, Any]:
        """This node as a process supervisor sees it (no database read): booted,
        dispatching (every dispatcher thread running), in flight, listener state."""
        dispatcher = self._dispatcher
        return {
            "booted": self.booted,
            "dispatching": dispatcher is not None and dispatcher.alive(),
            "in_flight": 0 if dispatcher is None else dispatcher.in_flight,
            "listener": self._listener,
        }

    # -- internals -------------------------------------------------------------------
    def _status(self, run_id: str) -> Settled:
        record = self._record(run_id)
        return Settled(record.status, record.output_json, record.error_json, record.continued_to)

    def _record(self, run_id: str) -> RunRecord:
        record = self._store_required().get_run(_known_form(run_id))
        if record is None:
            raise RunNotFound(run_id)
        return record

    def _on_outcome(self, outcome: Outcome) -> None:
        """An attempt on this node ended: hand a final outcome to callers of result()."""
        if self._results is None:
            return
        if outcome.status in TERMINAL_STATUSES:
            settled = Settled(
                outcome.status, outcome.output_json, outcome.error_json, outcome.continued_to
            )
            self._results.settled(outcome.run_id, settled)
        else:
            self._results.settled(outcome.run_id, None)

    def __repr__(self) -> str:
        state = "booted" if self.booted else "not booted"
        return f"<Continuum {self.name!r} node={self.node!r} {state}>"


def _start_time(start_at: object, start_in: object, now: Callable[[], float]) -> float | None:
    """When a run started with `start_at` or `start_in` becomes due (None: now);
    `start_in` counts from `now()`, the database clock, which decides due times."""
    if start_at is not None and start_in is not None:
        raise ConfigurationError("start() takes start_at or start_in, not both")
    if start_in is not None:
        delay = validation.duration(start_in, name="start(start_in=)", allow_zero=True)
        return now() + delay
    if start_at is None:
        return None
    if not isinstance(start_at, dt.datetime) or start_at.tzinfo is None:
        raise ConfigurationError(
            "start(start_at=) must be a timezone-aware datetime (e.g. "
            f"datetime(2030, 1, 1, tzinfo=timezone.utc)), got {validation.shown(start_at)}"
        )
    return start_at.timestamp()


def _new_run_id() -> str:
    return str(uuid.uuid4())


def _known_form(run_id: object) -> str:
    """`run_id`, or RunNotFound when it could not name a run (start() refuses such ids),
    without asking the store: the backends would each answer differently."""
    if validation.is_identifier(run_id):
        return run_id  # type: ignore[return-value]
    raise RunNotFound(run_id if isinstance(run_id, str) else repr(run_id))


def read_only(database: object, *, name: str, concurrency: int = 1) -> Continuum:
    """An instance (not booted) for tools that only look and act on runs: the CLI and
    the web observer. It executes no run, registers no workflow code, and never
    creates or changes a schema (one this release cannot use is a SchemaError)."""
    return Continuum(
        name=name,
        database=database,
        workflow_modules=[],
        dispatch=False,
        concurrency=concurrency,
        migrate=False,
    )
