"""Pruning a million finished runs while a node keeps claiming and running others.

    python -m bench.prune [--runs 1000000] [--batch 1000] [--baseline 30]

A throwaway PostgreSQL server (default settings, fsync on, as in `bench.run`) is
loaded in SQL with `--runs` runs that ended 8 to 38 days ago, each with a journal of
three entries and one in twenty with a signal. A worker instance
(`Continuum(concurrency=16)`) executes a steady stream of two-activity runs, 16 in
flight, started by a client instance of the same process (`dispatch=False`, so every
run is claimed by the worker through the database, not started in place). Claim
latency is the time from `client.start` to the run's first activity executing. It is
measured for `--baseline` seconds, then while `prune_runs` deletes every run that
ended over 7 days ago, `--batch` per transaction, in a loop on a thread of its own.

Before that, with nothing running: `count_prunable`, and retention of one workflow
(a quarter of the runs) as `continuum.retention` does it, in batches scoped to the
workflow, then one look more once it has caught up (what each later look costs while
the other workflows' old runs stay). Leases the worker reports lost are counted, with
how many of those runs had completed all the same (a renewal that crossed their end).
Figures, never assertions.
"""

from __future__ import annotations

import argparse
import statistics
import threading
import time
import uuid

import psycopg
from tests.pgcluster import PostgresCluster

import continuum
from continuum.store import Store, open_store

ENDED = ("completed", "failed", "cancelled")
MARKS: dict[str, float] = {}  # key -> when the run's first activity began (perf_counter)


@continuum.activity
def mark(key: str) -> str:
    MARKS[key] = time.perf_counter()
    return key


@continuum.activity
def step(n: int) -> int:
    return n + 1


class Short(continuum.Workflow):
    def run(self, key):
        mark(key)
        return step(1)


_FINISHED = """
INSERT INTO continuum_runs (id, workflow, version_hash, version, status, input, output,
    created_at, updated_at)
SELECT md5(i::text)::uuid::text,
    (ARRAY['shop.Order', 'shop.Refund', 'mail.Digest', 'ops.Audit'])[1 + i %% 4],
    'h' || (i %% 3), 1,
    CASE WHEN i %% 50 = 0 THEN 'failed' WHEN i %% 97 = 0 THEN 'cancelled' ELSE 'completed' END,
    json_build_object('n', i), '{"ok": true}',
    t.ended - interval '5 minutes', t.ended
FROM generate_series(1, %(n)s) AS i,
LATERAL (SELECT now() - interval '38 days' + interval '30 days' * i / %(n)s AS ended) AS t
"""
_JOURNALS = """
INSERT INTO continuum_journal (run_id, seq, kind, name, payload, recorded_at)
SELECT r.id, j, 'activity', 'shop.charge', json_build_object('result', j), r.created_at
FROM continuum_runs AS r, generate_series(0, 2) AS j
"""
_SIGNALS = """
INSERT INTO continuum_signals (run_id, name, payload, sent_at, consumed_seq, delivery_id)
SELECT r.id, 'approval', '{"by": "ana"}', r.created_at, 1, 'd-' || r.id
FROM continuum_runs AS r
WHERE ('x' || substr(r.id, 1, 2))::bit(8)::int %% 20 = 0
"""


def load(url: str, runs: int) -> None:
    with psycopg.connect(url, autocommit=True) as conn:
        for name, statement in (
            ("runs", _FINISHED),
            ("journals", _JOURNALS),
            ("signals", _SIGNALS),
        ):
            started = time.perf_counter()
            count = conn.execute(statement, {"n": runs}).rowcount
            print(f"  loaded {count:,} {name} in {time.perf_counter() - started:.1f} s")
        conn.execute("VACUUM ANALYZE")


class Stream:
    """16 client threads, each starting a run and waiting for it, over and over."""

    def __init__(self, client: continuum.Continuum, threads: int = 16) -> None:
        self.client = client
        self.samples: list[tuple[float, float]] = []  # (when started, claim latency)
        self.stop = threading.Event()
        self._lock = threading.Lock()
        self._threads = [threading.Thread(target=self._loop) for _ in range(threads)]

    def __enter__(self) -> Stream:
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        for thread in self._threads:
            thread.join(120)

    def _loop(self) -> None:
        while not self.stop.is_set():
            key = uuid.uuid4().hex
            started = time.perf_counter()
            run_id = self.client.start(Short, key)
            self.client.result(run_id, timeout=120)
            with self._lock:
                self.samples.append((started, MARKS.pop(key) - started))

    def between(self, since: float, until: float) -> list[float]:
        with self._lock:
            return [latency * 1000 for at, latency in self.samples if since <= at < until]


def retention(store: Store, cutoff: float, batch: int) -> list[tuple[str, float, str]]:
    """Retention of one workflow (a quarter of the runs), as `continuum.retention` does
    it: batches scoped to the workflow until none is left; then one more look, which
    is what each later look costs while the other workflows' old runs stay."""

    def look() -> int:
        return store.prune_runs(
            finished_before=cutoff, statuses=ENDED, workflows=["shop.Order"], limit=batch
        )

    started, deleted = time.perf_counter(), 0
    while count := look():
        deleted += count
    took = time.perf_counter() - started
    looks = []
    for _ in range(5):
        began = time.perf_counter()
        look()
        looks.append((time.perf_counter() - began) * 1000)
    return [
        ("retention of shop.Order: runs deleted", deleted, "runs"),
        ("retention of shop.Order: deletion rate", deleted / took, "runs/s"),
        ("retention of shop.Order, caught up: one look", statistics.median(looks), "ms"),
    ]


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(len(ordered) * fraction) - 1))]


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--runs", type=int, default=1_000_000)
    parser.add_argument("--batch", type=int, default=1000)
    parser.add_argument("--baseline", type=float, default=30.0)
    args = parser.parse_args()

    cluster = PostgresCluster(durable=True).start()
    try:
        url = cluster.create_database()
        store = open_store(url)
        store.migrate()
        load(url, args.runs)
        cutoff = store.now() - 7 * 86400
        rows: list[tuple[str, float, str]] = []
        started = time.perf_counter()
        prunable = store.count_prunable(finished_before=cutoff, statuses=ENDED)
        rows.append(
            (f"count_prunable ({prunable:,})", (time.perf_counter() - started) * 1000, "ms")
        )
        rows += retention(store, cutoff, args.batch)

        worker = continuum.Continuum(
            name="bench-worker",
            database=url,
            node="worker",
            concurrency=16,
            workflow_modules=[Short],
        )
        client = continuum.Continuum(
            name="bench-client",
            database=url,
            node="client",
            dispatch=False,
            workflow_modules=[Short],
        )
        lost: list[tuple[float, str]] = []
        continuum.telemetry.attach(
            "bench-prune",
            ("continuum", "run", "lease_lost"),
            lambda _event, _measures, meta: lost.append((time.perf_counter(), meta["run_id"])),
        )
        with worker, client, Stream(client) as stream:
            client.result(client.start(Short, "warm-up"), timeout=60)
            time.sleep(2)  # let the stream settle
            base_from = time.perf_counter()
            time.sleep(args.baseline)
            base_to = time.perf_counter()
            batches: list[float] = []
            deleted = 0
            while True:
                began = time.perf_counter()
                count = store.prune_runs(finished_before=cutoff, statuses=ENDED, limit=args.batch)
                batches.append((time.perf_counter() - began) * 1000)
                deleted += count
                if count == 0:
                    break
            prune_to = time.perf_counter()
            ended = {run_id: store.get_run(run_id) for _, run_id in lost}
        store.close()
        before = stream.between(base_from, base_to)
        during = stream.between(base_to, prune_to)
        took = prune_to - base_to
        rows += [
            (f"runs deleted ({args.batch:,} per transaction)", deleted, "runs"),
            ("deletion rate", deleted / took, "runs/s"),
            ("one batch, median", statistics.median(batches), "ms"),
            ("one batch, p99", percentile(batches, 0.99), "ms"),
        ]
        for label, samples, seconds in (
            ("before pruning", before, base_to - base_from),
            ("during pruning", during, took),
        ):
            rows += [
                (f"claim latency {label}, p50", statistics.median(samples), "ms"),
                (f"claim latency {label}, p99", percentile(samples, 0.99), "ms"),
                (f"runs completed {label}", len(samples) / seconds, "runs/s"),
            ]
        for label, since, until in (
            ("before pruning", base_from, base_to),
            ("during pruning", base_to, prune_to),
        ):
            named = [run_id for at, run_id in lost if since <= at < until]
            done = [r for r in named if getattr(ended[r], "status", None) == "completed"]
            rows.append((f"leases reported lost {label}", len(named), ""))
            rows.append(("  of them, runs that completed all the same", len(done), ""))
    finally:
        cluster.remove()
    width = max(len(label) for label, _, _ in rows)
    print(f"\nPruning {args.runs:,} finished runs on PostgreSQL, 16 runs in flight meanwhile")
    for label, value, unit in rows:
        print(f"  {label:<{width}}  {value:>12,.2f} {unit}")


if __name__ == "__main__":
    main()
