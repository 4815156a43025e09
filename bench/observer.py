"""What the observer's reads cost on PostgreSQL at a million runs.

    python -m bench.observer [--runs 1000000] [--repeat 7] [--no-plans]

A throwaway server (default settings, fsync on, as in `bench.run`) is loaded in SQL
with `--runs` runs over 30 days: five workflows (one retired 24 days ago, whose runs
are all old), one to four versions each, mostly completed with some failed,
cancelled, waiting, due and running (a few with lapsed leases); a tenth of the runs
with a journal of four entries, a twentieth with a signal. Each read is then timed
through the store, as the observer calls it (median of `--repeat`, ms); the run
lists also server-side (EXPLAIN ANALYZE's execution time) and, unless `--no-plans`,
with the plan PostgreSQL keeps for the prepared statement (a generic plan).
Target: a page of runs and one run's page (run, journal, signals) under 100 ms.
Figures, never assertions.
"""

from __future__ import annotations

import argparse
import hashlib
import re
import statistics
import time
from collections.abc import Callable
from typing import Any

import psycopg
from psycopg import sql
from tests.pgcluster import PostgresCluster

from continuum.store import open_store
from continuum.store.base import RunCursor, RunFilter, Store
from continuum.store.postgres.observe import Q, run_list

_RUNS = """
INSERT INTO continuum_runs (id, workflow, version_hash, version, status, input, output, error,
    available_at, lease_owner, lease_token, lease_expires_at, created_at, updated_at,
    lease_nonce)
SELECT md5(i::text)::uuid::text, w.workflow, substr(md5(w.workflow || v.v), 1, 16), v.v,
    s.status, json_build_object('n', i),
    CASE WHEN s.status = 'completed' THEN '{"ok": true}'::json END,
    CASE WHEN s.status = 'failed' THEN '{"type": "Boom"}'::json END,
    CASE WHEN s.status = 'pending' THEN t.created_at
         WHEN s.status = 'suspended' AND r3 < 0.5 THEN now() + r3 * interval '2 days' END,
    CASE WHEN s.status = 'running' THEN 'node-1' END,
    CASE WHEN s.status = 'running' THEN 1 ELSE 0 END,
    CASE WHEN s.status = 'running' THEN now() + CASE
        WHEN r3 < 0.1 THEN interval '-5 minutes' ELSE interval '30 seconds' END END,
    t.created_at,
    CASE WHEN s.status IN ('completed', 'failed', 'cancelled', 'suspended')
         THEN least(t.created_at + r3 * interval '10 minutes', now()) ELSE now() END,
    CASE WHEN s.status = 'running' THEN 7 ELSE 0 END
FROM generate_series(1, %(n)s) AS i,
LATERAL (SELECT i::float8 / %(n)s AS f, random() AS r1, random() AS r2, random() AS r3) AS x,
LATERAL (SELECT date_trunc('milliseconds', now() - interval '30 days' * (1 - f)) AS created_at,
                30 * (1 - f) AS age_days) AS t,
LATERAL (SELECT CASE
    WHEN f < 0.2 AND r1 >= 0.85 THEN 'legacy.Import'
    WHEN r1 < 0.50 THEN 'shop.Order' WHEN r1 < 0.65 THEN 'shop.Refund'
    WHEN r1 < 0.92 THEN 'mail.Digest' ELSE 'ops.Audit' END AS workflow) AS w,
LATERAL (SELECT CASE w.workflow
    WHEN 'shop.Order' THEN 1 + floor(f * 4)::int WHEN 'shop.Refund' THEN 1 + floor(f * 2)::int
    WHEN 'ops.Audit' THEN 1 + floor(f * 3)::int ELSE 1 END AS v) AS v,
LATERAL (SELECT CASE WHEN t.age_days > 2 THEN CASE
        WHEN r2 < 0.93 THEN 'completed' WHEN r2 < 0.97 THEN 'failed'
        WHEN r2 < 0.98 THEN 'cancelled' ELSE 'suspended' END
    ELSE CASE WHEN r2 < 0.85 THEN 'completed' WHEN r2 < 0.88 THEN 'failed'
        WHEN r2 < 0.89 THEN 'cancelled' WHEN r2 < 0.985 THEN 'suspended'
        WHEN r2 < 0.995 THEN 'pending' ELSE 'running' END END AS status) AS s
"""
_JOURNALS = """
INSERT INTO continuum_journal (run_id, seq, kind, name, payload, recorded_at)
SELECT r.id, j, 'activity', 'shop.charge', json_build_object('result', j), r.created_at
FROM continuum_runs AS r, generate_series(0, 3) AS j
WHERE r.status <> 'pending' AND ('x' || substr(r.id, 1, 2))::bit(8)::int %% 10 = 0
"""
_SIGNALS = """
INSERT INTO continuum_signals (run_id, name, payload, sent_at, consumed_seq, delivery_id)
SELECT r.id, 'approval', '{"by": "ana"}', r.created_at,
       CASE WHEN r.status IN ('completed', 'failed', 'cancelled') THEN 4 END,
       CASE WHEN ('x' || substr(r.id, 3, 2))::bit(8)::int %% 2 = 0 THEN r.id END
FROM continuum_runs AS r
WHERE r.status <> 'pending' AND ('x' || substr(r.id, 1, 2))::bit(8)::int %% 20 = 1
"""
# One run looked at closely: a journal of 50 entries and 5 signals.
_SAMPLE = """
WITH run AS (
    INSERT INTO continuum_runs (id, workflow, version_hash, version, status, input,
        created_at, updated_at)
    VALUES ('sample', 'shop.Order', substr(md5('shop.Order' || 4), 1, 16), 4, 'suspended',
        '{}', now() - interval '1 hour', now())
    RETURNING id
), journal AS (
    INSERT INTO continuum_journal (run_id, seq, kind, name, payload, recorded_at)
    SELECT run.id, j, 'activity', 'shop.charge', json_build_object('result', j), now()
    FROM run, generate_series(0, 49) AS j
)
INSERT INTO continuum_signals (run_id, name, payload, sent_at, consumed_seq)
SELECT run.id, 'approval', '{}', now(), CASE WHEN k < 3 THEN 10 + k END
FROM run, generate_series(0, 4) AS k
"""


def load(url: str, runs: int) -> dict[str, float]:
    """Fill the database; returns how long each part took (s)."""
    took = {}
    with psycopg.connect(url, autocommit=True) as conn:
        for name, statement in (
            ("runs", _RUNS),
            ("journals", _JOURNALS),
            ("signals", _SIGNALS),
            ("sample", _SAMPLE),
        ):
            started = time.perf_counter()
            conn.execute(statement, {"n": runs})
            took[name] = time.perf_counter() - started
        started = time.perf_counter()
        conn.execute("VACUUM ANALYZE")
        took["vacuum analyze"] = time.perf_counter() - started
    return took


def median_ms(call: Callable[[], object], repeat: int) -> float:
    call()  # warm: the first call prepares nothing and may read from disk
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        call()
        times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times)


def _prepared(conn: psycopg.Connection[Any], statement: str, params: dict[str, Any]) -> sql.SQL:
    """PREPARE the statement as the store sends it; the EXECUTE that runs it with `params`."""
    names = list(dict.fromkeys(re.findall(r"%\((\w+)\)s", statement)))
    for number, name in enumerate(names, 1):
        statement = statement.replace(f"%({name})s", f"${number}")
    conn.execute("DEALLOCATE ALL")
    conn.execute(f"PREPARE observed AS {statement}".encode())
    if not names:
        return sql.SQL("EXECUTE observed")
    values = sql.SQL(", ").join(sql.Literal(params[name]) for name in names)
    return sql.SQL("EXECUTE observed ({})").format(values)


def server_ms(url: str, statement: str, params: dict[str, Any], repeat: int, jit: bool) -> float:
    """Median execution time on the server (EXPLAIN ANALYZE, TIMING OFF), as prepared."""
    with psycopg.connect(url, autocommit=True, prepare_threshold=None) as conn:
        conn.execute(f"SET jit = {'on' if jit else 'off'}")
        execute = _prepared(conn, statement, params)
        explain = sql.SQL("EXPLAIN (ANALYZE, TIMING OFF, COSTS OFF) {}").format(execute)
        times = []
        for _ in range(repeat + 1):
            last = conn.execute(explain).fetchall()[-1][0]
            times.append(float(re.search(r"Execution Time: ([\d.]+)", last)[1]))  # type: ignore[index]
    return statistics.median(times[1:])


def generic_plan(url: str, statement: str, params: dict[str, Any]) -> str:
    """The plan PostgreSQL keeps for the prepared statement, run once (ANALYZE)."""
    with psycopg.connect(url, autocommit=True, prepare_threshold=None) as conn:
        conn.execute("SET jit = off")
        conn.execute("SET plan_cache_mode = force_generic_plan")
        execute = _prepared(conn, statement, params)
        explain = sql.SQL("EXPLAIN (ANALYZE, COSTS OFF, SUMMARY OFF) {}").format(execute)
        return "\n".join("      " + row[0] for row in conn.execute(explain))


def run_lists(
    store: Store, url: str, deep: RunCursor, now: float, args: argparse.Namespace
) -> list[tuple[str, float, float]]:
    old = ("shop.Order", _hash("shop.Order", 1))
    lists = {
        "no filter": RunFilter(),
        "status failed": RunFilter(statuses=("failed",)),
        "statuses live (pending, running, suspended)": RunFilter(
            statuses=("pending", "running", "suspended")
        ),
        "status stuck_unknown_version (none)": RunFilter(statuses=("stuck_unknown_version",)),
        "workflow shop.Order": RunFilter(workflow="shop.Order"),
        "workflow legacy.Import (retired: all old)": RunFilter(workflow="legacy.Import"),
        "version shop.Order v1 (old)": RunFilter(workflow=old[0], version_hash=old[1]),
        "version hash alone, shop.Order v1": RunFilter(version_hash=old[1]),
        "workflow shop.Order, status failed": RunFilter(
            workflow="shop.Order", statuses=("failed",)
        ),
        "created in one day, 20 days ago": RunFilter(
            created_after=now - 20 * 86400, created_before=now - 19 * 86400
        ),
        "run id": RunFilter(run_id="sample"),
    }
    figures = []
    for label, where in lists.items():
        if where.created_before is not None:  # a deep page of a window starts inside it
            deep = RunCursor(where.created_before - 43200, "")
        for page, after in (("first page", None), ("deep page", deep)):
            if where.run_id is not None and after is not None:
                continue
            statement, params = run_list(where, after, 50)
            call = median_ms(
                lambda w=where, a=after: store.query_runs(w, limit=50, after=a), args.repeat
            )
            server = server_ms(url, statement, params, args.repeat, jit=False)
            figures.append((f"query_runs, {label}, {page}", call, server))
            if not args.no_plans and (after is not None or where.run_id is not None):
                print(f"  {label}, {page}, generic plan")
                print(generic_plan(url, statement, params))
    return figures


def _hash(workflow: str, version: int) -> str:
    """The version hash the loader gives a workflow's version."""
    return hashlib.md5(f"{workflow}{version}".encode()).hexdigest()[:16]


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--runs", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--no-plans", action="store_true")
    args = parser.parse_args()

    cluster = PostgresCluster(durable=True).start()
    try:
        url = cluster.create_database()
        store = open_store(url)
        store.migrate()
        took = load(url, args.runs)
        print(
            f"loaded {args.runs:,} runs in "
            + ", ".join(f"{name} {seconds:.1f} s" for name, seconds in took.items())
            + "\n"
        )
        now = store.now()
        with psycopg.connect(url) as conn:
            at, run_id = conn.execute(  # a cursor half way down the list
                "SELECT extract(epoch FROM created_at)::float8, id FROM continuum_runs "
                "ORDER BY created_at DESC, id DESC OFFSET %s LIMIT 1",
                (args.runs // 2,),
            ).fetchone()  # type: ignore[misc]
        print("Plans of the run lists (deep pages), as prepared statements keep them:")
        figures = run_lists(store, url, RunCursor(at, run_id), now, args)
        repeat = args.repeat

        def one_run() -> None:
            store.get_run("sample")
            store.load_journal("sample")
            store.list_signals("sample")

        others = [
            ("get_run + load_journal + list_signals (50 entries, 5 signals)", one_run),
            (
                "run_activity, 24 h in 48 buckets",
                lambda: store.run_activity(since=now - 86400, bucket_seconds=1800),
            ),
            (
                "run_activity, 7 days in 168 buckets",
                lambda: store.run_activity(since=now - 7 * 86400, bucket_seconds=3600),
            ),
            ("version_usage", store.version_usage),
            (
                "store_health",
                lambda: store.store_health(grace=60, overdue_after=300, alive_within=60),
            ),
            ("due_backlog", store.due_backlog),
            (
                "count_prunable, ended over 7 days ago",
                lambda: store.count_prunable(
                    finished_before=now - 7 * 86400, statuses=("completed", "failed", "cancelled")
                ),
            ),
        ]
        rows = [(label, f"{call:8.2f}", f"{server:8.2f}") for label, call, server in figures]
        rows += [(label, f"{median_ms(call, repeat):8.2f}", "") for label, call in others]
        activity = {"since": now - 86400, "width": 1800}
        for jit in (False, True):
            server = server_ms(url, Q["run_activity"], activity, repeat, jit=jit)
            label = f"run_activity 24 h, server, JIT {'on' if jit else 'off'}"
            rows.append((label, "", f"{server:8.2f}"))
        store.close()
    finally:
        cluster.remove()
    width = max(len(row[0]) for row in rows)
    print(f"\n{args.runs:,} runs; median of {repeat}, ms")
    print(f"  {'':<{width}}  {'call':>8}  {'server':>8}")
    for label, call_ms, server_text in rows:
        print(f"  {label:<{width}}  {call_ms:>8}  {server_text:>8}")


if __name__ == "__main__":
    main()
