"""Fixtures of the fault tests, and their lines in the terminal summary.

One PostgreSQL server serves the whole folder (`fault_cluster`), started with
`harness.WIDE_CRASH_WINDOW`; every test gets a database of its own on it, with
the engine's schema and the audit triggers of `integrity` installed. Tests
that stop or crash the server leave it running again; `fault_db` makes sure of
it anyway, so one failed test cannot take the next ones down with it.

Each test reports one line of figures through `report`; they are printed
under "fault injection" at the end of the run, passed or failed, for CI logs.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import psycopg
import pytest

import continuum
from tests.faults import integrity
from tests.faults.harness import WIDE_CRASH_WINDOW, Workers
from tests.pgcluster import PostgresCluster

SUMMARY: list[str] = []


@dataclass(frozen=True)
class FaultDB:
    cluster: PostgresCluster
    url: str
    client: continuum.Continuum  # dispatch=False: starts runs, never executes them


@pytest.fixture(scope="session")
def fault_cluster() -> Iterator[PostgresCluster]:
    cluster = PostgresCluster(settings=WIDE_CRASH_WINDOW).start()
    yield cluster
    cluster.remove()


@pytest.fixture
def fault_db(fault_cluster: PostgresCluster) -> Iterator[FaultDB]:
    try:
        psycopg.connect(fault_cluster.url(), connect_timeout=5).close()
    except psycopg.OperationalError:
        fault_cluster.start()  # an earlier test failed with the server down
    url = fault_cluster.create_database("faults")
    client = continuum.Continuum(name="client", database=url, dispatch=False, poll_interval=0.1)
    client.boot()  # creates the schema, which the audit triggers attach to
    integrity.install(url)
    yield FaultDB(fault_cluster, url, client)
    with contextlib.suppress(Exception):
        client.shutdown(timeout=5)


@pytest.fixture
def workers(tmp_path: Path) -> Iterator[Workers]:
    spawned = Workers(tmp_path)
    yield spawned
    spawned.close()


@pytest.fixture
def report(request: pytest.FixtureRequest) -> Callable[[str], None]:
    """Add this test's line of figures to the terminal summary."""

    def add(line: str) -> None:
        SUMMARY.append(f"{request.node.name}: {line}")

    return add


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if SUMMARY:
        terminalreporter.section("fault injection")
        for line in SUMMARY:
            terminalreporter.write_line(line)
