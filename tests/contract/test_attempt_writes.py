"""What an attempt write does, stated once as a table that every backend runs.

A write is fenced by its lease (see `continuum.store.base`). The table gives,
for each fence a write can meet and each outcome it can carry, what becomes of
it (written, or refused with LeaseLost), the run's status afterwards, and
whether the run is due at once, for each of the signal situations the run can
be in when the write lands.
"""

from __future__ import annotations

import itertools
import json
import time
from collections.abc import Iterator
from typing import NamedTuple

import pytest

from continuum.errors import LeaseLost, SerializationError
from continuum.store import JournalEntry, JournalKind, Lease, NewRun, RunStatus, Store, open_store
from continuum.store.base import Write, WriteOutcome
from tests.conftest import BACKENDS
from tests.pgcluster import PostgresCluster

W, S = WriteOutcome, RunStatus
OUTCOMES = tuple(WriteOutcome)
# The run's signals when the write lands: none; one the suspension waits for, sent
# before the claim; one of another name that arrived during the attempt; one of
# another name sent before the claim.
SIGNALS = ("no signal", "wanted one pending", "one arrived during the attempt", "other pending")
WRITTEN, REFUSED = "written", LeaseLost
ANY = None  # every outcome alike

# fmt: off
#  fence            outcome      result   status after  due now, per SIGNALS
RULES = [
    ("current lease", W.RECORD,    WRITTEN, S.RUNNING,   (False, False, False, False)),
    ("current lease", W.SUSPENDED, WRITTEN, S.SUSPENDED, (False, True,  True,  False)),
    ("current lease", W.COMPLETED, WRITTEN, S.COMPLETED, (False, False, False, False)),
    ("current lease", W.FAILED,    WRITTEN, S.FAILED,    (False, False, False, False)),
    ("current lease", W.CANCELLED, WRITTEN, S.CANCELLED, (False, False, False, False)),
    ("wrong token",   ANY,         REFUSED, S.RUNNING,   (False, False, False, False)),
    ("wrong nonce",   ANY,         REFUSED, S.RUNNING,   (False, False, False, False)),
    ("expired lease", ANY,         REFUSED, S.RUNNING,   (True,  True,  True,  True)),
    ("run cancelled", ANY,         REFUSED, S.CANCELLED, (False, False, False, False)),
]
# fmt: on


class Case(NamedTuple):
    fence: str
    outcome: WriteOutcome
    signal: str
    result: object
    status: RunStatus
    due: bool


CASES = [
    Case(fence, outcome, signal, result, status, due)
    for fence, outcomes, result, status, due_per_signal in RULES
    for outcome in ([outcomes] if outcomes else OUTCOMES)
    for signal, due in zip(SIGNALS, due_per_signal, strict=True)
]


def test_the_table_covers_every_fence_outcome_and_signal() -> None:
    covered = {(case.fence, case.outcome, case.signal) for case in CASES}
    fences = {fence for fence, *_ in RULES}
    assert covered == set(itertools.product(fences, OUTCOMES, SIGNALS))
    assert len(CASES) == len(covered) == 5 * 5 * 4


@pytest.fixture(scope="module", params=BACKENDS)
def shared(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Store]:
    """One database per backend for the whole table: each case has a workflow of its own."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path_factory.mktemp('rules') / 'continuum.db'}"
    else:
        cluster: PostgresCluster = request.getfixturevalue("pg_cluster")
        url = cluster.create_database()
    store = open_store(url)
    store.migrate()
    yield store
    store.close()


@pytest.mark.parametrize("shape", ["alone", "in a batch"])
@pytest.mark.parametrize("case", CASES, ids=lambda c: f"{c.fence}-{c.outcome}-{c.signal}")
def test_attempt_write_rules(shared: Store, case: Case, shape: str) -> None:
    """Every rule, for a write that goes out alone and for one that shares a batch
    (on PostgreSQL these are two statements: the lone one is cheaper to run)."""
    store, (fence, outcome, signal, result, status, due) = shared, case
    run_id = f"{fence}/{outcome}/{signal}/{shape}"
    version = (f"wf.{run_id}", "h")
    store.create_run(NewRun(run_id, *version, 1, "null"))
    if signal in ("wanted one pending", "other pending"):
        store.send_signal(run_id, "go" if signal == "wanted one pending" else "other", "1")
    lease_seconds = 0.05 if fence == "expired lease" else 30.0
    [claim] = store.claim_runs(
        "n1", limit=1, lease_seconds=lease_seconds, versions=[version], known=True
    )
    lease = claim.lease
    if signal == "one arrived during the attempt":
        store.send_signal(run_id, "other", "2")
    if fence == "wrong token":
        lease = Lease(run_id, lease.node, lease.token + 1, lease.nonce)
    elif fence == "wrong nonce":
        lease = Lease(run_id, lease.node, lease.token, lease.nonce + 1)
    elif fence == "expired lease":
        time.sleep(0.1)
    elif fence == "run cancelled":
        store.cancel_run(run_id)

    write = Write(
        lease,
        [JournalEntry(0, JournalKind.ACTIVITY, "a", '{"result": 1}')],
        outcome,
        output_json='"done"' if outcome == WriteOutcome.COMPLETED else None,
        error_json='{"message": "no"}' if outcome == WriteOutcome.FAILED else None,
        wake_on_signals=["go"] if outcome == WriteOutcome.SUSPENDED else (),
    )
    if shape == "alone":
        if result is WRITTEN:
            store.submit(write)
        else:
            with pytest.raises(LeaseLost):
                store.submit(write)
    else:
        companion = (f"wf.{run_id}+", "h")
        store.create_run(NewRun(f"{run_id}+", *companion, 1, "null"))
        [other] = store.claim_runs(
            "n1", limit=1, lease_seconds=30, versions=[companion], known=True
        )
        beside = Write(other.lease, [JournalEntry(0, JournalKind.ACTIVITY, "b", "2")])
        refused, kept = store.apply_writes([write, beside])
        assert kept is None  # the other write of the batch lands whatever became of this one
        assert (refused is None) if result is WRITTEN else isinstance(refused, LeaseLost)

    run = store.get_run(run_id)
    assert run is not None
    assert run.status == status
    assert [e.seq for e in store.load_history(run_id).entries] == ([0] if result is WRITTEN else [])
    if result is WRITTEN and outcome != WriteOutcome.RECORD:
        assert run.lease_owner is None
        assert (run.output_json, run.error_json) == (write.output_json, write.error_json)
    claimed = store.claim_runs("n2", limit=1, lease_seconds=30, versions=[version], known=True)
    assert bool(claimed) == due


def test_a_write_with_a_value_that_is_not_json_is_refused_alone(store: Store) -> None:
    for run_id in ("before", "bad payload", "bad output", "after"):
        store.create_run(NewRun(run_id, "wf", "h", 1, "null"))
    leases = {
        c.run.run_id: c.lease
        for c in store.claim_runs(
            "n", limit=4, lease_seconds=30, versions=[("wf", "h")], known=True
        )
    }
    step = JournalEntry(0, JournalKind.ACTIVITY, "a", '{"result": 1}')
    # Spliced into a statement, this value would have forged a row for another write.
    forged = JournalEntry(0, JournalKind.ACTIVITY, "a", '1}, {"i": 1, "seq": 9, "payload": 2')
    outcomes = store.apply_writes(
        [
            Write(leases["before"], [step]),
            Write(leases["bad payload"], [forged]),
            Write(leases["bad output"], [step], WriteOutcome.COMPLETED, output_json="{oops"),
            Write(leases["after"], [step], WriteOutcome.COMPLETED, output_json='"ok"'),
        ]
    )
    assert outcomes[0] is None and outcomes[3] is None
    assert isinstance(outcomes[1], SerializationError)
    assert "payload of entry 0 is not JSON" in str(outcomes[1])
    assert isinstance(outcomes[2], SerializationError) and "output is not JSON" in str(outcomes[2])
    journals = {run_id: [e.seq for e in store.load_history(run_id).entries] for run_id in leases}
    assert journals == {"before": [0], "bad payload": [], "bad output": [], "after": [0]}
    statuses = {run_id: store.get_run(run_id).status for run_id in leases}  # type: ignore[union-attr]
    assert statuses == {
        "before": "running",
        "bad payload": "running",
        "bad output": "running",
        "after": "completed",
    }
    with pytest.raises(SerializationError):  # alone, through group commit, the same
        store.record(leases["bad payload"], [forged])


def test_awkward_text_goes_in_and_comes_back_as_it_was(store: Store) -> None:
    awkward = "a\"b,c{d}\\e'f (g) [h] ünï"
    run_id = f"run {awkward}"
    store.create_run(NewRun(run_id, "wf", "h", 1, json.dumps(awkward)))
    store.send_signal(run_id, awkward, json.dumps({"text": awkward}))
    [claim] = store.claim_runs("n", limit=1, lease_seconds=30, versions=[("wf", "h")], known=True)
    [signal] = store.load_history(run_id).pending_signals
    payload = json.dumps({"text": awkward, "nested": [awkward, {"k": None}]})
    store.suspend(
        claim.lease,
        [
            JournalEntry(0, JournalKind.SIDE_EFFECT, awkward, payload),
            JournalEntry(1, JournalKind.SIGNAL, awkward, payload, consumes_signal=signal.signal_id),
        ],
        wake_at=None,
        wake_on_signals=[awkward],
    )
    history = store.load_history(run_id)
    assert [(e.kind, e.name, e.payload_json) for e in history.entries] == [
        ("side_effect", awkward, payload),
        ("signal", awkward, payload),
    ]
    assert history.pending_signals == []
    run = store.get_run(run_id)
    assert run is not None and run.status == "suspended" and run.available_at is None


def test_a_suspension_does_not_wake_for_the_signal_it_takes(store: Store) -> None:
    # The write takes the only pending "go": nothing else is pending, so it waits.
    store.create_run(NewRun("r", "wf", "h", 1, "null"))
    store.send_signal("r", "go", "1")
    [claim] = store.claim_runs("n", limit=1, lease_seconds=30, versions=[("wf", "h")], known=True)
    [signal] = store.load_history("r").pending_signals
    take = JournalEntry(0, JournalKind.SIGNAL, "go", "1", consumes_signal=signal.signal_id)
    store.suspend(claim.lease, [take], wake_at=None, wake_on_signals=["go"])
    assert (
        store.claim_runs("n", limit=1, lease_seconds=30, versions=[("wf", "h")], known=True) == []
    )
