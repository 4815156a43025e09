"""Workflows defined in a script, run as users run them: `python shop.py`.

A class in a script lives in `__main__`; its identity must name the module other
processes import (`shop`), or a worker that imports `shop` never runs its runs.
"""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

SHOP = """\
import sys
import time

import continuum


@continuum.activity
def greet(name):
    return f"hello {name}"


class Greet(continuum.Workflow):
    def run(self, input):
        return greet(input)


class Later(continuum.Workflow):
    def run(self, input):
        greeting = greet(input)
        continuum.wait_for_signal("go")
        return greeting


if __name__ == "__main__":
    print(Greet.__continuum_workflow__(), Greet.version_hash)
    if len(sys.argv) == 2:  # start a run and leave it to the workers
        with continuum.Continuum(
            database=sys.argv[1], dispatch=False, workflow_modules=[Greet]
        ) as app:
            print(app.start(Greet, "ana"))
    elif len(sys.argv) == 3:  # run Later up to its signal here, then leave it
        with continuum.Continuum(
            database=sys.argv[1], workflow_modules=[Later], poll_interval=0.05
        ) as app:
            run_id = app.start(Later, "ana")
            while app.get(run_id).status != "suspended":
                time.sleep(0.02)
            print(run_id)
"""

WORKER = """\
import sys

import continuum
import shop

url, run_id = sys.argv[1:]
with continuum.Continuum(
    database=url, workflow_modules=[shop.Greet], poll_interval=0.05
) as app:
    print(shop.Greet.__continuum_workflow__(), shop.Greet.version_hash)
    print(app.result(run_id, timeout=20))
"""


def python(
    *args: str, cwd: Path, pythonpath: Path | None = None
) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "PYTHONWARNINGS"}
    if pythonpath is not None:
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(pythonpath), env.get("PYTHONPATH")]))
    return subprocess.run(
        [sys.executable, "-W", "error::UserWarning", *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        cwd=cwd,
        env=env,
    )


def test_a_script_workflow_is_named_after_its_module(tmp_path: Path) -> None:
    (tmp_path / "shop.py").write_text(SHOP)
    done = python("shop.py", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split()[0] == "shop.Greet"
    assert done.stderr == ""


def test_python_dash_m_names_the_package_module(tmp_path: Path) -> None:
    (tmp_path / "pkg").mkdir()
    (tmp_path / "pkg" / "__init__.py").write_text("")
    (tmp_path / "pkg" / "shop.py").write_text(SHOP)
    done = python("-m", "pkg.shop", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split()[0] == "pkg.shop.Greet"
    # run by path from the project folder, the package structure names it the same way
    by_path = python("pkg/shop.py", cwd=tmp_path, pythonpath=tmp_path)
    assert by_path.stdout.split()[0] == "pkg.shop.Greet", by_path.stderr


def test_a_script_with_no_module_name_warns_what_to_do(tmp_path: Path) -> None:
    (tmp_path / "my-shop.py").write_text(SHOP)
    done = python("-W", "default::UserWarning", "my-shop.py", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split()[0] == "__main__.Greet"
    class_line = SHOP.splitlines().index("class Greet(continuum.Workflow):") + 1
    assert f"my-shop.py:{class_line}: WorkflowIdentityWarning" in done.stderr
    assert 'workflow="' in done.stderr and "importable module" in done.stderr
    named = SHOP
    for name in ("Greet", "Later"):
        named = named.replace(
            f"class {name}(continuum.Workflow)",
            f'class {name}(continuum.Workflow, workflow="shop.{name}")',
        )
    (tmp_path / "my-shop.py").write_text(named)
    explicit = python("my-shop.py", cwd=tmp_path)  # warnings are errors here
    assert explicit.returncode == 0, explicit.stderr
    assert explicit.stdout.split()[0] == "shop.Greet"


def test_a_worker_that_imports_the_script_runs_its_runs(tmp_path: Path) -> None:
    app_dir, elsewhere = tmp_path / "app", tmp_path / "elsewhere"
    app_dir.mkdir()
    elsewhere.mkdir()
    (app_dir / "shop.py").write_text(SHOP)
    url = f"sqlite:///{tmp_path / 'shared.db'}"

    started = python(str(app_dir / "shop.py"), url, cwd=elsewhere)
    assert started.returncode == 0, started.stderr
    identity, run_id = started.stdout.split("\n")[0], started.stdout.split("\n")[1]
    with sqlite3.connect(tmp_path / "shared.db") as db:
        stored = db.execute(
            "SELECT workflow, version_hash, status FROM continuum_runs WHERE id = ?", (run_id,)
        ).fetchone()
    assert f"{stored[0]} {stored[1]}" == identity == identity.replace("__main__", "shop")
    assert stored[2] == "pending"

    worker = python("-c", WORKER, url, run_id, cwd=elsewhere, pythonpath=app_dir)
    assert worker.returncode == 0, worker.stderr
    assert worker.stdout.splitlines() == [identity, "hello ana"]


RESUME = """\
import sys

import continuum
import shop

url, run_id = sys.argv[1:]
with continuum.Continuum(
    database=url, workflow_modules=[shop.Later], poll_interval=0.05
) as app:
    app.signal(run_id, "go")
    print(app.result(run_id, timeout=5))
"""


def test_a_run_the_script_began_resumes_on_a_worker(tmp_path: Path) -> None:
    app_dir = tmp_path / "app"
    app_dir.mkdir()
    (app_dir / "shop.py").write_text(SHOP)
    url = f"sqlite:///{tmp_path / 'shared.db'}"
    began = python("shop.py", url, "run-here", cwd=app_dir)
    assert began.returncode == 0, began.stderr
    run_id = began.stdout.splitlines()[1]
    worker = python("-c", RESUME, url, run_id, cwd=tmp_path, pythonpath=app_dir)
    assert worker.returncode == 0, worker.stderr
    assert worker.stdout.splitlines() == ["hello ana"]
