"""What the versions tools cost: boot with frozen versions, the reports, replay-check.

    python -m bench.versions [--runs 100000] [--frozen 100] [--replays 1000]

- boot time of an instance (SQLite, in process) with N frozen versions to load,
  beside the same boot with none;
- the two reads behind `versions check` and `versions list` (runs per version and
  status; patch usage) on a PostgreSQL database holding `--runs` runs, a tenth of
  them live and half of those with a patch marker;
- `replay-check` throughput: `--replays` runs of 100 journaled events each,
  replayed through their code (events per second).

PostgreSQL is a throwaway server with default settings, as in `bench.run`.
Figures, never assertions.
"""

from __future__ import annotations

import argparse
import importlib
import json
import statistics
import sys
import tempfile
import textwrap
import time
from pathlib import Path

from tests.pgcluster import PostgresCluster

import continuum
from bench import workloads
from continuum import frozen
from continuum.hashing import hash_class_source
from continuum.runtime.replay import replay
from continuum.store import JournalEntry, open_store

_FLOW = """
import continuum
from bench.workloads import noop


class Frozen(continuum.Workflow):
    def run(self, input):
        return noop({n})
"""


def boot_with_frozen(count: int) -> tuple[float, float]:
    """Boot time (ms) with `count` frozen versions to load (the first boot: later ones
    find them loaded), and the median with none."""
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        sys.path.insert(0, str(folder))
        (folder / "frozen_flow.py").write_text(textwrap.dedent(_FLOW.format(n=0)))
        module = importlib.import_module("frozen_flow")
        versions = folder / "versions"
        for n in range(1, count + 1):  # older bodies of the same workflow
            source = textwrap.dedent(_FLOW.format(n=n)).split("\n\n\n", 1)[1]
            current = module.Frozen.__continuum_entrypoint__()
            version = frozen.FrozenVersion(
                workflow=current.workflow,
                version=n,
                version_hash=hash_class_source(source, "Frozen"),
                module="frozen_flow",
                name="Frozen",
                source=source,
            )
            frozen.write(versions, version)
        timings: dict[str, list[float]] = {"with": [], "without": []}
        for attempt in range(3):
            for label, vdir in (("without", folder / "none"), ("with", versions)):
                database = f"sqlite:///{folder / f'{label}-{attempt}.db'}"
                app = continuum.Continuum(
                    database=database,
                    dispatch=False,
                    workflow_modules=["frozen_flow"],
                    versions_dir=vdir,
                )
                started = time.perf_counter()
                app.boot()
                timings[label].append((time.perf_counter() - started) * 1000)
                app.shutdown()
        sys.path.remove(str(folder))
    return timings["with"][0], statistics.median(timings["without"])


def reports_on(url: str, runs: int) -> tuple[float, float]:
    """Median ms of version_usage() and patch_usage() over `runs` runs."""
    import psycopg

    store = open_store(url)
    store.migrate()
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(
            "INSERT INTO continuum_runs (id, workflow, version_hash, version, status, input, "
            "created_at, updated_at) "
            "SELECT 'r-' || i, 'shop.Order', 'h' || (i %% 20), 1, "
            "CASE WHEN i %% 10 = 0 THEN 'suspended' ELSE 'completed' END, 'null', now(), now() "
            "FROM generate_series(1, %s) AS i",
            (runs,),
        )
        conn.execute(
            "INSERT INTO continuum_journal (run_id, seq, kind, name, payload, recorded_at) "
            "SELECT 'r-' || i, 0, 'patch', 'fast-ship', NULL, now() "
            "FROM generate_series(1, %s) AS i WHERE i %% 20 = 0",
            (runs,),
        )
        conn.execute("VACUUM ANALYZE")
    usage, patches = [], []
    for _ in range(5):
        started = time.perf_counter()
        store.version_usage()
        usage.append((time.perf_counter() - started) * 1000)
        started = time.perf_counter()
        store.patch_usage()
        patches.append((time.perf_counter() - started) * 1000)
    store.close()
    return statistics.median(usage), statistics.median(patches)


def replay_throughput(count: int, events: int = 100) -> float:
    """Events per second replayed by replay-check's engine, `count` runs of `events`."""
    entrypoint = workloads.ManyActivities.__continuum_entrypoint__()
    name = workloads.noop.__continuum_activity__.name  # type: ignore[attr-defined]
    journal = [JournalEntry(i, "activity", name, json.dumps({"result": i})) for i in range(events)]
    started = time.perf_counter()
    for i in range(count):
        drift = replay(entrypoint, json.dumps(events), journal, run_id=f"r{i}")
        assert drift is None, drift
    return count * events / (time.perf_counter() - started)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=100_000)
    parser.add_argument("--frozen", type=int, default=100)
    parser.add_argument("--replays", type=int, default=1000)
    args = parser.parse_args()

    with_frozen, without = boot_with_frozen(args.frozen)
    rate = replay_throughput(args.replays)
    cluster = PostgresCluster(durable=True).start()
    try:
        usage, patches = reports_on(cluster.create_database(), args.runs)
    finally:
        cluster.remove()
    rows = [
        (f"boot, {args.frozen} frozen versions to load", f"{with_frozen:,.1f} ms"),
        ("boot, no frozen version", f"{without:,.1f} ms"),
        (f"replay-check, {args.replays:,} runs of 100 events", f"{rate:,.0f} events/s"),
        (f"runs per version and status, {args.runs:,} runs (PostgreSQL)", f"{usage:,.1f} ms"),
        (f"patch usage, {args.runs:,} runs (PostgreSQL)", f"{patches:,.1f} ms"),
    ]
    width = max(len(label) for label, _ in rows)
    for label, figure in rows:
        print(f"  {label:<{width}}  {figure:>16}")


if __name__ == "__main__":
    main()
