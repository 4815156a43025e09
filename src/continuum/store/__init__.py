"""Persistence behind one small interface.

`base.Store` is everything the engine asks of a database, and `base` also
holds the states (`RunStatus`, `WriteOutcome`, `JournalKind`) and the frozen
values that cross it. Each backend is one package behind it (`sqlite`,
`postgres`), picked by `open_store(url)`; `group_commit` is a policy a backend
may use to batch attempt writes. Stores know runs, journal rows, signals,
leases and version rows; they know nothing of what a workflow means.
"""

from continuum.store.base import (
    Claim,
    History,
    JournalEntry,
    JournalKind,
    Lease,
    NewRun,
    RunCursor,
    RunFilter,
    RunRecord,
    RunStatus,
    SignalRecord,
    Store,
    VersionRecord,
    VersionRow,
    Write,
    WriteOutcome,
)
from continuum.store.open import open_store

__all__ = [
    "Claim",
    "History",
    "JournalEntry",
    "JournalKind",
    "Lease",
    "NewRun",
    "RunCursor",
    "RunFilter",
    "RunRecord",
    "RunStatus",
    "SignalRecord",
    "Store",
    "VersionRecord",
    "VersionRow",
    "Write",
    "WriteOutcome",
    "open_store",
]
