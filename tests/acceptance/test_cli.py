"""The `continuum` command, run as users run it."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from continuum.store.postgres import MIGRATIONS as PG_MIGRATIONS
from continuum.store.sqlite import MIGRATIONS as SQLITE_MIGRATIONS

pytestmark = pytest.mark.slow


def continuum_cli(
    *args: str,
    env: dict[str, str] | None = None,
    module: str = "continuum.cli",
    cwd: Path | None = None,
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", module, *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env={**os.environ, **(env or {})},
        cwd=cwd,
    )


def assert_one_line_error(done: subprocess.CompletedProcess[str], code: int) -> str:
    assert done.returncode == code, (done.returncode, done.stderr)
    assert "Traceback" not in done.stderr
    assert done.stderr.startswith("error: ") and done.stderr.count("\n") == 1, done.stderr
    return done.stderr


def test_migrate_creates_then_reports_up_to_date(backend_url: str) -> None:
    first = continuum_cli("migrate", "--database", backend_url)
    assert first.returncode == 0, first.stderr
    latest = SQLITE_MIGRATIONS[-1].version
    assert latest == PG_MIGRATIONS[-1].version
    assert f"from schema version 0 to {latest}" in first.stdout
    again = continuum_cli("migrate", env={"CONTINUUM_DATABASE_URL": backend_url})
    assert again.returncode == 0 and f"up to date (version {latest})" in again.stdout


def test_migrate_without_a_database_says_what_to_do() -> None:
    env = {k: v for k, v in os.environ.items() if k != "CONTINUUM_DATABASE_URL"}
    done = subprocess.run(
        [sys.executable, "-m", "continuum.cli", "migrate"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env=env,
    )
    assert done.returncode != 0 and "--database" in done.stderr


def test_migrate_with_a_bad_url_is_a_clear_error() -> None:
    done = continuum_cli("migrate", "--database", "mysql://nope")
    assert done.returncode == 1
    assert "error: unsupported database URL" in done.stderr and "Traceback" not in done.stderr


def test_python_dash_m_continuum_is_the_cli(tmp_path: Path) -> None:
    shown = continuum_cli("--help", module="continuum")
    assert shown.returncode == 0, shown.stderr
    assert shown.stdout.startswith("Usage: continuum ") and "migrate" in shown.stdout
    done = continuum_cli(
        "migrate", "--database", "sqlite:///x.db", module="continuum", cwd=tmp_path
    )
    assert done.returncode == 0, done.stderr
    assert "from schema version 0 to" in done.stdout and (tmp_path / "x.db").is_file()


def test_python_dash_m_and_the_script_print_the_same_help() -> None:
    script = Path(sys.executable).parent / "continuum"
    if not script.exists():
        pytest.skip("the continuum script is not installed next to this interpreter")
    by_script = subprocess.run(
        [str(script), "--help"], capture_output=True, text=True, timeout=60, check=False
    )
    assert by_script.returncode == 0
    assert by_script.stdout == continuum_cli("--help", module="continuum").stdout


def test_an_unreachable_postgres_is_one_line() -> None:
    # port 1: nothing listens there; connect_timeout keeps the wait short
    url = "postgresql://nobody@127.0.0.1:1/app?connect_timeout=1"
    message = assert_one_line_error(continuum_cli("migrate", "--database", url), 1)
    assert "cannot connect to PostgreSQL" in message and "refused" in message


@pytest.mark.parametrize(
    ("url", "says"),
    [
        ("postgresql://[bad", "bad PostgreSQL URL"),
        ("postgresql://u@h/db?connect_timeout=abc", "connect_timeout"),
        ("sqlite://", "bad SQLite URL"),
        ("sqlite:///no/such/folder/x.db", "does not exist"),
        ("mysql://nope", "unsupported database URL"),
    ],
)
def test_a_malformed_url_is_one_line(url: str, says: str) -> None:
    message = assert_one_line_error(
        continuum_cli("migrate", "--database", url, module="continuum"), 1
    )
    assert says in message


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (("nosuch",), "No such command 'nosuch'; see 'continuum --help'"),
        (("migrate", "--bogus"), "No such option"),
        (("migrate",), "Missing option '--database'; see 'continuum migrate --help'"),
    ],
)
def test_usage_mistakes_are_one_line_and_exit_2(args: tuple[str, ...], says: str) -> None:
    env = {k: v for k, v in os.environ.items() if k != "CONTINUUM_DATABASE_URL"}
    done = subprocess.run(
        [sys.executable, "-m", "continuum", *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env=env,
    )
    assert says in assert_one_line_error(done, 2)
