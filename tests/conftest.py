"""Fixtures shared by every layer of the suite.

`backend_url` is parametrised over the store backends; contract and engine
tests that take it run against each one.
"""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest

import continuum
from continuum.store import Store, open_store
from tests.pgcluster import PostgresCluster

# CONTINUUM_TEST_BACKENDS=sqlite runs the quick half locally; CI runs both.
BACKENDS = os.environ.get("CONTINUUM_TEST_BACKENDS", "sqlite,postgres").split(",")


@pytest.fixture(scope="session")
def pg_cluster() -> Iterator[PostgresCluster]:
    """One throwaway PostgreSQL server for the whole session, removed at the end."""
    cluster = PostgresCluster().start()
    yield cluster
    cluster.remove()


@pytest.fixture(params=BACKENDS)
def backend_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A fresh, empty database on each backend."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'continuum.db'}"
    if request.param == "postgres":
        cluster: PostgresCluster = request.getfixturevalue("pg_cluster")
        return cluster.create_database()
    raise AssertionError(request.param)


def raw_sql(url: str, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Run SQL outside the engine (to stage states only older releases or crashes make).

    Write it with `?` placeholders; they become `%s` on PostgreSQL.
    """
    if url.startswith("sqlite:///"):
        conn = sqlite3.connect(url[len("sqlite:///") :].partition("?")[0])
        try:
            rows = conn.execute(sql, params).fetchall()
            conn.commit()
            return rows
        finally:
            conn.close()
    with psycopg.connect(url, autocommit=True) as pg:
        cur = pg.execute(sql.replace("?", "%s"), params)  # type: ignore[arg-type]
        return cur.fetchall() if cur.description else []


@pytest.fixture
def store(backend_url: str) -> Iterator[Store]:
    opened = open_store(backend_url)
    opened.migrate()
    yield opened
    opened.close()


@pytest.fixture
def make_app(backend_url: str) -> Iterator[Callable[..., continuum.Continuum]]:
    """Build and boot instances on the test database; all are shut down afterwards."""
    made: list[continuum.Continuum] = []

    def make(**options: Any) -> continuum.Continuum:
        options.setdefault("database", backend_url)
        options.setdefault("poll_interval", 0.05)
        options.setdefault("lease_seconds", 5.0)
        options.setdefault("unknown_version_backoff", 0.2)
        options.setdefault("name", f"test-{len(made)}")
        app = continuum.Continuum(**options)
        made.append(app)
        return app.boot()

    yield make
    for app in reversed(made):
        app.shutdown(timeout=10)


@pytest.fixture
def app(make_app: Callable[..., continuum.Continuum]) -> continuum.Continuum:
    return make_app(name="default")


def wait_until(condition: Callable[[], Any], timeout: float = 10.0, what: str = "") -> Any:
    """Poll `condition` until it returns something truthy, or fail at the deadline."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what or condition}")
        time.sleep(0.01)


class Events:
    """Records telemetry events while attached."""

    def __init__(self) -> None:
        self.seen: list[tuple[tuple[str, ...], dict[str, Any], dict[str, Any]]] = []
        self._lock = threading.Lock()

    def __call__(self, event: tuple[str, ...], measurements: Any, metadata: Any) -> None:
        with self._lock:
            self.seen.append((event, dict(measurements), dict(metadata)))

    def named(self, *suffix: str, run_id: str | None = None) -> list[dict[str, Any]]:
        with self._lock:
            return [
                {**meta, "measurements": meas}
                for event, meas, meta in self.seen
                if event[-len(suffix) :] == suffix
                and (run_id is None or meta.get("run_id") == run_id)
            ]


ALL_EVENTS = (
    [
        ("continuum", "run", name)
        for name in (
            "start",
            "stop",
            "exception",
            "suspended",
            "resumed",
            "unknown_version",
            "nondeterminism",
            "cancelled",
        )
    ]
    + [("continuum", "activity", name) for name in ("start", "stop", "exception")]
    + [("continuum", "patched", "hit")]
)


@pytest.fixture
def events() -> Iterator[Events]:
    recorder = Events()
    handler_id = f"test-events-{id(recorder)}"
    continuum.telemetry.attach_many(handler_id, ALL_EVENTS, recorder)
    yield recorder
    continuum.telemetry.detach(handler_id)


@pytest.fixture
def module_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A folder on sys.path for workflow modules written by a test."""
    folder = tmp_path / "modules"
    folder.mkdir()
    monkeypatch.syspath_prepend(str(folder))
    return folder


def strict_mypy(folder: Path, name: str, source: str) -> tuple[list[str], str]:
    """Type-check `source`, saved as `folder/name`, with `mypy --strict` as a user's
    project would (none of this repository's configuration): its error lines, and
    everything mypy printed."""
    (folder / name).write_text(source)
    (folder / "mypy.ini").write_text("[mypy]\n")
    env = {k: v for k, v in os.environ.items() if k != "MYPYPATH"}
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "mypy",
            "--strict",
            "--config-file",
            str(folder / "mypy.ini"),
            "--cache-dir",
            str(folder / "cache"),
            name,
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        cwd=folder,
        env=env,
    )
    report = done.stdout + done.stderr
    return [line for line in done.stdout.splitlines() if ": error:" in line], report
