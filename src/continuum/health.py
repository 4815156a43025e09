"""The health report behind `app.health()` and `continuum health`.

Each check says whether it needs attention and why, in words an operator can
act on. The report reads the database once per check, on the database clock:

- database: reachable, and its schema is the one this release writes;
- nodes: which nodes beat recently, and that some node is alive while runs wait;
- expired_leases: runs whose node stopped renewing and that nobody took over;
- overdue_runs: runs due for longer than `overdue_after` seconds and not claimed;
- stranded_versions: live runs pinned to a version no live node holds;
- listeners: nodes whose notification listener is reconnecting.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from continuum.errors import ContinuumError
from continuum.store.base import NodeRecord, Store


@dataclass(frozen=True, slots=True)
class Check:
    name: str
    ok: bool
    detail: str
    data: dict[str, Any]

    def as_dict(self) -> dict[str, Any]:
        return {"name": self.name, "ok": self.ok, "detail": self.detail, **self.data}


def report(
    store: Store, *, overdue_after: float, alive_within: float, examples: int = 5
) -> dict[str, Any]:
    """The health report as a JSON-ready dict: `ok`, `checks`, `nodes`."""
    try:
        now = store.now()
    except ContinuumError as exc:
        down = Check("database", False, f"unreachable: {exc}", {})
        return {"ok": False, "checked_at": _iso(None), "checks": [down.as_dict()], "nodes": []}
    try:
        checks, nodes = _checks(store, now, overdue_after, alive_within, examples)
    except ContinuumError as exc:
        checks, nodes = [Check("database", False, f"a health query failed: {exc}", {})], []
    return {
        "ok": all(check.ok for check in checks),
        "checked_at": _iso(now),
        "checks": [check.as_dict() for check in checks],
        "nodes": [_node(n, now, alive_within) for n in nodes],
    }


def _checks(
    store: Store, now: float, overdue_after: float, alive_within: float, examples: int
) -> tuple[list[Check], list[NodeRecord]]:
    version, latest = store.schema_version(), store.latest_schema_version()
    database = Check(
        "database",
        version == latest,
        f"reachable; schema version {version}"
        + ("" if version == latest else f", but this release expects {latest}: boot an instance"),
        {"schema_version": version, "expected_schema_version": latest},
    )
    found = store.store_health(
        grace=overdue_after,
        overdue_after=overdue_after,
        alive_within=alive_within,
        examples=examples,
    )
    nodes = store.list_nodes()
    alive = [n for n in nodes if now - n.heartbeat_at <= alive_within]
    silent = [f"{n.instance}/{n.node}" for n in nodes if n not in alive]
    waiting = found.oldest_due is not None or found.expired > 0
    nodes_check = Check(
        "nodes",
        bool(alive) or not waiting,
        f"{len(alive)} alive"
        + (
            f", {len(silent)} silent for over {alive_within:g}s: {', '.join(silent)}"
            if silent
            else ""
        )
        + ("" if alive or not waiting else "; runs are due and no node is executing them"),
        {"alive": len(alive), "silent": silent},
    )
    expired = Check(
        "expired_leases",
        found.expired == 0,
        "none"
        if found.expired == 0
        else f"{found.expired} run(s) whose node stopped renewing its lease over "
        f"{overdue_after:g}s ago and no node took over (are any nodes running?)",
        {"count": found.expired, "runs": list(found.expired_examples)},
    )
    overdue = Check(
        "overdue_runs",
        found.overdue == 0,
        "none"
        if found.overdue == 0
        else f"{found.overdue} run(s) due for over {overdue_after:g}s and not claimed "
        "(too few workers, or no node has their version)",
        {
            "count": found.overdue,
            "runs": list(found.overdue_examples),
            "oldest_due_seconds": None if found.oldest_due is None else now - found.oldest_due,
        },
    )
    stranded = Check(
        "stranded_versions",
        not found.stranded,
        "none"
        if not found.stranded
        else "; ".join(
            f"{count} live run(s) of {workflow}@{version_hash} and no live node has that "
            "version (deploy it, or restore it: continuum versions restore)"
            for workflow, version_hash, count in found.stranded
        ),
        {
            "versions": [
                {"workflow": w, "version_hash": h, "live_runs": c} for w, h, c in found.stranded
            ]
        },
    )
    reconnecting = [f"{n.instance}/{n.node}" for n in alive if n.listener == "reconnecting"]
    listeners = Check(
        "listeners",
        not reconnecting,
        "all connected or polling"
        if not reconnecting
        else f"reconnecting on {', '.join(reconnecting)} (they poll meanwhile)",
        {"reconnecting": reconnecting},
    )
    return [database, nodes_check, expired, overdue, stranded, listeners], nodes


def _node(node: NodeRecord, now: float, alive_within: float) -> dict[str, Any]:
    return {
        "instance": node.instance,
        "node": node.node,
        "hostname": node.hostname,
        "pid": node.pid,
        "alive": now - node.heartbeat_at <= alive_within,
        "last_heartbeat_seconds_ago": round(now - node.heartbeat_at, 3),
        "started_at": _iso(node.started_at),
        "dispatching": node.dispatching,
        "concurrency": node.concurrency,
        "in_flight": node.in_flight,
        "listener": node.listener,
    }


def _iso(stamp: float | None) -> str | None:
    return None if stamp is None else dt.datetime.fromtimestamp(stamp, tz=dt.UTC).isoformat()
