"""`continuum lint PATH...`: the determinism scan, run over source files.

    continuum lint src/ tests/flows.py [--format json]

Reports what defining each workflow class would warn about (see
`continuum.determinism`), without importing anything: files are parsed, never run,
so it is safe in CI on code whose dependencies are not installed. PATH is a file or a
folder, searched for `*.py` files (folders whose name starts with a dot, `__pycache__`
and virtualenvs are skipped). One line per finding, `path:line:col: message`, on
stdout, sorted; a summary on stderr. Exits 1 when anything is found (or a file cannot
be read or parsed), 0 when clean, 2 on a usage mistake such as a missing path.
"""

from __future__ import annotations

import dataclasses
import importlib.util
import os
from collections.abc import Iterator, Sequence
from pathlib import Path

import click

from continuum.cli import cli
from continuum.cli.output import echo_json
from continuum.determinism import ALLOW_COMMENT, Finding, scan_source


@cli.command()
@click.argument(
    "paths",
    nargs=-1,
    required=True,
    type=click.Path(exists=True, path_type=Path),
)
@click.option(
    "--format",
    "output_format",
    type=click.Choice(["text", "json"], case_sensitive=False),
    default="text",
    show_default=True,
    help="text: one 'path:line:col: message' line per finding; json: one JSON document.",
)
@click.pass_context
def lint(ctx: click.Context, paths: tuple[Path, ...], output_format: str) -> None:
    """Report calls in workflow classes that break replay.

    PATHS are files or folders; files are parsed, never imported. Exits 1 when there
    are findings, 0 when clean.
    """
    files = list(python_files(paths))
    findings = [finding for file in files for finding in lint_file(file)]
    if output_format.lower() == "json":
        echo_json([dataclasses.asdict(finding) for finding in findings])
    else:
        for finding in findings:
            click.echo(str(finding))
        click.echo(_summary(len(files), findings), err=True)
    ctx.exit(1 if findings else 0)


def lint_file(path: Path) -> list[Finding]:
    """The findings of one file; one that cannot be read or parsed is one finding."""
    shown = str(path)
    try:
        source = importlib.util.decode_source(path.read_bytes())  # honours coding cookies
        return scan_source(source, shown)
    except SyntaxError as exc:
        line, col = exc.lineno or 1, exc.offset or 1
        return [_unreadable(shown, line, col, f"does not parse ({exc.msg})")]
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        return [_unreadable(shown, 1, 1, f"cannot be read ({exc})")]


def python_files(paths: Sequence[Path]) -> Iterator[Path]:
    """Each file given, and the `*.py` files under each folder given, once, sorted."""
    seen: set[Path] = set()
    for path in paths:
        for file in [path] if not path.is_dir() else _walk(path):
            key = file.resolve()
            if key not in seen:
                seen.add(key)
                yield file


def _walk(folder: Path) -> Iterator[Path]:
    for root, dirs, files in os.walk(folder):
        here = Path(root)
        dirs[:] = sorted(d for d in dirs if not _skipped(here / d))
        for name in sorted(files):
            if name.endswith(".py"):
                yield here / name


def _skipped(folder: Path) -> bool:
    name = folder.name
    return name.startswith(".") or name == "__pycache__" or (folder / "pyvenv.cfg").exists()


def _unreadable(path: str, line: int, col: int, why: str) -> Finding:
    return Finding(path, line, col, workflow="", call="", message=f"{why}; not scanned")


def _summary(files: int, findings: list[Finding]) -> str:
    checked = f"{files} file{'' if files == 1 else 's'} checked"
    if not findings:
        return f"{checked}: no calls that break replay"
    count = len(findings)
    return (
        f"{checked}: {count} finding{'' if count == 1 else 's'}. Use the replay-safe "
        f"alternative named, or end a deliberate line with '{ALLOW_COMMENT}'"
    )
