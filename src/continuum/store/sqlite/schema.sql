-- The whole schema, as a fresh install creates it. Migrations bring older
-- databases to exactly this; a test proves it. Times are seconds since the epoch.

CREATE TABLE continuum_runs (
    id TEXT PRIMARY KEY,
    workflow TEXT NOT NULL,
    version_hash TEXT NOT NULL,
    version INTEGER NOT NULL,
    status TEXT NOT NULL CHECK (status IN (
        'pending', 'running', 'suspended', 'completed', 'failed', 'cancelled',
        'stuck_unknown_version')),
    input TEXT,
    output TEXT,
    error TEXT,
    -- When a waiting run becomes due; NULL while it waits only for a signal.
    available_at REAL,
    lease_owner TEXT,
    -- Incremented by every claim: the fencing token of the current attempt.
    lease_token INTEGER NOT NULL DEFAULT 0,
    lease_expires_at REAL,
    created_at REAL NOT NULL,
    updated_at REAL NOT NULL,
    -- Drawn at random by every claim and compared by the fence beside the token:
    -- a claim lost in a crash is never handed out again.
    lease_nonce INTEGER NOT NULL DEFAULT 0,
    -- Opaque: what a tracing bridge captured where the run was started.
    trace_context TEXT,
    -- A child run's parent, and whether cancelling the parent cancels it.
    parent_run_id TEXT,
    cancel_with_parent INTEGER,
    -- continue_as_new: the run this one continues, and the one that continues it.
    continued_from TEXT,
    continued_to TEXT,
    -- Searchable metadata set by whoever starts or operates the run (a JSON object).
    attributes TEXT,
    -- A workflow declared on_cancel="unwind": cancelling asks it to unwind (when), rather
    -- than ending it at once.
    unwind_on_cancel INTEGER,
    cancel_requested_at REAL,
    -- The signals a suspended run waits for: a child that ends wakes its parent only
    -- when the parent waits for it.
    waiting_for TEXT
);

-- Claims read only these two small partial indexes, however many runs have ended.
CREATE INDEX continuum_runs_due ON continuum_runs (available_at)
    WHERE status IN ('pending', 'suspended');
CREATE INDEX continuum_runs_leased ON continuum_runs (lease_expires_at)
    WHERE status = 'running';
-- Run lists, newest first, by keyset (see query_runs).
CREATE INDEX continuum_runs_newest ON continuum_runs (created_at, id);
CREATE INDEX continuum_runs_by_status ON continuum_runs (status, created_at, id);
CREATE INDEX continuum_runs_by_workflow ON continuum_runs (workflow, version_hash, created_at, id);
-- A parent's children, newest first (run lists), and the cancel cascade.
CREATE INDEX continuum_runs_children ON continuum_runs (parent_run_id, created_at, id)
    WHERE parent_run_id IS NOT NULL;
-- Ended runs by when they ended: pruning (oldest first) and the activity chart.
CREATE INDEX continuum_runs_ended ON continuum_runs (updated_at)
    WHERE status IN ('completed', 'failed', 'cancelled');
-- The same per workflow: retention prunes one workflow at a time, and would otherwise
-- read past every other workflow's old runs on each look.
CREATE INDEX continuum_runs_ended_by_workflow ON continuum_runs (workflow, updated_at)
    WHERE status IN ('completed', 'failed', 'cancelled');

CREATE TABLE continuum_journal (
    run_id TEXT NOT NULL REFERENCES continuum_runs (id) ON DELETE CASCADE,
    seq INTEGER NOT NULL,
    kind TEXT NOT NULL,
    name TEXT NOT NULL,
    payload TEXT,
    recorded_at REAL NOT NULL,
    PRIMARY KEY (run_id, seq)
) WITHOUT ROWID;

CREATE TABLE continuum_signals (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    run_id TEXT NOT NULL REFERENCES continuum_runs (id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    payload TEXT,
    sent_at REAL NOT NULL,
    consumed_seq INTEGER,
    -- Given by the sender; a repeated delivery to the same run is dropped.
    delivery_id TEXT
);

CREATE INDEX continuum_signals_pending ON continuum_signals (run_id, id)
    WHERE consumed_seq IS NULL;
-- Whole, not partial: beside refusing a repeated delivery id (NULLs are distinct) it
-- is the index on run_id that deleting a run's signals (the cascade) looks them up by.
CREATE UNIQUE INDEX continuum_signals_delivery ON continuum_signals (run_id, delivery_id);

CREATE TABLE continuum_workflow_versions (
    workflow TEXT NOT NULL,
    version_hash TEXT NOT NULL,
    version INTEGER NOT NULL,
    module TEXT NOT NULL,
    qualname TEXT NOT NULL,
    first_seen_at REAL NOT NULL,
    last_seen_at REAL NOT NULL,
    -- the class statement, for versions restore and diff
    source TEXT,
    PRIMARY KEY (workflow, version_hash)
);

CREATE TABLE continuum_workflow_version_nodes (
    workflow TEXT NOT NULL,
    version_hash TEXT NOT NULL,
    instance TEXT NOT NULL,
    node TEXT NOT NULL,
    loaded_at REAL NOT NULL,
    last_seen_at REAL NOT NULL,
    -- it executes runs (a client with dispatch=False does not)
    dispatching INTEGER NOT NULL DEFAULT 1,
    -- it has the version from a frozen file
    frozen INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (workflow, version_hash, instance, node),
    FOREIGN KEY (workflow, version_hash)
        REFERENCES continuum_workflow_versions (workflow, version_hash) ON DELETE CASCADE
);

-- Patch markers, for the drain report's patch usage.
CREATE INDEX continuum_journal_patches ON continuum_journal (name, run_id) WHERE kind = 'patch';

-- Each node's heartbeat (the observer's node list; `health`).
CREATE TABLE continuum_nodes (
    instance TEXT NOT NULL,
    node TEXT NOT NULL,
    hostname TEXT NOT NULL,
    pid INTEGER NOT NULL,
    started_at REAL NOT NULL,
    heartbeat_at REAL NOT NULL,
    dispatching INTEGER NOT NULL,
    concurrency INTEGER NOT NULL,
    in_flight INTEGER NOT NULL,
    -- "listening", "reconnecting", "polling" or "off"
    listener TEXT NOT NULL,
    PRIMARY KEY (instance, node)
);

-- Schedules (continuum.schedules): each starts a run of `workflow` at its ticks.
CREATE TABLE continuum_schedules (
    id TEXT PRIMARY KEY,
    workflow TEXT NOT NULL,
    input TEXT NOT NULL,
    -- When it ticks: a cron expression (read in `timezone`), an interval (ticks at
    -- whole multiples of it since the epoch), or one time (a one-off).
    cron TEXT,
    interval_seconds REAL,
    run_at REAL,
    timezone TEXT NOT NULL,
    overlap TEXT NOT NULL,
    catch_up TEXT NOT NULL,
    paused INTEGER NOT NULL DEFAULT 0,
    -- The tick to fire next; NULL once a one-off has fired.
    next_tick REAL,
    last_tick REAL,
    last_run_id TEXT,
    -- Moved on by every change: a firing compares and sets it, so one node fires a tick.
    revision INTEGER NOT NULL DEFAULT 0,
    created_at REAL NOT NULL,
    updated_at REAL NOT NULL,
    CHECK ((cron IS NOT NULL) + (interval_seconds IS NOT NULL) + (run_at IS NOT NULL) = 1)
);

-- What is due next, among schedules that are not paused.
CREATE INDEX continuum_schedules_due ON continuum_schedules (next_tick) WHERE paused = 0;
