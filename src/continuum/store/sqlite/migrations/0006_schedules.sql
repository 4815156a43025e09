-- Schedules: one-offs, intervals and cron expressions that start runs at their ticks.
CREATE TABLE continuum_schedules (
    id TEXT PRIMARY KEY,
    workflow TEXT NOT NULL,
    input TEXT NOT NULL,
    cron TEXT,
    interval_seconds REAL,
    run_at REAL,
    timezone TEXT NOT NULL,
    overlap TEXT NOT NULL,
    catch_up TEXT NOT NULL,
    paused INTEGER NOT NULL DEFAULT 0,
    next_tick REAL,
    last_tick REAL,
    last_run_id TEXT,
    revision INTEGER NOT NULL DEFAULT 0,
    created_at REAL NOT NULL,
    updated_at REAL NOT NULL,
    CHECK ((cron IS NOT NULL) + (interval_seconds IS NOT NULL) + (run_at IS NOT NULL) = 1)
);

CREATE INDEX continuum_schedules_due ON continuum_schedules (next_tick) WHERE paused = 0;
