"""Operator commands: `continuum health` and `continuum prune`.

    continuum health --database URL [--strict] [--format json]
    continuum prune --database URL --older-than 30d [--status failed] [--apply]

`health` prints what needs attention (see `continuum.health`); with `--strict`
it exits 1 when anything does, for cron jobs and deploy gates. `prune` deletes
finished runs with their journals and signals, in short batches that never hold
up claims; without `--apply` it only counts what it would delete.
"""

from __future__ import annotations

import re
import time
from typing import Any

import click

from continuum.cli import cli, database_option
from continuum.cli.app import client
from continuum.cli.output import echo_json, format_option, style, table
from continuum.retention import prune_in_batches
from continuum.store.base import TERMINAL_STATUSES

_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhdw]?)\s*$")


def parse_duration(text: str) -> float:
    """'30d', '12h', '90m', '45s', '2w' or plain seconds, as seconds."""
    match = _DURATION.match(text)
    if not match or float(match.group(1)) <= 0:
        raise ValueError(
            f"{text!r} is not a duration: use a number with s, m, h, d or w (e.g. 30d, 12h)"
        )
    return float(match.group(1)) * _UNITS[match.group(2) or "s"]


class Duration(click.ParamType):  # type: ignore[type-arg]
    name = "DURATION"

    def convert(
        self, value: Any, param: click.Parameter | None, ctx: click.Context | None
    ) -> float:
        if isinstance(value, float):
            return value
        try:
            return parse_duration(str(value))
        except ValueError as exc:
            self.fail(str(exc), param, ctx)


@cli.command()
@database_option
@click.option("--strict", is_flag=True, help="Exit 1 when anything needs attention.")
@click.option(
    "--overdue-after",
    type=Duration(),
    default="60s",
    show_default=True,
    help="How long a run may stay due (or a lease expired) before it counts.",
)
@click.option(
    "--node-timeout",
    type=Duration(),
    default="60s",
    show_default=True,
    help="How long a node may go without a heartbeat and still count as alive.",
)
@format_option
def health(
    database: str, strict: bool, overdue_after: float, node_timeout: float, output_format: str
) -> None:
    """Report whether the engine is healthy: database and schema, nodes, runs whose
    lease expired unrecovered, overdue runs, versions no live node holds, listeners."""
    with client(database) as app:
        report = app.health(overdue_after=overdue_after, node_timeout=node_timeout)
    if output_format == "json":
        echo_json(report)
    else:
        _print_health(report)
    if strict and not report["ok"]:
        raise SystemExit(1)


def _print_health(report: dict[str, Any]) -> None:
    verdict = style("healthy", fg="green") if report["ok"] else style("needs attention", fg="red")
    click.echo(f"continuum health: {verdict} (checked {report['checked_at']})")
    for check in report["checks"]:
        mark = style("ok  ", fg="green") if check["ok"] else style("FAIL", fg="red", bold=True)
        click.echo(f"  {mark} {check['name']:<18} {check['detail']}")
    if report["nodes"]:
        click.echo("nodes:")
        rows = [
            [
                f"{n['instance']}/{n['node']}",
                "alive" if n["alive"] else "silent",
                f"{n['last_heartbeat_seconds_ago']:.1f}s ago",
                f"{n['in_flight']}/{n['concurrency']}",
                n["listener"],
            ]
            for n in report["nodes"]
        ]
        table(["NODE", "STATE", "HEARTBEAT", "IN FLIGHT", "LISTENER"], rows, indent="  ")


@cli.command()
@database_option
@click.option(
    "--older-than",
    type=Duration(),
    required=True,
    help="Delete runs that ended longer ago than this (e.g. 30d, 12h).",
)
@click.option(
    "--status",
    "statuses",
    multiple=True,
    type=click.Choice(sorted(status.value for status in TERMINAL_STATUSES)),
    help="Only runs that ended so (repeatable). Default: completed, failed and cancelled.",
)
@click.option("--workflow", "workflows", multiple=True, help="Only runs of this workflow.")
@click.option("--apply", is_flag=True, help="Delete; without it, only count.")
@click.option(
    "--batch",
    type=click.IntRange(1, 100_000),
    default=1000,
    show_default=True,
    help="Runs deleted per transaction.",
)
@format_option
def prune(  # noqa: PLR0917 - click passes every option
    database: str,
    older_than: float,
    statuses: tuple[str, ...],
    workflows: tuple[str, ...],
    apply: bool,
    batch: int,
    output_format: str,
) -> None:
    """Delete finished runs with their journals and signals (a dry run unless --apply).

    Live runs are never touched. Each batch is its own short transaction that
    skips rows other transactions hold, so workers go on claiming meanwhile, and
    an interrupted prune keeps what it deleted."""
    chosen = statuses or tuple(sorted(status.value for status in TERMINAL_STATUSES))
    with client(database) as app:
        store = app.store
        cutoff = store.now() - older_than
        scope: dict[str, Any] = {
            "finished_before": cutoff,
            "statuses": chosen,
            "workflows": list(workflows) or None,
        }
        if not apply:
            count = store.count_prunable(**scope)
            _report(output_format, applied=False, count=count, seconds=0.0, scope=scope)
            return
        deleted, started = 0, time.monotonic()
        for done, _ in prune_in_batches(store, **scope, batch=batch):
            deleted += done
            if output_format == "text" and done == batch:  # another batch follows
                click.echo(f"  deleted {deleted} run(s) so far", err=True)
        _report(
            output_format,
            applied=True,
            count=deleted,
            seconds=time.monotonic() - started,
            scope=scope,
        )


def _report(
    output: str, *, applied: bool, count: int, seconds: float, scope: dict[str, Any]
) -> None:
    if output == "json":
        echo_json(
            {
                "applied": applied,
                "runs": count,
                "seconds": round(seconds, 3),
                "finished_before": scope["finished_before"],
                "statuses": list(scope["statuses"]),
                "workflows": scope["workflows"],
            }
        )
        return
    what = f"{', '.join(scope['statuses'])} run(s)"
    if scope["workflows"]:
        what += f" of {', '.join(scope['workflows'])}"
    if applied:
        rate = f" ({count / seconds:,.0f}/s)" if seconds > 0 and count else ""
        click.echo(f"deleted {count} {what} in {seconds:.1f}s{rate}")
    else:
        click.echo(f"would delete {count} {what}; run again with --apply to delete them")
