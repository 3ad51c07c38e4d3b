-- overloads: a role that owns the tables and can create objects in the
-- extension's schema and in public plants overloads of every extension
-- function and operators between uuid and the integer types, each of which
-- logs its call.  The superuser then runs every entry point: none of them
-- is ever called, every run succeeds, and rows and links are intact.
SET connector_uuid.progress = off;
CREATE ROLE regress_cu_planter;
CREATE SCHEMA app;
GRANT USAGE, CREATE ON SCHEMA app TO regress_cu_planter;
GRANT CREATE ON SCHEMA public TO regress_cu_planter;
SET search_path = app, public;
CREATE EXTENSION connector_uuid VERSION '1.0' SCHEMA app;

-- the application: the fixture, a general table with an integer key and a
-- referencing table, and one with a smallint key
SET ROLE regress_cu_planter;
\set ECHO none
\i fixture/app-1.0.sql
\set ECHO all
CREATE TABLE orders (id serial PRIMARY KEY, created_at timestamptz NOT NULL, note text);
CREATE TABLE order_lines (id serial PRIMARY KEY, order_id integer NOT NULL REFERENCES orders, qty integer);
CREATE TABLE regions (id smallserial PRIMARY KEY, name text);
CREATE TABLE stores (id serial PRIMARY KEY, region_id smallint REFERENCES regions ON DELETE CASCADE);
INSERT INTO orders (created_at) SELECT timestamptz '2025-01-01 00:00+00' + i * interval '1 hour'
FROM generate_series(1, 40) i;
INSERT INTO order_lines (order_id, qty) SELECT 1 + i % 40, i FROM generate_series(1, 100) i;
INSERT INTO regions (name) SELECT 'region ' || i FROM generate_series(1, 8) i;
INSERT INTO stores (region_id) SELECT 1 + i % 8 FROM generate_series(1, 30) i;

-- the plants: every one records its call and returns something plausible
CREATE TABLE planted_calls (what text NOT NULL, superuser boolean NOT NULL);
GRANT ALL ON planted_calls TO PUBLIC;
DO $plant$
DECLARE
    s text;
    f record;
    plan_row text := 'TABLE (step integer, relation text, description text, statement text, lock_mode text, rows bigint, total_bytes bigint)';
    plan_val text := 'SELECT 1, ''planted''::text, ''planted''::text, ''SELECT 1''::text, ''NONE''::text, 0::bigint, 0::bigint';
BEGIN
    FOREACH s IN ARRAY ARRAY['app', 'public'] LOOP
        FOR f IN SELECT * FROM (VALUES
            ('connector_uuid_upgrade', '', 'void', ''),
            ('connector_uuid_upgrade', 'integer', 'void', ''),
            ('connector_uuid_upgrade', 'smallint', 'void', ''),
            ('connector_uuid_upgrade', 'numeric', 'void', ''),
            ('connector_uuid_upgrade', 'text', 'void', ''),
            ('connector_uuid_downgrade', 'integer', 'void', ''),
            ('connector_uuid_downgrade', 'smallint', 'void', ''),
            ('connector_uuid_downgrade', 'numeric', 'void', ''),
            ('connector_uuid_downgrade', 'text', 'void', ''),
            ('connector_uuid_to_uuid', 'integer, integer', 'uuid', 'SELECT pg_catalog.gen_random_uuid()'),
            ('connector_uuid_to_uuid', 'smallint, integer', 'uuid', 'SELECT pg_catalog.gen_random_uuid()'),
            ('connector_uuid_to_uuid', 'numeric, integer', 'uuid', 'SELECT pg_catalog.gen_random_uuid()'),
            ('connector_uuid_to_uuid', 'text, integer', 'uuid', 'SELECT pg_catalog.gen_random_uuid()'),
            ('connector_uuid_to_uuid', 'integer, smallint', 'uuid', 'SELECT pg_catalog.gen_random_uuid()'),
            ('connector_uuid_to_uuid', 'bigint, numeric', 'uuid', 'SELECT pg_catalog.gen_random_uuid()'),
            ('connector_uuid_to_int', 'uuid, smallint, boolean', 'bigint', 'SELECT NULL::bigint'),
            ('connector_uuid_to_int', 'uuid, numeric, boolean', 'bigint', 'SELECT NULL::bigint'),
            ('connector_uuid_to_int', 'text, integer, boolean', 'bigint', 'SELECT NULL::bigint'),
            ('connector_uuid_to_int', 'uuid, integer, text', 'bigint', 'SELECT NULL::bigint'),
            ('connector_uuid_to_int', 'uuid, integer', 'bigint', 'SELECT NULL::bigint'),
            ('connector_uuid_plan', 'integer', plan_row, plan_val),
            ('connector_uuid_plan', 'smallint', plan_row, plan_val),
            ('connector_uuid_plan', 'numeric', plan_row, plan_val),
            ('connector_uuid_plan', 'name', plan_row, plan_val),
            ('connector_uuid_plan', 'pk_table text, direction text', plan_row, plan_val),
            ('connector_uuid_plan', 'pk_table oid', plan_row, plan_val),
            ('connector_uuid_verify', 'integer', 'TABLE (item text, passed boolean, detail text)', 'SELECT ''planted''::text, true, ''''::text'),
            ('connector_uuid_verify', 'text', 'TABLE (item text, passed boolean, detail text)', 'SELECT ''planted''::text, true, ''''::text'),
            ('connector_uuid_verify', 'numeric, numeric', 'TABLE (item text, passed boolean, detail text)', 'SELECT ''planted''::text, true, ''''::text'),
            ('connector_uuid_convert', 'text', 'void', ''),
            ('connector_uuid_convert', 'pk_table text, strategy text', 'void', ''),
            ('connector_uuid_convert', 'pk_table text, strategy text, timestamp_column text', 'void', ''),
            ('connector_uuid_convert', 'pk_table text, strategy text, on_delete_cascade boolean, namespace text', 'void', ''),
            ('connector_uuid_convert', 'pk_table regclass, strategy text, timestamp_column text', 'void', ''),
            ('connector_uuid_revert', 'text', 'void', ''),
            ('connector_uuid_revert', 'integer', 'void', ''),
            ('connector_uuid_revert', 'oid', 'void', ''),
            ('connector_uuid_lookup', 'regclass, integer', 'uuid', 'SELECT pg_catalog.gen_random_uuid()'),
            ('connector_uuid_lookup', 'regclass, smallint', 'uuid', 'SELECT pg_catalog.gen_random_uuid()'),
            ('connector_uuid_lookup', 'regclass, numeric', 'uuid', 'SELECT pg_catalog.gen_random_uuid()'),
            ('connector_uuid_lookup', 'text, integer', 'uuid', 'SELECT pg_catalog.gen_random_uuid()'),
            ('connector_uuid_lookup', 'text, bigint', 'uuid', 'SELECT pg_catalog.gen_random_uuid()'),
            ('connector_uuid_v7', 'timestamptz, integer', 'uuid', 'SELECT pg_catalog.gen_random_uuid()'),
            ('connector_uuid_v7', 'timestamptz, smallint', 'uuid', 'SELECT pg_catalog.gen_random_uuid()'),
            ('connector_uuid_v7', 'timestamptz, numeric', 'uuid', 'SELECT pg_catalog.gen_random_uuid()'),
            ('connector_uuid_v7', 'timestamptz, text', 'uuid', 'SELECT pg_catalog.gen_random_uuid()'),
            ('connector_uuid_generate_v7', 'integer', 'uuid', 'SELECT pg_catalog.gen_random_uuid()'),
            ('connector_uuid_generate_v7', 'text', 'uuid', 'SELECT pg_catalog.gen_random_uuid()'),
            ('connector_uuid_status', 'integer', 'TABLE (version text, mapped_tables integer, mapped_ids bigint, derived_ids bigint, last_runs jsonb)', 'SELECT ''2.0''::text, 0, 0::bigint, 0::bigint, ''[]''::jsonb'),
            ('connector_uuid_status', 'text', 'TABLE (version text, mapped_tables integer, mapped_ids bigint, derived_ids bigint, last_runs jsonb)', 'SELECT ''2.0''::text, 0, 0::bigint, 0::bigint, ''[]''::jsonb'),
            ('uuid_generate_v4', 'integer', 'uuid', 'SELECT pg_catalog.gen_random_uuid()'),
            ('uuid_generate_v5', 'text, text', 'uuid', 'SELECT pg_catalog.gen_random_uuid()'),
            ('uuid_generate_v5', 'uuid, name', 'uuid', 'SELECT pg_catalog.gen_random_uuid()')
        ) v(name, args, rettype, result)
        LOOP
            EXECUTE pg_catalog.format(
                'CREATE FUNCTION %I.%I(%s) RETURNS %s LANGUAGE sql AS %L', s, f.name, f.args, f.rettype,
                pg_catalog.format('INSERT INTO app.planted_calls VALUES (%L, (SELECT rolsuper FROM pg_catalog.pg_roles WHERE rolname OPERATOR(pg_catalog.=) CURRENT_USER)); %s',
                                  s || '.' || f.name || '(' || f.args || ')', f.result));
        END LOOP;
        -- = and < between uuid and the integer types, and among the integers
        FOR f IN SELECT l, r FROM unnest(ARRAY['uuid', 'integer', 'bigint', 'smallint']) l,
                                 unnest(ARRAY['uuid', 'integer', 'bigint', 'smallint']) r
                 WHERE NOT (l = 'smallint' AND r = 'smallint')
        LOOP
            EXECUTE pg_catalog.format(
                'CREATE FUNCTION %I.%I(%s, %s) RETURNS boolean LANGUAGE sql AS %L', s,
                'planted_op_' || f.l || '_' || f.r, f.l, f.r,
                pg_catalog.format('INSERT INTO app.planted_calls VALUES (%L, (SELECT rolsuper FROM pg_catalog.pg_roles WHERE rolname OPERATOR(pg_catalog.=) CURRENT_USER)); SELECT true',
                                  s || '.= or <(' || f.l || ', ' || f.r || ')'));
            EXECUTE pg_catalog.format('CREATE OPERATOR %I.= (LEFTARG = %s, RIGHTARG = %s, FUNCTION = %I.%I)',
                                      s, f.l, f.r, s, 'planted_op_' || f.l || '_' || f.r);
            EXECUTE pg_catalog.format('CREATE OPERATOR %I.< (LEFTARG = %s, RIGHTARG = %s, FUNCTION = %I.%I)',
                                      s, f.l, f.r, s, 'planted_op_' || f.l || '_' || f.r);
        END LOOP;
    END LOOP;
END
$plant$;
SELECT pg_catalog.count(*) AS planted_functions FROM pg_catalog.pg_proc p
WHERE p.proowner OPERATOR(pg_catalog.=) 'regress_cu_planter'::pg_catalog.regrole
  AND (p.proname::pg_catalog.text OPERATOR(pg_catalog.~~) 'connector_uuid%'
       OR p.proname::pg_catalog.text OPERATOR(pg_catalog.~~) 'uuid_generate%');
SELECT pg_catalog.count(*) AS planted_operators FROM pg_catalog.pg_operator o
WHERE o.oprowner OPERATOR(pg_catalog.=) 'regress_cu_planter'::pg_catalog.regrole;
RESET ROLE;

-- the superuser, as the README says: qualified calls, every argument typed,
-- and a search_path that finds only the built-ins
SET search_path = pg_catalog, pg_temp;
CREATE TABLE app.snap_connectors AS SELECT * FROM app.mcp_connectors;
CREATE TABLE app.snap_access AS SELECT * FROM app.connector_access;
CREATE TABLE app.snap_servers AS SELECT * FROM app.mcp_servers;
CREATE TABLE app.snap_orders AS SELECT * FROM app.orders;
CREATE TABLE app.snap_lines AS SELECT * FROM app.order_lines;
CREATE TABLE app.snap_stores AS SELECT * FROM app.stores;

SELECT count(*) > 0 AS planned FROM app.connector_uuid_plan();
SELECT count(*) > 0 AS planned FROM app.connector_uuid_plan('downgrade'::pg_catalog.text);
ALTER EXTENSION connector_uuid UPDATE;
SELECT item, passed FROM app.connector_uuid_verify() ORDER BY item;
SELECT bool_and(passed) AS all_passed FROM app.connector_uuid_verify(strict => true, thorough => true);
SELECT version, mapped_tables FROM app.connector_uuid_status();
-- every link still points at the same connector
SELECT count(*) AS access_differing FROM (
    SELECT id, connector_id FROM app.snap_access
    EXCEPT SELECT a.id, m.old_id::integer FROM app.connector_access a
    LEFT JOIN app.connector_uuid_ids('app.mcp_connectors'::pg_catalog.regclass) m ON m.new_id = a.connector_id) d;
SELECT count(*) AS servers_differing FROM (
    SELECT id, connector_id FROM app.snap_servers
    EXCEPT SELECT s.id, m.old_id::integer FROM app.mcp_servers s
    LEFT JOIN app.connector_uuid_ids('app.mcp_connectors'::pg_catalog.regclass) m ON m.new_id = s.connector_id) d;
SELECT app.connector_uuid_lookup('app.mcp_connectors'::pg_catalog.regclass, 3::pg_catalog.int8)
       = (SELECT new_id FROM app.connector_uuid_ids('app.mcp_connectors'::pg_catalog.regclass) WHERE old_id = 3) AS lookup_matches;
ALTER EXTENSION connector_uuid UPDATE TO '1.0';
SELECT count(*) AS connectors_differing FROM (SELECT * FROM app.snap_connectors EXCEPT SELECT * FROM app.mcp_connectors) d;
SELECT count(*) AS access_differing FROM (SELECT * FROM app.snap_access EXCEPT SELECT * FROM app.connector_access) d;
SELECT count(*) AS servers_differing FROM (SELECT * FROM app.snap_servers EXCEPT SELECT * FROM app.mcp_servers) d;

-- the general engine: v4, v7 (integer key) and v5 (smallint key)
SELECT count(*) > 0 AS planned FROM app.connector_uuid_plan('app.orders'::pg_catalog.regclass);
SELECT app.connector_uuid_convert('app.orders'::pg_catalog.regclass);
SELECT app.connector_uuid_lookup('app.orders'::pg_catalog.regclass, 7::pg_catalog.int8)
       = (SELECT l.order_id FROM app.order_lines l WHERE l.id = 6) AS lookup_matches;
SELECT count(*) > 0 AS planned FROM app.connector_uuid_plan('app.orders'::pg_catalog.regclass);
SELECT app.connector_uuid_revert('app.orders'::pg_catalog.regclass);
SELECT count(*) AS orders_differing FROM (SELECT * FROM app.snap_orders EXCEPT SELECT * FROM app.orders) d;
SELECT count(*) AS lines_differing FROM (SELECT * FROM app.snap_lines EXCEPT SELECT * FROM app.order_lines) d;
DELETE FROM app.connector_uuid_map; DELETE FROM app.connector_uuid_tables; DELETE FROM app.connector_uuid_columns;
SELECT app.connector_uuid_convert('app.orders'::pg_catalog.regclass, strategy => 'v7'::pg_catalog.text,
                                  timestamp_column => 'created_at'::pg_catalog.name);
SELECT count(*) FILTER (WHERE substr(id::text, 15, 1) <> '7') AS not_v7 FROM app.orders;
SELECT count(*) AS lines_linked FROM app.order_lines l JOIN app.orders o ON o.id = l.order_id;
INSERT INTO app.orders (created_at) VALUES (now()) RETURNING substr(id::text, 15, 1) AS version;
SELECT app.connector_uuid_revert('app.orders'::pg_catalog.regclass);
SELECT count(*) AS orders_differing FROM (SELECT * FROM app.snap_orders EXCEPT SELECT * FROM app.orders) d;
SELECT count(*) AS lines_differing FROM (SELECT * FROM app.snap_lines EXCEPT SELECT * FROM app.order_lines) d;
SELECT app.connector_uuid_convert('app.regions'::pg_catalog.regclass, strategy => 'v5'::pg_catalog.text,
                                  namespace => 'b3b3c5d4-6e1f-4a2b-9c8d-7e6f5a4b3c2d'::pg_catalog.uuid);
SELECT count(*) AS v5_matching FROM app.regions r JOIN app.connector_uuid_map m ON m.new_id = r.id
WHERE r.id = public.uuid_generate_v5('b3b3c5d4-6e1f-4a2b-9c8d-7e6f5a4b3c2d'::pg_catalog.uuid,
                                     ('regions:' || m.old_id)::pg_catalog.text);
SELECT count(*) AS stores_linked FROM app.stores s JOIN app.regions r ON r.id = s.region_id;
SELECT app.connector_uuid_revert('app.regions'::pg_catalog.regclass);
SELECT count(*) AS stores_differing FROM (SELECT * FROM app.snap_stores EXCEPT SELECT * FROM app.stores) d;

-- installing 2.0 directly (as pg_restore does) migrates the tables too
DROP EXTENSION connector_uuid;
CREATE EXTENSION connector_uuid SCHEMA app;
SELECT format_type(atttypid, atttypmod) FROM pg_attribute
WHERE attrelid = 'app.mcp_connectors'::regclass AND attname = 'id';
SELECT count(*) AS access_differing FROM (
    SELECT id, connector_id FROM app.snap_access
    EXCEPT SELECT a.id, m.old_id::integer FROM app.connector_access a
    LEFT JOIN app.connector_uuid_ids('app.mcp_connectors'::pg_catalog.regclass) m ON m.new_id = a.connector_id) d;

-- a plant that differs only by a defaulted parameter makes the call
-- ambiguous: it fails, nothing runs, nothing changes (PostgreSQL cannot be
-- told to prefer one of two candidates in the same schema)
SET ROLE regress_cu_planter;
CREATE FUNCTION app.connector_uuid_downgrade(i bigint DEFAULT 0) RETURNS void LANGUAGE sql
    AS $$ INSERT INTO app.planted_calls VALUES ('app.connector_uuid_downgrade(bigint DEFAULT 0)', false) $$;
RESET ROLE;
ALTER EXTENSION connector_uuid UPDATE TO '1.0';
SELECT extversion FROM pg_extension WHERE extname = 'connector_uuid';
DROP FUNCTION app.connector_uuid_downgrade(bigint);

-- not one planted function or operator ran
SELECT what, superuser, count(*) AS calls FROM app.planted_calls GROUP BY 1, 2 ORDER BY 1, 2;

DROP EXTENSION connector_uuid;
SET client_min_messages = warning;
DROP SCHEMA app CASCADE;
DROP OWNED BY regress_cu_planter;
DROP ROLE regress_cu_planter;
RESET search_path;
RESET client_min_messages;
