"""examples/nightly_report.py, run as a user runs it: quickly on an interval, and as the
nightly cron node it is, which it shows and then leaves on Ctrl-C."""

from __future__ import annotations

import re
import signal
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[2]
SCRIPT = ROOT / "examples" / "nightly_report.py"
pytestmark = pytest.mark.slow


def test_an_interval_sends_a_report_per_tick() -> None:
    done = subprocess.run(
        [sys.executable, str(SCRIPT), "--every", "1", "--runs", "2"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        cwd=ROOT,
    )
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0].startswith("schedule nightly-report: next report at ")
    reports = [line for line in lines if line.startswith("report for ")]
    assert len(reports) >= 2
    assert all(re.fullmatch(r"report for \d{4}-\d\d-\d\d sent to ops@example.com: "
                            r"\d+ orders, \d+\.\d\d EUR", line) for line in reports)  # fmt: skip
    finished = [line.split()[1] for line in lines if line.startswith("finished ")]
    assert len(finished) >= 2 and len(set(finished)) == len(finished)
    assert all(run_id.startswith("schedule:nightly-report:") for run_id in finished)


def test_the_nightly_node_waits_for_two_in_the_morning_paris_time() -> None:
    proc = subprocess.Popen(
        [sys.executable, str(SCRIPT)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=ROOT,
    )
    try:
        assert proc.stdout is not None
        first = proc.stdout.readline()
        assert re.fullmatch(
            r"schedule nightly-report: next report at \d{4}-\d\d-\d\d 0[23]:00:00 CES?T\n", first
        ), first
        assert proc.stdout.readline().startswith("database: sqlite:///")
        proc.send_signal(signal.SIGINT)
        assert proc.wait(30) == 0
        assert "report for" not in proc.stdout.read()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        for stream in (proc.stdout, proc.stderr):
            if stream is not None:
                stream.close()
