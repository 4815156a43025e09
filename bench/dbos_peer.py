"""DBOS Transact running the same workflow shapes, for the comparison table.

    python -m bench.dbos_peer SCENARIO DATABASE_URL

Prints one JSON object. DBOS is a per-process singleton, so each scenario runs
in a process of its own. Written against DBOS's public API only.
"""

from __future__ import annotations

import json
import statistics
import sys
import time
from typing import Any

from dbos import DBOS


@DBOS.step()
def noop(i: int) -> int:
    return i


@DBOS.workflow()
def three_steps() -> list[int]:
    return [noop(0), noop(1), noop(2)]


@DBOS.workflow()
def one_step() -> int:
    return noop(0)


@DBOS.workflow()
def many_steps(count: int) -> int:
    for i in range(count):
        noop(i)
    return count


def throughput(runs: int) -> dict[str, Any]:
    three_steps()  # warm up
    started = time.perf_counter()
    cpu = time.process_time()
    handles = [DBOS.start_workflow(three_steps) for _ in range(runs)]
    for handle in handles:
        handle.get_result()
    took = time.perf_counter() - started
    return {
        "workflows_per_second": runs / took,
        "cpu_ms_per_workflow": (time.process_time() - cpu) / runs * 1000,
    }


def latency(samples: int) -> dict[str, Any]:
    one_step()
    times = []
    for _ in range(samples):
        started = time.perf_counter()
        one_step()
        times.append((time.perf_counter() - started) * 1000)
    times.sort()
    return {"p50_ms": statistics.median(times), "p99_ms": times[round(len(times) * 0.99) - 1]}


def first_execution(steps: int) -> dict[str, Any]:
    started = time.perf_counter()
    handle = DBOS.start_workflow(many_steps, steps)
    handle.get_result()
    first = time.perf_counter() - started
    # Replay: a fork from past the last step runs the workflow again with every
    # step's recorded output, none executed.
    started = time.perf_counter()
    DBOS.fork_workflow(handle.get_workflow_id(), steps + 1).get_result()
    replay = time.perf_counter() - started
    return {"first_us_per_step": first / steps * 1e6, "replay_us_per_step": replay / steps * 1e6}


SCENARIOS = {
    "throughput": lambda: throughput(1000),
    "latency": lambda: latency(200),
    "steps": lambda: first_execution(1000),
}


def main() -> None:
    scenario, url = sys.argv[1], sys.argv[2]
    DBOS(config={"name": "continuum-bench", "system_database_url": url, "log_level": "ERROR"})
    DBOS.launch()
    try:
        print(json.dumps(SCENARIOS[scenario]()), flush=True)
    finally:
        DBOS.destroy()


if __name__ == "__main__":
    main()
