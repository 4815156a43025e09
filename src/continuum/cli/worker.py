"""`continuum worker`: run a node that executes runs until SIGTERM or SIGINT.

    continuum worker [--app MODULE,...] [--concurrency N] [--node NAME] ...

Unlike the other commands, which act through a client instance that executes nothing,
`worker` boots an instance that dispatches, and owns the process while it does: it
logs to stderr, and turns the first SIGTERM or SIGINT into a graceful shutdown (runs
in flight handed back at a safe point) and a second into an immediate exit.
"""

from __future__ import annotations

import logging
import os
import signal
import sys
import threading
from collections.abc import Callable
from types import FrameType

import click

from continuum.cli import cli, database_option
from continuum.cli.app import app_option, workflow_modules
from continuum.instance import Continuum
from continuum.probes import serve_probes
from continuum.workflow import entrypoints

logger = logging.getLogger("continuum.worker")


@cli.command()
@database_option
@app_option
@click.option(
    "--name",
    default="default",
    show_default=True,
    help="The instance name the versions registry records for this node.",
)
@click.option("--node", help="This node's name.  [default: host:pid]")
@click.option(
    "--concurrency",
    type=click.IntRange(min=1),
    default=8,
    show_default=True,
    help="Runs executing at once on this node.",
)
@click.option(
    "--lease-seconds",
    type=click.FloatRange(min=0, min_open=True),
    default=30.0,
    show_default=True,
    help="How long a claim lasts without renewal; a dead node's runs are taken over after it.",
)
@click.option(
    "--poll-interval",
    type=click.FloatRange(min=0, min_open=True),
    default=1.0,
    show_default=True,
    help="Seconds between looks for due runs when no wakeup arrives.",
)
@click.option(
    "--shutdown-timeout",
    type=click.FloatRange(min=0),
    default=30.0,
    show_default=True,
    help="On SIGTERM/SIGINT, how long attempts in flight get to reach a safe point.",
)
@click.option(
    "--health-port",
    type=click.IntRange(0, 65535),
    help="Serve /livez, /readyz and /healthz on this port (0: any free port, logged).",
)
@click.option(
    "--health-host",
    default="0.0.0.0",
    show_default=True,
    help="Address the health endpoints bind (orchestrators probe from outside the pod).",
)
@click.option(
    "--log-level",
    type=click.Choice(["debug", "info", "warning", "error"], case_sensitive=False),
    default="info",
    show_default=True,
    help="Log from this level up (to stderr).",
)
def worker(  # noqa: PLR0917 - click passes every option
    database: str,
    app_paths: str | None,
    name: str,
    node: str | None,
    concurrency: int,
    lease_seconds: float,
    poll_interval: float,
    shutdown_timeout: float,
    health_port: int | None,
    health_host: str,
    log_level: str,
) -> None:
    """Run a node that executes runs until SIGTERM or SIGINT.

    On the first signal it stops claiming, lets attempts in flight reach a
    safe point (an activity that is running finishes and is journaled), hands
    their runs back for any node to resume, and exits 0. A second signal exits
    at once (1): the runs it held are taken over when their leases expire.
    Logs go to stderr.
    """
    logging.basicConfig(
        level=log_level.upper(),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    modules = workflow_modules(app_paths)  # before the database: bad code writes nothing
    app = Continuum(
        name=name,
        database=database,
        workflow_modules=modules,
        node=node,
        concurrency=concurrency,
        poll_interval=poll_interval,
        lease_seconds=lease_seconds,
    )
    stop = threading.Event()
    restore = _stop_on_signals(stop)
    probes = None
    try:
        logger.info(
            "booting node %s (instance %r): concurrency %d, lease %gs, poll every %gs",
            app.node,
            app.name,
            concurrency,
            lease_seconds,
            poll_interval,
        )
        app.boot()
        logger.info("booted on %s", app.store.url)
        _log_versions(app)
        if health_port is not None:
            probes = serve_probes(app, health_host, health_port)
            host, port = probes.server_address[:2]
            logger.info("health endpoints on http://%s:%s/livez, /readyz, /healthz", host, port)
        logger.info("ready: dispatching until SIGTERM or SIGINT")
        while not stop.wait(1.0):
            pass
        logger.info(
            "shutting down: no new claims; attempts in flight get up to %gs to reach a safe point",
            shutdown_timeout,
        )
    finally:
        app.shutdown(shutdown_timeout)  # also after an error: hand back what this node holds
        if probes is not None:
            probes.shutdown()
        restore()
    logger.info("node %s shut down", app.node)


def _log_versions(app: Continuum) -> None:
    known = sorted(app.versions.known())
    if not known:
        logger.warning("no workflow versions loaded: this node will run nothing")
    for workflow, version_hash in known:
        entrypoint = entrypoints.resolve(workflow, version_hash)
        version = getattr(entrypoint, "version", "?")
        logger.info("runs %s version %s (hash %s)", workflow, version, version_hash)


def _stop_on_signals(stop: threading.Event) -> Callable[[], None]:
    """SIGTERM and SIGINT set `stop`; a second one exits at once. Returns a
    function that puts the previous handlers back."""

    def handle(signum: int, frame: FrameType | None) -> None:
        received = signal.Signals(signum).name
        if not stop.is_set():
            logger.info("%s received", received)
            stop.set()
            return
        logger.warning(
            "%s received again: exiting now; the runs this node holds are taken over "
            "when their leases expire",
            received,
        )
        logging.shutdown()
        os._exit(1)

    previous = {sig: signal.signal(sig, handle) for sig in (signal.SIGTERM, signal.SIGINT)}

    def restore() -> None:
        for sig, handler in previous.items():
            signal.signal(sig, handler)

    return restore
