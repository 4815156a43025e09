"""The Store interface: stateless, so a backend or a double needs no super().__init__()."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pytest

from continuum.errors import ConfigurationError, ContinuumError, LeaseLost
from continuum.store import JournalEntry, JournalKind, Lease, RunStatus, Store, Write, open_store
from continuum.store.base import STATUSES, TERMINAL_STATUSES, WriteOutcome
from continuum.store.group_commit import GroupCommit

LEASE = Lease("r", "n", 1, 7)
STEP = JournalEntry(0, JournalKind.ACTIVITY, "a", "1")


class Double(Store):
    """A test double: attempt writes land in a list, through a group commit of its own."""

    url = "memory://"
    notifies = False

    def __init__(self, refuse: bool = False) -> None:  # no super().__init__(): nothing to set up
        self.written: list[Write] = []
        self.refuse = refuse
        self._writes = GroupCommit(self.apply_writes)

    def submit(self, write: Write) -> None:
        self._writes.submit(write)

    def apply_writes(self, writes: Sequence[Write]) -> list[ContinuumError | None]:
        if self.refuse:
            return [LeaseLost(w.lease.run_id) for w in writes]
        self.written += writes
        return [None] * len(writes)

    # Nothing below is needed for attempt writes.
    def migrate(self) -> None:
        raise NotImplementedError

    def close(self) -> None:
        pass

    def now(self) -> float:
        return 0.0

    def schema_version(self) -> int:
        return 0

    def listen(self, handlers: Any) -> Any:
        return lambda: None

    def create_run(self, new: Any, *, lease_to: Any = None, lease_seconds: float = 0.0) -> Any:
        raise NotImplementedError

    def get_run(self, run_id: str) -> Any:
        return None

    def cancel_run(self, run_id: str) -> Any:
        return []

    def set_attributes(self, run_id: str, attributes_json: str) -> Any:
        return None

    def child_run_ids(self, run_id: str) -> Any:
        return []

    def send_signal(
        self, run_id: str, name: str, payload_json: str, *, delivery_id: Any = None
    ) -> Any:
        return "missing"

    def claim_runs(
        self, node: str, *, limit: int, lease_seconds: float, versions: Any, known: bool
    ) -> Any:
        return []

    def next_due_in(self, versions: Any) -> Any:
        return None

    def renew_leases(self, leases: Any, lease_seconds: float) -> Any:
        return list(leases)

    def load_history(self, run_id: str) -> Any:
        raise NotImplementedError

    def load_journal(self, run_id: str) -> Any:
        raise NotImplementedError

    def release(self, lease: Lease, *, delay: float) -> None:
        pass

    def register_versions(
        self, instance: str, node: str, versions: Any, *, dispatching: bool = True
    ) -> int:
        return 0

    def unregister_node(self, instance: str, node: str) -> None:
        pass

    def list_versions(self) -> Any:
        return []

    def version_source(self, workflow: str, version_hash: str) -> Any:
        return None

    def version_usage(self) -> Any:
        return []

    def patch_usage(self) -> Any:
        return []

    def delete_versions(self, versions: Any) -> Any:
        return []

    def repin_run(self, run_id: str, **expected: Any) -> bool:
        return False

    def latest_schema_version(self) -> int:
        raise NotImplementedError

    def query_runs(self, where: Any, *, limit: int, after: Any = None) -> Any:
        raise NotImplementedError

    def run_activity(self, *, since: float, bucket_seconds: float) -> Any:
        raise NotImplementedError

    def list_signals(self, run_id: str) -> Any:
        raise NotImplementedError

    def heartbeat_node(self, instance: str, node: str, **state: Any) -> None:
        raise NotImplementedError

    def list_nodes(self) -> Any:
        raise NotImplementedError

    def store_health(self, **limits: Any) -> Any:
        raise NotImplementedError

    def due_backlog(self) -> Any:
        raise NotImplementedError

    def prune_runs(self, **scope: Any) -> int:
        raise NotImplementedError

    def count_prunable(self, **scope: Any) -> int:
        raise NotImplementedError

    def put_schedule(self, definition: Any, *, next_tick: Any, revision: Any) -> bool:
        raise NotImplementedError

    def get_schedule(self, schedule_id: str) -> Any:
        raise NotImplementedError

    def list_schedules(self) -> Any:
        raise NotImplementedError

    def set_schedule_paused(self, schedule_id: str, **change: Any) -> bool:
        raise NotImplementedError

    def delete_schedule(self, schedule_id: str) -> bool:
        raise NotImplementedError

    def next_schedule_in(self, workflows: Any, *, skip: Any = ()) -> Any:
        raise NotImplementedError

    def due_schedules(self, workflows: Any, *, limit: int) -> Any:
        raise NotImplementedError

    def fire_schedules(self, firings: Any) -> Any:
        raise NotImplementedError


def test_a_double_without_super_init_takes_every_attempt_write_verb() -> None:
    store = Double()
    store.record(LEASE, [STEP])
    store.suspend(LEASE, [STEP], wake_at=5.0, wake_on_signals=["go"])
    store.finish(LEASE, [], status="completed", output_json='"ok"', error_json=None)
    store.finish(LEASE, [], status=RunStatus.FAILED, output_json=None, error_json='{"m": 1}')
    assert store.written == [
        Write(LEASE, [STEP]),
        Write(LEASE, [STEP], WriteOutcome.SUSPENDED, wake_at=5.0, wake_on_signals=["go"]),
        Write(LEASE, [], WriteOutcome.COMPLETED, output_json='"ok"'),
        Write(LEASE, [], WriteOutcome.FAILED, error_json='{"m": 1}'),
    ]


def test_a_refusal_reaches_the_caller() -> None:
    with pytest.raises(LeaseLost):
        Double(refuse=True).record(LEASE, [STEP])


@pytest.mark.parametrize("status", ["suspended", "record", "pending", "done"])
def test_a_run_finishes_only_completed_failed_or_cancelled(status: str) -> None:
    store = Double()
    with pytest.raises(ValueError, match="completed, failed or cancelled"):
        store.finish(LEASE, [], status=status, output_json=None, error_json=None)
    assert store.written == []


def test_a_backend_that_misses_a_verb_cannot_be_made() -> None:
    class Partial(Store):
        url = "partial://"
        notifies = False

    with pytest.raises(TypeError, match="abstract"):
        Partial()  # type: ignore[abstract]


def test_states_are_their_strings() -> None:
    assert RunStatus.COMPLETED == "completed" and f"{RunStatus.STUCK_UNKNOWN_VERSION}" == (
        "stuck_unknown_version"
    )
    assert {"completed", "failed", "cancelled"} == TERMINAL_STATUSES < STATUSES
    assert len(STATUSES) == 7
    assert [str(outcome) for outcome in WriteOutcome] == [
        "record",
        "suspended",
        "completed",
        "failed",
        "cancelled",
    ]
    assert {str(kind) for kind in JournalKind} == {
        "activity",
        "activity_retry",
        "timer",
        "signal",
        "signal_wait",
        "signal_timeout",
        "compensation",
        "child",
        "child_result",
        "child_wait",
        "cancel",
        "patch",
        "side_effect",
    }


@pytest.mark.parametrize("database", ["", "   "])
def test_an_empty_database_url_is_refused(database: str) -> None:
    with pytest.raises(ConfigurationError, match="database= is empty"):
        open_store(database)
