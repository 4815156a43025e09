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
SELECT pg_notify('continuum_settled', json_build_array(id, 'cancelled', NULL, NULL)::text)
FROM unnest(%(run_ids)s::text[]) AS cancelled (id);

-- name: insert_run
-- A new run, pending and due (at %(start_at)s if given); or, with %(lease_to)s, already
-- leased to the node that started it (it runs the run itself: no notification, no
-- separate claim).
WITH inserted AS (
    INSERT INTO continuum_runs
        (id, workflow, version_hash, version, status, input, available_at, lease_owner,
         lease_token, lease_nonce, lease_expires_at, created_at, updated_at, trace_context,
         parent_run_id, cancel_with_parent, continued_from, attributes, unwind_on_cancel)
    VALUES (%(run_id)s, %(workflow)s, %(version_hash)s, %(version)s,
            CASE WHEN %(lease_to)s::text IS NULL THEN 'pending' ELSE 'running' END, %(input_json)s,
            CASE WHEN %(lease_to)s::text IS NULL
                 THEN coalesce(to_timestamp(%(start_at)s::float8), now()) END,
            %(lease_to)s::text,
            CASE WHEN %(lease_to)s::text IS NULL THEN 0 ELSE 1 END,
            CASE WHEN %(lease_to)s::text IS NULL THEN 0 ELSE %(nonce)s END,
            CASE WHEN %(lease_to)s::text IS NOT NULL
                 THEN now() + make_interval(secs => %(lease_seconds)s) END,
            now(), now(), %(trace_context)s,
            %(parent_run_id)s::text, %(cancel_with_parent)s::boolean, %(continued_from)s::text,
            %(attributes)s::jsonb, %(unwind_on_cancel)s::boolean)
    ON CONFLICT (id) DO NOTHING
    RETURNING *
), notified AS (
    SELECT pg_notify('continuum_wakeup', '') FROM inserted WHERE inserted.status = 'pending'
)
SELECT inserted.*, extract(epoch FROM now())::float8 AS db_now, (SELECT count(*) FROM notified)
FROM inserted;

-- name: insert_runs
-- Runs an attempt starts (children, a continuation), pending and due, in the
-- attempt's transaction; %(runs)s is a JSON array of objects with insert_run's fields.
-- An id that exists is left as it is.
WITH inserted AS (
    INSERT INTO continuum_runs
        (id, workflow, version_hash, version, status, input, available_at, created_at,
         updated_at, trace_context, parent_run_id, cancel_with_parent, continued_from,
         attributes, unwind_on_cancel)
    SELECT n.run_id, n.workflow, n.version_hash, n.version, 'pending', n.input_json,
           coalesce(to_timestamp(n.start_at), now()), now(), now(), n.trace_context,
           n.parent_run_id, n.cancel_with_parent, n.continued_from, n.attributes,
           n.unwind_on_cancel
    FROM json_to_recordset(%(runs)s::json) AS n (
        run_id text, workflow text, version_hash text, version integer, input_json json,
        start_at float8, trace_context text, parent_run_id text, cancel_with_parent boolean,
        continued_from text, attributes jsonb, unwind_on_cancel boolean)
    ON CONFLICT (id) DO NOTHING
    RETURNING 1
), notified AS (
    SELECT pg_notify('continuum_wakeup', '') WHERE EXISTS (SELECT 1 FROM inserted)
)
SELECT (SELECT count(*) FROM inserted), (SELECT count(*) FROM notified);

-- name: get_run
SELECT * FROM continuum_runs WHERE id = %(run_id)s;

-- name: cancel_run
-- The run, unless it ended; cancel_children then takes its descendants.
UPDATE continuum_runs
SET status = 'cancelled', lease_owner = NULL, lease_expires_at = NULL, available_at = NULL,
    waiting_for = NULL, updated_at = now()
WHERE id = %(run_id)s AND status NOT IN ('completed', 'failed', 'cancelled')
RETURNING *;

-- name: request_cancel
-- A live run started unwind_on_cancel, not asked before: asked now, and due (a running
-- one is marked, so that its suspension wakes it again). It ends by itself.
WITH asked AS (
    UPDATE continuum_runs
    SET cancel_requested_at = now(), available_at = now(), updated_at = now()
    WHERE id = %(run_id)s AND unwind_on_cancel AND cancel_requested_at IS NULL
      AND status NOT IN ('completed', 'failed', 'cancelled')
    RETURNING *
), notified AS (
    SELECT pg_notify('continuum_wakeup', '') FROM asked WHERE asked.status <> 'running'
)
SELECT asked.*, (SELECT count(*) FROM notified) FROM asked;

-- name: cancel_children
-- A run ended cancelled (cancel_run, or its own write after unwinding): so does every
-- live descendant started to be cancelled with its parent (a child started with
-- on_parent_cancel="abandon", and its own children, are left).
WITH RECURSIVE doomed (id) AS (
    SELECT id FROM continuum_runs
    WHERE parent_run_id = %(run_id)s AND cancel_with_parent
      AND status NOT IN ('completed', 'failed', 'cancelled')
    UNION ALL
    SELECT c.id FROM continuum_runs AS c JOIN doomed ON c.parent_run_id = doomed.id
    WHERE c.cancel_with_parent AND c.status NOT IN ('completed', 'failed', 'cancelled')
)
UPDATE continuum_runs
SET status = 'cancelled', lease_owner = NULL, lease_expires_at = NULL, available_at = NULL,
    waiting_for = NULL, updated_at = now()
WHERE id IN (SELECT id FROM doomed) AND status NOT IN ('completed', 'failed', 'cancelled')
RETURNING *;

-- name: tell_parent
-- A child ended: its parent, while live, is told in a signal named for the child
-- (%(name)s, also its delivery id, so it is kept once) whose payload says how it
-- ended. A suspended parent becomes due only if it waits for this child (a parent of
-- thousands is not woken by each); a running one is marked, as a signal marks it, so
-- that its suspension looks again. The parent's row is locked first, as send_signal
-- locks it, so the parent either sees the signal when it suspends or is woken by it.
WITH parent AS (
    SELECT p.id, p.status, %(name)s::text = ANY (p.waiting_for) AS waits
    FROM continuum_runs AS p
    WHERE p.id = %(parent_run_id)s AND p.status NOT IN ('completed', 'failed', 'cancelled')
    FOR NO KEY UPDATE
), sent AS (
    INSERT INTO continuum_signals (run_id, name, payload, sent_at, delivery_id)
    SELECT parent.id, %(name)s, json_build_object(
               'run_id', c.id, 'status', c.status, 'output', c.output, 'error', c.error,
               'continued_to', c.continued_to),
           now(), %(name)s
    FROM parent, continuum_runs AS c
    WHERE c.id = %(run_id)s
    ON CONFLICT (run_id, delivery_id) WHERE delivery_id IS NOT NULL DO NOTHING
    RETURNING run_id
), woken AS (
    UPDATE continuum_runs AS r SET available_at = now(), updated_at = now()
    FROM parent
    WHERE r.id = parent.id AND EXISTS (SELECT 1 FROM sent)
      AND (parent.status = 'running' OR (parent.status = 'suspended' AND parent.waits))
    RETURNING parent.status
), notified AS (
    SELECT pg_notify('continuum_wakeup', '') FROM woken WHERE woken.status = 'suspended'
)
SELECT (SELECT count(*) FROM sent), (SELECT count(*) FROM notified);

-- name: set_attributes
-- Merged into what the run has; a key set to null is removed.
UPDATE continuum_runs
SET attributes = jsonb_strip_nulls(coalesce(attributes, '{}'::jsonb) || %(attributes)s::jsonb)
WHERE id = %(run_id)s
RETURNING attributes;

-- name: children
SELECT id FROM continuum_runs WHERE parent_run_id = %(run_id)s ORDER BY created_at, id;

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
        waiting_for = CASE WHEN %(outcome)s::text = 'suspended' THEN %(wake_on)s::text[] END,
        continued_to = %(continued_to)s::text,
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
    RETURNING r.id, r.status, r.available_at, r.output, r.error, r.continued_to
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
    FROM ended, LATERAL (SELECT CASE WHEN ended.continued_to IS NULL
        THEN json_build_array(ended.id, ended.status, ended.output::text, ended.error::text)
        ELSE json_build_array(
            ended.id, ended.status, ended.output::text, ended.error::text, ended.continued_to)
        END::text AS outcome) AS o
    WHERE ended.status IN ('completed', 'failed', 'cancelled')
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
        error json, wake_at float8, wake_on text[], continued_to text)
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
        waiting_for = CASE WHEN fence.outcome = 'suspended' THEN fence.wake_on END,
        continued_to = fence.continued_to,
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
    RETURNING fence.i, r.id, r.status, r.available_at, r.output, r.error, r.continued_to
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
    -- [id, status, output, error] (and the run that continues it, if any): whoever
    -- waits for the result need not read the run
    SELECT pg_notify('continuum_settled', CASE
        WHEN octet_length(outcome) < 7900 THEN outcome
        ELSE json_build_array(ended.id)::text
    END)
    FROM ended, LATERAL (SELECT CASE WHEN ended.continued_to IS NULL
        THEN json_build_array(ended.id, ended.status, ended.output::text, ended.error::text)
        ELSE json_build_array(
            ended.id, ended.status, ended.output::text, ended.error::text, ended.continued_to)
        END::text AS outcome) AS o
    WHERE ended.status IN ('completed', 'failed', 'cancelled')
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
-- A clean shutdown: the node's holds on versions and its heartbeat go.
WITH heartbeat AS (
    DELETE FROM continuum_nodes WHERE instance = %(instance)s AND node = %(node)s
)
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

-- name: query_runs
-- A page of runs with a run id among its filters (at most one run, found by its key),
-- or a parent's children (their index), or runs by attributes (the GIN index on them),
-- newest first after the keyset cursor (created_at, id). Each line that begins with
-- AND is one filter, kept only when the query has it (run_query.compose): a catch-all
-- `(x IS NULL OR col = x)` would cost a prepared statement its index. Every other
-- run list is served by one of the statements below: a range scan of an index that
-- starts where the last page ended, as fast on the last page as on the first.
SELECT * FROM continuum_runs
WHERE true
AND id = %(run_id)s
AND status = ANY (%(statuses)s::text[])
AND workflow = %(workflow)s
AND version_hash = %(version_hash)s
AND parent_run_id = %(parent_run_id)s
AND attributes @> %(attributes)s::jsonb
AND created_at >= to_timestamp(%(created_after)s::float8)
AND created_at < to_timestamp(%(created_before)s::float8)
AND (created_at, id) < (to_timestamp(%(after_created_at)s::float8), %(after_id)s::text)
ORDER BY created_at DESC, id DESC
LIMIT %(limit)s;

-- name: query_runs_by_status
-- A page of runs of some statuses, or of all of them when none is given (no workflow,
-- version or run id): an ordered scan of (status, created_at, id) per status, each
-- stopping after a page, merged. Also as fast for a status that is rare or old, whose
-- runs a scan of created_at would find only after reading every newer run.
SELECT r.* FROM unnest(%(statuses)s::text[]) AS s (status), LATERAL (
    SELECT * FROM continuum_runs
    WHERE status = s.status
    AND created_at >= to_timestamp(%(created_after)s::float8)
    AND created_at < to_timestamp(%(created_before)s::float8)
    AND (created_at, id) < (to_timestamp(%(after_created_at)s::float8), %(after_id)s::text)
    ORDER BY created_at DESC, id DESC
    LIMIT %(limit)s
) AS r
ORDER BY r.created_at DESC, r.id DESC
LIMIT %(limit)s;

-- name: query_runs_of_workflow
-- A page of one workflow's runs: its version hashes are found by skipping through the
-- index of (workflow, version_hash, ...) one probe each, then each version's newest
-- runs are read in order, a page at most, and merged. A workflow or a version whose
-- runs are all old (retired) costs no more than any other: given its values, the
-- planner would rather scan created_at and filter, reading every newer run first.
-- Each probe is parameterized by the one before, which it cannot estimate that way.
WITH RECURSIVE versions (version_hash) AS (
    (SELECT version_hash FROM continuum_runs WHERE workflow = %(workflow)s
     ORDER BY version_hash LIMIT 1)
    UNION ALL
    SELECT (SELECT r.version_hash FROM continuum_runs AS r
            WHERE r.workflow = %(workflow)s AND r.version_hash > v.version_hash
            ORDER BY r.version_hash LIMIT 1)
    FROM versions AS v WHERE v.version_hash IS NOT NULL
)
SELECT r.* FROM versions AS v, LATERAL (
    SELECT * FROM continuum_runs
    WHERE workflow = %(workflow)s AND version_hash = v.version_hash
    AND version_hash = %(version_hash)s
    AND status = ANY (%(statuses)s::text[])
    AND created_at >= to_timestamp(%(created_after)s::float8)
    AND created_at < to_timestamp(%(created_before)s::float8)
    AND (created_at, id) < (to_timestamp(%(after_created_at)s::float8), %(after_id)s::text)
    ORDER BY created_at DESC, id DESC
    LIMIT %(limit)s
) AS r
ORDER BY r.created_at DESC, r.id DESC
LIMIT %(limit)s;

-- name: query_runs_of_version
-- A page of one version hash's runs, whatever the workflow: as above, skipping
-- through the workflows instead.
WITH RECURSIVE workflows (workflow) AS (
    (SELECT workflow FROM continuum_runs ORDER BY workflow LIMIT 1)
    UNION ALL
    SELECT (SELECT r.workflow FROM continuum_runs AS r WHERE r.workflow > w.workflow
            ORDER BY r.workflow LIMIT 1)
    FROM workflows AS w WHERE w.workflow IS NOT NULL
)
SELECT r.* FROM workflows AS w, LATERAL (
    SELECT * FROM continuum_runs
    WHERE workflow = w.workflow AND version_hash = %(version_hash)s
    AND status = ANY (%(statuses)s::text[])
    AND created_at >= to_timestamp(%(created_after)s::float8)
    AND created_at < to_timestamp(%(created_before)s::float8)
    AND (created_at, id) < (to_timestamp(%(after_created_at)s::float8), %(after_id)s::text)
    ORDER BY created_at DESC, id DESC
    LIMIT %(limit)s
) AS r
ORDER BY r.created_at DESC, r.id DESC
LIMIT %(limit)s;

-- name: run_activity
-- Runs started and runs ended per bucket k of %(width)s seconds from %(since)s (bucket k
-- starts at since + k * width): range scans of created_at per status (every status is
-- named so that the status index serves) and of the ended runs' updated_at. Buckets
-- with nothing in them have no row.
WITH started AS (
    SELECT floor((extract(epoch FROM created_at)::float8 - %(since)s) / %(width)s)::bigint AS k,
           count(*) AS started
    FROM continuum_runs
    WHERE status IN ('pending', 'running', 'suspended', 'completed', 'failed', 'cancelled',
                     'stuck_unknown_version')
      AND created_at >= to_timestamp(%(since)s::float8)
    GROUP BY 1
), ended AS (
    SELECT floor((extract(epoch FROM updated_at)::float8 - %(since)s) / %(width)s)::bigint AS k,
           count(*) FILTER (WHERE status = 'completed') AS completed,
           count(*) FILTER (WHERE status = 'failed') AS failed,
           count(*) FILTER (WHERE status = 'cancelled') AS cancelled
    FROM continuum_runs
    WHERE status IN ('completed', 'failed', 'cancelled')
      AND updated_at >= to_timestamp(%(since)s::float8)
    GROUP BY 1
)
SELECT k, coalesce(started.started, 0), coalesce(ended.completed, 0),
       coalesce(ended.failed, 0), coalesce(ended.cancelled, 0)
FROM started FULL JOIN ended USING (k)
ORDER BY k;

-- name: list_signals
SELECT id, name, payload, extract(epoch FROM sent_at)::float8, consumed_seq, delivery_id
FROM continuum_signals WHERE run_id = %(run_id)s ORDER BY id;

-- name: heartbeat_node
-- This node's row, on the database clock. started_at stays while the same process
-- (hostname and pid) beats under the name; nodes silent for a week are forgotten.
WITH forgotten AS (
    DELETE FROM continuum_nodes
    WHERE heartbeat_at < now() - interval '7 days'
      AND (instance, node) <> (%(instance)s::text, %(node)s::text)
)
INSERT INTO continuum_nodes AS n
    (instance, node, hostname, pid, started_at, heartbeat_at, dispatching, concurrency,
     in_flight, listener)
VALUES (%(instance)s, %(node)s, %(hostname)s, %(pid)s, now(), now(), %(dispatching)s,
        %(concurrency)s, %(in_flight)s, %(listener)s)
ON CONFLICT (instance, node) DO UPDATE
SET started_at = CASE WHEN n.hostname = excluded.hostname AND n.pid = excluded.pid
                      THEN n.started_at ELSE excluded.started_at END,
    hostname = excluded.hostname, pid = excluded.pid, heartbeat_at = excluded.heartbeat_at,
    dispatching = excluded.dispatching, concurrency = excluded.concurrency,
    in_flight = excluded.in_flight, listener = excluded.listener;

-- name: list_nodes
SELECT instance, node, hostname, pid, extract(epoch FROM started_at)::float8,
       extract(epoch FROM heartbeat_at)::float8, dispatching, concurrency, in_flight, listener
FROM continuum_nodes
ORDER BY heartbeat_at DESC, instance, node;

-- name: store_health
-- What needs attention, in one read: expired leases nobody recovered (the leased
-- index), waiting runs long overdue and the oldest due one (the due index), and per
-- version the live runs no node seen lately holds for dispatching (a grouped read
-- of the live runs through the status index). Lists come as JSON.
WITH expired AS (
    SELECT id, lease_expires_at FROM continuum_runs
    WHERE status = 'running'
      AND lease_expires_at < now() - make_interval(secs => %(grace)s::float8)
), overdue AS (
    SELECT id, available_at FROM continuum_runs
    WHERE status IN ('pending', 'suspended')
      AND available_at < now() - make_interval(secs => %(overdue_after)s::float8)
), live AS (
    SELECT workflow, version_hash, count(*) AS runs FROM continuum_runs
    WHERE status IN ('pending', 'running', 'suspended', 'stuck_unknown_version')
    GROUP BY workflow, version_hash
), stranded AS (
    SELECT * FROM live
    WHERE NOT EXISTS (
        SELECT 1 FROM continuum_workflow_version_nodes AS h
        WHERE h.workflow = live.workflow AND h.version_hash = live.version_hash
          AND h.dispatching
          AND h.last_seen_at >= now() - make_interval(secs => %(alive_within)s::float8))
)
SELECT (SELECT count(*) FROM expired),
       to_json(ARRAY(SELECT id FROM expired ORDER BY lease_expires_at, id LIMIT %(examples)s)),
       (SELECT count(*) FROM overdue),
       to_json(ARRAY(SELECT id FROM overdue ORDER BY available_at, id LIMIT %(examples)s)),
       (SELECT extract(epoch FROM min(available_at))::float8 FROM continuum_runs
        WHERE status IN ('pending', 'suspended') AND available_at <= now()),
       (SELECT json_agg(json_build_array(workflow, version_hash, runs)
                        ORDER BY workflow, version_hash)
        FROM stranded);

-- name: due_backlog
SELECT count(*), extract(epoch FROM min(available_at))::float8 FROM continuum_runs
WHERE status IN ('pending', 'suspended') AND available_at <= now();

-- name: prune_runs
-- Deletes up to %(limit)s runs that ended before %(finished_before)s, oldest first,
-- through the index of ended runs; their journals and signals go with them (ON DELETE
-- CASCADE). SKIP LOCKED: a row another transaction holds (a signal being refused, a
-- second pruner) is left for the next batch, never waited for.
WITH chosen AS (
    SELECT id FROM continuum_runs
    WHERE status IN ('completed', 'failed', 'cancelled')
      AND status = ANY (%(statuses)s::text[])
      AND updated_at < to_timestamp(%(finished_before)s::float8)
    ORDER BY updated_at
    LIMIT %(limit)s
    FOR UPDATE SKIP LOCKED
)
DELETE FROM continuum_runs AS r USING chosen WHERE r.id = chosen.id;

-- name: prune_runs_of_workflows
-- As prune_runs, of the given workflows only (what retention asks, one workflow at a
-- time): oldest first within each workflow, the workflows in name order, read from the
-- index of ended runs per workflow. Through the index of all ended runs, a workflow
-- whose old runs are gone would read past every other workflow's first (measured: a
-- tenth of a second a look at a million runs). The ORDER BY is that index's own order,
-- which the other cannot give.
WITH chosen AS (
    SELECT id FROM continuum_runs
    WHERE workflow = ANY (%(workflows)s::text[])
      AND status IN ('completed', 'failed', 'cancelled')
      AND status = ANY (%(statuses)s::text[])
      AND updated_at < to_timestamp(%(finished_before)s::float8)
    ORDER BY workflow, updated_at
    LIMIT %(limit)s
    FOR UPDATE SKIP LOCKED
)
DELETE FROM continuum_runs AS r USING chosen WHERE r.id = chosen.id;

-- name: count_prunable
SELECT count(*) FROM continuum_runs
WHERE status IN ('completed', 'failed', 'cancelled')
AND status = ANY (%(statuses)s::text[])
AND updated_at < to_timestamp(%(finished_before)s::float8)
AND workflow = ANY (%(workflows)s::text[]);

-- name: without_jit
-- For the rest of a transaction over many runs (see PostgresObserve._without_jit).
SET LOCAL jit = off;

-- name: custom_plans
-- For a run list by attributes: how many runs one attribute value matches differs by
-- orders of magnitude (a customer id, a region), and a generic plan made for one
-- kind serves the other 10 to 100 times slower (see query_runs).
SET LOCAL plan_cache_mode = force_custom_plan;

-- schedules ---------------------------------------------------------------------------
-- The store keeps schedule rows and answers what is due by now(); the engine reads the
-- cron expressions and the policies. Every change compares and sets `revision`.

-- name: insert_schedule
INSERT INTO continuum_schedules
    (id, workflow, input, cron, interval_seconds, run_at, timezone, overlap, catch_up,
     next_tick, created_at, updated_at)
VALUES (%(id)s, %(workflow)s, %(input)s, %(cron)s, %(interval_seconds)s,
        to_timestamp(%(run_at)s::float8), %(timezone)s, %(overlap)s, %(catch_up)s,
        to_timestamp(%(next_tick)s::float8), now(), now())
ON CONFLICT (id) DO NOTHING;

-- name: update_schedule
-- A new definition for the schedule as it was read (%(revision)s); paused stays.
UPDATE continuum_schedules
SET workflow = %(workflow)s, input = %(input)s, cron = %(cron)s,
    interval_seconds = %(interval_seconds)s, run_at = to_timestamp(%(run_at)s::float8),
    timezone = %(timezone)s, overlap = %(overlap)s, catch_up = %(catch_up)s,
    next_tick = to_timestamp(%(next_tick)s::float8), revision = revision + 1, updated_at = now()
WHERE id = %(id)s AND revision = %(revision)s;

-- name: get_schedule
SELECT s.*, r.status AS last_run_status
FROM continuum_schedules AS s LEFT JOIN continuum_runs AS r ON r.id = s.last_run_id
WHERE s.id = %(id)s;

-- name: list_schedules
SELECT s.*, r.status AS last_run_status
FROM continuum_schedules AS s LEFT JOIN continuum_runs AS r ON r.id = s.last_run_id
ORDER BY s.id;

-- name: set_schedule_paused
UPDATE continuum_schedules
SET paused = %(paused)s, next_tick = to_timestamp(%(next_tick)s::float8),
    revision = revision + 1, updated_at = now()
WHERE id = %(id)s AND revision = %(revision)s;

-- name: delete_schedule
DELETE FROM continuum_schedules WHERE id = %(id)s;

-- name: next_schedule
-- Seconds from now() to the earliest next tick of the schedules of %(workflows)s not
-- paused, but those of %(skip)s: the first such entry of the due index.
SELECT extract(epoch FROM min(next_tick) - now())::float8 FROM continuum_schedules
WHERE NOT paused AND next_tick IS NOT NULL AND workflow = ANY (%(workflows)s::text[])
  AND id <> ALL (%(skip)s::text[]);

-- name: due_schedules
-- Schedules of %(workflows)s whose next tick has come by now(), earliest first, each
-- with the status of the run of its last tick (NULL when that run is gone).
SELECT s.*, r.status AS last_run_status, extract(epoch FROM now())::float8 AS db_now
FROM continuum_schedules AS s LEFT JOIN continuum_runs AS r ON r.id = s.last_run_id
WHERE NOT s.paused AND s.next_tick <= now() AND s.workflow = ANY (%(workflows)s::text[])
ORDER BY s.next_tick
LIMIT %(limit)s;

-- name: fire_schedules
-- Firings, one per element of the arrays, each planned from a revision: a schedule
-- still at it (and not paused) takes the firing's next tick, last tick and last run,
-- and its revision moves on. Rows are locked in id order with SKIP LOCKED: a schedule
-- another node is firing at this moment is left to it (its revision would not hold
-- anyway), so nodes never wait on each other's firings nor deadlock. The runs go in
-- by insert_run, in the same transaction. Returns the ids fired.
WITH f AS (
    SELECT * FROM unnest(%(ids)s::text[], %(revisions)s::bigint[], %(next_ticks)s::float8[],
                         %(last_ticks)s::float8[], %(last_run_ids)s::text[])
        AS f (id, revision, next_tick, last_tick, last_run_id)
), locked AS (
    SELECT s.id FROM continuum_schedules AS s JOIN f ON f.id = s.id
    WHERE s.revision = f.revision AND NOT s.paused
    ORDER BY s.id
    FOR UPDATE OF s SKIP LOCKED
)
UPDATE continuum_schedules AS s
SET next_tick = to_timestamp(f.next_tick), last_tick = coalesce(to_timestamp(f.last_tick), s.last_tick),
    last_run_id = coalesce(f.last_run_id, s.last_run_id), revision = s.revision + 1,
    updated_at = now()
FROM f JOIN locked ON locked.id = f.id
WHERE s.id = locked.id
RETURNING s.id;

-- name: runs_created_now
-- Which of %(ids)s this transaction inserted (after an insert that left some as they were).
SELECT id FROM continuum_runs WHERE id = ANY (%(ids)s::text[]) AND created_at = now();
