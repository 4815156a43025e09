"""The public surface is SPEC.md's names plus ours: adding or losing one is a decision."""

import inspect

import continuum
import continuum.errors

SPEC_ERRORS = (
    "SerializationError",
    "NotInWorkflow",
    "ActivityFailed",
    "RunFailed",
    "RunCancelled",
    "SignalTimeout",
    "NondeterminismError",  # section 10: the testing kit's replay and paranoid mode
    "ChildFailed",  # section 9: await_child
    "ChildCancelled",
)
SPEC_WARNINGS = ("DeterminismWarning",)  # section 8
SPEC_NAMES = {
    # classes and the root of the errors
    "Continuum", "Workflow", "Retry", "RunInfo", "VersionRegistry", "ContinuumError",
    *SPEC_ERRORS, *SPEC_WARNINGS,
    # activities and primitives
    "activity", "sleep", "sleep_async", "wait_for_signal", "wait_for_signal_async",
    "patched", "now", "uuid4", "random", "side_effect",
    # versions across deploys (SPEC 8)
    "deprecate_patch",
    # the default instance
    "start", "signal", "cancel", "get", "result",
    # telemetry
    "telemetry",
    # composition (SPEC 9): the page query() returns
    "Page",
    # composition (SPEC 9): sagas
    "add_compensation", "add_compensation_async", "compensate_all", "compensate_all_async",
    # composition (SPEC 9): children and continue-as-new, each with its _async form
    "ChildHandle", "start_child", "start_child_async", "await_child", "await_child_async",
    "child", "child_async", "continue_as_new", "continue_as_new_async",
}  # fmt: skip
# Names SPEC.md does not fix ("what it does not name is yours"): every error a user
# can catch, so `except continuum.RunNotFound` works without reaching into a module.
OUR_ERRORS = (
    "ConfigurationError",
    "CancelRequested",
    "CompensationFailed",
    "WorkflowDefinitionError",
    "RunNotFound",
    "ScheduleNotFound",
    "NoDefaultInstance",
    "NotBooted",
    "RunFinished",
    "StoreError",
    "DatabaseUnavailable",
    "SchemaError",
    "LeaseLost",
)
OUR_NAMES = {*OUR_ERRORS, "WorkflowIdentityWarning"}
# Values our calls return that SPEC.md does not name: what app.schedules() lists.
OUR_VALUES = {"Schedule"}


def test_all_is_the_spec_plus_our_names() -> None:
    missing = SPEC_NAMES - set(continuum.__all__)
    assert not missing, f"SPEC.md names missing from continuum.__all__: {sorted(missing)}"
    assert set(continuum.__all__) == SPEC_NAMES | OUR_NAMES | OUR_VALUES
    assert len(continuum.__all__) == len(SPEC_NAMES | OUR_NAMES | OUR_VALUES)


def test_every_error_and_warning_is_exported() -> None:
    defined = {
        name
        for name, value in vars(continuum.errors).items()
        if inspect.isclass(value)
        and issubclass(value, Exception)
        and value.__module__ == "continuum.errors"
    }
    assert defined == {*SPEC_ERRORS, *SPEC_WARNINGS, *OUR_NAMES, "ContinuumError"}
    for name in defined:
        assert getattr(continuum, name) is getattr(continuum.errors, name)


def test_every_exported_name_exists() -> None:
    for name in continuum.__all__:
        assert getattr(continuum, name) is not None


def test_errors_derive_from_continuum_error() -> None:
    for name in (*SPEC_ERRORS, *OUR_ERRORS):
        assert issubclass(getattr(continuum, name), continuum.ContinuumError)
    assert issubclass(continuum.SignalTimeout, TimeoutError)
    assert issubclass(continuum.DatabaseUnavailable, continuum.StoreError)
    assert issubclass(continuum.WorkflowIdentityWarning, UserWarning)
    assert issubclass(continuum.DeterminismWarning, UserWarning)


def test_telemetry_api() -> None:
    for name in ("attach", "attach_many", "detach"):
        assert callable(getattr(continuum.telemetry, name))
