"""Fault 1: the server crashes right after a claim, before the claim reached the disk.

PostgreSQL claims commit with synchronous_commit off. If the server crashes
after a claim was acknowledged but before its WAL was written out, the run
comes back as it was before the claim, with the previous lease token; the next
claim then hands out the same token number again. A fence that compares only
the token lets the node that still holds the lost claim (A) write over the
journal of the node that claimed the run next (B), or complete the run.

This test makes that happen for real. The server keeps WAL in its buffers for
up to 10 s (`WIDE_CRASH_WINDOW`); worker A (concurrency 1, a lease long enough
that no renewal commits meanwhile) claims a run whose first step blocks until a
release file exists, so nothing durable is written between the claim and the
crash; the test crashes the server (`pg_ctl stop -m immediate`) as soon as A
has started that step, and restarts it. It checks in the database that the
claim was really lost (else it fails, saying the window was missed), lets
worker B claim the run and checks that B was given A's token number. Then both
finish the step, and the second step, held by a second release file until A
has either been refused or gone on to it.

Proved: none of A's writes is accepted (no journal write and no output names
A's pid, per the audit triggers), the journal never changes a row another
attempt wrote, the run completes exactly once, and its output matches its
journal. Fails on an engine whose fence compares only the token.
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

# Long enough that A's heartbeat (every third of it) never commits a renewal,
# which would flush the claim to disk, during the test.
A_LEASE = 90.0
# A fresh WAL writer never hibernates within its first 500 s (50 rounds of 10 s);
# a hibernating one is woken by the first asynchronous commit and writes it at once.
FRESH_SERVER_SECONDS = 300.0


def test_a_claim_lost_in_a_server_crash_is_never_honoured(
    tmp_path: Path, fault_db: FaultDB, workers: Workers, report: Callable[[str], None]
) -> None:
    cluster, url, client = fault_db.cluster, fault_db.url, fault_db.client
    up_for = integrity.query(url, "SELECT extract(epoch FROM now() - pg_postmaster_start_time())")
    if up_for[0][0] > FRESH_SERVER_SECONDS:
        cluster.restart()
    book = tmp_path / "ledger"
    release, release2 = tmp_path / "release", tmp_path / "release2"
    run_id = "lost-claim"
    workers.release_on_close(release, release2)

    node_a = workers.spawn(url, "node-a", lease=A_LEASE, concurrency=1)
    client.start(
        flows.LostClaim,
        {"ledger": str(book), "run": run_id, "release": str(release), "release2": str(release2)},
        run_id=run_id,
    )
    eventually(lambda: ledger.has(book, "START", pid=node_a.pid, step="a"), 30, "A to start step a")
    cluster.crash()
    cluster.start()

    after_crash = run_row(url, run_id)
    if after_crash["status"] != "pending":
        report(f"crash window MISSED: the claim survived ({after_crash})")
        pytest.fail(
            f"the crash window was not hit: A's claim survived the crash ({after_crash}); "
            "the WAL writer or a synchronous commit wrote it out before the crash"
        )
    a_attempt = [e for e in ledger.events(book) if e.event == "ATTEMPT" and e.pid == node_a.pid]
    a_lease = a_attempt[0].detail  # token=N,nonce=M (nonce "-" on an engine without one)
    a_token = int(a_lease.split(",")[0].removeprefix("token="))

    node_b = workers.spawn(url, "node-b", lease=10.0, concurrency=1)
    eventually(lambda: ledger.has(book, "START", pid=node_b.pid, step="a"), 30, "B to start step a")
    b_claim = run_row(url, run_id)
    assert b_claim["owner"] == "node-b" and b_claim["token"] == a_token, (
        f"B should hold the token number A was given ({a_token}): {b_claim}"
    )

    # Both finish step a. A is either refused (and its attempt ends) or goes on to
    # step b; only then may step b finish, so A's writes, if accepted, are in order.
    release.touch()
    eventually(lambda: ledger.has(book, "START", pid=node_b.pid, step="b"), 30, "B to start step b")
    eventually(
        lambda: (
            ledger.has(book, "EXIT", pid=node_a.pid)
            or ledger.has(book, "START", pid=node_a.pid, step="b")
        ),
        30,
        "A to be refused or to go on",
    )
    release2.touch()
    eventually(lambda: run_row(url, run_id)["status"] == "completed", 30, "the run to complete")
    for proc in (node_a, node_b):
        eventually(lambda p=proc: ledger.has(book, "EXIT", pid=p.pid), 30, "both attempts to end")

    stale = integrity.writes_naming(url, [f"@{node_a.pid}"])
    verdict = integrity.check(url, [run_id])
    executions = ledger.executions(ledger.events(book))
    report(
        f"1 run, 1 server crash right after A's claim ({a_lease}: lost); B then given "
        f"token={b_claim['token']},nonce={b_claim['nonce'] or '-'}; "
        f"executions a={len(executions[(run_id, 'a')])} "
        f"b={len(executions.get((run_id, 'b'), []))}; "
        f"stale writes accepted: {len(stale)}; {verdict.summary()}"
    )
    assert not stale, "writes of the attempt whose claim was lost were accepted:\n" + "\n".join(
        stale
    )
    verdict.assert_ok()
    status, output = integrity.runs(url)[run_id]
    assert (status, output) == ("completed", f'["a@{node_b.pid}","b@{node_b.pid}"]')
