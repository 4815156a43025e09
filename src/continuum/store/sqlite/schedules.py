"""What SQLite keeps of schedules (`SQLiteStore` mixes it in; see `store.schedules`).

A firing is the schedule's compare-and-set and the inserts of its runs in one write
transaction, which `BEGIN IMMEDIATE` serialises across every process sharing the
file: two nodes cannot both fire one tick. The runs go in by the same `insert_run`
as any started run, due at once.
"""

from __future__ import annotations

import json
from collections.abc import Sequence

from continuum.store.rows import new_run_params
from continuum.store.schedules import (
    FireOutcome,
    Firing,
    ScheduleDefinition,
    ScheduleRecord,
    definition_params,
    schedule_record,
)
from continuum.store.sqlfile import load_queries
from continuum.store.sqlite.connection import Connected

Q = load_queries("continuum.store.sqlite", "queries.sql")


class SQLiteSchedules(Connected):
    """The schedule verbs of `base.Store`, over the store's one connection."""

    def put_schedule(
        self, definition: ScheduleDefinition, *, next_tick: float | None, revision: int | None
    ) -> bool:
        params = {
            **definition_params(definition),
            "next_tick": next_tick,
            "revision": revision,
            "now": self.now(),
        }
        query = "insert_schedule" if revision is None else "update_schedule"
        with self._write() as db:
            return db.execute(Q[query], params).rowcount == 1

    def get_schedule(self, schedule_id: str) -> ScheduleRecord | None:
        with self._read() as db:
            row = db.execute(Q["get_schedule"], {"id": schedule_id}).fetchone()
        return None if row is None else schedule_record(row)

    def list_schedules(self) -> list[ScheduleRecord]:
        with self._read() as db:
            return [schedule_record(row) for row in db.execute(Q["list_schedules"]).fetchall()]

    def set_schedule_paused(
        self, schedule_id: str, *, paused: bool, next_tick: float | None, revision: int
    ) -> bool:
        params = {
            "id": schedule_id,
            "paused": paused,
            "next_tick": next_tick,
            "revision": revision,
            "now": self.now(),
        }
        with self._write() as db:
            return db.execute(Q["set_schedule_paused"], params).rowcount == 1

    def delete_schedule(self, schedule_id: str) -> bool:
        with self._write() as db:
            return db.execute(Q["delete_schedule"], {"id": schedule_id}).rowcount == 1

    def next_schedule_in(
        self, workflows: Sequence[str], *, skip: Sequence[str] = ()
    ) -> float | None:
        if not workflows:
            return None
        params = {"workflows": json.dumps(list(workflows)), "skip": json.dumps(list(skip))}
        with self._read() as db:
            (tick,) = db.execute(Q["next_schedule"], params).fetchone()
        return None if tick is None else float(tick) - self.now()

    def due_schedules(
        self, workflows: Sequence[str], *, limit: int
    ) -> tuple[float, list[ScheduleRecord]]:
        now = self.now()
        if not workflows or limit <= 0:
            return now, []
        params = {"workflows": json.dumps(list(workflows)), "now": now, "limit": limit}
        with self._read() as db:
            rows = db.execute(Q["due_schedules"], params).fetchall()
        return now, [schedule_record(row) for row in rows]

    def fire_schedules(self, firings: Sequence[Firing]) -> list[FireOutcome]:
        if not firings:
            return []
        now = self.now()
        outcomes = []
        with self._write() as db:
            for firing in firings:
                last_run_id = firing.runs[-1].run_id if firing.runs else None
                fired = (
                    db.execute(
                        Q["fire_schedule"],
                        {
                            "id": firing.schedule_id,
                            "revision": firing.revision,
                            "next_tick": firing.next_tick,
                            "last_tick": firing.last_tick,
                            "last_run_id": last_run_id,
                            "now": now,
                        },
                    ).rowcount
                    == 1
                )
                created = []
                for new in firing.runs if fired else ():
                    params = {
                        **new_run_params(new),
                        "lease_to": None,
                        "lease_seconds": 0.0,
                        "nonce": 0,
                        "now": now,
                    }
                    if db.execute(Q["insert_run"], params).rowcount == 1:
                        created.append(new.run_id)
                outcomes.append(FireOutcome(fired, tuple(created)))
        return outcomes
