"""Many nodes on one PostgreSQL server, as real processes (SPEC 4 and 5, chaos)."""

from __future__ import annotations

import json
import random
import signal
import subprocess
import time
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

import continuum
from continuum.store.postgres import MIGRATIONS
from tests.acceptance import proc_flows
from tests.acceptance.conftest import lines, wait_ready
from tests.acceptance.rolling import v1, v2
from tests.conftest import BACKENDS, wait_until
from tests.pgcluster import PostgresCluster

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif("postgres" not in BACKENDS, reason="PostgreSQL tests disabled"),
]
Spawn = Callable[..., subprocess.Popen[str]]
BOTH = "tests.acceptance.rolling.v1,tests.acceptance.rolling.v2"
ONLY_V2 = "tests.acceptance.rolling.v2"


def events(path: Path, name: str) -> list[dict[str, Any]]:
    if not path.exists():
        return []
    found = [json.loads(line) for line in path.read_text().splitlines()]
    return [e for e in found if e["event"][-1] == name]


@pytest.fixture
def pg_url(pg_cluster: PostgresCluster) -> str:
    return pg_cluster.create_database()


@pytest.fixture
def client(pg_url: str) -> Iterator[continuum.Continuum]:
    app = continuum.Continuum(
        name="client", database=pg_url, dispatch=False, workflow_modules=[v1.Flow, v2.Flow]
    )
    with app:
        yield app


def test_rolling_deploy(
    tmp_path: Path, pg_url: str, spawn_worker: Spawn, client: continuum.Continuum
) -> None:
    log, release = tmp_path / "activities.log", tmp_path / "release"
    a_events, b_events = tmp_path / "a.events", tmp_path / "b.events"
    node_a = spawn_worker(pg_url, "node-a", 2.0, "--modules", BOTH, "--events", str(a_events))

    # Release 1 runs reach their wait on node A.
    old_runs = [
        client.start(v1.Flow, {"log": str(log), "run": f"old{i}"}, run_id=f"old{i}")
        for i in range(10)
    ]
    # `start` uses the class it is given: v1.Flow is version 1 even though v2 is loaded too.
    assert {client.get(r).version for r in old_runs} == {1}
    wait_until(lambda: all(client.get(r).status == "suspended" for r in old_runs), 30)

    # Node B (release 2 only) joins; node A leaves. Nobody can run version 1 now.
    node_b = spawn_worker(pg_url, "node-b", 2.0, "--modules", ONLY_V2, "--events", str(b_events))
    node_a.send_signal(signal.SIGTERM)
    assert node_a.wait(30) == 0
    orphan = client.start(v1.Flow, {"log": str(log), "run": "orphan"}, run_id="orphan")
    for run_id in old_runs:
        client.signal(run_id, "go")

    def b_reported_all() -> bool:
        seen = Counter(e["run_id"] for e in events(b_events, "unknown_version"))
        return all(seen[r] >= 2 for r in [*old_runs, orphan])  # reported on each claim attempt

    wait_until(b_reported_all, 30, what="node B reporting every version-1 run, repeatedly")
    report = events(b_events, "unknown_version")[0]
    assert report["node"] == "node-b" and report["instance"] == "workers"
    assert report["workflow"] == "rolling.Flow"
    assert report["version_hash"] == v1.Flow.version_hash
    for run_id in old_runs:  # suspended, or held for an instant by one of B's probes
        record = client.store.get_run(run_id)
        assert record is not None
        assert record.status == "suspended" or (
            record.status == "running" and record.lease_owner == "node-b"
        )
    assert client.cancel(orphan) is True  # no node has it: cancel ends it

    # Node A comes back with both releases: the old runs finish on version-1 code.
    node_a2 = spawn_worker(pg_url, "node-a2", 2.0, "--modules", BOTH, "--events", str(a_events))
    for run_id in old_runs:
        assert client.result(run_id, timeout=30) == "v1"
    with pytest.raises(continuum.RunCancelled):
        client.result(orphan, timeout=5)
    v1_steps = [(step, pid) for _, step, pid in lines(log) if step.startswith("v1")]
    assert {pid for step, pid in v1_steps if step == "v1-end"} == {str(node_a2.pid)}
    assert str(node_b.pid) not in {pid for _, pid in v1_steps}

    # New runs (version 2) go to either node: 8 held runs need both nodes' 4 slots.
    new_runs = [
        client.start(v2.Flow, {"log": str(log), "run": f"new{i}", "release": str(release)})
        for i in range(8)
    ]
    wait_until(lambda: sum(s == "v2-hold-start" for _, s, _ in lines(log)) == 8, 30)
    holders = {pid for _, step, pid in lines(log) if step == "v2-hold-start"}
    assert holders == {str(node_a2.pid), str(node_b.pid)}
    release.touch()
    for run_id in new_runs:
        assert client.result(run_id, timeout=30)[0] == "v2"


def test_many_runs_survive_repeated_sigkills(
    tmp_path: Path, pg_url: str, spawn_worker: Spawn
) -> None:
    log = tmp_path / "activities.log"
    workers = {f"n{i}": spawn_worker(pg_url, f"n{i}", 1.0) for i in range(3)}
    killed: set[str] = set()
    rng = random.Random(7)
    with continuum.Continuum(name="client", database=pg_url, dispatch=False) as client:
        run_ids = [
            client.start(proc_flows.Busy, {"log": str(log), "run": f"r{i}"}, run_id=f"r{i}")
            for i in range(500)
        ]
        for round_ in range(4):
            progress = (round_ + 1) * 250  # kill while runs are still being worked on
            wait_until(lambda n=progress: len(lines(log)) >= n, 60, what="progress")
            name = rng.choice(sorted(workers))
            victim = workers[name]
            victim.send_signal(signal.SIGKILL)
            victim.wait(10)
            killed.add(str(victim.pid))
            workers[name] = spawn_worker(pg_url, f"{name}-{round_}", 1.0)
        for run_id in run_ids:
            assert client.result(run_id, timeout=120) == ["a", "b", "c"]
        for run_id in run_ids[:50]:
            assert [e.kind for e in client.store.load_history(run_id).entries] == ["activity"] * 3
    runs = Counter((run, step) for run, step, _ in lines(log))
    assert set(runs) == {(f"r{i}", s) for i in range(500) for s in "abc"}, "work was lost"
    # An activity ran more than once only when a killed node had started it: all but
    # the last of its executions belong to killed processes.
    for (run, step), count in runs.items():
        if count > 1:
            pids = [pid for r, s, pid in lines(log) if (r, s) == (run, step)]
            assert sum(pid in killed for pid in pids) >= count - 1, (run, step, pids, killed)


def test_a_stalled_node_cannot_write_after_losing_its_lease(
    tmp_path: Path, pg_url: str, spawn_worker: Spawn
) -> None:
    log, release, engine_log = tmp_path / "activities.log", tmp_path / "release", tmp_path / "a.log"
    stalled = spawn_worker(pg_url, "stalled", 1.0, "--log", str(engine_log))
    with continuum.Continuum(name="client", database=pg_url, dispatch=False) as client:
        payload = {"log": str(log), "run": "order", "release": str(release)}
        run_id = client.start(proc_flows.Crashable, payload)
        wait_until(lambda: ["order", "b-start", str(stalled.pid)] in lines(log), 30)
        stalled.send_signal(signal.SIGSTOP)
        try:
            taker = spawn_worker(pg_url, "taker", 1.0)
            wait_until(lambda: ["order", "b-start", str(taker.pid)] in lines(log), 30)
            release.touch()
            expected = ["a", f"b@{taker.pid}", "c"]
            assert client.result(run_id, timeout=30) == expected
            journal = [
                (e.seq, e.kind, e.payload_json) for e in client.store.load_history(run_id).entries
            ]
        finally:
            stalled.send_signal(signal.SIGCONT)
        # The stalled node wakes, finishes its copy of the activity, and is refused.
        wait_until(lambda: ["order", "b", str(stalled.pid)] in lines(log), 30)
        wait_until(lambda: "store write refused" in engine_log.read_text(), 30, what="refusal")
        assert [
            (e.seq, e.kind, e.payload_json) for e in client.store.load_history(run_id).entries
        ] == journal
        assert client.get(run_id).output == expected
    assert Counter(step for _, step, _ in lines(log))["c"] == 1


def test_nodes_reconnect_after_the_database_restarts(tmp_path: Path, spawn_worker: Spawn) -> None:
    cluster = PostgresCluster().start()
    try:
        url = cluster.create_database()
        log = tmp_path / "activities.log"
        workers = [spawn_worker(url, f"n{i}", 2.0) for i in range(2)]
        with continuum.Continuum(name="client", database=url, dispatch=False) as client:
            run_ids = [
                client.start(proc_flows.Busy, {"log": str(log), "run": f"r{i}"}) for i in range(200)
            ]
            wait_until(lambda: len(lines(log)) >= 100, 60, what="some progress")
            cluster.restart()
            deadline = time.monotonic() + 120
            for run_id in run_ids:
                while True:
                    try:
                        assert client.result(run_id, timeout=max(1, deadline - time.monotonic()))
                        break
                    except continuum.errors.DatabaseUnavailable:
                        time.sleep(0.1)  # this client's own pooled connections died too
        assert all(w.poll() is None for w in workers), "a worker died with the database"
        done = Counter((run, step) for run, step, _ in lines(log))
        assert len(done) == 200 * 3
    finally:
        for w in workers:
            w.send_signal(signal.SIGTERM)
            w.wait(30)
        cluster.remove()


def test_nodes_booting_at_once_on_an_empty_database(pg_url: str, spawn_worker: Spawn) -> None:
    procs = [spawn_worker(pg_url, f"boot{i}", 5.0, wait=False) for i in range(5)]
    for proc in procs:
        wait_ready(proc)
    with continuum.Continuum(
        database=pg_url, dispatch=False, workflow_modules=[proc_flows.Busy]
    ) as c:
        assert c.store.schema_version() == MIGRATIONS[-1].version
        holders = {h.node for row in c.store.list_versions() for h in row.loaded_by}
        assert {f"boot{i}" for i in range(5)} <= holders
    for proc in procs:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(30) == 0
        assert proc.stderr is not None and "Traceback" not in proc.stderr.read()
