"""`RunInfo`: what `get()` and `runs()` return."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from continuum import serialization
from continuum.store.base import TERMINAL_STATUSES, RunRecord


@dataclass(frozen=True, slots=True)
class RunInfo:
    """A run as stored. `updated_at` is when its status or lease last changed
    (started, claimed, signalled, suspended, ended), not each journaled step."""

    run_id: str
    workflow: str
    version_hash: str
    version: int
    status: str
    input: Any
    output: Any
    error: dict[str, Any] | None
    created_at: dt.datetime
    updated_at: dt.datetime

    @classmethod
    def from_record(cls, record: RunRecord) -> RunInfo:
        return cls(
            run_id=record.run_id,
            workflow=record.workflow,
            version_hash=record.version_hash,
            version=record.version,
            status=record.status,
            input=serialization.loads(record.input_json),
            output=serialization.loads(record.output_json),
            error=serialization.loads(record.error_json),
            created_at=_time(record.created_at),
            updated_at=_time(record.updated_at),
        )

    @property
    def finished(self) -> bool:
        return self.status in TERMINAL_STATUSES


def _time(stamp: float) -> dt.datetime:
    return dt.datetime.fromtimestamp(stamp, tz=dt.UTC)
