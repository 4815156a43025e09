"""The `continuum` command line.

    continuum migrate --database postgresql://app@db/orders

Every command takes `--database URL` (or `CONTINUUM_DATABASE_URL`).
"""

from __future__ import annotations

import sys

import click

from continuum.errors import ContinuumError, StoreError
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
        try:
            before = store.schema_version()
        except StoreError:  # an empty database has no migrations table yet
            before = 0
        store.migrate()
        after = store.schema_version()
    finally:
        store.close()
    if after == before:
        click.echo(f"schema of {store.url} is up to date (version {after})")
    else:
        click.echo(f"migrated {store.url} from schema version {before} to {after}")


def main() -> None:
    try:
        cli(standalone_mode=True)
    except ContinuumError as exc:  # a clear message, not a traceback
        click.echo(f"error: {exc}", err=True)
        sys.exit(1)


if __name__ == "__main__":
    main()
