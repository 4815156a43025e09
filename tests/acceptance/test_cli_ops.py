"""`continuum health`, `continuum prune` and `continuum worker --health-port`, as
subprocesses against a real database on each backend."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

import continuum
from continuum.store.base import NewRun
from tests.acceptance.test_cli_runs import as_json, cli, environment, ok, one_line_error
from tests.conftest import raw_sql, wait_until

ROOT = Path(__file__).parents[2]
MakeApp = Callable[..., continuum.Continuum]


@continuum.activity
def note(text: str) -> str:
    return text


class Report(continuum.Workflow, workflow="tests.ops.Report"):
    def run(self, input):
        return note(input)


class Waiting(continuum.Workflow, workflow="tests.ops.Waiting"):
    def run(self, input):
        return continuum.wait_for_signal("go")


# -- health --------------------------------------------------------------------------------
def test_health_is_healthy_with_a_live_worker(backend_url: str, make_app: MakeApp) -> None:
    make_app(name="worker", node="node-1", workflow_modules=[Report])
    wait_until(lambda: as_json("health", "--database", backend_url)["nodes"], what="a beat")
    text = ok("health", "--database", backend_url, "--strict")
    assert "healthy" in text and "node-1" in text and "FAIL" not in text
    report = as_json("health", "--database", backend_url)
    assert report["ok"] is True
    assert [n["node"] for n in report["nodes"]] == ["node-1"]


def test_health_strict_exits_1_and_names_what_needs_attention(
    backend_url: str, make_app: MakeApp
) -> None:
    client = make_app(name="client", dispatch=False)
    client.store.create_run(NewRun("stranded", Report.workflow, "e" * 16, 1, "null"))
    loose = cli("health", "--database", backend_url)
    assert loose.returncode == 0 and "needs attention" in loose.stdout
    strict = cli("health", "--database", backend_url, "--strict", "--format", "json")
    assert strict.returncode == 1, strict.stderr
    report = json.loads(strict.stdout)
    failing = {c["name"] for c in report["checks"] if not c["ok"]}
    assert "stranded_versions" in failing
    assert f"{Report.workflow}@{'e' * 16}" in loose.stdout


def test_health_on_a_database_without_schema_says_to_migrate(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'new.db'}"
    error = one_line_error(cli("health", "--database", url), 1)
    assert "continuum migrate" in error


def test_durations_are_checked_as_usage_errors(backend_url: str) -> None:
    done = cli("prune", "--database", backend_url, "--older-than", "soon")
    error = one_line_error(done, 2)
    assert "not a duration" in error


# -- prune ---------------------------------------------------------------------------------
def test_prune_counts_then_deletes_only_old_finished_runs(
    backend_url: str, make_app: MakeApp
) -> None:
    app = make_app(name="worker", workflow_modules=[Report, Waiting])
    finished = [app.start(Report, f"r{n}") for n in range(5)]
    for run_id in finished:
        app.result(run_id, timeout=10)
    failed_old = app.start(Report, "cancel me", start_in=3600)  # cancelled before it can run
    assert app.cancel(failed_old)
    live = app.start(Waiting)
    fresh = app.start(Report, "fresh")
    app.result(fresh, timeout=10)
    backdate = {
        "sqlite": "UPDATE continuum_runs SET updated_at = updated_at - 7200 WHERE id != ?",
        "postgresql": "UPDATE continuum_runs SET updated_at = updated_at - interval '2 hours' "
        "WHERE id != ?",
    }[backend_url.split(":", maxsplit=1)[0]]
    raw_sql(backend_url, backdate, (fresh,))

    dry = as_json("prune", "--database", backend_url, "--older-than", "1h")
    assert dry == {**dry, "applied": False, "runs": 6}
    assert "would delete 1 cancelled run(s)" in ok(
        "prune", "--database", backend_url, "--older-than", "1h", "--status", "cancelled"
    )
    assert app.store.get_run(finished[0]) is not None  # a dry run deletes nothing

    done = as_json(
        "prune", "--database", backend_url, "--older-than", "1h", "--apply", "--batch", "2"
    )
    assert done["applied"] is True and done["runs"] == 6
    for run_id in [*finished, failed_old]:
        assert app.store.get_run(run_id) is None
        assert app.store.load_journal(run_id) == []
    assert app.get(fresh).status == "completed"  # ended too recently
    assert app.get(live).status in ("pending", "running", "suspended")  # never finished
    again = as_json("prune", "--database", backend_url, "--older-than", "1h", "--apply")
    assert again["runs"] == 0


def test_prune_by_workflow(backend_url: str, make_app: MakeApp) -> None:
    app = make_app(name="worker", workflow_modules=[Report])
    run_id = app.start(Report, "x")
    app.result(run_id, timeout=10)
    other = ok("prune", "--database", backend_url, "--older-than", "1s", "--workflow", "nope")
    assert "would delete 0" in other
    wait_until(
        lambda: as_json("prune", "--database", backend_url, "--older-than", "1s")["runs"] == 1,
        what="the run to be a second old",
    )
    ok(
        "prune",
        "--database",
        backend_url,
        "--older-than",
        "1s",
        "--workflow",
        Report.workflow,
        "--apply",
    )
    assert app.store.get_run(run_id) is None


# -- worker --health-port -----------------------------------------------------------------
def _get(url: str) -> tuple[int, Any]:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


@pytest.mark.slow
def test_worker_serves_liveness_and_readiness(backend_url: str, tmp_path: Path) -> None:
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "continuum",
            "worker",
            "--database",
            backend_url,
            "--app",
            "tests.acceptance.test_cli_ops",
            "--health-port",
            "0",
            "--health-host",
            "127.0.0.1",
            "--lease-seconds",
            "3",
        ],
        cwd=ROOT,
        stderr=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        text=True,
        env=environment(PYTHONPATH=f"{ROOT / 'src'}{os.pathsep}{ROOT}"),
    )
    try:
        assert proc.stderr is not None
        deadline = time.monotonic() + 30
        port = None
        seen = []
        while port is None and time.monotonic() < deadline:
            line = proc.stderr.readline()
            seen.append(line)
            if match := re.search(r"health endpoints on http://[\d.]+:(\d+)/livez", line):
                port = int(match.group(1))
            if not line and proc.poll() is not None:
                break
        assert port is not None, "".join(seen)
        base = f"http://127.0.0.1:{port}"
        assert _get(f"{base}/livez")[0] == 200
        code, ready = _get(f"{base}/readyz")
        assert code == 200 and ready["dispatching"] is True
        code, report = wait_until(lambda: _healthy(base), what="a healthy report")
        assert code == 200 and report["ok"] is True
        assert _get(f"{base}/nope")[0] == 404
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(30) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        if proc.stderr is not None:
            proc.stderr.close()


def _healthy(base: str) -> tuple[int, Any] | None:
    code, report = _get(f"{base}/healthz")
    return (code, report) if code == 200 else None


def test_a_busy_health_port_is_a_clear_error(backend_url: str) -> None:
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        done = subprocess.run(
            [
                sys.executable,
                "-m",
                "continuum",
                "worker",
                "--database",
                backend_url,
                "--app",
                "tests.acceptance.test_cli_ops",
                "--health-port",
                str(port),
                "--health-host",
                "127.0.0.1",
            ],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=60,
            env=environment(PYTHONPATH=f"{ROOT / 'src'}{os.pathsep}{ROOT}"),
            check=False,
        )
    assert done.returncode == 1
    assert "choose another --health-port" in done.stderr
    assert "Traceback" not in done.stderr
