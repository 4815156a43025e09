"""Real processes: workers started with the same interpreter, from the repository root."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[2]


def lines(log: Path) -> list[list[str]]:
    """The activity log the workers append to, one split line per execution."""
    return [line.split() for line in log.read_text().splitlines()] if log.exists() else []


def wait_ready(proc: subprocess.Popen[str]) -> None:
    """Block until the worker printed "ready" (or fail with what it printed instead)."""
    assert proc.stdout is not None
    line = proc.stdout.readline()
    if line.strip() != "ready":
        proc.kill()
        err = proc.stderr.read() if proc.stderr else ""
        raise AssertionError(f"worker did not start: {line}{err}")


@pytest.fixture
def spawn_worker() -> Iterator[Callable[..., subprocess.Popen[str]]]:
    started: list[subprocess.Popen[str]] = []

    def spawn(
        url: str, node: str, lease: float = 5.0, *extra: str, wait: bool = True
    ) -> subprocess.Popen[str]:
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "tests.acceptance.worker",
                url,
                node,
                "--lease",
                str(lease),
                *extra,
            ],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env={**os.environ, "PYTHONPATH": f"{ROOT / 'src'}{os.pathsep}{ROOT}"},
        )
        started.append(proc)
        if wait:
            wait_ready(proc)  # blocks until booted (or the process died)
        return proc

    yield spawn
    for proc in started:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        for stream in (proc.stdout, proc.stderr):
            if stream is not None:
                stream.close()
