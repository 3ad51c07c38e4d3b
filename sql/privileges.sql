-- privileges: who may migrate, who may look
SET connector_uuid.progress = off;
\set ECHO none
\i fixture/app-1.0.sql
\set ECHO all
CREATE EXTENSION connector_uuid VERSION '1.0';

CREATE ROLE regress_cu_app LOGIN;
CREATE ROLE regress_cu_readonly LOGIN;
GRANT SELECT ON ALL TABLES IN SCHEMA public TO regress_cu_readonly;
GRANT SELECT ON mcp_connectors_id_seq TO regress_cu_readonly;
REVOKE SELECT ON connector_uuid_map, connector_uuid_tables, connector_uuid_columns,
    connector_uuid_history FROM regress_cu_readonly;

-- an ordinary role cannot run the migration, in either direction
SET ROLE regress_cu_app;
ALTER EXTENSION connector_uuid UPDATE;
\echo :LAST_ERROR_SQLSTATE
RESET ROLE;
SELECT extversion FROM pg_extension WHERE extname = 'connector_uuid';

-- a read-only role can verify, but not read the id map or its keys, nor
-- call the plan; the mapping functions (executable by every role, since the
-- rewrites run as the tables' owners) work only inside a migration
SET ROLE regress_cu_readonly;
SELECT bool_and(passed) AS all_passed, count(*) AS checks FROM connector_uuid_verify();
SELECT count(*) FROM connector_uuid_map;
\echo :LAST_ERROR_SQLSTATE
SELECT id_key FROM connector_uuid_tables;
\echo :LAST_ERROR_SQLSTATE
SELECT count(*) FROM connector_uuid_plan();
\echo :LAST_ERROR_SQLSTATE
SELECT connector_uuid_to_int('00000000-0000-4000-8000-000000000000', 1, true);
\echo :LAST_ERROR_SQLSTATE
RESET ROLE;

ALTER EXTENSION connector_uuid UPDATE;
SET ROLE regress_cu_readonly;
SELECT bool_and(passed) AS all_passed, count(*) AS checks FROM connector_uuid_verify(thorough => true);
SELECT count(*) FROM connector_uuid_map;
\echo :LAST_ERROR_SQLSTATE
RESET ROLE;
SET ROLE regress_cu_app;
ALTER EXTENSION connector_uuid UPDATE TO '1.0';
\echo :LAST_ERROR_SQLSTATE
RESET ROLE;
SELECT extversion FROM pg_extension WHERE extname = 'connector_uuid';

-- the general functions: granted to a role, still only for tables it owns
CREATE TABLE not_yours (id serial PRIMARY KEY);
CREATE TABLE yours (id serial PRIMARY KEY);
CREATE TABLE yours_child (id serial PRIMARY KEY, yours_id integer REFERENCES yours);
ALTER TABLE yours OWNER TO regress_cu_app;
GRANT EXECUTE ON FUNCTION connector_uuid_convert(regclass, text, boolean, uuid, name) TO regress_cu_app;
GRANT SELECT, INSERT, UPDATE ON connector_uuid_tables, connector_uuid_columns, connector_uuid_map,
    connector_uuid_history TO regress_cu_app;
SET ROLE regress_cu_app;
SELECT connector_uuid_convert('not_yours');
\echo :LAST_ERROR_SQLSTATE
-- owning the key table is not enough: yours_child belongs to someone else
SELECT connector_uuid_convert('yours');
\echo :LAST_ERROR_SQLSTATE
RESET ROLE;
SELECT pg_typeof(id) FROM yours LIMIT 1;
INSERT INTO yours DEFAULT VALUES;
SELECT pg_typeof(id) FROM yours;
DROP TABLE yours_child, yours, not_yours;
REVOKE ALL ON connector_uuid_tables, connector_uuid_columns, connector_uuid_map,
    connector_uuid_history FROM regress_cu_app;

-- a superuser who created the extension and was later demoted cannot run it
CREATE ROLE regress_cu_dba SUPERUSER;
ALTER EXTENSION connector_uuid UPDATE TO '1.0';
DROP EXTENSION connector_uuid;
SET ROLE regress_cu_dba;
CREATE EXTENSION connector_uuid VERSION '1.0';
RESET ROLE;
ALTER ROLE regress_cu_dba NOSUPERUSER;
SET ROLE regress_cu_dba;
ALTER EXTENSION connector_uuid UPDATE;
\echo :LAST_ERROR_SQLSTATE
RESET ROLE;
SELECT extversion, (SELECT pg_typeof(id)::text FROM mcp_connectors LIMIT 1) AS id_type
FROM pg_extension WHERE extname = 'connector_uuid';

DROP EXTENSION connector_uuid;
DROP OWNED BY regress_cu_readonly, regress_cu_app, regress_cu_dba;
DROP ROLE regress_cu_readonly, regress_cu_app, regress_cu_dba;
DROP VIEW active_connectors;
DROP TABLE alembic_version, mcp_servers, connector_access, mcp_connectors, "user";
