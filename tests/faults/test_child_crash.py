"""A node killed (SIGKILL) while a parent starts its children, before or after the
start is written: the node that takes the parent over starts each child exactly once.

Node A runs the parent up to a gate in plain workflow code and is killed there:
either with the children only buffered (nothing durable yet: "between starting a
child and recording it"), or after an activity has written them. Node B takes the
parent over when A's lease expires, replays it, and completes it.

Proved: exactly the expected child runs exist, each named by the parent, each
with one journaled result; the parent's journal records each child once; the
parent's output names every child's result.
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
CHILDREN = 5


@pytest.mark.parametrize("flush_first", [False, True], ids=["buffered", "written"])
def test_a_parent_killed_while_starting_children_starts_each_once(
    tmp_path: Path,
    fault_db: FaultDB,
    workers: Workers,
    report: Callable[[str], None],
    flush_first: bool,
) -> None:
    url, client = fault_db.url, fault_db.client
    book, release = tmp_path / "ledger", tmp_path / "release"
    run_id = f"fanout-{'written' if flush_first else 'buffered'}"
    workers.release_on_close(release)

    node_a = workers.spawn(url, "node-a", lease=LEASE, concurrency=2)
    client.start(
        flows.FanOut,
        {
            "ledger": str(book),
            "run": run_id,
            "children": CHILDREN,
            "flush_first": flush_first,
            "marker": str(tmp_path / "gate"),
            "release": str(release),
        },
        run_id=run_id,
    )
    eventually(lambda: ledger.has(book, "GATE", pid=node_a.pid), 30, "A to reach the gate")
    children_before = integrity.query(
        url, "SELECT count(*) FROM continuum_runs WHERE parent_run_id = %s", (run_id,)
    )[0][0]
    assert children_before == (CHILDREN if flush_first else 0)
    node_a.kill()
    node_a.wait(10)

    workers.spawn(url, "node-b", lease=LEASE, concurrency=2)
    eventually(lambda: run_row(url, run_id)["status"] == "completed", 30, "B to complete")

    children = integrity.query(
        url,
        "SELECT id, status FROM continuum_runs WHERE parent_run_id = %s ORDER BY id",
        (run_id,),
    )
    expected = [f"{run_id}/{position}" for position in range(CHILDREN)]
    assert [(cid, status) for cid, status in children] == [(c, "completed") for c in expected]
    parent_journal = integrity.query(
        url, "SELECT kind, name FROM continuum_journal WHERE run_id = %s ORDER BY seq", (run_id,)
    )
    kinds = [kind for kind, _ in parent_journal]
    assert kinds.count("child") == CHILDREN
    assert kinds.count("child_result") == CHILDREN
    for child_id in expected:
        rows = integrity.query(
            url, "SELECT kind FROM continuum_journal WHERE run_id = %s", (child_id,)
        )
        assert [kind for (kind,) in rows] == ["activity"]
    [(output,)] = integrity.query(url, "SELECT output FROM continuum_runs WHERE id = %s", (run_id,))
    assert len(output) == CHILDREN and all(str(o).startswith("ship@") for o in output)
    shipped = ledger.executions(ledger.events(book))
    per_child = {run: len(runs) for (run, step), runs in shipped.items() if step == "ship"}
    assert sorted(per_child) == [f"{run_id}.{i}" for i in range(CHILDREN)]
    report(
        f"child crash ({'written' if flush_first else 'buffered'}): {CHILDREN} children, "
        f"each started once; ship executions {sorted(per_child.values())}"
    )
