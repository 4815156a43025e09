"""Load named SQL queries from a package `.sql` file.

    -- name: get_run
    SELECT ... WHERE id = :run_id;

Each backend keeps all of its SQL in one such file, read once at import.
"""

from __future__ import annotations

import re
from importlib import resources

_NAME = re.compile(r"^--\s*name:\s*(\w+)\s*$", re.MULTILINE)


def load_queries(package: str, filename: str) -> dict[str, str]:
    text = resources.files(package).joinpath(filename).read_text(encoding="utf-8")
    parts = _NAME.split(text)
    queries: dict[str, str] = {}
    for name, body in zip(parts[1::2], parts[2::2], strict=True):
        if name in queries:
            raise RuntimeError(f"query {name!r} is defined twice in {package}/{filename}")
        queries[name] = body.strip().rstrip(";")
    return queries


def read_migrations(package: str) -> list[tuple[int, str, str]]:
    """(version, name, sql) for each `migrations/NNNN_name.sql`, in order."""
    folder = resources.files(package).joinpath("migrations")
    found = []
    for entry in folder.iterdir():
        match = re.fullmatch(r"(\d{4})_(\w+)\.sql", entry.name)
        if match:
            found.append((int(match[1]), match[2], entry.read_text(encoding="utf-8")))
    found.sort()
    for expected, (version, name, _) in enumerate(found, start=1):
        if version != expected:
            raise RuntimeError(f"migration {version:04d}_{name} is out of sequence in {package}")
    return found
