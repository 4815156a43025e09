"""The PostgreSQL backend: `store.py` (the `PostgresStore`), `connection.py` (connecting,
failing fast on wrong settings, translating driver errors), and its SQL in
`queries.sql`, `schema.sql` and `migrations/`."""

from continuum.store.postgres.store import MIGRATIONS, SCHEMA, PostgresStore, Q

__all__ = ["MIGRATIONS", "SCHEMA", "PostgresStore", "Q"]
