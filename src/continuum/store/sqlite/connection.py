"""Opening the SQLite file, and SQLite's errors translated at the store boundary.

This is driver plumbing, not SQL the store runs: the PRAGMAs that set a
connection up, and (in `store.py`) the BEGIN, COMMIT and SAVEPOINT lines that
frame transactions. Every statement about runs, journals and signals is in
`queries.sql`.
"""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager

from continuum.errors import ConfigurationError, DatabaseUnavailable, SchemaError, StoreError

_SYNCHRONOUS = {"full": "FULL", "normal": "NORMAL", "extra": "EXTRA"}


def parse_url(url: str) -> tuple[str, dict[str, str]]:
    """`sqlite:///rel.db`, `sqlite:////abs.db`, `sqlite:///:memory:`, with `?key=value`."""
    if not url.startswith("sqlite:///"):
        raise ConfigurationError(
            f"bad SQLite URL {url!r}: write 'sqlite:///relative/path.db', "
            "'sqlite:////absolute/path.db' or 'sqlite:///:memory:'"
        )
    path, _, query = url[len("sqlite:///") :].partition("?")
    if not path:
        raise ConfigurationError(f"SQLite URL {url!r} names no file")
    options = dict(pair.partition("=")[::2] for pair in query.split("&") if pair)
    unknown = set(options) - {"synchronous", "busy_timeout"}
    if unknown:
        raise ConfigurationError(
            f"unknown SQLite URL option(s) {sorted(unknown)}: "
            "supported are synchronous=full|normal|extra and busy_timeout=<ms>"
        )
    return path, options


def connect(url: str, *, create: bool = True) -> sqlite3.Connection:
    """One connection to the file a URL names, in WAL mode, with its options applied;
    `create=False` refuses a file that does not exist rather than make an empty one."""
    path, options = parse_url(url)
    synchronous = _SYNCHRONOUS.get(options.get("synchronous", "full").lower())
    if synchronous is None:
        raise ConfigurationError("SQLite option synchronous= takes full, normal or extra")
    try:
        busy_ms = int(options.get("busy_timeout", "30000"))
        if busy_ms < 0:
            raise ValueError(busy_ms)
    except ValueError:
        raise ConfigurationError(
            "SQLite option busy_timeout= takes a whole number of milliseconds >= 0, "
            f"got {options['busy_timeout']!r}"
        ) from None
    memory = path == ":memory:"
    if not memory:
        folder = os.path.dirname(os.path.abspath(path))
        if not os.path.isdir(folder):
            raise DatabaseUnavailable(
                f"cannot open SQLite database {path!r}: folder {folder!r} does not exist; "
                "create it or point database= elsewhere"
            )
        if not create and not os.path.exists(path):
            raise SchemaError(
                f"SQLite database {path!r} does not exist: check the path, or create it "
                "with 'continuum migrate' (or by booting a worker)"
            )
    try:
        conn = sqlite3.connect(
            path, timeout=busy_ms / 1000, isolation_level=None, check_same_thread=False
        )
        conn.row_factory = sqlite3.Row
        if not memory:
            conn.execute("PRAGMA journal_mode=WAL")
        conn.execute(f"PRAGMA synchronous={synchronous}")  # one of three fixed words
        conn.execute("PRAGMA foreign_keys=ON")
    except sqlite3.Error as exc:
        raise DatabaseUnavailable(
            f"cannot open SQLite database {path!r}: {exc}; check the path and permissions"
        ) from None
    return conn


def _statements(script: str) -> Iterator[str]:
    """Split a migration into statements (executescript would commit mid-transaction)."""
    pending = ""
    for line in script.splitlines(keepends=True):
        pending += line
        if sqlite3.complete_statement(pending):
            yield pending
            pending = ""
    if pending.strip() and not all(
        ln.strip().startswith("--") or not ln.strip() for ln in pending.splitlines()
    ):
        raise SchemaError("a migration ends with an incomplete SQL statement")


@contextmanager
def translated() -> Iterator[None]:
    """Driver errors become ContinuumErrors at the store boundary."""
    try:
        yield
    except sqlite3.OperationalError as exc:
        text = str(exc)
        if "locked" in text or "busy" in text:
            raise StoreError(
                f"the SQLite database stayed locked past the busy timeout ({text}); "
                "another process holds a long write, or raise busy_timeout in the URL"
            ) from exc
        if "unable to open" in text or "readonly" in text or "disk" in text:
            raise DatabaseUnavailable(f"SQLite database unavailable: {text}") from exc
        raise StoreError(f"SQLite error: {text}") from exc
    except sqlite3.DatabaseError as exc:
        raise StoreError(f"SQLite error: {exc}") from exc


class Connected:
    """What the store's mixins (observe, schedules) call on `SQLiteStore`, which has
    them: its clock and its one connection, for a read or a write transaction."""

    def now(self) -> float:
        raise NotImplementedError  # SQLiteStore's

    def _read(self) -> AbstractContextManager[sqlite3.Connection]:
        raise NotImplementedError  # SQLiteStore's

    def _write(self) -> AbstractContextManager[sqlite3.Connection]:
        raise NotImplementedError  # SQLiteStore's
