-- adopt: each script looks at the tables before it acts; tables already in
-- the target state are adopted with a message and no row changes; a version
-- that disagrees with the tables (as after restoring a dump taken at 1.0) is
-- reported by verify, with a fix that works
SET connector_uuid.progress = info;

-- 1. a plain CREATE EXTENSION (2.0) before the tables exist, as pg_restore
--    does: nothing to migrate
CREATE EXTENSION connector_uuid;
SELECT extversion FROM pg_extension WHERE extname = 'connector_uuid';

-- the dump's tables arrive, still integer: verify names the mismatch and the fix
\set ECHO none
SET connector_uuid.progress = off;
\i fixture/app-1.0.sql
SET connector_uuid.progress = info;
\set ECHO all
CREATE TABLE snap_connectors AS SELECT * FROM mcp_connectors;
SELECT item, passed, detail FROM connector_uuid_verify() WHERE NOT passed ORDER BY item;

-- the fix: record the real state (no row changes) ...
ALTER EXTENSION connector_uuid UPDATE TO '1.0';
SELECT count(*) AS changed FROM (SELECT * FROM snap_connectors EXCEPT SELECT * FROM mcp_connectors) d;
SELECT bool_and(passed) AS all_passed FROM connector_uuid_verify(strict => true);
SELECT direction, outcome FROM connector_uuid_history;
-- ... and then migrate for real
SET connector_uuid.progress = off;
ALTER EXTENSION connector_uuid UPDATE;
SELECT bool_and(passed) AS all_passed FROM connector_uuid_verify(strict => true);

-- 2. at 1.0 with tables that are already uuid: the upgrade adopts them
ALTER EXTENSION connector_uuid UPDATE TO '1.0';
ALTER EXTENSION connector_uuid UPDATE;
DROP EXTENSION connector_uuid;
SET connector_uuid.progress = info;
CREATE EXTENSION connector_uuid VERSION '1.0';
SELECT item, passed FROM connector_uuid_verify() WHERE NOT passed ORDER BY item;
CREATE TABLE snap_uuid AS SELECT * FROM mcp_connectors;
SELECT * FROM connector_uuid_plan();
ALTER EXTENSION connector_uuid UPDATE;
SELECT count(*) AS changed FROM (SELECT * FROM snap_uuid EXCEPT SELECT * FROM mcp_connectors) d;
SELECT bool_and(passed) AS all_passed FROM connector_uuid_verify(strict => true);

-- without an id map the downgrade cannot restore integers it never saw
SET connector_uuid.progress = off;
ALTER EXTENSION connector_uuid UPDATE TO '1.0';
\echo :LAST_ERROR_SQLSTATE
SELECT extversion FROM pg_extension WHERE extname = 'connector_uuid';

-- unless the DBA asks for new integers
SET connector_uuid.allow_renumber = on;
ALTER EXTENSION connector_uuid UPDATE TO '1.0';
RESET connector_uuid.allow_renumber;
SELECT count(*) AS connectors, count(DISTINCT id) AS distinct_ids, min(id) AS min_id,
       max(id) = count(*) AS dense
FROM mcp_connectors;
SELECT bool_and(passed) AS all_passed FROM connector_uuid_verify(strict => true, thorough => true);
-- and the uuids they had are in the map: upgrading brings them back
ALTER EXTENSION connector_uuid UPDATE;
SELECT count(*) AS same_uuid FROM snap_uuid s JOIN mcp_connectors c USING (id);

-- 3. CREATE EXTENSION without a version on integer tables migrates them
ALTER EXTENSION connector_uuid UPDATE TO '1.0';
DROP EXTENSION connector_uuid;
SELECT pg_typeof(id) FROM mcp_connectors LIMIT 1;
CREATE EXTENSION connector_uuid;
SELECT extversion FROM pg_extension WHERE extname = 'connector_uuid';
SELECT pg_typeof(id) FROM mcp_connectors LIMIT 1;
SELECT bool_and(passed) AS all_passed FROM connector_uuid_verify(strict => true);

DROP EXTENSION connector_uuid;
DROP TABLE snap_connectors, snap_uuid;
DROP VIEW active_connectors;
DROP TABLE alembic_version, mcp_servers, connector_access, mcp_connectors, "user";
