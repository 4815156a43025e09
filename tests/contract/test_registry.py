"""The versions registry and the reports behind `continuum versions` (both backends)."""

from __future__ import annotations

import json

from continuum.store import JournalEntry, NewRun, Store, VersionRecord
from tests.contract.test_store import claim_one

V1 = ("wf.Order", "aaaaaaaaaaaaaaaa")
V2 = ("wf.Order", "bbbbbbbbbbbbbbbb")


def record(version: tuple[str, str], source: str | None = None, frozen: bool = False):  # type: ignore[no-untyped-def]
    return VersionRecord(version[0], version[1], 1, "wf", "Order.V_x", source, frozen)


def run(store: Store, run_id: str, version: tuple[str, str] = V1) -> None:
    store.create_run(NewRun(run_id, version[0], version[1], 1, "null"))


def test_sources_are_kept_and_holders_say_how_they_hold(store: Store) -> None:
    store.register_versions("orders", "node-a", [record(V1, "class Order: ...")])
    store.register_versions("orders", "node-b", [record(V1, None, frozen=True)])
    store.register_versions("cli", "laptop", [record(V1)], dispatching=False)
    assert store.version_source(*V1) == "class Order: ..."  # not erased by a None
    assert store.version_source(*V2) is None
    [row] = store.list_versions()
    holders = {(h.instance, h.node): (h.dispatching, h.frozen) for h in row.loaded_by}
    assert holders == {
        ("orders", "node-a"): (True, False),
        ("orders", "node-b"): (True, True),
        ("cli", "laptop"): (False, False),
    }


def test_version_usage_counts_runs_by_status_in_one_read(store: Store) -> None:
    for i in range(3):
        run(store, f"a{i}")
    run(store, "b0", V2)
    claim = claim_one(store)
    store.finish(claim.lease, [], status="completed", output_json="null", error_json=None)
    usage = {(u.workflow, u.version_hash): u for u in store.version_usage()}
    assert dict(usage[V1].counts) == {"pending": 2, "completed": 1}
    assert dict(usage[V2].counts) == {"pending": 1}
    assert usage[V1].oldest_live is not None and usage[V1].oldest_live <= store.now()


def test_patch_usage_counts_live_runs_with_and_without_a_marker(store: Store) -> None:
    for run_id in ("with", "without", "ended"):
        run(store, run_id)
    claims = {c.run.run_id: c for c in store.claim_runs(
        "n", limit=3, lease_seconds=30, versions=[V1], known=True)}  # fmt: skip
    patch = JournalEntry(0, "patch", "fast-ship", None)
    store.record(claims["with"].lease, [patch])
    store.record(claims["ended"].lease, [patch])
    store.finish(claims["ended"].lease, [], status="completed", output_json="1", error_json=None)
    [usage] = store.patch_usage()
    assert (usage.workflow, usage.patch_id) == ("wf.Order", "fast-ship")
    assert (usage.live_with, usage.live_without) == (1, 1)  # the ended run counts for neither


def test_delete_versions_never_removes_one_a_live_run_needs(store: Store) -> None:
    store.register_versions("orders", "node-a", [record(V1), record(V2)])
    run(store, "live", V2)
    assert store.delete_versions([V1, V2]) == [V1]
    assert [(r.workflow, r.version_hash) for r in store.list_versions()] == [V2]
    assert store.list_versions()[0].loaded_by  # its holders stay with it


def test_repin_moves_a_run_only_if_nothing_happened_to_it_since_it_was_read(
    store: Store,
) -> None:
    run(store, "r")
    claim = claim_one(store)
    store.suspend(claim.lease, [], wake_at=None, wake_on_signals=["go"])
    read = store.get_run("r")
    assert read is not None and read.status == "suspended"
    store.send_signal("r", "other", json.dumps(1))  # a signal lands after the check
    expected = {"lease_token": read.lease_token, "updated_at": read.updated_at}
    moved = store.repin_run("r", from_hash=V1[1], to_hash=V2[1], to_version=2, **expected)
    assert moved is False
    assert store.get_run("r").version_hash == V1[1]  # type: ignore[union-attr]

    fresh = store.get_run("r")
    assert fresh is not None
    expected = {"lease_token": fresh.lease_token, "updated_at": fresh.updated_at}
    assert store.repin_run("r", from_hash=V1[1], to_hash=V2[1], to_version=2, **expected)
    moved_run = store.get_run("r")
    assert moved_run is not None
    assert (moved_run.version_hash, moved_run.version, moved_run.status) == (V2[1], 2, "suspended")
    # a second migration from the old hash finds nothing to move
    assert not store.repin_run("r", from_hash=V1[1], to_hash=V2[1], to_version=2, **expected)


def test_the_journal_for_people_carries_when_each_entry_was_written(store: Store) -> None:
    run(store, "r")
    claim = claim_one(store)
    before = store.now()
    store.record(claim.lease, [JournalEntry(0, "activity", "a", '{"result": 1}')])
    store.record(claim.lease, [JournalEntry(1, "timer", "sleep", '{"fire_at": 1}')])
    journal = store.load_journal("r")
    assert [(e.seq, e.kind, e.name) for e in journal] == [
        (0, "activity", "a"),
        (1, "timer", "sleep"),
    ]
    assert all(before - 5 <= e.recorded_at <= store.now() + 5 for e in journal)
    assert store.load_journal("missing") == []
