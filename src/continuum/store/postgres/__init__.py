"""PostgreSQL: many nodes on many machines, through psycopg 3 and a connection pool.

Claims take due runs with `FOR UPDATE SKIP LOCKED`, so nodes never wait on
each other's rows. Every attempt write first locks the run's row and checks its
lease token there (the fence): a concurrent claim, cancel or signal is ordered
before or after it, never interleaved. `now()` is the clock for leases and due
times.

Starting, signalling or suspending a run sends `NOTIFY continuum_wakeup` in the
same transaction, and ending one `NOTIFY continuum_settled`; each instance
listens on one connection of its own, so dispatchers look for work and callers
of `result()` wake as soon as one arrives. A lost notification only costs a
poll interval.
"""

from __future__ import annotations

import datetime as dt
import functools
import json
import logging
import math
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
from continuum.errors import (
    ConfigurationError,
    ContinuumError,
    DatabaseUnavailable,
    LeaseLost,
    StoreError,
)
from continuum.store.base import (
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
_IDLE_BEFORE_CHECK = 1.0  # seconds
CHANNELS = {"wakeup": "continuum_wakeup", "settled": "continuum_settled"}

logger = logging.getLogger("continuum.store.postgres")


class PostgresStore(Store):
    notifies = True
    # Two batches at once, on two connections: the next batch goes out while the
    # one before it waits for its commit to reach the disk (measured: a quarter
    # more activities per second than one at a time; three did worse).
    write_batches_in_flight = 2

    def __init__(
        self,
        database: str | psycopg_pool.ConnectionPool,
        *,
        max_connections: int = 10,
        connect_timeout: float = 10.0,
    ) -> None:
        super().__init__()
        connect_timeout = validation.duration(
            connect_timeout, name="PostgresStore(connect_timeout=)"
        )
        # Connections set up for JSON-as-text, with when each was last used.
        self._configured: weakref.WeakKeyDictionary[psycopg.Connection[Any], float] = (
            weakref.WeakKeyDictionary()
        )
        self._listeners: list[threading.Event] = []
        if isinstance(database, psycopg_pool.ConnectionPool):
            self._pool = database
            self._owns_pool = False
            conninfo = database.conninfo
            self._conninfo = conninfo() if callable(conninfo) else conninfo
            self.url = _redacted(self._conninfo)
            return
        self.url = _redacted(database)
        self._conninfo = database
        self._owns_pool = True
        given = _conninfo_params(database).get("connect_timeout")
        if given:  # the URL's own connect_timeout also bounds the wait for the first connection
            # libpq reads it as a whole number of seconds (an int), and 0 as "wait forever".
            text = str(given).strip()
            if not (text.isascii() and text.isdigit() and 0 < int(text) <= 2**31 - 1):
                raise ConfigurationError(
                    f"connect_timeout in the PostgreSQL URL {self.url} must be a whole number "
                    f"of seconds from 1 to {2**31 - 1}, got {given!r}"
                )
            connect_timeout = int(text)
        self._pool = psycopg_pool.ConnectionPool(
            database,
            min_size=1,
            max_size=max_connections,
            # libpq takes whole seconds and reads 0 as "forever": round up, never to 0.
            kwargs={"autocommit": True, "connect_timeout": math.ceil(connect_timeout)},
            check=self._check_if_idle,
            timeout=connect_timeout,
            open=False,
            name="continuum",
        )
        try:
            self._pool.open(wait=True, timeout=connect_timeout)
        except psycopg_pool.PoolTimeout:
            self._pool.close()
            raise DatabaseUnavailable(
                f"cannot connect to PostgreSQL at {self.url} within {connect_timeout:g}s; "
                "check that the server is up and the URL, user and password are right"
            ) from None

    # -- plumbing --------------------------------------------------------------------
    @contextmanager
    def _connection(self) -> Iterator[psycopg.Connection[Any]]:
        with _translated(), self._pool.connection() as conn:
            if conn not in self._configured:
                # JSON stays text: the engine decodes it, so both backends return
                # exactly the JSON that was written.
                conn.adapters.register_loader("json", TextLoader)
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

    def schema_version(self) -> int:
        with self._connection() as conn:
            return int(_one(conn.execute(Q["schema_version"])))

    # -- runs ------------------------------------------------------------------------
    def create_run(
        self, new: NewRun, *, lease_to: str | None = None, lease_seconds: float = 0.0
    ) -> tuple[RunRecord, bool]:
        params = {
            "run_id": new.run_id,
            "workflow": new.workflow,
            "version_hash": new.version_hash,
            "version": new.version,
            "input": new.input_json,
            "lease_to": lease_to,
            "lease_seconds": lease_seconds,
            "nonce": new_lease_nonce(),
        }
        with self._connection() as conn:
            cur = conn.cursor(row_factory=dict_row)
            row = cur.execute(Q["insert_run"], params).fetchone()
            if row is not None:
                return _run(row), True
            existing = cur.execute(Q["get_run"], {"run_id": new.run_id}).fetchone()
        assert existing is not None
        return _run(existing), False

    def get_run(self, run_id: str) -> RunRecord | None:
        with self._connection() as conn:
            cur = conn.cursor(row_factory=dict_row)
            row = cur.execute(Q["get_run"], {"run_id": run_id}).fetchone()
        return None if row is None else _run(row)

    def list_runs(self, *, status: str | None, workflow: str | None, limit: int) -> list[RunRecord]:
        with self._connection() as conn:
            cur = conn.cursor(row_factory=dict_row)
            rows = cur.execute(
                Q["list_runs"], {"status": status, "workflow": workflow, "limit": limit}
            ).fetchall()
        return [_run(row) for row in rows]

    def cancel_run(self, run_id: str) -> RunRecord | None:
        with self._tx() as conn:
            cur = conn.cursor(row_factory=dict_row)
            row = cur.execute(Q["cancel_run"], {"run_id": run_id}).fetchone()
            if row is not None:
                conn.execute(Q["notify_cancelled"], {"run_id": run_id})
        return None if row is None else _run(row)

    def send_signal(
        self, run_id: str, name: str, payload_json: str, *, delivery_id: str | None = None
    ) -> SignalOutcome:
        params = {
            "run_id": run_id,
            "name": name,
            "payload": payload_json,
            "delivery_id": delivery_id,
        }
        with self._connection() as conn:  # one statement: its own transaction
            outcome: SignalOutcome = _one(conn.execute(Q["send_signal"], params))
        return outcome

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
        with self._connection() as conn:  # one statement: its own transaction
            cur = conn.cursor(row_factory=dict_row)
            rows = cur.execute(
                Q["claim"],
                {
                    "node": node,
                    "limit": limit,
                    "lease_seconds": lease_seconds,
                    "nonce": new_lease_nonce(),
                    "known": known,
                    **_version_arrays(versions),
                },
            ).fetchall()
        rows.sort(key=lambda row: row["claimed_due"])
        claims = []
        for row in rows:
            run = _run(row)
            claims.append(Claim(run, Lease.of(run), row["db_now"], fresh=row["fresh"]))
        return claims

    def next_due_in(self, versions: Sequence[VersionKey]) -> float | None:
        if not versions:
            return None
        with self._connection() as conn:
            value = _one(conn.execute(Q["next_due"], _version_arrays(versions)))
        return None if value is None else float(value)

    def renew_leases(self, leases: Sequence[Lease], lease_seconds: float) -> list[Lease]:
        if not leases:
            return []
        with self._connection() as conn:  # one statement: its own transaction
            renewed = {
                (row[0], row[1], row[2])
                for row in conn.execute(
                    Q["renew_leases"],
                    {
                        "lease_seconds": lease_seconds,
                        "ids": [lease.run_id for lease in leases],
                        "tokens": [lease.token for lease in leases],
                        "nonces": [lease.nonce for lease in leases],
                        "nodes": [lease.node for lease in leases],
                    },
                )
            }
        return [
            lease for lease in leases if (lease.run_id, lease.token, lease.nonce) not in renewed
        ]

    def listen(self, handlers: Mapping[str, Callable[[str], None]]) -> Callable[[], None]:
        by_channel = {CHANNELS[topic]: handler for topic, handler in handlers.items()}
        stop = threading.Event()
        self._listeners.append(stop)
        thread = threading.Thread(
            target=self._listen_loop,
            args=(by_channel, stop),
            name="continuum listener",
            daemon=True,
        )
        thread.start()
        return stop.set

    def _listen_loop(
        self, handlers: Mapping[str, Callable[[str], None]], stop: threading.Event
    ) -> None:
        backoff = 0.1
        while not stop.is_set():
            try:
                with psycopg.connect(self._conninfo, autocommit=True, connect_timeout=5) as conn:
                    for channel in handlers:
                        conn.execute(f"LISTEN {channel}")  # fixed names, never user input
                    backoff = 0.1
                    for handler in handlers.values():
                        _deliver(handler, "")  # whatever was sent while nobody listened
                    while not stop.is_set():
                        for note in conn.notifies(timeout=0.5):
                            _deliver(handlers[note.channel], note.payload)
            except psycopg.Error as exc:
                if stop.is_set():
                    return
                logger.warning("wakeup listener lost its connection (%s); reconnecting", exc)
                stop.wait(backoff)
                backoff = min(backoff * 2, 5.0)

    # -- attempt writes ----------------------------------------------------------------
    def load_history(self, run_id: str) -> History:
        entries, signals = [], []
        with self._connection() as conn:
            rows = conn.execute(Q["history"], {"run_id": run_id}).fetchall()  # in one go: cheaper
            for ident, kind, name, payload, sent_at in rows:
                if kind is not None:  # journal rows have a kind, signals do not
                    entries.append(JournalEntry(ident, kind, name, payload))
                else:
                    signals.append(SignalRecord(ident, name, payload, sent_at))
        entries.sort()
        signals.sort(key=lambda signal: signal.signal_id)
        return History(entries, signals)

    def apply_writes(self, writes: Sequence[Write]) -> list[ContinuumError | None]:
        # In run id order, the order write_batch locks rows in.
        order = sorted(range(len(writes)), key=lambda i: writes[i].lease.run_id)
        signal_ids = [
            e.consumes_signal for w in writes for e in w.entries if e.consumes_signal is not None
        ]
        entries = _entries_json(writes, order)
        if len(writes) == 1:
            [write] = writes
            query = Q["write_one"]
            params: dict[str, Any] = {
                "run_id": write.lease.run_id,
                "token": write.lease.token,
                "nonce": write.lease.nonce,
                "outcome": write.outcome,
                "output": write.output_json,
                "error": write.error_json,
                "wake_at": write.wake_at,
                "wake_on": list(write.wake_on_signals),
            }
        else:
            query = Q["write_batch"]
            params = {
                "writes": _writes_json(writes, order),
                "run_ids": [writes[i].lease.run_id for i in order],
            }
        with self._connection() as conn:
            rows = conn.execute(
                query, {**params, "entries": entries, "signal_ids": signal_ids}
            ).fetchall()
        outcomes: list[ContinuumError | None] = [None] * len(writes)
        for i, written, taken_before, *_ in rows:
            if written:
                continue
            run_id = writes[i].lease.run_id
            outcomes[i] = (
                StoreError(f"run {run_id}: a signal was already consumed; nothing written")
                if taken_before
                else LeaseLost(run_id)
            )
        return outcomes

    def release(self, lease: Lease, *, delay: float) -> None:
        with self._tx() as conn:
            conn.execute(
                Q["release"],
                {
                    "run_id": lease.run_id,
                    "token": lease.token,
                    "nonce": lease.nonce,
                    "delay": delay,
                },
            )
            if delay <= 0:
                conn.execute(Q["notify"])

    # -- versions ----------------------------------------------------------------------
    def register_versions(self, instance: str, node: str, versions: Sequence[VersionRecord]) -> int:
        if not versions:
            return 0
        arrays = {
            "workflows": [v.workflow for v in versions],
            "hashes": [v.version_hash for v in versions],
            "versions": [v.version for v in versions],
            "modules": [v.module for v in versions],
            "qualnames": [v.qualname for v in versions],
            "instance": instance,
            "node": node,
        }
        with self._tx() as conn:
            conn.execute(Q["upsert_versions"], arrays)
            conn.execute(Q["upsert_version_nodes"], arrays)
            unstuck = conn.execute(Q["unstick_runs"], arrays).rowcount
            if unstuck:
                conn.execute(Q["notify"])
        return unstuck

    def unregister_node(self, instance: str, node: str) -> None:
        with self._tx() as conn:
            conn.execute(Q["unregister_node"], {"instance": instance, "node": node})

    def list_versions(self) -> list[VersionRow]:
        with self._connection() as conn:
            rows = conn.execute(Q["list_versions"]).fetchall()
            holders: dict[tuple[str, str], list[tuple[str, str, float]]] = {}
            for wf, vh, instance, node, seen in conn.execute(Q["list_version_nodes"]):
                holders.setdefault((wf, vh), []).append((instance, node, seen))
        return [
            VersionRow(
                wf, vh, version, module, qualname, first, last, tuple(holders.get((wf, vh), ()))
            )
            for wf, vh, version, module, qualname, first, last in rows
        ]


def _deliver(handler: Callable[[str], None], payload: str) -> None:
    """A handler that fails is logged; the listener goes on for the others."""
    try:
        handler(payload)
    except Exception:
        logger.exception("notification handler failed on payload %r", payload[:200])


def _writes_json(writes: Sequence[Write], order: Sequence[int]) -> str:
    """The writes as one JSON array; outputs and errors are JSON already and go in as they are."""
    return (
        "["
        + ",".join(
            f'{{"i":{i},"run_id":{_quoted(w.lease.run_id)},"token":{w.lease.token},'
            f'"nonce":{w.lease.nonce},'
            f'"outcome":"{w.outcome}","output":{w.output_json or "null"},'
            f'"error":{w.error_json or "null"},"wake_at":{_or_null(w.wake_at)},'
            f'"wake_on":{json.dumps(list(w.wake_on_signals)) if w.wake_on_signals else "[]"}}}'
            for i in order
            for w in (writes[i],)
        )
        + "]"
    )


@functools.lru_cache(maxsize=4096)
def _quoted(text: str) -> str:
    """A JSON string; run ids, journal kinds and names repeat, so each is encoded once."""
    return json.dumps(text)


def _or_null(number: float | None) -> str:
    return "null" if number is None else repr(number)


def _entries_json(writes: Sequence[Write], order: Sequence[int]) -> str:
    """Every write's journal rows as one JSON array, the last row per seq of each write;
    payloads are JSON already and go in as they are."""
    return (
        "["
        + ",".join(
            f'{{"i":{i},"seq":{e.seq},"kind":{_quoted(e.kind)},"name":{_quoted(e.name)},'
            f'"payload":{e.payload_json or "null"},"signal":{_or_null(e.consumes_signal)}}}'
            for i in order
            for e in {entry.seq: entry for entry in writes[i].entries}.values()
        )
        + "]"
    )


def _version_arrays(versions: Sequence[VersionKey]) -> dict[str, list[str]]:
    return {"workflows": [w for w, _ in versions], "hashes": [h for _, h in versions]}


def _one(cursor: psycopg.Cursor[Any]) -> Any:
    row = cursor.fetchone()
    return None if row is None else row[0]


def _stamp(value: dt.datetime | None) -> float | None:
    return None if value is None else value.timestamp()


def _run(row: dict[str, Any]) -> RunRecord:
    return RunRecord(
        run_id=row["id"],
        workflow=row["workflow"],
        version_hash=row["version_hash"],
        version=row["version"],
        status=row["status"],
        input_json=row["input"],
        output_json=row["output"],
        error_json=row["error"],
        created_at=row["created_at"].timestamp(),
        updated_at=row["updated_at"].timestamp(),
        available_at=_stamp(row["available_at"]),
        lease_owner=row["lease_owner"],
        lease_token=row["lease_token"],
        lease_expires_at=_stamp(row["lease_expires_at"]),
        lease_nonce=row["lease_nonce"],
    )


def _conninfo_params(conninfo: str) -> dict[str, Any]:
    try:
        return psycopg.conninfo.conninfo_to_dict(conninfo)
    except psycopg.ProgrammingError as exc:
        raise ConfigurationError(f"bad PostgreSQL URL: {exc}") from None


def _redacted(conninfo: str) -> str:
    """The URL without its password, for messages and logs."""
    params = _conninfo_params(conninfo)
    host, port, name = (
        params.get("host", "localhost"),
        params.get("port", 5432),
        params.get("dbname", ""),
    )
    return f"postgresql://{params.get('user', '')}@{host}:{port}/{name}"


@contextmanager
def _translated() -> Iterator[None]:
    """Driver errors become ContinuumErrors at the store boundary."""
    try:
        yield
    except psycopg_pool.PoolTimeout as exc:
        raise DatabaseUnavailable(
            f"no PostgreSQL connection became available ({exc}); the server may be down "
            "or every pooled connection busy"
        ) from exc
    except psycopg.OperationalError as exc:
        raise DatabaseUnavailable(f"PostgreSQL unreachable: {exc}".strip()) from exc
    except psycopg.Error as exc:
        raise StoreError(f"PostgreSQL error: {exc}".strip()) from exc
