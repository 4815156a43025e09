"""Acceptance: real worker processes sharing one database."""

from __future__ import annotations

import signal
import subprocess
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import pytest

import continuum
from tests.acceptance import proc_flows
from tests.acceptance.conftest import lines
from tests.conftest import wait_until

pytestmark = pytest.mark.slow

Spawn = Callable[..., subprocess.Popen[str]]


def test_two_workers_run_each_attempt_exactly_once(
    tmp_path: Path, spawn_worker: Spawn, backend_url: str
) -> None:
    log, release = tmp_path / "activities.log", tmp_path / "release"
    workers = [spawn_worker(backend_url, "node-1"), spawn_worker(backend_url, "node-2")]
    with continuum.Continuum(database=backend_url, dispatch=False, name="client") as client:
        # Eight runs held inside an activity: each worker has 4 slots, so all eight
        # are in flight only once both workers have taken their share.
        held = [
            client.start(
                proc_flows.Crashable,
                {"log": str(log), "run": f"h{i}", "release": str(release)},
                run_id=f"h{i}",
            )
            for i in range(8)
        ]
        wait_until(
            lambda: sum(step == "b-start" for _, step, _ in lines(log)) == 8, what="8 held runs"
        )
        holders = {pid for _, step, pid in lines(log) if step == "b-start"}
        assert holders == {str(w.pid) for w in workers}
        ledgers = [
            client.start(proc_flows.Ledger, {"log": str(log), "run": f"r{i}"}, run_id=f"r{i}")
            for i in range(120)
        ]
        release.touch()
        for run_id in held + ledgers:
            assert len(client.result(run_id, timeout=60)) == 3
    executed = Counter((run, step) for run, step, _ in lines(log))
    assert len(executed) == 8 * 4 + 120 * 3
    assert set(executed.values()) == {1}, "an activity ran twice with no crash"


def test_sigkilled_worker_run_completes_elsewhere_without_rerunning_journaled_work(
    tmp_path: Path, spawn_worker: Spawn, backend_url: str
) -> None:
    log, release = tmp_path / "activities.log", tmp_path / "release"
    victim = spawn_worker(backend_url, "victim", lease=1.0)
    with continuum.Continuum(database=backend_url, dispatch=False, name="client") as client:
        payload = {"log": str(log), "run": "order", "release": str(release)}
        run_id = client.start(proc_flows.Crashable, payload)
        wait_until(lambda: ["order", "b-start", str(victim.pid)] in lines(log), what="activity b")
        victim.send_signal(signal.SIGKILL)
        victim.wait(10)
        record = client.store.get_run(run_id)
        assert record is not None and record.status == "running" and record.lease_owner == "victim"

        survivor = spawn_worker(backend_url, "survivor", lease=1.0)
        release.touch()
        assert client.result(run_id, timeout=30) == ["a", f"b@{survivor.pid}", "c"]
    steps = Counter(step for _, step, _ in lines(log))
    assert steps["a"] == 1, "a journaled activity ran again"
    assert steps["b-start"] == 2 and steps["b"] == 1  # at-least-once: the interrupted one re-ran
    assert steps["c"] == 1
    assert {pid for _, step, pid in lines(log) if step == "c"} == {str(survivor.pid)}
