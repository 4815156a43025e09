"""Pick a backend from a database URL."""

from __future__ import annotations

import os

from continuum.errors import ConfigurationError, SchemaError
from continuum.store.base import Store

DEFAULT_DATABASE = "sqlite:///continuum.db"


def open_store(database: object = None, *, max_connections: int = 10, create: bool = True) -> Store:
    """Open the store for a URL: `sqlite:///path.db`, `sqlite:///:memory:`,
    `postgresql://...`, or a `psycopg_pool.ConnectionPool` of your own.
    None means `CONTINUUM_DATABASE_URL`, else the embedded default in the working directory;
    an empty string is refused rather than read as None. `create=False`: a SQLite file
    that does not exist is a `SchemaError` rather than a new empty file. A `Store` already
    made (the testing kit's, on a virtual clock) is used as it is."""
    if isinstance(database, Store):
        return database
    if type(database).__name__ == "ConnectionPool":
        return _postgres(database, max_connections)
    if isinstance(database, str) and not database.strip():
        raise ConfigurationError(
            "database= is empty: give a URL such as 'sqlite:///app.db', or leave it out "
            f"for CONTINUUM_DATABASE_URL or the default {DEFAULT_DATABASE!r}"
        )
    url = database or os.environ.get("CONTINUUM_DATABASE_URL") or DEFAULT_DATABASE
    if not isinstance(url, str):
        raise ConfigurationError(
            f"database= must be a URL string such as 'sqlite:///app.db', got {url!r}"
        )
    scheme = url.split(":", 1)[0].lower()
    if scheme == "sqlite":
        from continuum.store.sqlite import SQLiteStore  # noqa: PLC0415 - load backends on use

        return SQLiteStore(url, create=create)
    if scheme in ("postgresql", "postgres"):
        return _postgres(url, max_connections)
    raise ConfigurationError(
        f"unsupported database URL {url!r}: use 'sqlite:///path/to/file.db', "
        "'sqlite:///:memory:' or 'postgresql://user@host/dbname'"
    )


def _postgres(database: object, max_connections: int) -> Store:
    try:
        from continuum.store.postgres import PostgresStore  # noqa: PLC0415 - optional extra
    except ImportError as exc:
        raise ConfigurationError(
            f"PostgreSQL needs the postgres extra: pip install 'continuum-python[postgres]' ({exc})"
        ) from None
    return PostgresStore(database, max_connections=max_connections)  # type: ignore[arg-type]


def require_current_schema(store: Store) -> None:
    """Refuse a schema this release does not write, saying what to run (for
    instances that do not migrate)."""
    found, latest = store.schema_version(), store.latest_schema_version()
    if found == latest:
        return
    if found == 0:
        raise SchemaError(
            f"{store.url} holds no Continuum schema yet: run 'continuum migrate' "
            "(or boot a worker, which creates it)"
        )
    advice = "run 'continuum migrate'" if found < latest else "upgrade continuum-python to match"
    raise SchemaError(
        f"{store.url} has schema version {found} and this release uses {latest}: {advice}"
    )
