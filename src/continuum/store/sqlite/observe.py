"""What SQLite answers the observer, `health` and retention: run lists, activity,
signals, node heartbeats, health counts, and pruning (`SQLiteStore` mixes it in).

Run lists page by keyset on (created_at, id); see `query_runs` in `queries.sql`
and `run_query` for how a statement is put together from the filters a query has.
Pruning deletes one batch per short write transaction.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from continuum.errors import ConfigurationError
from continuum.store import base, run_query
from continuum.store.rows import (
    activity_buckets,
    node_records,
    run_record,
    signal_records,
    store_health,
)
from continuum.store.sqlfile import load_queries
from continuum.store.sqlite.connection import Connected

Q = load_queries("continuum.store.sqlite", "queries.sql")


class SQLiteObserve(Connected):
    """The observer's verbs of `base.Store`, over the store's one connection."""

    def query_runs(
        self, where: base.RunFilter, *, limit: int, after: base.RunCursor | None = None
    ) -> list[base.RunRecord]:
        params = run_query.run_filter_params(where, after, limit)
        if limit <= 0:
            return []
        statuses = params.pop("statuses", [])
        if len(statuses) == 1:
            params["status"] = statuses[0]
        elif statuses:
            params["statuses"] = json.dumps(statuses)
        statement = run_query.compose(Q["query_runs"], params, "named")
        with self._read() as db:
            return [run_record(row) for row in db.execute(statement, params).fetchall()]

    def run_activity(self, *, since: float, bucket_seconds: float) -> list[base.ActivityBucket]:
        if not bucket_seconds > 0:
            raise ConfigurationError(f"bucket_seconds must be above 0, got {bucket_seconds!r}")
        with self._read() as db:
            rows = db.execute(Q["run_activity"], {"since": since, "width": bucket_seconds})
            return activity_buckets(rows.fetchall(), since, bucket_seconds)

    def list_signals(self, run_id: str) -> list[base.SignalRecord]:
        with self._read() as db:
            return signal_records(db.execute(Q["list_signals"], {"run_id": run_id}).fetchall())

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
            "now": self.now(),
        }
        with self._write() as db:
            db.execute(Q["forget_silent_nodes"], params)
            db.execute(Q["heartbeat_node"], params)

    def list_nodes(self) -> list[base.NodeRecord]:
        with self._read() as db:
            return node_records(db.execute(Q["list_nodes"]).fetchall())

    def store_health(
        self, *, grace: float, overdue_after: float, alive_within: float, examples: int = 5
    ) -> base.StoreHealth:
        params = {
            "now": self.now(),
            "grace": grace,
            "overdue_after": overdue_after,
            "alive_within": alive_within,
            "examples": max(examples, 0),
        }
        with self._read() as db:
            return store_health(db.execute(Q["store_health"], params).fetchone())

    def due_backlog(self) -> tuple[int, float | None]:
        with self._read() as db:
            count, oldest = db.execute(Q["due_backlog"], {"now": self.now()}).fetchone()
        return int(count), oldest

    def prune_runs(
        self,
        *,
        finished_before: float,
        statuses: Sequence[str],
        workflows: Sequence[str] | None = None,
        limit: int,
    ) -> int:
        params = _prune_params(finished_before, statuses, workflows, limit)
        if limit <= 0:
            return 0
        with self._write() as db:  # one short write transaction per batch
            if workflows is None:
                return db.execute(Q["prune_runs"], params).rowcount
            chosen: list[str] = []  # oldest first within each workflow, in name order
            for workflow in sorted(set(workflows)):
                wanted = {**params, "workflow": workflow, "limit": limit - len(chosen)}
                chosen += [row[0] for row in db.execute(Q["prunable_of_workflow"], wanted)]
                if len(chosen) >= limit:
                    break
            return db.execute(Q["delete_runs"], {"ids": json.dumps(chosen)}).rowcount

    def count_prunable(
        self,
        *,
        finished_before: float,
        statuses: Sequence[str],
        workflows: Sequence[str] | None = None,
    ) -> int:
        params = _prune_params(finished_before, statuses, workflows, None)
        statement = run_query.compose(Q["count_prunable"], params, "named")
        with self._read() as db:
            return int(db.execute(statement, params).fetchone()[0])


def _prune_params(
    finished_before: float,
    statuses: Sequence[str],
    workflows: Sequence[str] | None,
    limit: int | None,
) -> dict[str, Any]:
    params = run_query.prune_params(
        finished_before=finished_before, statuses=statuses, workflows=workflows, limit=limit
    )
    for name in ("statuses", "workflows"):
        if name in params:
            params[name] = json.dumps(params[name])
    return params
