-- All SQL of the SQLite backend. Parameters are named; nothing is formatted in.
-- :versions is a JSON array of [workflow, version_hash] pairs.

-- name: create_migrations_table
CREATE TABLE IF NOT EXISTS continuum_schema_migrations (
    version INTEGER PRIMARY KEY,
    name TEXT NOT NULL,
    applied_at REAL NOT NULL DEFAULT ((julianday('now') - 2440587.5) * 86400.0)
);

-- name: applied_migrations
SELECT version FROM continuum_schema_migrations ORDER BY version;

-- name: record_migration
INSERT INTO continuum_schema_migrations (version, name) VALUES (:version, :name);

-- name: has_migrations_table
-- An empty database has none yet: its schema version is 0.
SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = 'continuum_schema_migrations';

-- name: schema_version
SELECT coalesce(max(version), 0) FROM continuum_schema_migrations;

-- name: insert_run
-- A new run, pending and due (at :start_at if given); or, with :lease_to, already
-- leased to the node that started it (it runs the run itself, with no separate claim).
INSERT INTO continuum_runs
    (id, workflow, version_hash, version, status, input, available_at, lease_owner,
     lease_token, lease_nonce, lease_expires_at, created_at, updated_at, trace_context,
     parent_run_id, cancel_with_parent, continued_from, attributes, unwind_on_cancel)
VALUES (:run_id, :workflow, :version_hash, :version,
        CASE WHEN :lease_to IS NULL THEN 'pending' ELSE 'running' END, :input_json,
        CASE WHEN :lease_to IS NULL THEN coalesce(:start_at, :now) END, :lease_to,
        CASE WHEN :lease_to IS NULL THEN 0 ELSE 1 END,
        CASE WHEN :lease_to IS NULL THEN 0 ELSE :nonce END,
        CASE WHEN :lease_to IS NOT NULL THEN :now + :lease_seconds END,
        :now, :now, :trace_context,
        :parent_run_id, :cancel_with_parent, :continued_from, :attributes, :unwind_on_cancel)
ON CONFLICT (id) DO NOTHING;

-- name: get_run
SELECT * FROM continuum_runs WHERE id = :run_id;

-- name: cancel_run
-- The run, unless it ended; cancel_children then takes its descendants.
UPDATE continuum_runs
SET status = 'cancelled', lease_owner = NULL, lease_expires_at = NULL, available_at = NULL,
    waiting_for = NULL, updated_at = :now
WHERE id = :run_id AND status NOT IN ('completed', 'failed', 'cancelled')
RETURNING *;

-- name: request_cancel
-- A live run started unwind_on_cancel, not asked before: asked now, and due (a running
-- one is marked, so that its suspension wakes it again). It ends by itself.
UPDATE continuum_runs SET cancel_requested_at = :now, available_at = :now, updated_at = :now
WHERE id = :run_id AND unwind_on_cancel = 1 AND cancel_requested_at IS NULL
  AND status NOT IN ('completed', 'failed', 'cancelled')
RETURNING *;

-- name: cancel_children
-- A run ended cancelled (cancel_run, or its own write after unwinding): so does every
-- live descendant started to be cancelled with its parent (a child started with
-- on_parent_cancel="abandon", and its own children, are left).
WITH RECURSIVE doomed (id) AS (
    SELECT id FROM continuum_runs
    WHERE parent_run_id = :run_id AND cancel_with_parent = 1
      AND status NOT IN ('completed', 'failed', 'cancelled')
    UNION ALL
    SELECT c.id FROM continuum_runs AS c JOIN doomed ON c.parent_run_id = doomed.id
    WHERE c.cancel_with_parent = 1 AND c.status NOT IN ('completed', 'failed', 'cancelled')
)
UPDATE continuum_runs
SET status = 'cancelled', lease_owner = NULL, lease_expires_at = NULL, available_at = NULL,
    waiting_for = NULL, updated_at = :now
WHERE id IN (SELECT id FROM doomed)
RETURNING *;

-- name: notify_parent
-- A child ended: its parent, while live, is told in a signal named for the child
-- (:name) whose payload says how it ended. Kept once (the name is also the delivery id).
INSERT INTO continuum_signals (run_id, name, payload, sent_at, delivery_id)
SELECT p.id, :name,
       json_object('run_id', c.id, 'status', c.status, 'output', json(c.output),
                   'error', json(c.error), 'continued_to', c.continued_to),
       :now, :name
FROM continuum_runs AS c JOIN continuum_runs AS p ON p.id = c.parent_run_id
WHERE c.id = :run_id AND p.status NOT IN ('completed', 'failed', 'cancelled')
ON CONFLICT DO NOTHING;

-- name: wake_parent
-- After notify_parent: a suspended parent becomes due only if it waits for this child
-- (a parent of thousands is not woken by each); a running one is marked, as a signal
-- marks it, so that its suspension looks again.
UPDATE continuum_runs SET available_at = :now, updated_at = :now
WHERE id = :parent_run_id
  AND (status = 'running'
       OR (status = 'suspended' AND :name IN (SELECT value FROM json_each(waiting_for))));

-- name: set_attributes
-- Merged into what the run has: a key set to null is removed.
UPDATE continuum_runs SET attributes = json_patch(coalesce(attributes, '{}'), :attributes)
WHERE id = :run_id
RETURNING attributes;

-- name: children
SELECT id FROM continuum_runs WHERE parent_run_id = :run_id ORDER BY created_at, id;

-- name: signal_delivered
SELECT 1 FROM continuum_signals WHERE run_id = :run_id AND delivery_id = :delivery_id;

-- name: run_status
SELECT status FROM continuum_runs WHERE id = :run_id;

-- name: insert_signal
INSERT INTO continuum_signals (run_id, name, payload, sent_at, delivery_id)
VALUES (:run_id, :name, :payload, :now, :delivery_id);

-- name: wake_for_signal
-- Sets available_at on a live run: a suspended run becomes due, and a running
-- one is marked so that its suspension wakes it again (claims clear the mark).
UPDATE continuum_runs SET available_at = :now, updated_at = :now
WHERE id = :run_id AND status NOT IN ('completed', 'failed', 'cancelled');

-- name: claim_choose
-- Due runs, oldest due first. :known = 1 takes runs of the listed versions,
-- :known = 0 runs of any other. Run in the same write transaction as claim_take.
-- `fresh`: the run was pending, so it never ran and has no journal to read.
SELECT id, status = 'pending' AS fresh, due FROM (
    SELECT id, available_at AS due FROM continuum_runs
    WHERE status IN ('pending', 'suspended') AND available_at <= :now
    UNION ALL
    SELECT id, lease_expires_at AS due FROM continuum_runs
    WHERE status = 'running' AND lease_expires_at <= :now
) AS due_runs
JOIN continuum_runs USING (id)
WHERE ((workflow, version_hash) IN (
    SELECT json_extract(value, '$[0]'), json_extract(value, '$[1]') FROM json_each(:versions)
)) = :known
ORDER BY due
LIMIT :limit;

-- name: claim_take
UPDATE continuum_runs
SET status = 'running', lease_owner = :node, lease_token = lease_token + 1,
    lease_nonce = :nonce, lease_expires_at = :now + :lease_seconds, updated_at = :now, available_at = NULL
WHERE id IN (SELECT value FROM json_each(:ids))
RETURNING *;

-- name: next_due
SELECT min(due) FROM (
    SELECT available_at AS due, workflow, version_hash FROM continuum_runs
    WHERE status IN ('pending', 'suspended') AND available_at IS NOT NULL
    UNION ALL
    SELECT lease_expires_at, workflow, version_hash FROM continuum_runs
    WHERE status = 'running'
)
WHERE (workflow, version_hash) IN (
    SELECT json_extract(value, '$[0]'), json_extract(value, '$[1]') FROM json_each(:versions));

-- name: renew_leases
UPDATE continuum_runs SET lease_expires_at = :now + :lease_seconds
WHERE status = 'running' AND lease_expires_at > :now
  AND (id, lease_token, lease_nonce, lease_owner) IN (
    SELECT json_extract(value, '$[0]'), json_extract(value, '$[1]'), json_extract(value, '$[2]'),
           json_extract(value, '$[3]')
    FROM json_each(:leases))
RETURNING id, lease_token, lease_nonce;

-- name: fence
-- Every attempt write starts here. The write lock is held from BEGIN IMMEDIATE,
-- so nothing can change the run between this check and the writes that follow it.
SELECT 1 FROM continuum_runs
WHERE id = :run_id AND lease_token = :token AND lease_nonce = :nonce AND status = 'running'
  AND lease_expires_at > :now;

-- name: journal
SELECT seq, kind, name, payload FROM continuum_journal
WHERE run_id = :run_id ORDER BY seq;

-- name: journal_with_times
SELECT seq, kind, name, payload, recorded_at FROM continuum_journal
WHERE run_id = :run_id ORDER BY seq;

-- name: pending_signals
SELECT id, name, payload, sent_at FROM continuum_signals
WHERE run_id = :run_id AND consumed_seq IS NULL ORDER BY id;

-- name: write_entry
INSERT INTO continuum_journal (run_id, seq, kind, name, payload, recorded_at)
VALUES (:run_id, :seq, :kind, :name, :payload, :now)
ON CONFLICT (run_id, seq) DO UPDATE
SET kind = excluded.kind, name = excluded.name, payload = excluded.payload,
    recorded_at = excluded.recorded_at;

-- name: consume_signal
UPDATE continuum_signals SET consumed_seq = :seq
WHERE id = :signal_id AND run_id = :run_id AND consumed_seq IS NULL;

-- name: stop
-- The attempt stops, after `fence` under the same write lock: the run ends
-- (:outcome 'completed' or 'failed', with :output or :error) or is suspended. A
-- suspension is due at :wake_at, or at once when a signal named in :wake_on (a JSON
-- array) is pending, or when any signal arrived during the attempt (available_at,
-- set by wake_for_signal and cleared by claims). Signals this write takes are
-- consumed by then, so they do not count.
UPDATE continuum_runs
SET status = :outcome, output = :output, error = :error, lease_owner = NULL,
    lease_expires_at = NULL, updated_at = :now,
    waiting_for = CASE WHEN :outcome = 'suspended' THEN :wake_on END,
    continued_to = :continued_to,
    available_at = CASE WHEN :outcome = 'suspended' THEN CASE
        WHEN available_at IS NOT NULL OR EXISTS (
            SELECT 1 FROM continuum_signals
            WHERE run_id = :run_id AND consumed_seq IS NULL
              AND name IN (SELECT value FROM json_each(:wake_on)))
        THEN :now
        ELSE :wake_at
    END END
WHERE id = :run_id;

-- name: release
UPDATE continuum_runs
SET status = 'suspended', lease_owner = NULL, lease_expires_at = NULL,
    available_at = :now + :delay, updated_at = :now
WHERE id = :run_id AND lease_token = :token AND lease_nonce = :nonce AND status = 'running';

-- name: upsert_version
-- A source already kept stays when a node registers the version without one.
INSERT INTO continuum_workflow_versions
    (workflow, version_hash, version, module, qualname, source, first_seen_at, last_seen_at)
VALUES (:workflow, :version_hash, :version, :module, :qualname, :source, :now, :now)
ON CONFLICT (workflow, version_hash) DO UPDATE
SET version = excluded.version, module = excluded.module, qualname = excluded.qualname,
    source = coalesce(excluded.source, continuum_workflow_versions.source),
    last_seen_at = excluded.last_seen_at;

-- name: upsert_version_node
INSERT INTO continuum_workflow_version_nodes
    (workflow, version_hash, instance, node, loaded_at, last_seen_at, dispatching, frozen)
VALUES (:workflow, :version_hash, :instance, :node, :now, :now, :dispatching, :frozen)
ON CONFLICT (workflow, version_hash, instance, node) DO UPDATE
SET last_seen_at = excluded.last_seen_at, dispatching = excluded.dispatching,
    frozen = excluded.frozen;

-- name: unstick_runs
UPDATE continuum_runs SET status = 'suspended', available_at = :now, updated_at = :now
WHERE status = 'stuck_unknown_version' AND workflow = :workflow AND version_hash = :version_hash;

-- name: unregister_node
DELETE FROM continuum_workflow_version_nodes WHERE instance = :instance AND node = :node;

-- name: list_versions
SELECT workflow, version_hash, version, module, qualname, first_seen_at, last_seen_at
FROM continuum_workflow_versions ORDER BY workflow, first_seen_at;

-- name: list_version_nodes
SELECT workflow, version_hash, instance, node, last_seen_at, dispatching, frozen
FROM continuum_workflow_version_nodes ORDER BY instance, node;

-- name: version_source
SELECT source FROM continuum_workflow_versions
WHERE workflow = :workflow AND version_hash = :version_hash;

-- name: version_usage
SELECT workflow, version_hash, status, count(*),
       min(CASE WHEN status NOT IN ('completed', 'failed', 'cancelled') THEN created_at END)
FROM continuum_runs
GROUP BY workflow, version_hash, status
ORDER BY workflow, version_hash, status;

-- name: patch_usage
WITH patches AS (
    SELECT DISTINCT r.workflow, j.name AS patch_id
    FROM continuum_journal AS j JOIN continuum_runs AS r ON r.id = j.run_id
    WHERE j.kind = 'patch'
), marked AS (
    SELECT p.workflow, p.patch_id, EXISTS (
        SELECT 1 FROM continuum_journal AS j
        WHERE j.run_id = r.id AND j.kind = 'patch' AND j.name = p.patch_id) AS has
    FROM patches AS p JOIN continuum_runs AS r ON r.workflow = p.workflow
    WHERE r.status NOT IN ('completed', 'failed', 'cancelled')
)
SELECT p.workflow, p.patch_id, coalesce(sum(m.has = 1), 0), coalesce(sum(m.has = 0), 0)
FROM patches AS p LEFT JOIN marked AS m ON m.workflow = p.workflow AND m.patch_id = p.patch_id
GROUP BY p.workflow, p.patch_id
ORDER BY p.workflow, p.patch_id;

-- name: delete_version
-- The holders' rows go with it (ON DELETE CASCADE).
DELETE FROM continuum_workflow_versions
WHERE workflow = :workflow AND version_hash = :version_hash
  AND NOT EXISTS (
      SELECT 1 FROM continuum_runs AS r
      WHERE r.workflow = :workflow AND r.version_hash = :version_hash
        AND r.status NOT IN ('completed', 'failed', 'cancelled'));

-- name: repin_run
-- Only a run still exactly as it was checked: a claim, signal or cancel since wins.
UPDATE continuum_runs
SET version_hash = :to_hash, version = :to_version, updated_at = :now
WHERE id = :run_id AND version_hash = :from_hash AND status = 'suspended'
  AND lease_token = :lease_token AND updated_at = :updated_at;

-- name: query_runs
-- A page of runs, newest first, after the keyset cursor (created_at, id): a range scan
-- of an index that starts where the last page ended. Each line that begins with AND is
-- one filter, kept only when the query has it (run_query.compose), so that each
-- combination is planned for the filters it has. One status is :status, which reads
-- (status, created_at, id) in order however rare the status; several are :statuses, a
-- JSON array.
SELECT * FROM continuum_runs
WHERE true
AND id = :run_id
AND status = :status
AND status IN (SELECT value FROM json_each(:statuses))
AND workflow = :workflow
AND version_hash = :version_hash
AND parent_run_id = :parent_run_id
AND NOT EXISTS (SELECT 1 FROM json_each(:attributes) AS want WHERE NOT EXISTS (SELECT 1 FROM json_each(continuum_runs.attributes) AS have WHERE have.key = want.key AND have.type = want.type AND have.atom IS want.atom))
AND created_at >= :created_after
AND created_at < :created_before
AND (created_at, id) < (:after_created_at, :after_id)
ORDER BY created_at DESC, id DESC
LIMIT :limit;

-- name: run_activity
-- Runs started and runs ended per bucket k of :width seconds from :since (bucket k
-- starts at since + k * width; a cast truncates, which is floor for times after
-- :since). Buckets with nothing in them have no row. The ended runs are read through
-- their index (INDEXED BY: without statistics SQLite would read the status index).
WITH started AS (
    SELECT CAST((created_at - :since) / :width AS INTEGER) AS k, count(*) AS started
    FROM continuum_runs
    WHERE created_at >= :since
    GROUP BY 1
), ended AS (
    SELECT CAST((updated_at - :since) / :width AS INTEGER) AS k,
           sum(status = 'completed') AS completed, sum(status = 'failed') AS failed,
           sum(status = 'cancelled') AS cancelled
    FROM continuum_runs INDEXED BY continuum_runs_ended
    WHERE status IN ('completed', 'failed', 'cancelled') AND updated_at >= :since
    GROUP BY 1
), buckets AS (
    SELECT k FROM started UNION SELECT k FROM ended
)
SELECT buckets.k, coalesce(started.started, 0), coalesce(ended.completed, 0),
       coalesce(ended.failed, 0), coalesce(ended.cancelled, 0)
FROM buckets
LEFT JOIN started ON started.k = buckets.k
LEFT JOIN ended ON ended.k = buckets.k
ORDER BY buckets.k;

-- name: list_signals
SELECT id, name, payload, sent_at, consumed_seq, delivery_id
FROM continuum_signals WHERE run_id = :run_id ORDER BY id;

-- name: forget_silent_nodes
-- Nodes silent for a week (seven days of seconds), other than the one beating.
DELETE FROM continuum_nodes
WHERE heartbeat_at < :now - 604800 AND NOT (instance = :instance AND node = :node);

-- name: heartbeat_node
-- This node's row. started_at stays while the same process (hostname and pid) beats
-- under the name.
INSERT INTO continuum_nodes AS n
    (instance, node, hostname, pid, started_at, heartbeat_at, dispatching, concurrency,
     in_flight, listener)
VALUES (:instance, :node, :hostname, :pid, :now, :now, :dispatching, :concurrency,
        :in_flight, :listener)
ON CONFLICT (instance, node) DO UPDATE
SET started_at = CASE WHEN n.hostname = excluded.hostname AND n.pid = excluded.pid
                      THEN n.started_at ELSE excluded.started_at END,
    hostname = excluded.hostname, pid = excluded.pid, heartbeat_at = excluded.heartbeat_at,
    dispatching = excluded.dispatching, concurrency = excluded.concurrency,
    in_flight = excluded.in_flight, listener = excluded.listener;

-- name: list_nodes
SELECT instance, node, hostname, pid, started_at, heartbeat_at, dispatching, concurrency,
       in_flight, listener
FROM continuum_nodes
ORDER BY heartbeat_at DESC, instance, node;

-- name: unregister_heartbeat
DELETE FROM continuum_nodes WHERE instance = :instance AND node = :node;

-- name: store_health
-- What needs attention, in one read: expired leases nobody recovered, waiting runs
-- long overdue and the oldest due one, and per version the live runs no node seen
-- lately holds for dispatching. Lists come as JSON.
WITH expired AS (
    SELECT id, lease_expires_at FROM continuum_runs
    WHERE status = 'running' AND lease_expires_at < :now - :grace
), overdue AS (
    SELECT id, available_at FROM continuum_runs
    WHERE status IN ('pending', 'suspended') AND available_at < :now - :overdue_after
), live AS (
    SELECT workflow, version_hash, count(*) AS runs FROM continuum_runs
    WHERE status IN ('pending', 'running', 'suspended', 'stuck_unknown_version')
    GROUP BY workflow, version_hash
), stranded AS (
    SELECT * FROM live
    WHERE NOT EXISTS (
        SELECT 1 FROM continuum_workflow_version_nodes AS h
        WHERE h.workflow = live.workflow AND h.version_hash = live.version_hash
          AND h.dispatching AND h.last_seen_at >= :now - :alive_within)
    ORDER BY workflow, version_hash
)
SELECT (SELECT count(*) FROM expired),
       (SELECT json_group_array(id) FROM (
            SELECT id FROM expired ORDER BY lease_expires_at, id LIMIT :examples)),
       (SELECT count(*) FROM overdue),
       (SELECT json_group_array(id) FROM (
            SELECT id FROM overdue ORDER BY available_at, id LIMIT :examples)),
       (SELECT min(available_at) FROM continuum_runs
        WHERE status IN ('pending', 'suspended') AND available_at <= :now),
       (SELECT json_group_array(json_array(workflow, version_hash, runs)) FROM stranded);

-- name: due_backlog
SELECT count(*), min(available_at) FROM continuum_runs
WHERE status IN ('pending', 'suspended') AND available_at <= :now;

-- name: prune_runs
-- Deletes up to :limit runs that ended before :finished_before, oldest first, through
-- the index of ended runs; their journals and signals go with them (ON DELETE CASCADE).
-- INDEXED BY: without statistics (ANALYZE) SQLite would rather read the status index
-- and sort every ended run for each batch.
DELETE FROM continuum_runs WHERE id IN (
    SELECT id FROM continuum_runs INDEXED BY continuum_runs_ended
    WHERE status IN ('completed', 'failed', 'cancelled')
      AND status IN (SELECT value FROM json_each(:statuses))
      AND updated_at < :finished_before
    ORDER BY updated_at
    LIMIT :limit
);

-- name: prunable_of_workflow
-- The oldest :limit runs of one workflow that prune_runs would take, in order, from the
-- index of ended runs per workflow (retention prunes one workflow at a time).
SELECT id FROM continuum_runs INDEXED BY continuum_runs_ended_by_workflow
WHERE workflow = :workflow AND status IN ('completed', 'failed', 'cancelled')
  AND status IN (SELECT value FROM json_each(:statuses))
  AND updated_at < :finished_before
ORDER BY updated_at
LIMIT :limit;

-- name: delete_runs
-- Runs chosen by prunable_of_workflow in the same write transaction (:ids, a JSON array).
DELETE FROM continuum_runs WHERE id IN (SELECT value FROM json_each(:ids));

-- name: count_prunable
SELECT count(*) FROM continuum_runs
WHERE status IN ('completed', 'failed', 'cancelled')
AND status IN (SELECT value FROM json_each(:statuses))
AND updated_at < :finished_before
AND workflow IN (SELECT value FROM json_each(:workflows));

-- schedules ---------------------------------------------------------------------------
-- The store keeps schedule rows and answers what is due; the engine reads the cron
-- expressions and the policies. Every change compares and sets `revision`.

-- name: insert_schedule
INSERT INTO continuum_schedules
    (id, workflow, input, cron, interval_seconds, run_at, timezone, overlap, catch_up,
     next_tick, created_at, updated_at)
VALUES (:id, :workflow, :input, :cron, :interval_seconds, :run_at, :timezone, :overlap,
        :catch_up, :next_tick, :now, :now)
ON CONFLICT (id) DO NOTHING;

-- name: update_schedule
-- A new definition for the schedule as it was read (:revision); paused stays.
UPDATE continuum_schedules
SET workflow = :workflow, input = :input, cron = :cron, interval_seconds = :interval_seconds,
    run_at = :run_at, timezone = :timezone, overlap = :overlap, catch_up = :catch_up,
    next_tick = :next_tick, revision = revision + 1, updated_at = :now
WHERE id = :id AND revision = :revision;

-- name: get_schedule
SELECT s.*, r.status AS last_run_status
FROM continuum_schedules AS s LEFT JOIN continuum_runs AS r ON r.id = s.last_run_id
WHERE s.id = :id;

-- name: list_schedules
SELECT s.*, r.status AS last_run_status
FROM continuum_schedules AS s LEFT JOIN continuum_runs AS r ON r.id = s.last_run_id
ORDER BY s.id;

-- name: set_schedule_paused
UPDATE continuum_schedules
SET paused = :paused, next_tick = :next_tick, revision = revision + 1, updated_at = :now
WHERE id = :id AND revision = :revision;

-- name: delete_schedule
DELETE FROM continuum_schedules WHERE id = :id;

-- name: next_schedule
-- The earliest next tick of the schedules of :workflows (a JSON array) not paused,
-- but those of :skip (ids, a JSON array).
SELECT min(next_tick) FROM continuum_schedules
WHERE paused = 0 AND next_tick IS NOT NULL
  AND workflow IN (SELECT value FROM json_each(:workflows))
  AND id NOT IN (SELECT value FROM json_each(:skip));

-- name: due_schedules
-- Schedules of :workflows whose next tick has come, earliest first, each with the
-- status of the run of its last tick (NULL when that run is gone).
SELECT s.*, r.status AS last_run_status
FROM continuum_schedules AS s LEFT JOIN continuum_runs AS r ON r.id = s.last_run_id
WHERE s.paused = 0 AND s.next_tick <= :now
  AND s.workflow IN (SELECT value FROM json_each(:workflows))
ORDER BY s.next_tick
LIMIT :limit;

-- name: fire_schedule
-- A firing planned from :revision; in the transaction that inserts its runs (insert_run).
UPDATE continuum_schedules
SET next_tick = :next_tick, last_tick = coalesce(:last_tick, last_tick),
    last_run_id = coalesce(:last_run_id, last_run_id), revision = revision + 1,
    updated_at = :now
WHERE id = :id AND revision = :revision AND paused = 0;
