"""Group commit: concurrent writes share a batch, and each keeps its own outcome."""

from __future__ import annotations

import threading
from collections.abc import Sequence

import pytest

from continuum.errors import DatabaseUnavailable, LeaseLost, StoreError
from continuum.store.group_commit import GroupCommit
from tests.conftest import wait_until


class Recorder:
    """An `apply` that records its batches; the first call can be held open."""

    def __init__(self, hold_first: bool = False) -> None:
        self.batches: list[list[str]] = []
        self.entered = threading.Event()
        self.release = threading.Event()
        if not hold_first:
            self.release.set()
        self.refuse: set[str] = set()
        self.reject_batch_with: set[str] = set()

    def __call__(self, items: Sequence[str]) -> list[BaseException | None]:
        self.batches.append(list(items))
        self.entered.set()
        assert self.release.wait(10)
        if self.reject_batch_with & set(items):
            raise StoreError("the database rejected the statement")
        return [LeaseLost(item) if item in self.refuse else None for item in items]


def submit_in_threads(group: GroupCommit[str], items: list[str]) -> dict[str, BaseException | None]:
    outcomes: dict[str, BaseException | None] = {}

    def submit(item: str) -> None:
        try:
            group.submit(item)
            outcomes[item] = None
        except BaseException as exc:
            outcomes[item] = exc

    threads = [threading.Thread(target=submit, args=(item,)) for item in items]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
        assert not thread.is_alive()
    return outcomes


def test_a_lone_write_is_its_own_batch() -> None:
    apply = Recorder()
    GroupCommit(apply).submit("a")
    assert apply.batches == [["a"]]


def writes_queued_behind(apply: Recorder, items: list[str]) -> dict[str, BaseException | None]:
    """Hold a first write open while `items` queue up behind it; their outcomes."""
    group: GroupCommit[str] = GroupCommit(apply, max_batch=3)
    first = threading.Thread(target=group.submit, args=("first",))
    first.start()
    assert apply.entered.wait(10)
    results: dict[str, BaseException | None] = {}
    worker = threading.Thread(target=lambda: results.update(submit_in_threads(group, items)))
    worker.start()
    wait_until(lambda: len(group._queue) == len(items))
    apply.release.set()
    first.join(10)
    worker.join(10)
    return results


def test_writes_that_arrive_during_a_commit_share_the_next_ones() -> None:
    apply = Recorder(hold_first=True)
    results = writes_queued_behind(apply, ["b", "c", "d", "e"])
    assert apply.batches[0] == ["first"]
    # the rest went in batches of at most max_batch, all four written
    assert sorted(x for batch in apply.batches[1:] for x in batch) == ["b", "c", "d", "e"]
    assert max(len(batch) for batch in apply.batches[1:]) == 3
    assert len(apply.batches) == 3
    assert results == dict.fromkeys("bcde")


def test_each_write_gets_its_own_refusal() -> None:
    apply = Recorder(hold_first=True)
    apply.refuse = {"c"}
    results = writes_queued_behind(apply, ["b", "c"])
    assert results["b"] is None
    assert isinstance(results["c"], LeaseLost)


def test_a_batch_the_database_rejects_is_retried_one_by_one() -> None:
    apply = Recorder(hold_first=True)
    apply.reject_batch_with = {"bad"}
    results = writes_queued_behind(apply, ["b", "bad", "d"])
    assert results["b"] is None and results["d"] is None
    assert isinstance(results["bad"], StoreError)
    assert ["b"] in apply.batches and ["bad"] in apply.batches and ["d"] in apply.batches


def test_an_unreachable_database_fails_the_whole_batch_at_once() -> None:
    calls = []

    def apply(items: Sequence[str]) -> list[BaseException | None]:
        calls.append(list(items))
        raise DatabaseUnavailable("server gone")

    group: GroupCommit[str] = GroupCommit(apply)
    outcomes = submit_in_threads(group, ["a", "b", "c"])
    assert all(isinstance(error, DatabaseUnavailable) for error in outcomes.values())
    assert len({id(error) for error in outcomes.values()}) == 3  # one exception per thread
    assert sum(len(batch) for batch in calls) == 3  # no retries one by one


def test_a_leader_torn_down_mid_write_leaves_the_others_an_error() -> None:
    release = threading.Event()
    entered = threading.Event()

    def apply(items: Sequence[str]) -> list[BaseException | None]:
        if "first" in items:
            entered.set()
            assert release.wait(10)
            return [None]
        raise KeyboardInterrupt

    group: GroupCommit[str] = GroupCommit(apply)
    first = threading.Thread(target=group.submit, args=("first",))
    first.start()
    assert entered.wait(10)
    outcomes: dict[str, BaseException | None] = {}
    worker = threading.Thread(target=lambda: outcomes.update(submit_in_threads(group, ["b", "c"])))
    worker.start()
    wait_until(lambda: len(group._queue) == 2)
    release.set()
    first.join(10)
    worker.join(10)
    # whoever led the batch sees the interrupt; the other learns its write may be lost
    kinds = sorted(type(error).__name__ for error in outcomes.values())
    assert kinds == ["KeyboardInterrupt", "StoreError"]
    with pytest.raises(KeyboardInterrupt):  # the group is not wedged: the next write leads
        group.submit("again")


def test_batches_in_flight_at_once_up_to_the_limit() -> None:
    entered: list[str] = []
    release = threading.Event()

    def apply(items: Sequence[str]) -> list[BaseException | None]:
        entered.append(",".join(items))
        assert release.wait(10)
        return [None] * len(items)

    group: GroupCommit[str] = GroupCommit(apply, max_in_flight=2)
    threads = [threading.Thread(target=group.submit, args=(name,)) for name in "ab"]
    for thread in threads:
        thread.start()
    wait_until(lambda: len(entered) == 2, what="two batches written at once")
    late = [threading.Thread(target=group.submit, args=(name,)) for name in "cd"]
    for thread in late:
        thread.start()
    wait_until(lambda: len(group._queue) == 2, what="later writes to queue")
    release.set()
    for thread in threads + late:
        thread.join(10)
    assert sorted(entered[:2]) == ["a", "b"]
    assert entered[2:] == ["c,d"]  # the two that queued went together
