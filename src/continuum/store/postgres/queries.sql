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

-- name: has_migrations_table
-- An empty database has none yet: its schema version is 0.
SELECT to_regclass('continuum_schema_migrations') IS NOT NULL;

-- name: schema_version
SELECT coalesce(max(version), 0) FROM continuum_schema_migrations;

-- name: now
SELECT extract(epoch FROM now())::float8;

-- name: notify
SELECT pg_notify('continuum_wakeup', '');

-- name: listen_wakeup
-- A run became due (payload empty).
LISTEN continuum_wakeup;

-- name: listen_settled
-- A run ended (payload: see notify_cancelled).
LISTEN continuum_settled;

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
            CASE WHEN %(lease_to)s::text IS NULL THEN 'pending' ELSE 'running' END, %(input_json)s,
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
  AND (%(version_hash)s::text IS NULL OR version_hash = %(version_hash)s)
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
    -- Read under the lock, so current; the update then tests only the key (see attempt_writes).
    SELECT id, lease_token, lease_nonce, lease_owner,
           status = 'running' AND lease_expires_at > now() AS leased
    FROM continuum_runs WHERE id = ANY (%(ids)s::text[])
    ORDER BY id
    FOR NO KEY UPDATE
)
UPDATE continuum_runs AS r
SET lease_expires_at = now() + make_interval(secs => %(lease_seconds)s::float8)
FROM held JOIN locked ON locked.id = held.id
WHERE r.id = ANY (%(ids)s::text[]) AND r.id = locked.id AND locked.leased
  AND locked.lease_token = held.token AND locked.lease_nonce = held.nonce
  AND locked.lease_owner = held.node
RETURNING r.id, r.lease_token, r.lease_nonce;

-- name: journal_with_times
SELECT seq, kind, name, payload, extract(epoch FROM recorded_at)::float8
FROM continuum_journal WHERE run_id = %(run_id)s ORDER BY seq;

-- name: history
-- The journal and the pending signals in one read. Replay needs neither a sorted
-- result nor when each row was written: the caller orders the rows, which arrive
-- nearly in order from the primary key, at less cost than a sort here.
SELECT seq AS id, kind, name, payload, NULL::float8 AS at
FROM continuum_journal WHERE run_id = %(run_id)s
UNION ALL
SELECT id, NULL, name, payload, extract(epoch FROM sent_at)::float8
FROM continuum_signals WHERE run_id = %(run_id)s AND consumed_seq IS NULL;

-- name: attempt_write_one
-- A lone attempt write (no other writer was waiting), which is nearly every write of a
-- lightly loaded node: the same effect as attempt_writes below for a batch of one, in
-- a statement that costs the server less (no JSON array of writes to unpack and join,
-- one row locked by its key). The result has the same shape as attempt_writes's.
WITH e AS (
    SELECT * FROM json_to_recordset(%(entries)s::json) AS e (
        i integer, seq integer, kind text, name text, payload json, signal bigint)
), taken_before AS (
    SELECT 1 FROM continuum_signals
    WHERE id = ANY (%(signal_ids)s::bigint[]) AND consumed_seq IS NOT NULL
    LIMIT 1
), fence AS (
    SELECT id AS run_id, 1 AS i FROM continuum_runs
    WHERE id = %(run_id)s AND lease_token = %(token)s AND lease_nonce = %(nonce)s
      AND status = 'running' AND lease_expires_at > now()
      AND NOT EXISTS (SELECT 1 FROM taken_before)
    FOR NO KEY UPDATE
), ended AS (
    UPDATE continuum_runs AS r
    SET status = %(outcome)s::text, output = %(output)s::json, error = %(error)s::json,
        lease_owner = NULL, lease_expires_at = NULL, updated_at = now(),
        available_at = CASE WHEN %(outcome)s::text = 'suspended' THEN CASE
            WHEN r.available_at IS NOT NULL OR EXISTS (
                SELECT 1 FROM continuum_signals AS s
                WHERE s.run_id = r.id AND s.consumed_seq IS NULL
                  AND s.name = ANY (%(wake_on)s::text[])
                  AND s.id <> ALL (%(signal_ids)s::bigint[]))
            THEN now()
            ELSE to_timestamp(%(wake_at)s::float8)
        END END
    WHERE r.id = (SELECT run_id FROM fence) AND %(outcome)s::text <> 'record'
    RETURNING r.id, r.status, r.available_at, r.output, r.error
), entries AS (
    INSERT INTO continuum_journal (run_id, seq, kind, name, payload, recorded_at)
    SELECT fence.run_id, e.seq, e.kind, e.name, e.payload, now()
    FROM fence JOIN e ON e.i = fence.i
    ON CONFLICT (run_id, seq) DO UPDATE
    SET kind = excluded.kind, name = excluded.name, payload = excluded.payload,
        recorded_at = excluded.recorded_at
), consumed AS (
    UPDATE continuum_signals AS s SET consumed_seq = e.seq
    FROM fence JOIN e ON e.i = fence.i
    WHERE s.id = ANY (%(signal_ids)s::bigint[]) AND s.id = e.signal AND s.run_id = fence.run_id
      AND s.consumed_seq IS NULL
), woken AS (
    SELECT pg_notify('continuum_wakeup', '')
    WHERE EXISTS (SELECT 1 FROM ended WHERE status = 'suspended' AND available_at IS NOT NULL)
), settled AS (
    SELECT pg_notify('continuum_settled', CASE
        WHEN octet_length(outcome) < 7900 THEN outcome
        ELSE json_build_array(ended.id)::text
    END)
    FROM ended, LATERAL (SELECT json_build_array(
        ended.id, ended.status, ended.output::text, ended.error::text)::text AS outcome) AS o
    WHERE ended.status IN ('completed', 'failed')
)
SELECT 1, EXISTS (SELECT 1 FROM fence), EXISTS (SELECT 1 FROM taken_before),
       (SELECT count(*) FROM woken), (SELECT count(*) FROM settled);

-- name: attempt_writes
-- Attempt writes in one statement, however many (one when no other writer was
-- waiting): one round trip and one commit for all of them. %(writes)s and
-- %(entries)s are JSON arrays, one object per write and per journal row; `i` ties a
-- row to its write, `signal` is the signal a row takes. %(run_ids)s and
-- %(signal_ids)s repeat the ids as arrays so that every lookup is an index probe
-- whatever the planner guesses of the JSON (a guess of 100 rows made it scan the
-- whole runs table once that was a few thousand rows long).
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
    SELECT DISTINCT e.i FROM e
    WHERE e.signal IS NOT NULL AND EXISTS (
        SELECT 1 FROM continuum_signals AS s WHERE s.id = e.signal AND s.consumed_seq IS NOT NULL)
), locked AS (
    -- Read under the lock, so current: nobody can change them before this commits.
    SELECT id, lease_token, lease_nonce, status = 'running' AND lease_expires_at > now() AS leased
    FROM continuum_runs WHERE id = ANY (%(run_ids)s::text[])
    ORDER BY id
    FOR NO KEY UPDATE
), fence AS (
    SELECT w.* FROM w
    WHERE EXISTS (
        SELECT 1 FROM locked WHERE locked.id = w.run_id AND locked.leased
          AND locked.lease_token = w.token AND locked.lease_nonce = w.nonce)
      AND NOT EXISTS (SELECT 1 FROM taken_before AS t WHERE t.i = w.i)
), ended AS (
    UPDATE continuum_runs AS r
    SET status = fence.outcome, output = fence.output, error = fence.error,
        lease_owner = NULL, lease_expires_at = NULL, updated_at = now(),
        -- A suspension wakes at once when a signal it waits for is pending (not one
        -- this write takes), or when any signal arrived during the attempt
        -- (available_at, set by send_signal and cleared by claims).
        available_at = CASE WHEN fence.outcome = 'suspended' THEN CASE
            WHEN r.available_at IS NOT NULL OR EXISTS (
                SELECT 1 FROM continuum_signals AS s
                WHERE s.run_id = r.id AND s.consumed_seq IS NULL AND s.name = ANY (fence.wake_on)
                  AND NOT EXISTS (SELECT 1 FROM e WHERE e.i = fence.i AND e.signal = s.id))
            THEN now()
            ELSE to_timestamp(fence.wake_at)
        END END
    FROM fence
    -- Only the id is tested on the row itself, so the planner can only probe the key.
    WHERE r.id = ANY (%(run_ids)s::text[]) AND r.id = fence.run_id AND fence.outcome <> 'record'
    RETURNING fence.i, r.id, r.status, r.available_at, r.output, r.error
), entries AS (
    INSERT INTO continuum_journal (run_id, seq, kind, name, payload, recorded_at)
    SELECT fence.run_id, e.seq, e.kind, e.name, e.payload, now()
    FROM fence JOIN e ON e.i = fence.i
    ON CONFLICT (run_id, seq) DO UPDATE
    SET kind = excluded.kind, name = excluded.name, payload = excluded.payload,
        recorded_at = excluded.recorded_at
), consumed AS (
    UPDATE continuum_signals AS s SET consumed_seq = e.seq
    FROM fence JOIN e ON e.i = fence.i
    WHERE s.id = ANY (%(signal_ids)s::bigint[]) AND s.id = e.signal AND s.run_id = fence.run_id
      AND s.consumed_seq IS NULL
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
)
-- Statements that only read (the notifications) run only if the result refers to them.
SELECT w.i, EXISTS (SELECT 1 FROM fence WHERE fence.i = w.i) AS written,
       EXISTS (SELECT 1 FROM taken_before AS t WHERE t.i = w.i) AS taken_before,
       (SELECT count(*) FROM woken), (SELECT count(*) FROM settled)
FROM w;

-- name: release
UPDATE continuum_runs
SET status = 'suspended', lease_owner = NULL, lease_expires_at = NULL,
    available_at = now() + make_interval(secs => %(delay)s), updated_at = now()
WHERE id = %(run_id)s AND lease_token = %(token)s AND lease_nonce = %(nonce)s
  AND status = 'running';

-- name: upsert_versions
-- A source already kept stays when a node registers the version without one.
INSERT INTO continuum_workflow_versions
    (workflow, version_hash, version, module, qualname, source, first_seen_at, last_seen_at)
SELECT v.workflow, v.version_hash, v.version, v.module, v.qualname, v.source, now(), now()
FROM unnest(%(workflows)s::text[], %(hashes)s::text[], %(versions)s::integer[],
            %(modules)s::text[], %(qualnames)s::text[], %(sources)s::text[])
    AS v (workflow, version_hash, version, module, qualname, source)
ON CONFLICT (workflow, version_hash) DO UPDATE
SET version = excluded.version, module = excluded.module, qualname = excluded.qualname,
    source = coalesce(excluded.source, continuum_workflow_versions.source),
    last_seen_at = excluded.last_seen_at;

-- name: upsert_version_nodes
INSERT INTO continuum_workflow_version_nodes
    (workflow, version_hash, instance, node, loaded_at, last_seen_at, dispatching, frozen)
SELECT v.workflow, v.version_hash, %(instance)s, %(node)s, now(), now(), %(dispatching)s,
       v.frozen
FROM unnest(%(workflows)s::text[], %(hashes)s::text[], %(frozen)s::boolean[])
    AS v (workflow, version_hash, frozen)
ON CONFLICT (workflow, version_hash, instance, node) DO UPDATE
SET last_seen_at = excluded.last_seen_at, dispatching = excluded.dispatching,
    frozen = excluded.frozen;

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
SELECT workflow, version_hash, instance, node, extract(epoch FROM last_seen_at)::float8,
       dispatching, frozen
FROM continuum_workflow_version_nodes ORDER BY instance, node;

-- name: version_source
SELECT source FROM continuum_workflow_versions
WHERE workflow = %(workflow)s AND version_hash = %(version_hash)s;

-- name: version_usage
-- One grouped pass over the runs (the drain report and the pre-deploy check).
SELECT workflow, version_hash, status, count(*),
       extract(epoch FROM min(created_at)
           FILTER (WHERE status NOT IN ('completed', 'failed', 'cancelled')))::float8
FROM continuum_runs
GROUP BY workflow, version_hash, status
ORDER BY workflow, version_hash, status;

-- name: patch_usage
-- Patch ids come from the partial index on markers; each live run of a workflow
-- that recorded one is counted with or without it.
WITH patches AS (
    SELECT DISTINCT r.workflow, j.name AS patch_id
    FROM continuum_journal AS j JOIN continuum_runs AS r ON r.id = j.run_id
    WHERE j.kind = 'patch'
), live AS (
    SELECT id, workflow FROM continuum_runs
    WHERE status NOT IN ('completed', 'failed', 'cancelled')
), marked AS (
    SELECT p.workflow, p.patch_id, EXISTS (
        SELECT 1 FROM continuum_journal AS j
        WHERE j.run_id = live.id AND j.kind = 'patch' AND j.name = p.patch_id) AS has
    FROM patches AS p JOIN live ON live.workflow = p.workflow
)
SELECT p.workflow, p.patch_id,
       count(m.has) FILTER (WHERE m.has), count(m.has) FILTER (WHERE NOT m.has)
FROM patches AS p LEFT JOIN marked AS m ON m.workflow = p.workflow AND m.patch_id = p.patch_id
GROUP BY p.workflow, p.patch_id
ORDER BY p.workflow, p.patch_id;

-- name: delete_versions
-- The holders' rows go with them (ON DELETE CASCADE).
DELETE FROM continuum_workflow_versions AS v
USING unnest(%(workflows)s::text[], %(hashes)s::text[]) AS k (workflow, version_hash)
WHERE v.workflow = k.workflow AND v.version_hash = k.version_hash
  AND NOT EXISTS (
      SELECT 1 FROM continuum_runs AS r
      WHERE r.workflow = v.workflow AND r.version_hash = v.version_hash
        AND r.status NOT IN ('completed', 'failed', 'cancelled'))
RETURNING v.workflow, v.version_hash;

-- name: repin_run
-- Only a run still exactly as it was checked: a claim, signal or cancel since wins
-- (each moves updated_at; a claim also the token).
UPDATE continuum_runs
SET version_hash = %(to_hash)s, version = %(to_version)s, updated_at = now()
WHERE id = %(run_id)s AND version_hash = %(from_hash)s AND status = 'suspended'
  AND lease_token = %(lease_token)s
  AND abs(extract(epoch FROM updated_at)::float8 - %(updated_at)s) < 0.00001
RETURNING id;
