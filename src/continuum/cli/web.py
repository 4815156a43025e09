"""`continuum web`: serve the web observer with uvicorn.

    continuum web --database postgresql://app@db/orders [--host 127.0.0.1] [--port 8765]
                  [--token T]      # or CONTINUUM_WEB_TOKEN; without one: read-only

The database is opened (and its schema checked) before the server starts, so a
database that cannot be reached is a one-line error, not a server that answers
errors. It needs the `[web]` extra: `pip install 'continuum-python[web]'`.
"""

from __future__ import annotations

import ipaddress

import click

from continuum.cli import cli, database_option
from continuum.instance import read_only
from continuum.web import INSTALL_HINT, load


@cli.command()
@database_option
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option(
    "--port", type=click.IntRange(1, 65535), default=8765, show_default=True, help="Port."
)
@click.option(
    "--token",
    envvar="CONTINUUM_WEB_TOKEN",
    help="Token that enables actions (cancel, signal) after logging in with it. Prefer "
    "setting CONTINUUM_WEB_TOKEN: arguments show in ps. Without one the pages are read-only.",
)
@click.option(
    "--log-level",
    type=click.Choice(["debug", "info", "warning", "error"], case_sensitive=False),
    default="info",
    show_default=True,
    help="Server log level (to stderr).",
)
def web(database: str, host: str, port: int, token: str | None, log_level: str) -> None:
    """Serve the web observer: runs, timelines, versions, nodes, health.

    Read-only unless a token is given; then actions need logging in with it.
    Listens on 127.0.0.1 unless told otherwise: put it behind TLS before
    exposing it to a network.
    """
    build = load()  # WebExtraMissing (exit 1) names the extra to install
    try:
        import uvicorn  # noqa: PLC0415 - part of the optional extra
    except ImportError:
        raise click.ClickException(
            f"continuum web needs uvicorn, part of the [web] extra: {INSTALL_HINT}"
        ) from None
    if token is not None and not token.strip():
        raise click.BadParameter("the token is empty", param_hint="'--token'")
    if not _loopback(host):
        click.echo(
            f"warning: listening on {host}, beyond this machine"
            + (": anyone who can reach it can read every run" if token is None else "")
            + "; serve it over TLS (a reverse proxy) so the token and pages are not sent in clear",
            err=True,
        )
    client = read_only(database, name="continuum-web", concurrency=4)
    client.boot()  # an unreachable database, or one without the schema, fails here in one line
    try:
        app = build(token=token, client=client)
        mode = "actions enabled after logging in with the token" if token else "read-only"
        click.echo(
            f"continuum web on http://{host}:{port}/ ({mode}) for {client.store.url}", err=True
        )
        uvicorn.run(app, host=host, port=port, log_level=log_level.lower(), access_log=False)
    finally:
        client.shutdown()


def _loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
