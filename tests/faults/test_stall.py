"""Fault 2: a node stalled (SIGSTOP) past its lease between two activities, then resumed.

Worker A (lease 1 s) journals the first activity, then reaches workflow code
between the two activities (`flows.gate`) that holds the first process to get
there until a release file exists. The test SIGSTOPs A there, starts worker B,
which claims the run once A's lease has expired, passes the gate, runs the
second activity and completes the run. Then the test creates the release file
and SIGCONTs A, holding a lock on the run's row meanwhile so that A's heartbeat
cannot tell A's worker thread in time that the lease is gone.

A resumed attempt must notice by itself that its lease is over before it
invokes anything: the database fence refuses its writes, but only after the
side effect happened; and the lease-lost flag the heartbeat thread sets comes
too late, since the worker thread runs on the moment it is resumed.

Proved: the second activity ran exactly once (in B), A wrote nothing after it
was stopped, the journal is unchanged by A's resumption, and journal integrity
holds. A stall that lands INSIDE an activity is a different case: that
activity has already started, may run twice, and stays at-least-once
(documented, and tested in tests/acceptance/test_cluster.py).
"""

from __future__ import annotations

import signal
import time
from collections.abc import Callable
from pathlib import Path

import psycopg
import pytest

from tests.conftest import BACKENDS
from tests.faults import flows, integrity, ledger
from tests.faults.conftest import FaultDB
from tests.faults.harness import Workers, eventually, run_row, within

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif("postgres" not in BACKENDS, reason="PostgreSQL tests disabled"),
]

LEASE = 1.0


def test_a_resumed_node_does_not_invoke_what_another_node_journaled(
    tmp_path: Path, fault_db: FaultDB, workers: Workers, report: Callable[[str], None]
) -> None:
    url, client = fault_db.url, fault_db.client
    book, release = tmp_path / "ledger", tmp_path / "release"
    run_id = "stalled"
    workers.release_on_close(release)

    node_a = workers.spawn(url, "node-a", lease=LEASE, concurrency=1)
    client.start(
        flows.Stall,
        {
            "ledger": str(book),
            "run": run_id,
            "marker": str(tmp_path / "gate"),
            "release": str(release),
        },
        run_id=run_id,
    )
    eventually(lambda: ledger.has(book, "GATE", pid=node_a.pid), 30, "A to reach the gate")
    stopped_at = time.time()
    node_a.send_signal(signal.SIGSTOP)
    try:
        node_b = workers.spawn(url, "node-b", lease=LEASE, concurrency=1)
        eventually(lambda: run_row(url, run_id)["status"] == "completed", 30, "B to complete")
        journal_before = integrity.journal(url)
        changes_before = len(integrity.journal_changes(url))
        release.touch()
        # Hold the run's row while A resumes: A's heartbeat (which locks the row to
        # renew) cannot learn that the lease is gone before A's worker thread has
        # chosen to invoke or to stop. Without this the two threads race, and an
        # engine that relies on the heartbeat passes or fails by chance.
        with psycopg.connect(url) as blocker, blocker.transaction():
            blocker.execute("SELECT 1 FROM continuum_runs WHERE id = %s FOR UPDATE", (run_id,))
            node_a.send_signal(signal.SIGCONT)
            within(
                lambda: (
                    ledger.has(book, "START", pid=node_a.pid, step="b")
                    or ledger.has(book, "EXIT", pid=node_a.pid)
                ),
                5,
            )  # or A asks the database, which answers once the row is free again
    finally:
        node_a.send_signal(signal.SIGCONT)
    stall = time.time() - stopped_at
    eventually(lambda: ledger.has(book, "EXIT", pid=node_a.pid), 30, "A's attempt to end")

    executions = ledger.executions(ledger.events(book))
    second = executions.get((run_id, "b"), [])
    late = [
        f"journal {c.op} {c.run_id}#{c.seq}: {c.new}"
        for c in integrity.journal_changes(url)
        if c.at >= stopped_at and c.new is not None and f"@{node_a.pid}" in (c.new[2] or "")
    ]
    late += integrity.writes_naming(url, [f'"b@{node_a.pid}"'])
    verdict = integrity.check(url, [run_id])
    report(
        f"1 run, 1 stall of {stall:.1f}s on a {LEASE:g}s lease between activities; "
        f"second activity executed {len(second)}x "
        f"({', '.join('A' if x.pid == node_a.pid else 'B' for x in second)}); "
        f"stale writes accepted: {len(late)}; {verdict.summary()}"
    )
    assert [x.pid for x in second] == [node_b.pid], (
        f"the second activity ran in {[x.pid for x in second]}; only in B ({node_b.pid}) is right"
    )
    assert not late, "A wrote after it was stopped:\n" + "\n".join(late)
    assert integrity.journal(url) == journal_before
    assert len(integrity.journal_changes(url)) == changes_before
    verdict.assert_ok()
    status, output = integrity.runs(url)[run_id]
    assert (status, output) == ("completed", f'["a@{node_a.pid}","b@{node_b.pid}"]')
