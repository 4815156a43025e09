"""`SQLiteStore`: the embedded default, one file shared safely by processes on one machine.

One connection per store, guarded by a lock: threads of one process take turns
in Python (a fast hand-off) instead of spinning in SQLite's busy handler, and
processes sharing the file serialise their writes through `BEGIN IMMEDIATE`
and the busy timeout. WAL mode lets readers proceed beside a writer.

An attempt write is `fence`, then per journal row `write_entry` (and
`consume_signal` for a row that takes a signal), then `stop` when the attempt
stops; concurrent writes share one transaction through group commit, each in a
savepoint of its own so that a refused one is rolled back alone.

SQLite is embedded, so the database's clock is this machine's clock.
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any

from continuum.errors import ContinuumError, LeaseLost, StoreError
from continuum.store import base
from continuum.store.group_commit import GroupCommit
from continuum.store.rows import (
    journal_entries,
    lease_params,
    lost_leases,
    new_run_params,
    patch_usage,
    run_record,
    version_rows,
    version_usage,
)
from continuum.store.sqlfile import load_queries, plan_migrations, read_migrations, read_schema
from continuum.store.sqlite.connection import _statements, connect, translated
from continuum.store.sqlite.observe import SQLiteObserve
from continuum.store.sqlite.schedules import SQLiteSchedules

_PACKAGE = "continuum.store.sqlite"
Q = load_queries(_PACKAGE, "queries.sql")
MIGRATIONS = read_migrations(_PACKAGE)
SCHEMA = read_schema(_PACKAGE)


class SQLiteStore(SQLiteSchedules, SQLiteObserve, base.Store):
    notifies = False

    def __init__(self, url: str, *, create: bool = True) -> None:
        self.url = url
        self._conn = connect(url, create=create)
        self._lock = threading.RLock()
        # One transaction (one sync of the file) for the writes of many attempts.
        self._writes = GroupCommit(self.apply_writes, backend="sqlite")

    # -- plumbing --------------------------------------------------------------------
    @contextmanager
    def _read(self) -> Iterator[sqlite3.Connection]:
        with self._lock, translated():
            yield self._conn

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        """A transaction that holds SQLite's write lock from its first statement."""
        with self._lock, translated():
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                yield self._conn
            except BaseException:
                self._conn.execute("ROLLBACK")
                raise
            self._conn.execute("COMMIT")

    def close(self) -> None:
        with self._lock:
            self._conn.close()

    def now(self) -> float:
        return time.time()

    def listen(self, handlers: Mapping[str, Callable[[str], None]]) -> Callable[[], None]:
        return lambda: None  # no notifications: callers poll

    # -- schema ----------------------------------------------------------------------
    def migrate(self) -> None:
        with self._write() as db:  # the write lock keeps concurrent boots in line
            db.execute(Q["create_migrations_table"])
            applied = [row[0] for row in db.execute(Q["applied_migrations"])]
            scripts, done = plan_migrations(applied, MIGRATIONS, SCHEMA)
            for script in scripts:
                for statement in _statements(script):
                    db.execute(statement)
            for migration in done:
                db.execute(
                    Q["record_migration"], {"version": migration.version, "name": migration.name}
                )

    def latest_schema_version(self) -> int:
        return MIGRATIONS[-1].version

    def schema_version(self) -> int:
        with self._read() as db:
            if not db.execute(Q["has_migrations_table"]).fetchone()[0]:
                return 0
            return int(db.execute(Q["schema_version"]).fetchone()[0])

    # -- runs ------------------------------------------------------------------------
    def create_run(
        self, new: base.NewRun, *, lease_to: str | None = None, lease_seconds: float = 0.0
    ) -> tuple[base.RunRecord, bool]:
        with self._write() as db:
            inserted = db.execute(
                Q["insert_run"],
                {
                    **new_run_params(new),
                    "lease_to": lease_to,
                    "lease_seconds": lease_seconds,
                    "nonce": base.new_lease_nonce(),
                    "now": self.now(),
                },
            ).rowcount
            row = db.execute(Q["get_run"], {"run_id": new.run_id}).fetchone()
        return run_record(row), inserted == 1

    def get_run(self, run_id: str) -> base.RunRecord | None:
        with self._read() as db:
            row = db.execute(Q["get_run"], {"run_id": run_id}).fetchone()
        return None if row is None else run_record(row)

    def cancel_run(self, run_id: str) -> list[base.RunRecord]:
        now = self.now()
        params = {"run_id": run_id, "now": now}
        with self._write() as db:
            asked = db.execute(Q["request_cancel"], params).fetchone()
            if asked is not None:
                return [run_record(asked)]
            row = db.execute(Q["cancel_run"], params).fetchone()
            if row is None:
                return []
            run = run_record(row)
            children = [run_record(child) for child in db.execute(Q["cancel_children"], params)]
            if run.parent_run_id is not None:
                _tell_parent(db, run_id, run.parent_run_id, now)
        return [run, *children]

    def set_attributes(self, run_id: str, attributes_json: str) -> str | None:
        with self._write() as db:
            row = db.execute(
                Q["set_attributes"], {"run_id": run_id, "attributes": attributes_json}
            ).fetchone()
        return None if row is None else str(row[0])

    def child_run_ids(self, run_id: str) -> list[str]:
        with self._read() as db:
            return [row[0] for row in db.execute(Q["children"], {"run_id": run_id})]

    def send_signal(
        self, run_id: str, name: str, payload_json: str, *, delivery_id: str | None = None
    ) -> base.SignalOutcome:
        params = {
            "now": self.now(),
            "run_id": run_id,
            "name": name,
            "payload": payload_json,
            "delivery_id": delivery_id,
        }
        with self._write() as db:  # the write lock orders it against a run that ends
            if delivery_id is not None and db.execute(Q["signal_delivered"], params).fetchone():
                return "duplicate"
            row = db.execute(Q["run_status"], params).fetchone()
            if row is None:
                return "missing"
            if row[0] in base.TERMINAL_STATUSES:
                return "ended"
            db.execute(Q["wake_for_signal"], params)
            db.execute(Q["insert_signal"], params)
        return "sent"

    # -- dispatch --------------------------------------------------------------------
    def claim_runs(
        self, node: str, *, limit: int, lease_seconds: float, versions: base.Versions, known: bool
    ) -> list[base.Claim]:
        if limit <= 0 or (known and not versions):
            return []
        now = self.now()
        with self._write() as db:
            chosen = {  # id -> (fresh, due), oldest due first
                row[0]: (bool(row[1]), float(row[2]))
                for row in db.execute(
                    Q["claim_choose"],
                    {
                        "now": now,
                        "versions": json.dumps(versions),
                        "limit": limit,
                        "known": int(known),
                    },
                )
            }
            if not chosen:
                return []
            rows = db.execute(
                Q["claim_take"],
                {
                    "node": node,
                    "now": now,
                    "lease_seconds": lease_seconds,
                    "nonce": base.new_lease_nonce(),
                    "ids": json.dumps(list(chosen)),
                },
            ).fetchall()
        order = {run_id: index for index, run_id in enumerate(chosen)}  # oldest due first
        runs = sorted((run_record(row) for row in rows), key=lambda r: order[r.run_id])
        return [base.Claim(run, base.Lease.of(run), now, *chosen[run.run_id]) for run in runs]

    def next_due_in(self, versions: base.Versions) -> float | None:
        if not versions:
            return None
        with self._read() as db:
            (due,) = db.execute(Q["next_due"], {"versions": json.dumps(versions)}).fetchone()
        return None if due is None else float(due) - self.now()

    def renew_leases(self, leases: Sequence[base.Lease], lease_seconds: float) -> list[base.Lease]:
        if not leases:
            return []
        held = json.dumps(
            [[lease.run_id, lease.token, lease.nonce, lease.node] for lease in leases]
        )
        params = {"now": self.now(), "lease_seconds": lease_seconds, "leases": held}
        with self._write() as db:
            renewed = db.execute(Q["renew_leases"], params).fetchall()
        return lost_leases(leases, renewed)

    # -- attempt writes ----------------------------------------------------------------
    def load_journal(self, run_id: str) -> list[base.JournalEntry]:
        with self._read() as db:
            rows = db.execute(Q["journal_with_times"], {"run_id": run_id}).fetchall()
        return journal_entries(rows)

    def load_history(self, run_id: str) -> base.History:
        with self._read() as db:
            db.execute("BEGIN")  # one snapshot for both reads
            try:
                entries = [
                    base.JournalEntry(*row) for row in db.execute(Q["journal"], {"run_id": run_id})
                ]
                signals = [
                    base.SignalRecord(*row)
                    for row in db.execute(Q["pending_signals"], {"run_id": run_id})
                ]
            finally:
                db.execute("COMMIT")
        return base.History(entries, signals)

    def submit(self, write: base.Write) -> None:
        self._writes.submit(write)

    def apply_writes(self, writes: Sequence[base.Write]) -> list[ContinuumError | None]:
        """One transaction, so one sync of the file; a savepoint per write, so a refused
        write is rolled back alone."""
        now = self.now()
        outcomes: list[ContinuumError | None] = []
        with self._write() as db:
            for write in writes:
                db.execute("SAVEPOINT attempt_write")
                try:
                    _apply(db, write, now)
                except ContinuumError as refused:
                    db.execute("ROLLBACK TO attempt_write")
                    outcomes.append(refused)
                else:
                    outcomes.append(None)
                db.execute("RELEASE attempt_write")
        return outcomes

    def release(self, lease: base.Lease, *, delay: float) -> None:
        with self._write() as db:
            db.execute(Q["release"], {**lease_params(lease), "now": self.now(), "delay": delay})

    # -- versions ----------------------------------------------------------------------
    def register_versions(
        self,
        instance: str,
        node: str,
        versions: Sequence[base.VersionRecord],
        *,
        dispatching: bool = True,
    ) -> int:
        unstuck = 0
        now = self.now()
        with self._write() as db:
            for v in versions:
                params = {
                    "workflow": v.workflow,
                    "version_hash": v.version_hash,
                    "version": v.version,
                    "module": v.module,
                    "qualname": v.qualname,
                    "source": v.source,
                    "frozen": v.frozen,
                    "dispatching": dispatching,
                    "instance": instance,
                    "node": node,
                    "now": now,
                }
                db.execute(Q["upsert_version"], params)
                db.execute(Q["upsert_version_node"], params)
                unstuck += db.execute(Q["unstick_runs"], params).rowcount
        return unstuck

    def list_versions(self) -> list[base.VersionRow]:
        with self._read() as db:
            versions = db.execute(Q["list_versions"]).fetchall()
            holders = db.execute(Q["list_version_nodes"]).fetchall()
        return version_rows(versions, holders)

    def version_source(self, workflow: str, version_hash: str) -> str | None:
        with self._read() as db:
            row = db.execute(
                Q["version_source"], {"workflow": workflow, "version_hash": version_hash}
            ).fetchone()
        return None if row is None else row[0]

    def version_usage(self) -> list[base.VersionUsage]:
        with self._read() as db:
            return version_usage(db.execute(Q["version_usage"]).fetchall())

    def patch_usage(self) -> list[base.PatchUsage]:
        with self._read() as db:
            return patch_usage(db.execute(Q["patch_usage"]).fetchall())

    def delete_versions(self, versions: base.Versions) -> list[base.VersionKey]:
        removed = []
        with self._write() as db:
            for workflow, version_hash in versions:
                key = {"workflow": workflow, "version_hash": version_hash}
                if db.execute(Q["delete_version"], key).rowcount:
                    removed.append((workflow, version_hash))
        return removed

    def repin_run(
        self,
        run_id: str,
        *,
        from_hash: str,
        to_hash: str,
        to_version: int,
        lease_token: int,
        updated_at: float,
    ) -> bool:
        params: dict[str, Any] = {"run_id": run_id, "from_hash": from_hash, "to_hash": to_hash}
        params["now"] = self.now()
        params |= {"to_version": to_version, "lease_token": lease_token, "updated_at": updated_at}
        with self._write() as db:
            return db.execute(Q["repin_run"], params).rowcount == 1

    def unregister_node(self, instance: str, node: str) -> None:
        with self._write() as db:
            db.execute(Q["unregister_node"], {"instance": instance, "node": node})
            db.execute(Q["unregister_heartbeat"], {"instance": instance, "node": node})


def _apply(db: sqlite3.Connection, write: base.Write, now: float) -> None:
    """One attempt write, inside the transaction's write lock; raises what refuses it."""
    malformed = write.malformed()
    if malformed is not None:
        raise malformed
    lease = write.lease
    run = {"run_id": lease.run_id, "now": now}
    if (
        db.execute(Q["fence"], {**run, "token": lease.token, "nonce": lease.nonce}).fetchone()
        is None
    ):
        raise LeaseLost(lease.run_id)
    for entry in write.entries:
        db.execute(
            Q["write_entry"],
            {
                **run,
                "seq": entry.seq,
                "kind": entry.kind,
                "name": entry.name,
                "payload": entry.payload_json,
            },
        )
        if entry.consumes_signal is not None:
            taken = db.execute(
                Q["consume_signal"],
                {"signal_id": entry.consumes_signal, "run_id": lease.run_id, "seq": entry.seq},
            ).rowcount
            if taken != 1:
                raise StoreError(
                    f"run {lease.run_id}: signal {entry.consumes_signal} was already "
                    "consumed; nothing written"
                )
    if write.outcome != base.WriteOutcome.RECORD:
        db.execute(
            Q["stop"],
            {
                **run,
                "outcome": write.outcome,
                "output": write.output_json,
                "error": write.error_json,
                "wake_at": write.wake_at,
                "wake_on": json.dumps(list(write.wake_on_signals)),
                "continued_to": write.continued_to,
            },
        )
    if write.plain:
        return
    for new in write.start_runs:
        params = {**new_run_params(new), "lease_to": None, "lease_seconds": 0.0, "nonce": 0}
        db.execute(Q["insert_run"], {**params, "now": now})
    if write.outcome == base.WriteOutcome.CANCELLED:
        db.execute(Q["cancel_children"], run).fetchall()
    if write.outcome in base.ENDING_OUTCOMES and write.parent_run_id is not None:
        _tell_parent(db, lease.run_id, write.parent_run_id, now)


def _tell_parent(db: sqlite3.Connection, run_id: str, parent_run_id: str, now: float) -> None:
    """The run ended: its parent gets a signal saying how, and wakes if it waits for it."""
    params = {"run_id": run_id, "parent_run_id": parent_run_id, "now": now}
    params["name"] = base.child_ended_signal(run_id)
    if db.execute(Q["notify_parent"], params).rowcount:
        db.execute(Q["wake_parent"], params)
