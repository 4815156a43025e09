"""The run commands: look at runs and act on them.

    continuum runs [--status S] [--workflow W] [--limit N] [--format json]
    continuum show RUN_ID [--format json]
    continuum cancel RUN_ID [--format json]
    continuum signal RUN_ID NAME [JSON] [--delivery-id ID]

They act through a client instance that executes nothing (`app.client`); the node
that executes runs is `continuum worker` (cli/worker.py). `show --format json`
prints the run and its history in the format the testing kit reads back as a
recorded history (see `show`).
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from typing import Any

import click

from continuum import serialization
from continuum.attributes import parse_attribute
from continuum.cli import cli, database_option
from continuum.cli.app import client
from continuum.cli.output import (
    compact,
    echo_json,
    fields,
    format_option,
    iso,
    printable,
    shorten,
    table,
    when,
)
from continuum.errors import RunNotFound
from continuum.instance import Continuum
from continuum.runs import RunInfo
from continuum.store.base import STATUSES, History, JournalEntry, SignalRecord

# How much of a value `show` prints in its text form (JSON prints everything).
VALUE_WIDTH = 200
DETAIL_WIDTH = 80


# -- runs ----------------------------------------------------------------------------
@cli.command("runs")
@database_option
@click.option(
    "--status",
    type=click.Choice(sorted(str(s) for s in STATUSES), case_sensitive=False),
    help="Only runs with this status.",
)
@click.option(
    "--workflow", metavar="NAME", help="Only runs of this workflow (e.g. shop.OrderFlow)."
)
@click.option(
    "--attr",
    "attrs",
    metavar="KEY=VALUE",
    multiple=True,
    help="Only runs with this search attribute (repeat for several). VALUE is read as "
    "JSON when it is a number, true, false or a quoted string, else as text.",
)
@click.option("--parent", metavar="RUN_ID", help="Only the children of this run.")
@click.option(
    "--limit", type=click.IntRange(min=1), default=100, show_default=True, help="At most N runs."
)
@format_option
def runs_command(
    *,
    database: str,
    status: str | None,
    workflow: str | None,
    attrs: tuple[str, ...],
    parent: str | None,
    limit: int,
    output_format: str,
) -> None:
    """List runs, newest first.

    JSON: a list of runs, each with run_id, workflow, version_hash, version,
    status, input, output, error, created_at, updated_at, attributes,
    parent_run_id, continued_from and continued_to.
    """
    attributes: dict[str, Any] = {}
    for text in attrs:
        try:
            attributes.update(parse_attribute(text))
        except ValueError as exc:
            raise click.BadParameter(str(exc), param_hint="--attr") from None
    with client(database) as app:
        found = app.query(
            status=status,
            workflow=workflow,
            attributes=attributes or None,
            parent_run_id=parent,
            limit=limit,
        ).runs
    if output_format == "json":
        echo_json([run_dict(run) for run in found])
        return
    if not found:
        given = (("status", status), ("workflow", workflow), ("parent", parent))
        wanted = [f"{k} {v!r}" for k, v in given if v] + [f"attribute {a!r}" for a in attrs]
        click.echo("no runs" + (f" with {' and '.join(wanted)}" if wanted else ""))
        return
    table(
        ["RUN ID", "WORKFLOW", "VERSION", "STATUS", "CREATED (UTC)", "UPDATED (UTC)"],
        [
            [
                run.run_id,
                run.workflow,
                f"v{run.version} {run.version_hash}",
                str(run.status),
                when(run.created_at),
                when(run.updated_at),
            ]
            for run in found
        ],
    )
    if len(found) == limit:
        click.echo(f"(stopped at --limit {limit}; raise it to see older runs)", err=True)


# -- show ----------------------------------------------------------------------------
@cli.command()
@database_option
@click.argument("run_id")
@format_option
def show(database: str, run_id: str, output_format: str) -> None:
    """A run's fields, then its journal as a timeline.

    JSON: the run's fields as `runs` prints them, plus `history` (the journal,
    in order: seq, kind, name, payload as decoded JSON, recorded_at) and
    `pending_signals` (sent, not yet taken: name, payload, sent_at). The
    testing kit reads this document back as a recorded history.
    """
    with client(database) as app:
        run = _get(app, run_id)
        pending = app.store.load_history(run.run_id).pending_signals
        history = History(app.store.load_journal(run.run_id), pending)  # with write times
    if output_format == "json":
        echo_json(show_dict(run, history))
    else:
        _print_show(run, history)


def show_dict(run: RunInfo, history: History) -> dict[str, Any]:
    """The document `show --format json` prints."""
    return {
        **run_dict(run),
        "history": [
            {
                "seq": entry.seq,
                "kind": str(entry.kind),
                "name": entry.name,
                "payload": serialization.loads(entry.payload_json),
                "recorded_at": iso(entry.recorded_at),
            }
            for entry in history.entries
        ],
        "pending_signals": [
            {
                "name": sent.name,
                "payload": serialization.loads(sent.payload_json),
                "sent_at": iso(sent.sent_at),
            }
            for sent in history.pending_signals
        ],
    }


def run_dict(run: RunInfo) -> dict[str, Any]:
    return {
        "run_id": run.run_id,
        "workflow": run.workflow,
        "version_hash": run.version_hash,
        "version": run.version,
        "status": str(run.status),
        "input": run.input,
        "output": run.output,
        "error": run.error,
        "created_at": iso(run.created_at),
        "updated_at": iso(run.updated_at),
        "attributes": run.attributes,
        "parent_run_id": run.parent_run_id,
        "continued_from": run.continued_from,
        "continued_to": run.continued_to,
    }


def _composition_fields(run: RunInfo) -> list[tuple[str, str]]:
    """The lines `show` adds for a run that has them: attributes, parent, children, chain."""
    shown: list[tuple[str, str]] = []
    if run.attributes:
        shown.append(("attributes", compact(run.attributes)))
    if run.parent_run_id:
        shown.append(("parent", run.parent_run_id))
    if run.children:
        first = ", ".join(run.children[:5])
        more = f" and {len(run.children) - 5} more (runs --parent)" if len(run.children) > 5 else ""
        shown.append(("children", f"{len(run.children)}: {first}{more}"))
    if run.continued_from:
        shown.append(("continues", run.continued_from))
    if run.continued_to:
        shown.append(("continued as", run.continued_to))
    return shown


def _print_show(run: RunInfo, history: History) -> None:
    cut = False

    def value(v: Any) -> str:
        nonlocal cut
        text, was_cut = shorten(compact(v), VALUE_WIDTH)
        cut |= was_cut
        return text

    fields(
        [
            ("run", run.run_id),
            ("workflow", run.workflow),
            ("version", f"{run.version} (hash {run.version_hash})"),
            ("status", str(run.status)),
            ("created", f"{when(run.created_at)} UTC"),
            ("updated", f"{when(run.updated_at)} UTC"),
            ("input", value(run.input)),
            ("output", "-" if run.output is None else value(run.output)),
            ("error", _error_text(run.error, value)),
            *_composition_fields(run),
        ]
    )
    entries = history.entries
    click.echo()
    click.echo(f"journal: {_count(len(entries), 'entry', 'entries')}")
    if entries:
        timed = any(entry.recorded_at for entry in entries)
        rows = []
        for entry in entries:
            detail, was_cut = shorten(_detail(entry), DETAIL_WIDTH)
            cut |= was_cut
            time = [when(entry.recorded_at)] if timed else []
            rows.append([str(entry.seq), str(entry.kind), entry.name, *time, detail])
        headers = ["#", "KIND", "NAME", *(["TIME (UTC)"] if timed else []), "DETAIL"]
        table(headers, rows, indent="  ")
    if history.pending_signals:
        click.echo()
        click.echo(f"pending signals: {len(history.pending_signals)}")
        rows = []
        for sent in history.pending_signals:
            payload, was_cut = shorten(_payload_text(sent), DETAIL_WIDTH)
            cut |= was_cut
            rows.append([sent.name, when(sent.sent_at), payload])
        table(["NAME", "SENT (UTC)", "PAYLOAD"], rows, indent="  ")
    if cut:
        click.echo()
        click.echo("(long values are shortened; --format json prints them whole)")


def _error_text(error: Any, value: Callable[[Any], str]) -> str:
    """`Type: message`, then the traceback when the run recorded one."""
    if error is None:
        return "-"
    if not isinstance(error, dict) or "type" not in error:
        return value(error)
    text = f"{error['type']}: {error.get('message', '')}"
    trace = error.get("traceback")
    if isinstance(trace, str) and trace.strip():
        text += "\n" + trace.rstrip("\n")
    return text


def _payload_text(sent: SignalRecord) -> str:
    return compact(serialization.loads(sent.payload_json))


def _detail(entry: JournalEntry) -> str:
    """What a journal entry holds, in a few words."""
    payload = serialization.loads(entry.payload_json)
    describe = _DETAILS.get(str(entry.kind))
    if describe is not None and isinstance(payload, dict):
        try:
            return describe(payload)
        except (KeyError, TypeError, ValueError):
            pass  # a shape this release does not know: show it as it is
    return "" if payload is None else compact(payload)


def _failure(error: Any) -> str:
    if isinstance(error, dict) and "type" in error:
        return printable(f"{error['type']}: {error.get('message', '')}")
    return compact(error)


def _activity(p: dict[str, Any]) -> str:
    if "result" in p:
        return compact(p["result"])
    return f"failed after {_count(p['attempts'], 'attempt', 'attempts')}: {_failure(p['error'])}"


def _signal_wait(p: dict[str, Any]) -> str:
    deadline = p.get("deadline")
    return "waiting, " + ("no timeout" if deadline is None else f"until {when(deadline)}")


_DETAILS: dict[str, Callable[[dict[str, Any]], str]] = {
    "activity": _activity,
    "activity_retry": lambda p: (
        f"attempt {p['attempt']} failed, next at {when(p['retry_at'])}: {_failure(p['error'])}"
    ),
    "timer": lambda p: f"until {when(p['fire_at'])}",
    "signal": lambda p: f"sent {when(p['sent_at'])}: {compact(p['payload'])}",
    "signal_wait": _signal_wait,
    "signal_timeout": lambda p: f"timed out after {p['timeout']:g}s",
    "side_effect": lambda p: compact(p["value"]),
    "compensation": lambda p: (
        f"undo registered with {compact(p['args'])}"
        + (f" {compact(p['kwargs'])}" if p.get("kwargs") else "")
    ),
}


def _count(n: int, one: str, many: str) -> str:
    return f"{n} {one if n == 1 else many}"


# -- cancel and signal ---------------------------------------------------------------
@cli.command()
@database_option
@click.argument("run_id")
@format_option
def cancel(database: str, run_id: str, output_format: str) -> None:
    """End a run `cancelled`; a running attempt is fenced out.

    A run of a workflow declared on_cancel="unwind" is asked to cancel instead: it
    unwinds, then ends cancelled; cancelling it again ends it at once. A run that
    has already ended is left as it is: the command says so and
    still exits 0, so a retried cancel is safe. JSON: {"run_id", "cancelled":
    true|false, "status"}.
    """
    with client(database) as app:
        try:
            cancelled = app.cancel(run_id)
        except RunNotFound:
            raise _not_found(run_id) from None
        status = str(app.get(run_id).status)
    if output_format == "json":
        echo_json({"run_id": run_id, "cancelled": cancelled, "status": status})
    elif cancelled and status != "cancelled":
        click.echo(
            f"asked run {printable(run_id)} to cancel: it unwinds, then ends cancelled "
            "(cancel it again to end it now)"
        )
    elif cancelled:
        click.echo(f"cancelled run {printable(run_id)}")
    else:
        click.echo(f"run {printable(run_id)} had already ended ({status}); nothing to cancel")


def _json_argument(ctx: click.Context, param: click.Parameter, text: str | None) -> Any:
    """The payload argument: JSON text, or `-` for JSON read from stdin."""
    if text is None:
        return None
    if text == "-":
        text = sys.stdin.read()

    def refuse(constant: str) -> Any:
        raise ValueError(f"{constant} is not a JSON value")

    try:
        return json.loads(text, parse_constant=refuse)
    except ValueError as exc:
        raise click.BadParameter(f"not JSON ({exc}): {shorten(text, 40)[0]!r}") from None


@cli.command("signal")
@database_option
@click.argument("run_id")
@click.argument("name")
@click.argument("payload", metavar="[JSON]", required=False, callback=_json_argument)
@click.option(
    "--delivery-id",
    metavar="ID",
    help="Send at most once: a repeated delivery id to the same run is accepted and dropped.",
)
def signal_command(
    database: str, run_id: str, name: str, payload: Any, delivery_id: str | None
) -> None:
    """Send signal NAME to a run, with a JSON payload (`-` reads it from stdin).

    The run keeps it until it asks for it. Sending to a run that has ended fails.
    """
    with client(database) as app:
        try:
            app.signal(run_id, name, payload, delivery_id=delivery_id)
        except RunNotFound:
            raise _not_found(run_id) from None
    repeat = f" (delivery id {printable(delivery_id)})" if delivery_id is not None else ""
    click.echo(f"sent signal {printable(repr(name))} to run {printable(run_id)}{repeat}")


def _get(app: Continuum, run_id: str) -> RunInfo:
    try:
        return app.get(run_id)
    except RunNotFound:
        raise _not_found(run_id) from None


def _not_found(run_id: str) -> click.ClickException:
    return click.ClickException(
        f"no run with id {run_id!r}: check the id, or list runs with 'continuum runs'"
    )
