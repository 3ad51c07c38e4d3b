-- downgrade: ALTER EXTENSION connector_uuid UPDATE TO '1.0' restores the exact
-- original integer ids; connectors created at 2.0 get new integers; upgrading
-- again gives every connector the UUID it had before
SET connector_uuid.progress = off;
\set ECHO none
\i fixture/app-1.0.sql
\set ECHO all

CREATE TABLE snap_connectors AS SELECT * FROM mcp_connectors;
CREATE TABLE snap_access AS SELECT * FROM connector_access;
CREATE TABLE snap_servers AS SELECT * FROM mcp_servers;
SELECT last_value AS seq_before FROM mcp_connectors_id_seq;

CREATE EXTENSION connector_uuid VERSION '1.0';
ALTER EXTENSION connector_uuid UPDATE;
CREATE TABLE snap_uuids AS SELECT m.old_id, c.id AS uuid FROM mcp_connectors c JOIN connector_uuid_ids('mcp_connectors') m ON m.new_id = c.id;

-- life at 2.0: two new connectors with links, one old connector deleted
INSERT INTO mcp_connectors (name, url, secret) VALUES
    ('born at 2.0 a', 'https://a.example.com', '{"token": "fresh-a"}'),
    ('born at 2.0 b', 'https://b.example.com', NULL);
INSERT INTO connector_access (connector_id) SELECT id FROM mcp_connectors WHERE name LIKE 'born at 2.0%';
INSERT INTO mcp_servers (id, connector_id, name)
SELECT md5('srv-' || name)::uuid, id, 'server of ' || name FROM mcp_connectors WHERE name LIKE 'born at 2.0%';
CREATE TABLE snap_new AS SELECT id AS uuid, name FROM mcp_connectors WHERE name LIKE 'born at 2.0%';
DELETE FROM mcp_connectors WHERE id = (SELECT uuid FROM snap_uuids WHERE old_id = 2);

-- what the rollback will do
SELECT step, relation, lock_mode FROM connector_uuid_plan() ORDER BY step;

ALTER EXTENSION connector_uuid UPDATE TO '1.0';
SELECT extversion FROM pg_extension WHERE extname = 'connector_uuid';
SELECT item, passed FROM connector_uuid_verify() ORDER BY item;
SELECT bool_and(passed) AS all_passed FROM connector_uuid_verify(strict => true, thorough => true);

-- the column is what it was: integer, serial default, CASCADE foreign keys
SELECT c.relname, a.attname, format_type(a.atttypid, a.atttypmod), pg_get_expr(d.adbin, d.adrelid) AS default
FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid
LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
WHERE (c.relname, a.attname) IN (('mcp_connectors', 'id'), ('connector_access', 'connector_id'),
                                 ('mcp_servers', 'connector_id'))
ORDER BY 1;
SELECT conrelid::regclass, conname, pg_get_constraintdef(oid), convalidated
FROM pg_constraint WHERE confrelid = 'mcp_connectors'::regclass ORDER BY 1, 2;
SELECT pg_get_serial_sequence('mcp_connectors', 'id');

-- every connector of the upgrade has its exact integer back (connector 2 was
-- deleted at 2.0, with its links)
SELECT count(*) AS connectors_differing FROM (
    SELECT * FROM snap_connectors WHERE id <> 2 EXCEPT SELECT * FROM mcp_connectors) d;
SELECT count(*) AS missing FROM (
    SELECT * FROM mcp_connectors WHERE name NOT LIKE 'born at 2.0%' EXCEPT SELECT * FROM snap_connectors) d;
SELECT count(*) AS access_differing FROM (
    SELECT * FROM snap_access WHERE connector_id IS DISTINCT FROM 2
    EXCEPT SELECT * FROM connector_access) d;
SELECT count(*) AS servers_differing FROM (
    SELECT * FROM snap_servers WHERE connector_id IS DISTINCT FROM 2
    EXCEPT SELECT * FROM mcp_servers) d;

-- connectors born at 2.0: new integers past every old one, links kept
SELECT name, id > (SELECT max(id) FROM snap_connectors) AS past_old_ids,
       (SELECT count(*) FROM connector_access a WHERE a.connector_id = c.id) AS access,
       (SELECT count(*) FROM mcp_servers s WHERE s.connector_id = c.id) AS servers
FROM mcp_connectors c WHERE name LIKE 'born at 2.0%' ORDER BY name;
-- the sequence continues past them
SELECT last_value >= (SELECT max(id) FROM mcp_connectors) AS seq_past_max FROM mcp_connectors_id_seq;
INSERT INTO mcp_connectors (name, url) VALUES ('born at 1.0 again', 'https://c.example.com')
RETURNING id = (SELECT max(id) FROM mcp_connectors WHERE name LIKE 'born at 2.0%') + 1 AS next_integer;

SELECT version_num FROM alembic_version;

-- upgrading again: every connector gets the UUID it had the first time,
-- including those born at 2.0
ALTER EXTENSION connector_uuid UPDATE;
SELECT count(*) AS same_uuid, count(*) FILTER (WHERE c.id IS NULL) AS lost
FROM snap_uuids s LEFT JOIN mcp_connectors c ON c.id = s.uuid WHERE s.old_id <> 2;
SELECT n.name, c.id IS NOT NULL AS same_uuid
FROM snap_new n LEFT JOIN mcp_connectors c ON c.id = n.uuid ORDER BY 1;
SELECT bool_and(passed) AS all_passed FROM connector_uuid_verify(strict => true, thorough => true);

-- and back once more: still the same integers
ALTER EXTENSION connector_uuid UPDATE TO '1.0';
SELECT count(*) AS connectors_differing FROM (
    SELECT * FROM snap_connectors WHERE id <> 2 EXCEPT SELECT * FROM mcp_connectors) d;
SELECT direction, outcome, rows_per_table->'mcp_connectors' AS connectors
FROM connector_uuid_history ORDER BY started_at;

DROP EXTENSION connector_uuid;
DROP TABLE snap_connectors, snap_access, snap_servers, snap_uuids, snap_new;
DROP VIEW active_connectors;
DROP TABLE alembic_version, mcp_servers, connector_access, mcp_connectors, "user";
