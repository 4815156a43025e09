"""Statements over many runs whose filters are optional: the run list and pruning.

A catch-all predicate such as `(:workflow IS NULL OR workflow = :workflow)` hides
from PostgreSQL which filters a query has once its statement is prepared: the
generic plan must serve every combination, so it cannot use the index that the
filters given would pick, and scans. Such statements are written instead with one
filter per line, each line beginning with `AND` (see `query_runs` in either
backend's `queries.sql`), and `compose` keeps the lines of the filters a query has:
every combination becomes a statement of its own, planned for what it filters on.
Nothing but lines of the file goes into a statement; every value is a parameter.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping, Sequence
from typing import Any, Literal

from continuum.errors import ConfigurationError
from continuum.store.values import STATUSES, TERMINAL_STATUSES, RunCursor, RunFilter

# The DB-API names of the two placeholder styles: %(name)s (psycopg), :name (sqlite3).
ParamStyle = Literal["pyformat", "named"]
_PLACEHOLDER = {
    "pyformat": re.compile(r"%\((\w+)\)s"),
    "named": re.compile(r"(?<![:\w]):(\w+)"),
}


def compose(statement: str, params: Mapping[str, Any], paramstyle: ParamStyle) -> str:
    """`statement` without the lines that begin with `AND` and name a parameter
    missing from `params` (a filter the query does not have)."""
    return _compose(statement, frozenset(params), paramstyle)


@functools.lru_cache(maxsize=256)
def _compose(statement: str, given: frozenset[str], paramstyle: ParamStyle) -> str:
    placeholder = _PLACEHOLDER[paramstyle]
    kept = [
        line
        for line in statement.splitlines()
        if not line.startswith("AND ") or given.issuperset(placeholder.findall(line))
    ]
    return "\n".join(kept)


def run_filter_params(where: RunFilter, after: RunCursor | None, limit: int) -> dict[str, Any]:
    """The parameters of a run list: only those of the filters `where` has (statuses
    sorted and without repeats), the keyset cursor's and the page size."""
    _no_string(where.statuses, "statuses")
    unknown = sorted(set(where.statuses) - STATUSES)
    if unknown:
        raise ConfigurationError(
            f"unknown run status(es) {unknown}: use any of {', '.join(sorted(STATUSES))}"
        )
    params: dict[str, Any] = {"limit": limit}
    if where.statuses:
        params["statuses"] = sorted(set(where.statuses))
    for name in (
        "workflow",
        "version_hash",
        "run_id",
        "parent_run_id",
        "created_after",
        "created_before",
    ):
        value = getattr(where, name)
        if value is not None:
            params[name] = value
    if where.attributes_json is not None and where.attributes_json != "{}":
        params["attributes"] = where.attributes_json  # {} asks for nothing: no filter
    if after is not None:
        params["after_created_at"], params["after_id"] = after.created_at, after.run_id
    return params


def prune_params(
    *,
    finished_before: float,
    statuses: Sequence[str],
    workflows: Sequence[str] | None,
    limit: int | None = None,
) -> dict[str, Any]:
    """The parameters of `prune_runs`/`count_prunable`; refuses a status that is not
    an end status (only ended runs are ever deleted)."""
    _no_string(statuses, "statuses")
    _no_string(workflows, "workflows")
    if not set(statuses) <= TERMINAL_STATUSES:
        raise ConfigurationError(
            f"prune deletes only runs that ended, not {sorted(set(statuses) - TERMINAL_STATUSES)}"
            f": use any of {', '.join(sorted(TERMINAL_STATUSES))}; nothing was deleted"
        )
    params: dict[str, Any] = {
        "finished_before": finished_before,
        "statuses": sorted(set(statuses)),
    }
    if workflows is not None:
        params["workflows"] = sorted(set(workflows))
    if limit is not None:
        params["limit"] = limit
    return params


def _no_string(value: object, name: str) -> None:
    """A lone string is a sequence of letters: refused rather than read as statuses."""
    if isinstance(value, str):
        raise ConfigurationError(f"{name} takes a list, not the string {value!r}")
