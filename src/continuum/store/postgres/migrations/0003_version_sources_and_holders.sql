-- The class source of every registered version (versions restore and diff), which
-- holders dispatch and which have a version from a frozen file (the drain report),
-- and an index on patch markers (patch usage without reading whole journals).
ALTER TABLE continuum_workflow_versions ADD COLUMN source text;
ALTER TABLE continuum_workflow_version_nodes ADD COLUMN dispatching boolean NOT NULL DEFAULT true;
ALTER TABLE continuum_workflow_version_nodes ADD COLUMN frozen boolean NOT NULL DEFAULT false;
CREATE INDEX continuum_journal_patches ON continuum_journal (name, run_id) WHERE kind = 'patch';
