"""Load named SQL queries from a package `.sql` file.

    -- name: get_run
    SELECT ... WHERE id = :run_id;

Every entry is one whole statement that a SQL tool could run on its own (a
test prepares each against a real database). Each backend keeps all of its SQL
in one such file, read once at import.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from importlib import resources

from continuum.errors import SchemaError

_NAME = re.compile(r"^--\s*name:\s*(\w+)\s*$", re.MULTILINE)


def load_queries(package: str, filename: str) -> dict[str, str]:
    text = resources.files(package).joinpath(filename).read_text(encoding="utf-8")
    parts = _NAME.split(text)
    queries: dict[str, str] = {}
    for name, body in zip(parts[1::2], parts[2::2], strict=True):
        if name in queries:
            raise RuntimeError(f"query {name!r} is defined twice in {package}/{filename}")
        queries[name] = _compact(body)
    return queries


def _compact(body: str) -> str:
    """The statement without its comment lines and indentation.

    The comments are for whoever reads the file. What goes to the server is
    shorter: less to send and parse, and psycopg caches its conversion of
    statements only up to 4 KiB.
    """
    lines = (line.strip() for line in body.splitlines())
    return "\n".join(line for line in lines if line and not line.startswith("--")).rstrip(";")


@dataclass(frozen=True, slots=True)
class Migration:
    version: int
    name: str
    sql: str


def read_migrations(package: str) -> list[Migration]:
    """Each `migrations/NNNN_name.sql` of a backend package, in order."""
    folder = resources.files(package).joinpath("migrations")
    found = []
    for entry in folder.iterdir():
        match = re.fullmatch(r"(\d{4})_(\w+)\.sql", entry.name)
        if match:
            found.append(Migration(int(match[1]), match[2], entry.read_text(encoding="utf-8")))
    found.sort(key=lambda m: m.version)
    for expected, migration in enumerate(found, start=1):
        if migration.version != expected:
            raise RuntimeError(f"migration {migration.name} is out of sequence in {package}")
    return found


def read_schema(package: str) -> str:
    return resources.files(package).joinpath("schema.sql").read_text(encoding="utf-8")


def plan_migrations(
    applied: Sequence[int], migrations: Sequence[Migration], schema: str
) -> tuple[list[str], list[Migration]]:
    """The scripts to run and the migrations to record as applied.

    An empty database gets `schema.sql` whole and every migration recorded; an
    existing one gets the migrations it has not had, in order.
    """
    latest = migrations[-1].version
    if applied and max(applied) > latest:
        raise SchemaError(
            f"the database schema is at version {max(applied)}, newer than this release "
            f"knows ({latest}); upgrade continuum on this node"
        )
    if not applied:
        return [schema], list(migrations)
    todo = [m for m in migrations if m.version not in applied]
    return [m.sql for m in todo], todo
