"""Reading the ledger the workflows in `flows` keep: events, and activity executions."""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True, slots=True)
class Event:
    event: str  # START, END, ATTEMPT, EXIT, GATE, PASS, OPEN
    run: str
    step: str
    pid: int
    at: float  # wall clock (time.time()) of the worker process
    detail: str


@dataclass(slots=True)
class Execution:
    """One execution of one activity: its START, and its END if it returned."""

    run: str
    step: str
    pid: int
    started: float
    ended: float | None = None


def events(path: Path) -> list[Event]:
    """Every complete line so far (a line being appended is left for the next read)."""
    if not path.exists():
        return []
    text = path.read_text(encoding="utf-8")
    found = []
    for line in text[: text.rfind("\n") + 1].splitlines():
        event, run, step, pid, at, detail = line.split(" ", 5)
        found.append(Event(event, run, step, int(pid), float(at), detail))
    return found


def has(
    path: Path, event: str, *, pid: int, run: str | None = None, step: str | None = None
) -> bool:
    """Whether process `pid` has noted `event` (for that run and step, if given)."""
    return any(
        e.event == event and e.pid == pid and run in (None, e.run) and step in (None, e.step)
        for e in events(path)
    )


def executions(found: list[Event]) -> dict[tuple[str, str], list[Execution]]:
    """Executions per (run, step), in the order they started.

    An END closes the oldest open START of the same run, step and process.
    """
    by_step: dict[tuple[str, str], list[Execution]] = defaultdict(list)
    open_ones: dict[tuple[str, str, int], list[Execution]] = defaultdict(list)
    for e in found:
        if e.event == "START":
            execution = Execution(e.run, e.step, e.pid, e.at)
            by_step[(e.run, e.step)].append(execution)
            open_ones[(e.run, e.step, e.pid)].append(execution)
        elif e.event == "END":
            pending = open_ones[(e.run, e.step, e.pid)]
            assert pending, f"an END with no START: {e}"
            pending.pop(0).ended = e.at
    for runs in by_step.values():
        runs.sort(key=lambda x: x.started)
    return dict(by_step)


class Tail:
    """Follows a growing ledger, reading each line once: cheap enough to poll."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._offset = 0
        self.counts: Counter[str] = Counter()  # events by kind
        self.open_by_pid: Counter[int] = Counter()  # executions started, not ended

    def update(self) -> Tail:
        if not self.path.exists():
            return self
        with open(self.path, encoding="utf-8") as handle:
            handle.seek(self._offset)
            chunk = handle.read()
        complete = chunk[: chunk.rfind("\n") + 1]  # a line being written is read next time
        self._offset += len(complete.encode("utf-8"))
        for line in complete.splitlines():
            event, _, _, pid, _ = line.split(" ", 4)
            self.counts[event] += 1
            if event == "START":
                self.open_by_pid[int(pid)] += 1
            elif event == "END":
                self.open_by_pid[int(pid)] -= 1
        return self

    def in_flight(self, pid: int) -> int:
        return self.update().open_by_pid[pid]

    def count(self, event: str) -> int:
        return self.update().counts[event]
