"""continuum.otel (SPEC 11): spans and metrics from real instances on both backends."""

from __future__ import annotations

import hashlib
import json
import logging
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from typing import Any

import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.trace import StatusCode

import continuum
import continuum.otel
from continuum import telemetry
from tests.conftest import wait_until
from tests.otel import flows
from tests.otel.conftest import Otel

MakeApp = Callable[..., continuum.Continuum]


def attrs(span: ReadableSpan) -> dict[str, Any]:
    return dict(span.attributes or {})


def parent_id(span: ReadableSpan) -> int | None:
    return span.parent.span_id if span.parent is not None else None


def by_position(spans: Sequence[ReadableSpan]) -> list[ReadableSpan]:
    return sorted(
        spans,
        key=lambda s: (attrs(s)["continuum.position"], attrs(s)["continuum.activity.attempt"]),
    )


def activity_name(fn: Any) -> str:
    return str(fn.__continuum_activity__.name)


def points(metrics: dict[str, list[Any]], name: str, **wanted: str) -> list[Any]:
    return [
        p
        for p in metrics.get(name, [])
        if all(dict(p.attributes).get(f"continuum.{k}") == v for k, v in wanted.items())
    ]


def total(metrics: dict[str, list[Any]], name: str, **wanted: str) -> float:
    return float(sum(p.value for p in points(metrics, name, **wanted)))


def count(metrics: dict[str, list[Any]], name: str, **wanted: str) -> int:
    return sum(p.count for p in points(metrics, name, **wanted))


# -- spans -------------------------------------------------------------------------------------


def test_a_run_is_an_attempt_span_with_a_span_per_activity_try(
    make_otel_app: MakeApp, otel: Otel
) -> None:
    app = make_otel_app()
    flows.FAILURES["c"] = 1  # fails once, then the retry succeeds
    with otel.tracer.start_as_current_span("caller") as caller:
        run_id = app.start(flows.StepsAndRetry)
    assert app.result(run_id, timeout=10) == ["did a", "did b", "c ok"]

    [run] = otel.wait_for_spans("continuum.run", 1, run_id)
    activities = by_position(otel.wait_for_spans("continuum.activity", 4, run_id))
    [inner] = otel.wait_for_spans("inside b", 1)
    caller_ctx = caller.get_span_context()

    # The attempt joins the trace of the code that started the run, as its child.
    assert run.context.trace_id == caller_ctx.trace_id
    assert parent_id(run) == caller_ctx.span_id
    assert run.status.status_code is StatusCode.UNSET
    record = app.store.get_run(run_id)
    assert record is not None
    assert attrs(run) == {
        "continuum.run_id": run_id,
        "continuum.workflow": flows.StepsAndRetry.workflow,
        "continuum.version_hash": flows.StepsAndRetry.version_hash,
        "continuum.attempt": attrs(run)["continuum.attempt"],
        "continuum.instance": app.name,
        "continuum.node": app.node,
        "continuum.resumed": False,
        "continuum.journal_events": 0,
        "continuum.outcome": "completed",
    }
    assert isinstance(attrs(run)["continuum.attempt"], int)
    assert attrs(run)["continuum.attempt"] >= 1

    # One span per activity try, each a child of the attempt span.
    assert [
        (
            attrs(s)["continuum.activity"],
            attrs(s)["continuum.position"],
            attrs(s)["continuum.activity.attempt"],
            attrs(s).get("continuum.outcome"),
            s.status.status_code,
        )
        for s in activities
    ] == [
        (activity_name(flows.step), 0, 1, None, StatusCode.UNSET),
        (activity_name(flows.traced), 1, 1, None, StatusCode.UNSET),
        (activity_name(flows.flaky), 2, 1, "failed", StatusCode.ERROR),
        (activity_name(flows.flaky), 2, 2, None, StatusCode.UNSET),
    ]
    for span in activities:
        assert span.context.trace_id == caller_ctx.trace_id
        assert parent_id(span) == run.context.span_id
        assert attrs(span)["continuum.run_id"] == run_id
        assert run.start_time <= span.start_time <= span.end_time <= run.end_time  # type: ignore[operator]
    failed = activities[2]
    assert failed.status.description == "ConnectionError: c unreachable"
    [exception] = [e for e in failed.events if e.name == "exception"]
    assert dict(exception.attributes or {}) == {
        "exception.type": "ConnectionError",
        "exception.message": "c unreachable",
    }
    # The attempt span notes the retry decision.
    retries = [e for e in run.events if e.name == "continuum.activity.retry"]
    assert [dict(e.attributes or {})["continuum.activity"] for e in retries] == [
        activity_name(flows.flaky)
    ]

    # A span made inside an activity (an instrumented client) is the activity's child.
    assert parent_id(inner) == activities[1].context.span_id
    assert inner.context.trace_id == caller_ctx.trace_id


def test_a_failed_run_is_an_error_span(make_otel_app: MakeApp, otel: Otel) -> None:
    app = make_otel_app()
    with otel.tracer.start_as_current_span("caller") as caller:
        run_id = app.start(flows.Fails)
    with pytest.raises(continuum.RunFailed):
        app.result(run_id, timeout=10)
    [run] = otel.wait_for_spans("continuum.run", 1, run_id)
    assert run.context.trace_id == caller.get_span_context().trace_id
    assert run.status.status_code is StatusCode.ERROR
    assert run.status.description == "ValueError: out of stock"
    assert attrs(run)["continuum.outcome"] == "failed"
    [exception] = [e for e in run.events if e.name == "exception"]
    assert dict(exception.attributes or {}) == {
        "exception.type": "ValueError",
        "exception.message": "out of stock",
    }
    [activity] = otel.wait_for_spans("continuum.activity", 1, run_id)
    assert activity.status.status_code is StatusCode.UNSET
    assert parent_id(activity) == run.context.span_id


def test_attempts_on_two_instances_join_the_trace_that_started_the_run(
    make_otel_app: MakeApp, otel: Otel
) -> None:
    """Instance A runs the first attempt until the run waits for a signal and shuts
    down; instance B, on the same database, runs the attempt the signal wakes and the
    one the timer wakes. Every attempt is a child of the span around app.start()."""
    node_a = make_otel_app(name="a")
    with otel.tracer.start_as_current_span("caller") as caller:
        run_id = node_a.start(flows.WaitsThenSleeps)
    wait_until(lambda: node_a.get(run_id).status == "suspended", what="the signal wait")
    otel.wait_for_spans("continuum.run", 1, run_id)
    node_a.shutdown()

    node_b = make_otel_app(name="b")
    waited_from = time.time()
    time.sleep(0.2)  # the signal span covers the wait
    node_b.signal(run_id, "go", {"by": "ana"})
    assert node_b.result(run_id, timeout=20) == ["did first", {"by": "ana"}, "did last"]

    runs = sorted(otel.wait_for_spans("continuum.run", 3, run_id), key=lambda s: s.start_time or 0)
    caller_ctx = caller.get_span_context()
    assert len(runs) == 3
    for span in runs:
        assert span.context.trace_id == caller_ctx.trace_id
        assert parent_id(span) == caller_ctx.span_id
    assert [attrs(s)["continuum.instance"] for s in runs] == ["a", "b", "b"]
    assert [attrs(s)["continuum.outcome"] for s in runs] == ["suspended", "suspended", "completed"]
    assert [attrs(s)["continuum.resumed"] for s in runs] == [False, True, True]
    assert attrs(runs[0])["continuum.signals"] == ("go",)
    assert "continuum.signal.waiting" in [e.name for e in runs[0].events]
    assert "continuum.timer.scheduled" in [e.name for e in runs[1].events]
    attempts = [attrs(s)["continuum.attempt"] for s in runs]
    assert attempts == sorted(set(attempts))  # each claim has its own, increasing number

    # The signal wait: from when the first attempt began waiting to the attempt that
    # took the signal, as a child of that attempt.
    [signal] = otel.wait_for_spans("continuum.signal", 1, run_id)
    assert parent_id(signal) == runs[1].context.span_id
    assert signal.context.trace_id == caller_ctx.trace_id
    assert attrs(signal)["continuum.signal"] == "go"
    assert attrs(signal)["continuum.outcome"] == "consumed"
    assert signal.start_time is not None and signal.end_time is not None
    assert signal.start_time <= int(waited_from * 1e9)
    assert signal.start_time >= runs[0].start_time - int(1e9)  # type: ignore[operator]
    assert signal.end_time - signal.start_time >= 0.2e9

    # The timer: set by the second attempt, passed by the third.
    [timer] = otel.wait_for_spans("continuum.timer", 1, run_id)
    assert parent_id(timer) == runs[2].context.span_id
    assert timer.context.trace_id == caller_ctx.trace_id
    assert timer.start_time is not None and timer.end_time is not None
    assert timer.end_time - timer.start_time >= 0.25e9
    assert attrs(timer)["continuum.timer.lateness"] >= 0

    activities = otel.spans("continuum.activity", run_id)
    assert [parent_id(s) for s in by_position(activities)] == [
        runs[0].context.span_id,
        runs[2].context.span_id,
    ]


def test_a_run_started_outside_any_trace_gets_a_trace_of_its_own(
    make_otel_app: MakeApp, otel: Otel
) -> None:
    app = make_otel_app()
    assert not trace.get_current_span().get_span_context().is_valid
    run_id = app.start(flows.StepsAndRetry)
    app.result(run_id, timeout=10)
    [root] = otel.wait_for_spans("continuum.start", 1, run_id)
    [run] = otel.wait_for_spans("continuum.run", 1, run_id)
    assert root.parent is None
    assert attrs(root)["continuum.workflow"] == flows.StepsAndRetry.workflow
    assert run.context.trace_id == root.context.trace_id
    assert parent_id(run) == root.context.span_id
    stored = app.store.get_run(run_id)
    assert stored is not None and stored.trace_context is not None
    assert "traceparent" in json.loads(stored.trace_context)


def test_a_run_stored_without_a_context_still_gets_one_trace(make_app: MakeApp, otel: Otel) -> None:
    """A run started by an instance that is not instrumented stores no context: every
    attempt takes the parent derived from the run id, so they still share one trace."""
    worker = make_app(name="worker", workflow_modules=flows.ALL)
    otel.instrument(worker)
    client = make_app(name="client", dispatch=False, workflow_modules=flows.ALL)
    with otel.tracer.start_as_current_span("caller"):  # not seen: the client is not instrumented
        run_id = client.start(flows.WaitsThenSleeps)
    record = client.store.get_run(run_id)
    assert record is not None and record.trace_context is None
    wait_until(lambda: client.get(run_id).status == "suspended", what="the signal wait")
    client.signal(run_id, "go", 1)
    assert client.result(run_id, timeout=20) == ["did first", 1, "did last"]

    digest = hashlib.sha256(b"continuum.run:" + run_id.encode()).digest()
    trace_id, parent = int.from_bytes(digest[:16], "big"), int.from_bytes(digest[16:24], "big")
    runs = otel.wait_for_spans("continuum.run", 3, run_id)
    for span in runs:
        assert span.context.trace_id == trace_id
        assert span.parent is not None and span.parent.is_remote
        assert span.parent.span_id == parent
    waits = otel.wait_for_spans("continuum.signal", 1, run_id) + otel.wait_for_spans(
        "continuum.timer", 1, run_id
    )
    activities = otel.wait_for_spans("continuum.activity", 2, run_id)
    assert {span.context.trace_id for span in waits + activities} == {trace_id}
    assert otel.spans("continuum.start") == []


def test_concurrent_async_activities_each_get_a_span(make_otel_app: MakeApp, otel: Otel) -> None:
    app = make_otel_app()
    run_id = app.start(flows.Gathers)
    assert app.result(run_id, timeout=10) == [2, 4, 6]
    [run] = otel.wait_for_spans("continuum.run", 1, run_id)
    activities = by_position(otel.wait_for_spans("continuum.activity", 3, run_id))
    assert [attrs(s)["continuum.position"] for s in activities] == [0, 1, 2]
    assert {parent_id(s) for s in activities} == {run.context.span_id}
    # They overlapped, and the last started finished first.
    assert max(s.start_time or 0 for s in activities) < min(s.end_time or 0 for s in activities)


# -- metrics -----------------------------------------------------------------------------------


def test_metrics(make_otel_app: MakeApp, otel: Otel) -> None:
    app = make_otel_app()
    flows.FAILURES["c"] = 1
    done = app.start(flows.StepsAndRetry)
    failed = app.start(flows.Fails)
    app.result(done, timeout=10)
    with pytest.raises(continuum.RunFailed):
        app.result(failed, timeout=10)
    otel.wait_for_spans("continuum.run", 2)
    waiting = app.start(flows.WaitsThenSleeps)
    wait_until(lambda: app.get(waiting).status == "suspended", what="the signal wait")
    app.cancel(waiting)

    metrics = otel.metrics()
    steps, fails, waits = (
        flows.StepsAndRetry.workflow,
        flows.Fails.workflow,
        flows.WaitsThenSleeps.workflow,
    )
    assert total(metrics, "continuum.runs.started") == 3
    assert total(metrics, "continuum.runs.started", workflow=steps) == 1
    assert total(metrics, "continuum.runs.finished", workflow=steps, outcome="completed") == 1
    assert total(metrics, "continuum.runs.finished", workflow=fails, outcome="failed") == 1
    assert total(metrics, "continuum.runs.finished", workflow=waits, outcome="cancelled") == 1
    assert total(metrics, "continuum.runs.finished") == 3
    for point in metrics["continuum.runs.started"]:
        assert dict(point.attributes)["continuum.instance"] == app.name

    flaky, step = activity_name(flows.flaky), activity_name(flows.step)
    duration = "continuum.activity.duration"
    assert count(metrics, duration, activity=flaky, outcome="failed") == 1
    assert count(metrics, duration, activity=flaky, outcome="completed") == 1
    assert count(metrics, duration, activity=step, outcome="completed") == 3
    assert count(metrics, duration) == 6
    assert total(metrics, "continuum.activity.retries", activity=flaky) == 1
    [point] = points(metrics, duration, activity=flaky, outcome="failed")
    assert 0 <= point.sum < 5
    assert list(point.explicit_bounds)[:3] == [0.001, 0.0025, 0.005]  # seconds

    assert count(metrics, "continuum.run.claim.latency") >= 3
    assert total(metrics, "continuum.run.attempts", workflow=steps, outcome="completed") == 1
    assert total(metrics, "continuum.run.attempts", workflow=fails, outcome="failed") == 1
    assert total(metrics, "continuum.run.attempts", outcome="suspended") == 1
    assert total(metrics, "continuum.signals.sent") == 0


def test_the_due_backlog_gauge_asks_once_per_collection(
    make_app: MakeApp, otel: Otel, monkeypatch: pytest.MonkeyPatch
) -> None:
    client = make_app(name="client", dispatch=False, workflow_modules=flows.ALL)
    otel.instrument(client)
    asked: list[float] = []
    real = client.due_backlog

    def due_backlog() -> tuple[int, float | None]:
        asked.append(time.time())
        return real()

    monkeypatch.setattr(client, "due_backlog", due_backlog)
    before = time.time()
    for _ in range(3):
        client.start(flows.StepsAndRetry)  # nobody dispatches them: due and unclaimed
    time.sleep(0.05)

    metrics = otel.metrics()
    assert len(asked) == 1
    [due] = metrics["continuum.runs.due"]
    assert due.value == 3
    assert dict(due.attributes) == {"continuum.instance": "client"}
    [age] = metrics["continuum.runs.due.oldest_age"]
    assert 0.04 <= age.value <= time.time() - before + 1.0

    otel.metrics()
    assert len(asked) == 2

    node = make_app(name="worker", workflow_modules=flows.ALL)
    wait_until(lambda: real()[0] == 0, what="the worker to take the runs")
    metrics = otel.metrics()
    assert [p.value for p in metrics["continuum.runs.due"]] == [0]
    assert [p.value for p in metrics["continuum.runs.due.oldest_age"]] == [0.0]
    node.shutdown()


def test_signals_sent_are_counted_and_noted_on_the_current_span(
    make_otel_app: MakeApp, otel: Otel
) -> None:
    app = make_otel_app()
    run_id = app.start(flows.WaitsThenSleeps)
    wait_until(lambda: app.get(run_id).status == "suspended", what="the signal wait")
    with otel.tracer.start_as_current_span("webhook") as webhook:
        app.signal(run_id, "go", 1, delivery_id="d1")
        app.signal(run_id, "go", 1, delivery_id="d1")
    app.result(run_id, timeout=10)
    metrics = otel.metrics()
    assert total(metrics, "continuum.signals.sent", outcome="sent") == 1
    assert total(metrics, "continuum.signals.sent", outcome="duplicate") == 1
    [span] = otel.spans("webhook")
    assert span.context == webhook.get_span_context()
    sent = [dict(e.attributes or {}) for e in span.events if e.name == "continuum.signal.sent"]
    assert [(e["continuum.run_id"], e["continuum.outcome"]) for e in sent] == [
        (run_id, "sent"),
        (run_id, "duplicate"),
    ]


# -- lifecycle and failures --------------------------------------------------------------------


def test_uninstrument_detaches_and_instrumenting_twice_is_an_error(
    make_app: MakeApp, otel: Otel
) -> None:
    app = make_app(workflow_modules=flows.ALL)
    instrumentation = otel.instrument(app)
    assert instrumentation.active
    assert instrumentation.handler_id in telemetry.list_handlers()
    assert app.trace_context_capture is not None
    with pytest.raises(continuum.ConfigurationError, match="already instrumented"):
        continuum.otel.instrument(app, tracer_provider=otel.tracer_provider)

    first = app.start(flows.StepsAndRetry)
    app.result(first, timeout=10)
    otel.wait_for_spans("continuum.run", 1, first)

    instrumentation.uninstrument()
    instrumentation.uninstrument()  # again: nothing
    assert not instrumentation.active
    assert instrumentation.handler_id not in telemetry.list_handlers()
    assert app.trace_context_capture is None
    ours_before = [s for s in otel.spans() if s.name.startswith("continuum.")]
    with otel.tracer.start_as_current_span("caller") as caller:
        second = app.start(flows.StepsAndRetry)
    app.result(second, timeout=10)
    time.sleep(0.1)
    assert [s for s in otel.spans() if s.name.startswith("continuum.")] == ours_before
    assert [e.name for e in otel.spans("caller")[0].events] == []
    # Nothing joins the caller's trace now: no attempt span, no activity span.
    trace_id = caller.get_span_context().trace_id
    assert [s.name for s in otel.spans() if s.context.trace_id == trace_id] == ["caller"]
    record = app.store.get_run(second)
    assert record is not None and record.trace_context is None
    metrics = otel.metrics()
    assert total(metrics, "continuum.runs.started") == 1
    assert "continuum.runs.due" not in metrics or not metrics["continuum.runs.due"]

    again = otel.instrument(app)  # after uninstrument, allowed
    third = app.start(flows.StepsAndRetry)
    app.result(third, timeout=10)
    otel.wait_for_spans("continuum.run", 1, third)
    assert again.handler_id in telemetry.list_handlers()


def test_only_the_instrumented_instance_makes_spans(make_app: MakeApp, otel: Otel) -> None:
    traced_app = make_app(name="traced", workflow_modules=flows.ALL)
    other = make_app(name="other", workflow_modules=flows.ALL)
    otel.instrument(traced_app)
    mine = traced_app.start(flows.StepsAndRetry)
    theirs = other.start(flows.StepsAndRetry)
    traced_app.result(mine, timeout=10)
    other.result(theirs, timeout=10)
    otel.wait_for_spans("continuum.run", 1, mine)
    time.sleep(0.1)
    assert otel.spans(run_id=theirs) == []


def test_instrument_refuses_what_is_not_an_instance(otel: Otel) -> None:
    with pytest.raises(continuum.ConfigurationError, match=r"takes a continuum\.Continuum"):
        continuum.otel.instrument("app")  # type: ignore[arg-type]


class _BrokenTracer(trace.Tracer):
    def start_span(self, *args: Any, **kwargs: Any) -> trace.Span:
        raise RuntimeError("the tracer is broken")

    def start_as_current_span(self, *args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("the tracer is broken")


class _BrokenProvider(trace.TracerProvider):
    def get_tracer(self, *args: Any, **kwargs: Any) -> trace.Tracer:
        return _BrokenTracer()


def test_a_failing_tracer_never_breaks_a_run(
    make_app: MakeApp, otel: Otel, caplog: pytest.LogCaptureFixture
) -> None:
    app = make_app(workflow_modules=flows.ALL)
    instrumentation = continuum.otel.instrument(
        app, tracer_provider=_BrokenProvider(), meter_provider=otel.meter_provider
    )
    otel.made.append(instrumentation)
    with caplog.at_level(logging.ERROR, logger="continuum.otel"):
        with otel.tracer.start_as_current_span("caller"):
            first = app.start(flows.StepsAndRetry)
        assert app.result(first, timeout=10) == ["did a", "did b", "c ok"]
        second = app.start(flows.StepsAndRetry)
        assert app.result(second, timeout=10) == ["did a", "did b", "c ok"]
    # Still attached (a raising handler would have been detached), metrics still flow.
    assert instrumentation.handler_id in telemetry.list_handlers()
    wait_until(
        lambda: total(otel.metrics(), "continuum.runs.finished", outcome="completed") == 2,
        what="both runs counted",
    )
    assert "handling ('continuum', 'run', 'start') failed" in caplog.text
    assert caplog.text.count("handling ('continuum', 'run', 'start') failed") == 1  # then quiet


def test_a_failing_capture_hook_leaves_start_working(
    make_app: MakeApp, otel: Otel, caplog: pytest.LogCaptureFixture
) -> None:
    app = make_app(workflow_modules=flows.ALL)
    instrumentation = continuum.otel.instrument(
        app, tracer_provider=_BrokenProvider(), meter_provider=otel.meter_provider
    )
    otel.made.append(instrumentation)
    with caplog.at_level(logging.ERROR, logger="continuum.otel"):
        run_id = app.start(flows.StepsAndRetry)  # no span around: the hook makes one, and fails
    assert app.result(run_id, timeout=10) == ["did a", "did b", "c ok"]
    assert "could not capture the trace context" in caplog.text
    record = app.store.get_run(run_id)
    assert record is not None and record.trace_context is None


# -- without the extra -------------------------------------------------------------------------


def test_instrument_without_opentelemetry_says_how_to_install_it(
    make_app: MakeApp, monkeypatch: pytest.MonkeyPatch
) -> None:
    app = make_app(workflow_modules=flows.ALL)
    monkeypatch.setitem(sys.modules, "opentelemetry", None)  # `import opentelemetry` fails
    for module in ("bridge", "carrier", "metrics", "spans"):
        monkeypatch.delitem(sys.modules, f"continuum.otel.{module}", raising=False)
    with pytest.raises(continuum.otel.OpenTelemetryNotInstalled) as raised:
        continuum.otel.instrument(app)
    assert isinstance(raised.value, continuum.ConfigurationError)
    assert isinstance(raised.value, continuum.ContinuumError)
    assert "pip install 'continuum-python[otel]'" in str(raised.value)
    assert app.trace_context_capture is None
    assert not any(h.startswith("continuum.otel/") for h in telemetry.list_handlers())


def test_continuum_imports_without_opentelemetry() -> None:
    """Neither `import continuum` nor `import continuum.otel` imports OpenTelemetry."""
    code = (
        "import sys\n"
        "sys.modules['opentelemetry'] = None\n"
        "import continuum, continuum.otel\n"
        "app = continuum.Continuum(database='sqlite:///:memory:')\n"
        "try:\n"
        "    continuum.otel.instrument(app)\n"
        "except continuum.otel.OpenTelemetryNotInstalled as exc:\n"
        "    print('refused:', exc)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=False, timeout=60
    )
    assert done.returncode == 0, done.stderr
    assert "refused:" in done.stdout and "continuum-python[otel]" in done.stdout
    code = (
        "import sys, continuum, continuum.otel\n"
        "print(sorted(m for m in sys.modules if m.startswith('opentelemetry')))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=False, timeout=60
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"
