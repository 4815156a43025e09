"""Bad arguments and values are refused up front on every backend, and write nothing."""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from typing import Any

import pytest

import continuum
from continuum.errors import ConfigurationError, RunNotFound
from continuum.validation import MAX_SECONDS
from tests.conftest import wait_until
from tests.engine import flows

MakeApp = Callable[..., continuum.Continuum]


def nested(depth: int) -> Any:
    value: Any = 1
    for _ in range(depth):
        value = [value]
    return value


def journal(app: continuum.Continuum, run_id: str) -> list[tuple[int, str, str]]:
    return [(e.seq, e.kind, e.name) for e in app.store.load_history(run_id).entries]


@continuum.activity
def deep_result() -> Any:
    return nested(10_000)


@continuum.activity
def surrogate_result() -> str:
    return "bad \ud800 text"


class BadActivityResults(continuum.Workflow):
    def run(self, input):
        failures = []
        for produce in (deep_result, surrogate_result):
            try:
                produce()
            except continuum.ActivityFailed as exc:
                failures.append([exc.error_type, exc.error_message])
        return failures


class DeepOutput(continuum.Workflow):
    def run(self, input):
        value = 1
        for _ in range(10_000):
            value = [value]
        return value


class CallsWithBadArgument(continuum.Workflow):
    def run(self, input):
        flows.step("before")
        if input == "sleep inf":
            continuum.sleep(math.inf)
        elif input == "sleep nan":
            continuum.sleep(math.nan)
        elif input == "sleep -1":
            continuum.sleep(-1)
        elif input == "wait timeout nan":
            continuum.wait_for_signal("go", timeout=math.nan)
        elif input == "wait timeout inf":
            continuum.wait_for_signal("go", timeout=math.inf)
        elif input == "wait name with NUL":
            continuum.wait_for_signal("go\x00")
        return flows.step("after")


class SleepsForeverAsync(continuum.Workflow):
    async def run(self, input):
        flows.step("before")
        await continuum.sleep_async(math.inf)
        return flows.step("after")


class RecoversFromBadArgument(continuum.Workflow):
    def run(self, input):
        try:
            continuum.sleep(math.inf)
        except ValueError as exc:  # a ConfigurationError is also a ValueError
            refused = f"{type(exc).__name__}: {exc}"
        approval = continuum.wait_for_signal("go")
        return [refused, approval, flows.step("after")]


class SleepsACentury(continuum.Workflow):
    def run(self, input):
        continuum.sleep(MAX_SECONDS)


# -- starting, looking up, signalling -------------------------------------------------------


@pytest.mark.parametrize("run_id", ["a\x00b", "\x00", "\ud800", "order-\udc80", "x" * 256, ""])
def test_a_bad_run_id_is_refused_and_writes_nothing(app: continuum.Continuum, run_id: str) -> None:
    with pytest.raises(ConfigurationError, match=r"^start\(run_id=\) must be a non-empty str"):
        app.start(flows.ThreeSteps, run_id=run_id)
    assert app.runs() == []
    done = app.start(flows.ThreeSteps, run_id="after-the-refusal")
    assert app.result(done, timeout=10) == ["did a", "did b", "did c"]


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ({"text": "\ud800"}, "lone surrogate '\\\\ud800'"),
        ({"\udfff": 1}, "lone surrogate"),
        (nested(10_000), "nested too deeply"),
    ],
    ids=["surrogate", "surrogate-key", "deep"],
)
def test_a_bad_input_is_refused_and_writes_nothing(
    app: continuum.Continuum, value: Any, message: str
) -> None:
    with pytest.raises(continuum.SerializationError, match=rf"^the workflow input .*{message}"):
        app.start(flows.ThreeSteps, value, run_id="refused")
    assert app.runs() == []
    with pytest.raises(RunNotFound):
        app.get("refused")
    done = app.start(flows.ThreeSteps, {"text": "é 😀"})
    assert app.result(done, timeout=10) == ["did a", "did b", "did c"]
    assert app.get(done).input == {"text": "é 😀"}


@pytest.mark.parametrize("run_id", ["ab\x00", "a\x00b", "\ud800", "ab\udc80", "x" * 300, 42, None])
def test_run_ids_that_cannot_exist_are_not_found_on_every_backend(
    app: continuum.Continuum, run_id: Any
) -> None:
    real = app.start(flows.WaitsForApproval, run_id="ab")
    wait_until(lambda: app.get(real).status == "suspended", what="the run to wait")
    for call in (
        lambda: app.get(run_id),
        lambda: app.result(run_id, timeout=0),
        lambda: app.signal(run_id, "approval", {"by": "ana"}),
        lambda: app.cancel(run_id),
        lambda: continuum.get(run_id),
    ):
        with pytest.raises(RunNotFound, match="no run with id"):
            call()
    # The run whose id is a prefix of some of those was not touched.
    assert app.store.load_history(real).pending_signals == []
    assert app.get(real).status == "suspended"


@pytest.mark.parametrize(
    ("name", "payload", "error", "message"),
    [
        ("approval\x00", None, ConfigurationError, r"^signal\(name=\) must be"),
        ("\ud800", None, ConfigurationError, r"^signal\(name=\) must be"),
        ("a" * 256, None, ConfigurationError, r"^signal\(name=\) must be"),
        ("", None, ConfigurationError, r"^signal\(name=\) must be"),
        (7, None, ConfigurationError, r"^signal\(name=\) must be"),
        ("approval", {"by": "\ud800"}, continuum.SerializationError, "lone surrogate"),
        ("approval", nested(10_000), continuum.SerializationError, "nested too deeply"),
    ],
    ids=["nul", "surrogate", "too-long", "empty", "not-str", "payload-surrogate", "payload-deep"],
)
def test_a_bad_signal_is_refused_and_writes_nothing(
    app: continuum.Continuum, name: Any, payload: Any, error: type[Exception], message: str
) -> None:
    run_id = app.start(flows.WaitsForApproval)
    wait_until(lambda: app.get(run_id).status == "suspended", what="the run to wait")
    before = journal(app, run_id)
    with pytest.raises(error, match=message):
        app.signal(run_id, name, payload)
    history = app.store.load_history(run_id)
    assert list(history.pending_signals) == [] and journal(app, run_id) == before
    assert app.get(run_id).status == "suspended"
    app.signal(run_id, "approval", {"by": "ana"})
    assert app.result(run_id, timeout=10)["approval"] == {"by": "ana"}


# -- result(timeout=) ---------------------------------------------------------------------------


@pytest.mark.parametrize("timeout", [math.nan, math.inf, -1, -math.inf, "1", True], ids=repr)
def test_result_refuses_a_bad_timeout_at_once(app: continuum.Continuum, timeout: Any) -> None:
    run_id = app.start(flows.WaitsForApproval)
    started = time.monotonic()
    with pytest.raises(ConfigurationError, match=r"^result\(timeout=\) must be a finite number"):
        app.result(run_id, timeout=timeout)
    with pytest.raises(ConfigurationError, match=r"^result\(timeout=\)"):
        continuum.result(run_id, timeout=timeout)
    assert time.monotonic() - started < 1
    app.signal(run_id, "approval", {"by": "ana"})
    assert app.result(run_id, timeout=None)["approval"] == {"by": "ana"}


def test_result_with_timeout_zero_looks_once(app: continuum.Continuum) -> None:
    waiting = app.start(flows.WaitsForApproval)
    wait_until(lambda: app.get(waiting).status == "suspended", what="the run to wait")
    started = time.monotonic()
    with pytest.raises(TimeoutError, match="within 0"):
        app.result(waiting, timeout=0)
    assert time.monotonic() - started < 1
    done = app.start(flows.ThreeSteps)
    wait_until(lambda: app.get(done).status == "completed", what="the run to finish")
    assert app.result(done, timeout=0) == ["did a", "did b", "did c"]


# -- inside workflow code -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("call", "named"),
    [
        ("sleep inf", r"continuum\.sleep\(seconds=\) must be a finite number .*got inf"),
        ("sleep nan", r"continuum\.sleep\(seconds=\) must be a finite number .*got nan"),
        ("sleep -1", r"continuum\.sleep\(seconds=\) must be a finite number .*got -1"),
        ("wait timeout nan", r"continuum\.wait_for_signal\(timeout=\) .*got nan"),
        ("wait timeout inf", r"continuum\.wait_for_signal\(timeout=\) .*got inf"),
        ("wait name with NUL", r"continuum\.wait_for_signal\(name=\) must be a non-empty str"),
    ],
)
def test_a_bad_argument_in_workflow_code_fails_the_run_and_journals_nothing_for_it(
    app: continuum.Continuum, call: str, named: str
) -> None:
    run_id = app.start(CallsWithBadArgument, call)
    with pytest.raises(continuum.RunFailed, match=rf"ConfigurationError: {named}"):
        app.result(run_id, timeout=10)
    info = app.get(run_id)
    assert info.status == "failed" and info.error["type"] == "ConfigurationError"
    assert journal(app, run_id) == [(0, "activity", "tests.engine.flows.step")]
    assert flows.CALLS == {"before": 1}
    assert list(app.store.load_history(run_id).pending_signals) == []


def test_a_bad_argument_in_async_workflow_code_fails_the_run(app: continuum.Continuum) -> None:
    run_id = app.start(SleepsForeverAsync)
    with pytest.raises(continuum.RunFailed, match=r"continuum\.sleep\(seconds=\) .*got inf"):
        app.result(run_id, timeout=10)
    assert journal(app, run_id) == [(0, "activity", "tests.engine.flows.step")]


def test_a_refused_call_takes_no_journal_position(app: continuum.Continuum) -> None:
    run_id = app.start(RecoversFromBadArgument)
    wait_until(lambda: app.get(run_id).status == "suspended", what="the run to wait")
    assert journal(app, run_id) == [(0, "signal_wait", "go")]
    app.signal(run_id, "go", "now")  # the run replays, meets the refusal again, and goes on
    refused, approval, after = app.result(run_id, timeout=10)
    assert refused.startswith("ConfigurationError: continuum.sleep(seconds=) must be")
    assert (approval, after) == ("now", "did after")
    assert journal(app, run_id) == [(0, "signal", "go"), (1, "activity", "tests.engine.flows.step")]


def test_a_value_nested_too_deeply_or_with_a_surrogate_fails_cleanly(
    app: continuum.Continuum,
) -> None:
    run_id = app.start(BadActivityResults)
    failures = app.result(run_id, timeout=10)
    assert [error_type for error_type, _ in failures] == ["SerializationError"] * 2
    assert "nested too deeply" in failures[0][1] and "lone surrogate" in failures[1][1]
    deep = app.start(DeepOutput)
    with pytest.raises(continuum.RunFailed, match=r"SerializationError: the output .*too deeply"):
        app.result(deep, timeout=10)


# -- the largest values allowed work on every backend --------------------------------------------


def test_the_longest_lease_and_sleep_allowed_work(make_app: MakeApp) -> None:
    app = make_app(name="default", lease_seconds=MAX_SECONDS)
    assert app.result(app.start(flows.ThreeSteps), timeout=10) == ["did a", "did b", "did c"]
    sleeper = app.start(SleepsACentury)
    wait_until(lambda: app.get(sleeper).status == "suspended", what="the run to sleep")
    assert app.cancel(sleeper) and app.get(sleeper).status == "cancelled"


def test_shutdown_refuses_a_bad_timeout_and_keeps_running(app: continuum.Continuum) -> None:
    with pytest.raises(ConfigurationError, match=r"^shutdown\(timeout=\) must be"):
        app.shutdown(timeout=math.nan)
    assert app.booted
    assert app.result(app.start(flows.ThreeSteps), timeout=10) == ["did a", "did b", "did c"]


@pytest.mark.parametrize("workflow", ["a\x00", "\ud800", "", 5], ids=repr)
def test_runs_refuses_a_workflow_filter_that_cannot_name_one(
    app: continuum.Continuum, workflow: Any
) -> None:
    app.result(app.start(flows.ThreeSteps), timeout=10)
    with pytest.raises(ConfigurationError, match=r"^runs\(workflow=\) must be a non-empty str"):
        app.runs(workflow=workflow)
    assert [r.workflow for r in app.runs(workflow=flows.ThreeSteps.workflow)] == [
        flows.ThreeSteps.workflow
    ]
