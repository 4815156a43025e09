"""What PostgreSQL keeps of schedules (`PostgresStore` mixes it in; see `store.schedules`).

Due-ness is `now()`'s decision. A batch of firings is one transaction: one statement
compares and sets every schedule's revision (locking the rows in id order, skipping
any another node holds), then one statement inserts the runs of the firings that
held, the same `insert_runs` that starts an attempt's children, which notifies
`continuum_wakeup` on commit, so every node's dispatcher hears of them at once.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any

from psycopg.rows import dict_row

from continuum.store.postgres.connection import Connected
from continuum.store.postgres.params import started_runs_json
from continuum.store.schedules import (
    FireOutcome,
    Firing,
    ScheduleDefinition,
    ScheduleRecord,
    definition_params,
    schedule_record,
)
from continuum.store.sqlfile import load_queries

Q = load_queries("continuum.store.postgres", "queries.sql")


class PostgresSchedules(Connected):
    """The schedule verbs of `base.Store`, over the store's pooled connections."""

    def put_schedule(
        self, definition: ScheduleDefinition, *, next_tick: float | None, revision: int | None
    ) -> bool:
        params = {**definition_params(definition), "next_tick": next_tick, "revision": revision}
        query = "insert_schedule" if revision is None else "update_schedule"
        with self._connection() as conn:  # one statement: its own transaction
            return conn.execute(Q[query], params).rowcount == 1

    def get_schedule(self, schedule_id: str) -> ScheduleRecord | None:
        found = self._schedules("get_schedule", {"id": schedule_id})
        return found[0] if found else None

    def list_schedules(self) -> list[ScheduleRecord]:
        return self._schedules("list_schedules", {})

    def _schedules(self, query: str, params: dict[str, Any]) -> list[ScheduleRecord]:
        with self._connection() as conn:
            rows = conn.cursor(row_factory=dict_row).execute(Q[query], params).fetchall()
        return [schedule_record(row, dt.datetime.timestamp) for row in rows]

    def set_schedule_paused(
        self, schedule_id: str, *, paused: bool, next_tick: float | None, revision: int
    ) -> bool:
        params = {"id": schedule_id, "paused": paused, "next_tick": next_tick, "revision": revision}
        with self._connection() as conn:
            return conn.execute(Q["set_schedule_paused"], params).rowcount == 1

    def delete_schedule(self, schedule_id: str) -> bool:
        with self._connection() as conn:
            return conn.execute(Q["delete_schedule"], {"id": schedule_id}).rowcount == 1

    def next_schedule_in(
        self, workflows: Sequence[str], *, skip: Sequence[str] = ()
    ) -> float | None:
        if not workflows:
            return None
        params = {"workflows": list(workflows), "skip": list(skip)}
        with self._connection() as conn:
            row = conn.execute(Q["next_schedule"], params).fetchone()
        return None if row is None or row[0] is None else float(row[0])

    def due_schedules(
        self, workflows: Sequence[str], *, limit: int
    ) -> tuple[float, list[ScheduleRecord]]:
        if not workflows or limit <= 0:
            return self.now(), []
        params = {"workflows": list(workflows), "limit": limit}
        with self._connection() as conn:
            rows = conn.cursor(row_factory=dict_row).execute(Q["due_schedules"], params).fetchall()
        if not rows:
            return self.now(), []
        due = [schedule_record(row, dt.datetime.timestamp) for row in rows]
        return float(rows[0]["db_now"]), due

    def fire_schedules(self, firings: Sequence[Firing]) -> list[FireOutcome]:
        if not firings:
            return []
        arrays = {
            "ids": [f.schedule_id for f in firings],
            "revisions": [f.revision for f in firings],
            "next_ticks": [f.next_tick for f in firings],
            "last_ticks": [f.last_tick for f in firings],
            "last_run_ids": [f.runs[-1].run_id if f.runs else None for f in firings],
        }
        with self._tx() as conn:
            fired = {row[0] for row in conn.execute(Q["fire_schedules"], arrays).fetchall()}
            runs = [new for f in firings if f.schedule_id in fired for new in f.runs]
            created = {new.run_id for new in runs}
            if runs:
                row = conn.execute(Q["insert_runs"], {"runs": started_runs_json(runs)}).fetchone()
                if row is None or row[0] < len(runs):  # some ids were there before
                    ids = {"ids": sorted(created)}
                    created = {r[0] for r in conn.execute(Q["runs_created_now"], ids).fetchall()}
        return [
            FireOutcome(
                f.schedule_id in fired,
                tuple(new.run_id for new in f.runs if new.run_id in created),
            )
            for f in firings
        ]
