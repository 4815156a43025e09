"""Rows into values: what every backend does alike with the rows its SQL returns.

The backends' tables have the same columns, so a `continuum_runs` row, the
answer of a lease renewal and the versions registry read the same way on each;
only how a backend spells a time differs (`stamp`).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from typing import Any

from continuum.store.base import (
    ActivityBucket,
    JournalEntry,
    Lease,
    NewRun,
    NodeRecord,
    PatchUsage,
    RunRecord,
    RunStatus,
    SignalRecord,
    StoreHealth,
    VersionHolder,
    VersionRow,
    VersionUsage,
)


def run_record(row: Any, stamp: Callable[[Any], float] = float) -> RunRecord:
    """A `continuum_runs` row, read by column name; `stamp` turns the backend's
    time values into seconds since the epoch."""
    available_at, expires_at = row["available_at"], row["lease_expires_at"]
    return RunRecord(
        run_id=row["id"],
        workflow=row["workflow"],
        version_hash=row["version_hash"],
        version=row["version"],
        status=RunStatus(row["status"]),
        input_json=row["input"],
        output_json=row["output"],
        error_json=row["error"],
        created_at=stamp(row["created_at"]),
        updated_at=stamp(row["updated_at"]),
        available_at=None if available_at is None else stamp(available_at),
        lease_owner=row["lease_owner"],
        lease_token=row["lease_token"],
        lease_expires_at=None if expires_at is None else stamp(expires_at),
        lease_nonce=row["lease_nonce"],
        trace_context=row["trace_context"],
        parent_run_id=row["parent_run_id"],
        cancel_with_parent=row["cancel_with_parent"] is not False
        and row["cancel_with_parent"] != 0,
        continued_from=row["continued_from"],
        continued_to=row["continued_to"],
        attributes_json=row["attributes"],
        cancel_requested=row["cancel_requested_at"] is not None,
    )


def lost_leases(leases: Sequence[Lease], renewed: Sequence[Sequence[Any]]) -> list[Lease]:
    """The `leases` a renewal did not extend; `renewed` holds its (run_id, token, nonce) rows."""
    kept = {(row[0], row[1], row[2]) for row in renewed}
    return [lease for lease in leases if (lease.run_id, lease.token, lease.nonce) not in kept]


def version_rows(
    versions: Sequence[Sequence[Any]], holders: Sequence[Sequence[Any]]
) -> list[VersionRow]:
    """Rows of (workflow, version_hash, version, module, qualname, first_seen_at,
    last_seen_at), each with the (workflow, version_hash, instance, node,
    last_seen_at, dispatching, frozen) rows of the nodes that hold it."""
    held: dict[tuple[str, str], list[VersionHolder]] = {}
    for workflow, version_hash, instance, node, seen, dispatching, frozen in holders:
        holder = VersionHolder(instance, node, seen, bool(dispatching), bool(frozen))
        held.setdefault((workflow, version_hash), []).append(holder)
    return [
        VersionRow(wf, vh, version, module, qualname, first, last, tuple(held.get((wf, vh), ())))
        for wf, vh, version, module, qualname, first, last in versions
    ]


def version_usage(rows: Sequence[Sequence[Any]]) -> list[VersionUsage]:
    """Rows of (workflow, version_hash, status, count, oldest live created_at)."""
    counts: dict[tuple[str, str], dict[str, int]] = {}
    oldest: dict[tuple[str, str], float] = {}
    for workflow, version_hash, status, count, oldest_live in rows:
        key = (workflow, version_hash)
        counts.setdefault(key, {})[status] = int(count)
        if oldest_live is not None:
            oldest[key] = min(float(oldest_live), oldest.get(key, float("inf")))
    return [VersionUsage(wf, vh, c, oldest.get((wf, vh))) for (wf, vh), c in sorted(counts.items())]


def patch_usage(rows: Sequence[Sequence[Any]]) -> list[PatchUsage]:
    """Rows of (workflow, patch_id, live runs with the marker, live runs without)."""
    return [PatchUsage(wf, patch, int(w), int(wo)) for wf, patch, w, wo in rows]


def journal_entries(rows: Sequence[Sequence[Any]]) -> list[JournalEntry]:
    """Rows of (seq, kind, name, payload, recorded_at), the journal as people read it."""
    return [
        JournalEntry(seq, kind, name, payload, None, at) for seq, kind, name, payload, at in rows
    ]


def new_run_params(new: NewRun) -> dict[str, Any]:
    """The parameters `insert_run` takes from a new run (no deep copy: it is hot)."""
    return {
        "run_id": new.run_id,
        "workflow": new.workflow,
        "version_hash": new.version_hash,
        "version": new.version,
        "input_json": new.input_json,
        "trace_context": new.trace_context,
        "start_at": new.start_at,
        "parent_run_id": new.parent_run_id,
        "cancel_with_parent": None if new.parent_run_id is None else new.cancel_with_parent,
        "continued_from": new.continued_from,
        "attributes": new.attributes_json,
        "unwind_on_cancel": new.unwind_on_cancel or None,
    }


def signal_records(rows: Sequence[Sequence[Any]]) -> list[SignalRecord]:
    """Rows of (id, name, payload, sent_at, consumed_seq, delivery_id)."""
    return [
        SignalRecord(ident, name, payload, sent_at, consumed_seq, delivery_id)
        for ident, name, payload, sent_at, consumed_seq, delivery_id in rows
    ]


def activity_buckets(
    rows: Sequence[Sequence[Any]], since: float, bucket_seconds: float
) -> list[ActivityBucket]:
    """Rows of (bucket number, started, completed, failed, cancelled), in order."""
    return [
        ActivityBucket(since + k * bucket_seconds, int(s), int(c), int(f), int(x))
        for k, s, c, f, x in rows
    ]


def node_records(rows: Sequence[Sequence[Any]]) -> list[NodeRecord]:
    """Rows of `continuum_nodes`' columns in table order, times in seconds (SQLite
    spells `dispatching` 0 or 1)."""
    return [
        NodeRecord(
            instance, node, host, pid, started, beat, bool(dispatching), size, busy, listener
        )
        for instance, node, host, pid, started, beat, dispatching, size, busy, listener in rows
    ]


def store_health(row: Sequence[Any]) -> StoreHealth:
    """The one row of a health read: expired count and ids, overdue count and ids, the
    oldest due time, and the stranded versions; lists come as JSON (ids; [workflow,
    hash, live runs] triples), or NULL for none."""
    expired, expired_ids, overdue, overdue_ids, oldest_due, stranded = row
    return StoreHealth(
        expired=int(expired),
        expired_examples=tuple(json.loads(expired_ids or "[]")),
        overdue=int(overdue),
        overdue_examples=tuple(json.loads(overdue_ids or "[]")),
        oldest_due=None if oldest_due is None else float(oldest_due),
        stranded=tuple((wf, vh, int(n)) for wf, vh, n in json.loads(stranded or "[]")),
    )


def lease_params(lease: Lease) -> dict[str, Any]:
    """The parameters a fenced statement takes from a lease."""
    return {"run_id": lease.run_id, "node": lease.node, "token": lease.token, "nonce": lease.nonce}
