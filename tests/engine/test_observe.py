"""Looking at runs from Python: query() pages, health(), due_backlog(), retention,
node status, read-only clients (migrate=False) and the stored trace context."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from pathlib import Path

import pytest

import continuum
from continuum import retention
from continuum.errors import ConfigurationError, SchemaError, WorkflowDefinitionError
from continuum.store.base import NewRun
from tests.conftest import Events, raw_sql, wait_until

MakeApp = Callable[..., continuum.Continuum]


@continuum.activity
def echo(value: object) -> object:
    return value


class Quick(continuum.Workflow, workflow="tests.observe.Quick"):
    def run(self, input):
        return echo(input)


class Parked(continuum.Workflow, workflow="tests.observe.Parked"):
    def run(self, input):
        return continuum.wait_for_signal("go")


class Brief(continuum.Workflow, workflow="tests.observe.Brief", retention=0.001):
    def run(self, input):
        return echo(input)


# -- query() -----------------------------------------------------------------------------
def test_query_pages_through_every_run_once_newest_first(make_app: MakeApp) -> None:
    client = make_app(name="client", dispatch=False)
    started = [client.start(Quick, n) for n in range(23)]
    seen: list[str] = []
    cursor = None
    pages = 0
    while True:
        page = client.query(workflow=Quick, limit=10, cursor=cursor)
        pages += 1
        seen += [run.run_id for run in page.runs]
        if page.next_cursor is None:
            break
        cursor = page.next_cursor
    assert pages == 3
    assert sorted(seen) == sorted(started) and len(seen) == len(set(seen))
    stamps = [client.get(run_id).created_at for run_id in seen]
    assert stamps == sorted(stamps, reverse=True)


def test_query_filters_combine(make_app: MakeApp) -> None:
    app = make_app(name="worker")
    done = app.start(Quick, "x")
    app.result(done, timeout=10)
    parked = app.start(Parked)
    wait_until(lambda: app.get(parked).status == "suspended", what="parked")
    assert [r.run_id for r in app.query(status="completed", workflow=Quick).runs] == [done]
    both = app.query(status=["completed", "suspended"]).runs
    assert {r.run_id for r in both} >= {done, parked}
    assert [r.run_id for r in app.query(version_hash=Parked.version_hash).runs] == [parked]
    now = dt.datetime.now(dt.UTC)
    assert app.query(started_after=now + dt.timedelta(minutes=1)).runs == []
    assert {r.run_id for r in app.query(started_before=now + dt.timedelta(minutes=1)).runs} >= {
        done,
        parked,
    }
    assert app.query(started_before=now - dt.timedelta(days=1)).runs == []


def test_query_refuses_bad_arguments_clearly(app: continuum.Continuum) -> None:
    with pytest.raises(ConfigurationError, match="not one query\\(\\) returned"):
        app.query(cursor="garbage")
    with pytest.raises(ConfigurationError, match="timezone-aware"):
        app.query(started_after=dt.datetime(2026, 1, 1))
    with pytest.raises(ConfigurationError, match="unknown status"):
        app.query(status="done")
    with pytest.raises(ConfigurationError, match="limit"):
        app.query(limit=0)


def test_run_info_names_the_lease_holder_and_attempt(make_app: MakeApp) -> None:
    app = make_app(name="worker", node="node-a")
    run_id = app.start(Parked)
    wait_until(lambda: app.get(run_id).status == "suspended", what="parked")
    info = app.get(run_id)
    assert info.attempt == 1 and info.lease_owner is None and info.available_at is None
    app.signal(run_id, "go", 1)
    assert app.result(run_id, timeout=10) == 1
    assert app.get(run_id).attempt == 2


# -- health() and the backlog -------------------------------------------------------------
def test_health_is_ok_with_a_live_node_and_lists_it(make_app: MakeApp) -> None:
    app = make_app(name="worker", node="node-h")
    wait_until(lambda: any(n["node"] == "node-h" for n in app.health()["nodes"]), what="beat")
    report = app.health()
    assert report["ok"], report
    [node] = [n for n in report["nodes"] if n["node"] == "node-h"]
    assert node["alive"] and node["dispatching"] and node["concurrency"] == app.concurrency
    assert {c["name"] for c in report["checks"]} == {
        "database",
        "nodes",
        "expired_leases",
        "overdue_runs",
        "stranded_versions",
        "listeners",
    }


def test_health_names_stranded_overdue_and_expired_runs(
    make_app: MakeApp, backend_url: str
) -> None:
    client = make_app(name="client", dispatch=False)
    client.store.create_run(NewRun("stranded-1", Quick.workflow, "f" * 16, 1, "null"))
    overdue = client.start(Quick, 1)
    raw_sql(backend_url, _PAST_DUE[backend_url.split(":", maxsplit=1)[0]], (overdue,))
    expired = client.start(Quick, 2)
    raw_sql(backend_url, _EXPIRED[backend_url.split(":", maxsplit=1)[0]], (expired,))
    report = client.health(overdue_after=1.0)
    assert not report["ok"]
    checks = {c["name"]: c for c in report["checks"]}
    assert not checks["stranded_versions"]["ok"]
    assert {"workflow": Quick.workflow, "version_hash": "f" * 16, "live_runs": 1} in checks[
        "stranded_versions"
    ]["versions"]
    assert "continuum versions restore" in checks["stranded_versions"]["detail"]
    assert checks["overdue_runs"]["count"] >= 1 and overdue in checks["overdue_runs"]["runs"]
    assert checks["expired_leases"]["runs"] == [expired]
    assert not checks["nodes"]["ok"]  # runs are due and no node executes them
    count, oldest = client.due_backlog()
    assert count >= 2 and oldest is not None


_PAST_DUE = {
    "sqlite": "UPDATE continuum_runs SET available_at = available_at - 3600 WHERE id = ?",
    "postgresql": "UPDATE continuum_runs SET available_at = now() - interval '1 hour' WHERE id = ?",
}
_EXPIRED = {
    "sqlite": "UPDATE continuum_runs SET status = 'running', lease_owner = 'gone', "
    "lease_token = 1, available_at = NULL, lease_expires_at = unixepoch('now') - 3600 "
    "WHERE id = ?",
    "postgresql": "UPDATE continuum_runs SET status = 'running', lease_owner = 'gone', "
    "lease_token = 1, available_at = NULL, lease_expires_at = now() - interval '1 hour' "
    "WHERE id = ?",
}


def test_node_status_reports_the_dispatcher(make_app: MakeApp) -> None:
    app = make_app(name="worker")
    assert app.node_status() == {
        "booted": True,
        "dispatching": True,
        "in_flight": 0,
        "listener": app.node_status()["listener"],
    }
    client = make_app(name="client", dispatch=False)
    assert client.node_status()["dispatching"] is False


# -- retention ------------------------------------------------------------------------------
def test_retention_deletes_finished_runs_of_that_workflow_only(
    make_app: MakeApp, monkeypatch: pytest.MonkeyPatch, events: Events
) -> None:
    monkeypatch.setattr(retention, "PRUNE_EVERY", 0.05)
    app = make_app(name="worker")
    brief = app.start(Brief, "gone soon")
    kept = app.start(Quick, "kept")
    assert app.result(kept, timeout=10) == "kept"
    parked = app.start(Parked)
    wait_until(lambda: app.store.get_run(brief) is None, what="the brief run pruned")
    assert app.store.load_journal(brief) == []
    assert app.get(kept).status == "completed"
    assert app.get(parked).status in ("pending", "running", "suspended")


def test_retention_must_be_a_positive_duration() -> None:
    with pytest.raises(WorkflowDefinitionError, match="retention="):
        type(
            "Bad",
            (continuum.Workflow,),
            {"run": Quick.run, "__module__": __name__},
            retention=dt.timedelta(0),
        )
    assert Brief.retention == 0.001
    assert Quick.retention is None


# -- read-only clients --------------------------------------------------------------------
def test_a_client_without_migrate_refuses_a_database_with_no_schema(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'empty.db'}"
    client = continuum.Continuum(database=url, dispatch=False, migrate=False)
    with pytest.raises(SchemaError, match="continuum migrate"):
        client.boot()
    assert not client.booted
    continuum.Continuum(database=url, dispatch=False).boot().shutdown()
    with continuum.Continuum(database=url, dispatch=False, migrate=False) as reader:
        assert reader.query().runs == []


# -- trace context --------------------------------------------------------------------------
def test_a_captured_trace_context_is_stored_and_handed_to_every_attempt(
    make_app: MakeApp, events: Events
) -> None:
    app = make_app(name="worker")
    app.trace_context_capture = lambda: '{"traceparent": "00-abc-def-01"}'
    run_id = app.start(Parked)
    record = app.store.get_run(run_id)
    assert record is not None and record.trace_context == '{"traceparent": "00-abc-def-01"}'
    wait_until(lambda: app.get(run_id).status == "suspended", what="parked")
    app.signal(run_id, "go", None)
    app.result(run_id, timeout=10)
    starts = events.named("run", "start", run_id=run_id) + events.named(
        "run", "resumed", run_id=run_id
    )
    assert len(starts) == 2
    assert {s["trace_context"] for s in starts} == {'{"traceparent": "00-abc-def-01"}'}


def test_a_failing_trace_hook_never_fails_a_start(
    app: continuum.Continuum, caplog: pytest.LogCaptureFixture
) -> None:
    def broken() -> str:
        raise RuntimeError("no tracer")

    app.trace_context_capture = broken
    run_id = app.start(Quick, 1)
    assert app.result(run_id, timeout=10) == 1
    record = app.store.get_run(run_id)
    assert record is not None and record.trace_context is None
    assert "trace_context_capture raised" in caplog.text


def test_the_optional_modules_load_on_first_use() -> None:
    assert continuum.web.create_app is not None
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        continuum.nope  # noqa: B018 - the attribute access is the point
