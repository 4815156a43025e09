"""The SQLite backend: `store.py` (the `SQLiteStore`), `connection.py` (opening the
file, translating driver errors), and its SQL in `queries.sql`, `schema.sql` and
`migrations/`."""

from continuum.store.sqlite.connection import _statements, parse_url
from continuum.store.sqlite.store import MIGRATIONS, SCHEMA, Q, SQLiteStore

__all__ = ["MIGRATIONS", "SCHEMA", "Q", "SQLiteStore", "_statements", "parse_url"]
