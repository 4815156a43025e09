"""A benchmark worker node: `python -m bench.node URL NODE CONCURRENCY`.

Prints "ready" once booted and dispatches until SIGTERM.
"""

from __future__ import annotations

import signal
import sys
import threading

import continuum
from bench import workloads


def main() -> None:
    url, node, concurrency = sys.argv[1], sys.argv[2], int(sys.argv[3])
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    app = continuum.Continuum(
        name="bench",
        database=url,
        node=node,
        concurrency=concurrency,
        workflow_modules=[workloads.ThreeActivities, workloads.OneActivity],
    )
    with app:
        print("ready", flush=True)
        stop.wait()


if __name__ == "__main__":
    main()
