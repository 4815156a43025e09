-- All SQL of the PostgreSQL backend. Parameters are named; nothing is formatted in.
-- Versions arrive as two parallel arrays, %(workflows)s and %(hashes)s.
-- now() is the database clock: lease expiry and due times are its decision.

-- name: lock_migrations
SELECT pg_advisory_xact_lock(7206917391);

-- name: create_migrations_table
CREATE TABLE IF NOT EXISTS continuum_schema_migrations (
    version integer PRIMARY KEY,
    name text NOT NULL,
    applied_at timestamptz NOT NULL DEFAULT now()
);

-- name: applied_migrations
SELECT version FROM continuum_schema_migrations ORDER BY version;

-- name: record_migration
INSERT INTO continuum_schema_migrations (version, name) VALUES (%(version)s, %(name)s);

-- name: schema_version
SELECT coalesce(max(version), 0) FROM continuum_schema_migrations;

-- name: now
SELECT extract(epoch FROM now())::float8;

-- name: notify
SELECT pg_notify('continuum_wakeup', '');

-- name: notify_settled
SELECT pg_notify('continuum_settled', %(run_id)s);

-- name: insert_run
-- A new run, pending and due; or, with %(lease_to)s, already leased to the node
-- that started it (it runs the run itself: no notification, no separate claim).
WITH inserted AS (
    INSERT INTO continuum_runs
        (id, workflow, version_hash, version, status, input, available_at, lease_owner,
         lease_token, lease_expires_at, created_at, updated_at)
    VALUES (%(run_id)s, %(workflow)s, %(version_hash)s, %(version)s,
            CASE WHEN %(lease_to)s::text IS NULL THEN 'pending' ELSE 'running' END, %(input)s,
            CASE WHEN %(lease_to)s::text IS NULL THEN now() END, %(lease_to)s::text,
            CASE WHEN %(lease_to)s::text IS NULL THEN 0 ELSE 1 END,
            CASE WHEN %(lease_to)s::text IS NOT NULL
                 THEN now() + make_interval(secs => %(lease_seconds)s) END,
            now(), now())
    ON CONFLICT (id) DO NOTHING
    RETURNING *
), notified AS (
    SELECT pg_notify('continuum_wakeup', '') FROM inserted WHERE inserted.status = 'pending'
)
SELECT inserted.*, extract(epoch FROM now())::float8 AS db_now, (SELECT count(*) FROM notified)
FROM inserted;

-- name: get_run
SELECT * FROM continuum_runs WHERE id = %(run_id)s;

-- name: list_runs
SELECT * FROM continuum_runs
WHERE (%(status)s::text IS NULL OR status = %(status)s)
  AND (%(workflow)s::text IS NULL OR workflow = %(workflow)s)
ORDER BY created_at DESC, id DESC
LIMIT %(limit)s;

-- name: cancel_run
UPDATE continuum_runs
SET status = 'cancelled', lease_owner = NULL, lease_expires_at = NULL, available_at = NULL,
    updated_at = now()
WHERE id = %(run_id)s AND status NOT IN ('completed', 'failed', 'cancelled')
RETURNING *;

-- name: send_signal
-- Sets available_at on any live run: a suspended run becomes due, and a running
-- one is marked so that its suspension wakes it again (claims clear the mark).
WITH woken AS (
    UPDATE continuum_runs SET available_at = now(), updated_at = now()
    WHERE id = %(run_id)s AND status NOT IN ('completed', 'failed', 'cancelled')
    RETURNING id
), sent AS (
    INSERT INTO continuum_signals (run_id, name, payload, sent_at)
    VALUES (%(run_id)s, %(name)s, %(payload)s, now())
    RETURNING id
), notified AS (
    SELECT pg_notify('continuum_wakeup', '') FROM woken
)
SELECT (SELECT count(*) FROM sent), (SELECT count(*) FROM notified);

-- name: claim
-- %(known)s true takes runs of the listed versions, false runs of any other.
WITH waiting AS (
    SELECT id, available_at AS due FROM continuum_runs
    WHERE status IN ('pending', 'suspended') AND available_at <= now()
      AND ((workflow, version_hash) IN (
          SELECT * FROM unnest(%(workflows)s::text[], %(hashes)s::text[]))) = %(known)s
    ORDER BY available_at
    LIMIT %(limit)s
    FOR UPDATE SKIP LOCKED
), expired AS (
    SELECT id, lease_expires_at AS due FROM continuum_runs
    WHERE status = 'running' AND lease_expires_at <= now()
      AND ((workflow, version_hash) IN (
          SELECT * FROM unnest(%(workflows)s::text[], %(hashes)s::text[]))) = %(known)s
    ORDER BY lease_expires_at
    LIMIT %(limit)s
    FOR UPDATE SKIP LOCKED
), chosen AS (
    SELECT id, due FROM (SELECT * FROM waiting UNION ALL SELECT * FROM expired) AS due_runs
    ORDER BY due
    LIMIT %(limit)s
)
UPDATE continuum_runs AS r
SET status = 'running', lease_owner = %(node)s, lease_token = r.lease_token + 1,
    lease_expires_at = now() + make_interval(secs => %(lease_seconds)s), updated_at = now(),
    available_at = NULL
FROM chosen
WHERE r.id = chosen.id
RETURNING r.*, extract(epoch FROM now())::float8 AS db_now, chosen.due AS claimed_due;

-- name: next_due
SELECT extract(epoch FROM min(due) - now())::float8 FROM (
    (SELECT available_at AS due FROM continuum_runs
     WHERE status IN ('pending', 'suspended') AND available_at IS NOT NULL
       AND (workflow, version_hash) IN (
           SELECT * FROM unnest(%(workflows)s::text[], %(hashes)s::text[]))
     ORDER BY available_at LIMIT 1)
    UNION ALL
    (SELECT lease_expires_at FROM continuum_runs
     WHERE status = 'running'
       AND (workflow, version_hash) IN (
           SELECT * FROM unnest(%(workflows)s::text[], %(hashes)s::text[]))
     ORDER BY lease_expires_at LIMIT 1)
) AS upcoming;

-- name: renew_leases
UPDATE continuum_runs AS r
SET lease_expires_at = now() + make_interval(secs => %(lease_seconds)s)
FROM unnest(%(ids)s::text[], %(tokens)s::bigint[], %(nodes)s::text[]) AS held (id, token, node)
WHERE r.id = held.id AND r.lease_token = held.token AND r.lease_owner = held.node
  AND r.status = 'running' AND r.lease_expires_at > now()
RETURNING r.id, r.lease_token;

-- name: history
-- The journal and the pending signals in one read. Replay needs neither a sorted
-- result nor when each row was written: the caller orders the rows, which arrive
-- nearly in order from the primary key, at less cost than a sort here.
SELECT seq AS id, kind, name, payload, NULL::float8 AS at
FROM continuum_journal WHERE run_id = %(run_id)s
UNION ALL
SELECT id, NULL, name, payload, extract(epoch FROM sent_at)::float8
FROM continuum_signals WHERE run_id = %(run_id)s AND consumed_seq IS NULL;

-- Each attempt write below is one statement, so one round trip and one commit.
-- `fence` updates the run only while this attempt's lease holds (token, status,
-- expiry by now()); every other part reads from `fence`, so when the lease is
-- gone nothing at all is written and the first column is 0.

-- name: signals_untaken
-- A signal is taken once: the write is refused whole if one it takes is gone.
AND NOT EXISTS (
    SELECT 1 FROM continuum_signals
    WHERE id = ANY (%(signal_ids)s::bigint[]) AND consumed_seq IS NOT NULL)

-- name: taken_before
(SELECT count(*) FROM continuum_signals
 WHERE id = ANY (%(signal_ids)s::bigint[]) AND consumed_seq IS NOT NULL)

-- name: journal_writes
-- Shared by the writes below: this attempt's journal rows (one JSON array, so one
-- parameter however many rows) and the signals they take.
), entries AS (
    INSERT INTO continuum_journal (run_id, seq, kind, name, payload, recorded_at)
    SELECT fence.id, e.seq, e.kind, e.name, e.payload, now()
    FROM fence, json_to_recordset(%(entries)s::json)
        AS e (seq integer, kind text, name text, payload json)
    ON CONFLICT (run_id, seq) DO UPDATE
    SET kind = excluded.kind, name = excluded.name, payload = excluded.payload,
        recorded_at = excluded.recorded_at
    RETURNING 1
), consumed AS (
    UPDATE continuum_signals AS s SET consumed_seq = c.seq
    FROM fence, unnest(%(signal_ids)s::bigint[], %(signal_seqs)s::integer[]) AS c (id, seq)
    WHERE s.id = c.id AND s.run_id = fence.id AND s.consumed_seq IS NULL
    RETURNING 1


-- name: record
WITH fence AS (
    UPDATE continuum_runs SET updated_at = now()
    WHERE id = %(run_id)s AND lease_token = %(token)s AND status = 'running'
      AND lease_expires_at > now()
      -- include: signals_untaken
    RETURNING id
-- include: journal_writes
)
SELECT (SELECT count(*) FROM fence),
       -- include: taken_before
       , (SELECT count(*) FROM entries), (SELECT count(*) FROM consumed);

-- name: suspend
-- Wakes at once when a wanted signal is already pending, or when a signal arrived
-- during the attempt (available_at set: read from the row itself, so also after
-- waiting for a concurrent signal's lock).
WITH fence AS (
    UPDATE continuum_runs
    SET status = 'suspended', lease_owner = NULL, lease_expires_at = NULL, updated_at = now(),
        available_at = CASE
            WHEN available_at IS NOT NULL OR EXISTS (
                SELECT 1 FROM continuum_signals
                WHERE run_id = %(run_id)s AND consumed_seq IS NULL
                  AND name = ANY (%(signal_names)s::text[])
                  AND id <> ALL (%(signal_ids)s::bigint[]))
            THEN now()
            ELSE to_timestamp(%(wake_at)s::float8)
        END
    WHERE id = %(run_id)s AND lease_token = %(token)s AND status = 'running'
      AND lease_expires_at > now()
      -- include: signals_untaken
    RETURNING id, available_at
-- include: journal_writes
), notified AS (
    -- other nodes may be asleep past this due time
    SELECT pg_notify('continuum_wakeup', '') FROM fence WHERE fence.available_at IS NOT NULL
)
SELECT (SELECT count(*) FROM fence),
       -- include: taken_before
       , (SELECT count(*) FROM entries), (SELECT count(*) FROM consumed),
       (SELECT count(*) FROM notified);

-- name: finish
WITH fence AS (
    UPDATE continuum_runs
    SET status = %(status)s, output = %(output)s, error = %(error)s, lease_owner = NULL,
        lease_expires_at = NULL, available_at = NULL, updated_at = now()
    WHERE id = %(run_id)s AND lease_token = %(token)s AND status = 'running'
      AND lease_expires_at > now()
      -- include: signals_untaken
    RETURNING id
-- include: journal_writes
), notified AS (
    SELECT pg_notify('continuum_settled', fence.id) FROM fence
)
SELECT (SELECT count(*) FROM fence),
       -- include: taken_before
       , (SELECT count(*) FROM entries), (SELECT count(*) FROM consumed),
       (SELECT count(*) FROM notified);

-- name: release
UPDATE continuum_runs
SET status = 'suspended', lease_owner = NULL, lease_expires_at = NULL,
    available_at = now() + make_interval(secs => %(delay)s), updated_at = now()
WHERE id = %(run_id)s AND lease_token = %(token)s AND status = 'running';

-- name: upsert_versions
INSERT INTO continuum_workflow_versions
    (workflow, version_hash, version, module, qualname, first_seen_at, last_seen_at)
SELECT v.workflow, v.version_hash, v.version, v.module, v.qualname, now(), now()
FROM unnest(%(workflows)s::text[], %(hashes)s::text[], %(versions)s::integer[],
            %(modules)s::text[], %(qualnames)s::text[])
    AS v (workflow, version_hash, version, module, qualname)
ON CONFLICT (workflow, version_hash) DO UPDATE
SET version = excluded.version, module = excluded.module, qualname = excluded.qualname,
    last_seen_at = excluded.last_seen_at;

-- name: upsert_version_nodes
INSERT INTO continuum_workflow_version_nodes
    (workflow, version_hash, instance, node, loaded_at, last_seen_at)
SELECT v.workflow, v.version_hash, %(instance)s, %(node)s, now(), now()
FROM unnest(%(workflows)s::text[], %(hashes)s::text[]) AS v (workflow, version_hash)
ON CONFLICT (workflow, version_hash, instance, node) DO UPDATE
SET last_seen_at = excluded.last_seen_at;

-- name: unstick_runs
UPDATE continuum_runs SET status = 'suspended', available_at = now(), updated_at = now()
WHERE status = 'stuck_unknown_version'
  AND (workflow, version_hash) IN (
      SELECT * FROM unnest(%(workflows)s::text[], %(hashes)s::text[]));

-- name: unregister_node
DELETE FROM continuum_workflow_version_nodes WHERE instance = %(instance)s AND node = %(node)s;

-- name: list_versions
SELECT workflow, version_hash, version, module, qualname,
       extract(epoch FROM first_seen_at)::float8, extract(epoch FROM last_seen_at)::float8
FROM continuum_workflow_versions ORDER BY workflow, first_seen_at;

-- name: list_version_nodes
SELECT workflow, version_hash, instance, node, extract(epoch FROM last_seen_at)::float8
FROM continuum_workflow_version_nodes ORDER BY instance, node;
