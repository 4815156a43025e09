"""A node killed (SIGKILL) between two compensations: the node that takes the run
over runs only the undo steps not yet journaled.

Worker A runs the compensations most recent first: u3 completes and is journaled,
u2 starts and holds; the test kills A there. Worker B takes the run over when A's
lease expires and finishes the unwinding.

Proved: u3 ran once (replayed, not repeated), u1 ran once, u2 ran again in B (it
was inside an activity when A died: activities are at least once), and the journal
records each undo step once, in order.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from tests.conftest import BACKENDS
from tests.faults import flows, integrity, ledger
from tests.faults.conftest import FaultDB
from tests.faults.harness import Workers, eventually, run_row

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif("postgres" not in BACKENDS, reason="PostgreSQL tests disabled"),
]

LEASE = 1.0


def test_a_node_killed_between_two_compensations_leaves_only_the_rest_to_run(
    tmp_path: Path, fault_db: FaultDB, workers: Workers, report: Callable[[str], None]
) -> None:
    url, client = fault_db.url, fault_db.client
    book, release = tmp_path / "ledger", tmp_path / "release"
    run_id = "unwinding"
    workers.release_on_close(release)

    node_a = workers.spawn(url, "node-a", lease=LEASE, concurrency=1)
    client.start(
        flows.Unwinds, {"ledger": str(book), "run": run_id, "release": str(release)}, run_id=run_id
    )
    eventually(
        lambda: ledger.has(book, "START", step="u2", pid=node_a.pid), 30, "A inside undo step u2"
    )
    node_a.kill()
    node_a.wait(10)
    release.touch()

    node_b = workers.spawn(url, "node-b", lease=LEASE, concurrency=1)
    eventually(lambda: run_row(url, run_id)["status"] == "completed", 30, "B to finish")

    rows = integrity.query(
        url,
        "SELECT kind, payload ->> 'result' FROM continuum_journal WHERE run_id = %s ORDER BY seq",
        (run_id,),
    )
    assert [kind for kind, _ in rows] == ["compensation"] * 3 + ["activity"] * 3
    done_by = [result.split("@") for _, result in rows[3:]]
    assert [name for name, _ in done_by] == ["u3", "u2", "u1"]
    assert [int(pid) for _, pid in done_by] == [node_a.pid, node_b.pid, node_b.pid]
    runs = ledger.executions(ledger.events(book))
    counts = {step: len(runs[(run_id, step)]) for step in ("u1", "u2", "u3")}
    assert counts == {"u3": 1, "u2": 2, "u1": 1}
    report(f"saga crash: undo executions {counts} (u2 was killed inside, run again)")
