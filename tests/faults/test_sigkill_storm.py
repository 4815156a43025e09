"""Fault 3: a storm of SIGKILLs, with a ledger of every activity execution.

Three workers (lease 1 s) work through a few hundred three-step runs whose
activities note START and END (run, step, pid, wall time) in a ledger. The
test SIGKILLs a worker chosen by a seeded RNG, each time one that is inside an
activity at that moment, and replaces it, over and over.

Proved, beyond journal integrity (`integrity.check`):
- every run completes, and its output names, for each step, the process of
  that step's last execution;
- every re-execution of a step is explained by a kill during that step: all
  but the last execution of a step belong to killed processes, each of those
  started before its process died, and the step's result was journaled by
  another process after that death (so it was not journaled before the kill);
- no execution of a step started after that step's result was committed
  (execution START times against the journal row's recorded_at: both clocks
  are this machine's).
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.conftest import BACKENDS
from tests.faults import flows, integrity, ledger
from tests.faults.conftest import FaultDB
from tests.faults.harness import Workers, eventually, examine, settled

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif("postgres" not in BACKENDS, reason="PostgreSQL tests disabled"),
]

RUNS = 1000
KILLS = 12
WORKERS = 3
LEASE = 1.0
WORK = 0.05  # seconds inside each activity
SEED = 20240607


def test_every_re_execution_is_explained_by_a_kill(
    tmp_path: Path, fault_db: FaultDB, workers: Workers, report: Callable[[str], None]
) -> None:
    url, client = fault_db.url, fault_db.client
    book = tmp_path / "ledger"
    rng = random.Random(SEED)
    nodes = {f"n{i}": workers.spawn(url, f"n{i}", lease=LEASE) for i in range(WORKERS)}
    run_ids = [f"r{i}" for i in range(RUNS)]
    for run_id in run_ids:
        client.start(flows.Chain, {"ledger": str(book), "run": run_id, "work": WORK}, run_id=run_id)

    tail = ledger.Tail(book)
    died_at: dict[int, float] = {}  # killed pid -> wall time by which it was dead
    started = time.monotonic()
    for round_ in range(KILLS):
        name = rng.choice(sorted(nodes))
        victim = nodes[name]
        eventually(
            lambda v=victim: tail.in_flight(v.pid) > 0 or settled(url, run_ids) == RUNS,
            30,
            f"worker {name} to be inside an activity (kill {round_ + 1})",
        )
        done = settled(url, run_ids)
        assert done < RUNS, f"the work ran out after {round_} kills: add runs"
        died_at[victim.pid] = workers.kill(victim)
        nodes[name] = workers.spawn(url, f"{name}-{round_}", lease=LEASE)
    eventually(lambda: settled(url, run_ids) == RUNS, 90, "every run to end")
    took = time.monotonic() - started

    def explain(x: ledger.Execution, row: integrity.JournalRow) -> str | None:
        death = died_at.get(x.pid)
        if death is None:
            return "that process was never killed"
        if not x.started < death < row.recorded_at:
            return (
                f"its process died at {death:.6f} and the result was journaled at "
                f"{row.recorded_at:.6f}: the kill does not explain it"
            )
        return None

    found = examine(url, book, run_ids, explain)
    verdict = integrity.check(url, run_ids)
    report(
        f"{RUNS} runs x {len(flows.STEPS)} steps on {WORKERS} workers, {len(died_at)} SIGKILLs "
        f"(each inside an activity; {done / RUNS:.0%} of runs done at the last) in {took:.1f}s; "
        f"{found.executions} executions, "
        f"{found.reruns} re-executions, {found.reruns - found.unexplained} explained by kills; "
        f"stale writes accepted: {len(found.stale)}; {verdict.summary()}"
    )
    assert not found.problems, f"{len(found.problems)} problems:\n" + "\n".join(found.problems[:40])
    assert not found.stale, "stale writes accepted:\n" + "\n".join(found.stale[:40])
    verdict.assert_ok()
