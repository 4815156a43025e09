"""Every error Continuum raises, in one tree.

    ContinuumError
    ├── ConfigurationError        also a ValueError: a bad setting or argument, a workflow
    │                             module that does not import
    ├── WorkflowDefinitionError   a class that is not a usable workflow
    ├── SerializationError        a value that is not JSON
    ├── NotInWorkflow             a workflow primitive called outside a running workflow
    ├── RunNotFound               an unknown run id
    ├── ScheduleNotFound          an unknown schedule id
    ├── NoDefaultInstance         a module-level call with no booted instance to act on
    ├── NotBooted                 an instance used before boot() or after shutdown()
    ├── RunFinished               a signal sent to a run that has already ended
    ├── ActivityFailed            an activity's final error, raised inside the workflow
    │   └── CompensationFailed    compensate_all() tried every step and some failed
    ├── RunFailed                 the run ended `failed` (from `result()`)
    ├── RunCancelled              the run ended `cancelled` (from `result()`)
    ├── SignalTimeout             also a TimeoutError: `wait_for_signal` timed out
    ├── NondeterminismError       replaying a history, the code did something else
    │                             (`continuum.testing`: replay and paranoid mode)
    └── StoreError                the database refused or could not be reached
        ├── DatabaseUnavailable   cannot connect or open the database
        ├── SchemaError           the database schema is newer than this release
        └── LeaseLost             this node no longer holds the run (fencing)

    WorkflowIdentityWarning       (a UserWarning, not an error) a workflow defined in a
                                  script whose module cannot be imported by name
    DeterminismWarning            (a UserWarning, not an error) a workflow class body
                                  calls something that breaks replay (the clock,
                                  randomness, the environment, I/O, threads)

Every name here is also exported from `continuum`: catch `continuum.RunNotFound`.
Messages say what was wrong and what to do about it.
"""

from __future__ import annotations

from typing import Any


class ContinuumError(Exception):
    """Base class of every error raised by Continuum."""


class ConfigurationError(ContinuumError, ValueError):
    """An instance setting, argument, database URL or workflow module path is wrong.

    Also a ValueError: a bad argument (a NaN timeout, a run id with a NUL) is a
    wrong value, and code that catches ValueError around a call keeps working.
    """


class WorkflowDefinitionError(ContinuumError, TypeError):
    """A class cannot be used as a workflow (not a subclass, no source, bad keywords)."""


class SerializationError(ContinuumError, TypeError):
    """A value that must be stored is not JSON serializable."""


class NotInWorkflow(ContinuumError, RuntimeError):
    """A workflow primitive was called outside a running workflow."""


class RunNotFound(ContinuumError, LookupError):
    """No run has the given id."""

    def __init__(self, run_id: str) -> None:
        super().__init__(f"no run with id {run_id!r}: check the id, or list runs with app.runs()")
        self.run_id = run_id


class ScheduleNotFound(ContinuumError, LookupError):
    """No schedule has the given id."""

    def __init__(self, schedule_id: str) -> None:
        super().__init__(
            f"no schedule with id {schedule_id!r}: check the id, or list schedules with "
            "app.schedules() or 'continuum schedules list'"
        )
        self.schedule_id = schedule_id


class NoDefaultInstance(ContinuumError, RuntimeError):
    """A module-level call found no instance to act on."""


class NotBooted(ContinuumError, RuntimeError):
    """An instance was used before `boot()` or after `shutdown()`."""


class RunFinished(ContinuumError):
    """The run has already ended, so it cannot take this request."""

    def __init__(self, run_id: str, status: str, what: str) -> None:
        super().__init__(f"run {run_id} has already ended ({status}); {what}")
        self.run_id = run_id
        self.status = status


class ActivityFailed(ContinuumError):
    """An activity's final error, journaled and raised inside the workflow.

    `error_type` and `error_message` describe the original exception; the
    original object is not kept, because replay must raise the same thing from
    the journal alone.
    """

    def __init__(self, activity: str, error_type: str, error_message: str) -> None:
        super().__init__(f"activity {activity!r} failed: {error_type}: {error_message}")
        self.activity = activity
        self.error_type = error_type
        self.error_message = error_message


class CompensationFailed(ActivityFailed):
    """Raised by `compensate_all()` once every step was tried and some failed for good.

    Its `activity`, `error_type` and `error_message` are those of the first step
    that failed (the most recently registered); `failures` holds each one's
    `ActivityFailed`, in the order the steps ran.
    """

    def __init__(self, failures: list[ActivityFailed]) -> None:
        first = failures[0]
        super().__init__(first.activity, first.error_type, first.error_message)
        self.failures = failures
        listed = "; ".join(f"{f.activity}: {f.error_type}: {f.error_message}" for f in failures)
        self.args = (f"{len(failures)} compensation(s) failed: {listed}",)


class ChildFailed(ContinuumError):
    """Raised in a parent by `await_child()`: the child run ended `failed`.

    `run_id` is the child's; `error` its error as stored (type, message and
    traceback), also in `error_type` and `error_message`.
    """

    def __init__(self, run_id: str, workflow: str, error: dict[str, Any]) -> None:
        self.run_id = run_id
        self.workflow = workflow
        self.error = error
        self.error_type = str(error.get("type", "Exception"))
        self.error_message = str(error.get("message", ""))
        super().__init__(
            f"child run {run_id} ({workflow}) failed: {self.error_type}: {self.error_message}"
        )


class ChildCancelled(ContinuumError):
    """Raised in a parent by `await_child()`: the child run was cancelled."""

    def __init__(self, run_id: str, workflow: str) -> None:
        super().__init__(f"child run {run_id} ({workflow}) was cancelled")
        self.run_id = run_id
        self.workflow = workflow


class CancelRequested(ContinuumError):
    """Raised in a workflow declared `on_cancel="unwind"` at the step it was at when
    the run was cancelled: the workflow may unwind (`compensate_all()`) before it
    ends. However run() then ends, returning or raising, the run ends `cancelled`."""

    def __init__(self, run_id: str) -> None:
        super().__init__(f"run {run_id} was asked to cancel")
        self.run_id = run_id


class RunFailed(ContinuumError):
    """The run ended `failed`; the message names the original error's type and message."""

    def __init__(self, run_id: str, error: dict[str, Any]) -> None:
        self.run_id = run_id
        self.error_type = str(error.get("type", "Exception"))
        self.error_message = str(error.get("message", ""))
        super().__init__(f"run {run_id} failed: {self.error_type}: {self.error_message}")


class RunCancelled(ContinuumError):
    """The run ended `cancelled`."""

    def __init__(self, run_id: str) -> None:
        super().__init__(f"run {run_id} was cancelled")
        self.run_id = run_id


class SignalTimeout(ContinuumError, TimeoutError):
    """`wait_for_signal` reached its timeout before the signal arrived."""

    def __init__(self, name: str, timeout: float) -> None:
        super().__init__(f"signal {name!r} did not arrive within {timeout:g} seconds")
        self.signal_name = name
        self.timeout = timeout


class NondeterminismError(ContinuumError):
    """Replaying a run's history, the code did something other than what was recorded.

    Raised by `continuum.testing` (`replay()`, paranoid mode, a run whose attempt
    stopped on a drift). `position` is the journal position, `recorded` what the
    history holds there and `now` what the code did instead.
    """

    def __init__(
        self, position: int, recorded: str, now: str, *, run_id: str | None = None
    ) -> None:
        where = f"run {run_id}: " if run_id is not None else ""
        super().__init__(
            f"{where}at journal position {position} the history holds {recorded}, but the "
            f"code now did {now}. The workflow is not deterministic (a clock, random "
            "value, set or dict order or state outside the journal decides its path), or "
            "the code changed in a way that breaks this history: guard the change with "
            "continuum.patched(), or keep the old version for runs that need it "
            "(continuum versions freeze)"
        )
        self.position = position
        self.recorded = recorded
        self.now = now
        self.run_id = run_id


class StoreError(ContinuumError):
    """The database refused an operation or could not be reached."""


class DatabaseUnavailable(StoreError):
    """The database cannot be opened or reached."""


class SchemaError(StoreError):
    """The stored schema cannot be used by this release."""


class LeaseLost(StoreError):
    """This node no longer holds the run's lease, so its writes are refused.

    Another node may have claimed the run after the lease expired, or the run
    was cancelled. The attempt stops; nothing it had not journaled is kept.
    """

    def __init__(self, run_id: str) -> None:
        super().__init__(
            f"run {run_id}: this node's lease was lost (expired, taken over or cancelled); "
            "the write was refused and the attempt stops"
        )
        self.run_id = run_id


class WorkflowIdentityWarning(UserWarning):
    """A workflow's default identity names a module that other processes cannot import.

    A class defined in a script run as `python app.py` lives in `__main__`; Continuum
    names it after the script's importable module (`app.Greet`) when it can. When it
    cannot (a notebook, a script outside `sys.path`, a file name that is not a module
    name), the identity stays `__main__.Greet` and no worker that imports your code
    will run it: give `workflow="..."` or move the class into an importable module.
    """


class DeterminismWarning(UserWarning):
    """A workflow class body calls something that gives a different result on replay.

    Issued when the class is defined, located at its `class` line; the message names the
    file and line of the call and the replay-safe alternative (`continuum.now()`,
    `continuum.sleep`, `continuum.random()`, `continuum.uuid4()`, an activity).
    `determinism="error"` as a class keyword raises `WorkflowDefinitionError` instead,
    `"off"` skips the scan; `# continuum: allow` on a line silences that line.
    `continuum.determinism` says what is and is not caught.
    """
