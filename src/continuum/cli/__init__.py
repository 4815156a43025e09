"""The `continuum` command line.

    continuum migrate --database postgresql://app@db/orders

Every command takes `--database URL` (or `CONTINUUM_DATABASE_URL`). Also run as
`python -m continuum`. An error prints one line, `error: ...`, to stderr and exits
1 (a failure) or 2 (a usage mistake); never a traceback.

This module holds the command group, the options commands share and the error
handling; each family of commands lives in a module of its own beside it and
registers itself on `cli` when imported (see the end of this file).
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Sequence
from typing import NoReturn

import click

from continuum.errors import ContinuumError, DatabaseUnavailable
from continuum.store import open_store

database_option = click.option(
    "--database",
    envvar="CONTINUUM_DATABASE_URL",
    required=True,
    help="Database URL (sqlite:///path.db or postgresql://...); or set CONTINUUM_DATABASE_URL.",
)


@click.group()
@click.version_option(package_name="continuum-python")
def cli() -> None:
    """Continuum: durable workflows, each run pinned to the code it started on."""


@cli.command()
@database_option
def migrate(database: str) -> None:
    """Create or upgrade the schema (safe while other nodes boot or run)."""
    store = open_store(database)
    try:
        before = store.schema_version()  # 0 on an empty database
        store.migrate()
        after = store.schema_version()
    finally:
        store.close()
    if after == before:
        click.echo(f"schema of {store.url} is up to date (version {after})")
    else:
        click.echo(f"migrated {store.url} from schema version {before} to {after}")


def main(args: Sequence[str] | None = None) -> NoReturn:
    """Run the command line (`continuum` and `python -m continuum`) and exit."""
    connect_errors = _LastConnectError.install()
    try:
        code = cli.main(args=args, prog_name="continuum", standalone_mode=False)
    except click.UsageError as exc:
        if type(exc).__name__ == "NoArgsIsHelpError":  # bare `continuum` (click 8.2+): help
            exc.show()
            sys.exit(exc.exit_code)
        command = exc.ctx.command_path if exc.ctx else "continuum"
        _fail(f"{exc.format_message().rstrip('.')}; see '{command} --help'", exc.exit_code)
    except click.ClickException as exc:
        _fail(exc.format_message(), exc.exit_code)
    except click.Abort:
        _fail("aborted", 1)
    except ContinuumError as exc:  # a clear message, not a traceback
        message = _one_line(str(exc))
        if isinstance(exc, DatabaseUnavailable) and connect_errors.last not in message:
            message += f" (last attempt: {connect_errors.last})"
        _fail(message, 1)
    except Exception as exc:  # unexpected, but still one line
        _fail(f"{type(exc).__name__}: {exc}", 1)
    sys.exit(code if isinstance(code, int) else 0)


def _fail(message: str, code: int) -> NoReturn:
    click.echo(f"error: {_one_line(message)}", err=True)
    sys.exit(code)


def _one_line(text: str) -> str:
    return " ".join(line.strip() for line in text.splitlines() if line.strip())


class _LastConnectError(logging.Handler):
    """Keeps the PostgreSQL pool's last connection error instead of printing every retry."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.last = ""

    @classmethod
    def install(cls) -> _LastConnectError:
        handler = cls()
        pool_logger = logging.getLogger("psycopg.pool")
        for earlier in [h for h in pool_logger.handlers if isinstance(h, cls)]:
            pool_logger.removeHandler(earlier)  # main() called again in one process
        pool_logger.addHandler(handler)
        pool_logger.propagate = False
        return handler

    def emit(self, record: logging.LogRecord) -> None:
        message = _one_line(record.getMessage())
        if message.startswith("error connecting in "):
            message = message.partition(": ")[2] or message
        self.last = message


# Each family of commands registers itself on `cli` when imported.
from continuum.cli import lint, ops, replay, runs, schedules, versions, web, worker  # noqa: E402, F401
