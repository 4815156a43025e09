"""The schedule commands: look at schedules, pause, resume and delete them.

    continuum schedules list [--format json]
    continuum schedules pause ID
    continuum schedules resume ID
    continuum schedules delete ID

Schedules are declared in code (`app.schedule(...)`); these commands are for
operators. They act through a client instance that executes nothing (`app.client`):
a paused schedule stays paused across deploys until it is resumed, even when the
code declares it again at boot. Pausing or resuming twice is not an error; an id
that names no schedule is (exit 1).
"""

from __future__ import annotations

from typing import Any

import click

from continuum.cli import cli, database_option
from continuum.cli.app import client
from continuum.cli.output import echo_json, format_option, iso, printable, table, when
from continuum.errors import ScheduleNotFound
from continuum.instance import Continuum
from continuum.schedules import Schedule


@cli.group("schedules")
def schedules_group() -> None:
    """Schedules: list them, pause, resume or delete one."""


@schedules_group.command("list")
@database_option
@format_option
def list_command(database: str, output_format: str) -> None:
    """Every schedule, by id: when it ticks, its state, its next tick and its last run.

    JSON: a list of schedules, each with id, workflow, input, cron, every, at,
    timezone, overlap, catch_up, state (active, paused or done), next_tick,
    last_tick, last_run_id, created_at and updated_at.
    """
    with client(database) as app:
        found = app.schedules()
    if output_format == "json":
        echo_json([schedule_dict(s) for s in found])
        return
    if not found:
        click.echo("no schedules")
        return
    table(
        ["ID", "WORKFLOW", "WHEN", "STATE", "NEXT (UTC)", "LAST RUN", "OVERLAP", "CATCH-UP"],
        [
            [
                s.id,
                s.workflow,
                _when(s),
                s.state,
                when(s.next_tick) if s.next_tick else "-",
                s.last_run_id or "-",
                s.overlap,
                s.catch_up,
            ]
            for s in found
        ],
    )


@schedules_group.command("pause")
@database_option
@click.argument("schedule_id", metavar="ID")
def pause_command(database: str, schedule_id: str) -> None:
    """Stop firing a schedule's ticks until it is resumed (runs already started go on)."""
    with client(database) as app:
        was = _state(app, schedule_id)
        app.pause_schedule(schedule_id)
    name = printable(schedule_id)
    click.echo(f"schedule {name} was already paused" if was == "paused" else f"paused {name}")


@schedules_group.command("resume")
@database_option
@click.argument("schedule_id", metavar="ID")
def resume_command(database: str, schedule_id: str) -> None:
    """Fire a paused schedule's ticks again, from the first one after now (ticks that
    passed while it was paused are not made up)."""
    with client(database) as app:
        was = _state(app, schedule_id)
        app.resume_schedule(schedule_id)
        now = _state(app, schedule_id)
    name = printable(schedule_id)
    if was != "paused":
        click.echo(f"schedule {name} was not paused")
    elif now == "done":
        click.echo(f"resumed {name}; its one time passed while it was paused, so it is done")
    else:
        click.echo(f"resumed {name}")


@schedules_group.command("delete")
@database_option
@click.argument("schedule_id", metavar="ID")
def delete_command(database: str, schedule_id: str) -> None:
    """Remove a schedule; the runs it started stay. Code that declares it at boot
    (app.schedule) makes it again: remove it there too."""
    with client(database) as app:
        if not app.delete_schedule(schedule_id):
            raise ScheduleNotFound(schedule_id)
    click.echo(f"deleted schedule {printable(schedule_id)} (its runs stay)")


def schedule_dict(s: Schedule) -> dict[str, Any]:
    return {
        "id": s.id,
        "workflow": s.workflow,
        "input": s.input,
        "cron": s.cron,
        "every": s.every,
        "at": iso(s.at),
        "timezone": s.timezone,
        "overlap": s.overlap,
        "catch_up": s.catch_up,
        "state": s.state,
        "next_tick": iso(s.next_tick),
        "last_tick": iso(s.last_tick),
        "last_run_id": s.last_run_id,
        "created_at": iso(s.created_at),
        "updated_at": iso(s.updated_at),
    }


def _when(s: Schedule) -> str:
    if s.cron is not None:
        return f"cron {s.cron} ({s.timezone})"
    if s.every is not None:
        return f"every {s.every:g}s"
    return f"at {when(s.at)} UTC"


def _state(app: Continuum, schedule_id: str) -> str:
    for s in app.schedules():
        if s.id == schedule_id:
            return s.state
    raise ScheduleNotFound(schedule_id)
