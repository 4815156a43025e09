"""Telemetry handlers, JSON values and retry policy."""

from __future__ import annotations

import json
import logging
import math

import pytest

import continuum
from continuum import serialization, telemetry
from continuum.errors import ConfigurationError, SerializationError


def test_attach_emit_detach() -> None:
    seen = []
    telemetry.attach("t1", ("a", "b"), lambda e, m, md: seen.append((e, m, md)))
    telemetry.execute(("a", "b"), {"n": 1}, {"k": "v"})
    telemetry.execute(("a", "c"), {}, {})
    assert seen == [(("a", "b"), {"n": 1}, {"k": "v"})]
    assert telemetry.detach("t1") is True
    assert telemetry.detach("t1") is False
    telemetry.execute(("a", "b"), {}, {})
    assert len(seen) == 1


def test_attach_many_and_duplicate_ids() -> None:
    seen = []
    telemetry.attach_many("t2", [("x",), ("y",)], lambda e, m, md: seen.append(e))
    with pytest.raises(ValueError, match="already attached"):
        telemetry.attach("t2", ("z",), lambda e, m, md: None)
    telemetry.execute(("x",), {}, {})
    telemetry.execute(("y",), {}, {})
    telemetry.detach("t2")
    assert seen == [("x",), ("y",)]


def test_raising_handler_is_detached_and_logged(caplog: pytest.LogCaptureFixture) -> None:
    def bad(event, measurements, metadata):
        raise RuntimeError("boom")

    good = []
    telemetry.attach("bad", ("e",), bad)
    telemetry.attach("good", ("e",), lambda e, m, md: good.append(1))
    with caplog.at_level(logging.ERROR, logger="continuum.telemetry"):
        telemetry.execute(("e",), {}, {})
        telemetry.execute(("e",), {}, {})
    assert "bad" not in telemetry.list_handlers()
    assert good == [1, 1]
    assert "detached" in caplog.text
    telemetry.detach("good")


@pytest.mark.parametrize("value", [{1, 2}, object(), math.nan, {"k": b"bytes"}, float("inf")])
def test_non_json_values_are_refused(value: object) -> None:
    with pytest.raises(SerializationError, match="not JSON serializable"):
        serialization.dumps(value, what="the input")


def test_values_are_normalised_as_replay_will_see_them() -> None:
    value, text = serialization.normalise({"t": (1, 2), 3: "x"}, what="v")
    assert value == {"t": [1, 2], "3": "x"}
    assert serialization.loads(text) == value


def test_retry_backoff_grows_and_is_capped() -> None:
    retry = continuum.Retry(
        max_attempts=10, initial_interval=1, backoff_coefficient=2, max_interval=5, jitter=0
    )
    assert [retry.pause_before(n) for n in range(2, 7)] == [1, 2, 4, 5, 5]


def test_retry_jitter_stays_within_bounds() -> None:
    retry = continuum.Retry(initial_interval=10, jitter=0.2)
    pauses = [retry.pause_before(2) for _ in range(200)]
    assert all(8 <= p <= 12 for p in pauses)
    assert len(set(pauses)) > 1


def test_retry_gives_up() -> None:
    retry = continuum.Retry(max_attempts=3, non_retryable=(KeyError, "PermissionError"))
    assert not retry.gives_up(1, ValueError())
    assert retry.gives_up(3, ValueError())
    assert retry.gives_up(1, KeyError())
    assert retry.gives_up(1, PermissionError())


@pytest.mark.parametrize(
    "kwargs",
    [{"max_attempts": 0}, {"initial_interval": -1}, {"backoff_coefficient": 0.5}, {"jitter": 2}],
)
def test_bad_retry_settings(kwargs: dict[str, float]) -> None:
    with pytest.raises(ConfigurationError):
        continuum.Retry(**kwargs)  # type: ignore[arg-type]


def test_bad_activity_settings() -> None:
    with pytest.raises(ConfigurationError):
        continuum.activity(timeout=-1)
    with pytest.raises(ConfigurationError):
        continuum.activity(retry=3)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "call",
    [
        lambda: continuum.sleep(1),
        lambda: continuum.wait_for_signal("x"),
        continuum.now,
        continuum.uuid4,
        continuum.random,
        lambda: continuum.side_effect(lambda: 1),
    ],
)
def test_primitives_outside_a_workflow(call) -> None:
    with pytest.raises(continuum.NotInWorkflow, match="outside a running workflow"):
        call()


def test_patched_outside_a_workflow_is_false() -> None:
    assert continuum.patched("anything") is False


def test_activity_outside_a_workflow_is_a_plain_call() -> None:
    @continuum.activity
    def add(a, b):
        return a + b

    assert add(1, 2) == 3


@pytest.mark.parametrize(
    ("text", "value"),
    [("1", 1), (' {"a": [1, 2]} ', {"a": [1, 2]}), ('"x"', "x"), ("null", None), (None, None)],
)
def test_loads_reads_any_json_value(text: str | None, value: object) -> None:
    assert serialization.loads(text) == value


@pytest.mark.parametrize("text", ["", "{", "1 2", "nope"])
def test_loads_refuses_what_is_not_one_json_value(text: str) -> None:
    with pytest.raises(json.JSONDecodeError):
        serialization.loads(text)
