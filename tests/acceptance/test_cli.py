"""The `continuum` command, run as users run it."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from continuum.store.postgres import MIGRATIONS as PG_MIGRATIONS
from continuum.store.sqlite import MIGRATIONS as SQLITE_MIGRATIONS

pytestmark = pytest.mark.slow


def continuum_cli(
    *args: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "continuum.cli", *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env={**os.environ, **(env or {})},
    )


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
