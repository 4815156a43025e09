"""Instances (SPEC 2), versions registry (SPEC 4), unknown versions (SPEC 5), errors (SPEC 7)."""

from __future__ import annotations

import sys
import textwrap
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest

import continuum
from continuum.errors import (
    ConfigurationError,
    DatabaseUnavailable,
    NoDefaultInstance,
    NotBooted,
    RunNotFound,
    WorkflowDefinitionError,
)
from tests.conftest import Events, raw_sql, wait_until
from tests.engine import flows

MakeApp = Callable[..., continuum.Continuum]


class Other(continuum.Workflow):
    def run(self, input):
        return "other"


# -- instance API ----------------------------------------------------------------------


def test_start_is_idempotent_on_run_id(app: continuum.Continuum) -> None:
    first = app.start(flows.ThreeSteps, {"n": 1}, run_id="order-42")
    second = app.start(flows.ThreeSteps, {"n": 2}, run_id="order-42")
    assert first == second == "order-42"
    app.result(first, timeout=10)
    assert flows.CALLS["a"] == 1
    assert app.get(first).input == {"n": 1}
    assert len(app.runs()) == 1


def test_same_run_id_for_another_workflow_is_refused(app: continuum.Continuum) -> None:
    app.start(flows.ThreeSteps, run_id="shared-id")
    with pytest.raises(ConfigurationError, match="already names a run"):
        app.start(Other, run_id="shared-id")


def test_runs_filters(app: continuum.Continuum) -> None:
    done = app.start(Other)
    app.result(done, timeout=10)
    waiting = app.start(flows.WaitsForApproval)
    wait_until(lambda: app.get(waiting).status == "suspended")
    assert [r.run_id for r in app.runs(status="completed")] == [done]
    assert [r.run_id for r in app.runs(workflow=flows.WaitsForApproval)] == [waiting]
    assert [r.run_id for r in app.runs(workflow=Other.workflow)] == [done]
    assert len(app.runs(limit=1)) == 1
    with pytest.raises(ConfigurationError, match="unknown status"):
        app.runs(status="done")


def test_result_times_out_while_the_run_goes_on(app: continuum.Continuum) -> None:
    run_id = app.start(flows.WaitsForApproval)
    with pytest.raises(TimeoutError, match="did not finish within"):
        app.result(run_id, timeout=0.2)
    app.signal(run_id, "approval")
    assert app.result(run_id, timeout=10)["shipped"] == "did ship"


def test_module_level_functions_use_the_default_instance(app: continuum.Continuum) -> None:
    run_id = continuum.start(flows.WaitsForApproval, run_id="via-default")
    wait_until(lambda: continuum.get(run_id).status == "suspended")
    continuum.signal(run_id, "approval", 1)
    assert continuum.result(run_id, timeout=10)["approval"] == 1
    other = continuum.start(flows.WaitsForApproval)
    assert continuum.cancel(other) is True


def test_no_default_instance(make_app: MakeApp) -> None:
    with pytest.raises(NoDefaultInstance, match="no Continuum instance is booted"):
        continuum.start(flows.ThreeSteps)
    make_app(name="a", dispatch=False)
    make_app(name="b", dispatch=False)
    with pytest.raises(NoDefaultInstance, match="none is named 'default'"):
        continuum.get("x")


def test_instance_before_boot_and_after_shutdown(backend_url: str) -> None:
    app = continuum.Continuum(database=backend_url, dispatch=False)
    with pytest.raises(NotBooted, match="call boot"):
        app.start(flows.ThreeSteps)
    with app:
        assert app.booted
    with pytest.raises(NotBooted):
        app.get("x")


def test_default_database_is_a_file_in_the_working_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("CONTINUUM_DATABASE_URL", raising=False)
    with continuum.Continuum(workflow_modules=[Other]) as app:
        assert app.result(app.start(Other), timeout=10) == "other"
    assert (tmp_path / "continuum.db").exists()


# -- bad input: a clear error and nothing written ----------------------------------------


def test_bad_input_is_refused_and_writes_nothing(app: continuum.Continuum) -> None:
    with pytest.raises(continuum.SerializationError, match="workflow input is not JSON"):
        app.start(flows.ThreeSteps, {"when": object()})
    with pytest.raises(WorkflowDefinitionError, match="not a workflow"):
        app.start(dict)  # type: ignore[arg-type]
    with pytest.raises(ConfigurationError, match="at most 255"):
        app.start(flows.ThreeSteps, run_id="x" * 256)
    with pytest.raises(ConfigurationError, match="run_id"):
        app.start(flows.ThreeSteps, run_id="")
    assert app.runs() == []


def test_unknown_run_ids(app: continuum.Continuum) -> None:
    for call in (
        lambda: app.get("nope"),
        lambda: app.result("nope", timeout=1),
        lambda: app.signal("nope", "go"),
        lambda: app.cancel("nope"),
    ):
        with pytest.raises(RunNotFound, match="no run with id 'nope'"):
            call()


def test_bad_signals_write_nothing(app: continuum.Continuum) -> None:
    run_id = app.start(flows.WaitsForApproval)
    with pytest.raises(continuum.SerializationError, match="payload of signal 'approval'"):
        app.signal(run_id, "approval", {1, 2})
    with pytest.raises(ConfigurationError, match=r"signal\(name=\)"):
        app.signal(run_id, "", None)
    assert list(app.store.load_history(run_id).pending_signals) == []


@pytest.mark.parametrize(
    ("database", "error", "message"),
    [
        ("mysql://x", ConfigurationError, "unsupported database URL"),
        ("sqlite://relative.db", ConfigurationError, "bad SQLite URL"),
        ("sqlite:////no/such/folder/x.db", DatabaseUnavailable, "does not exist"),
        ("sqlite:///x.db?journal=off", ConfigurationError, "unknown SQLite URL option"),
    ],
)
def test_bad_database_urls(database: str, error: type[Exception], message: str) -> None:
    with pytest.raises(error, match=message):
        continuum.Continuum(database=database).boot()


@pytest.mark.parametrize(
    "options",
    [{"concurrency": 0}, {"poll_interval": 0}, {"lease_seconds": -1}, {"name": ""}],
)
def test_bad_instance_settings(options: dict[str, object]) -> None:
    with pytest.raises(ConfigurationError):
        continuum.Continuum(**options)  # type: ignore[arg-type]


# -- versions registry ----------------------------------------------------------------------


def test_boot_registers_versions_durably(make_app: MakeApp) -> None:
    app = make_app(name="orders", node="node-a", workflow_modules=[flows.ThreeSteps])
    rows = {(r.workflow, r.version_hash): r for r in app.store.list_versions()}
    row = rows[(flows.ThreeSteps.workflow, flows.ThreeSteps.version_hash)]
    assert row.version == 1 and row.qualname.startswith("ThreeSteps.V_")
    assert [(h.instance, h.node) for h in row.loaded_by] == [("orders", "node-a")]
    assert (Other.workflow, Other.version_hash) not in rows
    app.shutdown()
    client = make_app(name="reader", dispatch=False, workflow_modules=[Other])
    rows = {(r.workflow, r.version_hash): r for r in client.store.list_versions()}
    assert rows[(flows.ThreeSteps.workflow, flows.ThreeSteps.version_hash)].loaded_by == ()


def test_workflow_modules_accepts_dotted_paths(make_app: MakeApp) -> None:
    app = make_app(workflow_modules=["tests.engine.flows", "tests.engine.test_instance.Other"])
    assert app.versions.workflows is not None
    assert (
        flows.ThreeSteps.workflow in app.versions.workflows
        and Other.workflow in app.versions.workflows
    )


@pytest.mark.parametrize(
    ("path", "message"),
    [
        ("no_such_module_anywhere", "does not import"),
        ("tests.engine.flows.NoSuchClass", "has no 'NoSuchClass'"),
        ("tests.engine.flows.CALLS", "is a Counter, not a continuum.Workflow"),
        ("tests.unit", "defines no workflow classes"),
    ],
)
def test_bad_workflow_module_paths_fail_boot_and_write_nothing(
    backend_url: str, path: str, message: str
) -> None:
    app = continuum.Continuum(database=backend_url, workflow_modules=[path])
    with pytest.raises((ConfigurationError, WorkflowDefinitionError), match=message):
        app.boot()
    assert not app.booted
    with continuum.Continuum(database=backend_url, dispatch=False, workflow_modules=[Other]) as c:
        assert [r.workflow for r in c.store.list_versions()] == [Other.workflow]


def test_module_whose_own_imports_fail_is_reported(module_dir: Path, backend_url: str) -> None:
    (module_dir / "broken_flows.py").write_text("import not_installed_dependency\n")
    app = continuum.Continuum(database=backend_url, workflow_modules=["broken_flows"])
    with pytest.raises(ConfigurationError, match="not_installed_dependency"):
        app.boot()


def test_env_var_then_pyproject_then_loaded_classes(
    make_app: MakeApp, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("CONTINUUM_WORKFLOW_MODULES", "tests.engine.test_instance.Other")
    assert make_app(name="env", dispatch=False).versions.workflows == {Other.workflow}
    monkeypatch.delenv("CONTINUUM_WORKFLOW_MODULES")
    (tmp_path / "pyproject.toml").write_text(
        '[tool.continuum]\nworkflow_modules = ["tests.engine.flows.Sleeper"]\n'
    )
    assert make_app(name="pyproject", dispatch=False).versions.workflows == {flows.Sleeper.workflow}
    (tmp_path / "pyproject.toml").write_text("[project]\nname = 'x'\n")
    assert make_app(name="loaded", dispatch=False).versions.workflows is None  # every loaded class


def test_bad_pyproject_setting(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, backend_url: str
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("CONTINUUM_WORKFLOW_MODULES", raising=False)
    (tmp_path / "pyproject.toml").write_text('[tool.continuum]\nworkflow_modules = "x"\n')
    with pytest.raises(ConfigurationError, match="must be a list"):
        continuum.Continuum(database=backend_url).boot()


def test_upsert_instance_can_be_called_directly(make_app: MakeApp) -> None:
    app = make_app(dispatch=False, workflow_modules=[Other])
    records = continuum.VersionRegistry.upsert_instance(app, [flows.ThreeSteps])
    assert [(r.workflow, r.version_hash) for r in records] == [
        (flows.ThreeSteps.workflow, flows.ThreeSteps.version_hash)
    ]
    assert app.versions.workflows == {flows.ThreeSteps.workflow}


# -- unknown versions ---------------------------------------------------------------------


def test_unknown_version_is_released_suspended_and_reported(
    make_app: MakeApp, events: Events
) -> None:
    client = make_app(name="client", dispatch=False, workflow_modules=[Other])
    run_id = client.start(Other)
    node = make_app(name="node-b", node="b-1", workflow_modules=[flows.ThreeSteps])
    seen = wait_until(
        lambda: len(events.named("run", "unknown_version", run_id=run_id)) >= 2,
        what="two spaced unknown_version events",
    )
    assert seen
    [first, *_] = events.named("run", "unknown_version", run_id=run_id)
    assert first["workflow"] == Other.workflow and first["version_hash"] == Other.version_hash
    assert (first["instance"], first["node"]) == ("node-b", "b-1")
    record = client.store.get_run(run_id)
    assert record is not None and record.status in ("suspended", "running")
    wait_until(lambda: client.get(run_id).status == "suspended")
    # a node that has the version resumes it
    node.shutdown()
    make_app(name="node-a", workflow_modules=[Other])
    assert client.result(run_id, timeout=10) == "other"


def test_unknown_versions_do_not_hold_up_known_runs(make_app: MakeApp, events: Events) -> None:
    client = make_app(name="client", dispatch=False, workflow_modules=[Other])
    unknown = [client.start(Other) for _ in range(50)]
    known = [client.start(flows.ThreeSteps) for _ in range(5)]
    make_app(name="node", concurrency=2, workflow_modules=[flows.ThreeSteps])
    for run_id in known:
        assert client.result(run_id, timeout=10) == ["did a", "did b", "did c"]
    assert all(client.get(r).status in ("pending", "suspended", "running") for r in unknown)


def test_events_are_spaced_not_a_busy_loop(make_app: MakeApp, events: Events) -> None:
    client = make_app(name="client", dispatch=False, workflow_modules=[Other])
    run_id = client.start(Other)
    make_app(name="node", workflow_modules=[flows.ThreeSteps], unknown_version_backoff=0.3)
    wait_until(lambda: events.named("run", "unknown_version", run_id=run_id))
    wait_until(lambda: len(events.named("run", "unknown_version", run_id=run_id)) >= 3, timeout=5)
    # 0.3 s apart: three reports take at least 0.6 s, so far fewer than a poll loop would make
    assert len(events.named("run", "unknown_version", run_id=run_id)) <= 5


def test_cancel_ends_a_run_no_node_can_resume(make_app: MakeApp, events: Events) -> None:
    client = make_app(name="client", dispatch=False, workflow_modules=[Other])
    run_id = client.start(Other)
    make_app(name="node", workflow_modules=[flows.ThreeSteps])
    wait_until(lambda: events.named("run", "unknown_version", run_id=run_id))
    assert client.cancel(run_id) is True
    with pytest.raises(continuum.RunCancelled):
        client.result(run_id, timeout=5)


def test_stuck_unknown_version_runs_are_unstuck_at_boot(
    make_app: MakeApp, backend_url: str
) -> None:
    client = make_app(name="client", dispatch=False, workflow_modules=[Other])
    run_id = client.start(Other)
    raw_sql(
        backend_url,
        "UPDATE continuum_runs SET status = 'stuck_unknown_version' WHERE id = ?",
        (run_id,),
    )
    assert client.get(run_id).status == "stuck_unknown_version"
    make_app(name="node", workflow_modules=[Other])
    assert client.result(run_id, timeout=10) == "other"


# -- reload: old runs finish on old code ----------------------------------------------------


def test_reloaded_module_keeps_old_runs_on_old_code(
    make_app: MakeApp, module_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import importlib

    # A fresh module each time, and no bytecode cache: two versions written within
    # one second must not be mistaken for each other.
    monkeypatch.delitem(sys.modules, "greeter_flows", raising=False)
    monkeypatch.setattr(sys, "dont_write_bytecode", True)

    source = textwrap.dedent(
        """
        import continuum

        class Greeter(continuum.Workflow, version={version}):
            def run(self, input):
                name = continuum.wait_for_signal("name")
                return "{greeting}, " + name
        """
    )
    path = module_dir / "greeter_flows.py"
    path.write_text(source.format(version=1, greeting="hello"))
    module = importlib.import_module("greeter_flows")
    app = make_app(name="reload", workflow_modules=["greeter_flows"])
    old_run = app.start(module.Greeter)
    wait_until(lambda: app.get(old_run).status == "suspended")

    path.write_text(source.format(version=2, greeting="bonjour"))
    importlib.reload(module)
    new_run = app.start(module.Greeter)
    assert app.get(new_run).version_hash != app.get(old_run).version_hash
    assert app.get(new_run).version == 2
    app.signal(old_run, "name", "ana")
    app.signal(new_run, "name", "bea")
    assert app.result(old_run, timeout=10) == "hello, ana"
    assert app.result(new_run, timeout=10) == "bonjour, bea"
    hashes = {r.version_hash for r in app.store.list_versions() if r.workflow.endswith("Greeter")}
    assert hashes == {app.get(old_run).version_hash, app.get(new_run).version_hash}
    sys.modules.pop("greeter_flows", None)


# -- eager start: a node runs what it starts when it has room ------------------------------


def test_a_node_with_room_runs_what_it_starts(make_app: MakeApp) -> None:
    app = make_app(name="eager", node="eager-node", concurrency=2)
    run_id = app.start(flows.Gated, "gate-1")
    record = app.store.get_run(run_id)
    assert record is not None  # leased to this node by the insert itself: no claim
    assert (record.status, record.lease_owner, record.lease_token) == ("running", "eager-node", 1)
    flows.GATES.setdefault("gate-1", threading.Event()).set()
    assert app.result(run_id, timeout=10) == ["gate-1", "did after-gate"]


def test_a_full_node_leaves_new_runs_to_the_claim_loop(make_app: MakeApp) -> None:
    app = make_app(name="full", node="full-node", concurrency=1)
    flows.GATES["busy"] = threading.Event()
    busy = app.start(flows.Gated, "busy")
    wait_until(lambda: flows.CALLS["busy"] == 1)
    queued = app.start(flows.ThreeSteps)
    record = app.store.get_run(queued)
    assert record is not None and record.status == "pending" and record.lease_owner is None
    flows.GATES["busy"].set()
    assert app.result(queued, timeout=10) == ["did a", "did b", "did c"]
    assert app.result(busy, timeout=10)[0] == "busy"


def test_a_node_does_not_take_runs_of_workflows_it_does_not_run(make_app: MakeApp) -> None:
    app = make_app(name="picky", workflow_modules=[flows.ThreeSteps])
    run_id = app.start(Other)
    record = app.store.get_run(run_id)
    assert record is not None and record.lease_owner is None
    app.cancel(run_id)


def test_an_idempotent_restart_of_an_eager_run_starts_nothing(make_app: MakeApp) -> None:
    app = make_app(name="again", concurrency=4)
    app.start(flows.ThreeSteps, run_id="same")
    app.start(flows.ThreeSteps, run_id="same")
    assert app.result("same", timeout=10) == ["did a", "did b", "did c"]
    assert flows.CALLS["a"] == 1
    assert app._dispatcher is not None and app._dispatcher._reserved == 0


def counting_claims(app: continuum.Continuum) -> list[int]:
    """Count the dispatcher's claims (each entry: how many runs one claim took)."""
    store = app.store
    claim_runs = store.claim_runs
    taken: list[int] = []

    def counted(*args, **kwargs):  # type: ignore[no-untyped-def]
        claims = claim_runs(*args, **kwargs)
        if kwargs.get("known"):
            taken.append(len(claims))
        return claims

    store.claim_runs = counted  # type: ignore[method-assign]
    return taken


def test_runs_started_on_a_free_node_need_no_claims(make_app: MakeApp) -> None:
    # Started with a worker free, a run is leased to this node as it is inserted;
    # a worker finishing is then no reason to ask the database for more.
    app = make_app(concurrency=2, poll_interval=30)
    claims = counting_claims(app)
    for _ in range(20):
        assert app.result(app.start(flows.ThreeSteps), timeout=10) == ["did a", "did b", "did c"]
    assert len(claims) <= 2, claims


def test_a_run_queued_behind_busy_workers_starts_as_soon_as_one_frees(make_app: MakeApp) -> None:
    app = make_app(concurrency=1, poll_interval=30)
    claims = counting_claims(app)
    app.start(flows.Gated, "gate")  # takes the only worker
    wait_until(lambda: flows.CALLS["gate"] == 1, what="the gated activity to start")
    queued = app.start(flows.ThreeSteps)  # no worker free: it waits in the table
    flows.GATES["gate"].set()
    # long before the 30 s poll: the freed worker makes the dispatcher look
    assert app.result(queued, timeout=10) == ["did a", "did b", "did c"]
    assert 1 in claims


def test_a_timer_that_fires_while_every_worker_is_busy_runs_when_one_frees(
    make_app: MakeApp,
) -> None:
    app = make_app(concurrency=1, poll_interval=30)
    sleeper = app.start(flows.Sleeper, {"seconds": 0.3})
    wait_until(lambda: app.get(sleeper).status == "suspended", what="the sleeper to suspend")
    app.start(flows.Gated, "gate")  # takes the only worker past the sleeper's timer
    wait_until(lambda: flows.CALLS["gate"] == 1, what="the gated activity to start")
    time.sleep(0.5)  # the timer fires while the worker is busy
    flows.GATES["gate"].set()
    # long before the 30 s poll: the freed worker looks for the run that came due
    assert app.result(sleeper, timeout=10) == "did after"
