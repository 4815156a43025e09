"""`continuum versions ...`: workflow versions across deploys.

    continuum versions freeze --app shop               # keep today's bodies for tomorrow
    continuum versions check --strict --app shop       # the pre-deploy gate, in CI
    continuum versions list                            # the drain report
    continuum versions gc --apply --app shop
    continuum versions restore shop.OrderFlow 1a2b...  # a release forgot to freeze
    continuum versions diff 1a2b... 3c4d...

`versions migrate` and `replay-check`, which replay journals, are in `replay`.
The commands that judge code ("would this release resume that run?") import
the release's workflow code (`--app`, or the instance's chain) and load its
versions folder in this process; they never register that code in the
database and never run an activity. See docs/deploying.md.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import click

from continuum import frozen
from continuum.cli import cli, database_option
from continuum.cli.app import app_option, client, is_unused, workflow_modules
from continuum.cli.output import echo_json, format_option, table, when
from continuum.errors import ConfigurationError, WorkflowDefinitionError
from continuum.instance import Continuum
from continuum.store.base import VersionKey, VersionRow
from continuum.versions import resolve_versions_dir, resolve_workflows
from continuum.workflow import entrypoints

versions_dir_option = click.option(
    "--versions-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="The versions folder. Default: [tool.continuum] versions_dir, else ./continuum_versions.",
)


@cli.group()
def versions() -> None:
    """Workflow versions across deploys: freeze, check, list, gc, restore, diff, migrate."""


@dataclass
class Release:
    """The code a release would run: its workflows and every version it can load."""

    workflows: frozenset[str] | None
    folder: Path
    problems: list[str]

    def resolves(self, key: VersionKey) -> str | None:
        """How this release would resume runs of `key`: "current", "frozen", or None."""
        entrypoint = entrypoints.resolve(*key)
        if entrypoint is None or (self.workflows is not None and key[0] not in self.workflows):
            return None
        return "frozen" if key in frozen.loaded_from else "current"

    def current(self) -> set[VersionKey]:
        return {
            key
            for ep in entrypoints.versions(self.workflows)
            if (key := (ep.workflow, ep.version_hash)) not in frozen.loaded_from
        }


def load_release(app_paths: str | None, versions_dir: Path | None) -> Release:
    """Import the release's workflow code and load its frozen versions, here only.

    A frozen file that cannot be loaded (edited, module gone) is a problem to
    report, not a crash; so is a frozen body naming what its module lost.
    """
    workflows = resolve_workflows(workflow_modules(app_paths))
    folder = resolve_versions_dir(versions_dir)
    problems = []
    for version in frozen.scan(folder):
        if workflows is not None and version.workflow not in workflows:
            continue
        try:
            frozen.load(version)
            missing = frozen.missing_names(version)
        except WorkflowDefinitionError as exc:
            problems.append(str(exc))
            continue
        if missing:
            problems.append(
                f"{version.path}: its body uses {', '.join(missing)}, which module "
                f"{version.module!r} no longer defines; runs of {version.workflow}@"
                f"{version.version_hash} would fail with NameError when they resume"
            )
    return Release(workflows, folder, problems)


@versions.command("freeze")
@app_option
@versions_dir_option
def freeze_command(app_paths: str | None, versions_dir: Path | None) -> None:
    """Write a frozen file for every version the code loads now (existing files are kept)."""
    release = load_release(app_paths, versions_dir)
    current = list(entrypoints.versions(release.workflows))
    sources = frozen.sources_of(current)
    wrote = kept = 0
    for entrypoint in current:
        key = (entrypoint.workflow, entrypoint.version_hash)
        if key in frozen.loaded_from:
            continue  # frozen already: it came from a file
        source = sources.get(key)
        if source is None:
            raise ConfigurationError(
                f"cannot freeze {key[0]}@{key[1]}: its source is not in its file any more "
                "(reloaded since); restore it with 'continuum versions restore'"
            )
        path = frozen.write(release.folder, frozen.of_entrypoint(entrypoint, source))
        if path is None:
            kept += 1
            continue
        wrote += 1
        click.echo(f"froze {key[0]}@{key[1]} (version {entrypoint.version}) into {path}")
    click.echo(f"{wrote} written, {kept} already frozen in {release.folder}")


@versions.command("check")
@database_option
@app_option
@versions_dir_option
@click.option("--strict", is_flag=True, help="Exit 1 when a live run would be stranded.")
@format_option
def check_command(
    database: str,
    app_paths: str | None,
    versions_dir: Path | None,
    strict: bool,
    output_format: str,
) -> None:
    """Which versions live runs are pinned to, and whether this release can resume them."""
    release = load_release(app_paths, versions_dir)
    if is_unused(database):  # the gate of a first deploy: no run can be stranded
        usage = []
    else:
        with client(database) as app:
            usage = app.store.version_usage()
    rows = []
    for use in usage:
        if use.live:
            rows.append((use, use.live, release.resolves((use.workflow, use.version_hash))))
    stranded = [(use, live) for use, live, how in rows if how is None]
    if output_format == "json":
        echo_json(
            {
                "versions": [
                    {
                        "workflow": use.workflow,
                        "version_hash": use.version_hash,
                        "live_runs": live,
                        "resolves": how,
                    }
                    for use, live, how in rows
                ],
                "stranded_runs": sum(live for _, live in stranded),
                "problems": release.problems,
            }
        )
    else:
        table(
            ["WORKFLOW", "HASH", "LIVE RUNS", "THIS RELEASE"],
            [
                [use.workflow, use.version_hash, str(live), how or "STRANDED"]
                for use, live, how in rows
            ],
        )
        for problem in release.problems:
            click.echo(f"problem: {problem}", err=True)
        for use, live in stranded:
            click.echo(
                f"{live} live run(s) of {use.workflow}@{use.version_hash} would be stranded: "
                f"freeze that version ('continuum versions restore {use.workflow} "
                f"{use.version_hash}') or let them finish first",
                err=True,
            )
        if not rows:
            click.echo("no live runs")
    if strict and (stranded or release.problems):
        raise SystemExit(1)


@versions.command("list")
@database_option
@format_option
def list_command(database: str, output_format: str) -> None:
    """The drain report: runs per version and per patch, and who holds each version."""
    with client(database) as app:
        rows = app.store.list_versions()
        usage = {(u.workflow, u.version_hash): u for u in app.store.version_usage()}
        patches = app.store.patch_usage()
    report: list[dict[str, Any]] = []
    for row in rows:
        use = usage.get((row.workflow, row.version_hash))
        counts = dict(use.counts) if use else {}
        holders = [(h.instance, h.node) for h in row.loaded_by if h.dispatching]
        kinds = {"frozen" if h.frozen else "loaded" for h in row.loaded_by}
        report.append(
            {
                "workflow": row.workflow,
                "version_hash": row.version_hash,
                "version": row.version,
                "runs": counts,
                "live_runs": use.live if use else 0,
                "oldest_live": use.oldest_live if use else None,
                "nodes": [f"{instance}/{node}" for instance, node in holders],
                "held_as": sorted(kinds),
            }
        )
    patch_report: list[dict[str, Any]] = [
        {
            "workflow": p.workflow,
            "patch_id": p.patch_id,
            "live_runs_with": p.live_with,
            "live_runs_without": p.live_without,
        }
        for p in patches
    ]
    if output_format == "json":
        echo_json({"versions": report, "patches": patch_report})
        return
    table(
        ["WORKFLOW", "HASH", "V", "LIVE", "RUNS BY STATUS", "OLDEST LIVE", "NODES", "HELD AS"],
        [
            [
                r["workflow"],
                r["version_hash"],
                str(r["version"]),
                str(r["live_runs"]),
                " ".join(f"{s}={n}" for s, n in sorted(r["runs"].items())) or "-",
                when(r["oldest_live"]) if r["oldest_live"] else "-",
                ", ".join(r["nodes"]) or "-",
                "/".join(r["held_as"]) or "-",
            ]
            for r in report
        ],
    )
    if patch_report:
        click.echo("")
        table(
            ["WORKFLOW", "PATCH", "LIVE WITH MARKER", "LIVE WITHOUT (0 = safe to remove)"],
            [
                [
                    p["workflow"],
                    p["patch_id"],
                    str(p["live_runs_with"]),
                    str(p["live_runs_without"]),
                ]
                for p in patch_report
            ],
        )


@versions.command("gc")
@database_option
@app_option
@versions_dir_option
@click.option("--apply", "apply_", is_flag=True, help="Remove them (default: only list them).")
def gc_command(
    database: str, app_paths: str | None, versions_dir: Path | None, apply_: bool
) -> None:
    """Registry rows and frozen files of versions no live run needs (dry run by default)."""
    release = load_release(app_paths, versions_dir)
    current = release.current()
    with client(database) as app:
        live = {(u.workflow, u.version_hash) for u in app.store.version_usage() if u.live}
        rows = [
            (row.workflow, row.version_hash)
            for row in app.store.list_versions()
            if (row.workflow, row.version_hash) not in live | current
        ]
        files = [
            version
            for version in frozen.scan(release.folder)
            if version.key not in live and version.key not in current
        ]
        removed = app.store.delete_versions(rows) if apply_ else rows
    verb = "removed" if apply_ else "would remove"
    for workflow, version_hash in removed:
        click.echo(f"{verb} registry row {workflow}@{version_hash}")
    for version in files:
        if apply_ and version.path is not None:
            version.path.unlink(missing_ok=True)
        click.echo(f"{verb} frozen file {version.path}")
    if not removed and not files:
        click.echo("nothing to collect: every version is current or needed by a live run")
    elif not apply_:
        click.echo("dry run: pass --apply to remove them")


def _registry_source(
    app: Continuum, workflow: str | None, version_hash: str
) -> tuple[VersionRow, str]:
    """(row, source) of a version the durable registry holds, or a clear error."""
    rows = [r for r in app.store.list_versions() if r.version_hash == version_hash]
    rows = [r for r in rows if workflow is None or r.workflow == workflow]
    if not rows:
        raise ConfigurationError(
            f"no version {version_hash} of {workflow or 'any workflow'} in the registry; "
            "'continuum versions list' shows the known ones"
        )
    row = rows[0]
    source = app.store.version_source(row.workflow, row.version_hash)
    if source is None:
        raise ConfigurationError(
            f"the registry holds no source for {row.workflow}@{version_hash} (registered by a "
            "release that did not store sources); find it in version control"
        )
    return row, source


@versions.command("restore")
@database_option
@versions_dir_option
@click.argument("workflow")
@click.argument("version_hash")
def restore_command(
    database: str, versions_dir: Path | None, workflow: str, version_hash: str
) -> None:
    """Write a version's source, kept by the durable registry, into the versions folder."""
    folder = resolve_versions_dir(versions_dir)
    with client(database) as app:
        row, source = _registry_source(app, workflow, version_hash)
    version = frozen.FrozenVersion(
        workflow=workflow,
        version=row.version,
        version_hash=version_hash,
        module=row.module,
        name=row.qualname.split(".")[0],
        source=source,
    )
    path = frozen.write(folder, version)
    if path is None:
        click.echo(f"{folder / version.filename} exists already; left as it is")
    else:
        click.echo(f"restored {workflow}@{version_hash} into {path}: review it and ship it")


@versions.command("diff")
@database_option
@click.argument("hash_a")
@click.argument("hash_b")
def diff_command(database: str, hash_a: str, hash_b: str) -> None:
    """What changed between two versions' class bodies (unified diff)."""
    with client(database) as app:
        row_a, source_a = _registry_source(app, None, hash_a)
        row_b, source_b = _registry_source(app, None, hash_b)
    lines = difflib.unified_diff(
        source_a.splitlines(keepends=True),
        source_b.splitlines(keepends=True),
        fromfile=f"{row_a.workflow}@{hash_a}",
        tofile=f"{row_b.workflow}@{hash_b}",
    )
    text = "".join(lines)
    click.echo(text.rstrip("\n") if text else "the two bodies are the same text")
