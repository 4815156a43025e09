"""Values that enter the public API are checked up front, with messages that name them."""

from __future__ import annotations

import math
from fractions import Fraction
from pathlib import Path
from typing import Any

import pytest

import continuum
from continuum import serialization, validation
from continuum.cli import main as cli_main
from continuum.errors import ConfigurationError, SerializationError, WorkflowDefinitionError
from continuum.validation import MAX_SECONDS

NOT_DURATIONS = [
    math.nan,
    math.inf,
    -math.inf,
    -1,
    -0.001,
    MAX_SECONDS * 1.001,
    10**400,
    True,
    False,
    "1",
    b"1",
    [1],
    1j,
    object(),
]


def nested(depth: int, leaf: Any = 1, *, as_dict: bool = False) -> Any:
    value = leaf
    for _ in range(depth):
        value = {"k": value} if as_dict else [value]
    return value


# -- durations ---------------------------------------------------------------------------


@pytest.mark.parametrize("value", [*NOT_DURATIONS, 0, None], ids=repr)
def test_duration_refuses(value: object) -> None:
    with pytest.raises(ConfigurationError) as caught:
        validation.duration(value, name="Continuum(lease_seconds=)")
    message = str(caught.value)
    assert message.startswith(
        "Continuum(lease_seconds=) must be a finite number of seconds > 0 and at most "
    )
    assert message.endswith(f"got {validation.shown(value)}")


def test_duration_message_for_nan_is_the_documented_one() -> None:
    with pytest.raises(ConfigurationError, match=r"^Continuum\(lease_seconds=\) .* got nan$"):
        validation.duration(math.nan, name="Continuum(lease_seconds=)")


@pytest.mark.parametrize("value", NOT_DURATIONS, ids=repr)
def test_duration_refuses_with_zero_and_none_allowed(value: object) -> None:
    with pytest.raises(ConfigurationError, match=r"seconds >= 0 .*\(or None for no limit\)"):
        validation.duration(value, name="result(timeout=)", allow_zero=True, allow_none=True)


@pytest.mark.parametrize(
    ("value", "expected"),
    [(0.001, 0.001), (1, 1.0), (2.5, 2.5), (Fraction(1, 4), 0.25), (MAX_SECONDS, MAX_SECONDS)],
)
def test_duration_accepts_and_returns_a_float(value: object, expected: float) -> None:
    seconds = validation.duration(value, name="x")
    assert seconds == expected and type(seconds) is float


def test_duration_zero_and_none_only_when_allowed() -> None:
    assert validation.duration(0, name="x", allow_zero=True) == 0.0
    assert validation.duration(None, name="x", allow_none=True) is None
    with pytest.raises(ConfigurationError):
        validation.duration(None, name="x", allow_zero=True)


def test_configuration_error_is_a_continuum_error_and_a_value_error() -> None:
    with pytest.raises(continuum.ContinuumError):
        validation.duration(math.nan, name="x")
    with pytest.raises(ValueError):
        validation.duration(math.nan, name="x")


# -- other numbers ----------------------------------------------------------------------------


@pytest.mark.parametrize("value", [0, -1, True, 1.0, "3", None, math.nan], ids=repr)
def test_count_refuses(value: object) -> None:
    with pytest.raises(ConfigurationError, match=r"^runs\(limit=\) must be an int >= 1, got "):
        validation.count(value, name="runs(limit=)")


def test_count_accepts() -> None:
    assert validation.count(1, name="x") == 1
    assert validation.count(0, name="x", minimum=0) == 0


@pytest.mark.parametrize("value", [math.nan, math.inf, -0.1, 1.1, True, "0.5", None], ids=repr)
def test_number_refuses(value: object) -> None:
    with pytest.raises(ConfigurationError, match=r"must be a finite number between 0 and 1"):
        validation.number(value, name="Retry(jitter=)", minimum=0, maximum=1)


# -- identifiers ------------------------------------------------------------------------------

NOT_IDENTIFIERS = [
    "",
    "a\x00b",
    "\x00",
    "\ud800",
    "ok\udfffok",
    "é\ud83d",
    "x" * 256,
    "é" * 256,
    None,
    5,
    b"run",
    ["run"],
]


@pytest.mark.parametrize("value", NOT_IDENTIFIERS, ids=repr)
def test_identifier_refuses(value: object) -> None:
    assert not validation.is_identifier(value)
    with pytest.raises(ConfigurationError) as caught:
        validation.identifier(value, name="start(run_id=)")
    message = str(caught.value)
    assert message.startswith("start(run_id=) must be a non-empty str of at most 255 characters")
    assert "NUL" in message and "lone surrogate" in message


@pytest.mark.parametrize("value", ["a", "x" * 255, "é" * 255, "order-😀", "ünïcode id"])
def test_identifier_accepts(value: str) -> None:
    assert validation.is_identifier(value)
    assert validation.identifier(value, name="x") is value


def test_long_values_are_cut_short_in_messages() -> None:
    with pytest.raises(ConfigurationError) as caught:
        validation.identifier("y" * 10_000, name="start(run_id=)")
    assert len(str(caught.value)) < 300


# -- values to be stored ----------------------------------------------------------------------


@pytest.mark.parametrize("as_dict", [False, True])
def test_a_too_deeply_nested_value_is_a_serialization_error(as_dict: bool) -> None:
    with pytest.raises(SerializationError, match=r"^the workflow input is nested too deeply"):
        serialization.dumps(nested(10_000, as_dict=as_dict), what="the workflow input")


@pytest.mark.parametrize(
    "value",
    ["\ud800", ["ok", "a\udfffb"], {"\ud83d": 1}, {"k": {"deeper": "é\udc80"}}],
    ids=repr,
)
def test_a_lone_surrogate_is_a_serialization_error(value: Any) -> None:
    with pytest.raises(SerializationError, match=r"^the payload of signal 'go' .*lone surrogate"):
        serialization.dumps(value, what="the payload of signal 'go'")


@pytest.mark.parametrize(
    "value", [{"a": 1}, "plain", "é Zürich", "😀", {"ключ": ["值", "\u00a0"]}, nested(100)]
)
def test_valid_text_and_modest_nesting_round_trip(value: Any) -> None:
    assert serialization.loads(serialization.dumps(value, what="x")) == value


# -- where the checks are used ----------------------------------------------------------------


@pytest.mark.parametrize("setting", ["poll_interval", "lease_seconds", "unknown_version_backoff"])
@pytest.mark.parametrize("value", [math.nan, math.inf, 0, -1, True, "1"], ids=repr)
def test_instance_durations_are_refused_before_anything_is_opened(
    setting: str, value: object, tmp_path: Path
) -> None:
    database = tmp_path / "never.db"
    with pytest.raises(ConfigurationError, match=rf"^Continuum\({setting}=\) must be a finite"):
        continuum.Continuum(database=f"sqlite:///{database}", **{setting: value})
    assert not database.exists()


@pytest.mark.parametrize(
    ("options", "named"),
    [
        ({"name": ""}, "name"),
        ({"name": "a\x00b"}, "name"),
        ({"node": "\ud800"}, "node"),
        ({"node": ""}, "node"),
        ({"concurrency": 0}, "concurrency"),
        ({"concurrency": True}, "concurrency"),
        ({"concurrency": 2.0}, "concurrency"),
    ],
)
def test_other_instance_settings_are_refused(options: dict[str, Any], named: str) -> None:
    with pytest.raises(ConfigurationError, match=rf"^Continuum\({named}=\) must be"):
        continuum.Continuum(**options)


@pytest.mark.parametrize(
    ("field", "value", "rule"),
    [
        ("initial_interval", math.nan, "seconds >= 0"),
        ("initial_interval", -1, "seconds >= 0"),
        ("max_interval", math.inf, "seconds >= 0"),
        ("max_interval", math.nan, "seconds >= 0"),
        ("backoff_coefficient", math.nan, "number >= 1"),
        ("backoff_coefficient", math.inf, "number >= 1"),
        ("backoff_coefficient", 0.5, "number >= 1"),
        ("jitter", math.nan, "between 0 and 1"),
        ("jitter", 2, "between 0 and 1"),
        ("jitter", -0.5, "between 0 and 1"),
        ("max_attempts", 0, "int >= 1"),
        ("max_attempts", True, "int >= 1"),
        ("max_attempts", 2.5, "int >= 1"),
    ],
)
def test_retry_fields_are_refused(field: str, value: object, rule: str) -> None:
    with pytest.raises(ConfigurationError, match=rf"^Retry\({field}=\) must be .*{rule}"):
        continuum.Retry(**{field: value})  # type: ignore[arg-type]


def test_retry_edges_are_accepted() -> None:
    retry = continuum.Retry(initial_interval=0, max_interval=0, backoff_coefficient=1, jitter=1)
    assert retry.pause_before(5) == 0.0
    continuum.Retry(jitter=0, max_interval=MAX_SECONDS)


def test_retry_pause_does_not_overflow_at_high_attempt_numbers() -> None:
    retry = continuum.Retry(max_attempts=5000, initial_interval=1, max_interval=60, jitter=0)
    assert retry.pause_before(4000) == 60.0
    assert continuum.Retry(max_attempts=5000, initial_interval=0, jitter=0).pause_before(4000) == 0


@pytest.mark.parametrize("value", [math.nan, math.inf, 0, -1, True, "30"], ids=repr)
def test_activity_timeout_is_refused(value: object) -> None:
    with pytest.raises(ConfigurationError, match=r"^activity\(timeout=\) must be a finite"):
        continuum.activity(timeout=value)  # type: ignore[arg-type]


def test_activity_name_is_refused() -> None:
    with pytest.raises(ConfigurationError, match=r"^activity\(name=\) must be"):
        continuum.activity(name="charge\x00card")


def test_primitives_outside_a_workflow_still_say_so_first() -> None:
    with pytest.raises(continuum.NotInWorkflow):
        continuum.sleep(math.inf)
    with pytest.raises(continuum.NotInWorkflow):
        continuum.wait_for_signal("go", timeout=math.nan)


# -- PostgreSQL URL settings (refused before any connection is tried) -------------------------

UNREACHABLE = "postgresql://app@127.0.0.1:1/orders"


@pytest.mark.parametrize("given", ["abc", "-1", "0", "1.5", "10s", "99999999999"])
def test_bad_connect_timeout_in_a_postgres_url(given: str) -> None:
    pytest.importorskip("psycopg")
    with pytest.raises(ConfigurationError, match=r"connect_timeout .* whole number of seconds"):
        continuum.Continuum(database=f"{UNREACHABLE}?connect_timeout={given}").boot()


@pytest.mark.parametrize("value", [math.nan, math.inf, 0, -1], ids=repr)
def test_bad_connect_timeout_keyword(value: float) -> None:
    pytest.importorskip("psycopg")
    from continuum.store.postgres import PostgresStore

    with pytest.raises(ConfigurationError, match=r"^PostgresStore\(connect_timeout=\)"):
        PostgresStore(UNREACHABLE, connect_timeout=value)


def test_cli_reports_a_bad_connect_timeout_in_one_line(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    pytest.importorskip("psycopg")
    url = f"{UNREACHABLE}?connect_timeout=abc"
    monkeypatch.setattr("sys.argv", ["continuum", "migrate", "--database", url])
    with pytest.raises(SystemExit) as exited:
        cli_main()
    assert exited.value.code not in (0, None)
    out, err = capsys.readouterr()
    assert out == ""
    assert err.count("\n") == 1 and err.startswith("error: connect_timeout")
    assert "Traceback" not in err


@pytest.mark.parametrize("identity", ["a\x00b", "\ud800", ""], ids=repr)
def test_a_workflow_identity_that_cannot_be_stored_is_refused(identity: str) -> None:
    with pytest.raises(WorkflowDefinitionError, match=r"workflow= must be a non-empty str, with"):

        class Named(continuum.Workflow, workflow=identity):
            def run(self, input):
                return None


def test_identifier_without_a_length_limit() -> None:
    assert validation.identifier("w" * 1000, name="x", max_length=None) == "w" * 1000
    with pytest.raises(ConfigurationError, match=r"^x must be a non-empty str, with no NUL"):
        validation.identifier("w\x00", name="x", max_length=None)
