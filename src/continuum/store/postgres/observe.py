"""What PostgreSQL answers the observer, `health` and retention: run lists, activity,
signals, node heartbeats, health counts, and pruning (`PostgresStore` mixes it in).

Reads are single statements, on the database clock. Run lists page by keyset on
(created_at, id); see `query_runs` in `queries.sql` and `run_query` for how a
statement is put together from the filters a query has.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import psycopg
from psycopg.rows import dict_row

from continuum.errors import ConfigurationError
from continuum.store import base, run_query
from continuum.store.postgres.connection import Connected
from continuum.store.rows import (
    activity_buckets,
    node_records,
    run_record,
    signal_records,
    store_health,
)
from continuum.store.sqlfile import load_queries

Q = load_queries("continuum.store.postgres", "queries.sql")


class PostgresObserve(Connected):
    """The observer's verbs of `base.Store`, over the store's pooled connections."""

    @contextmanager
    def _without_jit(self) -> Iterator[psycopg.Connection[Any]]:
        """A transaction over many runs, without JIT compilation.

        The planner's guess for a page of runs (a LIMIT it cannot see in a generic
        plan; a filter it thinks rare) or for a day of activity easily passes
        `jit_above_cost`, and compiling then costs 5 to 150 ms for a query that runs
        in well under one (measured at a million runs: `bench.observer`).
        """
        with self._tx() as conn:
            conn.execute(Q["without_jit"])
            yield conn

    def query_runs(
        self, where: base.RunFilter, *, limit: int, after: base.RunCursor | None = None
    ) -> list[base.RunRecord]:
        statement, params = run_list(where, after, limit)
        if limit <= 0:
            return []
        with self._without_jit() as conn:
            if "attributes" in params:
                conn.execute(Q["custom_plans"])
            rows = conn.cursor(row_factory=dict_row).execute(statement, params).fetchall()
        return [run_record(row, dt.datetime.timestamp) for row in rows]

    def run_activity(self, *, since: float, bucket_seconds: float) -> list[base.ActivityBucket]:
        if not bucket_seconds > 0:
            raise ConfigurationError(f"bucket_seconds must be above 0, got {bucket_seconds!r}")
        params = {"since": since, "width": bucket_seconds}
        with self._without_jit() as conn:
            rows = conn.execute(Q["run_activity"], params).fetchall()
        return activity_buckets(rows, since, bucket_seconds)

    def list_signals(self, run_id: str) -> list[base.SignalRecord]:
        with self._connection() as conn:
            return signal_records(conn.execute(Q["list_signals"], {"run_id": run_id}).fetchall())

    def heartbeat_node(
        self,
        instance: str,
        node: str,
        *,
        hostname: str,
        pid: int,
        dispatching: bool,
        concurrency: int,
        in_flight: int,
        listener: str,
    ) -> None:
        params = {
            "instance": instance,
            "node": node,
            "hostname": hostname,
            "pid": pid,
            "dispatching": dispatching,
            "concurrency": concurrency,
            "in_flight": in_flight,
            "listener": listener,
        }
        with self._connection() as conn:  # one statement: its own transaction
            conn.execute(Q["heartbeat_node"], params)

    def list_nodes(self) -> list[base.NodeRecord]:
        with self._connection() as conn:
            return node_records(conn.execute(Q["list_nodes"]).fetchall())

    def store_health(
        self, *, grace: float, overdue_after: float, alive_within: float, examples: int = 5
    ) -> base.StoreHealth:
        params = {
            "grace": grace,
            "overdue_after": overdue_after,
            "alive_within": alive_within,
            "examples": max(examples, 0),
        }
        with self._without_jit() as conn:
            return store_health(_the_row(conn.execute(Q["store_health"], params)))

    def due_backlog(self) -> tuple[int, float | None]:
        with self._connection() as conn:
            count, oldest = _the_row(conn.execute(Q["due_backlog"]))
        return int(count), oldest

    def prune_runs(
        self,
        *,
        finished_before: float,
        statuses: Sequence[str],
        workflows: Sequence[str] | None = None,
        limit: int,
    ) -> int:
        params = run_query.prune_params(
            finished_before=finished_before, statuses=statuses, workflows=workflows, limit=limit
        )
        if limit <= 0:
            return 0
        statement = Q["prune_runs" if workflows is None else "prune_runs_of_workflows"]
        with self._without_jit() as conn:  # one short transaction
            return conn.execute(statement, params).rowcount

    def count_prunable(
        self,
        *,
        finished_before: float,
        statuses: Sequence[str],
        workflows: Sequence[str] | None = None,
    ) -> int:
        params = run_query.prune_params(
            finished_before=finished_before, statuses=statuses, workflows=workflows
        )
        statement = run_query.compose(Q["count_prunable"], params, "pyformat")
        with self._without_jit() as conn:
            return int(_the_row(conn.execute(statement, params))[0])


def run_list(
    where: base.RunFilter, after: base.RunCursor | None, limit: int
) -> tuple[str, dict[str, Any]]:
    """The statement that serves a run list best (see each in `queries.sql`), and its
    parameters."""
    params = run_query.run_filter_params(where, after, limit)
    if where.run_id is not None:
        query = "query_runs"  # one row at most, found by its key
    elif where.parent_run_id is not None or "attributes" in params:
        query = "query_runs"  # a parent's children, or attributes: their own indexes
    elif where.workflow is not None:
        query = "query_runs_of_workflow"
    elif where.version_hash is not None:
        query = "query_runs_of_version"
    else:
        query = "query_runs_by_status"
        params.setdefault("statuses", sorted(base.STATUSES))  # all runs: a scan per status
    return run_query.compose(Q[query], params, "pyformat"), params


def _the_row(cursor: psycopg.Cursor[Any]) -> Any:
    row = cursor.fetchone()
    assert row is not None  # an aggregate always answers one row
    return row
