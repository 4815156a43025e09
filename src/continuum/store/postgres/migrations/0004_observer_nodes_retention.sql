-- What the observer, `health` and `prune` read: the trace context a run was started
-- in, a heartbeat row per node, and indexes that keep run lists (newest first, by
-- keyset), the activity chart and pruning fast at millions of runs. The signals'
-- delivery index becomes whole, so that deleting a run finds its signals by run_id.
ALTER TABLE continuum_runs ADD COLUMN trace_context text;

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
    instance text NOT NULL,
    node text NOT NULL,
    hostname text NOT NULL,
    pid integer NOT NULL,
    started_at timestamptz NOT NULL,
    heartbeat_at timestamptz NOT NULL,
    dispatching boolean NOT NULL,
    concurrency integer NOT NULL,
    in_flight integer NOT NULL,
    listener text NOT NULL,
    PRIMARY KEY (instance, node)
);
