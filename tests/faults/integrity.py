"""Journal integrity, checked from what the database itself recorded.

`install` adds PostgreSQL audit triggers to a test database (once the engine
has created its schema): every INSERT, UPDATE and DELETE of a journal row,
and every change of a run's status or lease token, is copied into an audit
table in the same transaction. A write the server accepted is therefore
audited even if a later write overwrote it, and a transaction lost in a
crash loses its audit rows with it.

`check` then proves, for the runs of a test:
  (a) no journal row that held a final outcome (`activity`, `signal`,
      `signal_timeout`, `timer`, `side_effect`, `patch`) was ever changed
      to anything different, or deleted; only waiting rows moved on
      (`signal_wait` -> `signal`/`signal_timeout`,
      `activity_retry` -> `activity_retry`/`activity`), under the same name;
  (b) every run went to `completed` exactly once, and nothing changed its
      status afterwards;
  (c) every run's output is what its journal's results imply;
and counts what it saw, for the report. Every fault test calls it.
"""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import psycopg

FINAL_KINDS = frozenset({"activity", "signal", "signal_timeout", "timer", "side_effect", "patch"})
MOVES_ON = {
    "signal_wait": frozenset({"signal", "signal_timeout"}),
    "activity_retry": frozenset({"activity_retry", "activity"}),
}

INSTALL = """
CREATE TABLE fault_journal_audit (
    id bigserial PRIMARY KEY,
    op text NOT NULL,
    run_id text NOT NULL,
    seq integer NOT NULL,
    old_kind text, old_name text, old_payload text,
    new_kind text, new_name text, new_payload text,
    at timestamptz NOT NULL DEFAULT clock_timestamp()
);
CREATE TABLE fault_run_audit (
    id bigserial PRIMARY KEY,
    op text NOT NULL,
    run_id text NOT NULL,
    old_status text, new_status text NOT NULL,
    old_token bigint, new_token bigint NOT NULL,
    nonce text,
    lease_owner text,
    output text,
    at timestamptz NOT NULL DEFAULT clock_timestamp()
);

CREATE FUNCTION fault_audit_journal() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        INSERT INTO fault_journal_audit (op, run_id, seq, new_kind, new_name, new_payload)
        VALUES (TG_OP, NEW.run_id, NEW.seq, NEW.kind, NEW.name, NEW.payload::text);
    ELSIF TG_OP = 'UPDATE' THEN
        INSERT INTO fault_journal_audit
            (op, run_id, seq, old_kind, old_name, old_payload, new_kind, new_name, new_payload)
        VALUES (TG_OP, NEW.run_id, NEW.seq, OLD.kind, OLD.name, OLD.payload::text,
                NEW.kind, NEW.name, NEW.payload::text);
    ELSE
        INSERT INTO fault_journal_audit (op, run_id, seq, old_kind, old_name, old_payload)
        VALUES (TG_OP, OLD.run_id, OLD.seq, OLD.kind, OLD.name, OLD.payload::text);
    END IF;
    RETURN NULL;
END $$;

CREATE FUNCTION fault_audit_run() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        INSERT INTO fault_run_audit
            (op, run_id, new_status, new_token, nonce, lease_owner, output)
        VALUES (TG_OP, NEW.id, NEW.status, NEW.lease_token, to_jsonb(NEW) ->> 'lease_nonce',
                NEW.lease_owner, NEW.output::text);
    ELSE
        INSERT INTO fault_run_audit
            (op, run_id, old_status, new_status, old_token, new_token, nonce, lease_owner, output)
        VALUES (TG_OP, NEW.id, OLD.status, NEW.status, OLD.lease_token, NEW.lease_token,
                to_jsonb(NEW) ->> 'lease_nonce', NEW.lease_owner, NEW.output::text);
    END IF;
    RETURN NULL;
END $$;

CREATE TRIGGER fault_audit_journal AFTER INSERT OR UPDATE OR DELETE ON continuum_journal
    FOR EACH ROW EXECUTE FUNCTION fault_audit_journal();
CREATE TRIGGER fault_audit_run_insert AFTER INSERT ON continuum_runs
    FOR EACH ROW EXECUTE FUNCTION fault_audit_run();
-- Lease renewals change neither status nor token: they are not audited.
CREATE TRIGGER fault_audit_run_update AFTER UPDATE ON continuum_runs
    FOR EACH ROW
    WHEN (OLD.status IS DISTINCT FROM NEW.status
          OR OLD.lease_token IS DISTINCT FROM NEW.lease_token)
    EXECUTE FUNCTION fault_audit_run();
"""


def install(url: str) -> None:
    """Add the audit tables and triggers; the engine's schema must exist already."""
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(INSTALL)


def query(url: str, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
    with psycopg.connect(url, autocommit=True, connect_timeout=5) as conn:
        return conn.execute(sql, params).fetchall()


@dataclass(frozen=True, slots=True)
class JournalChange:
    op: str  # INSERT, UPDATE, DELETE
    run_id: str
    seq: int
    old: tuple[str, str, str | None] | None  # kind, name, payload
    new: tuple[str, str, str | None] | None
    at: float  # the database clock: epoch seconds


@dataclass(frozen=True, slots=True)
class RunChange:
    op: str
    run_id: str
    old_status: str | None
    new_status: str
    old_token: int | None
    new_token: int
    nonce: str | None
    owner: str | None
    output: str | None
    at: float


@dataclass(frozen=True, slots=True)
class JournalRow:
    run_id: str
    seq: int
    kind: str
    name: str
    payload: str | None
    recorded_at: float

    @property
    def value(self) -> Any:
        return None if self.payload is None else json.loads(self.payload)


def journal_changes(url: str) -> list[JournalChange]:
    rows = query(
        url,
        "SELECT op, run_id, seq, old_kind, old_name, old_payload, new_kind, new_name,"
        " new_payload, extract(epoch FROM at)::float8 FROM fault_journal_audit ORDER BY id",
    )
    changes = []
    for op, run_id, seq, *old, new_kind, new_name, new_payload, at in rows:
        new = None if new_kind is None else (new_kind, new_name, new_payload)
        changes.append(
            JournalChange(
                op, run_id, seq, None if old[0] is None else (old[0], old[1], old[2]), new, at
            )
        )
    return changes


def run_changes(url: str) -> list[RunChange]:
    rows = query(
        url,
        "SELECT op, run_id, old_status, new_status, old_token, new_token, nonce, lease_owner,"
        " output, extract(epoch FROM at)::float8 FROM fault_run_audit ORDER BY id",
    )
    return [RunChange(*row) for row in rows]


def journal(url: str) -> dict[str, list[JournalRow]]:
    """Every run's journal as it stands, in seq order."""
    rows = query(
        url,
        "SELECT run_id, seq, kind, name, payload::text, extract(epoch FROM recorded_at)::float8"
        " FROM continuum_journal ORDER BY run_id, seq",
    )
    found: dict[str, list[JournalRow]] = defaultdict(list)
    for row in rows:
        found[row[0]].append(JournalRow(*row))
    return dict(found)


def runs(url: str) -> dict[str, tuple[str, str | None]]:
    """Every run's status and output (JSON text)."""
    rows = query(url, "SELECT id, status, output::text FROM continuum_runs")
    return {run_id: (status, output) for run_id, status, output in rows}


def activity_results(rows: Sequence[JournalRow]) -> Any:
    """What the fault flows return: their activities' results, in journal order."""
    return [row.value["result"] for row in rows if row.kind == "activity"]


def writes_naming(url: str, needles: Iterable[str]) -> list[str]:
    """Accepted writes (journal rows, run outputs) whose text contains any of `needles`."""
    needles = list(needles)
    found = [
        f"journal {c.op} {c.run_id}#{c.seq}: {c.new[2]}"
        for c in journal_changes(url)
        if c.new is not None and c.new[2] is not None and any(n in c.new[2] for n in needles)
    ]
    found += [
        f"run {c.run_id} -> {c.new_status}: {c.output}"
        for c in run_changes(url)
        if c.output is not None and any(n in c.output for n in needles)
    ]
    return found


@dataclass
class Verdict:
    runs: int = 0
    journal_rows: int = 0
    journal_writes: int = 0  # audited inserts and updates
    rewrites: int = 0  # updates of a row that already existed (allowed or not)
    completions: int = 0
    violations: list[str] = field(default_factory=list)

    def summary(self) -> str:
        return (
            f"integrity: {self.runs} runs, {self.journal_rows} journal rows, "
            f"{self.journal_writes} journal writes ({self.rewrites} rewrites), "
            f"{self.completions} completions, {len(self.violations)} violations"
        )

    def assert_ok(self) -> None:
        if self.violations:
            shown = "\n  ".join(self.violations[:40])
            more = len(self.violations) - 40
            raise AssertionError(
                f"journal integrity violated ({len(self.violations)}):\n  {shown}"
                + (f"\n  ... and {more} more" if more > 0 else "")
            )


def check(
    url: str,
    run_ids: Iterable[str],
    implied: Callable[[Sequence[JournalRow]], Any] = activity_results,
) -> Verdict:
    """Checks (a), (b) and (c) above for `run_ids`; the verdict lists every violation."""
    wanted = set(run_ids)
    verdict = Verdict(runs=len(wanted))
    bad = verdict.violations

    # (a) final rows never change; waiting rows only move on.
    for c in journal_changes(url):
        if c.run_id not in wanted:
            continue
        if c.op == "DELETE":
            bad.append(f"{c.run_id}#{c.seq}: journal row {c.old} deleted")
            continue
        verdict.journal_writes += 1
        if c.op != "UPDATE":
            continue
        verdict.rewrites += 1
        assert c.old is not None and c.new is not None
        (old_kind, old_name, _), (new_kind, new_name, _) = c.old, c.new
        if old_kind in FINAL_KINDS:
            if c.new != c.old:
                bad.append(f"{c.run_id}#{c.seq}: final row {c.old} overwritten with {c.new}")
        elif old_kind in MOVES_ON:
            if new_kind not in MOVES_ON[old_kind] or new_name != old_name:
                bad.append(f"{c.run_id}#{c.seq}: waiting row {c.old} became {c.new}")
        else:
            bad.append(f"{c.run_id}#{c.seq}: row of unknown kind {c.old} rewritten to {c.new}")

    # (b) one transition to completed, and nothing after it.
    completed: Counter[str] = Counter()
    for r in run_changes(url):
        if r.run_id not in wanted:
            continue
        if r.old_status == "completed":
            bad.append(f"{r.run_id}: changed after completing: -> {r.new_status} by {r.owner}")
        if r.new_status == "completed" and r.old_status != "completed":
            completed[r.run_id] += 1
    verdict.completions = sum(completed.values())
    for run_id in sorted(wanted):
        if completed[run_id] != 1:
            bad.append(f"{run_id}: {completed[run_id]} transitions to completed, not 1")

    # (c) each output is what the journal implies.
    rows = journal(url)
    states = runs(url)
    for run_id in sorted(wanted):
        entries = rows.get(run_id, [])
        verdict.journal_rows += len(entries)
        seqs = [row.seq for row in entries]
        if seqs != list(range(len(seqs))):
            bad.append(f"{run_id}: journal positions {seqs} are not 0..{len(seqs) - 1}")
        status, output = states.get(run_id, ("missing", None))
        if status != "completed" or output is None:
            bad.append(f"{run_id}: status {status}, not completed")
            continue
        expected = implied(entries)
        if json.loads(output) != expected:
            bad.append(f"{run_id}: output {output} but its journal implies {expected}")
    return verdict
