-- online: the online mode's state machine on the connector tables and on a
-- general table.  prepare -> swap -> swap back -> swap -> finalize; abort
-- from every state before the swap; what is refused, and why.
SET connector_uuid.progress = off;
CREATE SCHEMA onl;
SET search_path = onl, public;
\set scale 300
\set ECHO none
\i fixture/app-1.0.sql
\set ECHO all
CREATE EXTENSION connector_uuid VERSION '1.0' SCHEMA onl;
CREATE TABLE snap_connectors AS SELECT * FROM mcp_connectors;
CREATE TABLE snap_access AS SELECT * FROM connector_access;
CREATE TABLE snap_servers AS SELECT * FROM mcp_servers;

-- what an application that does SELECT * sees before: the columns
SELECT string_agg(attname, ', ' ORDER BY attnum) FROM pg_attribute
WHERE attrelid = 'mcp_connectors'::regclass AND attnum > 0 AND NOT attisdropped;

-- refused: inside a transaction block, bad options, a partitioned table
BEGIN;
CALL connector_uuid_prepare();
ROLLBACK;
CALL connector_uuid_prepare(batch_size => 0);
CALL connector_uuid_prepare(pause => '-1 s');
CREATE TABLE parted (id integer PRIMARY KEY) PARTITION BY HASH (id);
CREATE TABLE parted_0 PARTITION OF parted FOR VALUES WITH (MODULUS 1, REMAINDER 0);
CALL connector_uuid_prepare('parted');
-- nothing to finalize, abort or swap yet
SELECT connector_uuid_finalize();
SELECT connector_uuid_abort();

-- a partial preparation (a time budget that runs out at once), then abort
SET connector_uuid.progress = info;
CALL connector_uuid_prepare(batch_size => 50, time_budget => '1 microsecond');
SET connector_uuid.progress = off;
SELECT table_name, phase FROM connector_uuid_progress;
-- not ready: the swap and a prepare with other options are refused
ALTER EXTENSION connector_uuid UPDATE;
CALL connector_uuid_prepare(batch_size => 10);
SELECT connector_uuid_abort();
SELECT count(*) AS state_rows FROM connector_uuid_online;
SELECT count(*) AS registry_rows FROM connector_uuid_tables;
SELECT string_agg(attname, ', ' ORDER BY attnum) FROM pg_attribute
WHERE attrelid = 'mcp_connectors'::regclass AND attnum > 0 AND NOT attisdropped;
SELECT count(*) AS sync_triggers FROM pg_trigger WHERE tgname = 'zz_connector_uuid_sync';

-- prepared, then abort: everything goes
CALL connector_uuid_prepare(batch_size => 100);
SELECT table_name, phase, rows_done > 0 AS rows_done FROM connector_uuid_progress;
SELECT connector_uuid_abort();
SELECT count(*) AS twin_columns FROM pg_attribute
WHERE attrelid IN ('mcp_connectors'::regclass, 'connector_access'::regclass, 'mcp_servers'::regclass)
  AND attname LIKE '%\_uuid' AND NOT attisdropped;
SELECT conname FROM pg_constraint WHERE conname LIKE '%\_uuid%' ORDER BY 1;

-- prepared for real
CALL connector_uuid_prepare(batch_size => 100);
-- a second prepare with the same options says so; with others, refused
SET connector_uuid.progress = info;
CALL connector_uuid_prepare(batch_size => 100);
SET connector_uuid.progress = off;
CALL connector_uuid_prepare(batch_size => 100, pause => '1 s');
-- what a SELECT * application sees while prepared: one more column
SELECT string_agg(attname, ', ' ORDER BY attnum) FROM pg_attribute
WHERE attrelid = 'mcp_connectors'::regclass AND attnum > 0 AND NOT attisdropped;
-- every row has the uuid the offline mode would give it, every link holds
SELECT count(*) FILTER (WHERE id_uuid IS DISTINCT FROM connector_uuid_lookup('mcp_connectors', id)) AS wrong_ids,
       count(*) AS connectors FROM mcp_connectors;
SELECT count(*) FILTER (WHERE a.connector_id_uuid IS DISTINCT FROM c.id_uuid) AS wrong_links
FROM connector_access a LEFT JOIN mcp_connectors c ON c.id = a.connector_id;
SELECT count(*) FILTER (WHERE s.connector_id_uuid IS DISTINCT FROM c.id_uuid) AS wrong_links
FROM mcp_servers s LEFT JOIN mcp_connectors c ON c.id = s.connector_id;
-- application writes at 1.0 keep the twins in step (and cannot set them)
INSERT INTO mcp_connectors (name, url) VALUES ('new at 1.0', 'https://n1') RETURNING id_uuid = connector_uuid_lookup('mcp_connectors', id) AS derived;
UPDATE mcp_connectors SET id_uuid = '00000000-0000-0000-0000-000000000000' WHERE name = 'connector 1';
SELECT id_uuid = connector_uuid_lookup('mcp_connectors', id) AS kept FROM mcp_connectors WHERE name = 'connector 1';
INSERT INTO connector_access (connector_id) SELECT id FROM mcp_connectors WHERE name = 'new at 1.0';
UPDATE mcp_servers SET connector_id = (SELECT id FROM mcp_connectors WHERE name = 'connector 2')
WHERE connector_id = (SELECT id FROM mcp_connectors WHERE name = 'connector 3');
SELECT count(*) FILTER (WHERE s.connector_id_uuid IS DISTINCT FROM c.id_uuid) AS wrong_links
FROM mcp_servers s JOIN mcp_connectors c ON c.id = s.connector_id;
-- verify(thorough) checks that both links name the same connector
SELECT count(*) AS failed FROM connector_uuid_verify(thorough => true) WHERE NOT passed;
ALTER TABLE connector_access DISABLE TRIGGER zz_connector_uuid_sync;
CREATE TABLE drifted AS SELECT a.id, a.connector_id_uuid FROM connector_access a
  JOIN mcp_connectors c ON c.id = a.connector_id WHERE c.name = 'connector 1' ORDER BY a.id LIMIT 1;
UPDATE connector_access SET connector_id_uuid = (SELECT id_uuid FROM mcp_connectors WHERE name = 'connector 2')
WHERE id = (SELECT id FROM drifted);
SELECT item, passed, detail FROM connector_uuid_verify(thorough => true) WHERE NOT passed;
UPDATE connector_access a SET connector_id_uuid = d.connector_id_uuid FROM drifted d WHERE a.id = d.id;
ALTER TABLE connector_access ENABLE ALWAYS TRIGGER zz_connector_uuid_sync;
SELECT count(*) AS failed FROM connector_uuid_verify(thorough => true) WHERE NOT passed;
-- the sync trigger is prepare's alone: no other role may attach it (its
-- arguments name a key and a table to read), and one attached by hand fails
CREATE ROLE regress_cu_online_app;
GRANT CREATE, USAGE ON SCHEMA onl TO regress_cu_online_app;
SET ROLE regress_cu_online_app;
CREATE TABLE mine (id integer, u uuid);
CREATE TRIGGER steal BEFORE INSERT ON mine FOR EACH ROW
  EXECUTE FUNCTION connector_uuid_sync('1', 'ref', 'int', 'id', 'u', 'lookup', 'onl', 'mcp_connectors', 'id', 'id_uuid', '0');
RESET ROLE;
CREATE TRIGGER steal BEFORE INSERT ON mine FOR EACH ROW
  EXECUTE FUNCTION connector_uuid_sync('1', 'key', 'int', 'id', 'u', 'derive', '0');
INSERT INTO mine (id) VALUES (1);
DROP TABLE mine;
REVOKE ALL ON SCHEMA onl FROM regress_cu_online_app;
DROP ROLE regress_cu_online_app;
-- the extension cannot be dropped from under the triggers
DROP EXTENSION connector_uuid;
-- the plan of the swap: catalog changes only
SELECT step, relation, description, lock_mode FROM connector_uuid_plan() WHERE step > 0 ORDER BY step;

-- the swap
ALTER EXTENSION connector_uuid UPDATE;
SELECT item, passed FROM connector_uuid_verify() ORDER BY item;
SELECT string_agg(attname || ' ' || format_type(atttypid, atttypmod), ', ' ORDER BY attnum) FROM pg_attribute
WHERE attrelid = 'mcp_connectors'::regclass AND attnum > 0 AND NOT attisdropped;
SELECT conname, contype FROM pg_constraint WHERE conrelid IN ('mcp_connectors'::regclass, 'connector_access'::regclass)
  AND contype IN ('p', 'u', 'f') ORDER BY 1;
SELECT count(*) FILTER (WHERE id IS DISTINCT FROM connector_uuid_lookup('mcp_connectors', id_int)) AS wrong_ids FROM mcp_connectors;
-- the view reads the uuid column now
SELECT pg_typeof(id) FROM active_connectors LIMIT 1;
-- writes at 2.0: new connectors get a uuid and still an integer
INSERT INTO mcp_connectors (name, url) VALUES ('new at 2.0', 'https://n2') RETURNING id_int > 0 AS has_integer;
INSERT INTO mcp_servers (id, connector_id, name) SELECT md5('s2')::uuid, id, 'server at 2.0' FROM mcp_connectors WHERE name = 'new at 2.0';
INSERT INTO connector_access (connector_id) SELECT id FROM mcp_connectors WHERE name = 'connector 5';
SELECT count(*) FILTER (WHERE s.connector_id_int IS DISTINCT FROM c.id_int) AS wrong_links
FROM mcp_servers s JOIN mcp_connectors c ON c.id = s.connector_id;
SELECT count(*) FILTER (WHERE a.connector_id_int IS DISTINCT FROM c.id_int) AS wrong_links
FROM connector_access a JOIN mcp_connectors c ON c.id = a.connector_id;
-- refused when swapped: abort, prepare
SELECT connector_uuid_abort();
CALL connector_uuid_prepare();

-- the swap back: lossless, instant
ALTER EXTENSION connector_uuid UPDATE TO '1.0';
SELECT item, passed FROM connector_uuid_verify() ORDER BY item;
SELECT count(*) AS lost FROM snap_connectors s LEFT JOIN mcp_connectors c USING (id) WHERE c.id IS NULL AND s.name <> 'connector 3';
SELECT id_uuid IS NOT NULL AS kept_its_uuid FROM mcp_connectors WHERE name = 'new at 2.0';
-- a child of a connector made at 2.0 gets that connector's uuid (looked up, not derived)
INSERT INTO connector_access (connector_id) SELECT id FROM mcp_connectors WHERE name = 'new at 2.0';
SELECT count(*) FILTER (WHERE a.connector_id_uuid IS DISTINCT FROM c.id_uuid) AS wrong_links
FROM connector_access a JOIN mcp_connectors c ON c.id = a.connector_id;
SELECT connector_uuid_finalize();

-- the swap again, a delete with its cascade, then finalize
ALTER EXTENSION connector_uuid UPDATE;
DELETE FROM mcp_connectors WHERE name = 'new at 2.0';
SELECT count(*) AS orphans FROM mcp_servers WHERE name = 'server at 2.0';
SELECT connector_uuid_finalize();
SELECT string_agg(attname, ', ' ORDER BY attnum) FROM pg_attribute
WHERE attrelid = 'mcp_connectors'::regclass AND attnum > 0 AND NOT attisdropped;
SELECT item, passed FROM connector_uuid_verify() ORDER BY item;
SELECT count(*) AS state_rows FROM connector_uuid_online;
SELECT count(*) AS sync_triggers FROM pg_trigger WHERE tgname = 'zz_connector_uuid_sync';
SELECT direction, outcome FROM connector_uuid_history ORDER BY started_at;
-- after finalize the downgrade is the offline one, lossless
ALTER EXTENSION connector_uuid UPDATE TO '1.0';
SELECT count(*) AS changed FROM snap_connectors s FULL JOIN mcp_connectors c USING (id)
WHERE s.name IS DISTINCT FROM c.name AND s.name <> 'connector 3' AND c.name NOT LIKE 'new at%';
SELECT count(*) AS changed FROM snap_access s JOIN connector_access a USING (id)
WHERE s.connector_id IS DISTINCT FROM a.connector_id;

-- the same for any table: prepare, convert (the swap), revert, finalize
CREATE TABLE orders (id serial PRIMARY KEY, note text);
CREATE TABLE order_lines (id serial PRIMARY KEY, order_id integer NOT NULL REFERENCES orders ON DELETE CASCADE);
CREATE TABLE shipments (id serial PRIMARY KEY, order_id integer REFERENCES orders ON DELETE SET NULL);
CREATE INDEX ix_lines_order ON order_lines (order_id);
INSERT INTO orders (note) SELECT 'order ' || i FROM generate_series(1, 200) i;
INSERT INTO order_lines (order_id) SELECT 1 + i % 200 FROM generate_series(1, 500) i;
INSERT INTO shipments (order_id) SELECT i FROM generate_series(1, 100) i;
CALL connector_uuid_prepare('orders', batch_size => 64);
SELECT table_name, phase FROM connector_uuid_progress;
SELECT connector_uuid_convert('orders');
SELECT pg_typeof(id), count(*) FROM orders GROUP BY 1;
SELECT count(*) FILTER (WHERE l.order_id IS DISTINCT FROM o.id) AS wrong_links
FROM order_lines l JOIN orders o ON o.id_int = l.order_id_int;
DELETE FROM orders WHERE note = 'order 1';
SELECT count(*) AS set_null FROM shipments WHERE order_id IS NULL AND order_id_int IS NULL;
SELECT connector_uuid_revert('orders');
SELECT pg_typeof(id), count(*) FROM orders GROUP BY 1;
SELECT connector_uuid_convert('orders');
SELECT connector_uuid_finalize('orders');
-- as the offline mode leaves it: NOT NULL stays NOT NULL
SELECT string_agg(attname || ' ' || format_type(atttypid, atttypmod) || CASE WHEN attnotnull THEN ' NOT NULL' ELSE '' END,
                  ', ' ORDER BY attnum) FROM pg_attribute
WHERE attrelid IN ('order_lines'::regclass, 'shipments'::regclass) AND attnum > 0 AND NOT attisdropped GROUP BY attrelid ORDER BY attrelid;
SELECT connector_uuid_revert('orders');
SELECT pg_typeof(id), count(*) FROM orders GROUP BY 1;

-- abort after a swap back keeps the uuids of rows created at 2.0 (in the id map)
CALL connector_uuid_prepare('orders', batch_size => 64);
SELECT connector_uuid_convert('orders');
INSERT INTO orders (note) VALUES ('order at 2.0');
CREATE TABLE snap_new AS SELECT id_int, id FROM orders WHERE note = 'order at 2.0';
SELECT connector_uuid_revert('orders');
SELECT connector_uuid_abort('orders');
SELECT count(*) AS twin_columns FROM pg_attribute WHERE attrelid = 'orders'::regclass AND attname = 'id_uuid' AND NOT attisdropped;
SELECT connector_uuid_lookup('orders', s.id_int) = s.id AS kept_in_map FROM snap_new s;
SELECT connector_uuid_convert('orders');
SELECT o.id = s.id AS same_uuid_offline FROM orders o JOIN snap_new s ON o.note = 'order at 2.0';
SELECT connector_uuid_revert('orders');

-- a constraint on a converted column that would have no twin is refused
CREATE TABLE uniq (id serial PRIMARY KEY);
CREATE TABLE uniq_ref (id serial PRIMARY KEY, uniq_id integer UNIQUE REFERENCES uniq);
CALL connector_uuid_prepare('uniq');
ALTER TABLE uniq_ref DROP CONSTRAINT uniq_ref_uniq_id_key, ADD CHECK (uniq_id IS NOT NULL OR id > 0);
CALL connector_uuid_prepare('uniq');

-- a name the twin or the swap would take is refused up front
CREATE TABLE clash (id serial PRIMARY KEY, id_int integer);
CREATE TABLE clash_ref (id serial PRIMARY KEY, clash_id integer REFERENCES clash);
CALL connector_uuid_prepare('clash');
ALTER TABLE clash RENAME COLUMN id_int TO id_uuid;
CALL connector_uuid_prepare('clash');
SELECT count(*) AS state_rows FROM connector_uuid_online;

-- names that need quoting, and a NOT NULL referencing column
CREATE TABLE "Odd ""T""" ("Key" serial PRIMARY KEY, v text);
CREATE TABLE "Odd; Ref" (id serial PRIMARY KEY, "The Key" integer NOT NULL REFERENCES "Odd ""T""" ON DELETE CASCADE);
INSERT INTO "Odd ""T""" (v) SELECT 'v' || i FROM generate_series(1, 30) i;
INSERT INTO "Odd; Ref" ("The Key") SELECT 1 + i % 30 FROM generate_series(1, 60) i;
CALL connector_uuid_prepare('"Odd ""T"""', batch_size => 7);
INSERT INTO "Odd; Ref" ("The Key") VALUES (3);
SELECT connector_uuid_convert('"Odd ""T"""');
INSERT INTO "Odd; Ref" ("The Key") SELECT "Key" FROM "Odd ""T""" WHERE v = 'v5';
SELECT count(*) FILTER (WHERE r."The Key_int" IS DISTINCT FROM t."Key_int") AS wrong_links, count(*)
FROM "Odd; Ref" r JOIN "Odd ""T""" t ON t."Key" = r."The Key";
SELECT connector_uuid_finalize('"Odd ""T"""');
SELECT connector_uuid_revert('"Odd ""T"""');
SELECT count(*) AS refs, count(DISTINCT "The Key") AS keys FROM "Odd; Ref";

-- the backfill flushes its WAL in pieces of connector_uuid.prepare_flush_after
-- while a batch runs (walpace.c; t/012_online_walpace counts the flushes,
-- which needs fsync = on)
CREATE TABLE pace_on (id serial PRIMARY KEY, pad text);
INSERT INTO pace_on (pad) SELECT repeat('p', 200) FROM generate_series(1, 2000);
SHOW connector_uuid.prepare_flush_after;
CALL connector_uuid_prepare('pace_on', batch_size => 100000);
SELECT count(*) FILTER (WHERE id_uuid IS DISTINCT FROM connector_uuid_lookup('pace_on', id)) AS wrong_on, count(*)
FROM pace_on;
-- prepare's own transactions skip zero-filling new WAL segments and build
-- without parallel workers: neither leaks into the session
SELECT current_setting('wal_init_zero') AS wal_init_zero,
       current_setting('max_parallel_maintenance_workers') AS max_parallel_maintenance_workers;
SELECT connector_uuid_abort('pace_on');

DROP SCHEMA onl CASCADE;
