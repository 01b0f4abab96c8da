-- setpoint's durable store (SQLite), version 1: the current objects by kind and key, the kinds'
-- identities, and the store's revision. The `meta` table (key → value: `schema`, `revision`) is
-- made by the migration runner, which records the version there.
CREATE TABLE kinds (id TEXT PRIMARY KEY, identity TEXT NOT NULL) WITHOUT ROWID;
CREATE TABLE objects (
  kind TEXT NOT NULL, namespace TEXT NOT NULL, name TEXT NOT NULL,
  object TEXT NOT NULL,
  PRIMARY KEY (kind, namespace, name)
) WITHOUT ROWID;
INSERT INTO meta (key, value) VALUES ('revision', '1');
