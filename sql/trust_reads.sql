-- trust_reads: the migration never reads an application relation in a way
-- that would run the application's code as the superuser: a view standing
-- in for a connector table is refused (its query is never run), and a
-- secret column of a type the application defined is refused (its cast to
-- text is never called); nothing changes
SET connector_uuid.progress = off;
\set ECHO none
\i fixture/app-1.0.sql
\set ECHO all
CREATE EXTENSION connector_uuid VERSION '1.0';
CREATE TABLE calls (what text, as_role name);
CREATE FUNCTION noticed(what text) RETURNS boolean LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO calls VALUES (what, current_user);
    RETURN true;
END $$;

-- 1. mcp_servers replaced by a view whose query calls the application's function
ALTER TABLE mcp_servers RENAME TO mcp_servers_real;
CREATE VIEW mcp_servers AS SELECT * FROM mcp_servers_real WHERE noticed('view read');
SELECT count(*) FROM connector_uuid_plan();
\echo :LAST_ERROR_SQLSTATE
ALTER EXTENSION connector_uuid UPDATE;
\echo :LAST_ERROR_SQLSTATE
SELECT item, passed, detail FROM connector_uuid_verify()
WHERE item ~ 'mcp_servers|servers' ORDER BY item;
SELECT extversion FROM pg_extension WHERE extname = 'connector_uuid';
DROP VIEW mcp_servers;
ALTER TABLE mcp_servers_real RENAME TO mcp_servers;

-- 2. a secret column of a type with a cast to text the application wrote
CREATE TYPE app_secret AS (v text);
CREATE FUNCTION app_secret_text(app_secret) RETURNS text LANGUAGE plpgsql AS $$
BEGIN
    PERFORM noticed('cast');
    RETURN ($1).v;
END $$;
CREATE CAST (app_secret AS text) WITH FUNCTION app_secret_text(app_secret);
DROP INDEX uq_mcp_connectors_secret_md5;
ALTER TABLE mcp_connectors ALTER COLUMN secret TYPE app_secret USING ROW(secret)::app_secret;
ALTER EXTENSION connector_uuid UPDATE;
\echo :LAST_ERROR_SQLSTATE
SELECT extversion, (SELECT pg_typeof(id)::text FROM mcp_connectors LIMIT 1) AS id_type
FROM pg_extension WHERE extname = 'connector_uuid';

-- 3. a partition of a referencing table that another role owns: the rewrite
-- runs as the table's owner, so it is refused up front
CREATE ROLE regress_cu_tr_a;
CREATE ROLE regress_cu_tr_b;
CREATE TABLE orders (id serial PRIMARY KEY);
CREATE TABLE lines (id integer PRIMARY KEY, order_id integer REFERENCES orders) PARTITION BY HASH (id);
CREATE TABLE lines_0 PARTITION OF lines FOR VALUES WITH (MODULUS 2, REMAINDER 0);
CREATE TABLE lines_1 PARTITION OF lines FOR VALUES WITH (MODULUS 2, REMAINDER 1);
INSERT INTO orders SELECT FROM generate_series(1, 4);
INSERT INTO lines SELECT g, 1 + g % 4 FROM generate_series(1, 8) g;
ALTER TABLE orders OWNER TO regress_cu_tr_a;
ALTER TABLE lines OWNER TO regress_cu_tr_a;
ALTER TABLE lines_0 OWNER TO regress_cu_tr_a;
ALTER TABLE lines_1 OWNER TO regress_cu_tr_b;
SELECT connector_uuid_convert('orders'::regclass);
\echo :LAST_ERROR_SQLSTATE
SELECT pg_typeof(order_id)::text AS lines_type FROM lines LIMIT 1;
ALTER TABLE lines_1 OWNER TO regress_cu_tr_a;
SELECT connector_uuid_convert('orders'::regclass);
SELECT pg_typeof(order_id)::text AS lines_type, count(*) AS linked
FROM lines JOIN orders ON orders.id = lines.order_id GROUP BY 1;
SELECT connector_uuid_revert('orders'::regclass);
SELECT pg_typeof(order_id)::text AS lines_type, count(*) AS linked
FROM lines JOIN orders ON orders.id = lines.order_id GROUP BY 1;
DROP TABLE lines, orders;
DROP ROLE regress_cu_tr_a, regress_cu_tr_b;

-- nothing of the application's ran
SELECT * FROM calls;

DROP EXTENSION connector_uuid;
DROP VIEW active_connectors;
DROP TABLE alembic_version, mcp_servers, connector_access, mcp_connectors, "user", calls;
DROP CAST (app_secret AS text);
DROP FUNCTION app_secret_text(app_secret), noticed(text);
DROP TYPE app_secret;
