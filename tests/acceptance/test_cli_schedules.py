"""`continuum schedules list|pause|resume|delete`, run as operators run them, beside a
`continuum worker` that fires the ticks, on SQLite and on PostgreSQL."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

import continuum
from tests.acceptance.test_cli_runs import cli as runs_cli
from tests.acceptance.test_cli_runs import environment, one_line_error
from tests.conftest import wait_until
from tests.engine import schedule_flows as flows

pytestmark = pytest.mark.slow

ROOT = Path(__file__).parents[2]
DEADLINE = 30.0


# This checkout's engine and schedule flows, for the commands and the workers.
PATH = os.pathsep.join([str(ROOT / "src"), str(ROOT)])


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    """The command as test_cli_runs runs it, importing this checkout's schedule flows."""
    return runs_cli(*args, cwd=ROOT, PYTHONPATH=PATH)


def ok(*args: str) -> str:
    done = cli(*args)
    assert done.returncode == 0, (args, done.returncode, done.stderr)
    assert "Traceback" not in done.stderr
    return done.stdout


def listed(url: str) -> dict[str, dict[str, Any]]:
    return {
        s["id"]: s
        for s in json.loads(ok("schedules", "list", "--database", url, "--format", "json"))
    }


@pytest.fixture
def client(make_app: Callable[..., continuum.Continuum]) -> continuum.Continuum:
    return make_app(name="client", dispatch=False)


@pytest.fixture
def worker(backend_url: str, tmp_path: Path) -> Iterator[Callable[[], subprocess.Popen[str]]]:
    started: list[subprocess.Popen[str]] = []

    def start() -> subprocess.Popen[str]:
        log = open(tmp_path / f"worker-{len(started)}.log", "w", encoding="utf-8")  # noqa: SIM115
        proc = subprocess.Popen(
            [
                *(sys.executable, "-m", "continuum", "worker", "--database", backend_url),
                *("--app", "tests.engine.schedule_flows", "--poll-interval", "0.05"),
            ],
            cwd=ROOT,
            stdout=subprocess.DEVNULL,
            stderr=log,
            text=True,
            env=environment(PYTHONPATH=PATH),
        )
        log.close()
        started.append(proc)
        return proc

    yield start
    for proc in started:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(DEADLINE)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def test_list_shows_every_schedule_for_people_and_for_scripts(
    backend_url: str, client: continuum.Continuum
) -> None:
    assert ok("schedules", "list", "--database", backend_url) == "no schedules\n"
    assert listed(backend_url) == {}
    client.schedule(
        flows.Tick, {"to": "ops"}, cron="0 2 * * *", timezone="Europe/Paris", id="nightly"
    )
    client.schedule(flows.Tick, every=30, id="poll", overlap="allow", catch_up="all")
    text = ok("schedules", "list", "--database", backend_url).splitlines()
    assert text[0].split() == [
        "ID", "WORKFLOW", "WHEN", "STATE", "NEXT", "(UTC)", "LAST", "RUN", "OVERLAP", "CATCH-UP"
    ]  # fmt: skip
    assert text[1].startswith("nightly ") and "cron 0 2 * * * (Europe/Paris)" in text[1]
    assert text[2].startswith("poll ") and "every 30s" in text[2] and "allow" in text[2]
    schedules = listed(backend_url)
    nightly = schedules["nightly"]
    assert {k: nightly[k] for k in ("workflow", "input", "cron", "every", "at", "timezone")} == {
        "workflow": flows.Tick.workflow,
        "input": {"to": "ops"},
        "cron": "0 2 * * *",
        "every": None,
        "at": None,
        "timezone": "Europe/Paris",
    }
    assert (nightly["state"], nightly["overlap"], nightly["catch_up"]) == ("active", "skip", "once")
    assert nightly["next_tick"] == client.schedules()[0].next_tick.isoformat()  # type: ignore[union-attr]
    assert schedules["poll"]["every"] == 30 and schedules["poll"]["catch_up"] == "all"


def test_pause_resume_and_delete_beside_a_worker(
    backend_url: str,
    client: continuum.Continuum,
    worker: Callable[[], subprocess.Popen[str]],
) -> None:
    client.schedule(flows.Tick, "tick", every=0.2, id="fast")
    worker()

    def runs_of_fast() -> list[str]:
        return [r.run_id for r in client.runs(limit=1000) if r.run_id.startswith("schedule:fast:")]

    wait_until(lambda: len(runs_of_fast()) >= 2, DEADLINE, "the worker to fire ticks")
    assert ok("schedules", "pause", "fast", "--database", backend_url) == "paused fast\n"
    assert "already paused" in ok("schedules", "pause", "fast", "--database", backend_url)
    fast = listed(backend_url)["fast"]
    assert fast["state"] == "paused" and fast["last_run_id"] in runs_of_fast()
    after_pause = runs_of_fast()
    client.schedule(flows.Tick, every=0.2, id="witness")
    wait_until(
        lambda: sum(r.run_id.startswith("schedule:witness:") for r in client.runs(limit=1000)) >= 2,
        DEADLINE,
        "ticks of another schedule",
    )
    assert runs_of_fast() == after_pause  # paused: none fired meanwhile
    assert ok("schedules", "resume", "fast", "--database", backend_url) == "resumed fast\n"
    assert "was not paused" in ok("schedules", "resume", "fast", "--database", backend_url)
    wait_until(lambda: len(runs_of_fast()) > len(after_pause), DEADLINE, "ticks after resume")
    deleted = ok("schedules", "delete", "fast", "--database", backend_url)
    assert deleted == "deleted schedule fast (its runs stay)\n"
    assert "fast" not in listed(backend_url) and runs_of_fast()
    message = one_line_error(cli("schedules", "delete", "fast", "--database", backend_url), 1)
    assert "no schedule with id 'fast'" in message


def test_unknown_ids_and_usage_mistakes(backend_url: str, client: continuum.Continuum) -> None:
    for command in ("pause", "resume", "delete"):
        message = one_line_error(cli("schedules", command, "nope", "--database", backend_url), 1)
        assert "no schedule with id 'nope'" in message and "continuum schedules list" in message
        usage = one_line_error(cli("schedules", command, "--database", backend_url), 2)
        assert "Missing argument 'ID'" in usage
    usage = one_line_error(cli("schedules", "list"), 2)
    assert "--database" in usage
    assert one_line_error(cli("schedules", "stop", "x", "--database", backend_url), 2)
