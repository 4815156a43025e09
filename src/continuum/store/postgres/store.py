"""`PostgresStore`: many nodes on many machines, through psycopg 3 and a connection pool.

Claims take due runs with `FOR UPDATE SKIP LOCKED`, so nodes never wait on
each other's rows. Every attempt write first locks the run's row and checks its
lease token there (the fence): a concurrent claim, cancel or signal is ordered
before or after it, never interleaved. Attempt writes are one statement,
`attempt_writes`, whether one write goes out alone or many share a commit
(group commit). `now()` is the clock for leases and due times.

Starting, signalling or suspending a run sends `NOTIFY continuum_wakeup` in the
same transaction, and ending one `NOTIFY continuum_settled`; each instance
listens on one connection of its own, so dispatchers look for work and callers
of `result()` wake as soon as one arrives. A lost notification only costs a
poll interval.
"""

from __future__ import annotations

import datetime as dt
import threading
import time
import weakref
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any

import psycopg
import psycopg_pool
from psycopg.rows import dict_row
from psycopg.types.string import TextLoader

from continuum import validation
from continuum.errors import ContinuumError, LeaseLost, StoreError
from continuum.store import base
from continuum.store.group_commit import GroupCommit
from continuum.store.postgres import connection
from continuum.store.postgres.observe import PostgresObserve
from continuum.store.postgres.params import (
    lease_arrays,
    started_runs_json,
    version_arrays,
    write_params,
)
from continuum.store.postgres.schedules import PostgresSchedules
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

_PACKAGE = "continuum.store.postgres"
Q = load_queries(_PACKAGE, "queries.sql")
MIGRATIONS = read_migrations(_PACKAGE)
SCHEMA = read_schema(_PACKAGE)
_IDLE_BEFORE_CHECK = 1.0  # seconds


class PostgresStore(PostgresSchedules, PostgresObserve, base.Store):
    notifies = True

    def __init__(
        self,
        database: str | psycopg_pool.ConnectionPool,
        *,
        max_connections: int = 10,
        connect_timeout: float = 10.0,
    ) -> None:
        connect_timeout = validation.duration(
            connect_timeout, name="PostgresStore(connect_timeout=)"
        )
        # Connections set up for JSON-as-text, with when each was last used.
        self._configured: weakref.WeakKeyDictionary[psycopg.Connection[Any], float] = (
            weakref.WeakKeyDictionary()
        )
        self._listeners: list[threading.Event] = []
        # Two batches at once, on two connections: the next batch goes out while the
        # one before it waits for its commit to reach the disk (measured: a quarter
        # more activities per second than one at a time; three did worse).
        self._writes = GroupCommit(self.apply_writes, max_in_flight=2, backend="postgres")
        if isinstance(database, psycopg_pool.ConnectionPool):
            self._pool = database
            self._owns_pool = False
            conninfo = database.conninfo
            self._conninfo = conninfo() if callable(conninfo) else conninfo
            self.url = connection.redacted(self._conninfo)
            return
        self.url = connection.redacted(database)
        self._conninfo = database
        self._owns_pool = True
        self._pool = connection.open_pool(
            database,
            max_connections=max_connections,
            connect_timeout=connection.url_connect_timeout(database, connect_timeout),
            check=self._check_if_idle,
        )

    # -- plumbing --------------------------------------------------------------------
    @contextmanager
    def _connection(self) -> Iterator[psycopg.Connection[Any]]:
        with connection.translated(), self._pool.connection() as conn:
            if conn not in self._configured:
                # JSON stays text: the engine decodes it, so both backends return
                # exactly the JSON that was written.
                conn.adapters.register_loader("json", TextLoader)
                conn.adapters.register_loader("jsonb", TextLoader)
                self._configured[conn] = 0.0
            try:
                yield conn
            finally:
                self._configured[conn] = time.monotonic()

    def _check_if_idle(self, conn: psycopg.Connection[Any]) -> None:
        """Ping a pooled connection before use only if it sat idle for a while.

        A connection in steady use proves itself with every query; one that
        idled may have been cut (a server restart) and is replaced if so.
        """
        if time.monotonic() - self._configured.get(conn, 0.0) > _IDLE_BEFORE_CHECK:
            psycopg_pool.ConnectionPool.check_connection(conn)

    @contextmanager
    def _tx(self) -> Iterator[psycopg.Connection[Any]]:
        with self._connection() as conn, conn.transaction():
            yield conn

    def close(self) -> None:
        for stop in self._listeners:
            stop.set()
        if self._owns_pool:
            self._pool.close()

    def now(self) -> float:
        with self._connection() as conn:
            return float(_one(conn.execute(Q["now"])))

    # -- schema ----------------------------------------------------------------------
    def migrate(self) -> None:
        with self._tx() as conn:
            # One node at a time: concurrent CREATE TABLE IF NOT EXISTS can still collide.
            conn.execute(Q["lock_migrations"])
            conn.execute(Q["create_migrations_table"])
            applied = [row[0] for row in conn.execute(Q["applied_migrations"])]
            scripts, done = plan_migrations(applied, MIGRATIONS, SCHEMA)
            for script in scripts:
                conn.execute(script.encode())  # no parameters: several statements at once
            for migration in done:
                conn.execute(
                    Q["record_migration"], {"version": migration.version, "name": migration.name}
                )

    def latest_schema_version(self) -> int:
        return MIGRATIONS[-1].version

    def schema_version(self) -> int:
        with self._connection() as conn:
            if not _one(conn.execute(Q["has_migrations_table"])):
                return 0
            return int(_one(conn.execute(Q["schema_version"])))

    # -- runs ------------------------------------------------------------------------
    def create_run(
        self, new: base.NewRun, *, lease_to: str | None = None, lease_seconds: float = 0.0
    ) -> tuple[base.RunRecord, bool]:
        lease = {
            "lease_to": lease_to,
            "lease_seconds": lease_seconds,
            "nonce": base.new_lease_nonce(),
        }
        inserted = self._runs("insert_run", {**new_run_params(new), **lease})
        if inserted:
            return inserted[0], True
        [existing] = self._runs("get_run", {"run_id": new.run_id})  # started before
        return existing, False

    def get_run(self, run_id: str) -> base.RunRecord | None:
        found = self._runs("get_run", {"run_id": run_id})
        return found[0] if found else None

    def _runs(self, query: str, params: Mapping[str, Any]) -> list[base.RunRecord]:
        """The runs one statement (in a transaction of its own) returns."""
        with self._connection() as conn:
            found = conn.cursor(row_factory=dict_row).execute(Q[query], params).fetchall()
        return [_run(row) for row in found]

    def cancel_run(self, run_id: str) -> list[base.RunRecord]:
        with self._tx() as conn:
            cur = conn.cursor(row_factory=dict_row)
            asked = cur.execute(Q["request_cancel"], {"run_id": run_id}).fetchone()
            if asked is not None:
                return [_run(asked)]
            row = cur.execute(Q["cancel_run"], {"run_id": run_id}).fetchone()
            if row is None:
                return []
            runs = [_run(row), *_cancel_children(conn, run_id)]
            conn.execute(Q["notify_cancelled"], {"run_ids": [run.run_id for run in runs]})
            if runs[0].parent_run_id is not None:
                _tell_parent(conn, run_id, runs[0].parent_run_id)
        return runs

    def set_attributes(self, run_id: str, attributes_json: str) -> str | None:
        with self._connection() as conn:
            row = conn.execute(
                Q["set_attributes"], {"run_id": run_id, "attributes": attributes_json}
            ).fetchone()
        return None if row is None else str(row[0])

    def child_run_ids(self, run_id: str) -> list[str]:
        with self._connection() as conn:
            return [row[0] for row in conn.execute(Q["children"], {"run_id": run_id})]

    def send_signal(
        self, run_id: str, name: str, payload_json: str, *, delivery_id: str | None = None
    ) -> base.SignalOutcome:
        params = {
            "run_id": run_id,
            "name": name,
            "payload": payload_json,
            "delivery_id": delivery_id,
        }
        with self._connection() as conn:  # one statement: its own transaction
            outcome: base.SignalOutcome = _one(conn.execute(Q["send_signal"], params))
        return outcome

    # -- dispatch --------------------------------------------------------------------
    def claim_runs(
        self, node: str, *, limit: int, lease_seconds: float, versions: base.Versions, known: bool
    ) -> list[base.Claim]:
        if limit <= 0:  # no versions is for the query to answer
            return []
        params = {
            "node": node,
            "limit": limit,
            "lease_seconds": lease_seconds,
            "nonce": base.new_lease_nonce(),
            "known": known,
            **version_arrays(versions),
        }
        with self._connection() as conn:  # one statement: its own transaction
            rows = conn.cursor(row_factory=dict_row).execute(Q["claim"], params).fetchall()
        rows.sort(key=lambda row: row["claimed_due"])
        claims = []
        for row in rows:
            run = _run(row)
            due = row["claimed_due"].timestamp()
            claims.append(base.Claim(run, base.Lease.of(run), row["db_now"], row["fresh"], due))
        return claims

    def next_due_in(self, versions: base.Versions) -> float | None:
        if not versions:
            return None
        with self._connection() as conn:
            value = _one(conn.execute(Q["next_due"], version_arrays(versions)))
        return None if value is None else float(value)

    def renew_leases(self, leases: Sequence[base.Lease], lease_seconds: float) -> list[base.Lease]:
        if not leases:
            return []
        held = {"lease_seconds": lease_seconds, **lease_arrays(leases)}
        with self._connection() as conn:  # one statement: its own transaction
            return lost_leases(leases, conn.execute(Q["renew_leases"], held).fetchall())

    def listen(self, handlers: Mapping[str, Callable[[str], None]]) -> Callable[[], None]:
        stop = threading.Event()
        self._listeners.append(stop)
        statements = {t: Q[f"listen_{t}"] for t in handlers if t != connection.LISTENER_STATE}
        thread = threading.Thread(
            target=connection.listen_loop,
            args=(self._conninfo, statements, handlers, stop),
            name="continuum listener",
            daemon=True,
        )
        thread.start()
        return stop.set

    # -- attempt writes ----------------------------------------------------------------
    def load_history(self, run_id: str) -> base.History:
        entries, signals = [], []
        with self._connection() as conn:
            rows = conn.execute(Q["history"], {"run_id": run_id}).fetchall()  # in one go: cheaper
            for ident, kind, name, payload, sent_at in rows:
                if kind is not None:  # journal rows have a kind, signals do not
                    entries.append(base.JournalEntry(ident, kind, name, payload))
                else:
                    signals.append(base.SignalRecord(ident, name, payload, sent_at))
        entries.sort()
        signals.sort(key=lambda signal: signal.signal_id)
        return base.History(entries, signals)

    def load_journal(self, run_id: str) -> list[base.JournalEntry]:
        with self._connection() as conn:
            rows = conn.execute(Q["journal_with_times"], {"run_id": run_id}).fetchall()
        return journal_entries(rows)

    def submit(self, write: base.Write) -> None:
        self._writes.submit(write)

    def apply_writes(self, writes: Sequence[base.Write]) -> list[ContinuumError | None]:
        outcomes: list[ContinuumError | None] = [write.malformed() for write in writes]
        # In run id order, the order attempt_writes locks rows in.
        sent = sorted(
            (i for i, o in enumerate(outcomes) if o is None), key=lambda i: writes[i].lease.run_id
        )
        if not sent:
            return outcomes
        if all(writes[i].plain for i in sent):
            with self._connection() as conn:  # one statement: its own transaction
                self._write_batch(conn, writes, sent, outcomes)
        else:
            # What the writes start or tell goes in their transaction, only if they were
            # written: the fence's row locks are held until it commits.
            with self._tx() as conn:
                self._write_batch(conn, writes, sent, outcomes)
                for i in sent:
                    if outcomes[i] is None and not writes[i].plain:
                        _write_beyond(conn, writes[i])
        return outcomes

    def _write_batch(
        self,
        conn: psycopg.Connection[Any],
        writes: Sequence[base.Write],
        sent: Sequence[int],
        outcomes: list[ContinuumError | None],
    ) -> None:
        query, params = write_params([writes[i] for i in sent])
        rows = conn.execute(Q[query], params).fetchall()
        for position, written, taken_before, *_ in rows:
            if written:
                continue
            i = sent[position - 1]
            run_id = writes[i].lease.run_id
            outcomes[i] = (
                StoreError(f"run {run_id}: a signal was already consumed; nothing written")
                if taken_before
                else LeaseLost(run_id)
            )

    def release(self, lease: base.Lease, *, delay: float) -> None:
        with self._tx() as conn:
            conn.execute(Q["release"], {**lease_params(lease), "delay": delay})
            if delay <= 0:
                conn.execute(Q["notify"])

    # -- versions ----------------------------------------------------------------------
    def register_versions(
        self,
        instance: str,
        node: str,
        versions: Sequence[base.VersionRecord],
        *,
        dispatching: bool = True,
    ) -> int:
        if not versions:
            return 0
        arrays = {
            "workflows": [v.workflow for v in versions],
            "hashes": [v.version_hash for v in versions],
            "versions": [v.version for v in versions],
            "modules": [v.module for v in versions],
            "qualnames": [v.qualname for v in versions],
            "sources": [v.source for v in versions],
            "frozen": [v.frozen for v in versions],
            "instance": instance,
            "node": node,
            "dispatching": dispatching,
        }
        with self._tx() as conn:
            conn.execute(Q["upsert_versions"], arrays)
            conn.execute(Q["upsert_version_nodes"], arrays)
            unstuck = conn.execute(Q["unstick_runs"], arrays).rowcount
            if unstuck:
                conn.execute(Q["notify"])
        return unstuck

    def list_versions(self) -> list[base.VersionRow]:
        with self._connection() as conn:
            return version_rows(
                conn.execute(Q["list_versions"]).fetchall(),
                conn.execute(Q["list_version_nodes"]).fetchall(),
            )

    def version_source(self, workflow: str, version_hash: str) -> str | None:
        key = {"workflow": workflow, "version_hash": version_hash}
        with self._connection() as conn:
            source: str | None = _one(conn.execute(Q["version_source"], key))
        return source

    def version_usage(self) -> list[base.VersionUsage]:
        with self._connection() as conn:
            return version_usage(conn.execute(Q["version_usage"]).fetchall())

    def patch_usage(self) -> list[base.PatchUsage]:
        with self._connection() as conn:
            return patch_usage(conn.execute(Q["patch_usage"]).fetchall())

    def delete_versions(self, versions: base.Versions) -> list[base.VersionKey]:
        if not versions:
            return []
        with self._connection() as conn:  # one statement: its own transaction
            rows = conn.execute(Q["delete_versions"], version_arrays(versions)).fetchall()
        return [(workflow, version_hash) for workflow, version_hash in rows]

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
        params |= {"to_version": to_version, "lease_token": lease_token, "updated_at": updated_at}
        with self._connection() as conn:
            return conn.execute(Q["repin_run"], params).fetchone() is not None

    def unregister_node(self, instance: str, node: str) -> None:
        with self._connection() as conn:  # one statement: its own transaction
            conn.execute(Q["unregister_node"], {"instance": instance, "node": node})


def _write_beyond(conn: psycopg.Connection[Any], write: base.Write) -> None:
    """What a written attempt write does beyond its own run: start runs, take its
    children along when it ends cancelled, tell its parent it ended."""
    if write.start_runs:
        conn.execute(Q["insert_runs"], {"runs": started_runs_json(write.start_runs)})
    run_id = write.lease.run_id
    if write.outcome == base.WriteOutcome.CANCELLED:
        gone = [child.run_id for child in _cancel_children(conn, run_id)]
        if gone:
            conn.execute(Q["notify_cancelled"], {"run_ids": gone})
    if write.outcome in base.ENDING_OUTCOMES and write.parent_run_id is not None:
        _tell_parent(conn, run_id, write.parent_run_id)


def _cancel_children(conn: psycopg.Connection[Any], run_id: str) -> list[base.RunRecord]:
    """The run ended cancelled: so do its live descendants (see cancel_children)."""
    cur = conn.cursor(row_factory=dict_row)
    return [_run(row) for row in cur.execute(Q["cancel_children"], {"run_id": run_id})]


def _tell_parent(conn: psycopg.Connection[Any], run_id: str, parent_run_id: str) -> None:
    params = {"run_id": run_id, "parent_run_id": parent_run_id}
    conn.execute(Q["tell_parent"], {**params, "name": base.child_ended_signal(run_id)})


def _one(cursor: psycopg.Cursor[Any]) -> Any:
    row = cursor.fetchone()
    return None if row is None else row[0]


def _run(row: dict[str, Any]) -> base.RunRecord:
    return run_record(row, dt.datetime.timestamp)
