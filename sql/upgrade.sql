-- upgrade: ALTER EXTENSION connector_uuid UPDATE converts the connector ids
-- to UUID, keeping every row, every link and every other object
SET connector_uuid.progress = off;
\set ECHO none
\i fixture/app-1.0.sql
\set ECHO all

-- what a real deployment carries besides the guide's schema
CREATE ROLE regress_cu_reader;
GRANT SELECT ON active_connectors TO regress_cu_reader;
COMMENT ON COLUMN active_connectors.url IS 'where the gateway connects';
CREATE VIEW active_connector_names AS SELECT name FROM active_connectors;
CREATE MATERIALIZED VIEW access_per_connector AS
    SELECT connector_id, count(*) AS grants FROM connector_access GROUP BY connector_id;
CREATE UNIQUE INDEX ix_access_per_connector ON access_per_connector (connector_id);
CREATE INDEX ix_access_multi ON connector_access (connector_id, user_id);
CREATE INDEX ix_servers_linked ON mcp_servers (connector_id) WHERE connector_id IS NOT NULL;
CREATE INDEX ix_servers_cover ON mcp_servers (connector_id) INCLUDE (name);
COMMENT ON COLUMN connector_access.connector_id IS 'the connector granted';
ALTER TABLE connector_access ALTER COLUMN connector_id SET STATISTICS 500;

-- copies of the 1.0 data to compare with
CREATE TABLE snap_connectors AS SELECT * FROM mcp_connectors;
CREATE TABLE snap_access AS SELECT * FROM connector_access;
CREATE TABLE snap_servers AS SELECT * FROM mcp_servers;
CREATE TABLE snap_grants AS SELECT * FROM access_per_connector;

CREATE EXTENSION connector_uuid VERSION '1.0';
ALTER EXTENSION connector_uuid UPDATE;
SELECT extversion FROM pg_extension WHERE extname = 'connector_uuid';

-- the checklist: every row passes
SELECT item, passed, detail FROM connector_uuid_verify() ORDER BY item;
SELECT bool_and(passed) AS all_passed FROM connector_uuid_verify(strict => true, thorough => true);

-- columns, defaults, constraints
SELECT c.relname, a.attname, format_type(a.atttypid, a.atttypmod), a.attnotnull,
       pg_get_expr(d.adbin, d.adrelid) AS default, a.attstattarget,
       col_description(c.oid, a.attnum) AS comment
FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid
LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
WHERE (c.relname, a.attname) IN (('mcp_connectors', 'id'), ('connector_access', 'connector_id'),
                                 ('mcp_servers', 'connector_id'))
ORDER BY 1;
SELECT conrelid::regclass, conname, pg_get_constraintdef(oid), convalidated
FROM pg_constraint WHERE confrelid = 'mcp_connectors'::regclass OR conrelid = 'mcp_connectors'::regclass
ORDER BY 1, 2;
-- every index kept, with its name
SELECT indexrelid::regclass, pg_get_indexdef(indexrelid)
FROM pg_index WHERE indrelid IN ('mcp_connectors'::regclass, 'connector_access'::regclass,
                                 'mcp_servers'::regclass, 'access_per_connector'::regclass)
ORDER BY indexrelid::regclass::text;

-- the views are back, with their comments, grants and data
SELECT c.relname, c.relkind, c.relispopulated, obj_description(c.oid, 'pg_class') AS comment,
       c.relacl::text LIKE '%regress_cu_reader=r/%' AS reader_granted
FROM pg_class c WHERE c.relname IN ('active_connectors', 'active_connector_names', 'access_per_connector')
ORDER BY 1;
SELECT col_description('active_connectors'::regclass, 3) AS url_comment;
SELECT pg_get_viewdef('active_connector_names'::regclass);

-- no row lost, every link kept: map each uuid back through the id map
SELECT (SELECT count(*) FROM mcp_connectors) AS connectors,
       (SELECT count(*) FROM connector_access) AS access,
       (SELECT count(*) FROM mcp_servers) AS servers,
       (SELECT count(*) FROM connector_uuid_ids('mcp_connectors') WHERE old_id IS NOT NULL) AS translated,
       (SELECT count(*) FROM connector_uuid_map) AS map_rows;
SELECT count(*) AS connectors_differing FROM (
    SELECT id, name, url, description, secret, created_by, created_at, is_active FROM snap_connectors
    EXCEPT
    SELECT m.old_id::integer, c.name, c.url, c.description, c.secret, c.created_by, c.created_at, c.is_active
    FROM mcp_connectors c JOIN connector_uuid_ids('mcp_connectors') m ON m.new_id = c.id) d;
SELECT count(*) AS access_differing FROM (
    SELECT id, connector_id, user_id, granted_at FROM snap_access
    EXCEPT
    SELECT a.id, m.old_id::integer, a.user_id, a.granted_at
    FROM connector_access a LEFT JOIN connector_uuid_ids('mcp_connectors') m ON m.new_id = a.connector_id) d;
SELECT count(*) AS servers_differing FROM (
    SELECT id, connector_id, name, config FROM snap_servers
    EXCEPT
    SELECT s.id, m.old_id::integer, s.name, s.config
    FROM mcp_servers s LEFT JOIN connector_uuid_ids('mcp_connectors') m ON m.new_id = s.connector_id) d;
SELECT (SELECT count(*) FROM connector_access WHERE connector_id IS NULL) AS null_access,
       (SELECT count(*) FROM snap_access WHERE connector_id IS NULL) AS null_access_before,
       (SELECT count(*) FROM mcp_servers WHERE connector_id IS NULL) AS null_servers,
       (SELECT count(*) FROM snap_servers WHERE connector_id IS NULL) AS null_servers_before;
SELECT count(*) AS grants_differing FROM (
    SELECT connector_id, grants FROM snap_grants
    EXCEPT
    SELECT m.old_id::integer, g.grants FROM access_per_connector g
    LEFT JOIN connector_uuid_ids('mcp_connectors') m ON m.new_id = g.connector_id) d;

-- every id is an RFC 9562 version 4 UUID
SELECT count(*) FILTER (WHERE substr(id::text, 15, 1) <> '4'
                          OR substr(id::text, 20, 1) NOT IN ('8', '9', 'a', 'b')) AS not_v4
FROM mcp_connectors;

-- new connectors get a generated UUID
INSERT INTO mcp_connectors (name, url) VALUES ('after upgrade', 'https://new.example.com')
RETURNING substr(id::text, 15, 1) AS version;

-- CASCADE DELETE works on both children
SELECT (SELECT count(*) FROM connector_access a JOIN connector_uuid_ids('mcp_connectors') m ON m.new_id = a.connector_id WHERE m.old_id = 1) AS access_of_1,
       (SELECT count(*) FROM mcp_servers s JOIN connector_uuid_ids('mcp_connectors') m ON m.new_id = s.connector_id WHERE m.old_id = 1) AS servers_of_1;
DELETE FROM mcp_connectors WHERE id = (SELECT new_id FROM connector_uuid_ids('mcp_connectors') WHERE old_id = 1);
SELECT (SELECT count(*) FROM connector_access a JOIN connector_uuid_ids('mcp_connectors') m ON m.new_id = a.connector_id WHERE m.old_id = 1) AS access_of_1,
       (SELECT count(*) FROM mcp_servers s JOIN connector_uuid_ids('mcp_connectors') m ON m.new_id = s.connector_id WHERE m.old_id = 1) AS servers_of_1;

-- the application's migration tool agrees
SELECT version_num FROM alembic_version;

-- the run is on record
SELECT direction, table_name, rows_per_table, strategy, outcome FROM connector_uuid_history;

-- nothing of the application became part of the extension
SELECT pg_describe_object(classid, objid, objsubid) AS member
FROM pg_depend
WHERE refclassid = 'pg_extension'::regclass AND deptype = 'e'
  AND refobjid = (SELECT oid FROM pg_extension WHERE extname = 'connector_uuid')
  AND pg_describe_object(classid, objid, objsubid) NOT LIKE '%connector\_uuid\_%'
ORDER BY 1;
DROP EXTENSION connector_uuid;
SELECT relname, relkind FROM pg_class
WHERE relname IN ('mcp_connectors', 'connector_access', 'mcp_servers', 'active_connectors',
                  'active_connector_names', 'access_per_connector', 'mcp_connectors_id_seq',
                  'uq_mcp_connectors_secret_md5', 'ix_access_multi')
ORDER BY 1;

DROP TABLE snap_connectors, snap_access, snap_servers, snap_grants;
DROP VIEW active_connector_names, active_connectors;
DROP MATERIALIZED VIEW access_per_connector;
DROP TABLE alembic_version, mcp_servers, connector_access, mcp_connectors, "user";
DROP ROLE regress_cu_reader;
