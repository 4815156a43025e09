"""Benchmarks of the engine on the embedded SQLite default.

    python bench/run.py [--runs 1000] [--latency-runs 200] [--sqlite-sync full|normal]

Prints one table. Figures, never assertions: compare only numbers taken in the
same run on the same machine.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import tempfile
import threading
import time
import timeit
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import continuum
from bench import workloads
from continuum.registry import entrypoints
from continuum.runtime.attempt import execute
from continuum.store import JournalEntry

Row = tuple[str, str, str]


def app_for(url: str, **options: object) -> continuum.Continuum:
    return continuum.Continuum(
        database=url,
        workflow_modules=[
            workloads.ThreeActivities,
            workloads.OneActivity,
            workloads.ManyActivities,
        ],
        poll_interval=0.05,
        **options,  # type: ignore[arg-type]
    )


def throughput(url: str, runs: int, concurrency: int) -> Row:
    with app_for(url, dispatch=False, name="bench-client") as client:
        ids = [client.start(workloads.ThreeActivities) for _ in range(runs)]
        started = time.perf_counter()
        with app_for(url, concurrency=concurrency, name="bench-worker"):
            for run_id in ids:
                client.result(run_id, timeout=600)
        took = time.perf_counter() - started
    rate = runs / took
    return (
        f"throughput, {runs} runs x 3 activities, concurrency {concurrency}",
        f"{rate:,.0f} workflows/s",
        f"{rate * 3:,.0f} activities/s; {took:.2f} s in all",
    )


def latency(url: str, samples: int) -> Row:
    with app_for(url, concurrency=4, name="bench-latency") as app:
        app.result(app.start(workloads.OneActivity), timeout=30)  # warm up
        times = []
        for _ in range(samples):
            started = time.perf_counter()
            app.result(app.start(workloads.OneActivity), timeout=30)
            times.append((time.perf_counter() - started) * 1000)
    times.sort()
    p99 = times[min(len(times) - 1, round(len(times) * 0.99) - 1)]
    return (
        f"start-to-result, 1 activity, {samples} sequential",
        f"p50 {statistics.median(times):.2f} ms",
        f"p99 {p99:.2f} ms",
    )


def resume(url: str, events: int) -> Row:
    """A run whose journal holds `events` recorded activities, resumed once.

    The journal is planted in one transaction; the figure is the replay of an
    attempt: one read of the journal, then every activity returned from it.
    """
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
        f"resume, journal of {events:,} events (claim to completed)",
        f"{took * 1000:,.1f} ms",
        f"{took / events * 1e6:.2f} us per event",
    )


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


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--runs", type=int, default=1000)
    parser.add_argument("--latency-runs", type=int, default=200)
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 8])
    parser.add_argument("--sqlite-sync", default="full", choices=["full", "normal"])
    args = parser.parse_args()

    folder = Path(tempfile.mkdtemp(prefix="continuum-bench-"))
    counter = iter(range(1_000))

    def fresh_url() -> str:
        return f"sqlite:///{folder / f'bench{next(counter)}.db'}?synchronous={args.sqlite_sync}"

    rows: list[Row] = []
    for concurrency in args.concurrency:
        rows.append(throughput(fresh_url(), args.runs, concurrency))
    rows.append(latency(fresh_url(), args.latency_runs))
    for events in (1_000, 10_000):
        rows.append(resume(fresh_url(), events))
    rows.append(lookup())

    print(f"Continuum {continuum.__version__} on SQLite (synchronous={args.sqlite_sync})")
    print(
        f"Python {platform.python_version()}, {platform.system()} {platform.machine()}, "
        f"{os.cpu_count()} cores\n"
    )
    widths = [max(len(r[i]) for r in rows) for i in range(3)]
    for row in rows:
        print("  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)))


if __name__ == "__main__":
    main()
