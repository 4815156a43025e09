"""Fault 5: SIGKILLs around cron ticks, with two worker processes up.

A schedule ticks every second (`* * * * * *`, catch_up="all", overlap="allow": every
tick must start a run of its own). Two workers (lease 1 s) fire it. Again and again,
one of them chosen by a seeded RNG is SIGKILLed at a moment picked around a tick (a
little before it, at it, or just after, when it may be inside the firing transaction
or running the tick's run) and replaced, so that two nodes are up at nearly every
tick and at every tick at least one is.

Proved, from what the database recorded (audit triggers, `integrity`):
- every tick from the first to the last has exactly one run, and no run has an id
  off the tick grid: none missed, none fired twice by the two nodes;
- each run was inserted once (one audited INSERT) and completed exactly once,
  with the output its input implies, including the runs whose node was killed
  under them (taken over once their lease expired).
"""

from __future__ import annotations

import datetime as dt
import os
import random
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.conftest import BACKENDS
from tests.engine import schedule_flows
from tests.faults import integrity
from tests.faults.conftest import FaultDB
from tests.faults.harness import ROOT, eventually

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif("postgres" not in BACKENDS, reason="PostgreSQL tests disabled"),
]

KILLS = 8
LEASE = 1.0
SEED = 20250330
# Where in the second around a tick each kill lands (seconds from the tick).
OFFSETS = (-0.02, -0.005, 0.0, 0.002, 0.01, 0.03, 0.1)


def tick_of(run_id: str) -> float:
    return dt.datetime.fromisoformat(run_id.split(":", 2)[2]).timestamp()


@pytest.fixture
def spawn(tmp_path: Path) -> Iterator[Callable[[str, str], subprocess.Popen[str]]]:
    """Start a worker node on the schedule tests' workflows; returns once it has booted."""
    started: list[subprocess.Popen[str]] = []

    def start(url: str, node: str) -> subprocess.Popen[str]:
        with open(tmp_path / f"{node}.err", "w", encoding="utf-8") as stderr:
            proc = subprocess.Popen(
                [
                    *(sys.executable, "-m", "tests.acceptance.worker", url, node),
                    *("--lease", str(LEASE), "--modules", "tests.engine.schedule_flows"),
                    *("--log", str(tmp_path / f"{node}.log")),
                ],
                cwd=ROOT,
                stdout=subprocess.PIPE,
                stderr=stderr,
                text=True,
                env={**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT / "src"), str(ROOT)])},
            )
        started.append(proc)
        assert proc.stdout is not None
        line = proc.stdout.readline()  # "ready" once booted, or nothing if it died
        assert line.strip() == "ready", (line, (tmp_path / f"{node}.err").read_text())
        return proc

    yield start
    for proc in started:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        if proc.stdout is not None:
            proc.stdout.close()


def test_every_tick_fires_exactly_once_while_nodes_are_killed_around_it(
    fault_db: FaultDB,
    spawn: Callable[[str, str], subprocess.Popen[str]],
    report: Callable[[str], None],
) -> None:
    url, client = fault_db.url, fault_db.client
    rng = random.Random(SEED)
    client.schedule(
        schedule_flows.Tick,
        "tick",
        cron="* * * * * *",
        id="crash",
        catch_up="all",
        overlap="allow",
    )
    nodes = {name: spawn(url, name) for name in ("n0", "n1")}
    spawned = 2
    kills: list[tuple[str, float]] = []
    for _ in range(KILLS):
        victim = rng.choice(sorted(nodes))
        offset = rng.choice(OFFSETS)
        target = int(time.time()) + 1 + offset
        eventually(lambda t=target: time.time() >= t, 5, "the moment to kill")
        proc = nodes.pop(victim)
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
        kills.append((victim, offset))
        name = f"n{spawned}"
        spawned += 1
        nodes[name] = spawn(url, name)  # booted while the other node fires alone

    client.pause_schedule("crash")

    def scheduled() -> list[str]:
        rows = integrity.query(
            url, "SELECT id FROM continuum_runs WHERE id LIKE 'schedule:crash:%%'"
        )
        return [row[0] for row in rows]

    run_ids = scheduled()
    eventually(
        lambda: all(
            status == "completed"
            for run_id, (status, _) in integrity.runs(url).items()
            if run_id in set(run_ids)
        ),
        30,
        "every scheduled run to complete",
    )
    ticks = sorted(tick_of(run_id) for run_id in run_ids)
    first, last = ticks[0], ticks[-1]
    assert all(tick == int(tick) for tick in ticks), "a run off the tick grid"
    missing = sorted(set(range(int(first), int(last) + 1)) - {int(t) for t in ticks})
    assert not missing, f"ticks with no run: {missing}"
    assert len(ticks) == last - first + 1  # and none twice
    inserts = Counter(c.run_id for c in integrity.run_changes(url) if c.op == "INSERT")
    assert all(inserts[run_id] == 1 for run_id in run_ids)
    verdict = integrity.check(url, run_ids, implied=lambda _: "tick")
    assert not verdict.violations, verdict.violations
    assert len(run_ids) >= KILLS  # the kills came at distinct ticks, a second or more apart
    report(
        f"{len(run_ids)} ticks over {last - first + 1:.0f} s, {len(kills)} SIGKILLs around "
        f"ticks (offsets {sorted({o for _, o in kills})}), every tick fired once, "
        f"{verdict.completions} completions"
    )
