-- Composition: a child run names its parent (and whether cancelling the parent
-- cancels it), a continued run names the runs before and after it, runs carry
-- searchable attributes, a run of a workflow that unwinds on cancel records when
-- cancelling it was asked, and a suspended run records the signals it waits for, so a
-- child that ends wakes its parent only when the parent waits for that child.
-- Columns without defaults, and the attribute index partial: adding them rewrites
-- nothing and indexes only runs that have attributes.
ALTER TABLE continuum_runs ADD COLUMN parent_run_id text;
ALTER TABLE continuum_runs ADD COLUMN cancel_with_parent boolean;
ALTER TABLE continuum_runs ADD COLUMN continued_from text;
ALTER TABLE continuum_runs ADD COLUMN continued_to text;
ALTER TABLE continuum_runs ADD COLUMN attributes jsonb;
ALTER TABLE continuum_runs ADD COLUMN unwind_on_cancel boolean;
ALTER TABLE continuum_runs ADD COLUMN cancel_requested_at timestamptz;
ALTER TABLE continuum_runs ADD COLUMN waiting_for text[];

CREATE INDEX continuum_runs_children ON continuum_runs (parent_run_id, created_at, id)
    WHERE parent_run_id IS NOT NULL;
CREATE INDEX continuum_runs_attributes ON continuum_runs USING gin (attributes jsonb_path_ops)
    WHERE attributes IS NOT NULL;
