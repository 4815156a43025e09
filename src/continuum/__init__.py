"""Continuum: durable workflows in plain Python, each run pinned to the code it started on.

import continuum

@continuum.activity
def charge(card, amount): ...

class OrderFlow(continuum.Workflow, version=1):
    def run(self, input):
        return charge(input["card"], input["amount"])

with continuum.Continuum(database="sqlite:///orders.db") as app:
    run_id = app.start(OrderFlow, {"card": "4242", "amount": 10})
    print(app.result(run_id, timeout=30))

Every error Continuum raises is exported here (`except continuum.RunNotFound:`);
`continuum.errors` draws their tree.
"""

import importlib

from continuum import telemetry
from continuum.booted import cancel, get, result, signal, start
from continuum.errors import (
    ActivityFailed,
    CancelRequested,
    ChildCancelled,
    ChildFailed,
    CompensationFailed,
    ConfigurationError,
    ContinuumError,
    DatabaseUnavailable,
    DeterminismWarning,
    LeaseLost,
    NoDefaultInstance,
    NondeterminismError,
    NotBooted,
    NotInWorkflow,
    RunCancelled,
    RunFailed,
    RunFinished,
    RunNotFound,
    ScheduleNotFound,
    SchemaError,
    SerializationError,
    SignalTimeout,
    StoreError,
    WorkflowDefinitionError,
    WorkflowIdentityWarning,
)
from continuum.instance import Continuum
from continuum.runs import Page, RunInfo
from continuum.runtime.activity import activity
from continuum.runtime.children import (
    ChildHandle,
    await_child,
    await_child_async,
    child,
    child_async,
    continue_as_new,
    continue_as_new_async,
    start_child,
    start_child_async,
)
from continuum.runtime.primitives import (
    deprecate_patch,
    now,
    patched,
    random,
    side_effect,
    sleep,
    sleep_async,
    uuid4,
    wait_for_signal,
    wait_for_signal_async,
)
from continuum.runtime.retry import Retry
from continuum.runtime.saga import (
    add_compensation,
    add_compensation_async,
    compensate_all,
    compensate_all_async,
)
from continuum.schedules import Schedule
from continuum.versions import VersionRegistry
from continuum.workflow import Workflow

__version__ = "0.1.0"

__all__ = [
    "ActivityFailed",
    "CancelRequested",
    "ChildCancelled",
    "ChildFailed",
    "ChildHandle",
    "CompensationFailed",
    "ConfigurationError",
    "Continuum",
    "ContinuumError",
    "DatabaseUnavailable",
    "DeterminismWarning",
    "LeaseLost",
    "NoDefaultInstance",
    "NondeterminismError",
    "NotBooted",
    "NotInWorkflow",
    "Page",
    "Retry",
    "RunCancelled",
    "RunFailed",
    "RunFinished",
    "RunInfo",
    "RunNotFound",
    "Schedule",
    "ScheduleNotFound",
    "SchemaError",
    "SerializationError",
    "SignalTimeout",
    "StoreError",
    "VersionRegistry",
    "Workflow",
    "WorkflowDefinitionError",
    "WorkflowIdentityWarning",
    "activity",
    "add_compensation",
    "add_compensation_async",
    "await_child",
    "await_child_async",
    "cancel",
    "child",
    "child_async",
    "compensate_all",
    "compensate_all_async",
    "continue_as_new",
    "continue_as_new_async",
    "deprecate_patch",
    "get",
    "now",
    "patched",
    "random",
    "result",
    "side_effect",
    "signal",
    "sleep",
    "sleep_async",
    "start",
    "start_child",
    "start_child_async",
    "telemetry",
    "uuid4",
    "wait_for_signal",
    "wait_for_signal_async",
]

# `continuum.otel` and `continuum.web` need extras, and `continuum.testing` is for tests;
# they are imported on first use, so `import continuum` stays light and
# `continuum.otel.instrument(app)` still works.
_OPTIONAL = frozenset({"otel", "testing", "web"})


def __getattr__(name: str) -> object:
    if name in _OPTIONAL:
        return importlib.import_module(f"continuum.{name}")
    raise AttributeError(f"module 'continuum' has no attribute {name!r}")
