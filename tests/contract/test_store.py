"""The Store contract. Every backend runs this same suite (see `backend_url`)."""

from __future__ import annotations

import json
import threading
import time

import pytest

from continuum.errors import LeaseLost, SchemaError, StoreError
from continuum.store import (
    JournalEntry,
    JournalKind,
    Lease,
    NewRun,
    RunFilter,
    RunStatus,
    Store,
    VersionRecord,
    Write,
    WriteOutcome,
    open_store,
)
from tests.conftest import raw_sql

V1 = ("wf.Order", "aaaaaaaaaaaaaaaa")
V2 = ("wf.Order", "bbbbbbbbbbbbbbbb")


def new_run(run_id: str, version: tuple[str, str] = V1) -> NewRun:
    return NewRun(run_id, version[0], version[1], 1, json.dumps({"id": run_id}))


def claim_one(store: Store, node: str = "n1", lease: float = 30.0, versions=(V1,)):
    claims = store.claim_runs(
        node, limit=1, lease_seconds=lease, versions=list(versions), known=True
    )
    assert len(claims) == 1
    return claims[0]


def entry(
    seq: int, kind: str = JournalKind.ACTIVITY, name: str = "a", payload: object = None, **kw
):
    return JournalEntry(seq, kind, name, json.dumps(payload), **kw)


def test_an_empty_database_is_at_schema_version_zero(backend_url: str) -> None:
    store = open_store(backend_url)
    try:
        assert store.schema_version() == 0
        store.migrate()
        assert store.schema_version() > 0
    finally:
        store.close()


def test_migrate_is_idempotent(store: Store, backend_url: str) -> None:
    store.create_run(new_run("r"))
    version, run = store.schema_version(), store.get_run("r")
    store.migrate()
    other = open_store(backend_url)  # another node booting on the same database
    try:
        other.migrate()
        assert other.schema_version() == store.schema_version() == version > 0
        assert other.get_run("r") == store.get_run("r") == run is not None
    finally:
        other.close()


def test_create_is_idempotent_on_run_id(store: Store) -> None:
    first, created = store.create_run(new_run("r1"))
    again, created_again = store.create_run(new_run("r1", V2))
    assert created and not created_again
    assert again == first
    assert first.status == RunStatus.PENDING and first.version_hash == V1[1]
    assert json.loads(first.input_json or "null") == {"id": "r1"}


def test_get_and_list(store: Store) -> None:
    assert store.get_run("missing") is None
    for i in range(5):
        store.create_run(new_run(f"r{i}", V1 if i % 2 else V2))
    assert len(store.query_runs(RunFilter(), limit=3)) == 3
    pending = RunFilter(statuses=("pending",), workflow="wf.Order")
    assert {r.run_id for r in store.query_runs(pending, limit=10)} == {f"r{i}" for i in range(5)}
    assert store.query_runs(RunFilter(statuses=("completed",)), limit=10) == []
    assert store.query_runs(RunFilter(workflow="other"), limit=10) == []


def test_claim_takes_only_known_versions_and_leases_them(store: Store) -> None:
    store.create_run(new_run("known"))
    store.create_run(new_run("unknown", V2))
    claims = store.claim_runs("n1", limit=10, lease_seconds=30, versions=[V1], known=True)
    assert [c.run.run_id for c in claims] == ["known"]
    claim = claims[0]
    assert claim.run.status == RunStatus.RUNNING and claim.run.lease_owner == "n1"
    assert claim.lease == Lease("known", "n1", claim.run.lease_token, claim.run.lease_nonce)
    assert abs(claim.db_now - store.now()) < 5
    # a leased run is not claimed again while its lease lasts
    assert store.claim_runs("n2", limit=10, lease_seconds=30, versions=[V1], known=True) == []
    unknown = store.claim_runs("n1", limit=10, lease_seconds=30, versions=[V1], known=False)
    assert [c.run.run_id for c in unknown] == ["unknown"]


def test_claim_respects_limit_and_due_order(store: Store) -> None:
    for i in range(5):
        store.create_run(new_run(f"r{i}"))
        time.sleep(0.002)
    first = store.claim_runs("n1", limit=2, lease_seconds=30, versions=[V1], known=True)
    assert [c.run.run_id for c in first] == ["r0", "r1"]
    rest = store.claim_runs("n1", limit=10, lease_seconds=30, versions=[V1], known=True)
    assert [c.run.run_id for c in rest] == ["r2", "r3", "r4"]


def test_a_batch_comes_back_oldest_due_first_whatever_the_insert_order(store: Store) -> None:
    for run_id in ("r0", "r1", "r2"):
        store.create_run(new_run(run_id))
    for claim, delay in zip(
        store.claim_runs("n1", limit=3, lease_seconds=30, versions=[V1], known=True),
        (0.3, 0.2, 0.1),
        strict=True,
    ):
        store.release(claim.lease, delay=delay)  # due again in the reverse order
    time.sleep(0.35)
    again = store.claim_runs("n1", limit=3, lease_seconds=30, versions=[V1], known=True)
    assert [c.run.run_id for c in again] == ["r2", "r1", "r0"]


def test_claim_with_no_versions_claims_nothing(store: Store) -> None:
    store.create_run(new_run("r"))
    assert store.claim_runs("n1", limit=5, lease_seconds=30, versions=[], known=True) == []


def test_expired_lease_is_reclaimed_with_a_new_token_and_old_writes_are_fenced(
    store: Store,
) -> None:
    store.create_run(new_run("r"))
    old = claim_one(store, "n1", lease=0.05)
    time.sleep(0.1)
    new = claim_one(store, "n2")
    assert new.lease.token > old.lease.token
    with pytest.raises(LeaseLost):
        store.record(old.lease, [entry(0)])
    with pytest.raises(LeaseLost):
        store.finish(old.lease, [], status="completed", output_json="1", error_json=None)
    with pytest.raises(LeaseLost):
        store.suspend(old.lease, [], wake_at=None, wake_on_signals=[])
    store.record(new.lease, [entry(0, payload={"result": 1})])
    assert [e.seq for e in store.load_history("r").entries] == [0]
    assert store.renew_leases([old.lease, new.lease], 30) == [old.lease]


def test_expired_but_unclaimed_lease_cannot_write(store: Store) -> None:
    store.create_run(new_run("r"))
    claim = claim_one(store, lease=0.05)
    time.sleep(0.1)
    with pytest.raises(LeaseLost):
        store.record(claim.lease, [entry(0)])
    assert store.renew_leases([claim.lease], 30) == [claim.lease]


def test_renew_extends_the_lease(store: Store) -> None:
    store.create_run(new_run("r"))
    claim = claim_one(store, lease=0.3)
    for _ in range(3):
        time.sleep(0.15)
        assert store.renew_leases([claim.lease], 0.3) == []
    store.record(claim.lease, [entry(0)])


def test_journal_rows_are_replaced_in_place_and_read_in_order(store: Store) -> None:
    store.create_run(new_run("r"))
    claim = claim_one(store)
    store.record(claim.lease, [entry(1, JournalKind.TIMER, "sleep", {"fire_at": 1}), entry(0)])
    store.record(claim.lease, [entry(2, JournalKind.ACTIVITY_RETRY, "b", {"attempt": 1})])
    store.record(claim.lease, [entry(2, JournalKind.ACTIVITY, "b", {"result": 2})])
    history = store.load_history("r")
    assert [(e.seq, e.kind) for e in history.entries] == [
        (0, JournalKind.ACTIVITY),
        (1, JournalKind.TIMER),
        (2, JournalKind.ACTIVITY),
    ]
    assert json.loads(history.entries[2].payload_json or "") == {"result": 2}


def test_finish_completes_and_releases(store: Store) -> None:
    store.create_run(new_run("r"))
    claim = claim_one(store)
    store.finish(claim.lease, [entry(0)], status="completed", output_json='"ok"', error_json=None)
    run = store.get_run("r")
    assert run is not None
    assert (run.status, run.output_json, run.lease_owner) == ("completed", '"ok"', None)
    assert store.claim_runs("n1", limit=5, lease_seconds=30, versions=[V1], known=True) == []
    assert store.cancel_run("r") == []


def test_suspend_until_a_time(store: Store) -> None:
    store.create_run(new_run("r"))
    claim = claim_one(store)
    store.suspend(claim.lease, [], wake_at=store.now() + 0.15, wake_on_signals=[])
    run = store.get_run("r")
    assert run is not None and run.status == RunStatus.SUSPENDED and run.lease_owner is None
    assert store.claim_runs("n1", limit=5, lease_seconds=30, versions=[V1], known=True) == []
    due_in = store.next_due_in([V1])
    assert due_in is not None and 0 < due_in <= 0.15
    time.sleep(0.2)
    assert len(store.claim_runs("n1", limit=5, lease_seconds=30, versions=[V1], known=True)) == 1


def test_signal_wakes_a_suspended_run_and_is_consumed_once(store: Store) -> None:
    store.create_run(new_run("r"))
    claim = claim_one(store)
    store.suspend(claim.lease, [], wake_at=None, wake_on_signals=["go"])
    assert store.next_due_in([V1]) is None
    store.send_signal("r", "go", '{"x":1}')
    claim = claim_one(store)
    [signal] = store.load_history("r").pending_signals
    assert (signal.name, signal.payload_json) == ("go", '{"x":1}')
    store.record(
        claim.lease, [entry(0, JournalKind.SIGNAL, "go", {}, consumes_signal=signal.signal_id)]
    )
    assert store.load_history("r").pending_signals == []


def test_any_signal_during_an_attempt_wakes_the_run_once_after_it(store: Store) -> None:
    # The run cannot tell which signal arrived while it ran, so it looks once more.
    store.create_run(new_run("r"))
    claim = claim_one(store)
    store.send_signal("r", "other", "null")
    store.suspend(claim.lease, [], wake_at=None, wake_on_signals=["go"])
    again = claim_one(store)
    store.suspend(again.lease, [], wake_at=None, wake_on_signals=["go"])
    assert store.claim_runs("n1", limit=5, lease_seconds=30, versions=[V1], known=True) == []


def test_a_taken_signal_cannot_be_taken_again(store: Store) -> None:
    store.create_run(new_run("r"))
    store.send_signal("r", "go", "1")
    claim = claim_one(store)
    [signal] = store.load_history("r").pending_signals
    take = entry(0, JournalKind.SIGNAL, "go", {}, consumes_signal=signal.signal_id)
    store.record(claim.lease, [take])
    with pytest.raises(StoreError, match="already consumed"):
        store.record(
            claim.lease, [entry(1, JournalKind.SIGNAL, "go", {}, consumes_signal=signal.signal_id)]
        )
    assert [e.seq for e in store.load_history("r").entries] == [0]  # nothing of it written


def test_only_a_claim_of_a_run_that_never_ran_is_fresh(store: Store) -> None:
    store.create_run(new_run("r"))
    first = claim_one(store, lease=0.2)
    assert first.fresh
    time.sleep(0.3)  # the lease expires: claimed again, and it may have a journal now
    again = claim_one(store)
    assert not again.fresh
    store.release(again.lease, delay=0)
    assert not claim_one(store).fresh


def test_one_batch_of_writes_keeps_each_outcome_apart(store: Store) -> None:
    for run_id in ("record", "stale", "finish", "suspend", "taken", "wakes"):
        store.create_run(new_run(run_id))
    store.send_signal("taken", "go", "1")
    claims = {
        c.run.run_id: c
        for c in store.claim_runs("n1", limit=10, lease_seconds=30, versions=[V1], known=True)
    }
    store.send_signal("wakes", "go", "2")  # after the claim: pending, and it marks the run
    [signal] = store.load_history("taken").pending_signals
    take = entry(0, JournalKind.SIGNAL, "go", {}, consumes_signal=signal.signal_id)
    store.record(claims["taken"].lease, [take])
    stale = Lease("stale", "n1", claims["stale"].lease.token + 1, claims["stale"].lease.nonce)
    outcomes = store.apply_writes(
        [
            Write(claims["record"].lease, [entry(0), entry(1)]),
            Write(stale, [entry(0)]),
            Write(claims["finish"].lease, [entry(0)], WriteOutcome.COMPLETED, output_json='"done"'),
            Write(
                claims["suspend"].lease, [entry(0)], WriteOutcome.SUSPENDED, wake_on_signals=["go"]
            ),
            Write(
                claims["taken"].lease,
                [entry(1, JournalKind.SIGNAL, "go", {}, consumes_signal=signal.signal_id)],
            ),
            Write(claims["wakes"].lease, [], WriteOutcome.SUSPENDED, wake_on_signals=["go"]),
        ]
    )
    assert outcomes[5] is None
    assert outcomes[0] is None and outcomes[2] is None and outcomes[3] is None
    assert isinstance(outcomes[1], LeaseLost)
    assert isinstance(outcomes[4], StoreError) and not isinstance(outcomes[4], LeaseLost)
    history = {run_id: [e.seq for e in store.load_history(run_id).entries] for run_id in claims}
    assert history == {
        "record": [0, 1],
        "stale": [],
        "finish": [0],
        "suspend": [0],
        "taken": [0],
        "wakes": [],
    }
    statuses = {run_id: store.get_run(run_id).status for run_id in claims}  # type: ignore[union-attr]
    assert statuses == {
        "record": RunStatus.RUNNING,
        "stale": RunStatus.RUNNING,
        "finish": RunStatus.COMPLETED,
        "suspend": RunStatus.SUSPENDED,
        "taken": RunStatus.RUNNING,
        "wakes": RunStatus.SUSPENDED,
    }
    assert store.get_run("finish").output_json == '"done"'  # type: ignore[union-attr]
    # the run with its signal waiting is due at once; the other waits for one
    due = store.claim_runs("n2", limit=10, lease_seconds=30, versions=[V1], known=True)
    assert [c.run.run_id for c in due] == ["wakes"]


def test_concurrent_writers_all_land(store: Store) -> None:
    ids = [f"r{i}" for i in range(12)]
    for run_id in ids:
        store.create_run(new_run(run_id))
    claims = store.claim_runs("n1", limit=12, lease_seconds=30, versions=[V1], known=True)
    errors: list[BaseException] = []

    def attempt(claim) -> None:
        try:
            for seq in range(5):
                store.record(claim.lease, [entry(seq)])
            store.finish(
                claim.lease, [entry(5)], status="completed", output_json="1", error_json=None
            )
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=attempt, args=(claim,)) for claim in claims]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert errors == []
    for run_id in ids:
        assert store.get_run(run_id).status == RunStatus.COMPLETED  # type: ignore[union-attr]
        assert [e.seq for e in store.load_history(run_id).entries] == list(range(6))


def test_journaled_steps_leave_the_run_row_as_it_is(store: Store) -> None:
    store.create_run(new_run("r"))
    claim = claim_one(store)
    claimed = store.get_run("r")
    time.sleep(0.01)
    store.record(claim.lease, [entry(0)])
    assert store.get_run("r") == claimed
    store.finish(claim.lease, [entry(1)], status="completed", output_json="1", error_json=None)
    ended = store.get_run("r")
    assert ended is not None and claimed is not None and ended.updated_at > claimed.updated_at


def test_finish_takes_only_an_end_status(store: Store) -> None:
    store.create_run(new_run("r"))
    claim = claim_one(store)
    with pytest.raises(ValueError, match="completed, failed or cancelled"):
        store.finish(claim.lease, [], status="suspended", output_json=None, error_json=None)
    assert store.get_run("r").status == RunStatus.RUNNING  # type: ignore[union-attr]


def test_cancel_revokes_the_lease(store: Store) -> None:
    store.create_run(new_run("r"))
    claim = claim_one(store)
    [cancelled] = store.cancel_run("r")
    assert cancelled.status == RunStatus.CANCELLED
    with pytest.raises(LeaseLost):
        store.record(claim.lease, [entry(0)])
    assert store.cancel_run("r") == []
    assert store.cancel_run("missing") == []


def test_release_makes_the_run_due_again_after_a_delay(store: Store) -> None:
    store.create_run(new_run("r"))
    claim = claim_one(store)
    store.release(claim.lease, delay=0.15)
    run = store.get_run("r")
    assert run is not None and run.status == RunStatus.SUSPENDED and run.lease_owner is None
    assert store.claim_runs("n1", limit=5, lease_seconds=30, versions=[V1], known=True) == []
    time.sleep(0.2)
    again = claim_one(store)
    store.release(claim.lease, delay=0)  # a stale token does nothing
    assert store.get_run("r").status == RunStatus.RUNNING  # type: ignore[union-attr]
    assert again.lease.token > claim.lease.token


def test_versions_registry_and_stuck_runs(store: Store, backend_url: str) -> None:
    store.create_run(new_run("stuck"))
    store.create_run(new_run("other", V2))
    _force_status(backend_url, "stuck", "stuck_unknown_version")
    _force_status(backend_url, "other", "stuck_unknown_version")
    record = VersionRecord(V1[0], V1[1], 3, "app.flows", "Order.V_aaaaaaaaaaaaaaaa")
    assert store.register_versions("orders", "node-a", [record]) == 1
    assert store.get_run("stuck").status == RunStatus.SUSPENDED  # type: ignore[union-attr]
    assert store.get_run("other").status == RunStatus.STUCK_UNKNOWN_VERSION  # type: ignore[union-attr]
    assert len(store.claim_runs("n", limit=5, lease_seconds=30, versions=[V1], known=True)) == 1
    store.register_versions("orders", "node-b", [record])
    [row] = store.list_versions()
    assert (row.workflow, row.version_hash, row.version, row.module) == (*V1, 3, "app.flows")
    assert row.first_seen_at <= row.last_seen_at
    assert sorted((h.instance, h.node) for h in row.loaded_by) == [
        ("orders", "node-a"),
        ("orders", "node-b"),
    ]
    store.unregister_node("orders", "node-a")
    [row] = store.list_versions()
    assert [(h.instance, h.node) for h in row.loaded_by] == [("orders", "node-b")]


def test_a_newer_schema_is_refused(store: Store, backend_url: str) -> None:
    raw_sql(
        backend_url,
        "INSERT INTO continuum_schema_migrations (version, name) VALUES (999, 'future')",
    )
    with pytest.raises(SchemaError, match="newer than this release"):
        store.migrate()


def _force_status(url: str, run_id: str, status: str) -> None:
    # Older releases wrote this status; no current code path does.
    raw_sql(url, "UPDATE continuum_runs SET status = ? WHERE id = ?", (status, run_id))


@pytest.mark.parametrize("next_node", ["n2", "n1"])
def test_a_claim_the_database_lost_can_never_write(
    store: Store, backend_url: str, next_node: str
) -> None:
    """A claim acknowledged but lost in a crash (it never reached the disk) leaves the
    row as it was, so the next claim hands out the same token number, even to the
    same node. The nonce each claim draws is what the stale holder cannot present."""
    store.create_run(new_run("r"))
    lost = claim_one(store, "n1")
    raw_sql(  # the crash: the row is back as it was before the claim
        backend_url,
        "UPDATE continuum_runs SET status = 'pending', lease_owner = NULL, lease_token = ?, "
        "lease_nonce = 0, lease_expires_at = NULL, available_at = created_at WHERE id = 'r'",
        (lost.lease.token - 1,),
    )
    current = claim_one(store, next_node)
    assert current.lease.token == lost.lease.token
    assert current.lease.nonce != lost.lease.nonce

    with pytest.raises(LeaseLost):
        store.record(lost.lease, [entry(0, payload={"result": "stale"})])
    with pytest.raises(LeaseLost):
        store.finish(lost.lease, [], status="completed", output_json='"stale"', error_json=None)
    with pytest.raises(LeaseLost):
        store.suspend(lost.lease, [], wake_at=None, wake_on_signals=())
    assert store.renew_leases([lost.lease, current.lease], 30) == [lost.lease]
    store.release(lost.lease, delay=0)  # refused without a word: handing back is best effort
    outcomes = store.apply_writes(  # in one batch beside the rightful holder's write
        [
            Write(lost.lease, [entry(0, payload={"result": "stale"})]),
            Write(current.lease, [entry(0, payload={"result": "current"})]),
        ]
    )
    assert isinstance(outcomes[0], LeaseLost) and outcomes[1] is None

    run = store.get_run("r")
    assert run is not None and run.status == RunStatus.RUNNING
    assert (run.lease_owner, run.lease_token) == (next_node, current.lease.token)
    [written] = store.load_history("r").entries
    assert json.loads(written.payload_json or "null") == {"result": "current"}
    store.finish(current.lease, [], status="completed", output_json='"ok"', error_json=None)
    assert store.get_run("r").status == RunStatus.COMPLETED  # type: ignore[union-attr]


def test_signal_delivery_ids_drop_repeats(store: Store) -> None:
    store.create_run(new_run("r"))
    assert store.send_signal("r", "go", "1", delivery_id="d1") == "sent"
    assert store.send_signal("r", "go", "1", delivery_id="d1") == "duplicate"
    assert store.send_signal("r", "go", "2", delivery_id="d2") == "sent"
    assert store.send_signal("r", "go", "3") == "sent"  # no id: always kept
    assert store.send_signal("r", "go", "3") == "sent"
    pending = store.load_history("r").pending_signals
    assert [s.payload_json for s in pending] == ["1", "2", "3", "3"]
    assert store.send_signal("missing", "go", "1", delivery_id="d1") == "missing"
    store.create_run(new_run("other"))  # ids are per run
    assert store.send_signal("other", "go", "1", delivery_id="d1") == "sent"
    claim = claim_one(store)
    store.finish(claim.lease, [], status="completed", output_json="null", error_json=None)
    ended = claim.run.run_id
    assert store.send_signal(ended, "go", "1", delivery_id="late") == "ended"
    # a retry of a delivery that had arrived before the run ended is still a repeat
    assert store.send_signal(ended, "go", "1", delivery_id="d1") == "duplicate"


def test_concurrent_sends_of_one_delivery_keep_one(store: Store, backend_url: str) -> None:
    store.create_run(new_run("r"))
    senders = 8
    barrier = threading.Barrier(senders)
    answers: list[str] = []
    lock = threading.Lock()

    def send() -> None:
        other = open_store(backend_url)  # a connection of its own, as another client
        try:
            barrier.wait()
            answer = other.send_signal("r", "go", "1", delivery_id="same")
            with lock:
                answers.append(answer)
        finally:
            other.close()

    threads = [threading.Thread(target=send) for _ in range(senders)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(answers) == ["duplicate"] * (senders - 1) + ["sent"]
    assert len(store.load_history("r").pending_signals) == 1
