-- bench/app/delete.sql: a connector is removed; ON DELETE CASCADE removes its
-- grants and servers.
\set n random(1, :scale)
DELETE FROM mcp_connectors WHERE id = (SELECT id FROM mcp_connectors WHERE name = 'connector ' || :n LIMIT 1);
