-- bench/seed.sql: the migration guide's nine-step Alembic migration
-- (543a0ca15c86_convert_connector_id_to_uuid), as plain SQL on the 1.0
-- fixture.  The baseline the benchmark measures connector_uuid against.
-- It writes every row twice (ADD COLUMN + UPDATE), joins the children to the
-- parent, and rebuilds every constraint and index by hand.
\set ON_ERROR_STOP 1
BEGIN;
-- the guide's migration enables uuid-ossp itself (already there in the bench)
CREATE EXTENSION IF NOT EXISTS "uuid-ossp";
-- the view reads mcp_connectors.id: it has to go first, as in any real run
DROP VIEW active_connectors;

-- Step 1: add new UUID columns alongside the existing INTEGER columns
ALTER TABLE mcp_connectors ADD COLUMN new_id uuid;
ALTER TABLE connector_access ADD COLUMN new_connector_id uuid;
ALTER TABLE mcp_servers ADD COLUMN new_connector_id uuid;

-- Step 2: generate UUIDs for all existing connectors
UPDATE mcp_connectors SET new_id = uuid_generate_v4();

-- Step 3: update foreign key references to match the new UUIDs
UPDATE connector_access a SET new_connector_id = c.new_id
FROM mcp_connectors c WHERE a.connector_id = c.id;
UPDATE mcp_servers s SET new_connector_id = c.new_id
FROM mcp_connectors c WHERE s.connector_id = c.id;

-- Step 4: make the UUID key NOT NULL (the children's columns stay nullable,
-- as at 1.0: the fixture has access rows and servers with no connector)
ALTER TABLE mcp_connectors ALTER COLUMN new_id SET NOT NULL;

-- Step 5: drop the old constraints and foreign keys
ALTER TABLE connector_access DROP CONSTRAINT connector_access_connector_id_fkey;
ALTER TABLE mcp_servers DROP CONSTRAINT mcp_servers_connector_id_fkey;
ALTER TABLE mcp_connectors DROP CONSTRAINT mcp_connectors_pkey;
DROP INDEX uq_mcp_connectors_secret_md5;

-- Step 6: drop the old INTEGER columns (and with them their indexes)
ALTER TABLE connector_access DROP COLUMN connector_id;
ALTER TABLE mcp_servers DROP COLUMN connector_id;
ALTER TABLE mcp_connectors DROP COLUMN id;

-- Step 7: rename the UUID columns to the original names
ALTER TABLE mcp_connectors RENAME COLUMN new_id TO id;
ALTER TABLE connector_access RENAME COLUMN new_connector_id TO connector_id;
ALTER TABLE mcp_servers RENAME COLUMN new_connector_id TO connector_id;

-- Step 8: recreate the primary key and the foreign keys with CASCADE
ALTER TABLE mcp_connectors ADD CONSTRAINT mcp_connectors_pkey PRIMARY KEY (id);
ALTER TABLE mcp_connectors ALTER COLUMN id SET DEFAULT uuid_generate_v4();
ALTER TABLE connector_access ADD CONSTRAINT connector_access_connector_id_fkey
    FOREIGN KEY (connector_id) REFERENCES mcp_connectors (id) ON DELETE CASCADE;
ALTER TABLE mcp_servers ADD CONSTRAINT mcp_servers_connector_id_fkey
    FOREIGN KEY (connector_id) REFERENCES mcp_connectors (id) ON DELETE CASCADE;
CREATE INDEX ix_connector_access_connector_id ON connector_access (connector_id);
CREATE INDEX ix_mcp_servers_connector_id ON mcp_servers (connector_id);

-- Step 9: recreate the MD5 secret index
CREATE UNIQUE INDEX uq_mcp_connectors_secret_md5
    ON mcp_connectors (md5(secret::text)) WHERE secret IS NOT NULL;

CREATE VIEW active_connectors AS SELECT id, name, url FROM mcp_connectors WHERE is_active;
UPDATE alembic_version SET version_num = '543a0ca15c86' WHERE version_num = 'facb50928abc';
COMMIT;
