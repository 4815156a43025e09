"""What continuum.otel costs: throughput of short runs with and without it.

    python -m bench.otel [--workloads noop io] [--backends sqlite postgres]
                         [--runs 500] [--rounds 5] [--concurrency 16 [4 ...]]
    python -m bench.otel --breakdown [--rounds 3] [--runs 600]

One measurement: `--runs` runs of a 3-activity workflow started from one thread
in a loop on one in-process instance with `--concurrency` workers, every result
waited for, on a fresh database, after 20 runs of warm-up. Each round measures
every variant once, in an order that rotates from round to round; medians are
compared, and so are the ratios within each round (variants measured side by
side share the machine's load of the moment).

Workloads:
- noop: activities that return at once. The engine alone costs about 1 ms of CPU
  per run, so this is the worst case for any per-run overhead.
- io: activities that each wait 2 ms (time.sleep(0.002), which releases the GIL
  as a database or HTTP call does): a realistic lower bound for real activities.
  With 16 in flight on 2 cores the process is still CPU-bound; with 4 it is not.

Variants:
- plain: no OpenTelemetry at all.
- otel: instrumented, with the SDK as an application sets it up: a
  BatchSpanProcessor to an exporter that drops what it is given (the cost of the
  bridge and the SDK, not of serializing spans for a collector, which a real
  exporter does in the processor's thread) and a periodic metric reader (every
  second, so the backlog gauges are observed). Runs are started outside any
  trace, so each also gets a `continuum.start` root span.
- otel, 10% sampled: the same with ParentBased(TraceIdRatioBased(0.1)).
- plain / otel, callers traced: each app.start() inside an application span (a
  request), as in an application that already traces its requests; compared with
  each other, this is what adding continuum.otel to such an application costs.

`--breakdown`: the thread CPU spent in each of the bridge's handlers on an
instance running no-op runs (SQLite, 16 in flight), with the SDK, with spans or
metrics sent to a no-op provider, and with both; then the SDK's unit costs
measured alone on one thread.

PostgreSQL runs on a throwaway server (default settings, fsync on), as in
bench.run. CPU is this process's (every thread; not the database server's).
Figures, never assertions.
"""

from __future__ import annotations

import argparse
import contextlib
import statistics
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.metrics import NoOpMeterProvider
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import (
    MetricExporter,
    MetricExportResult,
    MetricsData,
    PeriodicExportingMetricReader,
)
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter, SpanExportResult
from opentelemetry.sdk.trace.sampling import ParentBased, TraceIdRatioBased
from opentelemetry.trace import NoOpTracerProvider, Tracer

import continuum
import continuum.otel
from bench import workloads


@continuum.activity
def wait_2ms(i: int) -> int:
    time.sleep(0.002)
    return i


class ThreeWaits(continuum.Workflow):
    def run(self, input: Any) -> Any:
        return [wait_2ms(0), wait_2ms(1), wait_2ms(2)]


WORKLOADS: dict[str, type[continuum.Workflow]] = {
    "noop": workloads.ThreeActivities,
    "io": ThreeWaits,
}
TITLES = {
    "noop": "3 no-op activities",
    "io": "3 activities of 2 ms I/O each",
}


class DroppingSpanExporter(SpanExporter):
    """Counts the spans it is given and keeps none."""

    def __init__(self) -> None:
        self.spans = 0

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        self.spans += len(spans)
        return SpanExportResult.SUCCESS

    def shutdown(self) -> None:
        pass


class DroppingMetricExporter(MetricExporter):
    def __init__(self) -> None:
        super().__init__()
        self.exports = 0

    def export(
        self, metrics_data: MetricsData, timeout_millis: float = 10_000, **kwargs: Any
    ) -> MetricExportResult:
        self.exports += 1
        return MetricExportResult.SUCCESS

    def force_flush(self, timeout_millis: float = 10_000) -> bool:
        return True

    def shutdown(self, timeout_millis: float = 30_000, **kwargs: Any) -> None:
        pass


@dataclass(frozen=True)
class Variant:
    instrumented: bool
    sample: float | None = None  # a ParentBased(TraceIdRatioBased(sample)) sampler
    traced_callers: bool = False  # each app.start() inside an application span


VARIANTS = {
    "plain": Variant(instrumented=False),
    "otel": Variant(instrumented=True),
    "otel, 10% sampled": Variant(instrumented=True, sample=0.1),
    "plain, callers traced": Variant(instrumented=False, traced_callers=True),
    "otel, callers traced": Variant(instrumented=True, traced_callers=True),
}
# (measured, against): ratios printed at the end.
COMPARISONS = [
    ("otel", "plain"),
    ("otel, 10% sampled", "plain"),
    ("otel, callers traced", "plain, callers traced"),
]


@contextlib.contextmanager
def sdk(
    sample: float | None = None,
) -> Iterator[tuple[TracerProvider, MeterProvider, DroppingSpanExporter]]:
    spans = DroppingSpanExporter()
    sampler = None if sample is None else ParentBased(TraceIdRatioBased(sample))
    tracer_provider = TracerProvider(sampler=sampler)
    tracer_provider.add_span_processor(BatchSpanProcessor(spans))
    reader = PeriodicExportingMetricReader(DroppingMetricExporter(), export_interval_millis=1000)
    meter_provider = MeterProvider(metric_readers=[reader])
    try:
        yield tracer_provider, meter_provider, spans
    finally:
        tracer_provider.shutdown()
        meter_provider.shutdown()


def throughput(
    url: str, runs: int, concurrency: int, variant: Variant, workflow: type[continuum.Workflow]
) -> tuple[float, float, int]:
    """Runs per second, this process's CPU seconds per run (every thread; not the
    database server's), and how many spans were exported."""
    with contextlib.ExitStack() as stack:
        app = stack.enter_context(
            continuum.Continuum(
                database=url,
                workflow_modules=list(WORKLOADS.values()),
                concurrency=concurrency,
                poll_interval=0.05,
                name="bench",
            )
        )
        exporter: DroppingSpanExporter | None = None
        tracer: Tracer | None = None
        if variant.instrumented or variant.traced_callers:
            tracer_provider, meter_provider, exporter = stack.enter_context(sdk(variant.sample))
            if variant.instrumented:
                instrumentation = continuum.otel.instrument(
                    app, tracer_provider=tracer_provider, meter_provider=meter_provider
                )
                stack.callback(instrumentation.uninstrument)
            if variant.traced_callers:
                tracer = tracer_provider.get_tracer("bench")

        def start() -> str:
            if tracer is None:
                return app.start(workflow)
            with tracer.start_as_current_span("request"):
                return app.start(workflow)

        for run_id in [start() for _ in range(20)]:  # warm up
            app.result(run_id, timeout=60)
        started, cpu = time.perf_counter(), time.process_time()
        ids = [start() for _ in range(runs)]
        for run_id in ids:
            app.result(run_id, timeout=600)
        took, cpu = time.perf_counter() - started, time.process_time() - cpu
        # Handlers finish a moment after result() returns; let them before shutdown.
        time.sleep(0.2)
    return runs / took, cpu / runs, (exporter.spans if exporter is not None else 0)


def measure(
    title: str,
    fresh: Callable[[], str],
    workflow: type[continuum.Workflow],
    concurrency: int,
    args: Any,
) -> None:
    rates: dict[str, list[float]] = {name: [] for name in VARIANTS}
    cpus: dict[str, list[float]] = {name: [] for name in VARIANTS}
    names = list(VARIANTS)
    print(title, flush=True)
    for index in range(args.rounds):
        shift = index % len(names)
        for name in names[shift:] + names[:shift]:  # a different order every round
            rate, cpu, spans = throughput(fresh(), args.runs, concurrency, VARIANTS[name], workflow)
            rates[name].append(rate)
            cpus[name].append(cpu)
            exported = f"  {spans:,} spans exported" if spans else ""
            print(
                f"  round {index + 1}  {name:<22} {rate:7,.0f} runs/s {cpu * 1e6:6,.0f} us CPU/run"
                f"{exported}",
                flush=True,
            )
    rate_of = {name: statistics.median(values) for name, values in rates.items()}
    cpu_of = {name: statistics.median(values) for name, values in cpus.items()}
    print("  medians (min-max):")
    for name in VARIANTS:
        print(
            f"    {name:<22} {rate_of[name]:7,.0f} runs/s ({min(rates[name]):,.0f}-"
            f"{max(rates[name]):,.0f})  {cpu_of[name] * 1e6:6,.0f} us CPU/run"
        )
    for measured, against in COMPARISONS:
        ratio = rate_of[measured] / rate_of[against]
        paired = statistics.median(
            m / a for m, a in zip(rates[measured], rates[against], strict=True)
        )
        extra = (cpu_of[measured] - cpu_of[against]) * 1e6
        print(
            f"  {measured} against {against}: throughput ratio {ratio:.3f} "
            f"({(1 - ratio) * 100:.1f} % cost; per round {(1 - paired) * 100:.1f} %), "
            f"CPU per run {extra:+,.0f} us ({extra / (cpu_of[against] * 1e6) * 100:+.1f} %)",
            flush=True,
        )
    print(flush=True)


# -- the breakdown: where the bridge's time goes -------------------------------------------

_CASES = {
    "spans and metrics": (True, True),
    "spans only (metrics to a no-op meter)": (True, False),
    "metrics only (spans to a no-op tracer)": (False, True),
    "neither (no-op tracer and meter)": (False, False),
}
_SHORT = ("all", "spans", "metrics", "neither")


def _providers(
    spans: bool, metrics: bool, tracer_provider: TracerProvider, meter_provider: MeterProvider
) -> dict[str, Any]:
    return {
        "tracer_provider": tracer_provider if spans else NoOpTracerProvider(),
        "meter_provider": meter_provider if metrics else NoOpMeterProvider(),
    }


def _in_engine(url: str, runs: int, spans: bool, metrics: bool) -> dict[str, float]:
    """Thread CPU microseconds per run spent in each of the bridge's handlers, on a real
    instance running no-op runs, 16 in flight (measured around the handlers, so the
    engine's own cost of building the events' metadata is not in it)."""
    spent: dict[str, int] = {}

    def timed(name: str, handler: Callable[..., Any]) -> Callable[..., Any]:
        def run(*args: Any) -> Any:
            began = time.thread_time_ns()
            try:
                return handler(*args)
            finally:
                # Dict updates of distinct keys from several threads: the GIL keeps each whole.
                spent[name] = spent.get(name, 0) + time.thread_time_ns() - began

        return run

    with contextlib.ExitStack() as stack:
        app = stack.enter_context(
            continuum.Continuum(
                database=url,
                workflow_modules=list(WORKLOADS.values()),
                concurrency=16,
                poll_interval=0.05,
                name="bench",
            )
        )
        tracer_provider, meter_provider, _ = stack.enter_context(sdk())
        instrumentation = continuum.otel.instrument(
            app, **_providers(spans, metrics, tracer_provider, meter_provider)
        )
        # The bench reaches into the bridge to time each handler where it runs.
        bridge = instrumentation._bridge
        bridge._table = {
            event: timed(".".join(event[1:]), handler) for event, handler in bridge._table.items()
        }
        capture = app.trace_context_capture
        assert capture is not None
        app.trace_context_capture = timed("capture (app.start)", capture)
        for run_id in [app.start(workloads.ThreeActivities) for _ in range(20)]:
            app.result(run_id, timeout=60)
        time.sleep(0.1)
        spent.clear()
        for run_id in [app.start(workloads.ThreeActivities) for _ in range(runs)]:
            app.result(run_id, timeout=600)
        time.sleep(0.2)
        found = {name: total / 1e3 / runs for name, total in spent.items()}
        app.trace_context_capture = capture
        instrumentation.uninstrument()
    return found


def _unit_cpu(what: Callable[[], object], times: int = 20_000) -> float:
    for _ in range(1000):
        what()
    cpu = time.process_time()
    for _ in range(times):
        what()
    return (time.process_time() - cpu) / times * 1e6


def _sdk_units(rounds: int) -> None:
    print("The SDK's unit costs, alone on one thread (CPU us, BatchSpanProcessor, warm):")
    with sdk() as (tracer_provider, meter_provider, _):
        tracer = tracer_provider.get_tracer("unit")
        parent = trace.set_span_in_context(tracer.start_span("parent"))
        four: dict[str, str | int] = {"a.b": "run-1", "c.d": "flows.step", "e.f": 1, "g.h": 1}
        eight: dict[str, str | int | bool] = {**four, "i.j": "x", "k.l": "y", "m.n": True}
        histogram = meter_provider.get_meter("unit").create_histogram("h", unit="s")
        labels = {"continuum.instance": "a", "continuum.activity": "b", "continuum.outcome": "c"}

        def in_span() -> None:
            token = otel_context.attach(parent)
            histogram.record(0.001, labels)
            otel_context.detach(token)

        units: dict[str, Callable[[], object]] = {
            "span, start and end, no attributes": lambda: tracer.start_span("s", parent).end(),
            "span, start and end, 4 attributes": lambda: tracer.start_span(
                "s", parent, attributes=four
            ).end(),
            "span, start and end, 7 attributes": lambda: tracer.start_span(
                "s", parent, attributes=eight
            ).end(),
            "histogram record, 3 attributes": lambda: histogram.record(0.001, labels),
            "histogram record, a sampled span current (exemplar)": in_span,
        }
        for name, what in units.items():
            cost = statistics.median(_unit_cpu(what) for _ in range(rounds))
            print(f"  {name:<56} {cost:6.1f} us")


def breakdown(args: Any) -> None:
    rounds = args.rounds
    print(
        f"Where the bridge's time goes on an instance running 3 no-op activities per run,\n"
        f"16 in flight, SQLite: thread CPU in each handler, us per run, median of {rounds} "
        f"rounds of {args.runs} runs\n"
    )
    found: dict[str, list[dict[str, float]]] = {name: [] for name in _CASES}
    with tempfile.TemporaryDirectory(prefix="continuum-bench-otel-") as folder:
        for index in range(rounds):
            for name, (spans, metrics) in _CASES.items():
                url = f"sqlite:///{Path(folder) / f'{index}-{len(found[name])}.db'}"
                found[name].append(_in_engine(url, args.runs, spans, metrics))
    full = found["spans and metrics"]
    events = sorted({key for case in full for key in case}, key=lambda k: -full[0].get(k, 0))
    print(f"  {'handler':<22}" + "".join(f"{short:>9}" for short in _SHORT))
    for event in events:
        per_case = [
            statistics.median(case.get(event, 0.0) for case in found[name]) for name in _CASES
        ]
        print(f"  {event:<22}" + "".join(f"{value:9.1f}" for value in per_case))
    totals = [statistics.median(sum(case.values()) for case in found[name]) for name in _CASES]
    print(f"  {'per run':<22}" + "".join(f"{value:9.1f}" for value in totals))
    for short, name in zip(_SHORT, _CASES, strict=True):
        print(f"    {short}: {name}")
    print()
    _sdk_units(rounds)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--workloads", nargs="+", default=list(WORKLOADS), choices=list(WORKLOADS))
    parser.add_argument(
        "--backends", nargs="+", default=["sqlite", "postgres"], choices=["sqlite", "postgres"]
    )
    parser.add_argument("--runs", type=int, default=500)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--concurrency", type=int, nargs="+", default=[16])
    parser.add_argument(
        "--breakdown", action="store_true", help="where the bridge's time goes, then exit"
    )
    args = parser.parse_args()
    if args.breakdown:
        breakdown(args)
        return
    print(
        f"{args.runs} runs per measurement, {args.rounds} rounds of {len(VARIANTS)} variants "
        "in rotating order\n"
    )
    counter = iter(range(100_000))
    for backend in args.backends:
        with contextlib.ExitStack() as stack:
            title, fresh = databases(backend, stack, counter)
            for workload in args.workloads:
                for concurrency in args.concurrency:
                    measure(
                        f"{title}: {TITLES[workload]}, {concurrency} in flight",
                        fresh,
                        WORKLOADS[workload],
                        concurrency,
                        args,
                    )


def databases(
    backend: str, stack: contextlib.ExitStack, counter: Iterator[int]
) -> tuple[str, Callable[[], str]]:
    """The backend's title, and a function that makes a fresh database's URL."""
    if backend == "sqlite":
        folder = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="continuum-otel-")))
        return "SQLite (embedded, synchronous=full)", (
            lambda: f"sqlite:///{folder / f'b{next(counter)}.db'}"
        )
    from tests.pgcluster import PostgresCluster

    cluster = PostgresCluster(durable=True).start()
    stack.callback(cluster.remove)
    return "PostgreSQL (throwaway server, default settings, fsync on)", cluster.create_database


if __name__ == "__main__":
    main()
