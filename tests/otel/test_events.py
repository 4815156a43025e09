"""The bridge against the event catalogue, and the endings a real run rarely shows,
driven by emitting events directly (an instance that is never booted)."""

from __future__ import annotations

import hashlib
import logging
import threading
from collections.abc import Iterator
from typing import Any

import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.sdk.trace.sampling import Decision, ParentBased, TraceIdRatioBased
from opentelemetry.trace import StatusCode

import continuum
import continuum.otel
from continuum import telemetry
from tests.otel.conftest import Otel

RUN = "run-1"


@pytest.fixture
def app() -> continuum.Continuum:
    return continuum.Continuum(name="events", database="sqlite:///:memory:", node="node-1")


@pytest.fixture
def bridge(app: continuum.Continuum, otel: Otel) -> Iterator[continuum.otel.Instrumentation]:
    yield otel.instrument(app)


def meta(app: continuum.Continuum, **extra: Any) -> dict[str, Any]:
    return {
        "run_id": RUN,
        "workflow": "flows.Flow",
        "version_hash": "abc123",
        "instance": app.name,
        "node": app.node,
        "attempt": 3,
        "trace_context": None,
        **extra,
    }


def emit(app: continuum.Continuum, name: str, measurements: dict[str, Any], **extra: Any) -> None:
    telemetry.execute(("continuum", *name.split(".")), measurements, meta(app, **extra))


def attrs(span: ReadableSpan) -> dict[str, Any]:
    return dict(span.attributes or {})


def test_every_event_handled_is_in_the_catalogue_and_takes_its_exact_keys(
    app: continuum.Continuum,
    bridge: continuum.otel.Instrumentation,
    otel: Otel,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Each event the bridge listens to, emitted with exactly the catalogue's keys
    (in the catalogue's order, so ends come before starts too): nothing fails."""
    catalogue = {spec.event: spec for spec in telemetry.events()}
    handled = telemetry.list_handlers()[bridge.handler_id]
    assert set(handled) <= set(catalogue)
    values: dict[str, Any] = {
        **meta(app),
        "signals": ["go"],
        "wake_at": 2.0,
        "waited_since": None,
        "set_at": None,
        "due_at": 1.0,
        "retry_at": 3.0,
        "position": 0,
    }
    with caplog.at_level(logging.DEBUG, logger="continuum.otel"):
        for event in handled:
            spec = catalogue[event]
            telemetry.execute(
                event,
                dict.fromkeys(spec.measurements, 1),
                {key: values.get(key, "x") for key in spec.metadata},
            )
    assert "failed" not in caplog.text
    assert bridge.handler_id in telemetry.list_handlers()
    bridge.uninstrument()
    assert otel.spans("continuum.run")


def test_an_interrupted_attempt_ends_its_open_activity_and_restores_the_context(
    app: continuum.Continuum, bridge: continuum.otel.Instrumentation, otel: Otel
) -> None:
    emit(app, "run.start", {"journal_events": 0})
    assert trace.get_current_span().get_span_context().is_valid  # the attempt's, meanwhile
    emit(app, "activity.start", {"attempt": 1}, activity="flows.charge", position=0)
    emit(app, "run.interrupted", {"duration": 0.5}, reason="lease lost")
    assert not trace.get_current_span().get_span_context().is_valid

    [run] = otel.spans("continuum.run")
    [activity] = otel.spans("continuum.activity")
    assert run.status.status_code is StatusCode.ERROR
    assert run.status.description == "lease lost"
    assert attrs(run)["continuum.outcome"] == "interrupted"
    assert attrs(run)["continuum.reason"] == "lease lost"
    assert attrs(run)["continuum.attempt"] == 3
    # No stored context: the parent is the run's own, derived from its id, never exported.
    digest = hashlib.sha256(b"continuum.run:" + RUN.encode()).digest()
    assert run.parent is not None and run.parent.is_remote
    assert run.context.trace_id == int.from_bytes(digest[:16], "big")
    assert run.parent.span_id == int.from_bytes(digest[16:24], "big")
    assert activity.parent is not None and activity.parent.span_id == run.context.span_id
    assert attrs(activity)["continuum.outcome"] == "abandoned"
    assert activity.status.status_code is StatusCode.ERROR


def test_nondeterminism_is_an_error_with_what_was_expected(
    app: continuum.Continuum, bridge: continuum.otel.Instrumentation, otel: Otel
) -> None:
    emit(app, "run.resumed", {"journal_events": 4})
    emit(
        app,
        "run.nondeterminism",
        {"duration": 0.01, "position": 2},
        expected="activity 'flows.ship'",
        recorded_kind="activity",
        recorded_name="flows.charge",
        message="at journal position 2 the code called activity 'flows.ship' ...",
    )
    [run] = otel.spans("continuum.run")
    assert run.status.status_code is StatusCode.ERROR
    assert run.status.description is not None
    assert run.status.description.startswith("at journal position 2")
    assert attrs(run)["continuum.resumed"] is True
    assert attrs(run)["continuum.journal_events"] == 4
    assert attrs(run)["continuum.position"] == 2
    assert attrs(run)["continuum.nondeterminism.recorded_name"] == "flows.charge"
    metrics = otel.metrics()
    [point] = metrics["continuum.run.attempts"]
    assert point.value == 1
    assert dict(point.attributes)["continuum.outcome"] == "nondeterminism"


def test_a_released_attempt_is_not_an_error(
    app: continuum.Continuum, bridge: continuum.otel.Instrumentation, otel: Otel
) -> None:
    emit(app, "run.start", {"journal_events": 0})
    emit(app, "run.released", {"duration": 0.01}, reason="shutdown")
    [run] = otel.spans("continuum.run")
    assert run.status.status_code is StatusCode.UNSET
    assert attrs(run)["continuum.outcome"] == "released"
    assert attrs(run)["continuum.reason"] == "shutdown"


def test_an_attempt_whose_end_never_came_is_closed_by_the_next_on_its_thread(
    app: continuum.Continuum, bridge: continuum.otel.Instrumentation, otel: Otel
) -> None:
    emit(app, "run.start", {"journal_events": 0})
    telemetry.execute(
        ("continuum", "run", "start"), {"journal_events": 0}, meta(app, run_id="run-2")
    )
    [stale] = otel.spans("continuum.run")
    assert attrs(stale)["continuum.run_id"] == RUN
    assert attrs(stale)["continuum.outcome"] == "abandoned"
    telemetry.execute(("continuum", "run", "stop"), {"duration": 0.1}, meta(app, run_id="run-2"))
    assert [attrs(s)["continuum.outcome"] for s in otel.spans("continuum.run")] == [
        "abandoned",
        "completed",
    ]
    assert not trace.get_current_span().get_span_context().is_valid


def test_attempts_on_other_threads_keep_their_own_spans(
    app: continuum.Continuum, bridge: continuum.otel.Instrumentation, otel: Otel
) -> None:
    """Two worker threads interleave events of two runs: each keeps its own tree."""
    steps = [threading.Event() for _ in range(2)]

    def worker(run_id: str, first: int) -> None:
        def go(name: str, measurements: dict[str, Any], **extra: Any) -> None:
            telemetry.execute(
                ("continuum", *name.split(".")), measurements, meta(app, run_id=run_id, **extra)
            )

        go("run.start", {"journal_events": 0})
        steps[first].set()
        steps[first + 1 - 2 * (first % 2)].wait(5)  # the other thread began too
        go("activity.start", {"attempt": 1}, activity="flows.step", position=0)
        go("activity.stop", {"duration": 0.001, "attempt": 1}, activity="flows.step", position=0)
        go("run.stop", {"duration": 0.01})

    threads = [
        threading.Thread(target=worker, args=("run-a", 0)),
        threading.Thread(target=worker, args=("run-b", 1)),
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    runs = {attrs(s)["continuum.run_id"]: s for s in otel.spans("continuum.run")}
    assert set(runs) == {"run-a", "run-b"}
    for span in otel.spans("continuum.activity"):
        parent = runs[attrs(span)["continuum.run_id"]]
        assert span.parent is not None and span.parent.span_id == parent.context.span_id
    assert {attrs(s)["continuum.outcome"] for s in runs.values()} == {"completed"}


def test_counters_and_events_of_other_instances_are_ignored(
    app: continuum.Continuum, bridge: continuum.otel.Instrumentation, otel: Otel
) -> None:
    emit(app, "run.lease_lost", {"count": 1})
    emit(app, "run.unknown_version", {"count": 1})
    telemetry.execute(
        ("continuum", "run", "unknown_version"), {"count": 1}, meta(app, instance="elsewhere")
    )
    telemetry.execute(("continuum", "run", "start"), {"journal_events": 0}, meta(app, node="n2"))
    metrics = otel.metrics()
    assert [p.value for p in metrics["continuum.run.lease_lost"]] == [1]
    [unknown] = metrics["continuum.run.unknown_version"]
    assert unknown.value == 1
    assert dict(unknown.attributes) == {
        "continuum.instance": "events",
        "continuum.workflow": "flows.Flow",
        "continuum.version_hash": "abc123",
    }
    assert otel.spans() == []


def test_uninstrument_ends_the_spans_still_open(
    app: continuum.Continuum, bridge: continuum.otel.Instrumentation, otel: Otel
) -> None:
    emit(app, "run.start", {"journal_events": 0})
    emit(app, "activity.start", {"attempt": 1}, activity="flows.charge", position=0)
    bridge.uninstrument()
    assert sorted(attrs(s)["continuum.outcome"] for s in otel.spans()) == [
        "uninstrumented",
        "uninstrumented",
    ]
    assert not trace.get_current_span().get_span_context().is_valid  # this thread's, put back
    emit(app, "run.stop", {"duration": 0.1})  # detached: nothing more
    assert len(otel.spans()) == 2


def test_counters_survive_instrumenting_again(app: continuum.Continuum, otel: Otel) -> None:
    """Several bridges on one meter share its asynchronous instruments: a second
    bridge's counters and gauges are reported, and totals never go back."""
    first = otel.instrument(app)
    emit(app, "run.created", {"count": 1})
    first.uninstrument()
    second = otel.instrument(app)
    emit(app, "run.created", {"count": 1})
    [started] = otel.metrics()["continuum.runs.started"]
    assert started.value == 2
    second.uninstrument()


def test_a_derived_trace_is_sampled_as_a_root_would_be(
    app: continuum.Continuum, otel: Otel
) -> None:
    """The SDK's sampler decides for the derived parent, once per run: every attempt of
    a run agrees, and a ratio sampler keeps its ratio."""
    exporter = InMemorySpanExporter()
    provider = TracerProvider(sampler=ParentBased(TraceIdRatioBased(0.5)))
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    bridge = continuum.otel.instrument(
        app, tracer_provider=provider, meter_provider=otel.meter_provider
    )
    run_ids = [f"run-{index}" for index in range(40)]
    for _ in range(2):  # two attempts of each run
        for run_id in run_ids:
            telemetry.execute(
                ("continuum", "run", "resumed"), {"journal_events": 1}, meta(app, run_id=run_id)
            )
            telemetry.execute(
                ("continuum", "run", "suspended"),
                {"duration": 0.01},
                meta(app, run_id=run_id, wake_at=None, signals=["go"]),
            )
    bridge.uninstrument()
    exported = [attrs(span)["continuum.run_id"] for span in exporter.get_finished_spans()]
    ratio = TraceIdRatioBased(0.5)

    def sampled(run_id: str) -> bool:
        digest = hashlib.sha256(b"continuum.run:" + run_id.encode()).digest()
        decision = ratio.should_sample(None, int.from_bytes(digest[:16], "big"), "x").decision
        return decision is Decision.RECORD_AND_SAMPLE

    expected = [run_id for run_id in run_ids if sampled(run_id)]
    assert 0 < len(expected) < len(run_ids)
    assert sorted(exported) == sorted(expected * 2)
