"""The public surface is exactly SPEC.md's names: adding or losing one is a decision."""

import continuum

SPEC_ERRORS = (
    "SerializationError",
    "NotInWorkflow",
    "ActivityFailed",
    "RunFailed",
    "RunCancelled",
    "SignalTimeout",
)
SPEC_NAMES = {
    # classes and the root of the errors
    "Continuum", "Workflow", "Retry", "RunInfo", "VersionRegistry", "ContinuumError",
    *SPEC_ERRORS,
    # activities and primitives
    "activity", "sleep", "sleep_async", "wait_for_signal", "wait_for_signal_async",
    "patched", "now", "uuid4", "random", "side_effect",
    # the default instance
    "start", "signal", "cancel", "get", "result",
    # telemetry
    "telemetry",
}  # fmt: skip


def test_all_is_exactly_the_spec() -> None:
    assert set(continuum.__all__) == SPEC_NAMES
    assert len(continuum.__all__) == len(SPEC_NAMES)


def test_every_exported_name_exists() -> None:
    for name in continuum.__all__:
        assert getattr(continuum, name) is not None


def test_errors_derive_from_continuum_error() -> None:
    for name in SPEC_ERRORS:
        assert issubclass(getattr(continuum, name), continuum.ContinuumError)
    assert issubclass(continuum.SignalTimeout, TimeoutError)


def test_telemetry_api() -> None:
    for name in ("attach", "attach_many", "detach"):
        assert callable(getattr(continuum.telemetry, name))
