"""Recorded histories: exporting a run's history, and replaying one through code.

One format, the document `continuum show RUN --format json` prints: the run's
fields (`run_id`, `workflow`, `version_hash`, `version`, `status`, `input`,
`output`, `error`, `created_at`, `updated_at`), `history` (the journal in order,
each entry `{seq, kind, name, payload, recorded_at}` with `payload` decoded JSON)
and `pending_signals`. `export_history` writes it from any database;
`env.history(run_id)` gives the same entries as a list, headed by a `started`
entry that carries what a replay needs besides the journal:

    {"seq": None, "kind": "started", "name": "<workflow>", "recorded_at": "<ISO time>",
     "payload": {"run_id": ..., "version_hash": ..., "version": ..., "input": ...}}

`replay(history, Workflow)` takes either shape (or the path of a JSON file holding
one), replays the journal through the code, running nothing and writing nothing,
and raises `continuum.NondeterminismError` at the first mismatch.
"""

from __future__ import annotations

import datetime as dt
import json
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from continuum import frozen, serialization
from continuum.errors import ConfigurationError, NondeterminismError
from continuum.instance import Continuum, read_only
from continuum.runtime.replay import Drift, Trace, first_drift, trace
from continuum.store.base import History, JournalEntry, JournalKind
from continuum.versions import resolve_versions_dir
from continuum.workflow import Workflow, entrypoint_of, entrypoints

if TYPE_CHECKING:
    from continuum.testing.environment import WorkflowEnvironment

STARTED = "started"
_KINDS = {str(kind) for kind in JournalKind}

RecordedHistoryLike = Sequence[Mapping[str, Any]] | Mapping[str, Any] | str | os.PathLike[str]


@dataclass(frozen=True, slots=True)
class Entry:
    """One journal entry: the primitive call at position `seq` and what it recorded."""

    seq: int
    kind: str  # a continuum.store.JournalKind when the kind is one this release knows
    name: str
    payload: Any
    recorded_at: dt.datetime | None

    @classmethod
    def from_dict(cls, entry: Mapping[str, Any]) -> Entry:
        kind = str(entry["kind"])
        stamp = entry.get("recorded_at")
        return cls(
            seq=int(entry["seq"]),
            kind=JournalKind(kind) if kind in _KINDS else kind,
            name=str(entry["name"]),
            payload=entry.get("payload"),
            recorded_at=None if not stamp else dt.datetime.fromisoformat(stamp),
        )


@dataclass(frozen=True, slots=True)
class RecordedHistory:
    """What a replay needs of a recorded history."""

    run_id: str
    workflow: str | None
    version_hash: str | None
    input_json: str
    entries: list[JournalEntry]


# -- export ----------------------------------------------------------------------------
def export_history(
    source: Continuum | WorkflowEnvironment | str,
    run_id: str,
    path: str | os.PathLike[str] | None = None,
) -> dict[str, Any]:
    """A run's recorded history (the document `continuum show RUN --format json`
    prints), read from a booted instance, a test environment or a database URL; also
    written to `path` as JSON when given (a golden history for `replay`)."""
    if isinstance(source, str):
        with read_only(source, name="export") as app:
            document = _document(app, run_id)
    else:
        app = source if isinstance(source, Continuum) else source.app
        document = _document(app, run_id)
    if path is not None:
        Path(path).write_text(json.dumps(document, indent=2, ensure_ascii=False) + "\n")
    return document


def _document(app: Continuum, run_id: str) -> dict[str, Any]:
    from continuum.cli.runs import show_dict  # noqa: PLC0415 - the format's one writer

    run = app.get(run_id)
    pending = app.store.load_history(run.run_id).pending_signals
    return show_dict(run, History(app.store.load_journal(run.run_id), pending))


def history_list(document: Mapping[str, Any]) -> list[dict[str, Any]]:
    """A history document as `env.history` gives it: a `started` entry, then the journal."""
    started = {
        "seq": None,
        "kind": STARTED,
        "name": document["workflow"],
        "payload": {
            "run_id": document["run_id"],
            "version_hash": document["version_hash"],
            "version": document["version"],
            "input": document["input"],
        },
        "recorded_at": document["created_at"],
    }
    return [started, *(dict(entry) for entry in document["history"])]


# -- reading ---------------------------------------------------------------------------
def parse(history: RecordedHistoryLike) -> RecordedHistory:
    """A recorded history in any of its shapes, checked; ConfigurationError if it is none."""
    if isinstance(history, str | os.PathLike):
        history = _load(Path(history))
    try:
        if isinstance(history, Mapping):
            return _parse_document(history)
        if isinstance(history, Sequence) and not isinstance(history, str):
            return _parse_list(history)
    except (KeyError, TypeError, ValueError) as exc:
        raise ConfigurationError(
            f"not a recorded history ({type(exc).__name__}: {exc}): give the list "
            "env.history() returns or the JSON 'continuum show RUN --format json' prints"
        ) from None
    raise ConfigurationError(
        f"replay() takes a recorded history (a list, a dict or a JSON file's path), not "
        f"{type(history).__name__}"
    )


def _load(path: Path) -> Any:
    try:
        return json.loads(path.read_text())
    except OSError as exc:
        raise ConfigurationError(f"cannot read recorded history {str(path)!r}: {exc}") from None
    except ValueError as exc:
        raise ConfigurationError(f"recorded history {str(path)!r} is not JSON: {exc}") from None


def _parse_document(document: Mapping[str, Any]) -> RecordedHistory:
    return RecordedHistory(
        run_id=str(document.get("run_id") or "replay"),
        workflow=document.get("workflow"),
        version_hash=document.get("version_hash"),
        input_json=serialization.dumps(document["input"], what="the recorded input"),
        entries=_entries(document["history"]),
    )


def _parse_list(history: Sequence[Mapping[str, Any]]) -> RecordedHistory:
    headers = [entry for entry in history if entry["kind"] == STARTED]
    if len(headers) != 1:
        raise ValueError(f"the list holds {len(headers)} 'started' entries, not one")
    started = headers[0]["payload"]
    return RecordedHistory(
        run_id=str(started.get("run_id") or "replay"),
        workflow=headers[0].get("name"),
        version_hash=started.get("version_hash"),
        input_json=serialization.dumps(started.get("input"), what="the recorded input"),
        entries=_entries([entry for entry in history if entry["kind"] != STARTED]),
    )


def _entries(rows: Sequence[Mapping[str, Any]]) -> list[JournalEntry]:
    entries = []
    for row in rows:
        payload = row.get("payload")
        text = None if payload is None else serialization.dumps(payload, what="a payload")
        entries.append(JournalEntry(int(row["seq"]), str(row["kind"]), str(row["name"]), text))
    return entries


# -- replay ----------------------------------------------------------------------------
def replay(
    history: RecordedHistoryLike,
    workflow_cls: type[Workflow],
    *,
    version: Literal["current", "recorded"] = "current",
    versions_dir: str | os.PathLike[str] | None = None,
) -> None:
    """Replay a recorded history through `workflow_cls`, running nothing; raise
    `continuum.NondeterminismError` at the first place the code does something else.

    `version="current"` (the default) replays through the class as it is now,
    whatever version the history was recorded on: would this code follow that
    history (a golden history kept in the test suite, runs you mean to move to the
    new code with `continuum versions migrate`)? `version="recorded"` replays through
    the version the history names, as this code base loads it (the class itself, a
    version kept from before a reload, or a frozen version from `versions_dir`,
    default as the instance finds it): what a live run pinned to that version will
    actually resume on. A version that cannot be loaded is a ConfigurationError.
    """
    recorded = parse(history)
    entrypoint = _entrypoint(recorded, workflow_cls, version, versions_dir)
    done = trace(entrypoint, recorded.input_json, recorded.entries, run_id=recorded.run_id)
    mismatch = mismatch_of(done, recorded.entries)
    if mismatch is not None:
        raise NondeterminismError(*mismatch, run_id=recorded.run_id)


def mismatch_of(done: Trace, entries: Sequence[JournalEntry]) -> tuple[int, str, str] | None:
    """(position, recorded, now) of the first drift of a trace over `entries`, if any."""
    drift = first_drift(done)
    if drift is None:
        return None
    if isinstance(drift, Drift):
        recorded = (
            f"{drift.recorded_kind} {drift.recorded_name!r}"
            if drift.recorded_kind
            else "the end of the journal"
        )
        return drift.position, recorded, drift.code_did
    return done.position, describe(entries, done.position), f"raise {drift.error}"


def describe(entries: Sequence[JournalEntry], position: int) -> str:
    """What a journal holds at `position`, in a few words."""
    for entry in entries:
        if entry.seq == position:
            return f"{entry.kind} {entry.name!r}"
    return "the end of the journal"


def _entrypoint(
    recorded: RecordedHistory,
    workflow_cls: type[Workflow],
    version: str,
    versions_dir: str | os.PathLike[str] | None,
) -> type[Workflow]:
    current = entrypoint_of(workflow_cls)
    if version == "current":
        return current
    if version != "recorded":
        raise ConfigurationError(f"replay(version=) is 'current' or 'recorded', not {version!r}")
    workflow, version_hash = recorded.workflow, recorded.version_hash
    if not workflow or not version_hash:
        raise ConfigurationError(
            "this history names no workflow version to replay against: use version='current'"
        )
    if workflow != current.workflow:
        raise ConfigurationError(
            f"the history is of workflow {workflow}, not {current.workflow}: pass its class"
        )
    entrypoint = entrypoints.resolve(workflow, version_hash)
    if entrypoint is None:
        frozen.load_all(resolve_versions_dir(versions_dir), frozenset({workflow}))
        entrypoint = entrypoints.resolve(workflow, version_hash)
    if entrypoint is None:
        raise ConfigurationError(
            f"the history was recorded on {workflow}@{version_hash}, which this code cannot "
            f"load (the class is now @{current.version_hash}): runs pinned to it would not "
            "resume. Freeze that version into the versions folder (continuum versions freeze "
            "before the change, or continuum versions restore), or replay with "
            "version='current' to check the new code against this history"
        )
    return entrypoint
