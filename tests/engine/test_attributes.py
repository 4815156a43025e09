"""Searchable runs and delayed starts (SPEC 9): attributes, set_attributes, query
filters, start_at and start_in."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

import continuum
from tests.conftest import wait_until
from tests.engine import composition_flows as flows


def test_attributes_given_at_start_find_the_run(app: continuum.Continuum) -> None:
    first = app.start(flows.WaitsForever, "a", attributes={"customer": "c-42", "tier": 1})
    app.start(flows.WaitsForever, "b", attributes={"customer": "c-7", "tier": 1})
    third = app.start(flows.WaitsForever, "c", attributes={"customer": "c-42", "vip": True})
    app.start(flows.WaitsForever, "d")
    assert app.get(first).attributes == {"customer": "c-42", "tier": 1}
    found = app.query(attributes={"customer": "c-42"})
    assert [r.run_id for r in found.runs] == [third, first]
    assert [r.run_id for r in app.query(attributes={"customer": "c-42", "tier": 1}).runs] == [first]
    assert [r.run_id for r in app.query(attributes={"vip": True}).runs] == [third]
    # the type is part of the value: "1" is not 1, and 1 is not True
    assert app.query(attributes={"tier": "1"}).runs == []
    assert app.query(attributes={"vip": 1}).runs == []
    assert app.query(attributes={"nobody": "x"}).runs == []


def test_set_attributes_merges_and_removes(app: continuum.Continuum) -> None:
    run_id = app.start(flows.WaitsForever, "a", attributes={"customer": "c-1", "step": "new"})
    assert app.set_attributes(run_id, {"step": "review", "owner": "ana"}) == {
        "customer": "c-1",
        "step": "review",
        "owner": "ana",
    }
    assert app.set_attributes(run_id, {"owner": None}) == {"customer": "c-1", "step": "review"}
    assert app.get(run_id).attributes == {"customer": "c-1", "step": "review"}
    assert [r.run_id for r in app.query(attributes={"step": "review"}).runs] == [run_id]
    # a run without attributes gets its first ones
    other = app.start(flows.WaitsForever, "b")
    assert app.set_attributes(other, {"step": "review"}) == {"step": "review"}
    # setting attributes never wakes or changes the run
    assert app.get(run_id).status == app.get(run_id).status


def test_attribute_filters_combine_with_the_others_and_page_by_cursor(
    app: continuum.Continuum,
) -> None:
    started = [
        app.start(flows.WaitsForever, i, attributes={"region": "eu" if i % 2 else "us"})
        for i in range(9)
    ]
    eu = [run_id for i, run_id in enumerate(started) if i % 2][::-1]  # newest first
    seen: list[str] = []
    cursor = None
    while True:
        page = app.query(
            attributes={"region": "eu"}, workflow=flows.WaitsForever, limit=2, cursor=cursor
        )
        seen += [r.run_id for r in page.runs]
        if page.next_cursor is None:
            break
        cursor = page.next_cursor
    assert seen == eu
    wait_until(lambda: all(app.get(r).status == "suspended" for r in eu), what="all waiting")
    assert len(app.query(attributes={"region": "eu"}, status="suspended").runs) == 4
    assert app.query(attributes={"region": "eu"}, status="completed").runs == []


def test_a_parents_children_are_a_query(app: continuum.Continuum) -> None:
    run_id = app.start(flows.Order, ["a", "b"])
    app.result(run_id, timeout=10)
    assert {r.run_id for r in app.query(parent_run_id=run_id).runs} == {
        f"{run_id}/0",
        f"{run_id}/1",
    }


@pytest.mark.parametrize(
    ("attributes", "message"),
    [
        ("customer=c-1", "takes a dict"),
        ({"": "x"}, "key must be a non-empty str"),
        ({"k": [1, 2]}, "must be a str, int, float or bool"),
        ({"k": {"nested": 1}}, "must be a str, int, float or bool"),
        ({"k": float("nan")}, "must be a str, int, float or bool"),
        ({"k": "a\x00b"}, "no NUL character"),
        ({f"k{i}": i for i in range(65)}, "at most 64 attributes"),
    ],
)
def test_bad_attributes_are_refused_and_nothing_is_started(
    app: continuum.Continuum, attributes: Any, message: str
) -> None:
    with pytest.raises(continuum.ConfigurationError, match=message):
        app.start(flows.WaitsForever, "x", attributes=attributes)
    assert app.runs() == []
    with pytest.raises(continuum.ConfigurationError, match=message):
        app.query(attributes=attributes)


def test_set_attributes_refuses_bad_input_and_unknown_runs(app: continuum.Continuum) -> None:
    run_id = app.start(flows.WaitsForever, "x", attributes={"a": 1})
    with pytest.raises(continuum.ConfigurationError, match="must be a str, int"):
        app.set_attributes(run_id, {"a": object()})
    assert app.get(run_id).attributes == {"a": 1}
    with pytest.raises(continuum.RunNotFound):
        app.set_attributes("no-such-run", {"a": 2})


def test_start_at_and_start_in_delay_the_run(app: continuum.Continuum) -> None:
    later = dt.datetime.now(dt.UTC) + dt.timedelta(hours=1)
    delayed = app.start(flows.Shipment, "later", start_at=later)
    soon = app.start(flows.Shipment, "soon", start_in=0.3)
    now = app.start(flows.Shipment, "now")
    assert app.result(now, timeout=10) == "shipped now"
    info = app.get(delayed)
    assert info.status == "pending"
    assert info.available_at is not None
    assert abs((info.available_at - later).total_seconds()) < 0.01
    assert app.result(soon, timeout=10) == "shipped soon"
    assert app.get(delayed).status == "pending"
    # a start time already past makes the run due at once
    past = app.start(flows.Shipment, "past", start_at=dt.datetime(2000, 1, 1, tzinfo=dt.UTC))
    assert app.result(past, timeout=10) == "shipped past"


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"start_at": dt.datetime(2030, 1, 1)}, "timezone-aware"),
        ({"start_at": "2030-01-01"}, "timezone-aware datetime"),
        ({"start_in": -1}, "start_in"),
        ({"start_in": 5, "start_at": dt.datetime(2030, 1, 1, tzinfo=dt.UTC)}, "not both"),
    ],
)
def test_bad_start_times_are_refused(
    app: continuum.Continuum, options: dict[str, Any], message: str
) -> None:
    with pytest.raises(continuum.ConfigurationError, match=message):
        app.start(flows.Shipment, "x", **options)
    assert app.runs() == []


def test_reserved_signal_names_are_refused(app: continuum.Continuum) -> None:
    run_id = app.start(flows.WaitsForever, "x")
    with pytest.raises(continuum.ConfigurationError, match="engine's own"):
        app.signal(run_id, f"continuum:child:{run_id}", {"status": "completed"})
    assert app.store.list_signals(run_id) == []
