"""Benchmarks of the engine on SQLite and on PostgreSQL.

    python -m bench.run [--backends sqlite postgres] [--runs 1000] [--latency-runs 200]
                        [--scale 1000 100000 1000000]

PostgreSQL runs on a throwaway server started for the purpose (default
durability: fsync on), whose raw single-row commit rate is measured with
pgbench in the same run. Figures, never assertions: compare only numbers taken
in the same run on the same machine.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import re
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import timeit
from collections.abc import Iterator
from pathlib import Path

import continuum
from bench import workloads
from continuum.registry import entrypoints
from continuum.runtime.attempt import execute
from continuum.store import JournalEntry, NewRun, open_store

ROOT = Path(__file__).resolve().parents[1]
Row = tuple[str, str, str]
MODULES = [workloads.ThreeActivities, workloads.OneActivity, workloads.ManyActivities]


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(len(ordered) * fraction) - 1))]


def app_for(url: str, **options: object) -> continuum.Continuum:
    options.setdefault("poll_interval", 0.05)
    return continuum.Continuum(database=url, workflow_modules=MODULES, **options)  # type: ignore[arg-type]


@contextlib.contextmanager
def nodes(url: str, count: int, concurrency: int) -> Iterator[None]:
    """Worker nodes as separate processes, as they are deployed."""
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "bench.node", url, f"node{i}", str(concurrency)],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            text=True,
        )
        for i in range(count)
    ]
    try:
        for proc in procs:
            assert proc.stdout is not None and proc.stdout.readline().strip() == "ready"
        yield
    finally:
        for proc in procs:
            proc.send_signal(signal.SIGTERM)
        for proc in procs:
            proc.wait(60)
            if proc.stdout:
                proc.stdout.close()


# -- scenarios ---------------------------------------------------------------------------


def throughput_in_process(url: str, runs: int, concurrency: int) -> Row:
    with app_for(url, dispatch=False, name="bench-client") as client:
        ids = [client.start(workloads.ThreeActivities) for _ in range(runs)]
        started = time.perf_counter()
        with app_for(url, concurrency=concurrency, name="bench-worker"):
            for run_id in ids:
                client.result(run_id, timeout=600)
        took = time.perf_counter() - started
    return _throughput_row(
        f"{runs} x 3 activities, 1 node (in process), {concurrency} in flight", runs, took
    )


def throughput_nodes(url: str, runs: int, node_count: int, concurrency: int) -> Row:
    with nodes(url, node_count, concurrency), app_for(url, dispatch=False, name="client") as client:
        started = time.perf_counter()
        ids = [client.start(workloads.ThreeActivities) for _ in range(runs)]
        for run_id in ids:
            client.result(run_id, timeout=600)
        took = time.perf_counter() - started
    plural = "s" if node_count > 1 else ""
    label = f"{runs} x 3 activities, {node_count} node{plural}, {concurrency} in flight each"
    return _throughput_row(label, runs, took)


def _throughput_row(label: str, runs: int, took: float) -> Row:
    rate = runs / took
    return (f"throughput: {label}", f"{rate:,.0f} workflows/s", f"{rate * 3:,.0f} activities/s")


def latency(url: str, samples: int, *, remote: bool) -> Row:
    where = "worker in another process" if remote else "same process"
    ctx = nodes(url, 1, 4) if remote else contextlib.nullcontext()
    with ctx, app_for(url, dispatch=not remote, concurrency=4, name="bench-latency") as app:
        app.result(app.start(workloads.OneActivity), timeout=30)  # warm up
        times = []
        for _ in range(samples):
            started = time.perf_counter()
            app.result(app.start(workloads.OneActivity), timeout=30)
            times.append((time.perf_counter() - started) * 1000)
    return (
        f"start-to-result: 1 activity, {samples} in a row, {where}",
        f"p50 {statistics.median(times):.2f} ms",
        f"p99 {percentile(times, 0.99):.2f} ms",
    )


def resume(url: str, events: int) -> Row:
    """A run whose journal holds `events` recorded activities, resumed once: one
    read of the journal, then every activity returned from it."""
    ep = workloads.ManyActivities.__continuum_entrypoint__()
    name = workloads.noop.__continuum_activity__.name
    with app_for(url, dispatch=False, name="bench-resume") as app:
        store = app.store
        app.start(workloads.ManyActivities, events)
        key = (ep.workflow, ep.version_hash)
        [claim] = store.claim_runs(
            "planter", limit=1, lease_seconds=600, versions=[key], known=True
        )
        rows = [JournalEntry(i, "activity", name, json.dumps({"result": i})) for i in range(events)]
        store.record(claim.lease, rows)
        store.release(claim.lease, delay=0)
        [claim] = store.claim_runs("bench", limit=1, lease_seconds=600, versions=[key], known=True)
        started = time.perf_counter()
        outcome = execute(
            store, claim, ep, metadata={}, stopping=threading.Event(), lost=threading.Event()
        )
        took = time.perf_counter() - started
        assert outcome.status == "completed", outcome
    return (
        f"resume: journal of {events:,} events, claim to completed",
        f"{took * 1000:,.1f} ms",
        f"{took / events * 1e6:.2f} us per event",
    )


def claim_latency(url: str, suspended: int, samples: int = 200) -> Row:
    """Claim one due run while `suspended` others wait (half for signals, half on timers)."""
    store = open_store(url)
    store.migrate()
    import psycopg

    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(
            "INSERT INTO continuum_runs (id, workflow, version_hash, version, status, input, "
            "available_at, created_at, updated_at) "
            "SELECT 'waiting-' || i, 'bench.Waiting', 'h', 1, 'suspended', 'null', "
            "CASE WHEN i %% 2 = 0 THEN NULL ELSE now() + interval '1 day' END, now(), now() "
            "FROM generate_series(1, %s) AS i",
            (suspended,),
        )
        conn.execute("VACUUM ANALYZE continuum_runs")
    key = ("bench.Due", "h")
    times = []
    for i in range(samples):
        store.create_run(NewRun(f"due-{i}", key[0], key[1], 1, "null"))
        started = time.perf_counter()
        [claim] = store.claim_runs("bench", limit=1, lease_seconds=60, versions=[key], known=True)
        times.append((time.perf_counter() - started) * 1000)
        store.finish(claim.lease, [], status="completed", output_json="null", error_json=None)
    store.close()
    return (
        f"claim latency: {suspended:,} suspended runs in the table",
        f"p50 {statistics.median(times):.2f} ms",
        f"p99 {percentile(times, 0.99):.2f} ms",
    )


def commit_limit(cluster: object, clients: int, seconds: int = 5) -> tuple[Row, float]:
    """Raw single-row INSERT commits per second, measured by pgbench."""
    url = cluster.url()  # type: ignore[attr-defined]
    import psycopg

    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("CREATE TABLE IF NOT EXISTS bench_commits (id bigserial PRIMARY KEY, v int)")
    with tempfile.NamedTemporaryFile("w", suffix=".sql", delete=False) as script:
        script.write("INSERT INTO bench_commits (v) VALUES (1);\n")
    done = subprocess.run(
        [
            str(cluster.bin / "pgbench"),
            "-n",
            "-h",
            "127.0.0.1",
            "-p",
            str(cluster.port),  # type: ignore[attr-defined]
            "-U",
            "postgres",
            "-c",
            str(clients),
            "-j",
            str(min(clients, 2)),
            "-T",
            str(seconds),
            "-f",
            script.name,
            "postgres",
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    os.unlink(script.name)
    tps = float(re.search(r"tps = ([\d.]+)", done.stdout).group(1))  # type: ignore[union-attr]
    return (
        f"limit: raw single-row commits (pgbench), {clients} client{'s' if clients > 1 else ''}",
        f"{tps:,.0f} commits/s",
        "the same server, the same run",
    ), tps


def lookup() -> Row:
    ep = workloads.ThreeActivities.__continuum_entrypoint__()
    count = 2_000_000
    timer = timeit.Timer(
        "resolve(workflow, version_hash)",
        globals={
            "resolve": entrypoints.resolve,
            "workflow": ep.workflow,
            "version_hash": ep.version_hash,
        },
    )
    took = min(timer.repeat(repeat=3, number=count))
    return (
        "registry: (workflow, version_hash) -> entrypoint",
        f"{took / count * 1e9:.0f} ns",
        "per lookup, lock-free",
    )


# -- driver ------------------------------------------------------------------------------


def sqlite_rows(args: argparse.Namespace) -> list[Row]:
    folder = Path(tempfile.mkdtemp(prefix="continuum-bench-"))
    counter = iter(range(1_000))

    def fresh() -> str:
        return f"sqlite:///{folder / f'bench{next(counter)}.db'}"

    rows = [throughput_in_process(fresh(), args.runs, c) for c in (1, 8)]
    rows.append(latency(fresh(), args.latency_runs, remote=False))
    rows += [resume(fresh(), n) for n in (1_000, 10_000)]
    return rows


def postgres_rows(args: argparse.Namespace) -> list[Row]:
    from tests.pgcluster import PostgresCluster

    cluster = PostgresCluster(durable=True).start()
    try:
        rows: list[Row] = []
        for concurrency in (1, 4, 16):
            rows.append(throughput_nodes(cluster.create_database("b"), args.runs, 1, concurrency))
        rows.append(throughput_nodes(cluster.create_database("b"), args.runs, 2, 16))
        rows.append(latency(cluster.create_database("b"), args.latency_runs, remote=False))
        rows.append(latency(cluster.create_database("b"), args.latency_runs, remote=True))
        rows += [resume(cluster.create_database("b"), n) for n in (1_000, 10_000)]
        rows += [claim_latency(cluster.create_database("b"), n) for n in args.scale]
        for clients in (1, 4, 16):
            rows.append(commit_limit(cluster, clients)[0])
        return rows
    finally:
        cluster.remove()


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--backends", nargs="+", default=["sqlite", "postgres"], choices=["sqlite", "postgres"]
    )
    parser.add_argument("--runs", type=int, default=1000)
    parser.add_argument("--latency-runs", type=int, default=200)
    parser.add_argument("--scale", type=int, nargs="+", default=[1_000, 100_000, 1_000_000])
    args = parser.parse_args()

    print(
        f"Continuum {continuum.__version__}, Python {platform.python_version()}, "
        f"{platform.system()} {platform.machine()}, {os.cpu_count()} cores\n"
    )
    sections = {
        "sqlite": ("SQLite (embedded, synchronous=full)", sqlite_rows),
        "postgres": ("PostgreSQL (throwaway server, default settings, fsync on)", postgres_rows),
    }
    for backend in args.backends:
        title, measure = sections[backend]
        print(title, flush=True)
        print_table(measure(args))
        print(flush=True)
    print("Hot path")
    print_table([lookup()])


def print_table(rows: list[Row]) -> None:
    widths = [max(len(r[i]) for r in rows) for i in range(3)]
    for row in rows:
        print(
            "  "
            + "  ".join(
                cell.ljust(width) for cell, width in zip(row, widths, strict=True)
            ).rstrip(),
            flush=True,
        )


if __name__ == "__main__":
    main()
