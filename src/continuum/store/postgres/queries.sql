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

-- name: notify_cancelled
-- The payload of continuum_settled: a JSON array [id, status, output, error], or
-- only [id] when that would not fit in a notification (8,000 bytes).
SELECT pg_notify(
    'continuum_settled', json_build_array(%(run_id)s::text, 'cancelled', NULL, NULL)::text);

-- name: insert_run
-- A new run, pending and due; or, with %(lease_to)s, already leased to the node
-- that started it (it runs the run itself: no notification, no separate claim).
WITH inserted AS (
    INSERT INTO continuum_runs
        (id, workflow, version_hash, version, status, input, available_at, lease_owner,
         lease_token, lease_nonce, lease_expires_at, created_at, updated_at)
    VALUES (%(run_id)s, %(workflow)s, %(version_hash)s, %(version)s,
            CASE WHEN %(lease_to)s::text IS NULL THEN 'pending' ELSE 'running' END, %(input)s,
            CASE WHEN %(lease_to)s::text IS NULL THEN now() END, %(lease_to)s::text,
            CASE WHEN %(lease_to)s::text IS NULL THEN 0 ELSE 1 END,
            CASE WHEN %(lease_to)s::text IS NULL THEN 0 ELSE %(nonce)s END,
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
-- Keeps a signal for a live run and answers what became of it: 'duplicate' (this
-- delivery id reached the run before: nothing is written), 'missing', 'ended' or
-- 'sent'. The run's row is locked first, so a run that ends at the same moment
-- either takes the signal before it ends or refuses it. Sets available_at: a
-- suspended run becomes due, and a running one is marked so that its suspension
-- wakes it again (claims clear the mark).
WITH run AS (
    SELECT status IN ('completed', 'failed', 'cancelled') AS ended
    FROM continuum_runs WHERE id = %(run_id)s
    FOR NO KEY UPDATE
), seen AS (
    SELECT 1 FROM continuum_signals
    WHERE run_id = %(run_id)s AND delivery_id = %(delivery_id)s::text
), sent AS (
    INSERT INTO continuum_signals (run_id, name, payload, sent_at, delivery_id)
    SELECT %(run_id)s, %(name)s, %(payload)s, now(), %(delivery_id)s::text
    FROM run WHERE NOT run.ended AND NOT EXISTS (SELECT 1 FROM seen)
    -- a concurrent send of the same delivery: wait for it, then keep nothing
    ON CONFLICT (run_id, delivery_id) WHERE delivery_id IS NOT NULL DO NOTHING
    RETURNING id
), woken AS (
    UPDATE continuum_runs SET available_at = now(), updated_at = now()
    WHERE id = %(run_id)s AND EXISTS (SELECT 1 FROM sent)
    RETURNING id
), notified AS (
    SELECT pg_notify('continuum_wakeup', '') FROM woken
)
SELECT CASE
    WHEN EXISTS (SELECT 1 FROM sent) THEN 'sent'
    WHEN NOT EXISTS (SELECT 1 FROM run) THEN 'missing'
    WHEN (SELECT ended FROM run) AND NOT EXISTS (SELECT 1 FROM seen) THEN 'ended'
    ELSE 'duplicate'
END, (SELECT count(*) FROM notified);

-- name: claim
-- %(known)s true takes runs of the listed versions, false runs of any other.
-- `fresh`: the run was pending, so it never ran and has no journal to read.
-- The claim commits without waiting for the disk (synchronous_commit off, for this
-- transaction only). A claim lost in a server crash before its log reached the
-- disk leaves the run due with its old token, so the next claim hands out the
-- same token number again: %(nonce)s, drawn at random by each claim and compared
-- by every fence, is what the node holding the lost lease can never present again.
WITH waiting AS (
    SELECT id, available_at AS due, status = 'pending' AS fresh FROM continuum_runs
    WHERE status IN ('pending', 'suspended') AND available_at <= now()
      AND ((workflow, version_hash) IN (
          SELECT * FROM unnest(%(workflows)s::text[], %(hashes)s::text[]))) = %(known)s
    ORDER BY available_at
    LIMIT %(limit)s
    FOR UPDATE SKIP LOCKED
), expired AS (
    SELECT id, lease_expires_at AS due, false AS fresh FROM continuum_runs
    WHERE status = 'running' AND lease_expires_at <= now()
      AND ((workflow, version_hash) IN (
          SELECT * FROM unnest(%(workflows)s::text[], %(hashes)s::text[]))) = %(known)s
    ORDER BY lease_expires_at
    LIMIT %(limit)s
    FOR UPDATE SKIP LOCKED
), chosen AS (
    SELECT id, due, fresh FROM (SELECT * FROM waiting UNION ALL SELECT * FROM expired) AS due_runs
    ORDER BY due
    LIMIT %(limit)s
)
UPDATE continuum_runs AS r
SET status = 'running', lease_owner = %(node)s, lease_token = r.lease_token + 1,
    lease_nonce = %(nonce)s, lease_expires_at = now() + make_interval(secs => %(lease_seconds)s), updated_at = now(),
    available_at = NULL
FROM chosen, (SELECT set_config('synchronous_commit', 'off', true)) AS without_waiting
WHERE r.id = chosen.id
RETURNING r.*, extract(epoch FROM now())::float8 AS db_now, chosen.due AS claimed_due,
    chosen.fresh;

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
-- Rows are locked in id order first, as attempt writes do, so the two never deadlock.
WITH held AS (
    SELECT * FROM unnest(
        %(ids)s::text[], %(tokens)s::bigint[], %(nonces)s::bigint[], %(nodes)s::text[])
        AS held (id, token, nonce, node)
), locked AS (
    -- Read under the lock, so current; the update then tests only the key (see write_batch).
    SELECT id, lease_token, lease_nonce, lease_owner,
           status = 'running' AND lease_expires_at > now() AS leased
    FROM continuum_runs WHERE id = ANY (%(ids)s::text[])
    ORDER BY id
    FOR NO KEY UPDATE
)
UPDATE continuum_runs AS r
SET lease_expires_at = now() + make_interval(secs => %(lease_seconds)s)
FROM held JOIN locked ON locked.id = held.id
WHERE r.id = ANY (%(ids)s::text[]) AND r.id = locked.id AND locked.leased
  AND locked.lease_token = held.token AND locked.lease_nonce = held.nonce
  AND locked.lease_owner = held.node
RETURNING r.id, r.lease_token, r.lease_nonce;

-- name: history
-- The journal and the pending signals in one read. Replay needs neither a sorted
-- result nor when each row was written: the caller orders the rows, which arrive
-- nearly in order from the primary key, at less cost than a sort here.
SELECT seq AS id, kind, name, payload, NULL::float8 AS at
FROM continuum_journal WHERE run_id = %(run_id)s
UNION ALL
SELECT id, NULL, name, payload, extract(epoch FROM sent_at)::float8
FROM continuum_signals WHERE run_id = %(run_id)s AND consumed_seq IS NULL;

-- name: attempt_write_effects
-- Shared by write_one and write_batch: what every write that passed its `fence`
-- does (journal rows, signals taken), and the notifications for the runs that
-- stopped (`ended`). `fence` gives each write's run_id and its index i in `e`.
), entries AS (
    INSERT INTO continuum_journal (run_id, seq, kind, name, payload, recorded_at)
    SELECT fence.run_id, e.seq, e.kind, e.name, e.payload, now()
    FROM fence JOIN e ON e.i = fence.i
    ON CONFLICT (run_id, seq) DO UPDATE
    SET kind = excluded.kind, name = excluded.name, payload = excluded.payload,
        recorded_at = excluded.recorded_at
    RETURNING 1
), consumed AS (
    UPDATE continuum_signals AS s SET consumed_seq = e.seq
    FROM fence JOIN e ON e.i = fence.i
    WHERE s.id = ANY (%(signal_ids)s::bigint[]) AND s.id = e.signal AND s.run_id = fence.run_id
      AND s.consumed_seq IS NULL
    RETURNING 1
), woken AS (
    -- other nodes may be asleep past a due time set here
    SELECT pg_notify('continuum_wakeup', '')
    WHERE EXISTS (SELECT 1 FROM ended WHERE status = 'suspended' AND available_at IS NOT NULL)
), settled AS (
    -- [id, status, output, error]: whoever waits for the result need not read the run
    SELECT pg_notify('continuum_settled', CASE
        WHEN octet_length(outcome) < 7900 THEN outcome
        ELSE json_build_array(ended.id)::text
    END)
    FROM ended, LATERAL (SELECT json_build_array(
        ended.id, ended.status, ended.output::text, ended.error::text)::text AS outcome) AS o
    WHERE ended.status IN ('completed', 'failed')

-- name: write_one
-- One attempt write alone (no other writer was waiting), which is every write of
-- a lightly loaded node: the same effect as write_batch below for a batch of one,
-- in a statement that costs the server less. `fence` locks the run's row while the
-- lease holds and no signal the write takes is gone, and everything else reads
-- from it. The row itself changes only when the attempt stops (`ended`): an
-- activity result leaves it as it is, the lock having ordered the write against
-- claims, cancels and signals.
WITH e AS (
    SELECT * FROM json_to_recordset(%(entries)s::json) AS e (
        i integer, seq integer, kind text, name text, payload json, signal bigint)
), fence AS (
    SELECT id AS run_id, 0 AS i FROM continuum_runs
    WHERE id = %(run_id)s AND lease_token = %(token)s AND lease_nonce = %(nonce)s
      AND status = 'running' AND lease_expires_at > now()
      AND NOT EXISTS (
          SELECT 1 FROM continuum_signals
          WHERE id = ANY (%(signal_ids)s::bigint[]) AND consumed_seq IS NOT NULL)
    FOR NO KEY UPDATE
), ended AS (
    UPDATE continuum_runs
    SET status = %(outcome)s::text, output = %(output)s::json, error = %(error)s::json,
        lease_owner = NULL, lease_expires_at = NULL, updated_at = now(),
        -- A suspension wakes at once when a wanted signal is already pending, or when
        -- one arrived during the attempt (available_at set by send_signal).
        available_at = CASE WHEN %(outcome)s::text = 'suspended' THEN CASE
            WHEN available_at IS NOT NULL OR EXISTS (
                SELECT 1 FROM continuum_signals
                WHERE run_id = %(run_id)s AND consumed_seq IS NULL
                  AND name = ANY (%(wake_on)s::text[])
                  AND id <> ALL (%(signal_ids)s::bigint[]))
            THEN now()
            ELSE to_timestamp(%(wake_at)s::float8)
        END END
    WHERE id = (SELECT run_id FROM fence) AND %(outcome)s::text <> 'record'
    RETURNING id, status, available_at, output, error
-- include: attempt_write_effects
)
SELECT 0, (SELECT count(*) FROM fence) > 0,
       (SELECT count(*) FROM continuum_signals
        WHERE id = ANY (%(signal_ids)s::bigint[]) AND consumed_seq IS NOT NULL),
       (SELECT count(*) FROM entries), (SELECT count(*) FROM consumed),
       (SELECT count(*) FROM ended), (SELECT count(*) FROM woken), (SELECT count(*) FROM settled);

-- name: write_batch
-- Attempt writes of many runs in one statement, so one round trip and one commit
-- for all of them. %(writes)s and %(entries)s are JSON arrays; `i` ties each
-- journal row to its write, `signal` is the signal a row takes. %(run_ids)s and
-- %(signal_ids)s repeat the ids as arrays so that every lookup is an index probe
-- whatever the planner guesses of the JSON (a guess of 100 rows made it scan
-- the whole runs table once that was a few thousand rows long).
-- Rows are locked in id order first, as the heartbeat's renewal does, so the two
-- never deadlock. `fence` keeps the writes whose lease holds (token and nonce, status,
-- expiry by now(), read under the row lock) and whose signals are all still untaken;
-- everything else reads from it, so a refused write leaves nothing. A run's row
-- changes only when its attempt stops (`ended`); an activity result leaves it as
-- it is, the lock having ordered the write against claims, cancels and signals.
WITH w AS (
    SELECT * FROM json_to_recordset(%(writes)s::json) AS w (
        i integer, run_id text, token bigint, nonce bigint, outcome text, output json,
        error json, wake_at float8, wake_on text[])
), e AS (
    SELECT * FROM json_to_recordset(%(entries)s::json) AS e (
        i integer, seq integer, kind text, name text, payload json, signal bigint)
), taken_before AS (
    SELECT e.i, count(*) AS signals
    FROM continuum_signals AS s JOIN e ON e.signal = s.id
    WHERE s.id = ANY (%(signal_ids)s::bigint[]) AND s.consumed_seq IS NOT NULL
    GROUP BY e.i
), locked AS (
    -- Read under the lock, so current: nobody can change them before this commits.
    SELECT id, lease_token, lease_nonce, status = 'running' AND lease_expires_at > now() AS leased
    FROM continuum_runs WHERE id = ANY (%(run_ids)s::text[])
    ORDER BY id
    FOR NO KEY UPDATE
), fence AS (
    SELECT w.* FROM w JOIN locked ON locked.id = w.run_id
    WHERE locked.leased AND locked.lease_token = w.token AND locked.lease_nonce = w.nonce
      AND NOT EXISTS (SELECT 1 FROM taken_before AS t WHERE t.i = w.i)
), ended AS (
    UPDATE continuum_runs AS r
    SET status = fence.outcome, output = fence.output, error = fence.error,
        lease_owner = NULL, lease_expires_at = NULL, updated_at = now(),
        -- A suspension wakes at once when a wanted signal is already pending, or when
        -- one arrived during the attempt (available_at set by send_signal).
        available_at = CASE WHEN fence.outcome = 'suspended' THEN CASE
            WHEN r.available_at IS NOT NULL OR EXISTS (
                SELECT 1 FROM continuum_signals AS s
                WHERE s.run_id = r.id AND s.consumed_seq IS NULL
                  AND s.name = ANY (fence.wake_on)
                  AND NOT EXISTS (SELECT 1 FROM e WHERE e.i = fence.i AND e.signal = s.id))
            THEN now()
            ELSE to_timestamp(fence.wake_at)
        END END
    FROM fence
    -- Only the id is tested on the row itself, so the planner can only probe the key.
    WHERE r.id = ANY (%(run_ids)s::text[]) AND r.id = fence.run_id AND fence.outcome <> 'record'
    RETURNING fence.i, r.id, r.status, r.available_at, r.output, r.error
-- include: attempt_write_effects
)
SELECT w.i, fence.i IS NOT NULL AS written, coalesce(t.signals, 0) AS taken_before,
       (SELECT count(*) FROM entries), (SELECT count(*) FROM consumed),
       (SELECT count(*) FROM ended), (SELECT count(*) FROM woken), (SELECT count(*) FROM settled)
FROM w LEFT JOIN fence ON fence.i = w.i LEFT JOIN taken_before AS t ON t.i = w.i;

-- name: release
UPDATE continuum_runs
SET status = 'suspended', lease_owner = NULL, lease_expires_at = NULL,
    available_at = now() + make_interval(secs => %(delay)s), updated_at = now()
WHERE id = %(run_id)s AND lease_token = %(token)s AND lease_nonce = %(nonce)s
  AND status = 'running';

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
