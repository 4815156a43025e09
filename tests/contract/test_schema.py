"""Migrations applied in order give exactly the schema a fresh install gets."""

from __future__ import annotations

import re
import sqlite3
from pathlib import Path
from typing import Any

import psycopg
import pytest

from continuum.store import open_store
from continuum.store.postgres import MIGRATIONS as PG_MIGRATIONS
from continuum.store.postgres import Q as PG_QUERIES
from continuum.store.sqlfile import load_queries
from continuum.store.sqlite import MIGRATIONS as SQLITE_MIGRATIONS
from continuum.store.sqlite import Q as SQLITE_QUERIES
from continuum.store.sqlite import _statements
from tests.conftest import BACKENDS
from tests.pgcluster import PostgresCluster

needs_postgres = pytest.mark.skipif("postgres" not in BACKENDS, reason="PostgreSQL tests disabled")


def _squash(sql: str | None) -> str:
    """The statement without comments and without white space that means nothing
    (SQLite keeps `ALTER TABLE ... ADD COLUMN` text spaced its own way)."""
    text = re.sub(r"\s+", " ", re.sub(r"--[^\n]*", "", sql or ""))
    return re.sub(r"\s*([(),])\s*", r"\1", text).strip()


def describe_sqlite(path: Path) -> dict[str, Any]:
    conn = sqlite3.connect(path)
    try:
        objects = conn.execute(
            "SELECT type, name, tbl_name, sql FROM sqlite_master "
            "WHERE name LIKE 'continuum%' AND name != 'continuum_schema_migrations' ORDER BY name"
        ).fetchall()
        described: dict[str, Any] = {}
        for kind, name, table, sql in objects:
            described[name] = (kind, table, _squash(sql))
            if kind == "table":
                described[f"{name}.columns"] = conn.execute(f"PRAGMA table_info({name})").fetchall()
        return described
    finally:
        conn.close()


def describe_postgres(url: str) -> dict[str, Any]:
    with psycopg.connect(url) as conn:
        columns = conn.execute(
            "SELECT table_name, column_name, data_type, is_nullable, column_default "
            "FROM information_schema.columns WHERE table_name LIKE 'continuum%' "
            "AND table_name != 'continuum_schema_migrations' ORDER BY table_name, column_name"
        ).fetchall()
        indexes = conn.execute(
            "SELECT indexname, indexdef FROM pg_indexes WHERE tablename LIKE 'continuum%' "
            "AND tablename != 'continuum_schema_migrations' ORDER BY indexname"
        ).fetchall()
        constraints = conn.execute(
            "SELECT conrelid::regclass::text AS tbl, conname, pg_get_constraintdef(oid) "
            "FROM pg_constraint WHERE conrelid::regclass::text LIKE 'continuum%' "
            "AND conrelid::regclass::text != 'continuum_schema_migrations' ORDER BY 1, 2"
        ).fetchall()
    return {"columns": columns, "indexes": indexes, "constraints": constraints}


def test_sqlite_migrations_reach_the_fresh_schema(tmp_path: Path) -> None:
    fresh, migrated = tmp_path / "fresh.db", tmp_path / "migrated.db"
    store = open_store(f"sqlite:///{fresh}")
    store.migrate()
    assert store.schema_version() == SQLITE_MIGRATIONS[-1].version
    store.close()
    conn = sqlite3.connect(migrated)
    for migration in SQLITE_MIGRATIONS:
        for statement in _statements(migration.sql):
            conn.execute(statement)
    conn.commit()
    conn.close()
    assert describe_sqlite(migrated) == describe_sqlite(fresh)
    assert describe_sqlite(fresh)  # not two empty descriptions


@needs_postgres
def test_postgres_migrations_reach_the_fresh_schema(pg_cluster: PostgresCluster) -> None:
    fresh, migrated = pg_cluster.create_database(), pg_cluster.create_database()
    store = open_store(fresh)
    store.migrate()
    assert store.schema_version() == PG_MIGRATIONS[-1].version
    store.close()
    with psycopg.connect(migrated, autocommit=True) as conn:
        for migration in PG_MIGRATIONS:
            conn.execute(migration.sql.encode())
    assert describe_postgres(migrated) == describe_postgres(fresh)
    assert describe_postgres(fresh)["indexes"]


def test_an_older_database_is_brought_up_to_date(backend_url: str) -> None:
    """A database migrated by hand to version 1 is recognised and left consistent."""
    store = open_store(backend_url)
    store.migrate()
    before = store.schema_version()
    store.migrate()  # nothing pending: nothing changes
    assert store.schema_version() == before
    store.close()


@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
def test_statements_go_out_without_their_comments(backend: str) -> None:
    queries = load_queries(f"continuum.store.{backend}", "queries.sql")
    for name, text in queries.items():
        assert not any(line.lstrip().startswith("--") for line in text.splitlines()), name
        assert not text.endswith(";"), name
        # psycopg caches its parsing of statements up to 4 KiB; ours must stay under
        assert len(text) < 4096, name


def test_every_sqlite_query_compiles_on_its_own(tmp_path: Path) -> None:
    """Each named query is one whole statement: SQLite compiles it (EXPLAIN runs nothing)."""
    store = open_store(f"sqlite:///{tmp_path / 'q.db'}")
    store.migrate()
    store.close()
    conn = sqlite3.connect(tmp_path / "q.db")
    try:
        for name, sql in SQLITE_QUERIES.items():
            params = dict.fromkeys(re.findall(r":(\w+)", sql))
            assert sqlite3.complete_statement(sql + ";"), name
            conn.execute(f"EXPLAIN {sql}", params)
    finally:
        conn.close()


@needs_postgres
def test_every_postgres_query_parses_on_its_own(pg_cluster: PostgresCluster) -> None:
    """Each named query is one whole statement the server parses and analyses alone:
    prepared (not run) when it can be, else run in a transaction that is rolled back."""
    url = pg_cluster.create_database()
    store = open_store(url)
    store.migrate()
    store.close()
    with psycopg.connect(url) as conn:
        for name, query in PG_QUERIES.items():
            params = list(dict.fromkeys(re.findall(r"%\((\w+)\)s", query)))
            sql = query
            for number, param in enumerate(params, 1):
                sql = sql.replace(f"%({param})s", f"${number}")
            if re.match(r"(WITH|SELECT|INSERT|UPDATE|DELETE)\b", sql):
                conn.execute(f"PREPARE {name} AS {sql}".encode())
            else:
                assert not params, name
                conn.execute(sql.encode())
        conn.rollback()


def test_a_database_at_version_3_keeps_its_runs_and_signals_through_migration_4(
    backend_url: str,
) -> None:
    """Migration 4 adds the trace context and the nodes table and rebuilds indexes
    (the signals' delivery index among them) under data written before it."""
    postgres = backend_url.startswith("postgres")
    migrations = PG_MIGRATIONS if postgres else SQLITE_MIGRATIONS
    assert [m.version for m in migrations][:4] == [1, 2, 3, 4]
    statements: list[str] = []
    for migration in migrations[:3]:
        statements += [migration.sql] if postgres else list(_statements(migration.sql))
    now = "now()" if postgres else "1700000000.0"
    statements += [
        "INSERT INTO continuum_runs (id, workflow, version_hash, version, status, input, "
        f"created_at, updated_at) VALUES ('r', 'wf', 'h', 1, 'suspended', '1', {now}, {now})",
        "INSERT INTO continuum_signals (run_id, name, payload, sent_at, consumed_seq, "
        f"delivery_id) VALUES ('r', 'go', '1', {now}, 0, 'd1'), ('r', 'go', '2', {now}, NULL, "
        f"NULL), ('r', 'go', '3', {now}, NULL, NULL)",
        "CREATE TABLE continuum_schema_migrations (version integer PRIMARY KEY, "
        "name text NOT NULL, applied_at real NOT NULL DEFAULT 0)",
        "INSERT INTO continuum_schema_migrations (version, name) VALUES (1, 'a'), (2, 'b'), "
        "(3, 'c')",
    ]
    if postgres:
        with psycopg.connect(backend_url, autocommit=True) as conn:
            for statement in statements:
                conn.execute(statement.encode())
    else:
        conn = sqlite3.connect(backend_url[len("sqlite:///") :])
        for statement in statements:
            conn.execute(statement)
        conn.commit()
        conn.close()
    store = open_store(backend_url)
    try:
        assert store.schema_version() == 3
        store.migrate()
        assert store.schema_version() == migrations[-1].version
        run = store.get_run("r")
        assert run is not None and run.trace_context is None
        signals = store.list_signals("r")
        assert [(s.payload_json, s.consumed_seq, s.delivery_id) for s in signals] == [
            ("1", 0, "d1"),
            ("2", None, None),
            ("3", None, None),
        ]
        assert store.send_signal("r", "go", "4", delivery_id="d1") == "duplicate"
        assert store.send_signal("r", "go", "4", delivery_id="d2") == "sent"
        assert store.list_nodes() == []
    finally:
        store.close()
