"""Schedule tick accuracy: how late runs start after their tick, with 1,000 schedules.

    python -m bench.schedules [--schedules 1000] [--spread 65] [--bursts 2] [--nodes 1]

A throwaway PostgreSQL server (default settings, fsync on, as in `bench.run`). A
client instance (`dispatch=False`) declares the schedules; `--nodes` worker
instances in this process (concurrency 16, the default poll interval of 1 s) fire
them and run the runs, a one-line workflow. Two shapes, one after the other:

- spread: `--schedules` cron schedules, each once a minute at its own second
  (`S * * * * *`, S = i mod 60: about 17 ticks a second), for `--spread` seconds;
- burst: as many interval schedules of 10 s, which all tick at the same instant,
  for `--bursts` ticks.

Each run's delay is the wall time its first attempt began (`run.start`) less its
tick (read from its run id); the server runs on this machine, so both are the same
clock. "fired" is the part of it until a node fired the tick (`schedule.fired`'s
delay, on the database clock). Figures, never assertions.
"""

from __future__ import annotations

import argparse
import datetime as dt
import statistics
import threading
import time
from collections.abc import Sequence

from tests.pgcluster import PostgresCluster

import continuum

_RUN_START = ("continuum", "run", "start")
_FIRED = ("continuum", "schedule", "fired")


class Beat(continuum.Workflow, workflow="bench.Beat"):
    def run(self, input):
        return input


class Recorder:
    """When each scheduled run's first attempt began, and each firing's delay."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.started: dict[str, float] = {}
        self.fired: dict[str, float] = {}

    def __call__(self, event: tuple[str, ...], measurements: dict, metadata: dict) -> None:
        run_id = metadata["run_id"]
        if not run_id.startswith("schedule:"):
            return
        with self.lock:
            if event == _RUN_START:
                self.started.setdefault(run_id, time.time())
            else:
                self.fired[run_id] = measurements["delay"]


def tick_of(run_id: str) -> float:
    return dt.datetime.fromisoformat(run_id.split(":", 2)[2]).timestamp()


def percentiles(values: Sequence[float]) -> tuple[float, float, float]:
    ordered = sorted(values)
    if len(ordered) < 2:
        only = ordered[0] if ordered else float("nan")
        return only, only, only
    cuts = statistics.quantiles(ordered, n=100, method="inclusive")
    return cuts[49], cuts[98], ordered[-1]


def measure(
    recorder: Recorder, prefix: str, since: float, until: float
) -> tuple[list[float], list[float]]:
    """Delays (start and fired, seconds) of the runs of schedules named `prefix*` whose
    tick fell in [since, until)."""
    with recorder.lock:
        started = dict(recorder.started)
        fired = dict(recorder.fired)
    chosen = [
        run_id
        for run_id in started
        if run_id.startswith(f"schedule:{prefix}") and since <= tick_of(run_id) < until
    ]
    return (
        [started[run_id] - tick_of(run_id) for run_id in chosen],
        [fired[run_id] for run_id in chosen if run_id in fired],
    )


def wait_for(recorder: Recorder, count: int, prefix: str, since: float, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if len(measure(recorder, prefix, since, float("inf"))[0]) >= count:
            return
        time.sleep(0.1)


def row(label: str, delays: Sequence[float]) -> str:
    p50, p99, worst = (value * 1000 for value in percentiles(delays))
    return f"  {label:<46}{len(delays):>7,}{p50:>10.1f}{p99:>10.1f}{worst:>10.1f}"


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--schedules", type=int, default=1000)
    parser.add_argument("--spread", type=float, default=65.0, help="seconds of spread ticks")
    parser.add_argument("--bursts", type=int, default=2)
    parser.add_argument("--nodes", type=int, default=1)
    args = parser.parse_args()

    recorder = Recorder()
    continuum.telemetry.attach_many("bench-schedules", [_RUN_START, _FIRED], recorder)
    cluster = PostgresCluster(durable=True).start()
    lines: list[str] = []
    try:
        url = cluster.create_database()
        client = continuum.Continuum(
            name="bench", database=url, node="client", dispatch=False, workflow_modules=[Beat]
        )
        workers = [
            continuum.Continuum(
                name="bench", database=url, node=f"node-{i}", concurrency=16,
                workflow_modules=[Beat],
            )
            for i in range(args.nodes)
        ]  # fmt: skip
        with client:
            for worker in workers:
                worker.boot()
            try:
                began = time.perf_counter()
                for i in range(args.schedules):
                    client.schedule(Beat, i, cron=f"{i % 60} * * * * *", id=f"spread-{i:05d}")
                declared = time.perf_counter() - began
                since = time.time() + 2  # past the first ticks, and declaring
                until = since + args.spread
                time.sleep(max(0.0, until + 3 - time.time()))  # the window, and its last runs
                spread, spread_fired = measure(recorder, "spread-", since, until)
                for i in range(args.schedules):
                    client.pause_schedule(f"spread-{i:05d}")

                for i in range(args.schedules):
                    client.schedule(Beat, i, every=10, id=f"burst-{i:05d}")
                since = (int(time.time()) // 10 + 1) * 10  # the next burst
                until = since + 10 * args.bursts
                wait_for(
                    recorder,
                    args.schedules * args.bursts,
                    "burst-",
                    since,
                    until - time.time() + 30,
                )
                burst, burst_fired = measure(recorder, "burst-", since, until)
            finally:
                for worker in workers:
                    worker.shutdown()
    finally:
        cluster.remove()
        continuum.telemetry.detach("bench-schedules")

    lines.append(
        f"Schedule tick accuracy, PostgreSQL (fsync on), {args.nodes} node(s) of concurrency 16, "
        "poll interval 1 s"
    )
    lines.append(
        f"  declaring {args.schedules:,} schedules: {declared * 1000 / args.schedules:.2f} ms each"
    )
    lines.append(
        f"  {'delay from the tick to':<46}{'runs':>7}{'p50 ms':>10}{'p99 ms':>10}{'max ms':>10}"
    )
    lines.append(row(f"the run's start, {args.schedules:,} spread (~17/s)", spread))
    lines.append(row("  of which the firing", spread_fired))
    lines.append(row(f"the run's start, {args.schedules:,} at one instant", burst))
    lines.append(row("  of which the firing", burst_fired))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
