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

-- nothing of the application's ran
SELECT * FROM calls;

DROP EXTENSION connector_uuid;
DROP VIEW active_connectors;
DROP TABLE alembic_version, mcp_servers, connector_access, mcp_connectors, "user", calls;
DROP CAST (app_secret AS text);
DROP FUNCTION app_secret_text(app_secret), noticed(text);
DROP TYPE app_secret;
