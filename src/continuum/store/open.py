"""Pick a backend from a database URL."""

from __future__ import annotations

import os

from continuum.errors import ConfigurationError
from continuum.store.base import Store

DEFAULT_DATABASE = "sqlite:///continuum.db"


def open_store(database: str | None) -> Store:
    """Open the store for a URL: `sqlite:///path.db`, `sqlite:///:memory:`,
    or `postgresql://...`. None means the embedded default in the working directory."""
    url = database or os.environ.get("CONTINUUM_DATABASE_URL") or DEFAULT_DATABASE
    if not isinstance(url, str):
        raise ConfigurationError(
            f"database= must be a URL string such as 'sqlite:///app.db', got {url!r}"
        )
    scheme = url.split(":", 1)[0].lower()
    if scheme == "sqlite":
        from continuum.store.sqlite import SQLiteStore  # noqa: PLC0415 - load backends on use

        return SQLiteStore(url)
    if scheme in ("postgresql", "postgres"):
        raise ConfigurationError(
            "PostgreSQL support is not available in this release; use an sqlite:/// URL"
        )
    raise ConfigurationError(
        f"unsupported database URL {url!r}: use 'sqlite:///path/to/file.db' "
        "(or 'sqlite:///:memory:' for tests)"
    )
