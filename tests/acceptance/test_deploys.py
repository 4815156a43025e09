"""Versions across a full redeploy, as an operations team lives it (SPEC 8).

Every process is stopped and restarted on new code while a run waits for a
signal; the version-1 class is no longer in the application's source. With its
body frozen (before the deploy, or restored after it) the run finishes on
version-1 code; without, the pre-deploy gate says so and names the version.
Real `continuum` commands and workers in subprocesses, on both backends.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import continuum
from tests.acceptance.test_cli_runs import DEADLINE, Worker, cli, ok
from tests.conftest import wait_until

pytestmark = pytest.mark.slow

RELEASE = """
import continuum


@continuum.activity
def charge(amount):
    return {{"charged": amount}}


class OrderFlow(continuum.Workflow):
    def run(self, order):
        charged = charge(order["amount"])
        approval = continuum.wait_for_signal("approve")
        return {{"release": {release}, "charged": charged, "by": approval}}
"""


def ship(app_dir: Path, release: int) -> None:
    """Deploy `release` of the application: its module replaces the one before."""
    (app_dir / "shop.py").write_text(textwrap.dedent(RELEASE.format(release=release)))
    for cached in (app_dir / "__pycache__").glob("shop*"):
        cached.unlink()


def run_script(app_dir: Path, script: str, *args: str) -> None:
    """Run `script` with the app's Python, in the app's folder, as a deploy step would."""
    done = subprocess.run(
        [sys.executable, "-c", script, *args],
        cwd=app_dir,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr


def start_order(app_dir: Path, url: str, run_id: str) -> None:
    script = (
        "import sys, continuum, shop\n"
        "with continuum.Continuum(database=sys.argv[1], dispatch=False,"
        " workflow_modules=[shop.OrderFlow]) as app:\n"
        "    app.start(shop.OrderFlow, {'amount': 10}, run_id=sys.argv[2])\n"
    )
    run_script(app_dir, script, url, run_id)


def show(url: str, run_id: str) -> dict[str, Any]:
    return json.loads(ok("show", run_id, "--database", url, "--format", "json"))


@pytest.fixture
def app_dir(tmp_path: Path) -> Iterator[Path]:
    folder = tmp_path / "app"
    folder.mkdir()
    yield folder


@pytest.mark.parametrize("freeze_before_deploy", [True, False])
def test_a_run_waiting_through_a_full_redeploy_finishes_on_its_own_code(
    app_dir: Path, backend_url: str, freeze_before_deploy: bool
) -> None:
    url = backend_url
    ship(app_dir, release=1)
    worker = Worker(url, app_dir, "--app", "shop", "--poll-interval", "0.05")
    try:
        worker.wait_for("ready")
        start_order(app_dir, url, "order-1")
        wait_until(lambda: show(url, "order-1")["status"] == "suspended", DEADLINE, "a wait")
        v1_hash = show(url, "order-1")["version_hash"]
        if freeze_before_deploy:
            frozen = ok("versions", "freeze", "--app", "shop", cwd=app_dir)
            assert f"froze shop.OrderFlow@{v1_hash}" in frozen
            again = ok("versions", "freeze", "--app", "shop", cwd=app_dir)  # idempotent
            assert "0 written, 1 already frozen" in again
        assert worker.stop() == 0
    finally:
        worker.close()

    ship(app_dir, release=2)  # every process now runs release 2
    gate = cli("versions", "check", "--strict", "--app", "shop", "--database", url, cwd=app_dir)
    if not freeze_before_deploy:
        assert gate.returncode == 1, gate.stderr
        assert f"shop.OrderFlow@{v1_hash} would be stranded" in gate.stderr
        assert "STRANDED" in gate.stdout
        restored = ok(
            "versions", "restore", "shop.OrderFlow", v1_hash, "--database", url, cwd=app_dir
        )
        assert "restored" in restored
        gate = cli("versions", "check", "--strict", "--app", "shop", "--database", url, cwd=app_dir)
    assert gate.returncode == 0, gate.stdout + gate.stderr
    checked = json.loads(
        ok("versions", "check", "--app", "shop", "--database", url, "--format", "json", cwd=app_dir)
    )
    assert {(v["version_hash"], v["resolves"]) for v in checked["versions"]} == {
        (v1_hash, "frozen")
    }

    worker = Worker(url, app_dir, "--app", "shop", "--poll-interval", "0.05")
    try:
        worker.wait_for("ready")
        assert f"loaded frozen version shop.OrderFlow@{v1_hash}" in worker.text()
        ok("signal", "order-1", "approve", '"ana"', "--database", url)
        wait_until(lambda: show(url, "order-1")["status"] == "completed", DEADLINE, "completion")
        assert show(url, "order-1")["output"] == {
            "release": 1,
            "charged": {"charged": 10},
            "by": "ana",
        }
        start_order(app_dir, url, "order-2")  # new runs start on release 2
        wait_until(lambda: show(url, "order-2")["status"] == "suspended", DEADLINE, "a wait")
        assert show(url, "order-2")["version_hash"] != v1_hash
        drain = json.loads(ok("versions", "list", "--database", url, "--format", "json"))
        by_hash = {v["version_hash"]: v for v in drain["versions"]}
        assert by_hash[v1_hash]["live_runs"] == 0
        assert "frozen" in by_hash[v1_hash]["held_as"]
        assert worker.stop(signal.SIGTERM) == 0
    finally:
        worker.close()

    # Version 1 is drained: gc would collect its registry row and frozen file, not
    # version 2, which a live run needs and which is current.
    dry = ok("versions", "gc", "--app", "shop", "--database", url, cwd=app_dir)
    assert f"would remove registry row shop.OrderFlow@{v1_hash}" in dry
    assert "would remove frozen file" in dry
    applied = ok("versions", "gc", "--apply", "--app", "shop", "--database", url, cwd=app_dir)
    assert f"removed registry row shop.OrderFlow@{v1_hash}" in applied
    assert list((app_dir / "continuum_versions").glob("*.py")) == []
    assert "nothing to collect" in ok(
        "versions", "gc", "--app", "shop", "--database", url, cwd=app_dir
    )
    with continuum.Continuum(database=url, dispatch=False, workflow_modules=[]) as client:
        assert client.get("order-2").status == "suspended"


def test_a_frozen_file_edited_by_hand_is_refused_at_boot(app_dir: Path, backend_url: str) -> None:
    ship(app_dir, release=1)
    ok("versions", "freeze", "--app", "shop", cwd=app_dir)
    ship(app_dir, release=2)
    [frozen_file] = (app_dir / "continuum_versions").glob("*.py")
    frozen_file.write_text(frozen_file.read_text().replace('"release": 1', '"release": 3'))
    gate = cli(
        "versions", "check", "--strict", "--app", "shop", "--database", backend_url, cwd=app_dir
    )
    assert gate.returncode == 1
    assert "the file was edited" in gate.stderr and frozen_file.name in gate.stderr
    worker = subprocess.run(
        [sys.executable, "-m", "continuum", "worker", "--app", "shop", "--database", backend_url],
        cwd=app_dir,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert worker.returncode == 1
    assert "error:" in worker.stderr and "the file was edited" in worker.stderr
    assert "Traceback" not in worker.stderr


def test_unknown_versions_and_workflows_are_one_line_errors(
    app_dir: Path, backend_url: str
) -> None:
    ship(app_dir, release=1)
    for args in (
        ("versions", "restore", "shop.OrderFlow", "0" * 16),
        ("versions", "diff", "0" * 16, "1" * 16),
        (
            "versions",
            "migrate",
            "shop.Nope",
            "--from",
            "0" * 16,
            "--to",
            "current",
            "--app",
            "shop",
        ),
    ):
        done = cli(*args, "--database", backend_url, cwd=app_dir)
        assert done.returncode == 1, (args, done.stdout, done.stderr)
        assert done.stderr.count("\n") == 1 and done.stderr.startswith("error:"), done.stderr


CHECKOUT = """
import continuum


@continuum.activity
def do(step):
    return step


@continuum.activity
def other(step):
    return step


FIRST = do  # module level: outside the class hash


class Checkout(continuum.Workflow):
    def run(self, order):
        first = FIRST("a")
        go = continuum.wait_for_signal("go")
        {tail}
"""


def ship_checkout(app_dir: Path, *, tail: str, first: str = "do") -> None:
    source = textwrap.dedent(CHECKOUT).format(tail=tail).replace("FIRST = do", f"FIRST = {first}")
    (app_dir / "shop.py").write_text(source)
    for cached in (app_dir / "__pycache__").glob("shop*"):
        cached.unlink()


def start_checkout(app_dir: Path, url: str, run_id: str) -> None:
    script = (
        "import sys, continuum, shop\n"
        "with continuum.Continuum(database=sys.argv[1], workflow_modules=[shop.Checkout],"
        " poll_interval=0.05) as app:\n"
        "    app.start(shop.Checkout, None, run_id=sys.argv[2])\n"
        "    import time\n"
        "    deadline = time.monotonic() + 30\n"
        "    while app.get(sys.argv[2]).status != 'suspended' and time.monotonic() < deadline:\n"
        "        time.sleep(0.01)\n"
    )
    run_script(app_dir, script, url, run_id)


def test_replay_check_catches_a_changed_helper_and_migrate_repins_what_replays(
    app_dir: Path, backend_url: str
) -> None:
    url = backend_url
    ship_checkout(app_dir, tail="return [first, go]")
    start_checkout(app_dir, url, "c-1")
    assert show(url, "c-1")["status"] == "suspended"
    v1_hash = show(url, "c-1")["version_hash"]

    assert "0 would drift" in ok("replay-check", "--app", "shop", "--database", url, cwd=app_dir)
    # A module-level change the class hash cannot see: the first step is another activity.
    ship_checkout(app_dir, tail="return [first, go]", first="other")
    drift = cli("replay-check", "--app", "shop", "--database", url, cwd=app_dir)
    assert drift.returncode == 1
    assert "c-1" in drift.stdout and "position 0" in drift.stdout and "shop.other" in drift.stdout

    # Release 2 adds a step after the wait: old histories replay through it cleanly.
    ship_checkout(app_dir, tail='return [first, go, do("b")]')
    dry = ok("versions", "migrate", "shop.Checkout", "--from", v1_hash, "--to", "current",
             "--app", "shop", "--database", url, cwd=app_dir)  # fmt: skip
    assert "replays cleanly" in dry and "dry run" in dry
    assert show(url, "c-1")["version_hash"] == v1_hash  # nothing moved yet
    applied = json.loads(
        ok("versions", "migrate", "shop.Checkout", "--from", v1_hash, "--to", "current",
           "--app", "shop", "--apply", "--format", "json", "--database", url, cwd=app_dir)
    )  # fmt: skip
    assert [r["outcome"] for r in applied["runs"]] == ["re-pinned"]
    assert show(url, "c-1")["version_hash"] == applied["to"] != v1_hash

    worker = Worker(url, app_dir, "--app", "shop", "--poll-interval", "0.05")
    try:
        worker.wait_for("ready")
        ok("signal", "c-1", "go", '"now"', "--database", url)
        wait_until(lambda: show(url, "c-1")["status"] == "completed", DEADLINE, "completion")
        assert show(url, "c-1")["output"] == ["a", "now", "b"]  # finished on release 2
    finally:
        worker.stop()
        worker.close()


def test_migrate_leaves_runs_whose_journal_the_new_body_cannot_replay(
    app_dir: Path, backend_url: str
) -> None:
    ship_checkout(app_dir, tail="return [first, go]")
    start_checkout(app_dir, backend_url, "c-2")
    v1_hash = show(backend_url, "c-2")["version_hash"]
    ship_checkout(app_dir, tail="return [first, go]", first="other")
    (app_dir / "shop.py").write_text((app_dir / "shop.py").read_text().replace("go]", "go, 1]"))
    result = json.loads(
        ok("versions", "migrate", "shop.Checkout", "--from", v1_hash, "--to", "current",
           "--app", "shop", "--apply", "--format", "json", "--database", backend_url,
           cwd=app_dir)
    )  # fmt: skip
    [only] = result["runs"]
    assert only["outcome"] == "drifts" and "position 0" in only["drift"]
    assert show(backend_url, "c-2")["version_hash"] == v1_hash


def test_a_versions_folder_that_cannot_be_written_is_one_line_and_writes_nothing(
    app_dir: Path,
) -> None:
    ship(app_dir, release=1)
    (app_dir / "not-a-folder").write_text("a file where the folder should be")
    usage = cli(
        "versions", "freeze", "--app", "shop", "--versions-dir", "not-a-folder", cwd=app_dir
    )
    assert usage.returncode == 2 and "is a file" in usage.stderr  # click says so up front
    inside = "not-a-folder/versions"  # a folder that cannot be made
    done = cli("versions", "freeze", "--app", "shop", "--versions-dir", inside, cwd=app_dir)
    assert done.returncode == 1
    assert done.stderr.startswith(f"error: cannot write frozen versions into {inside}")
    assert done.stderr.count("\n") == 1
    assert (app_dir / "not-a-folder").read_text() == "a file where the folder should be"


def test_a_malformed_frozen_file_is_named_at_boot_and_by_the_gate(
    app_dir: Path, backend_url: str
) -> None:
    ship(app_dir, release=1)
    versions = app_dir / "continuum_versions"
    versions.mkdir()
    (versions / "shop.OrderFlow@0123456789abcdef.py").write_text("class OrderFlow: pass\n")
    gate = cli(
        "versions", "check", "--strict", "--app", "shop", "--database", backend_url, cwd=app_dir
    )
    assert gate.returncode == 1
    assert "shop.OrderFlow@0123456789abcdef.py" in gate.stderr and "malformed" in gate.stderr
    boot = cli("worker", "--app", "shop", "--database", backend_url, cwd=app_dir)
    assert boot.returncode == 1 and "malformed" in boot.stderr
    assert "Traceback" not in boot.stderr


def test_a_rolling_deploy_hands_old_runs_to_new_nodes_that_carry_the_frozen_version(
    app_dir: Path, backend_url: str
) -> None:
    """Old nodes keep running while new nodes, with version 1 frozen, join; then the
    old nodes stop and the new ones finish version-1 runs on version-1 code."""
    url = backend_url
    ship(app_dir, release=1)
    old_node = Worker(url, app_dir, "--app", "shop", "--poll-interval", "0.05")
    try:
        old_node.wait_for("ready")
        start_order(app_dir, url, "rolling-1")
        wait_until(lambda: show(url, "rolling-1")["status"] == "suspended", DEADLINE, "a wait")
        ok("versions", "freeze", "--app", "shop", cwd=app_dir)
        ship(app_dir, release=2)  # the new release, frozen version 1 included
        new_node = Worker(url, app_dir, "--app", "shop", "--poll-interval", "0.05")
        try:
            new_node.wait_for("ready")
            assert "loaded frozen version shop.OrderFlow@" in new_node.text()
            assert old_node.stop() == 0
            ok("signal", "rolling-1", "approve", '"bo"', "--database", url)
            wait_until(lambda: show(url, "rolling-1")["status"] == "completed", DEADLINE, "done")
            assert show(url, "rolling-1")["output"]["release"] == 1
            assert "run rolling-1 (shop.OrderFlow) resumed" in new_node.text()
        finally:
            new_node.stop()
            new_node.close()
    finally:
        old_node.close()


def test_the_gate_names_a_frozen_body_whose_module_lost_a_name_or_is_gone(
    app_dir: Path, backend_url: str
) -> None:
    """A frozen body resolves module-level names in today's module: one that is gone
    would fail runs later with a NameError, so the gate says so now."""
    (app_dir / "shop.py").write_text(
        textwrap.dedent(
            """
            import continuum


            def helper(x):
                return x


            class OrderFlow(continuum.Workflow):
                def run(self, order):
                    return helper(order)
            """
        )
    )
    ok("versions", "freeze", "--app", "shop", cwd=app_dir)
    (app_dir / "shop.py").write_text(
        "import continuum\n\n\nclass OrderFlow(continuum.Workflow):\n"
        "    def run(self, order):\n        return order\n"
    )
    for cached in (app_dir / "__pycache__").glob("shop*"):
        cached.unlink()
    gate = cli(
        "versions", "check", "--strict", "--app", "shop", "--database", backend_url, cwd=app_dir
    )
    assert gate.returncode == 1
    assert "uses helper, which module 'shop' no longer defines" in gate.stderr

    [frozen_file] = (app_dir / "continuum_versions").glob("*.py")
    frozen_file.write_text(frozen_file.read_text().replace('"module": "shop"', '"module": "gone"'))
    gate = cli(
        "versions", "check", "--strict", "--app", "shop", "--database", backend_url, cwd=app_dir
    )
    assert gate.returncode == 1
    assert "its workflow module 'gone' does not import" in gate.stderr
