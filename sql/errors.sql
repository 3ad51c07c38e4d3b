-- errors: bad input gets a specific SQLSTATE and a clear message, and leaves
-- the extension at 1.0 with not one row or catalog entry changed
SET connector_uuid.progress = off;
\set ECHO none
\i fixture/app-1.0.sql
\set ECHO all

CREATE EXTENSION connector_uuid VERSION '1.0';

-- a fingerprint of the rows and of the catalog entries a migration touches
CREATE FUNCTION pg_temp.fp() RETURNS text LANGUAGE sql AS $$
SELECT md5(string_agg(r, '|' ORDER BY r)) FROM (
    SELECT 'c' || t::text AS r FROM mcp_connectors t
    UNION ALL SELECT 'a' || t::text FROM connector_access t
    UNION ALL SELECT 's' || t::text FROM mcp_servers t
    UNION ALL SELECT 'v' || version_num FROM alembic_version
    UNION ALL SELECT 'k' || conname || pg_get_constraintdef(oid) FROM pg_constraint
        WHERE conrelid IN ('mcp_connectors'::regclass, 'connector_access'::regclass, 'mcp_servers'::regclass)
    UNION ALL SELECT 'i' || pg_get_indexdef(indexrelid) FROM pg_index
        WHERE indrelid IN ('mcp_connectors'::regclass, 'connector_access'::regclass, 'mcp_servers'::regclass)
    UNION ALL SELECT 't' || attrelid::regclass || attname || atttypid::regtype FROM pg_attribute
        WHERE attrelid IN ('mcp_connectors'::regclass, 'connector_access'::regclass, 'mcp_servers'::regclass)
          AND attnum > 0
    UNION ALL SELECT 'm' || count(*) FROM connector_uuid_map
    UNION ALL SELECT 'h' || count(*) FROM connector_uuid_history) s
$$;
CREATE VIEW state AS SELECT extversion FROM pg_extension WHERE extname = 'connector_uuid';


-- 1. half migrated: mcp_servers.connector_id is already uuid
CREATE TABLE servers_backup AS SELECT * FROM mcp_servers;
ALTER TABLE mcp_servers DROP CONSTRAINT mcp_servers_connector_id_fkey,
    ALTER COLUMN connector_id TYPE uuid USING NULL;
SELECT pg_temp.fp() AS fp \gset
ALTER EXTENSION connector_uuid UPDATE;
\echo :LAST_ERROR_SQLSTATE
SELECT extversion, pg_temp.fp() = :'fp' AS unchanged FROM state;
SELECT * FROM connector_uuid_plan();
\echo :LAST_ERROR_SQLSTATE
SELECT item, detail FROM connector_uuid_verify() WHERE NOT passed ORDER BY item;
ALTER TABLE mcp_servers ALTER COLUMN connector_id TYPE integer USING NULL;
UPDATE mcp_servers s SET connector_id = b.connector_id FROM servers_backup b WHERE b.id = s.id;
ALTER TABLE mcp_servers ADD CONSTRAINT mcp_servers_connector_id_fkey
    FOREIGN KEY (connector_id) REFERENCES mcp_connectors (id) ON DELETE CASCADE;

-- 2. duplicate secrets while the MD5 index was dropped
DROP INDEX uq_mcp_connectors_secret_md5;
UPDATE mcp_connectors SET secret = (SELECT secret FROM mcp_connectors WHERE id = 3) WHERE id IN (5, 9);
SELECT pg_temp.fp() AS fp \gset
ALTER EXTENSION connector_uuid UPDATE;
\echo :LAST_ERROR_SQLSTATE
SELECT extversion, pg_temp.fp() = :'fp' AS unchanged FROM state;
SELECT item, detail FROM connector_uuid_verify() WHERE NOT passed ORDER BY item;
UPDATE mcp_connectors SET secret = jsonb_build_object('token', md5('secret' || id)) WHERE id IN (5, 9);
-- (the index stays dropped: the upgrade recreates it)

-- 3. a child row pointing at no connector, behind a NOT VALID foreign key
ALTER TABLE connector_access DROP CONSTRAINT connector_access_connector_id_fkey;
INSERT INTO connector_access (id, connector_id) VALUES (900001, 424242), (900002, 434343);
ALTER TABLE connector_access ADD CONSTRAINT connector_access_connector_id_fkey
    FOREIGN KEY (connector_id) REFERENCES mcp_connectors (id) ON DELETE CASCADE NOT VALID;
SELECT pg_temp.fp() AS fp \gset
ALTER EXTENSION connector_uuid UPDATE;
\echo :LAST_ERROR_SQLSTATE
SELECT extversion, pg_temp.fp() = :'fp' AS unchanged FROM state;

-- 4. the same with the foreign key dropped altogether
ALTER TABLE connector_access DROP CONSTRAINT connector_access_connector_id_fkey;
SELECT pg_temp.fp() AS fp \gset
ALTER EXTENSION connector_uuid UPDATE;
\echo :LAST_ERROR_SQLSTATE
SELECT extversion, pg_temp.fp() = :'fp' AS unchanged FROM state;
SELECT item, detail FROM connector_uuid_verify() WHERE NOT passed ORDER BY item;
DELETE FROM connector_access WHERE id IN (900001, 900002);
-- (the foreign key stays dropped: the upgrade recreates it)

-- 5. no primary key
ALTER TABLE mcp_connectors DROP CONSTRAINT mcp_connectors_pkey CASCADE;
SELECT pg_temp.fp() AS fp \gset
ALTER EXTENSION connector_uuid UPDATE;
\echo :LAST_ERROR_SQLSTATE
SELECT extversion, pg_temp.fp() = :'fp' AS unchanged FROM state;

-- 6. a composite primary key
ALTER TABLE mcp_connectors ADD PRIMARY KEY (id, name);
SELECT pg_temp.fp() AS fp \gset
ALTER EXTENSION connector_uuid UPDATE;
\echo :LAST_ERROR_SQLSTATE
SELECT extversion, pg_temp.fp() = :'fp' AS unchanged FROM state;
ALTER TABLE mcp_connectors DROP CONSTRAINT mcp_connectors_pkey;
ALTER TABLE mcp_connectors ADD CONSTRAINT mcp_connectors_pkey PRIMARY KEY (id);
ALTER TABLE mcp_servers ADD CONSTRAINT mcp_servers_connector_id_fkey
    FOREIGN KEY (connector_id) REFERENCES mcp_connectors (id) ON DELETE CASCADE;

-- 7. an unknown direction for the plan
SELECT * FROM connector_uuid_plan('sideways');
\echo :LAST_ERROR_SQLSTATE

-- 8. the tables are not in the extension's schema
DROP EXTENSION connector_uuid;
CREATE SCHEMA empty;
CREATE EXTENSION connector_uuid VERSION '1.0' SCHEMA empty;
ALTER EXTENSION connector_uuid UPDATE;
\echo :LAST_ERROR_SQLSTATE
SELECT extversion FROM state;
SELECT item, passed, detail FROM empty.connector_uuid_verify() WHERE item LIKE 'extension%';
-- 9. a pk_table that names no table (no mcp_connectors here either)
SELECT empty.connector_uuid_convert(0::regclass);
\echo :LAST_ERROR_SQLSTATE
SELECT empty.connector_uuid_revert(0::regclass);
SELECT * FROM empty.connector_uuid_plan(0::regclass);
CREATE TABLE gone (id int PRIMARY KEY);
SELECT 'gone'::regclass::oid AS gone_oid \gset
DROP TABLE gone;
\set VERBOSITY sqlstate
SELECT empty.connector_uuid_convert(:gone_oid::oid::regclass) IS NULL;
\set VERBOSITY default
DROP EXTENSION connector_uuid;
DROP SCHEMA empty;

-- after the repairs the upgrade goes through, and puts back the MD5 index
-- and the foreign key that were missing
CREATE EXTENSION connector_uuid VERSION '1.0';
ALTER EXTENSION connector_uuid UPDATE;
SELECT item, passed FROM connector_uuid_verify(thorough => true) ORDER BY item;
SELECT conname, pg_get_constraintdef(oid), convalidated FROM pg_constraint
WHERE confrelid = 'mcp_connectors'::regclass ORDER BY 1;

DROP EXTENSION connector_uuid;
DROP VIEW state, active_connectors;
DROP TABLE servers_backup, alembic_version, mcp_servers, connector_access, mcp_connectors, "user";
