-- Version 2: owners are found through a hash index, not a primary key. An owner reference's uid
-- comes from the writer and may be long, and a btree entry is limited to 2,704 bytes: a long uid
-- failed the write with "index row size exceeds btree version 4 maximum" (500) where the other
-- stores take it. A hash index keeps a hash of the value, whatever its length. Rows are unique by
-- construction (a write replaces its dependent's rows, one per distinct uid).
ALTER TABLE __SCHEMA__.owners DROP CONSTRAINT owners_pkey;
CREATE INDEX owners_by_owner ON __SCHEMA__.owners USING hash (owner_uid);
-- A write replaces the rows of its dependent: found by key, not by a scan.
CREATE INDEX owners_by_dependent ON __SCHEMA__.owners (kind, namespace, name);
