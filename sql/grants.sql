-- grants: what a role that is not a superuser needs, besides owning the
-- tables, to convert and revert them (the README's list); each grant it
-- lacks is refused up front (the plan already refuses), naming the grant,
-- with the GRANT statement in the hint, and nothing changes
SET connector_uuid.progress = off;
CREATE SCHEMA cu_ext;
CREATE EXTENSION connector_uuid VERSION '1.0' SCHEMA cu_ext;
CREATE ROLE regress_cu_owner;
CREATE SCHEMA app;
GRANT USAGE, CREATE ON SCHEMA app TO regress_cu_owner;
SET ROLE regress_cu_owner;
CREATE TABLE app.orders (id serial PRIMARY KEY, name text NOT NULL);
CREATE TABLE app.order_items (id serial PRIMARY KEY,
                              order_id integer NOT NULL REFERENCES app.orders ON DELETE CASCADE);
INSERT INTO app.orders (name) SELECT 'order ' || g FROM generate_series(1, 20) g;
INSERT INTO app.order_items (order_id) SELECT 1 + g % 20 FROM generate_series(1, 60) g;
CREATE TABLE app.accounts (id integer PRIMARY KEY, name text) PARTITION BY HASH (id);
CREATE TABLE app.accounts_0 PARTITION OF app.accounts FOR VALUES WITH (MODULUS 2, REMAINDER 0);
CREATE TABLE app.accounts_1 PARTITION OF app.accounts FOR VALUES WITH (MODULUS 2, REMAINDER 1);
INSERT INTO app.accounts SELECT g, 'account ' || g FROM generate_series(1, 10) g;
RESET ROLE;

-- the grants, one privilege a row (the README's list)
CREATE TABLE needed (n serial, privilege text, object text);
INSERT INTO needed (privilege, object) VALUES
    ('USAGE', 'SCHEMA cu_ext'),
    ('EXECUTE', 'FUNCTION cu_ext.connector_uuid_convert(regclass, text, boolean, uuid, name)'),
    ('EXECUTE', 'FUNCTION cu_ext.connector_uuid_revert(regclass)'),
    ('EXECUTE', 'FUNCTION cu_ext.connector_uuid_plan(regclass, text, text, boolean, uuid, name)'),
    ('SELECT', 'TABLE cu_ext.connector_uuid_tables'),
    ('INSERT', 'TABLE cu_ext.connector_uuid_tables'),
    ('UPDATE', 'TABLE cu_ext.connector_uuid_tables'),
    ('SELECT', 'TABLE cu_ext.connector_uuid_columns'),
    ('INSERT', 'TABLE cu_ext.connector_uuid_columns'),
    ('UPDATE', 'TABLE cu_ext.connector_uuid_columns'),
    ('SELECT', 'TABLE cu_ext.connector_uuid_map'),
    ('INSERT', 'TABLE cu_ext.connector_uuid_map'),
    ('INSERT', 'TABLE cu_ext.connector_uuid_history'),
    ('USAGE', 'SEQUENCE cu_ext.connector_uuid_table_id_seq'),  -- a first conversion's table id
    ('USAGE', 'SCHEMA public'),             -- uuid-ossp's schema
    ('TEMPORARY', 'DATABASE ' || quote_ident(current_database())),
    ('CREATE', 'SCHEMA app');               -- a partitioned table is rebuilt there
-- (public's USAGE and the database's TEMPORARY are PUBLIC's by default; so are
-- the id functions connector_uuid_to_uuid/_to_int, which work only inside a
-- migration of the very table)
REVOKE USAGE ON SCHEMA public FROM PUBLIC;
DO $$
DECLARE
    r record;
BEGIN
    EXECUTE format('REVOKE TEMPORARY ON DATABASE %I FROM PUBLIC', current_database());
    FOR r IN SELECT * FROM needed ORDER BY n LOOP
        EXECUTE format('GRANT %s ON %s TO regress_cu_owner', r.privilege, r.object);
    END LOOP;
END $$;

-- Run sql as the owner and roll it back whatever happens: 'ok', or the
-- error's SQLSTATE, message and hint (the database's name shown as
-- <database>).
CREATE FUNCTION as_owner(sql text) RETURNS text LANGUAGE plpgsql AS $$
DECLARE
    st text;
    msg text;
    hint text;
BEGIN
    BEGIN
        SET LOCAL ROLE regress_cu_owner;
        EXECUTE sql;
        RAISE EXCEPTION 'ran' USING ERRCODE = 'P0001';
    EXCEPTION WHEN OTHERS THEN
        GET STACKED DIAGNOSTICS st = RETURNED_SQLSTATE, msg = MESSAGE_TEXT, hint = PG_EXCEPTION_HINT;
    END;
    IF st = 'P0001' AND msg = 'ran' THEN
        RETURN 'ok';
    END IF;
    RETURN replace(st || ' ' || msg || CASE WHEN hint <> '' THEN E'\nHINT: ' || hint ELSE '' END,
                   quote_ident(current_database()), '<database>');
END $$;

-- what must not change: rows and column types; and the registry, map and
-- history
CREATE FUNCTION state() RETURNS text LANGUAGE sql AS $$
    SELECT concat_ws(' ',
        (SELECT md5(string_agg(t::text, '|' ORDER BY t.id)) FROM app.orders t),
        (SELECT md5(string_agg(t::text, '|' ORDER BY t.id)) FROM app.order_items t),
        (SELECT md5(string_agg(t::text, '|' ORDER BY t.id)) FROM app.accounts t),
        (SELECT string_agg(attrelid::regclass || '.' || attname || ' ' || atttypid::regtype, ',' ORDER BY attrelid::regclass::text, attname)
           FROM pg_attribute WHERE attname IN ('id', 'order_id')
            AND attrelid IN ('app.orders'::regclass, 'app.order_items'::regclass, 'app.accounts'::regclass)))
$$;
CREATE FUNCTION registry() RETURNS text LANGUAGE sql AS $$
    SELECT concat_ws(' ',
        (SELECT count(*) FROM cu_ext.connector_uuid_tables),
        (SELECT count(*) FROM cu_ext.connector_uuid_columns),
        (SELECT count(*) FROM cu_ext.connector_uuid_map),
        (SELECT count(*) FROM cu_ext.connector_uuid_history))
$$;
CREATE TABLE before AS SELECT state() AS s, registry() AS r;

-- with every grant: all of it works (rolled back here)
SELECT as_owner($$SELECT count(*) FROM cu_ext.connector_uuid_plan('app.orders'::regclass)$$) AS plan,
       as_owner($$SELECT cu_ext.connector_uuid_convert('app.orders')$$) AS convert,
       as_owner($$SELECT cu_ext.connector_uuid_convert('app.orders', 'v5')$$) AS convert_v5,
       as_owner($$SELECT cu_ext.connector_uuid_convert('app.accounts')$$) AS partitioned;

-- each grant missing in turn: the plan and the conversion refuse it
CREATE FUNCTION without(n integer, sql text) RETURNS text LANGUAGE plpgsql AS $$
DECLARE
    r record;
    res text;
BEGIN
    SELECT * INTO r FROM needed WHERE needed.n = without.n;
    EXECUTE format('REVOKE %s ON %s FROM regress_cu_owner', r.privilege, r.object);
    res := as_owner(sql);
    EXECUTE format('GRANT %s ON %s TO regress_cu_owner', r.privilege, r.object);
    RETURN res;
END $$;
\pset format unaligned
\pset fieldsep ' | '
SELECT n, replace(privilege || ' ON ' || object, quote_ident(current_database()), '<database>') AS missing,
       without(n, $$SELECT count(*) FROM cu_ext.connector_uuid_plan('app.orders'::regclass)$$) AS plan
FROM needed ORDER BY n;
-- the conversion gives the same errors as its plan
SELECT n, replace(privilege || ' ON ' || object, quote_ident(current_database()), '<database>') AS missing
FROM needed
WHERE without(n, $$SELECT count(*) FROM cu_ext.connector_uuid_plan('app.orders'::regclass)$$)
      IS DISTINCT FROM without(n, $$SELECT cu_ext.connector_uuid_convert('app.orders')$$)
  AND privilege || ' ON ' || object NOT LIKE '%connector_uuid_plan(%'
  AND privilege || ' ON ' || object NOT LIKE '%connector_uuid_convert(%'
ORDER BY n;
-- v5 ids need uuid-ossp's uuid_generate_v5
REVOKE EXECUTE ON FUNCTION public.uuid_generate_v5(uuid, text) FROM PUBLIC;
SELECT as_owner($$SELECT cu_ext.connector_uuid_convert('app.orders', 'v5')$$) AS convert_v5;
GRANT EXECUTE ON FUNCTION public.uuid_generate_v5(uuid, text) TO PUBLIC;
-- the partitioned table's rebuild needs CREATE on its schema
SELECT without(n, $$SELECT cu_ext.connector_uuid_convert('app.accounts')$$) AS partitioned
FROM needed WHERE object = 'SCHEMA app';
-- and a refusal outside the rolled back wrapper: nothing changed
REVOKE INSERT ON cu_ext.connector_uuid_map FROM regress_cu_owner;
SET ROLE regress_cu_owner;
SELECT cu_ext.connector_uuid_convert('app.orders');
\echo :LAST_ERROR_SQLSTATE
RESET ROLE;
GRANT INSERT ON cu_ext.connector_uuid_map TO regress_cu_owner;
SELECT s = state() AS nothing_changed, r = registry() AS registry_unchanged FROM before;

-- for real, with every grant: convert
SET ROLE regress_cu_owner;
SELECT cu_ext.connector_uuid_convert('app.orders');
SELECT cu_ext.connector_uuid_convert('app.accounts');
RESET ROLE;
SELECT pg_typeof(o.id) AS orders, pg_typeof(i.order_id) AS items, count(*)
FROM app.orders o JOIN app.order_items i ON i.order_id = o.id GROUP BY 1, 2;
SELECT pg_typeof(id) AS accounts, count(*) FROM app.accounts GROUP BY 1;

-- the revert: each grant it needs missing in turn (those it does not need
-- say ok); the plan of the revert refuses the same
SELECT n, replace(privilege || ' ON ' || object, quote_ident(current_database()), '<database>') AS missing,
       without(n, $$SELECT cu_ext.connector_uuid_revert('app.orders')$$) AS revert
FROM needed ORDER BY n;
SELECT n, replace(privilege || ' ON ' || object, quote_ident(current_database()), '<database>') AS missing
FROM needed
WHERE without(n, $$SELECT count(*) FROM cu_ext.connector_uuid_plan('app.orders'::regclass)$$)
      IS DISTINCT FROM without(n, $$SELECT cu_ext.connector_uuid_revert('app.orders')$$)
  AND privilege || ' ON ' || object NOT LIKE '%connector_uuid_plan(%'
  AND privilege || ' ON ' || object NOT LIKE '%connector_uuid_revert(%'
ORDER BY n;
\pset format aligned
\pset fieldsep '|'

-- for real: revert, and the rows are as they were
SET ROLE regress_cu_owner;
SELECT cu_ext.connector_uuid_revert('app.orders');
SELECT cu_ext.connector_uuid_revert('app.accounts');
RESET ROLE;
SELECT s = state() AS rows_as_before FROM before;
SELECT direction, table_name, role_name = 'regress_cu_owner' AS by_the_owner
FROM cu_ext.connector_uuid_history ORDER BY started_at, table_name;

GRANT USAGE ON SCHEMA public TO PUBLIC;
DO $$ BEGIN EXECUTE format('GRANT TEMPORARY ON DATABASE %I TO PUBLIC', current_database()); END $$;
DROP FUNCTION without(integer, text), as_owner(text), state(), registry();
DROP TABLE needed, before;
DROP SCHEMA app CASCADE;
DROP EXTENSION connector_uuid;
DROP SCHEMA cu_ext;
DROP OWNED BY regress_cu_owner;
DROP ROLE regress_cu_owner;
