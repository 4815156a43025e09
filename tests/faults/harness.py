"""What the fault tests share: worker processes, condition waits, database reads.

Workers are started with the interpreter running the tests, from the root of
the checkout these tests belong to, with that checkout's `src` first on the
path: run from another worktree, they run that worktree's engine.
"""

from __future__ import annotations

import json
import os
import select
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import psycopg

from tests.faults import flows, integrity, ledger

ROOT = Path(__file__).parents[2]
T = TypeVar("T")

# The fault cluster's settings. An asynchronously committed claim stays in the
# server's WAL buffers until the WAL writer's next round (wal_writer_delay, at
# most 10 s) or until some synchronous commit flushes past it: nothing else
# writes it out early. No periodic checkpoint comes in between either.
WIDE_CRASH_WINDOW = (
    "wal_writer_delay=10000ms",
    "wal_writer_flush_after=1GB",
    "checkpoint_timeout=1h",
    "max_wal_size=4GB",
)


def eventually(condition: Callable[[], T], timeout: float, what: str) -> T:
    """Poll `condition` until it returns something truthy; fail at the deadline.

    A database that is down (being restarted) counts as "not yet".
    """
    deadline = time.monotonic() + timeout
    while True:
        try:
            value = condition()
        except psycopg.OperationalError:
            value = None  # type: ignore[assignment]
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:g}s waiting for {what}")
        time.sleep(0.01)


def within(condition: Callable[[], object], timeout: float) -> bool:
    """Poll `condition` for at most `timeout` seconds; whether it came true."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.01)
    return True


def settled(url: str, run_ids: list[str]) -> int:
    """How many of `run_ids` have ended (completed, failed or cancelled)."""
    rows = integrity.query(
        url,
        "SELECT count(*) FROM continuum_runs"
        " WHERE id = ANY (%s) AND status IN ('completed', 'failed', 'cancelled')",
        (run_ids,),
    )
    return int(rows[0][0])


def run_row(url: str, run_id: str) -> dict[str, Any]:
    """The run's status and lease as the database has them now (nonce: None without one)."""
    rows = integrity.query(
        url,
        "SELECT status, lease_owner, lease_token, to_jsonb(r) ->> 'lease_nonce'"
        " FROM continuum_runs AS r WHERE id = %s",
        (run_id,),
    )
    status, owner, token, nonce = rows[0]
    return {"status": status, "owner": owner, "token": token, "nonce": nonce}


class Workers:
    """Worker processes of one test; whatever is left is stopped at teardown."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.procs: list[subprocess.Popen[str]] = []
        self.names: dict[int, str] = {}
        self.releases: list[Path] = []

    def release_on_close(self, *files: Path) -> None:
        """Files to create before stopping the workers, so no activity holds them up."""
        self.releases += files

    def spawn(
        self, url: str, node: str, *, lease: float, concurrency: int = 4
    ) -> subprocess.Popen[str]:
        """Start a worker and return once it has booted (registered its versions)."""
        log, err = self.folder / f"{node}.log", self.folder / f"{node}.err"
        with open(err, "w", encoding="utf-8") as stderr:
            proc = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "tests.faults.worker",
                    url,
                    node,
                    "--lease",
                    str(lease),
                    "--concurrency",
                    str(concurrency),
                    "--log",
                    str(log),
                ],
                cwd=ROOT,
                stdout=subprocess.PIPE,
                stderr=stderr,
                text=True,
                env={**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT / "src"), str(ROOT)])},
            )
        self.procs.append(proc)
        self.names[proc.pid] = node
        assert proc.stdout is not None
        readable, _, _ = select.select([proc.stdout], [], [], 30)
        line = proc.stdout.readline() if readable else ""
        if line.strip() != "ready":
            proc.kill()
            proc.wait()
            raise AssertionError(f"worker {node} did not start: {line!r}\n{err.read_text()}")
        return proc

    @staticmethod
    def kill(proc: subprocess.Popen[str]) -> float:
        """SIGKILL; returns the wall time by which the process was certainly dead."""
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
        return time.time()

    def close(self) -> None:
        for release in self.releases:
            release.touch()
        for proc in self.procs:
            if proc.poll() is None:
                proc.send_signal(signal.SIGCONT)  # a stopped process cannot act on SIGTERM
                proc.send_signal(signal.SIGTERM)
        for proc in self.procs:
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
            if proc.stdout is not None:
                proc.stdout.close()


@dataclass
class Findings:
    """What `examine` found in a finished Chain workload."""

    executions: int = 0
    reruns: int = 0  # executions of a step before its last one
    unexplained: int = 0  # reruns the fault does not explain
    stale: list[str] = field(default_factory=list)  # accepted writes of superseded executions
    problems: list[str] = field(default_factory=list)


def examine(
    url: str,
    book: Path,
    run_ids: list[str],
    explain: Callable[[ledger.Execution, integrity.JournalRow], str | None],
) -> Findings:
    """Hold a finished workload of `flows.Chain` runs against its ledger and its journal.

    For every run and step: it executed at least once; its journal row names the
    process of its last execution; no execution started after the row was
    committed (recorded_at, the database clock; START, the worker's: both are
    this machine's clock); every execution before the last is one the fault
    explains (`explain` returns why not, or None). Every run completed with
    the results of its steps' last executions. Any journal write the audit saw
    that names another process than the step's last executor is stale.
    """
    found = Findings()
    executions = ledger.executions(ledger.events(book))
    rows = integrity.journal(url)
    outputs = integrity.runs(url)
    problems = found.problems
    last_pid: dict[tuple[str, int], int] = {}
    for run_id in run_ids:
        journaled = {row.seq: row for row in rows.get(run_id, [])}
        expected = []
        for seq, step in enumerate(flows.STEPS):
            runs = executions.get((run_id, step), [])
            found.executions += len(runs)
            row = journaled.get(seq)
            if not runs or row is None:
                problems.append(f"{run_id}/{step}: executions {runs}, journal row {row}")
                continue
            last = runs[-1]
            last_pid[(run_id, seq)] = last.pid
            expected.append(f"{step}@{last.pid}")
            if row.value != {"result": f"{step}@{last.pid}"}:
                problems.append(f"{run_id}/{step}: journal {row.payload}, last execution {last}")
            problems += [
                f"{run_id}/{step}: {x} started after its result was committed "
                f"at {row.recorded_at:.6f}"
                for x in runs
                if x.started >= row.recorded_at
            ]
            for x in runs[:-1]:
                found.reruns += 1
                why_not = explain(x, row)
                if why_not is not None:
                    found.unexplained += 1
                    problems.append(f"{run_id}/{step}: re-executed after {x}: {why_not}")
        status, output = outputs[run_id]
        if status != "completed" or output is None or json.loads(output) != expected:
            problems.append(f"{run_id}: {status} {output}, expected {expected}")
    found.stale = [
        f"{c.run_id}#{c.seq}: {c.new}"
        for c in integrity.journal_changes(url)
        if c.new is not None
        and c.new[0] == "activity"
        and not (c.new[2] or "").endswith(f'@{last_pid.get((c.run_id, c.seq))}"}}')
    ]
    return found


def lost_claims(url: str, book: Path, names: dict[int, str]) -> list[str]:
    """Attempts that began on a claim the database does not remember (lost in a crash).

    Every claim that committed left an audit row with its token and owner; an
    attempt noted in the ledger with no such row ran on a claim that was lost.
    """
    claims = {(c.run_id, c.new_token, c.owner) for c in integrity.run_changes(url)}
    lost = []
    for e in ledger.events(book):
        if e.event == "ATTEMPT":
            token = int(e.detail.split(",")[0].removeprefix("token="))
            if (e.run, token, names.get(e.pid)) not in claims:
                lost.append(f"{e.run}: token {token} on {names.get(e.pid)} ({e.detail})")
    return lost
