-- Composition: a child run names its parent (and whether cancelling the parent
-- cancels it), a continued run names the runs before and after it, runs carry
-- searchable attributes, a run of a workflow that unwinds on cancel records when
-- cancelling it was asked, and a suspended run records the signals it waits for, so a
-- child that ends wakes its parent only when the parent waits for that child.
ALTER TABLE continuum_runs ADD COLUMN parent_run_id TEXT;
ALTER TABLE continuum_runs ADD COLUMN cancel_with_parent INTEGER;
ALTER TABLE continuum_runs ADD COLUMN continued_from TEXT;
ALTER TABLE continuum_runs ADD COLUMN continued_to TEXT;
ALTER TABLE continuum_runs ADD COLUMN attributes TEXT;
ALTER TABLE continuum_runs ADD COLUMN unwind_on_cancel INTEGER;
ALTER TABLE continuum_runs ADD COLUMN cancel_requested_at REAL;
ALTER TABLE continuum_runs ADD COLUMN waiting_for TEXT;

CREATE INDEX continuum_runs_children ON continuum_runs (parent_run_id, created_at, id)
    WHERE parent_run_id IS NOT NULL;
