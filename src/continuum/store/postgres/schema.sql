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
    lease_nonce bigint NOT NULL DEFAULT 0
);

-- Claims read only these two partial indexes, so their cost does not grow with
-- the number of runs that are waiting for a signal, sleeping far ahead, or done.
CREATE INDEX continuum_runs_due ON continuum_runs (available_at)
    WHERE status IN ('pending', 'suspended');
CREATE INDEX continuum_runs_leased ON continuum_runs (lease_expires_at)
    WHERE status = 'running';
CREATE INDEX continuum_runs_by_status ON continuum_runs (status, created_at);
CREATE INDEX continuum_runs_by_workflow ON continuum_runs (workflow, version_hash);

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
CREATE UNIQUE INDEX continuum_signals_delivery ON continuum_signals (run_id, delivery_id)
    WHERE delivery_id IS NOT NULL;

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
