"""`RunInfo`: what `get()` and `runs()` return; `Page`: what `query()` returns."""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from continuum import attributes as _attributes
from continuum import serialization, validation
from continuum.errors import ConfigurationError
from continuum.store.base import STATUSES, TERMINAL_STATUSES, RunCursor, RunFilter, RunRecord


@dataclass(frozen=True, slots=True)
class RunInfo:
    """A run as stored. `updated_at` is when its status or lease last changed
    (started, claimed, signalled, suspended, ended), not each journaled step.
    `attempt` counts the claims the run has had; `lease_owner` and
    `lease_expires_at` name the node executing it now; `available_at` is when a
    waiting run becomes due (None while it waits only for a signal).
    `attributes`: its search attributes. `parent_run_id`: the run that started it
    as a child. `continued_from`/`continued_to`: its neighbours in a
    continue-as-new chain. `children`: the runs it started as children, filled by
    `get()` only (None in pages of runs)."""

    run_id: str
    workflow: str
    version_hash: str
    version: int
    status: str
    input: Any
    output: Any
    error: dict[str, Any] | None
    created_at: dt.datetime
    updated_at: dt.datetime
    attempt: int = 0
    lease_owner: str | None = None
    lease_expires_at: dt.datetime | None = None
    available_at: dt.datetime | None = None
    attributes: dict[str, Any] = field(default_factory=dict)
    parent_run_id: str | None = None
    continued_from: str | None = None
    continued_to: str | None = None
    children: tuple[str, ...] | None = field(default=None, compare=False)

    @classmethod
    def from_record(cls, record: RunRecord, *, children: tuple[str, ...] | None = None) -> RunInfo:
        return cls(
            run_id=record.run_id,
            workflow=record.workflow,
            version_hash=record.version_hash,
            version=record.version,
            status=record.status,
            input=serialization.loads(record.input_json),
            output=serialization.loads(record.output_json),
            error=serialization.loads(record.error_json),
            created_at=_time(record.created_at),
            updated_at=_time(record.updated_at),
            attempt=record.lease_token,
            lease_owner=record.lease_owner,
            lease_expires_at=_maybe_time(record.lease_expires_at),
            available_at=_maybe_time(record.available_at),
            attributes=_attributes.decode(record.attributes_json),
            parent_run_id=record.parent_run_id,
            continued_from=record.continued_from,
            continued_to=record.continued_to,
            children=children,
        )

    @property
    def finished(self) -> bool:
        return self.status in TERMINAL_STATUSES


@dataclass(frozen=True, slots=True)
class Page:
    """One page of `query()`: `runs` newest first, and the cursor that continues
    after them (None on the last page). Cursors stay valid while runs are added."""

    runs: list[RunInfo]
    next_cursor: str | None


def run_filter(
    *,
    status: str | Iterable[str] | None,
    workflow: str | None,
    version_hash: str | None,
    started_after: dt.datetime | None,
    started_before: dt.datetime | None,
    run_id: str | None = None,
    attributes: object = None,
    parent_run_id: str | None = None,
    caller: str = "query",
) -> RunFilter:
    """The store's filter for `query()`'s arguments, each checked (errors name `caller`)."""
    statuses: tuple[str, ...] = ()
    if status is not None:
        statuses = (status,) if isinstance(status, str) else tuple(status)
        unknown = sorted(set(statuses) - STATUSES)
        if unknown or not statuses:
            raise ConfigurationError(
                f"unknown status {', '.join(map(repr, unknown)) or '(none given)'}; "
                f"use one or more of {sorted(STATUSES)}"
            )
    given = ((workflow, "workflow"), (version_hash, "version_hash"), (run_id, "run_id"))
    for value, name in (*given, (parent_run_id, "parent_run_id")):
        if value is not None:
            validation.identifier(value, name=f"{caller}({name}=)", max_length=None)
    wanted = None
    if attributes is not None:
        wanted = _attributes.encode(attributes, name=f"{caller}(attributes=)")
    return RunFilter(
        statuses=statuses,
        workflow=workflow,
        version_hash=version_hash,
        created_after=_stamp(started_after, f"{caller}(started_after=)"),
        created_before=_stamp(started_before, f"{caller}(started_before=)"),
        run_id=run_id,
        parent_run_id=parent_run_id,
        attributes_json=wanted,
    )


_CURSOR_PREFIX = "c1."


def encode_cursor(record: RunRecord) -> str:
    """An opaque cursor for the page that follows `record`."""
    raw = json.dumps([record.created_at, record.run_id], separators=(",", ":")).encode()
    return _CURSOR_PREFIX + base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str) -> RunCursor:
    """The position a cursor from `encode_cursor` names, or a clear error."""
    try:
        if not (isinstance(cursor, str) and cursor.startswith(_CURSOR_PREFIX)):
            raise ValueError("no prefix")
        body = cursor[len(_CURSOR_PREFIX) :]
        created_at, run_id = json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
        if not isinstance(run_id, str) or isinstance(created_at, bool):
            raise ValueError("malformed")
        return RunCursor(float(created_at), run_id)
    except (ValueError, TypeError, binascii.Error, UnicodeDecodeError):
        raise ConfigurationError(
            f"cursor {validation.shown(cursor)} is not one query() returned; pass "
            "page.next_cursor unchanged, or None for the first page"
        ) from None


def _stamp(value: object, name: str) -> float | None:
    if value is None:
        return None
    if not isinstance(value, dt.datetime):
        raise ConfigurationError(f"{name} must be a datetime, got {validation.shown(value)}")
    if value.tzinfo is None:
        raise ConfigurationError(
            f"{name} must be timezone-aware (e.g. datetime.now(timezone.utc)), "
            f"got the naive {value.isoformat()}"
        )
    return value.timestamp()


def _time(stamp: float) -> dt.datetime:
    return dt.datetime.fromtimestamp(stamp, tz=dt.UTC)


def _maybe_time(stamp: float | None) -> dt.datetime | None:
    return None if stamp is None else _time(stamp)
