-- bench/app/insert.sql: a user registers a connector with three grants and a
-- server, as an ORM does it: INSERT ... RETURNING id, then that id (whatever
-- its type: it is substituted as a quoted literal, which takes the column's
-- type) in the children.  Names start with 'app ', so the checks at the end
-- can count them: the update and delete scripts touch only 'connector <i>'.
\set r random(1, 1000000000)
\set u random(1, 50)
BEGIN;
INSERT INTO mcp_connectors (name, url, description, secret, created_by)
VALUES ('app ' || :client_id || ' ' || :r, 'https://app' || :r || '.example.com/sse', 'registered by the benchmark',
        jsonb_build_object('token', md5(random()::text || clock_timestamp()::text)), md5('user' || :u)::uuid)
RETURNING id AS cid \gset
INSERT INTO connector_access (connector_id, user_id)
VALUES (':cid', md5('user' || :u)::uuid), (':cid', md5('user' || (1 + :u % 50))::uuid),
       (':cid', md5('user' || (1 + (:u + 1) % 50))::uuid);
INSERT INTO mcp_servers (id, connector_id, name, config)
VALUES (gen_random_uuid(), ':cid', 'app server ' || :r, '{"transport": "sse", "port": 9000}');
COMMIT;
