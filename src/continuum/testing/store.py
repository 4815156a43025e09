"""The environment's store: SQLite in memory, on the virtual clock.

It is the embedded backend unchanged but for two things: its clock (every time
it writes or compares is the environment's virtual time), and a report of each
attempt write once it is durable, which paranoid mode replays.
"""

from __future__ import annotations

from collections.abc import Callable

from continuum.store.base import Write
from continuum.store.sqlite import SQLiteStore

MEMORY = "sqlite:///:memory:"


class VirtualTimeStore(SQLiteStore):
    """An in-memory SQLite store whose clock is `clock`; `written(write)` hears of each
    attempt write after it is committed."""

    def __init__(self, clock: Callable[[], float], written: Callable[[Write], None]) -> None:
        super().__init__(MEMORY)
        self._clock = clock
        self._written = written

    def now(self) -> float:
        return self._clock()

    def submit(self, write: Write) -> None:
        super().submit(write)
        self._written(write)
