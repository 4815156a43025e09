"""The README's demo, run as a user runs it."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[2]
pytestmark = pytest.mark.slow


def test_demo_shows_old_run_finishing_on_old_code() -> None:
    done = subprocess.run(
        [sys.executable, str(ROOT / "examples" / "demo.py")],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    out = done.stdout
    assert "order-1001 finished on version 1" in out
    assert "order-1002 finished on version 2" in out
    first, second = out.split("order-1001 finished")[1].split("order-1002 finished")
    assert "charged      100.0" in first and "receipt" not in first
    assert "charged      90.0" in second and "receipt for 90.00" in second
    hashes = [
        line.split("hash ")[1].strip()
        for line in out.splitlines()
        if "version 1  hash" in line or "version 2  hash" in line
    ]
    assert len(set(hashes)) == 2
