"""The GET pages. Each runs in a worker thread and reads the database a fixed
number of times, never once per row:

- overview: the health report and runs started/ended over a window (one grouped read);
- runs: one keyset page of `app.query` (plus the registry, for the filter's choices);
- run: the run, its journal and its signals (three reads);
- versions: the drain report (registry, runs per version, patches);
- nodes: the nodes' heartbeats and the running runs with their lease holders.
"""

from __future__ import annotations

import datetime as dt
import time
from collections import defaultdict
from dataclasses import dataclass
from typing import Any

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from continuum.attributes import parse_attribute
from continuum.errors import ConfigurationError, RunNotFound
from continuum.store.values import (
    RESERVED_SIGNAL_PREFIX,
    STATUSES,
    TERMINAL_STATUSES,
    RunFilter,
    RunRecord,
    RunStatus,
    VersionHolder,
)
from continuum.web import chart, timeline
from continuum.web import format as fmt
from continuum.web.app import Web

PAGE_SIZES = (25, 50, 100, 200)
DEFAULT_PAGE_SIZE = 50
# A node counts as alive when it beat this recently (health()'s default for a client).
ALIVE_WITHIN = 60.0
# Running runs the nodes page lists (all nodes together).
NODE_RUNS_LIMIT = 1000
STATUS_ORDER = [str(s) for s in RunStatus]


def overview(web: Web, request: Request) -> Response:
    client = web.client
    window = request.query_params.get("window", chart.DEFAULT_WINDOW)
    if window not in chart.WINDOWS:
        window = chart.DEFAULT_WINDOW
    seconds, bucket = chart.WINDOWS[window]
    since = chart.window_start(client.store.now(), seconds, bucket)
    activity = client.store.run_activity(since=since, bucket_seconds=bucket)
    report = client.health()
    return web.render(
        request,
        "overview.html",
        nav="overview",
        chart=chart.build(activity, since=since, seconds=seconds, bucket=bucket),
        window=window,
        windows=list(chart.WINDOWS),
        health=report,
        checks=[_check(c) for c in report.get("checks", [])],
        checked_at=_iso_time(report.get("checked_at")),
    )


def _iso_time(text: object) -> dt.datetime | None:
    try:
        return dt.datetime.fromisoformat(text) if isinstance(text, str) else None
    except ValueError:
        return None


def _check(check: dict[str, Any]) -> dict[str, Any]:
    """A health check as the page lists it: name, ok, detail, and what else it holds."""
    extra = {k: v for k, v in check.items() if k not in ("name", "ok", "detail")}
    return {
        "name": str(check.get("name", "?")),
        "ok": bool(check.get("ok")),
        "detail": str(check.get("detail", "")),
        "extra": {k: v for k, v in extra.items() if v not in (None, [], {}, 0)},
    }


def runs(web: Web, request: Request) -> Response:
    q = request.query_params
    client = web.client
    notices: list[str] = []
    wanted_id = q.get("id", "").strip()
    if wanted_id:
        try:
            found = client.get(wanted_id)
        except (RunNotFound, ConfigurationError):
            notices.append(f"no run has the id {wanted_id!r}")
        else:
            return RedirectResponse(web.url(request, "run", run_id=found.run_id), 303)
    statuses = [s for s in q.getlist("status") if s in STATUSES]
    workflow = q.get("workflow", "").strip() or None
    version = q.get("version", "").strip() or None
    after = before = None
    try:
        after = fmt.parse_datetime_local(q.get("from", ""))
        before = fmt.parse_datetime_local(q.get("to", ""))
    except ValueError:
        notices.append("a time filter is not a time: use the picker, or YYYY-MM-DDTHH:MM (UTC)")
    parent = q.get("parent", "").strip() or None
    attr = q.get("attr", "").strip()
    attributes = None
    if attr:
        try:
            attributes = parse_attribute(attr)
        except ValueError as exc:
            notices.append(str(exc))
    size = int(q["limit"]) if q.get("limit", "").isdigit() else DEFAULT_PAGE_SIZE
    size = min(max(size, 1), max(PAGE_SIZES))
    cursor = q.get("cursor") or None
    filters = {
        "status": statuses,
        "workflow": workflow,
        "version": version,
        "from": fmt.datetime_local(after),
        "to": fmt.datetime_local(before),
        "attr": attr,
        "parent": parent or "",
        "limit": "" if size == DEFAULT_PAGE_SIZE else str(size),
    }
    try:
        found_page = client.query(
            status=statuses or None,
            workflow=workflow,
            version_hash=version,
            started_after=after,
            started_before=before,
            attributes=attributes,
            parent_run_id=parent,
            limit=size,
            cursor=cursor,
        )
    except ConfigurationError as exc:
        return web.render(
            request,
            "runs.html",
            status_code=400,
            nav="runs",
            **_runs_context(
                web,
                request,
                filters=filters,
                found=[],
                next_cursor=None,
                cursor=cursor,
                notices=[*notices, str(exc)],
            ),
        )
    return web.render(
        request,
        "runs.html",
        nav="runs",
        **_runs_context(
            web,
            request,
            filters=filters,
            found=found_page.runs,
            next_cursor=found_page.next_cursor,
            cursor=cursor,
            notices=notices,
        ),
    )


def _runs_context(
    web: Web,
    request: Request,
    *,
    filters: dict[str, Any],
    found: list[Any],
    next_cursor: str | None,
    cursor: str | None,
    notices: list[str],
) -> dict[str, Any]:
    versions = web.client.store.list_versions()
    return {
        "runs": found,
        "filters": filters,
        "filtered": any(v for k, v in filters.items() if k != "limit"),
        "older": web.url(request, "runs", {**filters, "cursor": next_cursor})
        if next_cursor
        else None,
        "newest": web.url(request, "runs", filters) if cursor else None,
        "notices": notices,
        "statuses": STATUS_ORDER,
        "workflows": sorted({row.workflow for row in versions}),
        "versions": sorted(versions, key=lambda r: (r.workflow, -r.version, r.version_hash)),
        "page_sizes": PAGE_SIZES,
    }


def run(web: Web, request: Request) -> Response:
    """One run; `?fragment=live` answers only the part the page refreshes."""
    run_id = request.path_params["run_id"]
    live = request.query_params.get("fragment") == "live"
    try:
        return run_page(web, request, run_id, fragment=live)
    except RunNotFound:
        return web.error(request, 404, f"no run has the id {run_id!r}")


def run_page(
    web: Web,
    request: Request,
    run_id: str,
    *,
    fragment: bool = False,
    status_code: int = 200,
    signal_form: dict[str, str] | None = None,
) -> Response:
    client = web.client
    info = client.get(run_id)
    journal = client.store.load_journal(info.run_id)
    # The engine's own signals (a child telling its parent it ended) show in the
    # timeline as the child's result, not among the signals people sent.
    signals = [
        signal
        for signal in client.store.list_signals(info.run_id)
        if not signal.name.startswith(RESERVED_SIGNAL_PREFIX)
    ]
    ended = info.status in TERMINAL_STATUSES
    steps = timeline.build(
        journal,
        created_at=info.created_at.timestamp(),
        updated_at=info.updated_at.timestamp(),
        ended=ended,
        now=time.time(),
        signals=signals,
    )
    return web.render(
        request,
        "_run_live.html" if fragment else "run.html",
        status_code=status_code,
        use_flash=not fragment,
        nav="runs",
        run=info,
        ended=ended,
        timeline=steps,
        signal_form=signal_form or {"name": "", "payload": "", "delivery_id": "", "error": ""},
        live_url=web.url(request, "run", {"fragment": "live"}, run_id=info.run_id),
    )


@dataclass(frozen=True, slots=True)
class VersionLine:
    """One line of the drain report."""

    workflow: str
    version_hash: str
    version: int | None  # None: runs are pinned to it, but no instance registered it
    counts: list[tuple[str, int]]
    live: int
    oldest_live: float | None
    holders: list[VersionHolder]  # dispatching nodes that have it loaded now
    held_as: list[str]  # "loaded" and/or "frozen"

    @property
    def order(self) -> tuple[str, int, str]:
        return (self.workflow, -(self.version or 0), self.version_hash)


def versions(web: Web, request: Request) -> Response:
    store = web.client.store
    usage = {(u.workflow, u.version_hash): u for u in store.version_usage()}
    report = []
    for row in store.list_versions():
        use = usage.pop((row.workflow, row.version_hash), None)
        report.append(
            VersionLine(
                row.workflow,
                row.version_hash,
                row.version,
                _ordered(dict(use.counts) if use else {}),
                use.live if use else 0,
                use.oldest_live if use else None,
                [h for h in row.loaded_by if h.dispatching],
                sorted({"frozen" if h.frozen else "loaded" for h in row.loaded_by}),
            )
        )
    for use in usage.values():  # runs pinned to a version no instance ever registered
        report.append(
            VersionLine(
                use.workflow,
                use.version_hash,
                None,
                _ordered(dict(use.counts)),
                use.live,
                use.oldest_live,
                [],
                [],
            )
        )
    report.sort(key=lambda line: line.order)
    return web.render(
        request,
        "versions.html",
        nav="versions",
        versions=report,
        patches=store.patch_usage(),
    )


def _ordered(counts: dict[str, int]) -> list[tuple[str, int]]:
    return sorted(
        counts.items(), key=lambda kv: STATUS_ORDER.index(kv[0]) if kv[0] in STATUS_ORDER else 99
    )


def nodes(web: Web, request: Request) -> Response:
    store = web.client.store
    now = store.now()
    found = store.list_nodes()
    running = store.query_runs(RunFilter(statuses=(RunStatus.RUNNING,)), limit=NODE_RUNS_LIMIT + 1)
    capped = len(running) > NODE_RUNS_LIMIT
    held: dict[str, list[RunRecord]] = defaultdict(list)
    for record in running[:NODE_RUNS_LIMIT]:
        held[record.lease_owner or ""].append(record)
    listed = []
    for node in found:
        age = now - node.heartbeat_at
        listed.append(
            {
                "node": node,
                "age": age,
                "alive": age <= ALIVE_WITHIN,
                "runs": held.pop(node.node, []),
            }
        )
    return web.render(
        request,
        "nodes.html",
        nav="nodes",
        nodes=listed,
        alive=sum(1 for n in listed if n["alive"]),
        orphans=sorted(held.items()),  # running runs held by no node that beats
        capped=capped,
        limit=NODE_RUNS_LIMIT,
        db_now=now,
        alive_within=ALIVE_WITHIN,
    )


def login(web: Web, request: Request) -> Response:
    return web.render(
        request,
        "login.html",
        nav="login",
        next=_safe_next(request, request.query_params.get("next", "")),
        error="",
    )


def _safe_next(request: Request, target: str) -> str:
    """Where to go after logging in: a path inside this app, else the overview."""
    root = request.scope.get("root_path", "").rstrip("/")
    plain = all(ch.isprintable() and not ch.isspace() and ch != "\\" for ch in target)
    if plain and target.startswith(root + "/") and not target.startswith("//"):
        return target
    return ""
