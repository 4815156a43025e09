"""A worker node process for the acceptance tests.

    python -m tests.acceptance.worker URL NODE [--lease 5] [--concurrency 4]
        [--modules dotted.path,...] [--events FILE] [--log FILE]

Prints "ready" once booted, dispatches until SIGTERM, then shuts down cleanly.
`--events` appends every telemetry event as a JSON line; `--log` sends the
engine's log there.
"""

from __future__ import annotations

import argparse
import json
import logging
import signal
import threading
from typing import Any

import continuum

DEFAULT_MODULES = "tests.acceptance.proc_flows"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("url")
    parser.add_argument("node")
    parser.add_argument("--lease", type=float, default=5.0)
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument("--modules", default=DEFAULT_MODULES)
    parser.add_argument("--events")
    parser.add_argument("--log")
    args = parser.parse_args()

    if args.log:
        logging.basicConfig(
            filename=args.log, level=logging.INFO, format="%(asctime)s %(name)s %(message)s"
        )
    if args.events:
        lock = threading.Lock()

        def record(event: tuple[str, ...], measurements: Any, metadata: Any) -> None:
            line = json.dumps({"event": list(event), **{k: str(v) for k, v in metadata.items()}})
            with lock, open(args.events, "a", encoding="utf-8") as out:
                out.write(line + "\n")

        continuum.telemetry.attach_many(
            "acceptance-events",
            [("continuum", "run", name) for name in ("unknown_version", "stop", "exception")],
            record,
        )

    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    app = continuum.Continuum(
        name="workers",
        database=args.url,
        node=args.node,
        lease_seconds=args.lease,
        poll_interval=0.05,
        unknown_version_backoff=0.2,
        concurrency=args.concurrency,
        workflow_modules=args.modules.split(","),
    )
    with app:
        print("ready", flush=True)
        stop.wait()


if __name__ == "__main__":
    main()
