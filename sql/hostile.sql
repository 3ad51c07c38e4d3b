-- hostile: names built to inject SQL are quoted everywhere, and objects
-- planted earlier on the caller's search_path are never picked up
SET connector_uuid.progress = off;
CREATE SCHEMA "Evil Schema; DROP TABLE x";
SET search_path = "Evil Schema; DROP TABLE x", public;
\set ECHO none
\i fixture/app-1.0.sql
\set ECHO all
ALTER TABLE mcp_connectors RENAME CONSTRAINT mcp_connectors_pkey TO "pk""; DROP TABLE mcp_servers; --";
ALTER TABLE connector_access RENAME CONSTRAINT connector_access_connector_id_fkey TO "Access FK ');--";
ALTER TABLE mcp_connectors RENAME COLUMN name TO "Select";
ALTER VIEW active_connectors RENAME TO "active; DROP VIEW x";
CREATE VIEW "Quoted ""View""" AS SELECT id AS "From", "Select" FROM mcp_connectors;
CREATE TABLE x (a int);

-- the attacker's schema, first on the path, shadowing what the engine uses
CREATE SCHEMA attacker;
CREATE TABLE attacker.calls (what text);
CREATE FUNCTION attacker.uuid_generate_v4() RETURNS uuid LANGUAGE sql
    AS $$ INSERT INTO attacker.calls VALUES ('uuid_generate_v4'); SELECT NULL::uuid $$;
CREATE FUNCTION attacker.md5(text) RETURNS text LANGUAGE sql
    AS $$ INSERT INTO attacker.calls VALUES ('md5'); SELECT 'x' $$;
CREATE FUNCTION attacker.count(anyelement) RETURNS bigint LANGUAGE sql
    AS $$ INSERT INTO attacker.calls VALUES ('count'); SELECT 0::bigint $$;
CREATE FUNCTION attacker.eq(integer, integer) RETURNS boolean LANGUAGE sql
    AS $$ INSERT INTO attacker.calls VALUES ('= int'); SELECT true $$;
CREATE OPERATOR attacker.= (LEFTARG = integer, RIGHTARG = integer, FUNCTION = attacker.eq);
CREATE FUNCTION attacker.equ(uuid, uuid) RETURNS boolean LANGUAGE sql
    AS $$ INSERT INTO attacker.calls VALUES ('= uuid'); SELECT true $$;
CREATE OPERATOR attacker.= (LEFTARG = uuid, RIGHTARG = uuid, FUNCTION = attacker.equ);
CREATE FUNCTION attacker.connector_uuid_to_uuid(bigint, integer) RETURNS uuid LANGUAGE sql
    AS $$ INSERT INTO attacker.calls VALUES ('to_uuid'); SELECT NULL::uuid $$;
GRANT USAGE ON SCHEMA attacker TO PUBLIC;
GRANT ALL ON attacker.calls TO PUBLIC;

CREATE EXTENSION connector_uuid VERSION '1.0' SCHEMA "Evil Schema; DROP TABLE x";
SET search_path = attacker, pg_catalog, "Evil Schema; DROP TABLE x", public;

SELECT count(*) > 0 AS planned FROM connector_uuid_plan();
ALTER EXTENSION connector_uuid UPDATE;
SELECT item, passed FROM connector_uuid_verify(thorough => true) ORDER BY item;
ALTER EXTENSION connector_uuid UPDATE TO '1.0';
SELECT bool_and(passed) AS all_passed FROM connector_uuid_verify(thorough => true);
ALTER EXTENSION connector_uuid UPDATE;

-- nothing of the attacker's ran, nothing was dropped, every name survived
SELECT * FROM attacker.calls;
SET search_path = "Evil Schema; DROP TABLE x", public;
SELECT relname, relkind FROM pg_class
WHERE relnamespace = '"Evil Schema; DROP TABLE x"'::regnamespace AND relkind IN ('r', 'v')
ORDER BY 1;
SELECT conname FROM pg_constraint WHERE conrelid IN ('mcp_connectors'::regclass, 'connector_access'::regclass)
ORDER BY 1;
SELECT pg_get_viewdef('"Quoted ""View"""'::regclass);

DROP EXTENSION connector_uuid;
DROP SCHEMA "Evil Schema; DROP TABLE x" CASCADE;
DROP SCHEMA attacker CASCADE;
RESET search_path;
