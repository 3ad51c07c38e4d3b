-- scripts/demo.sql: the DBA's main job on sample data, start to finish.
-- Run by scripts/demo.sh inside a throwaway cluster.
\set ON_ERROR_STOP 1
\pset footer off
CREATE EXTENSION IF NOT EXISTS "uuid-ossp";

\echo '== 1. the application at 1.0: sample data (integer ids)'
\set ECHO none
SET client_min_messages = warning;
\i fixture/app-1.0.sql
RESET client_min_messages;
\set ECHO all
SELECT (SELECT count(*) FROM mcp_connectors) AS connectors,
       (SELECT count(*) FROM connector_access) AS access_rows,
       (SELECT count(*) FROM mcp_servers) AS servers;
CREATE TABLE demo_before AS
    SELECT c.id, c.name, (SELECT count(*) FROM connector_access a WHERE a.connector_id = c.id) AS grants
    FROM mcp_connectors c;

\echo '== 2. install the tools: no change to the tables'
CREATE EXTENSION connector_uuid VERSION '1.0';

\echo '== 3. the plan: what the upgrade will run, in order, and the lock each step takes'
SELECT step, relation, lock_mode, rows, pg_size_pretty(total_bytes) AS size,
       left(regexp_replace(statement, '\s+', ' ', 'g'), 110) AS statement
FROM connector_uuid_plan() ORDER BY step;

\echo '== 4. the upgrade: 1.0 -> 2.0'
ALTER EXTENSION connector_uuid UPDATE;

\echo '== 5. verify: the migration guide''s checklist, one row per check'
SELECT * FROM connector_uuid_verify(thorough => true);
SELECT id, name FROM mcp_connectors ORDER BY name LIMIT 3;

\echo '== 6. life at 2.0: a new connector gets a generated UUID'
INSERT INTO mcp_connectors (name, url) VALUES ('created at 2.0', 'https://new.example.com') RETURNING id;

\echo '== 7. rollback: 2.0 -> 1.0, every original integer id comes back'
ALTER EXTENSION connector_uuid UPDATE TO '1.0';
SELECT count(*) AS connectors_with_original_id_and_links
FROM demo_before b JOIN mcp_connectors c USING (id, name)
WHERE b.grants = (SELECT count(*) FROM connector_access a WHERE a.connector_id = c.id);
SELECT count(*) AS connectors_lost FROM demo_before b WHERE NOT EXISTS (SELECT 1 FROM mcp_connectors c WHERE c.id = b.id);
SELECT id, name FROM mcp_connectors WHERE name = 'created at 2.0';
SELECT bool_and(passed) AS all_checks_pass_at_1_0 FROM connector_uuid_verify(strict => true);

\echo '== 8. the record'
SELECT direction, outcome, rows_per_table, duration FROM connector_uuid_history ORDER BY started_at;
