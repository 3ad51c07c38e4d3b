-- bench/app/update.sql: an admin edits a connector and moves its servers to
-- another one (a change of a referencing column).
\set n random(1, :scale)
\set m random(1, :scale)
BEGIN;
UPDATE mcp_connectors SET description = 'edited ' || clock_timestamp(), is_active = NOT is_active
 WHERE name = 'connector ' || :n;
UPDATE mcp_servers SET connector_id = (SELECT id FROM mcp_connectors WHERE name = 'connector ' || :m LIMIT 1)
 WHERE connector_id = (SELECT id FROM mcp_connectors WHERE name = 'connector ' || :n LIMIT 1);
COMMIT;
