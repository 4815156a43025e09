"""Child workflows and search-attribute queries, on SQLite and PostgreSQL.

    python -m bench.composition [--children 1000] [--rounds 3] [--runs 1000000]
                                [--repeat 15] [--write-runs 1000] [--no-plans]
                                [--only children|attributes] [--quick]

Children: a parent starts `--children` children (`start_child` in a loop, each
child one activity), then awaits each in order. Timed from `start()` to `result()`,
with when every child run existed (the parent's first suspend, which inserts them),
when the last child completed and how long the parent took to collect after that,
how many times the parent was resumed (telemetry: `run.resumed`), and how long its
attempts ran in all. The same number of top-level runs of the child workflow,
started by `start()` in a loop and awaited, is the baseline. On SQLite (a temp file)
and on a throwaway PostgreSQL server (default settings, fsync on, as in `bench.run`):
one node in this process at 8 and 16 in flight, and on PostgreSQL also one and two
worker processes of 8 with a client in this process. Median of `--rounds` on one
database per setup; on PostgreSQL with the WAL written per run, and one round more
(not timed) in which a thread samples what the server's backends wait on.

Attribute queries: `--runs` runs loaded in SQL into PostgreSQL over 30 days, mostly
completed (attributes: `customer` of 100,000 values, `region` of 5, `priority` 1 to 5;
a tenth of the runs with none, a tenth with a region alone; `source: import` on 2 %
of the runs, all of them 27 to 30 days old). Then `query()` through a read-only
instance, first page of 50, median and max of `--repeat` (ms), beside the
statement's execution time on the server as planned for its values; the selective
filter again after the others, and how many executions of each prepared statement
ran on a generic plan; the plans of the selective and the broad filter (EXPLAIN
ANALYZE, BUFFERS). Then alternatives to the broad filter's plan, prototyped here in
SQL and timed alike, also as the generic plan a prepared statement may switch to;
and the WAL each index they need adds to a run. Target: a filtered page in under
50 ms at a million runs. Figures, never assertions; `--quick` is a smoke test (100
children, 100,000 runs).
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import json
import re
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import continuum
from continuum.runs import decode_cursor, run_filter
from continuum.store.base import STATUSES
from continuum.store.postgres.observe import run_list
from continuum.store.run_query import compose

ROOT = Path(__file__).resolve().parents[1]


@continuum.activity
def touch(i: int) -> int:
    return i


class Leaf(continuum.Workflow):
    def run(self, i):
        return touch(i)


class Fanout(continuum.Workflow):
    def run(self, count):
        handles = [continuum.start_child(Leaf, i) for i in range(count)]
        return sum(continuum.await_child(handle) for handle in handles)


FLOWS = [Leaf, Fanout]
WATCHED = [("continuum", "run", name) for name in ("start", "resumed", "suspended", "stop")]


class Recorder:
    """Attempt events of this process, with the wall clock (comparable across processes
    on one machine): (time, event, run_id, workflow, duration)."""

    def __init__(self) -> None:
        self.events: list[tuple[float, str, str, str, float]] = []
        continuum.telemetry.attach_many(f"bench-composition-{id(self)}", WATCHED, self._on)

    def _on(self, event: Any, measures: Mapping[str, Any], meta: Mapping[str, Any]) -> None:
        duration = float(measures.get("duration", 0.0))
        self.events.append((time.time(), event[-1], meta["run_id"], meta["workflow"], duration))

    def close(self) -> None:
        continuum.telemetry.detach(f"bench-composition-{id(self)}")


def app_for(url: str, **options: Any) -> continuum.Continuum:
    options.setdefault("poll_interval", 0.05)
    return continuum.Continuum(database=url, workflow_modules=FLOWS, **options)


# -- worker processes --------------------------------------------------------------------------


def serve(url: str, node: str, concurrency: int) -> None:
    """A worker process: dispatch until SIGTERM or the end of its input; for each line
    read, print the events recorded since the last (one JSON list a line)."""
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    recorder = Recorder()
    with app_for(url, name="bench", node=node, concurrency=concurrency):
        print("ready", flush=True)
        while not stop.is_set():
            line = sys.stdin.readline()
            if not line:
                break
            events, recorder.events = recorder.events, []
            print(json.dumps(events), flush=True)
    recorder.close()


class Nodes:
    """Worker processes, each told to hand over its events between rounds."""

    def __init__(self, url: str, count: int, concurrency: int) -> None:
        self.procs = [
            subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "bench.composition",
                    "--serve",
                    url,
                    f"n{i}",
                    str(concurrency),
                ],
                cwd=ROOT,
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                text=True,
            )
            for i in range(count)
        ]
        for proc in self.procs:
            assert proc.stdout is not None and proc.stdout.readline().strip() == "ready"

    def events(self) -> list[tuple[float, str, str, str, float]]:
        found = []
        for proc in self.procs:
            assert proc.stdin is not None and proc.stdout is not None
            proc.stdin.write("dump\n")
            proc.stdin.flush()
            found += [tuple(e) for e in json.loads(proc.stdout.readline())]
        return found  # type: ignore[return-value]

    def close(self) -> None:
        for proc in self.procs:
            proc.send_signal(signal.SIGTERM)
            assert proc.stdin is not None
            proc.stdin.close()
        for proc in self.procs:
            proc.wait(60)
            if proc.stdout:
                proc.stdout.close()


# -- children ----------------------------------------------------------------------------------


@dataclass
class Round:
    total: float  # start() to result(), s
    children_exist: float  # start() to the parent's first suspend (children inserted)
    last_child: float  # start() to the last child's completion
    collect: float  # the last child's completion to the parent's
    resumes: int  # attempts of the parent that replayed its journal
    parent_busy: float  # the parent's attempts, in all, s
    baseline: float  # as many top-level runs, the first start() to the last result(), s
    baseline_starts: float  # of which the loop of start() calls, s
    wal: float  # PostgreSQL: WAL bytes per child (the parent's share included)
    baseline_wal: float  # per top-level run
    waits: dict[str, float]  # sampled rounds: backends waiting, by wait event, per sample
    baseline_waits: dict[str, float]


@dataclass
class Setup:
    label: str
    backend: str  # "sqlite" or "postgres"
    processes: int  # 0: one node in this process; N: N worker processes and a client here
    concurrency: int


class Watch:
    """PostgreSQL only: the WAL written while a block runs and, with `sample`, what the
    backends wait on meanwhile (a thread of its own looks every 5 ms: a load of its
    own on two cores, so sampled rounds are not timed)."""

    def __init__(self, url: str, *, sample: bool = False) -> None:
        self.url = url if url.startswith("postgresql") else None
        self.sample = sample
        self.wal = 0.0
        self.samples = 0
        self.waits: Counter[str] = Counter()  # "Lock:tuple" -> backends seen waiting, summed

    @contextlib.contextmanager
    def watching(self) -> Iterator[Watch]:
        if self.url is None:
            yield self
            return
        import psycopg

        done = threading.Event()

        def sample(url: str) -> None:
            with psycopg.connect(url, autocommit=True) as conn:
                while not done.is_set():
                    self.samples += 1
                    for kind, count in conn.execute(_WAITING).fetchall():
                        self.waits[kind] += count
                    done.wait(0.005)

        with psycopg.connect(self.url, autocommit=True) as conn:
            before = conn.execute(_LSN).fetchone()[0]  # type: ignore[index]
            sampler = threading.Thread(target=sample, args=(self.url,))
            if self.sample:
                sampler.start()
            try:
                yield self
            finally:
                done.set()
                if self.sample:
                    sampler.join()
            wal = conn.execute("SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), %s)", (before,))
            self.wal = float(wal.fetchone()[0])  # type: ignore[index]

    def mean_waiting(self, kinds: str = "Lock:") -> dict[str, float]:
        """Backends seen waiting, by wait event, per sample."""
        return {
            kind: count / self.samples
            for kind, count in self.waits.most_common()
            if kind.startswith(kinds) and self.samples
        }


_LSN = "SELECT pg_current_wal_lsn()"
# Client backends only, this one aside: what they wait on other than the client.
_WAITING = """
SELECT wait_event_type || ':' || wait_event, count(*) FROM pg_stat_activity
WHERE backend_type = 'client backend' AND pid <> pg_backend_pid()
  AND state = 'active' AND wait_event IS NOT NULL
GROUP BY 1
"""


def children_round(
    client: continuum.Continuum,
    url: str,
    count: int,
    events: Callable[[], list[Any]],
    *,
    sample: bool = False,
) -> Round:
    """A parent of `count` children, then as many top-level runs; `events()` hands over
    the attempt events recorded since it was last called, in every process."""
    began = time.time()
    with Watch(url, sample=sample).watching() as watch:
        parent = client.start(Fanout, count)
        total = client.result(parent, timeout=1800)
        ended = time.time()
    assert total == count * (count - 1) // 2, total
    seen = events()
    deadline = time.time() + 10
    while not any(e[1] == "stop" and e[2] == parent for e in seen) and time.time() < deadline:
        time.sleep(0.01)  # a worker process reports an attempt's end after writing it
        seen += events()
    mine = [e for e in seen if e[2] == parent]
    kids = [e[0] for e in seen if e[1] == "stop" and e[2].startswith(parent + "/")]
    assert len(kids) == count, len(kids)
    with Watch(url, sample=sample).watching() as base:
        started = time.time()
        ids = [client.start(Leaf, i) for i in range(count)]
        starts = time.time() - started
        for run_id in ids:
            client.result(run_id, timeout=1800)
        baseline = time.time() - started
    time.sleep(0.05)
    events()  # drop the baseline's
    return Round(
        total=ended - began,
        children_exist=min(e[0] for e in mine if e[1] == "suspended") - began,
        last_child=max(kids) - began,
        collect=max(e[0] for e in mine if e[1] == "stop") - max(kids),
        resumes=sum(1 for e in mine if e[1] == "resumed"),
        parent_busy=sum(e[4] for e in mine if e[1] in ("suspended", "stop")),
        baseline=baseline,
        baseline_starts=starts,
        wal=watch.wal / count,
        baseline_wal=base.wal / count,
        waits=watch.mean_waiting(),
        baseline_waits=base.mean_waiting(),
    )


def measure_children(url: str, setup: Setup, count: int, rounds: int) -> list[Round]:
    """`rounds` timed rounds, then on PostgreSQL one more whose waits are sampled."""
    recorder = Recorder()
    nodes = None
    try:
        if setup.processes:
            nodes = Nodes(url, setup.processes, setup.concurrency)
            app = app_for(url, name="bench", node="client", dispatch=False)
        else:
            app = app_for(url, name="bench", node="node", concurrency=setup.concurrency)

        def events() -> list[Any]:
            found, recorder.events = recorder.events, []
            return found + (nodes.events() if nodes else [])

        with app:
            app.result(app.start(Fanout, 2), timeout=60)  # warm up both workflows
            events()
            found = [children_round(app, url, count, events) for _ in range(rounds)]
            if setup.backend == "postgres":
                found.append(children_round(app, url, count, events, sample=True))
            return found
    finally:
        if nodes:
            nodes.close()
        recorder.close()


def median(rounds: list[Round], name: str) -> float:
    return statistics.median(getattr(r, name) for r in rounds)


def table(title: str, header: list[str], rows: list[list[str]]) -> None:
    rows = [header, *rows]
    widths = [max(len(r[i]) for r in rows) for i in range(len(header))]
    print(f"\n{title}")
    for row in rows:
        cells = [row[0].ljust(widths[0])] + [
            c.rjust(w) for c, w in zip(row[1:], widths[1:], strict=True)
        ]
        print("  " + "  ".join(cells).rstrip(), flush=True)


def print_children(results: list[tuple[Setup, list[Round]]], count: int, rounds: int) -> None:
    rows = []
    for setup, found in results:
        timed = found[:rounds]
        total, base = median(timed, "total"), median(timed, "baseline")
        rows.append(
            [
                setup.label,
                f"{total:.2f}",
                f"{count / total:,.0f}",
                f"{median(timed, 'children_exist') * 1000:.0f}",
                f"{median(timed, 'last_child'):.2f}",
                f"{median(timed, 'collect') * 1000:.0f}",
                "/".join(str(r.resumes) for r in timed),
                f"{median(timed, 'parent_busy') * 1000:.0f}",
                f"{base:.2f}",
                f"{count / base:,.0f}",
                f"{median(timed, 'baseline_starts'):.2f}",
                f"{total / base:.2f}",
            ]
        )
    table(
        f"A parent of {count:,} children, and {count:,} top-level runs (median of {rounds})",
        [
            "",
            "total s",
            "children/s",
            "all exist ms",
            "last ends s",
            "collect ms",
            "resumes",
            "parent busy ms",
            "top-level s",
            "runs/s",
            "of it starts s",
            "parent/top",
        ],
        rows,
    )
    rows = []
    for setup, found in results:
        if setup.backend != "postgres":
            continue
        sampled = found[rounds]
        rows.append(
            [
                setup.label,
                f"{median(found[:rounds], 'wal'):,.0f}",
                f"{median(found[:rounds], 'baseline_wal'):,.0f}",
                _waits(sampled.waits),
                _waits(sampled.baseline_waits),
            ]
        )
    table(
        "PostgreSQL: WAL per run; backends waiting on locks, per 5 ms sample (a round more)",
        ["", "WAL B/child", "WAL B/top-level", "lock waits, parent", "lock waits, top-level"],
        rows,
    )


def _waits(waits: dict[str, float]) -> str:
    shown = [f"{kind.split(':', 1)[1]} {mean:.2f}" for kind, mean in waits.items() if mean >= 0.01]
    return ", ".join(shown) or "none"


def children(args: argparse.Namespace) -> list[tuple[Setup, list[Round]]]:
    """Every setup, each on a database of its own."""
    setups = [
        Setup("SQLite, in process, 8", "sqlite", 0, 8),
        Setup("SQLite, in process, 16", "sqlite", 0, 16),
        Setup("PostgreSQL, in process, 8", "postgres", 0, 8),
        Setup("PostgreSQL, in process, 16", "postgres", 0, 16),
        Setup("PostgreSQL, 1 node of 8", "postgres", 1, 8),
        Setup("PostgreSQL, 2 nodes of 8", "postgres", 2, 8),
    ]
    results = []
    with tempfile.TemporaryDirectory(prefix="continuum-bench-") as folder, postgres() as cluster:
        for number, setup in enumerate(setups):
            if setup.backend == "sqlite":
                url = f"sqlite:///{Path(folder) / f'c{number}.db'}"
            else:
                url = cluster.create_database()
            found = measure_children(url, setup, args.children, args.rounds)
            timed = [f"{r.total:.2f}" for r in found[: args.rounds]]
            print(f"  {setup.label}: {', '.join(timed)} s", flush=True)
            results.append((setup, found))
    return results


@contextlib.contextmanager
def postgres() -> Iterator[Any]:
    from tests.pgcluster import PostgresCluster

    cluster = PostgresCluster(durable=True).start()
    try:
        yield cluster
    finally:
        cluster.remove()


# -- attribute queries -------------------------------------------------------------------------

_RUNS = """
INSERT INTO continuum_runs (id, workflow, version_hash, version, status, input, output, error,
    available_at, created_at, updated_at, attributes)
SELECT md5(i::text)::uuid::text, w.workflow, substr(md5(w.workflow), 1, 16), 1, s.status,
    json_build_object('n', i),
    CASE WHEN s.status = 'completed' THEN '{"ok": true}'::json END,
    CASE WHEN s.status = 'failed' THEN '{"type": "Boom"}'::json END,
    CASE WHEN s.status = 'pending' THEN t.created_at END,
    t.created_at,
    CASE WHEN s.status IN ('completed', 'failed', 'cancelled')
         THEN least(t.created_at + r3 * interval '10 minutes', now()) ELSE now() END,
    CASE WHEN r3 < 0.1 THEN NULL
         WHEN r3 < 0.2 THEN jsonb_build_object('region', a.region)
         ELSE jsonb_build_object('customer', a.customer, 'region', a.region,
                                 'priority', 1 + i %% 5) END
    || CASE WHEN f < 0.1 AND i %% 4 = 1 THEN '{"source": "import"}' ELSE '{}' END::jsonb
FROM generate_series(1, %(n)s) AS i,
LATERAL (SELECT i::float8 / %(n)s AS f, random() AS r1, random() AS r2, random() AS r3) AS x,
LATERAL (SELECT date_trunc('milliseconds', now() - interval '30 days' * (1 - f)) AS created_at,
                30 * (1 - f) AS age_days) AS t,
LATERAL (SELECT CASE WHEN r1 < 0.50 THEN 'shop.Order' WHEN r1 < 0.65 THEN 'shop.Refund'
    WHEN r1 < 0.92 THEN 'mail.Digest' ELSE 'ops.Audit' END AS workflow) AS w,
LATERAL (SELECT CASE WHEN t.age_days > 2 THEN CASE
        WHEN r2 < 0.93 THEN 'completed' WHEN r2 < 0.97 THEN 'failed'
        WHEN r2 < 0.98 THEN 'cancelled' ELSE 'suspended' END
    ELSE CASE WHEN r2 < 0.85 THEN 'completed' WHEN r2 < 0.88 THEN 'failed'
        WHEN r2 < 0.89 THEN 'cancelled' WHEN r2 < 0.985 THEN 'suspended'
        WHEN r2 < 0.995 THEN 'pending' ELSE 'running' END END AS status) AS s,
LATERAL (SELECT 'c-' || lpad(((hashint4(i)::int8 + 2147483648) %% %(customers)s)::text, 6, '0')
                    AS customer,
                (ARRAY['eu', 'us', 'apac', 'latam', 'mea'])
                    [1 + (hashint4(-i)::int8 + 2147483648) %% 5]
                    AS region) AS a
"""
CUSTOMERS = 100_000
PAGE = 50


def load_runs(url: str, runs: int) -> list[tuple[str, float]]:
    """Fill the database; returns how long each part took (s)."""
    import psycopg

    took = []
    with psycopg.connect(url, autocommit=True) as conn:
        started = time.perf_counter()
        conn.execute(_RUNS, {"n": runs, "customers": CUSTOMERS})
        took.append(("insert", time.perf_counter() - started))
        started = time.perf_counter()
        conn.execute("VACUUM ANALYZE continuum_runs")
        took.append(("vacuum analyze", time.perf_counter() - started))
    return took


@dataclass
class Filter:
    label: str
    query: dict[str, Any]  # query()'s arguments, limit and cursor aside
    deep: bool = False  # page 20 rather than the first
    short: str = ""  # its column in the table of alternatives (none: not there)


def filters(now: dt.datetime) -> list[Filter]:
    eu = {"region": "eu"}
    customer = {"customer": "c-004242"}
    return [
        Filter("customer (selective)", {"attributes": customer}, short="customer"),
        Filter("region eu (broad)", {"attributes": eu}, short="eu"),
        Filter("region eu + priority 1 (two keys)", {"attributes": {**eu, "priority": 1}}),
        Filter("customer + status completed", {"attributes": customer, "status": "completed"}),
        Filter(
            "region eu + status failed",
            {"attributes": eu, "status": "failed"},
            short="eu+failed",
        ),
        Filter("region eu + workflow shop.Refund", {"attributes": eu, "workflow": "shop.Refund"}),
        Filter(
            "region eu + started in the last 24 h",
            {"attributes": eu, "started_after": now - dt.timedelta(days=1)},
            short="eu+24h",
        ),
        Filter("region eu, page 20 (cursor)", {"attributes": eu}, deep=True, short="eu p.20"),
        Filter(
            "source import (2 %, all 27-30 days old)",
            {"attributes": {"source": "import"}},
            short="old-only",
        ),
    ]


def page_cursor(app: continuum.Continuum, query: dict[str, Any], page: int) -> str | None:
    """The cursor of page `page` (1 is the first) of `query`, paging there."""
    cursor = None
    for _ in range(page - 1):
        cursor = app.query(**query, limit=PAGE, cursor=cursor).next_cursor
    return cursor


def statement_of(query: dict[str, Any], cursor: str | None) -> tuple[str, dict[str, Any]]:
    """The statement and parameters the store sends for `query()` (one row more than
    the page tells whether another follows)."""
    where = run_filter(
        status=query.get("status"),
        workflow=query.get("workflow"),
        version_hash=None,
        attributes=query.get("attributes"),
        started_after=query.get("started_after"),
        started_before=None,
    )
    after = None if cursor is None else decode_cursor(cursor)
    return run_list(where, after, PAGE + 1)


def timed(call: Callable[[], object], repeat: int) -> list[float]:
    call()  # warm: the first call may read from disk
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        call()
        times.append((time.perf_counter() - started) * 1000)
    return times


def server_ms(conn: Any, statement: str, params: dict[str, Any], repeat: int = 5) -> float:
    """Median execution time on the server, planned for these values (EXPLAIN ANALYZE)."""
    explain = "EXPLAIN (ANALYZE, TIMING OFF, COSTS OFF) " + statement
    times = []
    for _ in range(repeat):
        last = conn.execute(explain, params).fetchall()[-1][0]
        times.append(float(re.search(r"Execution Time: ([\d.]+)", last)[1]))  # type: ignore[index]
    return statistics.median(times)


def plan(conn: Any, statement: str, params: dict[str, Any]) -> str:
    rows = conn.execute("EXPLAIN (ANALYZE, BUFFERS) " + statement, params).fetchall()
    return "\n".join("      " + row[0] for row in rows)


def query_figures(
    app: continuum.Continuum, conn: Any, repeat: int, now: dt.datetime
) -> list[list[str]]:
    rows = []
    for f in filters(now):
        cursor = page_cursor(app, f.query, 20) if f.deep else None
        found = app.query(**f.query, limit=PAGE, cursor=cursor)
        times = timed(lambda f=f, c=cursor: app.query(**f.query, limit=PAGE, cursor=c), repeat)
        statement, params = statement_of(f.query, cursor)
        rows.append(
            [
                f.label,
                f"{statistics.median(times):.2f}",
                f"{max(times):.2f}",
                f"{server_ms(conn, statement, params):.2f}",
                str(len(found.runs)),
            ]
        )
        print(f"  {f.label}: {rows[-1][1]} ms", flush=True)
    return rows


# Alternatives to the statement the store sends for attributes, prototyped here.
# MERGED: no new index; the store's per-status merge (query_runs_by_status) with the
# attribute filter inside each status's ordered scan.
_MERGED = """
SELECT r.* FROM unnest(%(statuses)s::text[]) AS s (status), LATERAL (
    SELECT * FROM continuum_runs
    WHERE status = s.status
    AND workflow = %(workflow)s
    AND attributes @> %(attributes)s::jsonb
    AND created_at >= to_timestamp(%(created_after)s::float8)
    AND (created_at, id) < (to_timestamp(%(after_created_at)s::float8), %(after_id)s::text)
    ORDER BY created_at DESC, id DESC
    LIMIT %(limit)s
) AS r
ORDER BY r.created_at DESC, r.id DESC
LIMIT %(limit)s
"""
# KEYED: a btree per indexed key, in the order of the list: one key's value picks the
# range, the rest of the filter as before.
_KEYED = """
SELECT * FROM continuum_runs
WHERE attributes -> 'region' = %(region)s::jsonb
AND status = ANY (%(statuses)s::text[])
AND workflow = %(workflow)s
AND attributes @> %(attributes)s::jsonb
AND created_at >= to_timestamp(%(created_after)s::float8)
AND (created_at, id) < (to_timestamp(%(after_created_at)s::float8), %(after_id)s::text)
ORDER BY created_at DESC, id DESC
LIMIT %(limit)s
"""
_CREATED_INDEX = "CREATE INDEX bench_created ON continuum_runs (created_at, id)"
_KEYED_INDEX = (
    "CREATE INDEX bench_region ON continuum_runs ((attributes -> 'region'), created_at, id)"
)


@dataclass
class Alternative:
    label: str
    index: str | None  # built for it, dropped after
    statement: Callable[[dict[str, Any], str, dict[str, Any]], str | None]


def _current(query: dict[str, Any], statement: str, params: dict[str, Any]) -> str:
    return statement


def _merged(query: dict[str, Any], statement: str, params: dict[str, Any]) -> str:
    params.setdefault("statuses", sorted(STATUSES))
    return compose(_stripped(_MERGED), params, "pyformat")


def _keyed(query: dict[str, Any], statement: str, params: dict[str, Any]) -> str | None:
    region = query.get("attributes", {}).get("region")
    if region is None:
        return None  # no index on the keys it filters on
    params["region"] = json.dumps(region)
    return compose(_stripped(_KEYED), params, "pyformat")


def _stripped(statement: str) -> str:
    """Each line without its indent, as the store loads its statements (`run_query`
    keeps a filter's line, beginning with AND, only when the query has that filter)."""
    return "\n".join(line.strip() for line in statement.strip().splitlines())


ALTERNATIVES = [
    Alternative("as sent now: GIN bitmap, then top-N sort", None, _current),
    Alternative("merge per status, attributes inside (no new index)", None, _merged),
    Alternative("btree (created_at, id), statement as now", _CREATED_INDEX, _current),
    Alternative("btree ((attributes->'region'), created_at, id)", _KEYED_INDEX, _keyed),
]


def generic_ms(url: str, statement: str, params: dict[str, Any]) -> float:
    """Execution time of the plan PostgreSQL keeps for the statement once prepared (a
    generic plan, which the plan cache may pick after five executions)."""
    import psycopg
    from psycopg import sql

    names = list(dict.fromkeys(re.findall(r"%\((\w+)\)s", statement)))
    for number, name in enumerate(names, 1):
        statement = statement.replace(f"%({name})s", f"${number}")
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("SET jit = off")
        conn.execute("SET plan_cache_mode = force_generic_plan")
        conn.execute(f"PREPARE alt AS {statement}".encode())
        values = sql.SQL(", ").join(sql.Literal(params[name]) for name in names)
        explain = sql.SQL("EXPLAIN (ANALYZE, TIMING OFF, COSTS OFF) EXECUTE alt ({})")
        times = []
        for _ in range(3):
            last = conn.execute(explain.format(values)).fetchall()[-1][0]
            times.append(float(re.search(r"Execution Time: ([\d.]+)", last)[1]))  # type: ignore[index]
    return statistics.median(times)


def alternatives(
    app: continuum.Continuum, url: str, repeat: int, now: dt.datetime
) -> tuple[list[str], list[list[str]], list[tuple[str, str, float]]]:
    """Each alternative on the filters a broad value makes slow: ms as planned for the
    values (median of `repeat`, the statement alone, from a connection that never
    prepares), and as a generic plan; and the index each needs (build time, size)."""
    import psycopg

    wanted = [f for f in filters(now) if f.short]
    cursors = {f.label: page_cursor(app, f.query, 20) if f.deep else None for f in wanted}
    header = ["", *(f.short for f in wanted)]
    rows: list[list[str]] = []
    built: list[tuple[str, str, float]] = []
    with psycopg.connect(url, autocommit=True, prepare_threshold=None) as conn:
        conn.execute("SET jit = off")
        for alt in ALTERNATIVES:
            if alt.index is not None:
                started = time.perf_counter()
                conn.execute(alt.index)
                took = time.perf_counter() - started
                conn.execute("ANALYZE continuum_runs")
                name = alt.index.split()[2]
                size = conn.execute("SELECT pg_size_pretty(pg_relation_size(%s))", (name,))
                built.append((alt.label, size.fetchone()[0], took))  # type: ignore[index]
            cells, generic = [alt.label], ["  generic plan"]
            for f in wanted:
                statement, params = statement_of(f.query, cursors[f.label])
                chosen = alt.statement(f.query, statement, params)
                if chosen is None:
                    cells.append("-")
                    generic.append("-")
                    continue
                times = timed(lambda c=chosen, p=params: conn.execute(c, p).fetchall(), repeat)
                cells.append(f"{statistics.median(times):.2f}")
                generic.append(f"{generic_ms(url, chosen, params):.2f}")
            rows += [cells, generic]
            print(f"  {alt.label}: {', '.join(cells[1:])} ms", flush=True)
            if alt.index is not None:
                conn.execute(f"DROP INDEX {alt.index.split()[2]}")
    return header, rows, built


def write_cost(url: str, runs: int) -> list[tuple[str, float, float]]:
    """WAL per run of `Leaf` started with attributes, on a database of its own, with no
    index more and with the index each alternative needs (a run's claim and end are
    updates that change an indexed column, so each writes an entry in every index),
    and the runs' rate. Two passes, alternating; the median of each."""
    import psycopg

    configs = [
        ("no index more", None),
        ("btree (created_at, id)", _CREATED_INDEX),
        ("btree ((attributes->'region'), created_at, id)", _KEYED_INDEX),
    ]
    found: dict[str, list[tuple[float, float]]] = {label: [] for label, _ in configs}

    def batch(app: continuum.Continuum) -> float:
        started = time.perf_counter()
        attributes = {"customer": "c-004242", "region": "eu", "priority": 1}
        ids = [app.start(Leaf, i, attributes=attributes) for i in range(runs)]
        for run_id in ids:
            app.result(run_id, timeout=600)
        return time.perf_counter() - started

    with app_for(url, name="bench-writes", concurrency=8) as app:
        batch(app)  # warm up, and the first touch of every page since the checkpoint
        for _ in range(2):
            for label, index in configs:
                with psycopg.connect(url, autocommit=True) as conn:
                    if index is not None:
                        conn.execute(index)
                    conn.execute("CHECKPOINT")  # each pass starts from the same point
                    with Watch(url).watching() as watch:
                        took = batch(app)
                    if index is not None:
                        conn.execute(f"DROP INDEX {index.split()[2]}")
                found[label].append((watch.wal / runs, runs / took))
    return [
        (
            label,
            statistics.median(w for w, _ in found[label]),
            statistics.median(r for _, r in found[label]),
        )
        for label, _ in configs
    ]


def attribute_queries(args: argparse.Namespace) -> None:
    import psycopg

    from continuum.instance import read_only
    from continuum.store import open_store

    with postgres() as cluster:
        url = cluster.create_database()
        store = open_store(url)
        store.migrate()
        store.close()
        took = load_runs(url, args.runs)
        print(
            f"\nloaded {args.runs:,} runs: "
            + ", ".join(f"{name} {seconds:.1f} s" for name, seconds in took)
        )
        with psycopg.connect(url, autocommit=True) as conn, read_only(url, name="bench") as app:
            conn.execute("SET jit = off")  # as the store's reads (PostgresObserve._without_jit)
            print(sizes(conn))
            now = conn.execute("SELECT now()").fetchone()[0]  # type: ignore[index]
            rows = query_figures(app, conn, args.repeat, now)
            again = filters(now)[0]
            times = timed(lambda: app.query(**again.query, limit=PAGE), args.repeat)
            label = f"{again.label}, again after the others"
            rows.append([label, f"{statistics.median(times):.2f}", f"{max(times):.2f}", "", ""])
            table(
                f"query(), first page of {PAGE}, {args.runs:,} runs: ms (median and max of "
                f"{args.repeat}; server: EXECUTE time as planned for the values)",
                ["", "query()", "max", "server", "rows"],
                rows,
            )
            table(
                "The plan cache of the store's connection: executions on a generic and on "
                "custom plans, per statement (the filters it has)",
                ["", "generic", "custom"],
                plan_cache(app),
            )
            if not args.no_plans:
                for f in filters(now)[:2]:
                    statement, params = statement_of(f.query, None)
                    print(f"\n  {f.label}, EXPLAIN (ANALYZE, BUFFERS):")
                    print(plan(conn, statement, params))
            header, rows, built = alternatives(app, url, args.repeat, now)
        table(
            "Alternatives, prototyped in SQL: ms, planned for the values (median of "
            f"{args.repeat}), and as a generic plan (server)",
            header,
            rows,
        )
        print(
            "\n  indexes: "
            + "; ".join(f"{label}: {size}, built in {took:.1f} s" for label, size, took in built)
        )
        rows = [
            [label, f"{wal:,.0f}", f"{rate:,.0f}"]
            for label, wal, rate in write_cost(cluster.create_database(), args.write_runs)
        ]
        table(
            f"What an index more costs each run: {args.write_runs:,} runs of one activity "
            "with attributes, in process, 8 in flight",
            ["", "WAL B/run", "runs/s"],
            rows,
        )


def plan_cache(app: continuum.Continuum) -> list[list[str]]:
    """What `pg_prepared_statements` says of the run lists the store's connection has
    prepared (psycopg prepares a statement on its sixth execution; PostgreSQL then
    plans it for each execution's values five times, then keeps a generic plan when
    its estimate is below the average of theirs). A read-only instance of concurrency
    1 sends its reads on one pooled connection, almost always the same one."""
    with app.store._connection() as conn:  # type: ignore[attr-defined]
        found = conn.execute(_PREPARED).fetchall()
    rows = []
    for statement, generic, custom in found:
        lines = [line.split()[1] for line in statement.splitlines() if line.startswith("AND ")]
        named = " + ".join("cursor" if name.startswith("(") else name for name in lines)
        rows.append([named, str(generic), str(custom)])
    return sorted(rows)


_PREPARED = """
SELECT statement, generic_plans, custom_plans FROM pg_prepared_statements
WHERE statement LIKE '%FROM continuum_runs%'
"""


def sizes(conn: Any) -> str:
    table_size, index_size, attributed, eu = conn.execute(_SIZES).fetchone()
    return (
        f"  table {table_size}, GIN index on attributes {index_size}; "
        f"runs with attributes {attributed:,}, of them region eu {eu:,}"
    )


_SIZES = """
SELECT pg_size_pretty(pg_table_size('continuum_runs')),
       pg_size_pretty(pg_relation_size('continuum_runs_attributes')),
       count(attributes), count(*) FILTER (WHERE attributes @> '{"region": "eu"}')
FROM continuum_runs
"""


# -- driver ------------------------------------------------------------------------------------


def main() -> None:
    if sys.argv[1:2] == ["--serve"]:
        serve(sys.argv[2], sys.argv[3], int(sys.argv[4]))
        return
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--children", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--runs", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=15)
    parser.add_argument("--only", choices=("children", "attributes"))
    parser.add_argument("--no-plans", action="store_true")
    parser.add_argument("--write-runs", type=int, default=1000)
    parser.add_argument("--quick", action="store_true", help="100 children, 100,000 runs")
    args = parser.parse_args()
    if args.quick:
        args.children, args.runs, args.rounds, args.repeat = 100, 100_000, 1, 5
        args.write_runs = 200
    if args.only != "attributes":
        print_children(children(args), args.children, args.rounds)
    if args.only != "children":
        attribute_queries(args)


if __name__ == "__main__":
    main()
