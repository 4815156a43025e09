"""The Store verbs behind the observer, `health` and retention, on every backend:
run lists by keyset, activity, signals, node heartbeats, health, and pruning."""

from __future__ import annotations

import json
from typing import Any

import pytest

from continuum.errors import ConfigurationError, ContinuumError
from continuum.store import JournalEntry, JournalKind, NewRun, RunStatus, Store, VersionRecord
from continuum.store.base import NodeRecord, RunCursor, RunFilter, RunRecord
from tests.conftest import raw_sql, wait_until

V1 = ("wf.Order", "aaaaaaaaaaaaaaaa")
V2 = ("wf.Order", "bbbbbbbbbbbbbbbb")
OTHER = ("wf.Refund", "cccccccccccccccc")
T0 = 1_700_000_000.5  # a time both backends hold exactly
ENDED = ("completed", "failed", "cancelled")


def new_run(run_id: str, version: tuple[str, str] = V1, trace: str | None = None) -> NewRun:
    return NewRun(run_id, version[0], version[1], 1, json.dumps({"id": run_id}), trace)


def stage(url: str, run_id: str, **columns: Any) -> None:
    """Set columns of a run as only time or older code would (times in seconds)."""
    at = "to_timestamp(?)" if url.startswith("postgres") else "?"
    sets = ", ".join(f"{c} = {at if c.endswith('_at') else '?'}" for c in columns)
    raw_sql(url, f"UPDATE continuum_runs SET {sets} WHERE id = ?", (*columns.values(), run_id))


def ids(runs: list[RunRecord]) -> list[str]:
    return [run.run_id for run in runs]


def walk(store: Store, where: RunFilter, page: int) -> list[str]:
    """Every run `where` matches, page by page; fails on a page that repeats a run."""
    seen: list[str] = []
    after = None
    while True:
        runs = store.query_runs(where, limit=page, after=after)
        assert len(runs) <= page
        assert not set(ids(runs)) & set(seen), "a page repeated a run"
        seen += ids(runs)
        if len(runs) < page:
            return seen
        after = RunCursor(runs[-1].created_at, runs[-1].run_id)


# -- run lists -------------------------------------------------------------------------


@pytest.fixture
def listed(store: Store, backend_url: str) -> list[str]:
    """Thirteen runs over three versions, every status and times, newest first; ties in
    created_at among r03..r06 and among r08..r10 (same time, different ids)."""
    layout = {  # run id: (version, status, created_at offset)
        "r00": (V1, "pending", 0),
        "r01": (V2, "completed", 10),
        "r02": (OTHER, "failed", 20),
        "r03": (V1, "completed", 30),
        "r04": (V2, "suspended", 30),
        "r05": (OTHER, "completed", 30),
        "r06": (V1, "failed", 30),
        "r07": (V1, "cancelled", 40),
        "r08": (OTHER, "running", 50),
        "r09": (V2, "completed", 50),
        "r10": (V1, "completed", 50),
        "r11": (V2, "suspended", 60),
        "r12": (V1, "stuck_unknown_version", 70),
    }
    for run_id, (version, status, offset) in layout.items():
        store.create_run(new_run(run_id, version))
        stage(backend_url, run_id, status=status, created_at=T0 + offset)
    return sorted(layout, key=lambda r: (layout[r][2], r), reverse=True)


def expected(store: Store, newest_first: list[str], keep: Any) -> list[str]:
    runs = {run_id: store.get_run(run_id) for run_id in newest_first}
    return [run_id for run_id in newest_first if keep(runs[run_id])]


def test_the_run_list_is_newest_first_by_created_at_then_id(
    store: Store, listed: list[str]
) -> None:
    assert ids(store.query_runs(RunFilter(), limit=100)) == listed
    assert listed[:5] == ["r12", "r11", "r10", "r09", "r08"]  # a tie broken by id, descending
    assert ids(store.query_runs(RunFilter(), limit=3)) == listed[:3]


@pytest.mark.parametrize("page", [1, 2, 3, 5, 12, 13])
def test_pages_across_ties_never_skip_or_repeat_a_run(
    store: Store, listed: list[str], page: int
) -> None:
    assert walk(store, RunFilter(), page) == listed


def test_a_cursor_at_the_end_gives_an_empty_page(store: Store, listed: list[str]) -> None:
    last = store.get_run(listed[-1])
    assert last is not None
    assert store.query_runs(RunFilter(), limit=5, after=RunCursor(last.created_at, "r00")) == []
    # a cursor between two runs of the same time starts after the one it names
    tied = RunCursor(T0 + 30, "r05")
    assert ids(store.query_runs(RunFilter(), limit=3, after=tied)) == ["r04", "r03", "r02"]
    # a cursor naming a run that no longer exists still starts at its place
    gone = RunCursor(T0 + 30, "r045")
    assert ids(store.query_runs(RunFilter(), limit=2, after=gone)) == ["r04", "r03"]


FILTERS = {
    "one status": (RunFilter(statuses=("completed",)), lambda r: r.status == "completed"),
    "statuses": (
        RunFilter(statuses=("suspended", "failed", "failed")),
        lambda r: r.status in ("suspended", "failed"),
    ),
    "workflow": (RunFilter(workflow="wf.Order"), lambda r: r.workflow == "wf.Order"),
    "version": (
        RunFilter(workflow=V2[0], version_hash=V2[1]),
        lambda r: (r.workflow, r.version_hash) == V2,
    ),
    "version hash alone": (RunFilter(version_hash=V1[1]), lambda r: r.version_hash == V1[1]),
    "created_after, inclusive": (
        RunFilter(created_after=T0 + 30),
        lambda r: r.created_at >= T0 + 30,
    ),
    "created_before, exclusive": (
        RunFilter(created_before=T0 + 30),
        lambda r: r.created_at < T0 + 30,
    ),
    "run id": (RunFilter(run_id="r04"), lambda r: r.run_id == "r04"),
    "workflow and statuses": (
        RunFilter(workflow="wf.Order", statuses=("completed", "suspended")),
        lambda r: r.workflow == "wf.Order" and r.status in ("completed", "suspended"),
    ),
    "statuses and a window": (
        RunFilter(statuses=("completed",), created_after=T0 + 10, created_before=T0 + 50),
        lambda r: r.status == "completed" and T0 + 10 <= r.created_at < T0 + 50,
    ),
    "version hash, status and a window": (
        RunFilter(version_hash=V1[1], statuses=("completed", "failed"), created_after=T0 + 30),
        lambda r: (
            r.version_hash == V1[1]
            and r.status in ("completed", "failed")
            and r.created_at >= T0 + 30
        ),
    ),
    "everything": (
        RunFilter(
            statuses=("suspended",),
            workflow=V2[0],
            version_hash=V2[1],
            created_after=T0,
            created_before=T0 + 60,
            run_id="r04",
        ),
        lambda r: r.run_id == "r04",
    ),
    "a run id that other filters exclude": (
        RunFilter(run_id="r04", statuses=("completed",)),
        lambda r: False,
    ),
    "nothing matches": (RunFilter(workflow="wf.Nothing"), lambda r: False),
}


@pytest.mark.parametrize("name", FILTERS)
def test_each_filter_alone_and_combined_pages_through_exactly_its_runs(
    store: Store, listed: list[str], name: str
) -> None:
    where, keep = FILTERS[name]
    want = expected(store, listed, keep)
    assert ids(store.query_runs(where, limit=100)) == want
    for page in (1, 2, 3):
        assert walk(store, where, page) == want


def test_natural_times_page_exactly(store: Store) -> None:
    """Times as the database writes them (microseconds on PostgreSQL) come back in a
    cursor that starts exactly after its run."""
    for i in range(9):
        store.create_run(new_run(f"n{i}", V1 if i % 2 else OTHER))
    everything = ids(store.query_runs(RunFilter(), limit=100))
    assert sorted(everything) == [f"n{i}" for i in range(9)]
    assert walk(store, RunFilter(), 2) == everything
    assert walk(store, RunFilter(workflow="wf.Order"), 2) == [
        r for r in everything if int(r[1]) % 2
    ]
    assert walk(store, RunFilter(statuses=("pending",)), 4) == everything


def test_an_unknown_status_is_refused_and_an_empty_page_asked_for_is_empty(
    store: Store, listed: list[str]
) -> None:
    with pytest.raises(ConfigurationError, match="unknown run status"):
        store.query_runs(RunFilter(statuses=("done",)), limit=10)
    assert store.query_runs(RunFilter(), limit=0) == []


def test_the_trace_context_is_kept_with_the_run(store: Store) -> None:
    traced, created = store.create_run(new_run("traced", trace='{"traceparent": "00-ab-cd-01"}'))
    assert created and traced.trace_context == '{"traceparent": "00-ab-cd-01"}'
    plain, _ = store.create_run(new_run("plain"))
    assert plain.trace_context is None
    leased, _ = store.create_run(new_run("leased", trace="t"), lease_to="n1", lease_seconds=30)
    assert leased.trace_context == "t"
    assert store.get_run("traced") == traced
    [claim] = store.claim_runs("n1", limit=5, lease_seconds=30, versions=[V1], known=True)[:1]
    assert claim.run.trace_context == store.get_run(claim.run.run_id).trace_context  # type: ignore[union-attr]
    [listed] = store.query_runs(RunFilter(run_id="traced"), limit=1)
    assert listed.trace_context == '{"traceparent": "00-ab-cd-01"}'


# -- activity ----------------------------------------------------------------------------


def test_activity_counts_runs_started_and_ended_per_bucket(store: Store, backend_url: str) -> None:
    since = store.now() - 3600
    layout = {  # run id: (status, created_at, updated_at), offsets from `since`
        "before": ("completed", -100, -50),  # neither started nor ended in the window
        "late": ("completed", -100, 1930),  # ended in bucket 3 only
        "a": ("completed", 10, 700),  # started in 0, ended in 1
        "b": ("failed", 20, 590),  # started and ended in 0
        "c": ("cancelled", 1250, 1260),  # both in 2
        "d": ("suspended", 1300, 1300),  # started in 2; not ended
        "g": ("running", 1310, 1310),
        "e": ("pending", 3010, 3010),  # started in 5 (4 is empty)
        "f": ("completed", 3020, 3030),
        "h": ("stuck_unknown_version", 3040, 3040),
    }
    for run_id, (status, created, updated) in layout.items():
        store.create_run(new_run(run_id))
        stage(
            backend_url,
            run_id,
            status=status,
            created_at=since + created,
            updated_at=since + updated,
        )
    buckets = store.run_activity(since=since, bucket_seconds=600)
    assert [tuple(b) for b in buckets] == [
        (since, 2, 0, 1, 0),
        (since + 600, 0, 1, 0, 0),
        (since + 1200, 3, 0, 0, 1),
        (since + 1800, 0, 1, 0, 0),
        (since + 3000, 3, 1, 0, 0),
    ]
    assert store.run_activity(since=store.now() + 10, bucket_seconds=60) == []
    with pytest.raises(ConfigurationError):
        store.run_activity(since=since, bucket_seconds=0)


# -- signals -----------------------------------------------------------------------------


def test_every_signal_of_a_run_is_listed_in_the_order_sent(store: Store) -> None:
    store.create_run(new_run("r"))
    store.create_run(new_run("other"))
    before = store.now()
    assert store.send_signal("r", "go", '{"n":1}') == "sent"
    assert store.send_signal("r", "stop", "2", delivery_id="d-2") == "sent"
    assert store.send_signal("r", "stop", "2", delivery_id="d-2") == "duplicate"
    assert store.send_signal("other", "go", "3") == "sent"
    assert store.send_signal("r", "go", "null") == "sent"
    claims = store.claim_runs("n1", limit=2, lease_seconds=30, versions=[V1], known=True)
    [claim] = [c for c in claims if c.run.run_id == "r"]
    first = store.load_history("r").pending_signals[0]
    store.record(
        claim.lease,
        [JournalEntry(4, JournalKind.SIGNAL, "go", "{}", consumes_signal=first.signal_id)],
    )
    signals = store.list_signals("r")
    assert [(s.name, s.payload_json, s.consumed_seq, s.delivery_id) for s in signals] == [
        ("go", '{"n":1}', 4, None),
        ("stop", "2", None, "d-2"),
        ("go", "null", None, None),
    ]
    assert [s.signal_id for s in signals] == sorted(s.signal_id for s in signals)
    assert all(before - 1 <= s.sent_at <= store.now() + 1 for s in signals)
    assert [s.payload_json for s in store.list_signals("other")] == ["3"]
    assert store.list_signals("missing") == []


# -- nodes -------------------------------------------------------------------------------


def beat(store: Store, instance: str, node: str, **changes: Any) -> None:
    fields: dict[str, Any] = {
        "hostname": "host-a",
        "pid": 100,
        "dispatching": True,
        "concurrency": 8,
        "in_flight": 0,
        "listener": "listening",
    }
    store.heartbeat_node(instance, node, **(fields | changes))


def later_than(store: Store, moment: float) -> None:
    wait_until(lambda: store.now() > moment, timeout=5, what="the database clock to move")


def test_heartbeats_upsert_a_row_per_node_and_keep_when_it_started(store: Store) -> None:
    assert store.list_nodes() == []
    beat(store, "orders", "n1")
    [first] = store.list_nodes()
    at = first.started_at
    assert first == NodeRecord("orders", "n1", "host-a", 100, at, at, True, 8, 0, "listening")
    assert abs(first.started_at - store.now()) < 5
    later_than(store, first.heartbeat_at)
    beat(store, "orders", "n1", in_flight=5, listener="reconnecting", dispatching=False)
    [again] = store.list_nodes()
    assert again.started_at == first.started_at and again.heartbeat_at > first.heartbeat_at
    assert (again.in_flight, again.listener, again.dispatching) == (5, "reconnecting", False)
    # another process under the same name has started anew
    later_than(store, again.heartbeat_at)
    beat(store, "orders", "n1", pid=200)
    [restarted] = store.list_nodes()
    assert restarted.pid == 200 and restarted.started_at > first.started_at


def test_nodes_are_listed_most_recently_seen_first_and_unregistering_removes_one(
    store: Store,
) -> None:
    for instance, node in (("orders", "n1"), ("orders", "n2"), ("billing", "n1")):
        beat(store, instance, node)
        later_than(store, max(n.heartbeat_at for n in store.list_nodes()))
    assert [(n.instance, n.node) for n in store.list_nodes()] == [
        ("billing", "n1"),
        ("orders", "n2"),
        ("orders", "n1"),
    ]
    beat(store, "orders", "n1")
    newest = store.list_nodes()[0]
    assert (newest.instance, newest.node) == ("orders", "n1")
    record = VersionRecord(V1[0], V1[1], 1, "app", "Order")
    store.register_versions("orders", "n1", [record])
    store.unregister_node("orders", "n1")
    assert [(n.instance, n.node) for n in store.list_nodes()] == [
        ("billing", "n1"),
        ("orders", "n2"),
    ]
    assert store.list_versions()[0].loaded_by == ()


def test_nodes_silent_for_a_week_are_forgotten_by_the_next_beat(
    store: Store, backend_url: str
) -> None:
    beat(store, "orders", "gone")
    beat(store, "orders", "quiet")
    at = "to_timestamp(?)" if backend_url.startswith("postgres") else "?"
    now = store.now()
    for node, age in (("gone", 8 * 86400), ("quiet", 6 * 86400)):
        raw_sql(
            backend_url,
            f"UPDATE continuum_nodes SET heartbeat_at = {at} WHERE node = ?",
            (now - age, node),
        )
    beat(store, "orders", "alive")
    assert sorted(n.node for n in store.list_nodes()) == ["alive", "quiet"]


# -- health ------------------------------------------------------------------------------


def health(store: Store, **options: float) -> Any:
    settings = {"grace": 0.0, "overdue_after": 600.0, "alive_within": 60.0} | options
    return store.store_health(**settings)  # type: ignore[arg-type]


def test_health_of_an_empty_database(store: Store) -> None:
    report = health(store)
    assert (report.expired, report.expired_examples, report.overdue) == (0, (), 0)
    assert (report.overdue_examples, report.oldest_due, report.stranded) == ((), None, ())
    assert store.due_backlog() == (0, None)


def test_health_counts_leases_that_expired_unrecovered(store: Store) -> None:
    store.create_run(new_run("lapsed"))
    store.create_run(new_run("held"))
    store.claim_runs("n1", limit=1, lease_seconds=0.05, versions=[V1], known=True)
    store.claim_runs("n1", limit=1, lease_seconds=600, versions=[V1], known=True)
    report = wait_until(
        lambda: (r := health(store)).expired and r, timeout=10, what="the short lease to lapse"
    )
    assert (report.expired, report.expired_examples) == (1, ("lapsed",))
    assert health(store, grace=3600).expired == 0  # within the grace a node may recover it


def test_health_counts_overdue_runs_and_the_oldest_due_one(store: Store, backend_url: str) -> None:
    now = store.now()
    for i in range(7):
        store.create_run(new_run(f"late{i}"))
        stage(backend_url, f"late{i}", available_at=now - 1000 - i)
    store.create_run(new_run("fresh"))  # due now: not overdue
    store.create_run(new_run("later"))
    stage(backend_url, "later", status="suspended", available_at=now + 3600)
    store.create_run(new_run("waiting"))
    stage(backend_url, "waiting", status="suspended", available_at=None)
    report = store.store_health(grace=0, overdue_after=600, alive_within=60, examples=3)
    assert report.overdue == 7
    assert report.overdue_examples == ("late6", "late5", "late4")  # most overdue first
    assert report.oldest_due == pytest.approx(now - 1006, abs=0.001)
    assert health(store, overdue_after=5000).overdue == 0
    quiet = store.store_health(grace=0, overdue_after=600, alive_within=60, examples=0)
    assert (quiet.overdue, quiet.overdue_examples) == (7, ())
    count, oldest = store.due_backlog()
    assert count == 8 and oldest == pytest.approx(now - 1006, abs=0.001)


def test_health_names_versions_that_no_live_node_holds(store: Store, backend_url: str) -> None:
    store.create_run(new_run("a1"))
    store.create_run(new_run("a2"))
    store.create_run(new_run("b1", V2))
    store.create_run(new_run("done", OTHER))
    store.cancel_run("done")  # ended runs strand nothing
    assert health(store).stranded == ((*V1, 2), (*V2, 1))
    v1 = VersionRecord(V1[0], V1[1], 1, "app", "Order")
    v2 = VersionRecord(V2[0], V2[1], 2, "app", "Order")
    store.register_versions("orders", "n1", [v1])
    store.register_versions("orders", "client", [v2], dispatching=False)  # runs nothing
    assert health(store).stranded == ((*V2, 1),)
    at = "to_timestamp(?)" if backend_url.startswith("postgres") else "?"
    raw_sql(
        backend_url,
        f"UPDATE continuum_workflow_version_nodes SET last_seen_at = {at} WHERE node = 'n1'",
        (store.now() - 120,),
    )
    assert health(store, alive_within=60).stranded == ((*V1, 2), (*V2, 1))
    assert health(store, alive_within=600).stranded == ((*V2, 1),)


def test_the_due_backlog_counts_only_runs_due_and_unclaimed(store: Store, backend_url: str) -> None:
    assert store.due_backlog() == (0, None)
    store.create_run(new_run("r1"))
    store.create_run(new_run("r2"))
    store.create_run(new_run("asleep"))
    stage(backend_url, "asleep", status="suspended", available_at=store.now() + 600)
    first = store.get_run("r1")
    assert first is not None and first.available_at is not None
    count, oldest = store.due_backlog()
    assert count == 2 and oldest == pytest.approx(first.available_at, abs=0.001)
    store.claim_runs("n1", limit=1, lease_seconds=60, versions=[V1], known=True)
    assert store.due_backlog()[0] == 1


# -- pruning -----------------------------------------------------------------------------


@pytest.fixture
def finished(store: Store, backend_url: str) -> float:
    """Runs that ended long ago and lately, of two workflows, and live runs just as
    old; returns the cut-off time between them. `old-done` has a journal and signals."""
    now = store.now()
    runs = {  # run id: (version, status, ended seconds ago)
        "old-done": (V1, "completed", 9 * 86400),
        "old-failed": (V2, "failed", 8 * 86400),
        "old-cancelled": (V1, "cancelled", 10 * 86400),
        "old-other": (OTHER, "completed", 11 * 86400),
        "new-done": (V1, "completed", 3600),
        "old-running": (V1, "running", 9 * 86400),
        "old-waiting": (V1, "suspended", 9 * 86400),
        "old-stuck": (V1, "stuck_unknown_version", 9 * 86400),
    }
    store.create_run(new_run("old-done"))
    store.send_signal("old-done", "go", "1", delivery_id="d1")
    store.send_signal("old-done", "go", "2")
    [claim] = store.claim_runs("n1", limit=1, lease_seconds=60, versions=[V1], known=True)
    [signal, _] = store.load_history("old-done").pending_signals
    entries = [
        JournalEntry(0, JournalKind.ACTIVITY, "a", '{"result": 1}'),
        JournalEntry(1, JournalKind.SIGNAL, "go", "{}", consumes_signal=signal.signal_id),
    ]
    store.finish(claim.lease, entries, status="completed", output_json="1", error_json=None)
    for run_id, (version, status, ago) in runs.items():
        store.create_run(new_run(run_id, version))
        stage(backend_url, run_id, status=status, updated_at=now - ago)
    return now - 7 * 86400


def remaining(store: Store) -> set[str]:
    return set(ids(store.query_runs(RunFilter(), limit=100)))


def test_prune_deletes_only_runs_that_ended_before_the_cutoff(
    store: Store, finished: float, backend_url: str
) -> None:
    everything = remaining(store)
    assert store.count_prunable(finished_before=finished, statuses=ENDED) == 4
    assert store.prune_runs(finished_before=finished, statuses=ENDED, limit=100) == 4
    assert remaining(store) == everything - {
        "old-done",
        "old-failed",
        "old-cancelled",
        "old-other",
    }
    assert store.count_prunable(finished_before=finished, statuses=ENDED) == 0
    assert store.prune_runs(finished_before=finished, statuses=ENDED, limit=100) == 0
    # the journal and the signals went with the run
    assert raw_sql(backend_url, "SELECT count(*) FROM continuum_journal")[0][0] == 0
    assert store.list_signals("old-done") == []
    assert raw_sql(backend_url, "SELECT count(*) FROM continuum_signals")[0][0] == 0


def test_prune_takes_only_the_statuses_and_workflows_given(store: Store, finished: float) -> None:
    only = {"finished_before": finished, "workflows": ["wf.Order"]}
    assert store.count_prunable(statuses=["completed"], **only) == 1  # not old-other
    assert store.prune_runs(statuses=["completed"], limit=10, **only) == 1
    assert "old-done" not in remaining(store) and "old-other" in remaining(store)
    assert store.prune_runs(statuses=["failed", "cancelled"], limit=10, **only) == 2
    assert store.prune_runs(statuses=ENDED, workflows=[], limit=10, finished_before=finished) == 0
    others = {"workflows": ["wf.Refund", "wf.None"], "finished_before": finished}
    assert store.prune_runs(statuses=ENDED, limit=10, **others) == 1
    assert store.count_prunable(finished_before=finished, statuses=ENDED) == 0
    with pytest.raises(ConfigurationError, match="not the string"):
        store.prune_runs(statuses=ENDED, workflows="wf.Order", limit=10, finished_before=finished)


def test_prune_respects_the_limit_oldest_first(store: Store, finished: float) -> None:
    order = ["old-other", "old-cancelled", "old-done", "old-failed"]  # oldest ended first
    for n in range(len(order)):
        assert store.prune_runs(finished_before=finished, statuses=ENDED, limit=1) == 1
        assert remaining(store).isdisjoint(order[: n + 1])
        assert set(order[n + 1 :]) <= remaining(store)
    assert store.prune_runs(finished_before=finished, statuses=ENDED, limit=0) == 0


def test_prune_of_several_workflows_takes_each_oldest_first_in_name_order(
    store: Store, finished: float
) -> None:
    both = {"finished_before": finished, "statuses": ENDED, "workflows": ["wf.Refund", "wf.Order"]}
    assert store.count_prunable(**both) == 4  # type: ignore[arg-type]
    assert store.prune_runs(limit=2, **both) == 2  # type: ignore[arg-type]
    assert remaining(store).isdisjoint({"old-cancelled", "old-done"})  # wf.Order, 10 and 9 days
    assert {"old-failed", "old-other"} <= remaining(store)
    assert store.prune_runs(limit=2, **both) == 2  # type: ignore[arg-type]
    assert store.prune_runs(limit=5, **both) == 0  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "statuses", [["completed", "running"], ["suspended"], ["stuck_unknown_version"], "completed"]
)
def test_prune_refuses_a_status_that_has_not_ended_and_deletes_nothing(
    store: Store, finished: float, statuses: Any
) -> None:
    everything = remaining(store)
    with pytest.raises(ContinuumError, match=r"nothing was deleted|not the string"):
        store.prune_runs(finished_before=finished, statuses=statuses, limit=100)
    with pytest.raises(ConfigurationError):
        store.count_prunable(finished_before=finished, statuses=statuses)
    assert remaining(store) == everything
    assert store.get_run("old-running").status == RunStatus.RUNNING  # type: ignore[union-attr]
