"""Commands that replay live runs' journals through code: `versions migrate` and
`replay-check`. They run no activity and write nothing but a migration's re-pin.

    continuum versions migrate shop.OrderFlow --from 1a2b... --to current --apply
    continuum replay-check --app shop
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from continuum.cli import cli, database_option
from continuum.cli.app import app_option, client
from continuum.cli.output import echo_json, format_option, table
from continuum.cli.versions import Release, load_release, versions, versions_dir_option
from continuum.errors import ConfigurationError
from continuum.instance import Continuum
from continuum.runtime.replay import Drift, ReplayError, replay
from continuum.store.base import RunFilter, RunStatus
from continuum.workflow import Workflow, entrypoints

# The statuses of live runs with a journal to replay.
_LIVE = (RunStatus.SUSPENDED, RunStatus.RUNNING, RunStatus.STUCK_UNKNOWN_VERSION)


def _replay_run(
    app: Continuum, run_id: str, entrypoint: type[Workflow]
) -> Drift | ReplayError | None:
    record = app.store.get_run(run_id)
    if record is None:
        return None
    return replay(
        entrypoint, record.input_json, app.store.load_history(run_id).entries, run_id=run_id
    )


@versions.command("migrate")
@database_option
@app_option
@versions_dir_option
@click.argument("workflow")
@click.option("--from", "from_hash", required=True, help="The hash runs are pinned to now.")
@click.option("--to", "to_hash", required=True, help="A hash this release loads, or 'current'.")
@click.option("--apply", "apply_", is_flag=True, help="Re-pin (default: only report).")
@click.option("--limit", default=10_000, show_default=True, type=click.IntRange(min=1))
@format_option
def migrate_command(  # noqa: PLR0917 - click passes every option
    database: str,
    app_paths: str | None,
    versions_dir: Path | None,
    workflow: str,
    from_hash: str,
    to_hash: str,
    apply_: bool,
    limit: int,
    output_format: str,
) -> None:
    """Re-pin suspended runs of WORKFLOW@FROM to another version, if their journals
    replay cleanly through its body (dry run by default)."""
    release = load_release(app_paths, versions_dir)
    target = _target(release, workflow, to_hash)
    results: list[dict[str, Any]] = []
    with client(database) as app:
        suspended = RunFilter(
            statuses=(RunStatus.SUSPENDED,), workflow=workflow, version_hash=from_hash
        )
        runs = app.store.query_runs(suspended, limit=limit)
        for run in runs:
            drift = _replay_run(app, run.run_id, target)
            outcome = "drifts" if drift is not None else "replays cleanly"
            if drift is None and apply_:
                moved = app.store.repin_run(
                    run.run_id,
                    from_hash=from_hash,
                    to_hash=target.version_hash,
                    to_version=target.version,
                    lease_token=run.lease_token,
                    updated_at=run.updated_at,
                )
                outcome = "re-pinned" if moved else "changed since it was checked; left"
            results.append(
                {
                    "run_id": run.run_id,
                    "outcome": outcome,
                    "drift": None if drift is None else str(drift),
                }
            )
    if output_format == "json":
        echo_json({"to": target.version_hash, "runs": results})
    else:
        table(
            ["RUN", "OUTCOME", "FIRST DRIFT"],
            [[r["run_id"], r["outcome"], r["drift"] or "-"] for r in results],
        )
        click.echo(
            f"{len(results)} suspended run(s) of {workflow}@{from_hash} checked against "
            f"{target.version_hash}" + ("" if apply_ else " (dry run: pass --apply to re-pin)")
        )


def _target(release: Release, workflow: str, to_hash: str) -> type[Workflow]:
    if to_hash == "current":
        current = release.current()
        found = [
            ep
            for ep in entrypoints.versions(frozenset({workflow}))
            if (ep.workflow, ep.version_hash) in current
        ]
        if len(found) != 1:
            raise ConfigurationError(
                f"this release loads no single current version of {workflow}: pass --app "
                "with its module, or --to HASH"
            )
        return found[0]
    entrypoint = entrypoints.resolve(workflow, to_hash)
    if entrypoint is None:
        raise ConfigurationError(
            f"this release cannot load {workflow}@{to_hash}: pass --app with its module, "
            "or freeze that version into the versions folder"
        )
    return entrypoint


@cli.command("replay-check")
@database_option
@app_option
@versions_dir_option
@click.option("--workflow", help="Only runs of this workflow.")
@click.option(
    "--status",
    type=click.Choice([str(s) for s in _LIVE]),
    help="Only runs in this status (default: every live status).",
)
@click.option("--limit", default=10_000, show_default=True, type=click.IntRange(min=1))
@format_option
def replay_check_command(  # noqa: PLR0917 - click passes every option
    database: str,
    app_paths: str | None,
    versions_dir: Path | None,
    workflow: str | None,
    status: str | None,
    limit: int,
    output_format: str,
) -> None:
    """Replay live runs' journals through the code this release would run for them,
    running nothing and writing nothing; exit 1 if any would drift or cannot resume."""
    release = load_release(app_paths, versions_dir)
    problems: list[dict[str, Any]] = []
    checked = 0
    with client(database) as app:
        for wanted in [RunStatus(status)] if status else list(_LIVE):
            for run in app.store.query_runs(
                RunFilter(statuses=(wanted,), workflow=workflow), limit=limit
            ):
                checked += 1
                entrypoint = entrypoints.resolve(run.workflow, run.version_hash)
                if entrypoint is None or release.resolves((run.workflow, run.version_hash)) is None:
                    problems.append(
                        _problem(
                            run.run_id,
                            run.workflow,
                            run.version_hash,
                            "not loadable by this release",
                        )
                    )
                    continue
                drift = _replay_run(app, run.run_id, entrypoint)
                if drift is not None:
                    problems.append(
                        _problem(run.run_id, run.workflow, run.version_hash, str(drift))
                    )
    if output_format == "json":
        echo_json({"checked": checked, "drifting": problems})
    else:
        if problems:
            table(
                ["RUN", "WORKFLOW", "HASH", "PROBLEM"],
                [[p["run_id"], p["workflow"], p["version_hash"], p["problem"]] for p in problems],
            )
        click.echo(f"{checked} live run(s) replayed, {len(problems)} would drift or cannot resume")
    if problems:
        raise SystemExit(1)


def _problem(run_id: str, workflow: str, version_hash: str, problem: str) -> dict[str, Any]:
    return {
        "run_id": run_id,
        "workflow": workflow,
        "version_hash": version_hash,
        "problem": problem,
    }
