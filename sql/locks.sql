-- locks: every relation a migration locks is locked up front, in the lock
-- phase the plan's LOCK rows show: after a whole migration in one open
-- transaction, every lock this backend holds on a relation that existed
-- before (indexes and TOAST tables go with their table) is one the plan
-- listed, in that mode or a stronger one (an index or TOAST table: it, or its
-- table in a mode covering it: PostgreSQL locks those through their table); a stricter lock_timeout of the session is
-- kept and said in the plan
SET connector_uuid.progress = off;
CREATE SCHEMA lk;
SET search_path = lk, public;
CREATE EXTENSION connector_uuid VERSION '1.0' SCHEMA lk;

-- the lock modes, with the modes each conflicts with (the manual's table)
CREATE TEMP TABLE modes (lock text PRIMARY KEY, plan text, conflicts int[]);
INSERT INTO modes VALUES
  ('AccessShareLock', 'ACCESS SHARE', '{8}'),
  ('RowShareLock', 'ROW SHARE', '{7,8}'),
  ('RowExclusiveLock', 'ROW EXCLUSIVE', '{5,6,7,8}'),
  ('ShareUpdateExclusiveLock', 'SHARE UPDATE EXCLUSIVE', '{4,5,6,7,8}'),
  ('ShareLock', 'SHARE', '{3,4,6,7,8}'),
  ('ShareRowExclusiveLock', 'SHARE ROW EXCLUSIVE', '{3,4,5,6,7,8}'),
  ('ExclusiveLock', 'EXCLUSIVE', '{2,3,4,5,6,7,8}'),
  ('AccessExclusiveLock', 'ACCESS EXCLUSIVE', '{1,2,3,4,5,6,7,8}');
-- the relations there are now, and the plan's lock rows
CREATE TEMP TABLE pre (oid oid, relname name, owner name);
CREATE TEMP TABLE planned (relation text, lock_mode text);
CREATE FUNCTION pg_temp.snapshot(plan_of regclass, direction text) RETURNS bigint
LANGUAGE plpgsql AS $$
BEGIN
  DELETE FROM pre;
  INSERT INTO pre SELECT c.oid, c.relname,
    (SELECT o.relname FROM pg_class o
     WHERE o.oid = (SELECT i.indrelid FROM pg_index i WHERE i.indexrelid = c.oid)
        OR o.reltoastrelid IN (c.oid, (SELECT i.indrelid FROM pg_index i WHERE i.indexrelid = c.oid)))
  FROM pg_class c
  WHERE c.relnamespace NOT IN ('pg_catalog'::regnamespace, 'information_schema'::regnamespace,
                               'pg_toast'::regnamespace)
    AND c.relpersistence <> 't';
  DELETE FROM planned;
  INSERT INTO planned SELECT p.relation, p.lock_mode
  FROM connector_uuid_plan(plan_of, direction) p WHERE p.statement ~ '^(LOCK TABLE|-- lock )';
  RETURN (SELECT count(*) FROM planned);
END $$;
-- the locks held now on those relations (dropped since included) that no
-- lock row covers
CREATE VIEW pg_temp.unplanned AS
SELECT c.relname, l.mode FROM pg_locks l JOIN pre c ON c.oid = l.relation
WHERE l.pid = pg_backend_pid() AND l.locktype = 'relation' AND l.granted
  AND NOT EXISTS (SELECT 1 FROM planned p JOIN modes pm ON pm.plan = p.lock_mode
                  JOIN modes hm ON hm.lock = l.mode
                  WHERE p.relation = c.relname AND pm.conflicts @> hm.conflicts)
  AND NOT EXISTS (SELECT 1 FROM planned p JOIN modes pm ON pm.plan = p.lock_mode
                  JOIN modes hm ON hm.lock = l.mode
                  WHERE p.relation = c.owner AND pm.conflicts @> hm.conflicts);

-- a key with an identity sequence; a partitioned referencing table; a
-- policy and a rule on other tables that read the key; a view that also
-- reads another table; a materialized view
CREATE TABLE gen (id integer GENERATED ALWAYS AS IDENTITY PRIMARY KEY, note text);
CREATE TABLE gen_ref (id integer, part integer, gen_id integer REFERENCES gen,
                      PRIMARY KEY (id, part)) PARTITION BY LIST (part);
CREATE TABLE gen_ref_a PARTITION OF gen_ref FOR VALUES IN (1);
CREATE TABLE gen_ref_b PARTITION OF gen_ref FOR VALUES IN (2);
CREATE TABLE docs (body text);
ALTER TABLE docs ENABLE ROW LEVEL SECURITY;
CREATE POLICY docs_seen ON docs USING (EXISTS (SELECT 1 FROM gen g WHERE g.id IS NOT NULL AND g.note = docs.body));
CREATE TABLE audit (key text, note text);
CREATE RULE audit_note AS ON INSERT TO audit DO ALSO
  UPDATE gen SET note = NEW.note WHERE gen.id IS NOT NULL AND gen.note = NEW.key;
CREATE TABLE labels (label text);
CREATE VIEW gen_labels AS SELECT g.id, l.label FROM gen g CROSS JOIN labels l;
CREATE MATERIALIZED VIEW gen_notes AS SELECT id, note FROM gen;
-- a referencing table with an inheritance child (its rewrite recurses there)
CREATE TABLE gen_inh (gen_id integer REFERENCES gen);
CREATE TABLE gen_inh_child () INHERITS (gen_inh);
INSERT INTO gen_inh_child VALUES (1), (2);
INSERT INTO gen (note) SELECT 'note ' || i FROM generate_series(1, 20) i;
INSERT INTO gen_ref SELECT i, 1 + i % 2, i FROM generate_series(1, 20) i;

SELECT pg_temp.snapshot('gen', 'upgrade') > 0 AS planned;
SELECT relation, lock_mode FROM planned;
-- the plan says nothing about lock_timeout while the session sets none
SELECT count(*) AS notes FROM connector_uuid_plan('gen'::regclass) WHERE statement LIKE '-- the session%';
BEGIN;
SELECT connector_uuid_convert('gen');
SELECT * FROM pg_temp.unplanned ORDER BY 1, 2;
ROLLBACK;

-- the revert, in an open transaction too
SELECT connector_uuid_convert('gen');
SELECT pg_temp.snapshot('gen', 'downgrade') > 0 AS planned;
BEGIN;
SELECT connector_uuid_revert('gen');
SELECT * FROM pg_temp.unplanned ORDER BY 1, 2;
ROLLBACK;
SELECT connector_uuid_revert('gen');

-- a key table partitioned by HASH of its key, with a foreign key to another
-- table (the rebuild adds it to the new parent and drops the old parent's)
CREATE TABLE cur (code text PRIMARY KEY);
INSERT INTO cur VALUES ('EUR'), ('USD');
CREATE TABLE acct (id serial PRIMARY KEY, cur text REFERENCES cur) PARTITION BY HASH (id);
CREATE TABLE acct_p0 PARTITION OF acct FOR VALUES WITH (MODULUS 2, REMAINDER 0);
CREATE TABLE acct_p1 PARTITION OF acct FOR VALUES WITH (MODULUS 2, REMAINDER 1);
CREATE TABLE posting (id serial PRIMARY KEY, acct_id integer REFERENCES acct);
INSERT INTO acct (cur) SELECT CASE WHEN i % 2 = 0 THEN 'EUR' ELSE 'USD' END FROM generate_series(1, 20) i;
INSERT INTO posting (acct_id) SELECT i FROM generate_series(1, 20) i;
SELECT pg_temp.snapshot('acct', 'upgrade') > 0 AS planned;
SELECT relation, lock_mode FROM planned;
BEGIN;
SELECT connector_uuid_convert('acct');
SELECT * FROM pg_temp.unplanned ORDER BY 1, 2;
ROLLBACK;
SELECT connector_uuid_convert('acct');
SELECT pg_temp.snapshot('acct', 'downgrade') > 0 AS planned;
BEGIN;
SELECT connector_uuid_revert('acct');
SELECT * FROM pg_temp.unplanned ORDER BY 1, 2;
ROLLBACK;

-- a stricter lock_timeout of the session is used, and the plan says so; a
-- looser one does not widen connector_uuid.lock_timeout
SET connector_uuid.lock_timeout = '3s';
SET lock_timeout = '250ms';
SELECT statement FROM connector_uuid_plan('gen'::regclass) WHERE statement LIKE '-- the session%';
SET lock_timeout = '10s';
SELECT count(*) AS notes FROM connector_uuid_plan('gen'::regclass) WHERE statement LIKE '-- the session%';
RESET lock_timeout;
RESET connector_uuid.lock_timeout;

DROP EXTENSION connector_uuid;
DROP SCHEMA lk CASCADE;
RESET search_path;

-- the connector's upgrade and downgrade: with an MD5 index of the wrong
-- shape (dropped and created again) and the alembic_version stamp
\set ECHO none
\i fixture/app-1.0.sql
\set ECHO all
CREATE EXTENSION connector_uuid VERSION '1.0';
DROP INDEX uq_mcp_connectors_secret_md5;
CREATE INDEX uq_mcp_connectors_secret_md5 ON mcp_connectors (md5(secret::text));
CREATE FUNCTION pg_temp.snapshot_connector() RETURNS bigint
LANGUAGE plpgsql AS $$
BEGIN
  DELETE FROM pre;
  INSERT INTO pre SELECT c.oid, c.relname,
    (SELECT o.relname FROM pg_class o
     WHERE o.oid = (SELECT i.indrelid FROM pg_index i WHERE i.indexrelid = c.oid)
        OR o.reltoastrelid IN (c.oid, (SELECT i.indrelid FROM pg_index i WHERE i.indexrelid = c.oid)))
  FROM pg_class c
  WHERE c.relnamespace NOT IN ('pg_catalog'::regnamespace, 'information_schema'::regnamespace,
                               'pg_toast'::regnamespace)
    AND c.relpersistence <> 't';
  DELETE FROM planned;
  INSERT INTO planned SELECT p.relation, p.lock_mode
  FROM connector_uuid_plan() p WHERE p.statement ~ '^(LOCK TABLE|-- lock )';
  RETURN (SELECT count(*) FROM planned);
END $$;
SELECT pg_temp.snapshot_connector() > 0 AS planned;
SELECT relation, lock_mode FROM planned;
BEGIN;
ALTER EXTENSION connector_uuid UPDATE;
SELECT * FROM pg_temp.unplanned ORDER BY 1, 2;
ROLLBACK;
ALTER EXTENSION connector_uuid UPDATE;
SELECT pg_temp.snapshot_connector() > 0 AS planned;
SELECT relation, lock_mode FROM planned;
BEGIN;
ALTER EXTENSION connector_uuid UPDATE TO '1.0';
SELECT * FROM pg_temp.unplanned ORDER BY 1, 2;
ROLLBACK;

DROP EXTENSION connector_uuid;
DROP VIEW active_connectors;
DROP TABLE alembic_version, mcp_servers, connector_access, mcp_connectors, "user";
