-- plan: connector_uuid_plan() shows, in order, what the next ALTER EXTENSION
-- will run and the lock each step takes; it changes nothing
SET connector_uuid.progress = off;
\set ECHO none
\i fixture/app-1.0.sql
\set ECHO all
CREATE EXTENSION connector_uuid VERSION '1.0';

CREATE TABLE snap_connectors AS SELECT * FROM mcp_connectors;
-- (the view's owner is the role running the tests: printed as <current_user>)
SELECT step, relation, description,
       regexp_replace(statement, ' OWNER TO ' || quote_ident(current_user) || '$', ' OWNER TO <current_user>') AS statement,
       lock_mode, rows, total_bytes > 0 AS sized
FROM connector_uuid_plan() ORDER BY step;

-- nothing changed: data, types, id map, history
SELECT count(*) AS changed FROM (SELECT * FROM mcp_connectors EXCEPT SELECT * FROM snap_connectors) d;
SELECT pg_typeof(id) FROM mcp_connectors LIMIT 1;
SELECT (SELECT count(*) FROM connector_uuid_map) AS mapped,
       (SELECT count(*) FROM connector_uuid_tables) AS registered,
       (SELECT count(*) FROM connector_uuid_history) AS runs;

-- the plan is the executor's list: the upgrade runs exactly these steps
-- (progress lines name them; compare the count)
SELECT count(*) FILTER (WHERE coalesce(statement, '') NOT LIKE 'LOCK TABLE%') AS steps_to_run FROM connector_uuid_plan();
ALTER EXTENSION connector_uuid UPDATE;
SELECT jsonb_object_keys(rows_per_table) AS rewritten FROM connector_uuid_history ORDER BY 1;

-- at 2.0 the next move is the downgrade; the upgrade would adopt
SELECT step, relation, lock_mode FROM connector_uuid_plan() WHERE step BETWEEN 1 AND 7 ORDER BY step;
SELECT step, statement FROM connector_uuid_plan('upgrade');
SELECT count(*) AS downgrade_steps FROM connector_uuid_plan('downgrade');

DROP EXTENSION connector_uuid;
DROP TABLE snap_connectors;
DROP VIEW active_connectors;
DROP TABLE alembic_version, mcp_servers, connector_access, mcp_connectors, "user";
