-- The whole schema, as a fresh install creates it. Migrations bring older
-- databases to exactly this; a test proves it.

CREATE TABLE continuum_runs (
    id text PRIMARY KEY,
    workflow text NOT NULL,
    version_hash text NOT NULL,
    version integer NOT NULL,
    status text NOT NULL CHECK (status IN (
        'pending', 'running', 'suspended', 'completed', 'failed', 'cancelled',
        'stuck_unknown_version')),
    input json,
    output json,
    error json,
    -- When a waiting run becomes due; NULL while it waits only for a signal.
    available_at timestamptz,
    lease_owner text,
    -- Incremented by every claim: the fencing token of the current attempt.
    lease_token bigint NOT NULL DEFAULT 0,
    lease_expires_at timestamptz,
    created_at timestamptz NOT NULL,
    updated_at timestamptz NOT NULL,
    -- Drawn at random by every claim and compared by the fence beside the token:
    -- a claim lost in a server crash is never handed out again.
    lease_nonce bigint NOT NULL DEFAULT 0,
    -- Opaque: what a tracing bridge captured where the run was started.
    trace_context text,
    -- A child run's parent, and whether cancelling the parent cancels it.
    parent_run_id text,
    cancel_with_parent boolean,
    -- continue_as_new: the run this one continues, and the one that continues it.
    continued_from text,
    continued_to text,
    -- Searchable metadata set by whoever starts or operates the run (a JSON object).
    attributes jsonb,
    -- A workflow declared on_cancel="unwind": cancelling asks it to unwind (when), rather
    -- than ending it at once.
    unwind_on_cancel boolean,
    cancel_requested_at timestamptz,
    -- The signals a suspended run waits for: a child that ends wakes its parent only
    -- when the parent waits for it.
    waiting_for text[]
);

-- Claims read only these two partial indexes, so their cost does not grow with
-- the number of runs that are waiting for a signal, sleeping far ahead, or done.
CREATE INDEX continuum_runs_due ON continuum_runs (available_at)
    WHERE status IN ('pending', 'suspended');
CREATE INDEX continuum_runs_leased ON continuum_runs (lease_expires_at)
    WHERE status = 'running';
-- Run lists, newest first by keyset: an ordered range scan per status, or per version,
-- whatever the filter (see query_runs). No index on (created_at, id) alone: a list of
-- all runs is one scan per status, merged, and every non-HOT update of a run would
-- write it. The workflow index also serves the registry's checks of a version's runs.
CREATE INDEX continuum_runs_by_status ON continuum_runs (status, created_at, id);
CREATE INDEX continuum_runs_by_workflow ON continuum_runs (workflow, version_hash, created_at, id);
-- A parent's children, newest first (run lists), and the cancel cascade.
CREATE INDEX continuum_runs_children ON continuum_runs (parent_run_id, created_at, id)
    WHERE parent_run_id IS NOT NULL;
-- Attribute filters (`@>`): only runs that have attributes are indexed.
CREATE INDEX continuum_runs_attributes ON continuum_runs USING gin (attributes jsonb_path_ops)
    WHERE attributes IS NOT NULL;
-- Ended runs by when they ended: pruning (oldest first) and the activity chart. Each
-- run enters it once, when it ends.
CREATE INDEX continuum_runs_ended ON continuum_runs (updated_at)
    WHERE status IN ('completed', 'failed', 'cancelled');
-- The same per workflow: retention prunes one workflow at a time, and would otherwise
-- read past every other workflow's old runs on each look.
CREATE INDEX continuum_runs_ended_by_workflow ON continuum_runs (workflow, updated_at)
    WHERE status IN ('completed', 'failed', 'cancelled');

CREATE TABLE continuum_journal (
    run_id text NOT NULL REFERENCES continuum_runs (id) ON DELETE CASCADE,
    seq integer NOT NULL,
    kind text NOT NULL,
    name text NOT NULL,
    payload json,
    recorded_at timestamptz NOT NULL,
    PRIMARY KEY (run_id, seq)
);

CREATE TABLE continuum_signals (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    run_id text NOT NULL REFERENCES continuum_runs (id) ON DELETE CASCADE,
    name text NOT NULL,
    payload json,
    sent_at timestamptz NOT NULL,
    consumed_seq integer,
    -- Given by the sender; a repeated delivery to the same run is dropped.
    delivery_id text
);

CREATE INDEX continuum_signals_pending ON continuum_signals (run_id, id)
    WHERE consumed_seq IS NULL;
-- Whole, not partial: beside refusing a repeated delivery id (NULLs are distinct) it
-- is the index on run_id that deleting a run's signals (the cascade) looks them up by.
CREATE UNIQUE INDEX continuum_signals_delivery ON continuum_signals (run_id, delivery_id);

CREATE TABLE continuum_workflow_versions (
    workflow text NOT NULL,
    version_hash text NOT NULL,
    version integer NOT NULL,
    module text NOT NULL,
    qualname text NOT NULL,
    first_seen_at timestamptz NOT NULL,
    last_seen_at timestamptz NOT NULL,
    -- the class statement, for versions restore and diff
    source text,
    PRIMARY KEY (workflow, version_hash)
);

CREATE TABLE continuum_workflow_version_nodes (
    workflow text NOT NULL,
    version_hash text NOT NULL,
    instance text NOT NULL,
    node text NOT NULL,
    loaded_at timestamptz NOT NULL,
    last_seen_at timestamptz NOT NULL,
    -- it executes runs (a client with dispatch=False does not)
    dispatching boolean NOT NULL DEFAULT true,
    -- it has the version from a frozen file
    frozen boolean NOT NULL DEFAULT false,
    PRIMARY KEY (workflow, version_hash, instance, node),
    FOREIGN KEY (workflow, version_hash)
        REFERENCES continuum_workflow_versions (workflow, version_hash) ON DELETE CASCADE
);

-- Patch markers, for the drain report's patch usage.
CREATE INDEX continuum_journal_patches ON continuum_journal (name, run_id) WHERE kind = 'patch';

-- Each node's heartbeat (the observer's node list; `health`).
CREATE TABLE continuum_nodes (
    instance text NOT NULL,
    node text NOT NULL,
    hostname text NOT NULL,
    pid integer NOT NULL,
    started_at timestamptz NOT NULL,
    heartbeat_at timestamptz NOT NULL,
    dispatching boolean NOT NULL,
    concurrency integer NOT NULL,
    in_flight integer NOT NULL,
    -- "listening", "reconnecting", "polling" or "off"
    listener text NOT NULL,
    PRIMARY KEY (instance, node)
);

-- Schedules (continuum.schedules): each starts a run of `workflow` at its ticks.
CREATE TABLE continuum_schedules (
    id text PRIMARY KEY,
    workflow text NOT NULL,
    input json NOT NULL,
    -- When it ticks: a cron expression (read in `timezone`), an interval (ticks at
    -- whole multiples of it since the epoch), or one time (a one-off).
    cron text,
    interval_seconds float8,
    run_at timestamptz,
    timezone text NOT NULL,
    overlap text NOT NULL,
    catch_up text NOT NULL,
    paused boolean NOT NULL DEFAULT false,
    -- The tick to fire next; NULL once a one-off has fired.
    next_tick timestamptz,
    last_tick timestamptz,
    last_run_id text,
    -- Moved on by every change: a firing compares and sets it, so one node fires a tick.
    revision bigint NOT NULL DEFAULT 0,
    created_at timestamptz NOT NULL,
    updated_at timestamptz NOT NULL,
    CHECK (num_nonnulls(cron, interval_seconds, run_at) = 1)
);

-- What is due next, among schedules that are not paused.
CREATE INDEX continuum_schedules_due ON continuum_schedules (next_tick) WHERE NOT paused;
