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
-- A new run, pending and due; or, with :lease_to, already leased to the node
-- that started it (it runs the run itself, with no separate claim).
INSERT INTO continuum_runs
    (id, workflow, version_hash, version, status, input, available_at, lease_owner,
     lease_token, lease_nonce, lease_expires_at, created_at, updated_at)
VALUES (:run_id, :workflow, :version_hash, :version,
        CASE WHEN :lease_to IS NULL THEN 'pending' ELSE 'running' END, :input_json,
        CASE WHEN :lease_to IS NULL THEN :now END, :lease_to,
        CASE WHEN :lease_to IS NULL THEN 0 ELSE 1 END,
        CASE WHEN :lease_to IS NULL THEN 0 ELSE :nonce END,
        CASE WHEN :lease_to IS NOT NULL THEN :now + :lease_seconds END,
        :now, :now)
ON CONFLICT (id) DO NOTHING;

-- name: get_run
SELECT * FROM continuum_runs WHERE id = :run_id;

-- name: list_runs
SELECT * FROM continuum_runs
WHERE (:status IS NULL OR status = :status) AND (:workflow IS NULL OR workflow = :workflow)
  AND (:version_hash IS NULL OR version_hash = :version_hash)
ORDER BY created_at DESC, id DESC
LIMIT :limit;

-- name: cancel_run
UPDATE continuum_runs
SET status = 'cancelled', lease_owner = NULL, lease_expires_at = NULL, available_at = NULL,
    updated_at = :now
WHERE id = :run_id AND status NOT IN ('completed', 'failed', 'cancelled')
RETURNING *;

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
SELECT id, status = 'pending' AS fresh FROM (
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
