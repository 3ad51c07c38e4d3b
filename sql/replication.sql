-- Logical replication on one server: the refusal of published tables and
-- its override, the checks the override runs (no logical slot here), what
-- stays refused whatever the setting, and the id mapping carried from one
-- table to another by connector_uuid_export() and connector_uuid_import()
-- (as from a publisher to its subscriber): the same ids, without copying a
-- row.  The two-cluster procedure is t/014_logical_replication.pl.
SET connector_uuid.progress = off;
\set SHOW_CONTEXT never
CREATE SCHEMA rep;
SET search_path = rep, public;
CREATE EXTENSION connector_uuid VERSION '1.0' SCHEMA rep;
CREATE TABLE rep.orders (id serial PRIMARY KEY, note text);
CREATE TABLE rep.lines (id serial PRIMARY KEY, order_id integer REFERENCES rep.orders ON DELETE CASCADE);
INSERT INTO rep.orders (note) SELECT 'o' || i FROM generate_series(1, 200) i;
INSERT INTO rep.lines (order_id) SELECT 1 + i % 200 FROM generate_series(1, 400) i;
-- the "other database": the same rows, no link between the two
CREATE TABLE rep.orders2 (id serial PRIMARY KEY, note text);
INSERT INTO rep.orders2 SELECT * FROM rep.orders;
SELECT setval('rep.orders2_id_seq', 200);

-- never converted: no mapping yet, nothing to export
SELECT connector_uuid_fingerprint('rep.orders');
SELECT connector_uuid_export('rep.orders');

-- a publication of a referencing table: refused, with the procedure
SET client_min_messages = error;
CREATE PUBLICATION rep_pub FOR TABLE rep.lines;
RESET client_min_messages;
SELECT connector_uuid_convert('rep.orders');
\echo :LAST_ERROR_SQLSTATE
-- allow_replicated is for superusers only
CREATE ROLE regress_cu_rep_app;
SET ROLE regress_cu_rep_app;
SET connector_uuid.allow_replicated = on;
RESET ROLE;
-- the override: the checks run and the plan says what they found
SET connector_uuid.allow_replicated = on;
SELECT statement FROM connector_uuid_plan('rep.orders'::regclass) WHERE step = 0 ORDER BY statement;
SELECT connector_uuid_convert('rep.orders');
SELECT pg_typeof(id) FROM rep.orders LIMIT 1;

-- the export: format, state, strategy, the key, no pairs (v4 derives them all), the fingerprint
SELECT e->>'format' AS format, e->>'table' AS table, e->>'state' AS state, e->>'strategy' AS strategy,
       e->>'key' ~ '^[0-9a-f]{32}$' AS key_hex, jsonb_array_length(e->'pairs') AS pairs,
       e->>'fingerprint' = connector_uuid_fingerprint('rep.orders') AS same_fingerprint,
       e->>'fingerprint' ~ '^v4-[0-9a-f]{32}$' AS fingerprint_form
FROM (SELECT connector_uuid_export('rep.orders') e) x;
SELECT connector_uuid_export('rep.orders') INTO TEMP orders_export;

-- the import, on the other table (at integer), then its conversion: the same uuids
SELECT connector_uuid_import('rep.orders2', (SELECT connector_uuid_export FROM orders_export))
       = connector_uuid_fingerprint('rep.orders') AS imported_the_fingerprint;
SELECT connector_uuid_convert('rep.orders2');
SELECT count(*) AS same_uuid FROM rep.orders a JOIN rep.orders2 b ON a.id = b.id AND a.note = b.note;
SELECT count(*) AS rows FROM rep.orders2;
SELECT connector_uuid_fingerprint('rep.orders2') = connector_uuid_fingerprint('rep.orders') AS same_fingerprint;
SELECT direction, table_name, outcome, strategy, rows_per_table->>'pairs' AS pairs, rows_per_table->>'from' AS "from"
FROM connector_uuid_history WHERE direction = 'import';

-- the rollback: a row created at uuid time on both sides, integers given by
-- the first side's revert, carried over, and the second side's revert
-- gives the same one
INSERT INTO rep.orders (id, note) VALUES ('00000000-0000-4000-8000-000000000001', 'born at uuid');
INSERT INTO rep.orders2 (id, note) VALUES ('00000000-0000-4000-8000-000000000001', 'born at uuid');
SELECT connector_uuid_revert('rep.orders');
SELECT id FROM rep.orders WHERE note = 'born at uuid';
SELECT jsonb_array_length(connector_uuid_export('rep.orders')->'pairs') AS pairs_after_revert;
-- at uuid with the same mapping: only the pair is added
SELECT connector_uuid_import('rep.orders2', connector_uuid_export('rep.orders'))
       = connector_uuid_fingerprint('rep.orders') AS imported_the_fingerprint;
SELECT connector_uuid_revert('rep.orders2');
SELECT id FROM rep.orders2 WHERE note = 'born at uuid';
SELECT count(*) AS same_integer FROM rep.orders a JOIN rep.orders2 b ON a.id = b.id AND a.note = b.note;

-- bad exports: a clear error, nothing changed
SELECT connector_uuid_import('rep.orders2', '[]');
\echo :LAST_ERROR_SQLSTATE
SELECT connector_uuid_import('rep.orders2', '{"format": "something else"}');
SELECT connector_uuid_import('rep.orders2', jsonb_set((SELECT connector_uuid_export FROM orders_export), '{strategy}', '"v9"'));
SELECT connector_uuid_import('rep.orders2', (SELECT connector_uuid_export FROM orders_export) - 'key');
SELECT connector_uuid_import('rep.orders2', jsonb_set((SELECT connector_uuid_export FROM orders_export), '{pairs}', '[[1, 2]]'));
-- an edited key (or pair) no longer matches the fingerprint
SELECT connector_uuid_import('rep.orders2', jsonb_set((SELECT connector_uuid_export FROM orders_export), '{key}', '"00000000000000000000000000000000"'));
SELECT connector_uuid_import('rep.orders2', jsonb_set(connector_uuid_export('rep.orders'), '{pairs,0,0}', '7'));
SELECT connector_uuid_fingerprint('rep.orders2') = connector_uuid_fingerprint('rep.orders') AS unchanged;

-- the fingerprint is what the README says: SHA-256 over the strategy, the
-- key and the non-derived pairs in old-id order, computed here in SQL
CREATE FUNCTION pg_temp.fingerprint_of(e jsonb) RETURNS text LANGUAGE sql AS $$
    SELECT (e->>'strategy') || '-' || left(encode(sha256(convert_to(
        'connector_uuid mapping 1' || E'\n' || 'strategy ' || (e->>'strategy') || E'\n' ||
        CASE WHEN e->>'strategy' = 'v4' THEN 'key ' || (e->>'key') || E'\n' ELSE '' END ||
        coalesce((SELECT string_agg((p->>0) || ' ' || (p->>1) || E'\n', '' ORDER BY (p->>0)::bigint)
                  FROM jsonb_array_elements(e->'pairs') p), ''), 'UTF8')), 'hex'), 32)
$$;
SELECT pg_temp.fingerprint_of(connector_uuid_export('rep.orders')) = connector_uuid_fingerprint('rep.orders') AS documented_fingerprint,
       jsonb_array_length(connector_uuid_export('rep.orders')->'pairs') AS pairs;
-- so an export can be forged, but not into one that maps two ids to one uuid
SELECT jsonb_set(e, '{fingerprint}', to_jsonb(pg_temp.fingerprint_of(e))) AS forged
FROM (SELECT jsonb_set(x, '{pairs}', (x->'pairs') || jsonb_build_array(jsonb_build_array(999999, x->'pairs'->0->>1))) e
      FROM (SELECT connector_uuid_export('rep.orders') x) y) z \gset
SELECT connector_uuid_import('rep.orders2', :'forged');

-- a table in the online mode keeps the mapping its twins were made with
CREATE TABLE rep.staged (id serial PRIMARY KEY);
INSERT INTO rep.staged SELECT generate_series(1, 10);
CALL connector_uuid_prepare('rep.staged'::regclass);
SELECT connector_uuid_import('rep.staged', connector_uuid_export('rep.orders'));
SELECT connector_uuid_abort('rep.staged');
-- at integer, replace => true takes the export's pairs even where they contradict the ones here
UPDATE connector_uuid_map SET new_id = '00000000-0000-4000-8000-0000000000ff'
WHERE table_id = (SELECT table_id FROM connector_uuid_tables WHERE table_name = 'orders2') AND NOT derived;
SELECT connector_uuid_import('rep.orders2', connector_uuid_export('rep.orders'));
SELECT connector_uuid_import('rep.orders2', connector_uuid_export('rep.orders'), replace => true)
       = connector_uuid_fingerprint('rep.orders') AS replaced;

-- another mapping: refused at uuid, at integer only with replace => true
CREATE TABLE rep.orders3 (id serial PRIMARY KEY, note text);
INSERT INTO rep.orders3 (note) SELECT 'o' || i FROM generate_series(1, 50) i;
SELECT connector_uuid_convert('rep.orders3');
\set VERBOSITY terse
SELECT connector_uuid_import('rep.orders3', connector_uuid_export('rep.orders'));
\echo :LAST_ERROR_SQLSTATE
SELECT connector_uuid_revert('rep.orders3');
SELECT connector_uuid_import('rep.orders3', connector_uuid_export('rep.orders'));
\set VERBOSITY default
SELECT connector_uuid_import('rep.orders3', connector_uuid_export('rep.orders'), replace => true)
       = connector_uuid_fingerprint('rep.orders') AS replaced;
SELECT connector_uuid_convert('rep.orders3');
SELECT count(*) AS same_uuid_as_orders FROM rep.orders3 c JOIN connector_uuid_ids('rep.orders') o ON o.new_id = c.id;

-- v7 ids made from the conversion time are carried as pairs
CREATE TABLE rep.events (id serial PRIMARY KEY);
CREATE TABLE rep.events2 (id serial PRIMARY KEY);
INSERT INTO rep.events SELECT generate_series(1, 30);
INSERT INTO rep.events2 SELECT generate_series(1, 30);
SELECT connector_uuid_convert('rep.events', strategy => 'v7');
SELECT e->>'strategy' AS strategy, e ? 'key' AS has_key, jsonb_array_length(e->'pairs') AS pairs
FROM (SELECT connector_uuid_export('rep.events') e) x;
SELECT connector_uuid_import('rep.events2', connector_uuid_export('rep.events')) ~ '^v7-' AS imported;
SELECT pg_sleep(0.01);
SELECT connector_uuid_convert('rep.events2');
SELECT count(*) AS same_v7_uuid FROM rep.events a JOIN rep.events2 b ON a.id = b.id;

-- who may: the fingerprint any role (it is a hash), export and import not
GRANT USAGE ON SCHEMA rep TO regress_cu_rep_app;
SET ROLE regress_cu_rep_app;
SELECT connector_uuid_fingerprint('rep.orders') ~ '^v4-[0-9a-f]{32}$' AS anyone_reads_the_fingerprint;
SELECT connector_uuid_export('rep.orders');
SELECT connector_uuid_import('rep.orders2', '{}');
RESET ROLE;
-- import needs the table's owner even with the grants on the registry
GRANT SELECT, INSERT, UPDATE, DELETE ON connector_uuid_tables, connector_uuid_map, connector_uuid_history TO regress_cu_rep_app;
GRANT EXECUTE ON FUNCTION connector_uuid_import(regclass, jsonb, boolean) TO regress_cu_rep_app;
SET ROLE regress_cu_rep_app;
SELECT connector_uuid_import('rep.orders2', '{}');
RESET ROLE;
REVOKE ALL ON connector_uuid_tables, connector_uuid_map, connector_uuid_history FROM regress_cu_rep_app;
REVOKE ALL ON FUNCTION connector_uuid_import(regclass, jsonb, boolean) FROM regress_cu_rep_app;

-- refused whatever the setting: connector_uuid's own tables published (FOR ALL TABLES) ...
SET client_min_messages = error;
CREATE PUBLICATION rep_all FOR ALL TABLES;
RESET client_min_messages;
SELECT connector_uuid_plan('rep.orders'::regclass);
DROP PUBLICATION rep_all;
-- ... a hash-partitioned key table, whose rebuild moves rows between partitions
CREATE TABLE rep.parts (id serial PRIMARY KEY) PARTITION BY HASH (id);
CREATE TABLE rep.parts_0 PARTITION OF rep.parts FOR VALUES WITH (MODULUS 2, REMAINDER 0);
CREATE TABLE rep.parts_1 PARTITION OF rep.parts FOR VALUES WITH (MODULUS 2, REMAINDER 1);
SET client_min_messages = error;
CREATE PUBLICATION rep_parts FOR TABLE rep.parts_1;
RESET client_min_messages;
SELECT connector_uuid_convert('rep.parts');
\echo :LAST_ERROR_SQLSTATE
DROP PUBLICATION rep_parts;
-- the online mode: refused without the setting (t/014 runs it on both sides)
CREATE TABLE rep.live (id serial PRIMARY KEY);
SET client_min_messages = error;
CREATE PUBLICATION rep_live FOR TABLES IN SCHEMA rep;
RESET client_min_messages;
RESET connector_uuid.allow_replicated;
CALL connector_uuid_prepare('rep.live'::regclass);
\echo :LAST_ERROR_SQLSTATE
SELECT count(*) AS nothing_prepared FROM connector_uuid_online;
DROP PUBLICATION rep_live;
SET connector_uuid.allow_replicated = on;

-- Citus: a distributed or reference table (its catalog, as Citus makes it)
SET allow_system_table_mods = on;
CREATE TABLE pg_catalog.pg_dist_partition (logicalrelid regclass NOT NULL, partmethod "char" NOT NULL);
RESET allow_system_table_mods;
INSERT INTO pg_catalog.pg_dist_partition VALUES ('rep.lines', 'h');
SELECT connector_uuid_convert('rep.orders');
\echo :LAST_ERROR_SQLSTATE
UPDATE pg_catalog.pg_dist_partition SET logicalrelid = 'rep.orders2', partmethod = 'n';
SELECT connector_uuid_plan('rep.orders2'::regclass);
SET allow_system_table_mods = on;
DROP TABLE pg_catalog.pg_dist_partition;
RESET allow_system_table_mods;

-- verify's row: a publisher of mcp_connectors shows its fingerprint; an
-- installation without connector_uuid_fingerprint() says so
CREATE TABLE rep.mcp_connectors (id serial PRIMARY KEY);
SET client_min_messages = error;
CREATE PUBLICATION rep_connectors FOR TABLE rep.mcp_connectors;
RESET client_min_messages;
SELECT passed, detail FROM connector_uuid_verify() WHERE item LIKE 'same ids%';
ALTER EXTENSION connector_uuid DROP FUNCTION connector_uuid_fingerprint(regclass);
DROP FUNCTION connector_uuid_fingerprint(regclass);
SELECT passed, detail FROM connector_uuid_verify() WHERE item LIKE 'same ids%';
DROP PUBLICATION rep_connectors;
SELECT passed, detail FROM connector_uuid_verify() WHERE item LIKE 'same ids%';

RESET connector_uuid.allow_replicated;
DROP PUBLICATION rep_pub;
SET client_min_messages = warning;
DROP SCHEMA rep CASCADE;
RESET client_min_messages;
DROP ROLE regress_cu_rep_app;
RESET search_path;
