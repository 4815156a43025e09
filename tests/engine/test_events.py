"""The event catalogue (`continuum.telemetry.events()`) is exactly what the engine emits.

One scenario drives the engine through every event on each backend while every
call to `telemetry.execute` is recorded, whether or not anything listens: each
emitted event must be in the catalogue with exactly its keys, and each catalogued
event must have been emitted.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

import continuum
from continuum import frozen, retention, telemetry
from continuum.hashing import hash_class_source
from continuum.store.base import NewRun
from tests.conftest import Events, raw_sql, wait_until
from tests.engine.test_execution import plant

MakeApp = Callable[..., continuum.Continuum]
Emission = tuple[tuple[str, ...], dict[str, Any], dict[str, Any]]

HOLD = threading.Event()


@continuum.activity
def noop(value: Any) -> Any:
    return value


_FAILED_ONCE: set[str] = set()


@continuum.activity(retry=continuum.Retry(max_attempts=3, initial_interval=0.01, jitter=0))
def flaky_once(key: str) -> str:
    if key not in _FAILED_ONCE:
        _FAILED_ONCE.add(key)
        raise ConnectionError("unreachable")
    return "ok"


@continuum.activity(timeout=0.05, retry=continuum.Retry(max_attempts=1))
def too_slow() -> None:
    threading.Event().wait(0.5)


@continuum.activity(retry=continuum.Retry(max_attempts=5, initial_interval=0.3, jitter=0))
def keeps_failing() -> None:
    raise ConnectionError("down")


@continuum.activity
def held() -> str:
    HOLD.wait(30)
    return "released"


class Child(continuum.Workflow, workflow="tests.events.Child"):
    def run(self, input):
        return input


class Everything(continuum.Workflow, workflow="tests.events.Everything"):
    """Timers, signals (consumed and timed out), patches, retries, a timeout, a child."""

    def run(self, input):
        noop(1)
        continuum.child(Child, "a child")
        flaky_once(input["key"])
        try:  # noqa: SIM105 - workflow code, as users write it
            too_slow()
        except continuum.ActivityFailed:
            pass
        continuum.sleep(0.05)
        continuum.patched("new-path")
        got = continuum.wait_for_signal("go")
        try:  # noqa: SIM105 - workflow code, as users write it
            continuum.wait_for_signal("never", timeout=0.05)
        except continuum.SignalTimeout:
            pass
        return got


class Fails(continuum.Workflow, workflow="tests.events.Fails"):
    def run(self, input):
        raise ValueError("no")


class Waits(continuum.Workflow, workflow="tests.events.Waits"):
    def run(self, input):
        return continuum.wait_for_signal("go")


class Retries(continuum.Workflow, workflow="tests.events.Retries"):
    def run(self, input):
        keeps_failing()


class Holds(continuum.Workflow, workflow="tests.events.Holds"):
    def run(self, input):
        return held()


class Kept(continuum.Workflow, workflow="tests.events.Kept", retention=0.001):
    def run(self, input):
        return noop("kept briefly")


class Recorder(Events):
    """`Events`, asked which events it has seen."""

    def events(self) -> set[tuple[str, ...]]:
        return {event for event, _, _ in list(self.seen)}

    def emitted(self, *event: str) -> bool:
        return tuple(event) in self.events()


@pytest.fixture
def recorder(monkeypatch: pytest.MonkeyPatch) -> Iterator[Recorder]:
    """Records every emission: `wanted` says yes to all, `execute` records them."""
    recorder = Recorder()
    real_execute = telemetry.execute

    def execute(event: Any, measurements: Any, metadata: Any) -> None:
        recorder(event, measurements, metadata)
        real_execute(event, measurements, metadata)

    monkeypatch.setattr(telemetry, "wanted", lambda event: True)
    monkeypatch.setattr(telemetry, "execute", execute)
    monkeypatch.setattr(retention, "PRUNE_EVERY", 0.05)
    yield recorder


def _frozen_old_version(folder: Path, suffix: str) -> str:
    """A frozen file of an older version of a workflow, for `versions.frozen_loaded`."""
    name = "OldFlow"
    workflow = f"tests.events.OldFlow_{suffix}"
    source = (
        f'class {name}(continuum.Workflow, workflow="{workflow}"):\n'
        "    def run(self, input):\n"
        '        return "old"\n'
    )
    version = frozen.FrozenVersion(
        workflow=workflow,
        version=1,
        version_hash=hash_class_source(source, name),
        module=__name__,
        name=name,
        source=source,
    )
    frozen.write(folder, version)
    return workflow


def test_every_emitted_event_is_catalogued_and_every_catalogued_one_is_emitted(
    make_app: MakeApp, backend_url: str, recorder: Recorder, tmp_path: Path
) -> None:
    HOLD.clear()
    backend = backend_url.split(":", 1)[0]
    versions_dir = tmp_path / "versions"
    versions_dir.mkdir()
    _frozen_old_version(versions_dir, backend.replace("postgresql", "pg"))

    # A run left stuck by an older release, and one pinned to a version nobody has.
    client = make_app(name="client", dispatch=False)
    stuck_id = client.start(Waits)
    raw_sql(
        backend_url,
        "UPDATE continuum_runs SET status = 'stuck_unknown_version' WHERE id = ?",
        (stuck_id,),
    )
    unknown = NewRun("unknown-version-run", Waits.workflow, "0" * 16, 1, "null")
    client.store.create_run(unknown)
    drifting = client.start(Waits)
    plant(client, drifting, [("activity", "some.other.activity", {"result": 1})])

    app = make_app(name="worker", lease_seconds=0.6, versions_dir=versions_dir)
    wait_until(lambda: recorder.emitted("continuum", "versions", "unstuck"), what="unstuck")
    app.cancel(stuck_id)

    everything = app.start(Everything, {"key": f"everything-{backend}"})
    wait_until(lambda: app.get(everything).status == "suspended", what="waits for go")
    app.signal(everything, "go", {"ok": True}, delivery_id="d-1")
    app.signal(everything, "go", {"ok": True}, delivery_id="d-1")  # dropped: duplicate
    assert app.result(everything, timeout=10) == {"ok": True}

    with pytest.raises(continuum.RunFailed):
        app.result(app.start(Fails), timeout=10)
    assert app.result(app.start(Kept), timeout=10) == "kept briefly"

    # A lease taken away while its activity runs: lease_lost, then interrupted.
    holding = app.start(Holds)
    wait_until(lambda: app.get(holding).lease_owner is not None, what="claimed")
    raw_sql(
        backend_url,
        "UPDATE continuum_runs SET lease_nonce = lease_nonce + 1 WHERE id = ?",
        (holding,),
    )
    wait_until(lambda: recorder.emitted("continuum", "run", "lease_lost"), what="lease lost")
    HOLD.set()
    wait_until(lambda: recorder.emitted("continuum", "run", "interrupted"), what="interrupted")

    wait_until(lambda: recorder.emitted("continuum", "dispatcher", "pruned"), what="pruned")
    wait_until(lambda: recorder.emitted("continuum", "run", "nondeterminism"), what="drift")
    wait_until(lambda: recorder.emitted("continuum", "run", "unknown_version"), what="unknown")
    wait_until(lambda: recorder.emitted("continuum", "dispatcher", "heartbeat"), what="beat")

    # A schedule's tick starts a run; the ticks after it are skipped while that run waits.
    app.schedule(Waits, every=0.1, id="events")
    wait_until(lambda: recorder.emitted("continuum", "schedule", "skipped"), what="a skip")
    assert recorder.emitted("continuum", "schedule", "fired")
    app.delete_schedule("events")

    # A run pausing between retries (0.3 s, inline) when its node shuts down: released.
    retrying = app.start(Retries)
    wait_until(lambda: recorder.emitted("continuum", "activity", "retry"), what="a retry")
    app.shutdown(timeout=10)
    assert client.get(retrying).status == "suspended"

    catalogue = {spec.event: spec for spec in continuum.telemetry.events()}
    for event, measurements, metadata in recorder.seen:
        spec = catalogue.get(event)
        assert spec is not None, f"{event} is emitted but not in the catalogue"
        assert sorted(measurements) == sorted(spec.measurements), event
        assert sorted(metadata) == sorted(spec.metadata), event
    missing = set(catalogue) - recorder.events()
    if not backend.startswith("postgres"):
        # SQLite has no notifications, so no listener connects or reconnects.
        missing.discard(("continuum", "dispatcher", "listener"))
    assert not missing, f"catalogued but never emitted: {sorted(missing)}"


def test_the_catalogue_names_each_event_once_with_a_description() -> None:
    specs = continuum.telemetry.events()
    assert len({spec.event for spec in specs}) == len(specs)
    for spec in specs:
        assert spec.event[0] == "continuum" and len(spec.event) == 3
        assert spec.description and spec.measurements
        assert len(set(spec.metadata)) == len(spec.metadata)
    # the events SPEC 6 names are all there
    names = {spec.event for spec in specs}
    for name in (
        "start",
        "stop",
        "exception",
        "suspended",
        "resumed",
        "unknown_version",
        "nondeterminism",
        "cancelled",
    ):
        assert ("continuum", "run", name) in names
    for name in ("start", "stop", "exception"):
        assert ("continuum", "activity", name) in names
