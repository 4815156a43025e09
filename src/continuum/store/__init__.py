"""Persistence behind one small interface.

`base.Store` is everything the engine asks of a database. Each backend is one
module behind it (`sqlite`, `postgres`), picked by `open_store(url)`. Stores
know runs, journal rows, signals, leases and version rows; they know nothing
of what a workflow means.
"""

from continuum.store.base import (
    Claim,
    History,
    JournalEntry,
    Lease,
    NewRun,
    RunRecord,
    SignalRecord,
    Store,
    VersionRecord,
    VersionRow,
)
from continuum.store.open import open_store

__all__ = [
    "Claim",
    "History",
    "JournalEntry",
    "Lease",
    "NewRun",
    "RunRecord",
    "SignalRecord",
    "Store",
    "VersionRecord",
    "VersionRow",
    "open_store",
]
