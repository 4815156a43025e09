"""Fault 4: the PostgreSQL server restarts under load, twice: cleanly, then by a crash.

Three workers (lease 2 s) work through a few hundred three-step runs. When a
quarter of the activities have run, the server is restarted (`pg_ctl restart`,
fast mode: sessions are cut, a checkpoint is written); when two thirds have,
it is crashed (`pg_ctl stop -m immediate`: asynchronously committed claims
still in the WAL buffers are lost, see `harness.WIDE_CRASH_WINDOW`) and
started again. Workers are never restarted.

Proved: every worker outlives both outages; every run completes exactly once
with the results of its steps' last executions; journal integrity holds; no
execution started after its step's result was committed; no stale write was
accepted; and every re-execution is explained by an outage: the execution
started before an outage ended, and its step's result was journaled after
that outage began (the attempt could not record it across the outage).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.conftest import BACKENDS
from tests.faults import flows, integrity, ledger
from tests.faults.conftest import FaultDB
from tests.faults.harness import Workers, eventually, examine, lost_claims, settled

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif("postgres" not in BACKENDS, reason="PostgreSQL tests disabled"),
]

RUNS = 600
WORKERS = 3
LEASE = 2.0
WORK = 0.02


def test_workers_ride_out_a_restart_and_a_crash_of_the_server(
    tmp_path: Path, fault_db: FaultDB, workers: Workers, report: Callable[[str], None]
) -> None:
    cluster, url, client = fault_db.cluster, fault_db.url, fault_db.client
    book = tmp_path / "ledger"
    procs = [workers.spawn(url, f"n{i}", lease=LEASE) for i in range(WORKERS)]
    run_ids = [f"r{i}" for i in range(RUNS)]
    for run_id in run_ids:
        client.start(flows.Chain, {"ledger": str(book), "run": run_id, "work": WORK}, run_id=run_id)
    total = RUNS * len(flows.STEPS)

    tail = ledger.Tail(book)
    outages: list[tuple[str, float, float]] = []  # (what, began, ended), wall clock
    started = time.monotonic()
    for what, fraction in (("restart", 0.25), ("crash", 0.66)):
        eventually(lambda f=fraction: tail.count("END") >= f * total, 60, f"progress before {what}")
        assert settled(url, run_ids) < RUNS, "the work ended before the outage: add runs"
        began = time.time()
        if what == "restart":
            cluster.restart()
        else:
            cluster.crash()
            cluster.start()
        outages.append((what, began, time.time()))
    eventually(lambda: settled(url, run_ids) == RUNS, 90, "every run to end")
    took = time.monotonic() - started
    dead = [p.pid for p in procs if p.poll() is not None]

    def explain(x: ledger.Execution, row: integrity.JournalRow) -> str | None:
        for _, began, ended in outages:
            if x.started < ended and row.recorded_at > began:
                return None
        return f"no outage came between its start and the journaling of {row.payload}"

    found = examine(url, book, run_ids, explain)
    lost = lost_claims(url, book, workers.names)
    verdict = integrity.check(url, run_ids)
    report(
        f"{RUNS} runs x {len(flows.STEPS)} steps on {WORKERS} workers, 1 fast restart + "
        f"1 crash ({', '.join(f'{w} {e - b:.1f}s' for w, b, e in outages)}) in {took:.1f}s; "
        f"claims lost in the crash: {len(lost)}; "
        f"{found.executions} executions, {found.reruns} re-executions, "
        f"{found.reruns - found.unexplained} explained by the outages; "
        f"workers lost: {len(dead)}; stale writes accepted: {len(found.stale)}; "
        f"{verdict.summary()}"
    )
    assert not dead, f"workers {dead} died with the database"
    assert not found.problems, f"{len(found.problems)} problems:\n" + "\n".join(found.problems[:40])
    assert not found.stale, "stale writes accepted:\n" + "\n".join(found.stale[:40])
    verdict.assert_ok()
