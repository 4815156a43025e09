"""The embedded default: one SQLite file, shared safely by processes on one machine.

One connection per store, guarded by a lock: threads of one process take turns
in Python (a fast hand-off) instead of spinning in SQLite's busy handler, and
processes sharing the file serialise their writes through `BEGIN IMMEDIATE`
and the busy timeout. WAL mode lets readers proceed beside a writer.

SQLite is embedded, so the database's clock is this machine's clock.
"""

from __future__ import annotations

import json
import os
import sqlite3
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager

from continuum.errors import (
    ConfigurationError,
    ContinuumError,
    DatabaseUnavailable,
    LeaseLost,
    SchemaError,
    StoreError,
)
from continuum.store.base import (
    TERMINAL_STATUSES,
    Claim,
    History,
    JournalEntry,
    Lease,
    NewRun,
    RunRecord,
    SignalOutcome,
    SignalRecord,
    Store,
    VersionKey,
    VersionRecord,
    VersionRow,
    Write,
    new_lease_nonce,
)
from continuum.store.sqlfile import load_queries, plan_migrations, read_migrations, read_schema

Q = load_queries(__name__, "queries.sql")
MIGRATIONS = read_migrations(__name__)
SCHEMA = read_schema(__name__)
_SYNCHRONOUS = {"full": "FULL", "normal": "NORMAL", "extra": "EXTRA"}


def parse_url(url: str) -> tuple[str, dict[str, str]]:
    """`sqlite:///rel.db`, `sqlite:////abs.db`, `sqlite:///:memory:`, with `?key=value`."""
    if not url.startswith("sqlite:///"):
        raise ConfigurationError(
            f"bad SQLite URL {url!r}: write 'sqlite:///relative/path.db', "
            "'sqlite:////absolute/path.db' or 'sqlite:///:memory:'"
        )
    path, _, query = url[len("sqlite:///") :].partition("?")
    if not path:
        raise ConfigurationError(f"SQLite URL {url!r} names no file")
    options = dict(pair.partition("=")[::2] for pair in query.split("&") if pair)
    unknown = set(options) - {"synchronous", "busy_timeout"}
    if unknown:
        raise ConfigurationError(
            f"unknown SQLite URL option(s) {sorted(unknown)}: "
            "supported are synchronous=full|normal|extra and busy_timeout=<ms>"
        )
    return path, options


class SQLiteStore(Store):
    def __init__(self, url: str) -> None:
        super().__init__()
        self.url = url
        path, options = parse_url(url)
        synchronous = _SYNCHRONOUS.get(options.get("synchronous", "full").lower())
        if synchronous is None:
            raise ConfigurationError("SQLite option synchronous= takes full, normal or extra")
        try:
            busy_ms = int(options.get("busy_timeout", "30000"))
            if busy_ms < 0:
                raise ValueError(busy_ms)
        except ValueError:
            raise ConfigurationError(
                "SQLite option busy_timeout= takes a whole number of milliseconds >= 0, "
                f"got {options['busy_timeout']!r}"
            ) from None
        self._memory = path == ":memory:"
        if not self._memory:
            folder = os.path.dirname(os.path.abspath(path))
            if not os.path.isdir(folder):
                raise DatabaseUnavailable(
                    f"cannot open SQLite database {path!r}: folder {folder!r} does not exist; "
                    "create it or point database= elsewhere"
                )
        self._lock = threading.RLock()
        try:
            conn = sqlite3.connect(
                path, timeout=busy_ms / 1000, isolation_level=None, check_same_thread=False
            )
            conn.row_factory = sqlite3.Row
            if not self._memory:
                conn.execute("PRAGMA journal_mode=WAL")
            conn.execute(f"PRAGMA synchronous={synchronous}")
            conn.execute("PRAGMA foreign_keys=ON")
        except sqlite3.Error as exc:
            raise DatabaseUnavailable(
                f"cannot open SQLite database {path!r}: {exc}; check the path and permissions"
            ) from None
        self._conn = conn

    # -- plumbing --------------------------------------------------------------------
    @contextmanager
    def _read(self) -> Iterator[sqlite3.Connection]:
        with self._lock, _translated():
            yield self._conn

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        """A transaction that holds SQLite's write lock from its first statement."""
        with self._lock, _translated():
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

    def schema_version(self) -> int:
        with self._read() as db:
            row = db.execute("SELECT max(version) FROM continuum_schema_migrations").fetchone()
            return int(row[0] or 0)

    # -- runs ------------------------------------------------------------------------
    def create_run(
        self, new: NewRun, *, lease_to: str | None = None, lease_seconds: float = 0.0
    ) -> tuple[RunRecord, bool]:
        with self._write() as db:
            inserted = db.execute(
                Q["insert_run"],
                {
                    "run_id": new.run_id,
                    "workflow": new.workflow,
                    "version_hash": new.version_hash,
                    "version": new.version,
                    "input": new.input_json,
                    "lease_to": lease_to,
                    "lease_seconds": lease_seconds,
                    "nonce": new_lease_nonce(),
                    "now": self.now(),
                },
            ).rowcount
            row = db.execute(Q["get_run"], {"run_id": new.run_id}).fetchone()
        return _run(row), inserted == 1

    def get_run(self, run_id: str) -> RunRecord | None:
        with self._read() as db:
            row = db.execute(Q["get_run"], {"run_id": run_id}).fetchone()
        return None if row is None else _run(row)

    def list_runs(self, *, status: str | None, workflow: str | None, limit: int) -> list[RunRecord]:
        with self._read() as db:
            rows = db.execute(
                Q["list_runs"], {"status": status, "workflow": workflow, "limit": limit}
            ).fetchall()
        return [_run(row) for row in rows]

    def cancel_run(self, run_id: str) -> RunRecord | None:
        with self._write() as db:
            row = db.execute(Q["cancel_run"], {"run_id": run_id, "now": self.now()}).fetchone()
        return None if row is None else _run(row)

    def send_signal(
        self, run_id: str, name: str, payload_json: str, *, delivery_id: str | None = None
    ) -> SignalOutcome:
        params = {
            "run_id": run_id,
            "name": name,
            "payload": payload_json,
            "delivery_id": delivery_id,
            "now": self.now(),
        }
        with self._write() as db:  # the write lock orders it against a run that ends
            if delivery_id is not None and db.execute(Q["signal_delivered"], params).fetchone():
                return "duplicate"
            row = db.execute(Q["run_status"], params).fetchone()
            if row is None:
                return "missing"
            if row[0] in TERMINAL_STATUSES:
                return "ended"
            db.execute(Q["wake_for_signal"], params)
            db.execute(Q["insert_signal"], params)
        return "sent"

    # -- dispatch --------------------------------------------------------------------
    def claim_runs(
        self,
        node: str,
        *,
        limit: int,
        lease_seconds: float,
        versions: Sequence[VersionKey],
        known: bool,
    ) -> list[Claim]:
        if limit <= 0 or (known and not versions):
            return []
        now = self.now()
        with self._write() as db:
            chosen = {  # id -> fresh, oldest due first
                row[0]: bool(row[1])
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
                    "nonce": new_lease_nonce(),
                    "ids": json.dumps(list(chosen)),
                },
            ).fetchall()
        order = {run_id: index for index, run_id in enumerate(chosen)}  # oldest due first
        runs = sorted((_run(row) for row in rows), key=lambda run: order[run.run_id])
        return [Claim(run, Lease.of(run), now, fresh=chosen[run.run_id]) for run in runs]

    def next_due_in(self, versions: Sequence[VersionKey]) -> float | None:
        if not versions:
            return None
        with self._read() as db:
            (due,) = db.execute(Q["next_due"], {"versions": json.dumps(versions)}).fetchone()
        return None if due is None else float(due) - self.now()

    def renew_leases(self, leases: Sequence[Lease], lease_seconds: float) -> list[Lease]:
        if not leases:
            return []
        payload = json.dumps(
            [[lease.run_id, lease.token, lease.nonce, lease.node] for lease in leases]
        )
        with self._write() as db:
            renewed = {
                (row[0], row[1], row[2])
                for row in db.execute(
                    Q["renew_leases"],
                    {"now": self.now(), "lease_seconds": lease_seconds, "leases": payload},
                )
            }
        return [
            lease for lease in leases if (lease.run_id, lease.token, lease.nonce) not in renewed
        ]

    # -- attempt writes ----------------------------------------------------------------
    def load_history(self, run_id: str) -> History:
        with self._read() as db:
            db.execute("BEGIN")
            try:
                entries = [
                    JournalEntry(*row) for row in db.execute(Q["journal"], {"run_id": run_id})
                ]
                signals = [
                    SignalRecord(row[0], row[1], row[2], row[3])
                    for row in db.execute(Q["pending_signals"], {"run_id": run_id})
                ]
            finally:
                db.execute("COMMIT")
        return History(entries, signals)

    def apply_writes(self, writes: Sequence[Write]) -> list[ContinuumError | None]:
        """One transaction, so one sync of the file; a savepoint per write, so a refused
        write is rolled back alone."""
        now = self.now()
        outcomes: list[ContinuumError | None] = []
        with self._write() as db:
            for write in writes:
                db.execute("SAVEPOINT attempt_write")
                try:
                    self._apply(db, write, now)
                except (LeaseLost, StoreError) as refused:
                    db.execute("ROLLBACK TO attempt_write")
                    outcomes.append(refused)
                else:
                    outcomes.append(None)
                db.execute("RELEASE attempt_write")
        return outcomes

    def _apply(self, db: sqlite3.Connection, write: Write, now: float) -> None:
        lease = write.lease
        fence = {"run_id": lease.run_id, "token": lease.token, "nonce": lease.nonce, "now": now}
        if db.execute(Q["fence"], fence).fetchone() is None:
            raise LeaseLost(lease.run_id)
        for entry in write.entries:
            db.execute(
                Q["write_entry"],
                {
                    "run_id": lease.run_id,
                    "seq": entry.seq,
                    "kind": entry.kind,
                    "name": entry.name,
                    "payload": entry.payload_json,
                    "now": now,
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
        if write.outcome == "suspended":
            names = json.dumps(list(write.wake_on_signals))
            db.execute(Q["suspend"], {**fence, "wake_at": write.wake_at, "signal_names": names})
        elif write.outcome != "record":
            db.execute(
                Q["finish"],
                {
                    **fence,
                    "status": write.outcome,
                    "output": write.output_json,
                    "error": write.error_json,
                },
            )

    def release(self, lease: Lease, *, delay: float) -> None:
        with self._write() as db:
            db.execute(
                Q["release"],
                {
                    "run_id": lease.run_id,
                    "token": lease.token,
                    "nonce": lease.nonce,
                    "now": self.now(),
                    "delay": delay,
                },
            )

    # -- versions ----------------------------------------------------------------------
    def register_versions(self, instance: str, node: str, versions: Sequence[VersionRecord]) -> int:
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
                    "instance": instance,
                    "node": node,
                    "now": now,
                }
                db.execute(Q["upsert_version"], params)
                db.execute(Q["upsert_version_node"], params)
                unstuck += db.execute(Q["unstick_runs"], params).rowcount
        return unstuck

    def unregister_node(self, instance: str, node: str) -> None:
        with self._write() as db:
            db.execute(Q["unregister_node"], {"instance": instance, "node": node})

    def list_versions(self) -> list[VersionRow]:
        with self._read() as db:
            rows = db.execute(Q["list_versions"]).fetchall()
            holders: dict[tuple[str, str], list[tuple[str, str, float]]] = {}
            for wf, vh, instance, node, seen in db.execute(Q["list_version_nodes"]):
                holders.setdefault((wf, vh), []).append((instance, node, seen))
        return [
            VersionRow(
                workflow=row["workflow"],
                version_hash=row["version_hash"],
                version=row["version"],
                module=row["module"],
                qualname=row["qualname"],
                first_seen_at=row["first_seen_at"],
                last_seen_at=row["last_seen_at"],
                loaded_by=tuple(holders.get((row["workflow"], row["version_hash"]), ())),
            )
            for row in rows
        ]


def _run(row: sqlite3.Row) -> RunRecord:
    return RunRecord(
        run_id=row["id"],
        workflow=row["workflow"],
        version_hash=row["version_hash"],
        version=row["version"],
        status=row["status"],
        input_json=row["input"],
        output_json=row["output"],
        error_json=row["error"],
        created_at=row["created_at"],
        updated_at=row["updated_at"],
        available_at=row["available_at"],
        lease_owner=row["lease_owner"],
        lease_token=row["lease_token"],
        lease_expires_at=row["lease_expires_at"],
        lease_nonce=row["lease_nonce"],
    )


def _statements(script: str) -> Iterator[str]:
    """Split a migration into statements (executescript would commit mid-transaction)."""
    pending = ""
    for line in script.splitlines(keepends=True):
        pending += line
        if sqlite3.complete_statement(pending):
            yield pending
            pending = ""
    if pending.strip() and not all(
        ln.strip().startswith("--") or not ln.strip() for ln in pending.splitlines()
    ):
        raise SchemaError("a migration ends with an incomplete SQL statement")


@contextmanager
def _translated() -> Iterator[None]:
    """Driver errors become ContinuumErrors at the store boundary."""
    try:
        yield
    except sqlite3.OperationalError as exc:
        text = str(exc)
        if "locked" in text or "busy" in text:
            raise StoreError(
                f"the SQLite database stayed locked past the busy timeout ({text}); "
                "another process holds a long write, or raise busy_timeout in the URL"
            ) from exc
        if "unable to open" in text or "readonly" in text or "disk" in text:
            raise DatabaseUnavailable(f"SQLite database unavailable: {text}") from exc
        raise StoreError(f"SQLite error: {text}") from exc
    except sqlite3.DatabaseError as exc:
        raise StoreError(f"SQLite error: {exc}") from exc
