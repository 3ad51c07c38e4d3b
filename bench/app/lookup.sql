-- bench/app/lookup.sql: the gateway serves a request: the connector by name
-- (through the view), its servers and whether a user has access.  Never
-- writes an id literal: every id stays in the database, so the same script
-- runs whether the ids are integers or uuids.
\set n random(1, :scale)
\set u random(1, 50)
BEGIN;
SELECT id, name, url FROM active_connectors WHERE name = 'connector ' || :n;
SELECT s.id, s.name, s.config FROM mcp_connectors c JOIN mcp_servers s ON s.connector_id = c.id
 WHERE c.name = 'connector ' || :n;
SELECT count(*) FROM mcp_connectors c JOIN connector_access a ON a.connector_id = c.id
 WHERE c.name = 'connector ' || :n AND a.user_id = md5('user' || :u)::uuid;
COMMIT;
