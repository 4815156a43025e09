"""The read side of an instance: listing and paging runs, health, the backlog.

`Continuum` inherits these; they only read, through the store the instance opened.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from typing import Any

from continuum import health, validation
from continuum.runs import Page, RunInfo, decode_cursor, encode_cursor, run_filter
from continuum.store.base import Store
from continuum.workflow import Workflow, entrypoint_of


class RunViews:
    lease_seconds: float

    def _store_required(self) -> Store:
        raise NotImplementedError

    def runs(
        self,
        *,
        status: str | None = None,
        workflow: str | type[Workflow] | None = None,
        limit: int = 100,
    ) -> list[RunInfo]:
        """Runs, newest first, optionally of one status and one workflow (the first
        page of `query()`)."""
        return self._page("runs", status=status, workflow=workflow, limit=limit).runs

    def query(
        self,
        *,
        status: str | Iterable[str] | None = None,
        workflow: str | type[Workflow] | None = None,
        version_hash: str | None = None,
        attributes: dict[str, Any] | None = None,
        started_after: dt.datetime | None = None,
        started_before: dt.datetime | None = None,
        limit: int = 50,
        cursor: str | None = None,
        parent_run_id: str | None = None,
    ) -> Page:
        """One page of runs, newest first, filtered by each argument given (`status`:
        one or several; `attributes`: runs whose attributes hold each of these keys
        with an equal value; `started_*`: timezone-aware bounds on when runs were
        started, after inclusive, before exclusive; `parent_run_id`: the children of
        that run). Pass `page.next_cursor` back as `cursor` for the next page: keyset
        pagination, as fast deep in the list as at its top."""
        return self._page(
            "query",
            status=status,
            workflow=workflow,
            version_hash=version_hash,
            attributes=attributes,
            parent_run_id=parent_run_id,
            started_after=started_after,
            started_before=started_before,
            limit=limit,
            cursor=cursor,
        )

    def _page(
        self,
        caller: str,
        *,
        status: str | Iterable[str] | None,
        workflow: str | type[Workflow] | None,
        limit: int,
        version_hash: str | None = None,
        attributes: object = None,
        parent_run_id: str | None = None,
        started_after: dt.datetime | None = None,
        started_before: dt.datetime | None = None,
        cursor: str | None = None,
    ) -> Page:
        if isinstance(workflow, type):
            workflow = entrypoint_of(workflow).workflow
        where = run_filter(
            status=status,
            workflow=workflow,
            version_hash=version_hash,
            attributes=attributes,
            parent_run_id=parent_run_id,
            started_after=started_after,
            started_before=started_before,
            caller=caller,
        )
        limit = validation.count(limit, name=f"{caller}(limit=)")
        after = None if cursor is None else decode_cursor(cursor)
        # One more than asked tells whether another page follows, without a count.
        records = self._store_required().query_runs(where, limit=limit + 1, after=after)
        more = len(records) > limit
        records = records[:limit]
        return Page(
            [RunInfo.from_record(r) for r in records],
            encode_cursor(records[-1]) if more else None,
        )

    def health(
        self, *, overdue_after: float = 60.0, node_timeout: float | None = None
    ) -> dict[str, Any]:
        """What needs an operator's attention (see `continuum.health`): a dict with
        `ok`, `checks` (name, ok, detail, data) and `nodes`. `overdue_after`: how long
        a run may stay due, or a lease expired, before it counts; `node_timeout`: how
        long a node may go without a heartbeat and still count as alive (default:
        twice this instance's lease length, at least 30 s)."""
        overdue_after = validation.duration(overdue_after, name="health(overdue_after=)")
        if node_timeout is None:
            node_timeout = max(30.0, 2 * self.lease_seconds)
        node_timeout = validation.duration(node_timeout, name="health(node_timeout=)")
        return health.report(
            self._store_required(), overdue_after=overdue_after, alive_within=node_timeout
        )

    def due_backlog(self) -> tuple[int, float | None]:
        """Runs due now that no node has claimed yet, and since when the oldest is due
        (seconds since the epoch), e.g. for a gauge."""
        return self._store_required().due_backlog()
