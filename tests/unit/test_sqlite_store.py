"""SQLite specifics: URLs, driver errors translated at the store boundary."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from continuum.errors import StoreError
from continuum.store import NewRun
from continuum.store.sqlite import SQLiteStore, parse_url


@pytest.mark.parametrize(
    ("url", "path", "options"),
    [
        ("sqlite:///app.db", "app.db", {}),
        ("sqlite:////var/lib/app.db", "/var/lib/app.db", {}),
        ("sqlite:///:memory:", ":memory:", {}),
        (
            "sqlite:///a.db?synchronous=normal&busy_timeout=5",
            "a.db",
            {"synchronous": "normal", "busy_timeout": "5"},
        ),
    ],
)
def test_urls(url: str, path: str, options: dict[str, str]) -> None:
    assert parse_url(url) == (path, options)


def test_a_database_locked_past_the_busy_timeout_is_a_store_error(tmp_path: Path) -> None:
    file = tmp_path / "locked.db"
    store = SQLiteStore(f"sqlite:///{file}?busy_timeout=50")
    store.migrate()
    blocker = sqlite3.connect(file, isolation_level=None)
    blocker.execute("BEGIN IMMEDIATE")
    try:
        with pytest.raises(StoreError, match="stayed locked past the busy timeout"):
            store.create_run(NewRun("r", "wf", "h", 1, "null"))
    finally:
        blocker.execute("ROLLBACK")
        blocker.close()
    assert store.create_run(NewRun("r", "wf", "h", 1, "null"))[1] is True
    store.close()


def test_bad_option_values(tmp_path: Path) -> None:
    from continuum.errors import ConfigurationError

    with pytest.raises(ConfigurationError, match="synchronous"):
        SQLiteStore(f"sqlite:///{tmp_path}/a.db?synchronous=off")
    with pytest.raises(ConfigurationError, match="busy_timeout"):
        SQLiteStore(f"sqlite:///{tmp_path}/a.db?busy_timeout=soon")
    with pytest.raises(ConfigurationError, match=r"busy_timeout=.*>= 0, got '-5'"):
        SQLiteStore(f"sqlite:///{tmp_path}/a.db?busy_timeout=-5")
