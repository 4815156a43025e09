"""A worker node process: `python -m tests.acceptance.worker URL NODE LEASE_SECONDS`.

Prints "ready" once booted, dispatches until SIGTERM, then shuts down cleanly.
"""

from __future__ import annotations

import signal
import sys
import threading

import continuum
from tests.acceptance import proc_flows


def main() -> None:
    url, node, lease = sys.argv[1], sys.argv[2], float(sys.argv[3])
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    app = continuum.Continuum(
        name="workers",
        database=url,
        node=node,
        lease_seconds=lease,
        poll_interval=0.05,
        concurrency=4,
        workflow_modules=[proc_flows.Ledger, proc_flows.Crashable],
    )
    with app:
        print("ready", flush=True)
        stop.wait()


if __name__ == "__main__":
    main()
