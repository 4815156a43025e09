-- The class source of every registered version (versions restore and diff), which
-- holders dispatch and which have a version from a frozen file (the drain report),
-- and an index on patch markers (patch usage without reading whole journals).
-- SQLite adds a column after a table's constraints, where a fresh install cannot
-- put it, so both registry tables are rebuilt as schema.sql defines them.
CREATE TEMP TABLE versions_before AS SELECT * FROM continuum_workflow_versions;
CREATE TEMP TABLE holders_before AS SELECT * FROM continuum_workflow_version_nodes;
DROP TABLE continuum_workflow_version_nodes;
DROP TABLE continuum_workflow_versions;

CREATE TABLE continuum_workflow_versions (
    workflow TEXT NOT NULL,
    version_hash TEXT NOT NULL,
    version INTEGER NOT NULL,
    module TEXT NOT NULL,
    qualname TEXT NOT NULL,
    first_seen_at REAL NOT NULL,
    last_seen_at REAL NOT NULL,
    -- the class statement, for versions restore and diff
    source TEXT,
    PRIMARY KEY (workflow, version_hash)
);

CREATE TABLE continuum_workflow_version_nodes (
    workflow TEXT NOT NULL,
    version_hash TEXT NOT NULL,
    instance TEXT NOT NULL,
    node TEXT NOT NULL,
    loaded_at REAL NOT NULL,
    last_seen_at REAL NOT NULL,
    -- it executes runs (a client with dispatch=False does not)
    dispatching INTEGER NOT NULL DEFAULT 1,
    -- it has the version from a frozen file
    frozen INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (workflow, version_hash, instance, node),
    FOREIGN KEY (workflow, version_hash)
        REFERENCES continuum_workflow_versions (workflow, version_hash) ON DELETE CASCADE
);

INSERT INTO continuum_workflow_versions
    (workflow, version_hash, version, module, qualname, first_seen_at, last_seen_at)
SELECT workflow, version_hash, version, module, qualname, first_seen_at, last_seen_at
FROM versions_before;
INSERT INTO continuum_workflow_version_nodes
    (workflow, version_hash, instance, node, loaded_at, last_seen_at)
SELECT workflow, version_hash, instance, node, loaded_at, last_seen_at FROM holders_before;
DROP TABLE versions_before;
DROP TABLE holders_before;

CREATE INDEX continuum_journal_patches ON continuum_journal (name, run_id) WHERE kind = 'patch';
