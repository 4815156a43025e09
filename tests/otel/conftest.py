"""An OpenTelemetry SDK per test, in memory: spans and metrics to look at."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

import continuum
import continuum.otel
from tests.conftest import wait_until
from tests.otel import flows


class Otel:
    """The SDK side of one test: providers, the finished spans, the metrics."""

    def __init__(self) -> None:
        self.exporter = InMemorySpanExporter()
        self.tracer_provider = TracerProvider()
        self.tracer_provider.add_span_processor(SimpleSpanProcessor(self.exporter))
        self.reader = InMemoryMetricReader()
        self.meter_provider = MeterProvider(metric_readers=[self.reader])
        self.tracer = self.tracer_provider.get_tracer("tests")
        self.made: list[continuum.otel.Instrumentation] = []

    def instrument(self, app: continuum.Continuum) -> continuum.otel.Instrumentation:
        made = continuum.otel.instrument(
            app, tracer_provider=self.tracer_provider, meter_provider=self.meter_provider
        )
        self.made.append(made)
        return made

    def spans(self, name: str | None = None, run_id: str | None = None) -> list[ReadableSpan]:
        return [
            span
            for span in self.exporter.get_finished_spans()
            if (name is None or span.name == name)
            and (run_id is None or (span.attributes or {}).get("continuum.run_id") == run_id)
        ]

    def wait_for_spans(
        self, name: str, count: int, run_id: str | None = None, timeout: float = 10.0
    ) -> list[ReadableSpan]:
        """Spans end in handlers that may run a moment after result() returns."""
        wait_until(
            lambda: len(self.spans(name, run_id)) >= count,
            timeout=timeout,
            what=f"{count} {name} span(s)",
        )
        return self.spans(name, run_id)

    def metrics(self) -> dict[str, list[Any]]:
        """Every metric's data points by name (a collection: gauges are observed)."""
        found: dict[str, list[Any]] = {}
        data = self.reader.get_metrics_data()
        for resource in data.resource_metrics if data else ():
            for scope in resource.scope_metrics:
                for metric in scope.metrics:
                    found.setdefault(metric.name, []).extend(metric.data.data_points)
        return found

    def close(self) -> None:
        for made in self.made:
            made.uninstrument()
        self.tracer_provider.shutdown()
        self.meter_provider.shutdown()


@pytest.fixture
def otel() -> Iterator[Otel]:
    flows.reset()
    sdk = Otel()
    flows.TRACER[:] = [sdk.tracer]
    yield sdk
    sdk.close()
    flows.reset()


@pytest.fixture
def make_otel_app(
    make_app: Callable[..., continuum.Continuum], otel: Otel
) -> Callable[..., continuum.Continuum]:
    """An instance of the test flows, booted and instrumented."""

    def make(**options: Any) -> continuum.Continuum:
        options.setdefault("workflow_modules", flows.ALL)
        app = make_app(**options)
        otel.instrument(app)
        return app

    return make
