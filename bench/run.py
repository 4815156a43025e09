"""Continuum against DBOS Transact and against the server's commit limit, in one run.

    python -m bench.run [--backends sqlite postgres] [--runs 1000] [--latency-runs 200]
                        [--scale 1000 100000 1000000] [--no-peer]

PostgreSQL runs on a throwaway server started for the purpose with default
settings (fsync on); its raw single-row commit rate is measured by pgbench in
the same run. DBOS (`pip install 'continuum-python[bench]'`) runs the same
workflow shapes in processes of its own; without it the table says so. Figures,
never assertions: compare only numbers taken in the same run.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.util
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
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import continuum
from bench import workloads
from continuum.runtime.attempt import execute
from continuum.runtime.lease_guard import LeaseGuard, lease_clock
from continuum.store import JournalEntry, NewRun, open_store
from continuum.workflow import entrypoints

ROOT = Path(__file__).resolve().parents[1]
MODULES = [workloads.ThreeActivities, workloads.OneActivity, workloads.ManyActivities]


@dataclass
class Figure:
    """One line of the table: our figure, DBOS's from the same run, and the ratio."""

    label: str
    value: float
    unit: str
    higher_is_better: bool = True
    peer: float | None = None
    note: str = ""
    comparable: bool = True  # DBOS has a matching scenario

    def cells(self, peer_state: str) -> list[str]:
        ours = f"{_num(self.value)} {self.unit}"
        if self.peer is None:
            return [self.label, ours, peer_state if self.comparable else "", "", self.note]
        ratio = self.value / self.peer if self.higher_is_better else self.peer / self.value
        return [self.label, ours, _num(self.peer), f"{ratio:.1f}x", self.note]


def _num(value: float) -> str:
    return f"{value:,.0f}" if value >= 100 else f"{value:,.2f}"


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(len(ordered) * fraction) - 1))]


def app_for(url: str, **options: Any) -> continuum.Continuum:
    options.setdefault("poll_interval", 0.05)
    return continuum.Continuum(database=url, workflow_modules=MODULES, **options)


@contextlib.contextmanager
def nodes(url: str, count: int, concurrency: int) -> Iterator[list[subprocess.Popen[str]]]:
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
        yield procs
    finally:
        for proc in procs:
            proc.send_signal(signal.SIGTERM)
        for proc in procs:
            proc.wait(60)
            if proc.stdout:
                proc.stdout.close()


# -- DBOS, in processes of its own -----------------------------------------------------------

PEER_INSTALLED = importlib.util.find_spec("dbos") is not None


def peer(scenario: str, url: str) -> dict[str, float]:
    done = subprocess.run(
        [sys.executable, "-m", "bench.dbos_peer", scenario, url],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=1800,
        check=False,
    )
    if done.returncode != 0:
        print(f"  (DBOS {scenario} failed: {done.stderr.strip()[-300:]})", file=sys.stderr)
        return {}
    return dict(json.loads(done.stdout.strip().splitlines()[-1]))


# -- scenarios -----------------------------------------------------------------------------


def throughput(
    url: str, runs: int, node_count: int, concurrency: int, *, in_process: bool
) -> Figure:
    """Start `runs` 3-activity workflows from a client in a loop; wait for every result."""
    where = "in process" if in_process else f"{node_count} node{'s' if node_count > 1 else ''}"
    label = f"throughput, 3 activities, {where}, {concurrency} in flight"
    stats = _server_counters(url)
    if in_process:
        with app_for(url, concurrency=concurrency, name="bench") as app:
            started = time.perf_counter()
            ids = [app.start(workloads.ThreeActivities) for _ in range(runs)]
            for run_id in ids:
                app.result(run_id, timeout=600)
            took = time.perf_counter() - started
    else:
        with nodes(url, node_count, concurrency), app_for(url, dispatch=False, name="client") as c:
            started = time.perf_counter()
            ids = [c.start(workloads.ThreeActivities) for _ in range(runs)]
            for run_id in ids:
                c.result(run_id, timeout=600)
            took = time.perf_counter() - started
    note = ""
    after = _server_counters(url)
    if stats and after:
        # pg_stat_database counts read-only transactions too; WAL flushes are the disk.
        commits = (after["commits"] - stats["commits"]) / runs
        flushes = (after["wal_syncs"] - stats["wal_syncs"]) / runs
        note = (
            f"{runs * 3 / took:,.0f} activities/s; per run {commits:.1f} transactions, "
            f"{flushes:.1f} WAL flushes"
        )
    else:
        note = f"{runs * 3 / took:,.0f} activities/s"
    return Figure(label, runs / took, "workflows/s", note=note)


def activity_rate(url: str, in_flight: int = 16, steps: int = 1000) -> Figure:
    """`in_flight` long runs at once: the activity path alone, without per-run costs."""
    stats = _server_counters(url)
    with app_for(url, concurrency=in_flight, name="bench-activities") as app:
        app.result(app.start(workloads.OneActivity), timeout=30)  # warm up
        started = time.perf_counter()
        ids = [app.start(workloads.ManyActivities, steps) for _ in range(in_flight)]
        for run_id in ids:
            app.result(run_id, timeout=600)
        took = time.perf_counter() - started
    activities = in_flight * steps
    note = f"{in_flight} runs of {steps:,} activities at once"
    after = _server_counters(url)
    if stats and after:
        commits = (after["commits"] - stats["commits"]) / activities
        note += f"; {commits:.2f} transactions per activity"
    return Figure(
        f"activities/s, {in_flight} long runs in flight",
        activities / took,
        "activities/s",
        comparable=False,
        note=note,
    )


def _server_counters(url: str) -> dict[str, float]:
    """Commits and WAL flushes so far (PostgreSQL only; includes the benchmark's own reads)."""
    if not url.startswith("postgresql"):
        return {}
    import psycopg

    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("SELECT pg_stat_clear_snapshot()")
        commits = conn.execute(
            "SELECT xact_commit FROM pg_stat_database WHERE datname = current_database()"
        ).fetchone()
        wal = conn.execute("SELECT wal_sync FROM pg_stat_wal").fetchone()
    time.sleep(0.6)  # the statistics collector publishes every 500 ms
    return {"commits": float(commits[0]), "wal_syncs": float(wal[0])}  # type: ignore[index]


def latency(url: str, samples: int, *, remote: bool) -> list[Figure]:
    where = "worker in another process" if remote else "same process"
    ctx = nodes(url, 1, 4) if remote else contextlib.nullcontext()
    with ctx, app_for(url, dispatch=not remote, concurrency=4, name="bench-latency") as app:
        app.result(app.start(workloads.OneActivity), timeout=30)  # warm up
        times = []
        for _ in range(samples):
            started = time.perf_counter()
            app.result(app.start(workloads.OneActivity), timeout=30)
            times.append((time.perf_counter() - started) * 1000)
    label = f"start-to-result, 1 activity, {where}"
    return [
        Figure(f"{label}, p50", statistics.median(times), "ms", higher_is_better=False),
        Figure(f"{label}, p99", percentile(times, 0.99), "ms", higher_is_better=False),
    ]


def first_execution(url: str, steps: int = 1000) -> Figure:
    with app_for(url, concurrency=1, name="bench-first") as app:
        app.result(app.start(workloads.OneActivity), timeout=30)
        started = time.perf_counter()
        app.result(app.start(workloads.ManyActivities, steps), timeout=600)
        took = time.perf_counter() - started
    return Figure(
        f"first execution, {steps:,}-activity workflow",
        took / steps * 1e6,
        "us/activity",
        higher_is_better=False,
    )


def resume(url: str, events: int) -> Figure:
    """A run whose journal holds `events` recorded activities, from claim to completed:
    one read of the journal, then every activity returned from it."""
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
        guard = LeaseGuard(lease_clock(), 600)
        outcome = execute(store, claim, ep, metadata={}, stopping=threading.Event(), guard=guard)
        took = time.perf_counter() - started
        assert outcome.status == "completed", outcome
    return Figure(
        f"resume, journal of {events:,} events",
        took / events * 1e6,
        "us/event",
        higher_is_better=False,
        note=f"{took * 1000:,.1f} ms claim to completed",
    )


def _plant_suspended(url: str, count: int, workflow: str, version_hash: str) -> None:
    """`count` runs suspended for a day or waiting for a signal, as plain rows."""
    import psycopg

    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(
            "INSERT INTO continuum_runs (id, workflow, version_hash, version, status, input, "
            "available_at, created_at, updated_at) "
            "SELECT 'waiting-' || i, %s, %s, 1, 'suspended', 'null', "
            "CASE WHEN i %% 2 = 0 THEN NULL ELSE now() + interval '1 day' END, now(), now() "
            "FROM generate_series(1, %s) AS i",
            (workflow, version_hash, count),
        )
        conn.execute("VACUUM ANALYZE continuum_runs")


def claim_latency(url: str, suspended: int, samples: int = 200) -> Figure:
    store = open_store(url)
    store.migrate()
    _plant_suspended(url, suspended, "bench.Waiting", "h")
    key = ("bench.Due", "h")
    times = []
    for i in range(samples):
        store.create_run(NewRun(f"due-{i}", key[0], key[1], 1, "null"))
        started = time.perf_counter()
        [claim] = store.claim_runs("bench", limit=1, lease_seconds=60, versions=[key], known=True)
        times.append((time.perf_counter() - started) * 1000)
        store.finish(claim.lease, [], status="completed", output_json="null", error_json=None)
    store.close()
    return Figure(
        f"claim latency, {suspended:,} suspended runs",
        statistics.median(times),
        "ms",
        higher_is_better=False,
        comparable=False,
        note=f"p99 {percentile(times, 0.99):.2f} ms",
    )


def node_rss(url: str, suspended: int) -> Figure:
    """A node's memory while `suspended` runs of a workflow it has loaded wait."""
    store = open_store(url)
    store.migrate()
    store.close()
    ep = workloads.ThreeActivities.__continuum_entrypoint__()
    _plant_suspended(url, suspended, ep.workflow, ep.version_hash)
    with nodes(url, 1, 8) as [proc]:
        time.sleep(3)  # a few claim loops, heartbeats and version refreshes
        status = Path(f"/proc/{proc.pid}/status").read_text()
    rss = int(re.search(r"VmRSS:\s+(\d+)", status).group(1)) / 1024  # type: ignore[union-attr]
    return Figure(
        f"node RSS, {suspended:,} suspended runs",
        rss,
        "MiB",
        higher_is_better=False,
        comparable=False,
    )


def commit_limit(cluster: Any, clients: int, seconds: int = 5) -> Figure:
    """Raw single-row INSERT commits per second on the same server, by pgbench."""
    import psycopg

    with psycopg.connect(cluster.url(), autocommit=True) as conn:
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
            str(cluster.port),
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
    return Figure(
        f"limit: raw single-row commits, {clients} client(s) (pgbench)",
        tps,
        "commits/s",
        comparable=False,
    )


def lookup() -> Figure:
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
    return Figure(
        "hot path: (workflow, version_hash) -> entrypoint",
        took / count * 1e9,
        "ns",
        higher_is_better=False,
        comparable=False,
    )


# -- driver ------------------------------------------------------------------------------------


def measure_backend(
    backend: str, args: argparse.Namespace, fresh: Callable[[], str], cluster: Any = None
) -> list[Figure]:
    compare = PEER_INSTALLED and not args.no_peer
    peer_figures = (
        {name: peer(name, fresh()) for name in ("throughput", "latency", "steps")}
        if compare
        else {}
    )
    tp = peer_figures.get("throughput", {}).get("workflows_per_second")
    lat = peer_figures.get("latency", {})
    steps = peer_figures.get("steps", {})
    figures: list[Figure] = []
    if backend == "sqlite":
        for concurrency in (1, 4, 16, 64):
            figures.append(throughput(fresh(), args.runs, 1, concurrency, in_process=True))
    else:
        # In process is DBOS's own shape (start_workflow executes in the caller's process).
        figures.append(throughput(fresh(), args.runs, 1, 16, in_process=True))
        for concurrency in (1, 4, 16, 64):
            figures.append(throughput(fresh(), args.runs, 1, concurrency, in_process=False))
        for concurrency in (4, 16):
            figures.append(throughput(fresh(), args.runs, 2, concurrency, in_process=False))
    for fig in figures:
        fig.peer = tp
    same, remote = latency(fresh(), args.latency_runs, remote=False), []
    if backend == "postgres":
        remote = latency(fresh(), args.latency_runs, remote=True)
    same[0].peer, same[1].peer = lat.get("p50_ms"), lat.get("p99_ms")
    figures += same + remote
    long_runs = activity_rate(fresh())
    figures.append(long_runs)
    first = first_execution(fresh())
    first.peer = steps.get("first_us_per_step")
    figures.append(first)
    resumes = {events: resume(fresh(), events) for events in (100, 1_000, 10_000)}
    figures += resumes.values()
    resumes[1_000].peer = steps.get("replay_us_per_step")  # DBOS replays 1,000 recorded steps
    small, large = resumes[100], resumes[10_000]
    slope = (large.value * 10_000 - small.value * 100) / 9_900
    figures.append(
        Figure(
            "resume, cost of each further event (100 -> 10,000)",
            slope,
            "us/event",
            higher_is_better=False,
            comparable=False,
            note="the slope: fixed claim-and-finish cost taken out",
        )
    )
    if backend == "postgres":
        figures += [claim_latency(fresh(), n) for n in args.scale]
        figures += [node_rss(fresh(), n) for n in (1_000, 100_000)]
        for clients in (1, 4, 16):
            figures.append(commit_limit(cluster, clients))
        at16 = next(f for f in figures if f.label.endswith("in process, 16 in flight"))
        half = figures[-1].value / 2
        for label, activities in (
            ("3-activity runs", at16.value * 3),
            ("long runs", long_runs.value),
        ):
            figures.append(
                Figure(
                    f"activities/s at 16 in flight ({label}) / half the 16-client commit limit",
                    activities / half,
                    "x",
                    comparable=False,
                    note=f"{activities:,.0f} activities/s against {half:,.0f}",
                )
            )
    return figures


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
    parser.add_argument("--no-peer", action="store_true", help="skip DBOS even if installed")
    args = parser.parse_args()

    peer_state = "not run" if args.no_peer else ("-" if PEER_INSTALLED else "not installed")
    print(
        f"Continuum {continuum.__version__}, Python {platform.python_version()}, "
        f"{platform.system()} {platform.machine()}, {os.cpu_count()} cores; DBOS: "
        f"{_dbos_version() if PEER_INSTALLED else 'not installed (pip install dbos)'}\n"
    )
    counter = iter(range(10_000))
    for backend in args.backends:
        if backend == "sqlite":
            title = "SQLite (embedded, synchronous=full)"
            with tempfile.TemporaryDirectory(prefix="continuum-bench-") as folder:
                figures = measure_backend(
                    backend, args, lambda: f"sqlite:///{Path(folder) / f'b{next(counter)}.db'}"
                )
        else:
            from tests.pgcluster import PostgresCluster

            title = "PostgreSQL (throwaway server, default settings, fsync on)"
            cluster = PostgresCluster(durable=True).start()
            try:
                figures = measure_backend(backend, args, cluster.create_database, cluster)
            finally:
                cluster.remove()
        print_table(title, figures, peer_state)
    print_table("Hot path", [lookup()], peer_state)


def _dbos_version() -> str:
    from importlib.metadata import version

    return version("dbos")


def print_table(title: str, figures: list[Figure], peer_state: str) -> None:
    rows = [["", "Continuum", "DBOS", "ratio", ""]] + [f.cells(peer_state) for f in figures]
    widths = [max(len(r[i]) for r in rows) for i in range(5)]
    print(title)
    for row in rows:
        cells = [
            row[0].ljust(widths[0]),
            row[1].rjust(widths[1]),
            row[2].rjust(widths[2]),
            row[3].rjust(widths[3]),
            row[4],
        ]
        print("  " + "  ".join(cells).rstrip(), flush=True)
    print(flush=True)


if __name__ == "__main__":
    main()
