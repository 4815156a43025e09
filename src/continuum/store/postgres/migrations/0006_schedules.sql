-- Schedules: one-offs, intervals and cron expressions that start runs at their ticks.
CREATE TABLE continuum_schedules (
    id text PRIMARY KEY,
    workflow text NOT NULL,
    input json NOT NULL,
    cron text,
    interval_seconds float8,
    run_at timestamptz,
    timezone text NOT NULL,
    overlap text NOT NULL,
    catch_up text NOT NULL,
    paused boolean NOT NULL DEFAULT false,
    next_tick timestamptz,
    last_tick timestamptz,
    last_run_id text,
    revision bigint NOT NULL DEFAULT 0,
    created_at timestamptz NOT NULL,
    updated_at timestamptz NOT NULL,
    CHECK (num_nonnulls(cron, interval_seconds, run_at) = 1)
);

CREATE INDEX continuum_schedules_due ON continuum_schedules (next_tick) WHERE NOT paused;
