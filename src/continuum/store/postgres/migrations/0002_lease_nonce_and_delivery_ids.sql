-- A random nonce per claim, compared by the fence beside the token: a claim the
-- server lost in a crash can never be handed out again. And delivery ids for
-- signals: a repeated delivery to the same run is dropped.
ALTER TABLE continuum_runs ADD COLUMN lease_nonce bigint NOT NULL DEFAULT 0;
ALTER TABLE continuum_signals ADD COLUMN delivery_id text;
CREATE UNIQUE INDEX continuum_signals_delivery ON continuum_signals (run_id, delivery_id)
    WHERE delivery_id IS NOT NULL;
