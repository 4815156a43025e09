"""A worker node process for the fault tests.

    python -m tests.faults.worker URL NODE --lease SECONDS [--concurrency N] --log FILE

Loads `tests.faults.flows`, prints "ready" once booted, dispatches until
SIGTERM, then shuts down. The engine's log goes to FILE (never to stderr,
whose pipe nobody drains). Probes for runs of unknown versions are rare: every
run in these tests is of a version each worker has.
"""

from __future__ import annotations

import argparse
import logging
import signal
import threading

import continuum


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("url")
    parser.add_argument("node")
    parser.add_argument("--lease", type=float, required=True)
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument("--log", required=True)
    args = parser.parse_args()

    logging.basicConfig(
        filename=args.log, level=logging.INFO, format="%(asctime)s %(threadName)s %(message)s"
    )
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    app = continuum.Continuum(
        name="workers",
        database=args.url,
        node=args.node,
        lease_seconds=args.lease,
        poll_interval=0.05,
        unknown_version_backoff=60.0,
        concurrency=args.concurrency,
        workflow_modules=["tests.faults.flows"],
    )
    with app:
        print("ready", flush=True)
        stop.wait()


if __name__ == "__main__":
    main()
