"""The run commands (`runs`, `show`, `cancel`, `signal`, `worker`), run as users run them.

Each test drives `python -m continuum` in a subprocess against a database that
an in-process instance (or a `continuum worker` the test starts) fills, and
reads exit codes, stdout, stderr and JSON, on SQLite and on PostgreSQL.
"""

from __future__ import annotations

import importlib
import json
import os
import re
import signal
import subprocess
import sys
import textwrap
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

import continuum
from tests.conftest import raw_sql, wait_until

pytestmark = pytest.mark.slow

DEADLINE = 30.0


# -- workflows the in-process instance runs ----------------------------------------
@continuum.activity
def reserve(item: str) -> dict[str, str]:
    return {"reserved": item}


@continuum.activity
def ship(item: str, by: str) -> str:
    return f"shipped {item} for {by}"


class Approval(continuum.Workflow):
    def run(self, order: dict[str, str]) -> str:
        reserved = reserve(order["item"])
        decision = continuum.wait_for_signal("approval", timeout=3600)
        return ship(reserved["reserved"], decision["by"])


class Greet(continuum.Workflow):
    def run(self, name: str) -> str:
        return f"hello {name}"


class Collect(continuum.Workflow):
    def run(self, _: Any) -> list[Any]:
        return [continuum.wait_for_signal("item"), continuum.wait_for_signal("item")]


FLOWS = [Approval, Greet, Collect]
RESERVE, SHIP = f"{__name__}.reserve", f"{__name__}.ship"  # activities' journaled names


# -- helpers -----------------------------------------------------------------------
def environment(**extra: str) -> dict[str, str]:
    """The test's environment without settings that would change what a command does."""
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("CONTINUUM_DATABASE_URL", "CONTINUUM_WORKFLOW_MODULES", "NO_COLOR")
    }
    return {**env, **extra}


def cli(
    *args: str, cwd: Path | None = None, stdin: str | None = None, **env: str
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "continuum", *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env=environment(**env),
        cwd=cwd,
        input=stdin,
    )


def ok(*args: str, **kwargs: Any) -> str:
    done = cli(*args, **kwargs)
    assert done.returncode == 0, (args, done.returncode, done.stderr)
    assert "Traceback" not in done.stderr
    return done.stdout


def as_json(*args: str) -> Any:
    return json.loads(ok(*args, "--format", "json"))


def one_line_error(done: subprocess.CompletedProcess[str], code: int) -> str:
    assert done.returncode == code, (done.returncode, done.stdout, done.stderr)
    assert "Traceback" not in done.stderr
    assert done.stderr.startswith("error: ") and done.stderr.count("\n") == 1, done.stderr
    assert done.stdout == ""
    return done.stderr


@pytest.fixture
def app(make_app: Callable[..., continuum.Continuum]) -> continuum.Continuum:
    return make_app(workflow_modules=FLOWS)


def status_of(app: continuum.Continuum, run_id: str) -> str:
    return str(app.get(run_id).status)


def waiting(app: continuum.Continuum, run_id: str) -> None:
    wait_until(lambda: status_of(app, run_id) == "suspended", DEADLINE, f"{run_id} to wait")


# -- runs --------------------------------------------------------------------------
def test_runs_lists_and_filters(backend_url: str, app: continuum.Continuum) -> None:
    assert ok("runs", "--database", backend_url) == "no runs\n"
    assert as_json("runs", "--database", backend_url) == []

    greeted = [app.start(Greet, name) for name in ("ana", "bo")]
    pending = app.start(Approval, {"item": "book"}, run_id="order-1")
    for run_id in greeted:
        assert app.result(run_id, timeout=DEADLINE).startswith("hello")
    waiting(app, pending)

    listed = as_json("runs", "--database", backend_url)
    assert [r["run_id"] for r in listed] == [r.run_id for r in app.runs()]
    assert {r["run_id"] for r in listed} == {*greeted, pending}
    approval = next(r for r in listed if r["run_id"] == pending)
    assert approval == {
        "run_id": "order-1",
        "workflow": Approval.workflow,
        "version_hash": Approval.version_hash,
        "version": 1,
        "status": "suspended",
        "input": {"item": "book"},
        "output": None,
        "error": None,
        "created_at": approval["created_at"],
        "updated_at": approval["updated_at"],
        "attributes": {},
        "parent_run_id": None,
        "continued_from": None,
        "continued_to": None,
    }
    assert approval["created_at"].endswith("+00:00")

    completed = as_json("runs", "--database", backend_url, "--status", "completed")
    assert {r["run_id"] for r in completed} == set(greeted)
    of_greet = as_json("runs", "--database", backend_url, "--workflow", Greet.workflow)
    assert {r["run_id"] for r in of_greet} == set(greeted)
    assert as_json("runs", "--database", backend_url, "--workflow", "no.Such") == []
    newest = as_json("runs", "--database", backend_url, "--limit", "1")
    assert [r["run_id"] for r in newest] == [app.runs(limit=1)[0].run_id]

    # The table: one header and one line per run, columns aligned, no colour in a pipe.
    done = cli("runs", "--database", backend_url)
    assert done.returncode == 0 and done.stderr == ""
    header, *lines = done.stdout.splitlines()
    assert header.split("  ")[0] == "RUN ID" and "STATUS" in header
    assert len(lines) == 3 and "\x1b[" not in done.stdout
    column = header.index("STATUS")
    assert {line[column:].split()[0] for line in lines} == {"completed", "suspended"}
    row = next(line for line in lines if line.startswith("order-1 "))
    assert f"v1 {Approval.version_hash}" in row and Approval.workflow in row

    suspended = cli("runs", "--database", backend_url, "--status", "suspended")
    assert [line.split() for line in suspended.stdout.splitlines()[1:]] == [row.split()]
    limited = cli("runs", "--database", backend_url, "--limit", "2")
    assert len(limited.stdout.splitlines()) == 3
    assert limited.stderr == "(stopped at --limit 2; raise it to see older runs)\n"
    assert ok("runs", "--database", backend_url, "--status", "failed") == (
        "no runs with status 'failed'\n"
    )


def test_text_from_the_database_cannot_break_lines_or_send_escapes(
    backend_url: str, app: continuum.Continuum
) -> None:
    run_id = app.start(Greet, "x\n\x1b[31mred\x9b", run_id="odd\nid\x1b[2J")
    app.result(run_id, timeout=DEADLINE)
    listed = ok("runs", "--database", backend_url)
    assert "\x1b" not in listed and "\x9b" not in listed
    assert listed.splitlines()[1].startswith("odd\\nid\\x1b[2J  ")
    shown = ok("show", run_id, "--database", backend_url)
    assert "\x1b" not in shown and "\x9b" not in shown
    assert 'input     "x\\n\\u001b[31mred\\x9b"' in shown
    assert as_json("show", run_id, "--database", backend_url)["run_id"] == run_id


def test_runs_refuses_an_unknown_status_as_a_usage_error(backend_url: str) -> None:
    message = one_line_error(cli("runs", "--database", backend_url, "--status", "done"), 2)
    assert "'done' is not one of" in message and "'suspended'" in message


# -- show --------------------------------------------------------------------------
def test_show_prints_the_timeline_and_the_history_as_json(
    backend_url: str, app: continuum.Continuum
) -> None:
    run_id = app.start(Approval, {"item": "lamp"})
    waiting(app, run_id)

    text = ok("show", run_id, "--database", backend_url)
    head, journal = text.split("\n\njournal: ")
    assert head.splitlines()[:4] == [
        f"run       {run_id}",
        f"workflow  {Approval.workflow}",
        f"version   1 (hash {Approval.version_hash})",
        "status    suspended",
    ]
    assert 'input     {"item": "lamp"}' in head and "output    -" in head
    assert journal.splitlines()[0] == "2 entries"
    assert journal.splitlines()[1].split() == ["#", "KIND", "NAME", "TIME", "(UTC)", "DETAIL"]
    # position, kind, name, the write's date and time, then the detail
    activity, wait = (line.split(maxsplit=5) for line in journal.splitlines()[2:4])
    assert activity[:3] == ["0", "activity", RESERVE]
    assert activity[5] == '{"reserved": "lamp"}'
    assert wait[:3] == ["1", "signal_wait", "approval"] and wait[5].startswith("waiting, until ")
    assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d", " ".join(activity[3:5]))

    before = as_json("show", run_id, "--database", backend_url)
    assert [(e["seq"], e["kind"], e["name"]) for e in before["history"]] == [
        (0, "activity", RESERVE),
        (1, "signal_wait", "approval"),
    ]
    assert before["history"][0]["payload"] == {"result": {"reserved": "lamp"}}
    assert isinstance(before["history"][1]["payload"]["deadline"], float)

    # A signal sent while nothing takes it shows as pending, then the run goes on.
    ok("signal", run_id, "approval", '{"by": "ana"}', "--database", backend_url)
    assert app.result(run_id, timeout=DEADLINE) == "shipped lamp for ana"

    after = as_json("show", run_id, "--database", backend_url)
    assert set(after) == {
        "run_id",
        "workflow",
        "version_hash",
        "version",
        "status",
        "input",
        "output",
        "error",
        "created_at",
        "updated_at",
        "attributes",
        "parent_run_id",
        "continued_from",
        "continued_to",
        "history",
        "pending_signals",
    }
    assert (after["run_id"], after["workflow"], after["version_hash"]) == (
        run_id,
        Approval.workflow,
        Approval.version_hash,
    )
    assert (after["status"], after["output"], after["error"]) == (
        "completed",
        "shipped lamp for ana",
        None,
    )
    assert after["input"] == {"item": "lamp"} and after["pending_signals"] == []
    history = after["history"]
    assert [(e["seq"], e["kind"], e["name"]) for e in history] == [
        (0, "activity", RESERVE),
        (1, "signal", "approval"),
        (2, "activity", SHIP),
    ]
    assert set(history[1]) == {"seq", "kind", "name", "payload", "recorded_at"}
    assert all(entry["recorded_at"] for entry in history)  # ISO times of each write
    assert history[1]["payload"]["payload"] == {"by": "ana"}
    assert history[2]["payload"] == {"result": "shipped lamp for ana"}

    text = ok("show", run_id, "--database", backend_url)
    assert "status    completed" in text and 'output    "shipped lamp for ana"' in text
    lines = text.split("\n\njournal: ")[1].splitlines()
    assert lines[3].split(maxsplit=3)[:3] == ["1", "signal", "approval"]
    assert lines[3].endswith(': {"by": "ana"}') and "sent " in lines[3]


def test_show_lists_signals_not_yet_taken(backend_url: str, app: continuum.Continuum) -> None:
    run_id = app.start(Collect, None)
    waiting(app, run_id)
    app.shutdown()  # nothing takes the signal now
    ok("signal", run_id, "item", '{"n": 1}', "--database", backend_url)
    shown = as_json("show", run_id, "--database", backend_url)
    assert [(s["name"], s["payload"]) for s in shown["pending_signals"]] == [("item", {"n": 1})]
    text = ok("show", run_id, "--database", backend_url)
    pending = text.split("\n\npending signals: ")[1].splitlines()
    assert pending[0] == "1" and pending[1].split() == ["NAME", "SENT", "(UTC)", "PAYLOAD"]
    assert pending[2].startswith("  item  ") and pending[2].endswith('{"n": 1}')


def test_show_a_failed_run_prints_its_error_and_traceback(
    backend_url: str, app: continuum.Continuum
) -> None:
    run_id = app.start(Approval, {"wrong": "key"})
    wait_until(lambda: status_of(app, run_id) == "failed", DEADLINE, "the run to fail")
    text = ok("show", run_id, "--database", backend_url)
    assert "error     KeyError: 'item'" in text
    assert "          Traceback (most recent call last):" in text
    shown = as_json("show", run_id, "--database", backend_url)
    assert shown["error"]["type"] == "KeyError" and shown["history"] == []


# -- cancel ------------------------------------------------------------------------
def test_cancel_then_cancel_again(backend_url: str, app: continuum.Continuum) -> None:
    run_id = app.start(Approval, {"item": "chair"})
    waiting(app, run_id)
    assert ok("cancel", run_id, "--database", backend_url) == f"cancelled run {run_id}\n"
    assert status_of(app, run_id) == "cancelled"
    assert as_json("show", run_id, "--database", backend_url)["status"] == "cancelled"

    again = cli("cancel", run_id, "--database", backend_url)
    assert again.returncode == 0 and again.stderr == ""
    assert again.stdout == f"run {run_id} had already ended (cancelled); nothing to cancel\n"
    assert as_json("cancel", run_id, "--database", backend_url) == {
        "run_id": run_id,
        "cancelled": False,
        "status": "cancelled",
    }

    done = app.start(Greet, "di")
    app.result(done, timeout=DEADLINE)
    assert "had already ended (completed)" in ok("cancel", done, "--database", backend_url)
    assert status_of(app, done) == "completed"


# -- signal ------------------------------------------------------------------------
def test_signal_with_json_and_a_delivery_id(backend_url: str, app: continuum.Continuum) -> None:
    run_id = app.start(Collect, None)
    waiting(app, run_id)
    url = ("--database", backend_url)
    sent = ok("signal", run_id, "item", '{"n": 1}', "--delivery-id", "d-1", *url)
    assert sent == f"sent signal 'item' to run {run_id} (delivery id d-1)\n"
    ok("signal", run_id, "item", '{"n": 1}', "--delivery-id", "d-1", *url)  # dropped
    ok("signal", run_id, "item", "-", "--delivery-id", "d-2", *url, stdin='[2, "two"]')
    assert app.result(run_id, timeout=DEADLINE) == [{"n": 1}, [2, "two"]]

    # A signal to a run that has ended is a failure; the repeat of a delivery is not.
    ended = one_line_error(cli("signal", run_id, "item", "3", *url), 1)
    assert f"run {run_id} has already ended (completed)" in ended
    ok("signal", run_id, "item", '{"n": 1}', "--delivery-id", "d-1", *url)


def test_signal_without_a_payload_sends_null(backend_url: str, app: continuum.Continuum) -> None:
    run_id = app.start(Collect, None)
    waiting(app, run_id)
    ok("signal", run_id, "item", "--database", backend_url)
    ok("signal", run_id, "item", "null", "--database", backend_url)
    assert app.result(run_id, timeout=DEADLINE) == [None, None]


@pytest.mark.parametrize("payload", ["{bad", "'single'", "NaN", "[1,", ""])
def test_signal_with_bad_json_is_a_usage_error(payload: str, tmp_path: Path) -> None:
    database = f"sqlite:///{tmp_path / 'untouched.db'}"
    done = cli("signal", "some-run", "item", payload, "--database", database)
    message = one_line_error(done, 2)
    assert "Invalid value for '[JSON]': not JSON" in message
    assert "see 'continuum signal --help'" in message
    assert not (tmp_path / "untouched.db").exists()


# -- bad input ---------------------------------------------------------------------
@pytest.mark.parametrize(
    "args",
    [
        ("show", "no-such-run"),
        ("cancel", "no-such-run"),
        ("signal", "no-such-run", "go", "{}"),
    ],
)
def test_an_unknown_run_id_is_one_line(backend_url: str, args: tuple[str, ...]) -> None:
    ok("migrate", "--database", backend_url)
    message = one_line_error(cli(*args, "--database", backend_url), 1)
    assert message == (
        "error: no run with id 'no-such-run': check the id, or list runs with 'continuum runs'\n"
    )


@pytest.mark.parametrize(
    "args",
    [
        ("runs",),
        ("show", "r"),
        ("cancel", "r"),
        ("signal", "r", "go"),
        ("worker", "--app", "json"),
    ],
)
def test_a_missing_database_is_a_usage_error(args: tuple[str, ...], tmp_path: Path) -> None:
    message = one_line_error(cli(*args, cwd=tmp_path), 2)
    assert "Missing option '--database'" in message
    assert f"see 'continuum {args[0]} --help'" in message


def test_the_database_may_come_from_the_environment(backend_url: str) -> None:
    ok("migrate", CONTINUUM_DATABASE_URL=backend_url)
    assert ok("runs", CONTINUUM_DATABASE_URL=backend_url) == "no runs\n"


def test_read_commands_never_create_a_schema_and_say_so(backend_url: str, tmp_path: Path) -> None:
    error = one_line_error(cli("runs", "--database", backend_url), 1)
    assert "'continuum migrate'" in error
    assert no_schema(backend_url, tmp_path)


def no_schema(url: str, folder: Path) -> bool:
    """Nothing was written: no SQLite file, or no Continuum table in the PostgreSQL database."""
    if url.startswith("sqlite:///"):
        return not any(folder.glob("*.db*"))
    return raw_sql(url, "SELECT to_regclass('continuum_runs')") == [(None,)]


@pytest.mark.parametrize(
    ("app_path", "says"),
    [
        ("no_such_module", "--app 'no_such_module' does not import (ModuleNotFoundError: "),
        ("broken_flows", "--app 'broken_flows' does not import (ModuleNotFoundError: "),
        ("syntax_flows", "--app 'syntax_flows' does not import (SyntaxError: "),
        ("script_flows", "--app 'script_flows' does not import (SystemExit: 3; "),
        ("good_flows.Missing", "--app 'good_flows.Missing': module 'good_flows' has no 'Missing'"),
        ("good_flows.helper", "--app 'good_flows.helper' is a function, not a continuum.Workflow"),
        ("json", "workflow module 'json' defines no workflow classes"),
    ],
)
def test_an_app_that_does_not_load_is_one_line_and_writes_nothing(
    backend_url: str, tmp_path: Path, app_path: str, says: str
) -> None:
    (tmp_path / "broken_flows.py").write_text("import not_installed_anywhere\n")
    (tmp_path / "syntax_flows.py").write_text("def oops(:\n")
    (tmp_path / "script_flows.py").write_text("import sys\nsys.exit(3)\n")
    (tmp_path / "good_flows.py").write_text("def helper():\n    pass\n")
    if backend_url.startswith("sqlite:///"):
        backend_url = "sqlite:///app.db"  # relative: in tmp_path, the worker's cwd
    done = cli("worker", "--app", app_path, "--database", backend_url, cwd=tmp_path)
    message = one_line_error(done, 1)
    assert message.startswith(f"error: {says}"), message
    if app_path == "broken_flows":
        assert "No module named 'not_installed_anywhere'" in message
    assert no_schema(backend_url, tmp_path)


def test_a_worker_with_no_workflow_code_says_how_to_name_it(
    backend_url: str, tmp_path: Path
) -> None:
    if backend_url.startswith("sqlite:///"):
        backend_url = "sqlite:///app.db"
    message = one_line_error(cli("worker", "--database", backend_url, cwd=tmp_path), 2)
    assert "no workflow code to run: pass --app MODULE" in message
    assert "CONTINUUM_WORKFLOW_MODULES" in message and "pyproject.toml" in message
    assert no_schema(backend_url, tmp_path)


# -- worker ------------------------------------------------------------------------
FLOWS_SOURCE = '''
import pathlib
import time

import continuum


@continuum.activity
def greet(name):
    return f"hello {name}"


@continuum.activity
def slow_step(folder):
    """Says it started, then waits for the test to let it finish."""
    folder = pathlib.Path(folder)
    (folder / "started").write_text("started")
    deadline = time.monotonic() + 60
    while not (folder / "release").exists() and time.monotonic() < deadline:
        time.sleep(0.01)
    return "slow step done"


class Hello(continuum.Workflow):
    def run(self, name):
        return greet(name)


class TwoSteps(continuum.Workflow):
    def run(self, folder):
        return [slow_step(folder), greet("again")]
'''


@pytest.fixture
def flows(module_dir: Path) -> Iterator[Any]:
    """A workflow module written into a fresh folder (the worker's cwd), imported here too."""
    name = f"worker_flows_{uuid.uuid4().hex[:8]}"
    (module_dir / f"{name}.py").write_text(textwrap.dedent(FLOWS_SOURCE))
    yield importlib.import_module(name)
    sys.modules.pop(name, None)


class Worker:
    """A `continuum worker` subprocess whose log (stderr) goes to a file."""

    def __init__(self, url: str, cwd: Path, *args: str) -> None:
        self.log = cwd / f"worker-{uuid.uuid4().hex[:6]}.log"
        self._log_file = self.log.open("w")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "continuum", "worker", "--database", url, *args],
            cwd=cwd,
            stdout=subprocess.PIPE,
            stderr=self._log_file,
            text=True,
            env=environment(),
        )

    def text(self) -> str:
        return self.log.read_text()

    def wait_for(self, line: str) -> None:
        def seen() -> bool:
            if self.proc.poll() is not None and line not in self.text():
                raise AssertionError(f"worker exited {self.proc.returncode}:\n{self.text()}")
            return line in self.text()

        wait_until(seen, DEADLINE, f"{line!r} in the worker's log")

    def stop(self, signum: int = signal.SIGTERM) -> int:
        self.proc.send_signal(signum)
        return self.proc.wait(DEADLINE)

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        assert self.proc.stdout is not None
        self.proc.stdout.close()
        self._log_file.close()


@pytest.fixture
def start_worker(module_dir: Path) -> Iterator[Callable[..., Worker]]:
    started: list[Worker] = []

    def start(url: str, *args: str) -> Worker:
        worker = Worker(url, module_dir, "--poll-interval", "0.05", "--lease-seconds", "5", *args)
        started.append(worker)
        worker.wait_for("ready: dispatching until SIGTERM or SIGINT")
        return worker

    yield start
    for worker in started:
        worker.close()


@pytest.fixture
def client(backend_url: str) -> Iterator[continuum.Continuum]:
    """Starts and reads runs; executes none."""
    app = continuum.Continuum(
        name="test-client",
        database=backend_url,
        workflow_modules=[],
        dispatch=False,
        poll_interval=0.05,
    )
    with app:
        yield app


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_worker_runs_workflows_until_a_signal_stops_it(
    backend_url: str,
    flows: Any,
    start_worker: Callable[..., Worker],
    client: continuum.Continuum,
    signum: int,
) -> None:
    worker = start_worker(backend_url, "--app", flows.__name__, "--node", "node-a")
    log = worker.text()
    assert "booting node node-a (instance 'default'): concurrency 8, lease 5s" in log
    assert f"booted on {client.store.url}" in log
    for cls in (flows.Hello, flows.TwoSteps):
        assert f"runs {cls.workflow} version 1 (hash {cls.version_hash})" in log

    run_id = client.start(flows.Hello, "ana")
    assert client.result(run_id, timeout=DEADLINE) == "hello ana"
    assert as_json("runs", "--database", backend_url)[0]["status"] == "completed"

    assert worker.stop(signum) == 0
    log = worker.text()
    assert f"{signal.Signals(signum).name} received" in log
    assert log.rstrip().endswith("node node-a shut down")
    assert "Traceback" not in log
    nodes = raw_sql(backend_url, "SELECT node FROM continuum_workflow_version_nodes")
    assert ("node-a",) not in nodes  # a clean shutdown leaves the registry


def test_worker_lets_a_running_activity_finish_then_hands_the_run_back(
    backend_url: str,
    flows: Any,
    module_dir: Path,
    start_worker: Callable[..., Worker],
    client: continuum.Continuum,
) -> None:
    first = start_worker(backend_url, "--app", f"{flows.__name__}.TwoSteps", "--node", "first")
    run_id = client.start(flows.TwoSteps, str(module_dir))
    wait_until((module_dir / "started").exists, DEADLINE, "the slow activity to start")

    first.proc.send_signal(signal.SIGTERM)
    first.wait_for("shutting down")
    assert first.proc.poll() is None  # waiting for the activity to reach a safe point
    (module_dir / "release").write_text("go")
    assert first.proc.wait(DEADLINE) == 0
    assert first.text().rstrip().endswith("node first shut down")

    # The activity's result was journaled; the next one never started.
    shown = as_json("show", run_id, "--database", backend_url)
    assert shown["status"] == "suspended"
    assert [(e["kind"], e["payload"]) for e in shown["history"]] == [
        ("activity", {"result": "slow step done"})
    ]

    start_worker(backend_url, "--app", flows.__name__, "--node", "second")
    assert client.result(run_id, timeout=DEADLINE) == ["slow step done", "hello again"]


def test_a_second_signal_stops_the_worker_at_once(
    backend_url: str,
    flows: Any,
    module_dir: Path,
    start_worker: Callable[..., Worker],
    client: continuum.Continuum,
) -> None:
    worker = start_worker(backend_url, "--app", flows.__name__)
    client.start(flows.TwoSteps, str(module_dir))
    wait_until((module_dir / "started").exists, DEADLINE, "the slow activity to start")
    worker.proc.send_signal(signal.SIGINT)
    worker.wait_for("shutting down")
    assert worker.stop(signal.SIGINT) == 1  # the activity never finishes: no release file
    assert "SIGINT received again: exiting now" in worker.text()


def test_worker_takes_its_code_from_the_environment_chain(
    backend_url: str, flows: Any, start_worker: Callable[..., Worker], module_dir: Path
) -> None:
    (module_dir / "pyproject.toml").write_text(
        f'[tool.continuum]\nworkflow_modules = ["{flows.__name__}.Hello"]\n'
    )
    worker = start_worker(backend_url)
    log = worker.text()
    assert f"runs {flows.Hello.workflow} version 1" in log
    assert flows.TwoSteps.workflow not in log
    assert worker.stop() == 0


def test_runs_filter_by_attribute_and_parent_and_show_the_links(
    backend_url: str, make_app: Callable[..., continuum.Continuum]
) -> None:
    app = make_app(workflow_modules=[Approval])
    tagged = app.start(Approval, {"item": "lamp"}, attributes={"customer": "c-42", "tier": 2})
    app.start(Approval, {"item": "desk"}, attributes={"customer": "c-7"})
    found = as_json("runs", "--database", backend_url, "--attr", "customer=c-42")
    assert [r["run_id"] for r in found] == [tagged]
    assert found[0]["attributes"] == {"customer": "c-42", "tier": 2}
    both = ["--attr", "customer=c-42", "--attr", "tier=2"]
    assert [r["run_id"] for r in as_json("runs", "--database", backend_url, *both)] == [tagged]
    assert as_json("runs", "--database", backend_url, "--attr", 'tier="2"') == []
    assert f"no runs with parent {tagged!r}" in ok(
        "runs", "--database", backend_url, "--parent", tagged
    )
    bad = cli("runs", "--database", backend_url, "--attr", "no-equals")
    assert bad.returncode == 2 and "is not key=value" in bad.stderr
    shown = ok("show", tagged, "--database", backend_url)
    assert re.search(r"attributes +\{\"customer\": \"c-42\", \"tier\": 2\}", shown), shown
