-- setpoint's PostgreSQL store, version 1. Every name is qualified by the schema the backend was
-- given: __SCHEMA__ is replaced by its quoted identifier.

-- The store's one global revision (etcd's), and how far the change history was compacted. The
-- row is locked by every write transaction for its whole length: revisions are handed out in
-- commit order.
CREATE TABLE __SCHEMA__.revision (
  id integer PRIMARY KEY CHECK (id = 1),
  value bigint NOT NULL,
  compacted bigint NOT NULL
);
INSERT INTO __SCHEMA__.revision (id, value, compacted) VALUES (1, 1, 0);

-- The kinds this store has held: their identity, and the revision of their latest change.
CREATE TABLE __SCHEMA__.kinds (
  id text PRIMARY KEY,
  identity jsonb NOT NULL,
  last_change bigint NOT NULL
);

-- The current objects.
CREATE TABLE __SCHEMA__.objects (
  kind text NOT NULL,
  namespace text NOT NULL,
  name text NOT NULL,
  uid text NOT NULL,
  revision bigint NOT NULL,
  object jsonb NOT NULL,
  PRIMARY KEY (kind, namespace, name)
);
CREATE UNIQUE INDEX objects_uid ON __SCHEMA__.objects (uid);

-- Every change since the compaction point (and, below it, the latest change of each key that
-- changed since: what a list's later pages need to read the snapshot of its first).
CREATE TABLE __SCHEMA__.changes (
  revision bigint PRIMARY KEY,
  kind text NOT NULL,
  namespace text NOT NULL,
  name text NOT NULL,
  type text NOT NULL CHECK (type IN ('ADDED', 'MODIFIED', 'DELETED')),
  object jsonb NOT NULL,
  previous_labels jsonb
);
CREATE INDEX changes_by_kind ON __SCHEMA__.changes (kind, revision);
CREATE INDEX changes_by_key ON __SCHEMA__.changes (kind, namespace, name, revision);

-- Owner references, for garbage collection: the dependents of each owner uid.
CREATE TABLE __SCHEMA__.owners (
  owner_uid text NOT NULL,
  kind text NOT NULL,
  namespace text NOT NULL,
  name text NOT NULL,
  PRIMARY KEY (owner_uid, kind, namespace, name)
);
