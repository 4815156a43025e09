-- What the observer, `health` and `prune` read: the trace context a run was started
-- in, a heartbeat row per node, and indexes for run lists (newest first, by keyset),
-- the activity chart and pruning. The signals' delivery index becomes whole, so that
-- deleting a run finds its signals by run_id.
ALTER TABLE continuum_runs ADD COLUMN trace_context TEXT;

CREATE INDEX continuum_runs_newest ON continuum_runs (created_at, id);
DROP INDEX continuum_runs_by_status;
CREATE INDEX continuum_runs_by_status ON continuum_runs (status, created_at, id);
DROP INDEX continuum_runs_by_workflow;
CREATE INDEX continuum_runs_by_workflow ON continuum_runs (workflow, version_hash, created_at, id);
CREATE INDEX continuum_runs_ended ON continuum_runs (updated_at)
    WHERE status IN ('completed', 'failed', 'cancelled');
CREATE INDEX continuum_runs_ended_by_workflow ON continuum_runs (workflow, updated_at)
    WHERE status IN ('completed', 'failed', 'cancelled');

DROP INDEX continuum_signals_delivery;
CREATE UNIQUE INDEX continuum_signals_delivery ON continuum_signals (run_id, delivery_id);

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
    listener TEXT NOT NULL,
    PRIMARY KEY (instance, node)
);
