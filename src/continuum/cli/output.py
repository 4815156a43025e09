"""How commands print: aligned columns for people, JSON for scripts.

Human output is plain text. Columns are as wide as their widest cell and lines
as long as their content: nothing is wrapped or cut to the terminal's width, so
a pipe receives exactly what a terminal shows. Colour (statuses, headers) is
added only when stdout is a terminal and `NO_COLOR` is unset (`click.echo`
strips styles on the way to anything else). Text that came from the database
(run ids, names, payloads) is printed with control characters escaped, so a
value can neither break a table's lines nor send escape sequences to a terminal.

`--format json` prints one JSON document on stdout: complete values, never
shortened, times as ISO 8601 strings in UTC.
"""

from __future__ import annotations

import datetime as dt
import json
import os
from collections.abc import Callable, Sequence
from typing import Any

import click

format_option = click.option(
    "--format",
    "output_format",
    type=click.Choice(["text", "json"], case_sensitive=False),
    default="text",
    show_default=True,
    help="text: aligned columns for people; json: one JSON document for scripts.",
)

_STATUS_COLOURS = {
    "completed": "green",
    "failed": "red",
    "cancelled": "magenta",
    "running": "cyan",
    "suspended": "yellow",
    "stuck_unknown_version": "red",
}


def echo_json(value: Any) -> None:
    click.echo(json.dumps(value, indent=2, ensure_ascii=False))


def style(text: str, **styles: Any) -> str:
    """`text` styled for a terminal, unless `NO_COLOR` is set (https://no-color.org)."""
    if os.environ.get("NO_COLOR"):
        return text
    return click.style(text, **styles)


def status_style(status: str) -> Callable[[str], str]:
    colour = _STATUS_COLOURS.get(status)
    return (lambda text: style(text, fg=colour)) if colour else (lambda text: text)


def printable(text: str) -> str:
    """`text` with every control character (newline, ESC, ...) written as an escape."""
    if text.isprintable():
        return text
    return "".join(ch if ch.isprintable() else repr(ch)[1:-1] for ch in text)


def compact(value: Any) -> str:
    """A JSON value on one line, for a cell."""
    return printable(json.dumps(value, ensure_ascii=False, separators=(", ", ": ")))


def shorten(text: str, width: int) -> tuple[str, bool]:
    """`text` cut to `width` characters ending in "...", and whether it was cut."""
    if len(text) <= width:
        return text, False
    return text[: width - 3] + "...", True


def when(moment: dt.datetime | float | None) -> str:
    """A time for people: UTC, to the second. `None` or 0 (not recorded) is "-"."""
    if not moment:
        return "-"
    if not isinstance(moment, dt.datetime):
        moment = dt.datetime.fromtimestamp(moment, tz=dt.UTC)
    return moment.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M:%S")


def iso(moment: dt.datetime | float | None) -> str | None:
    """A time for JSON: ISO 8601 in UTC, or None (not recorded)."""
    if not moment:
        return None
    if not isinstance(moment, dt.datetime):
        moment = dt.datetime.fromtimestamp(moment, tz=dt.UTC)
    return moment.astimezone(dt.UTC).isoformat()


def table(headers: Sequence[str], rows: Sequence[Sequence[str]], *, indent: str = "") -> None:
    """Print rows in left-aligned columns two spaces apart, under bold headers.

    Widths are measured before styling; a `STATUS` column is coloured by value.
    """
    cells = [[printable(cell) for cell in row] for row in rows]
    widths = [len(h) for h in headers]
    for row in cells:
        for i, cell in enumerate(row):
            widths[i] = max(widths[i], len(cell))
    status_column = list(headers).index("STATUS") if "STATUS" in headers else -1

    def line(row: Sequence[str], paint: Callable[[int, str], str]) -> str:
        last = len(row) - 1
        padded = [
            paint(i, cell if i == last else cell.ljust(widths[i])) for i, cell in enumerate(row)
        ]
        return (indent + "  ".join(padded)).rstrip()

    click.echo(line(headers, lambda _, text: style(text, bold=True)))
    for row in cells:
        click.echo(
            line(
                row,
                lambda i, text: status_style(text.strip())(text) if i == status_column else text,
            )
        )


def fields(pairs: Sequence[tuple[str, str]]) -> None:
    """Print `label  value` lines with the values aligned. A value's further lines
    (a traceback) are indented under it; a `status` value is coloured."""
    width = max(len(label) for label, _ in pairs)
    for label, value in pairs:
        first, *rest = [printable(part) for part in value.split("\n")]
        if label == "status":
            first = status_style(first)(first)
        click.echo(f"{style(label.ljust(width), bold=True)}  {first}".rstrip())
        for more in rest:
            click.echo(f"{' ' * width}  {more}".rstrip())
