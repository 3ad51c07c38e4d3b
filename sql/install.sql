-- install: CREATE EXTENSION at 1.0 adds the tools and changes nothing
SET connector_uuid.progress = off;
\set ECHO none
\i fixture/app-1.0.sql
\set ECHO all

CREATE TABLE snap_connectors AS SELECT * FROM mcp_connectors;

CREATE EXTENSION connector_uuid VERSION '1.0';

SELECT extversion, extnamespace::regnamespace FROM pg_extension WHERE extname = 'connector_uuid';

-- the application's tables are untouched
SELECT count(*) AS changed FROM (SELECT * FROM mcp_connectors EXCEPT SELECT * FROM snap_connectors) d;
SELECT c.relname, a.attname, format_type(a.atttypid, a.atttypmod)
FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid
WHERE (c.relname, a.attname) IN (('mcp_connectors', 'id'), ('connector_access', 'connector_id'),
                                 ('mcp_servers', 'connector_id'))
ORDER BY 1;

-- members: the extension's own objects only
SELECT pg_describe_object(classid, objid, objsubid) AS member
FROM pg_depend
WHERE refclassid = 'pg_extension'::regclass AND deptype = 'e'
  AND refobjid = (SELECT oid FROM pg_extension WHERE extname = 'connector_uuid')
ORDER BY 1;

-- tables whose rows pg_dump keeps
SELECT unnest(extconfig)::regclass AS dumped FROM pg_extension WHERE extname = 'connector_uuid' ORDER BY 1;

-- the id map and the keys are not public
SELECT relname, NOT EXISTS (SELECT 1 FROM aclexplode(relacl) a WHERE a.grantee = 0) AS public_cannot_read
FROM pg_class WHERE relname LIKE 'connector\_uuid\_%' AND relkind = 'r' ORDER BY 1;

-- the checklist holds at 1.0
SELECT item, passed FROM connector_uuid_verify() ORDER BY item;
SELECT count(*) AS checks FROM connector_uuid_verify(strict => true);

-- the migration functions refuse to run outside ALTER EXTENSION
SELECT connector_uuid_upgrade();
\echo :LAST_ERROR_SQLSTATE
SELECT connector_uuid_downgrade();
\echo :LAST_ERROR_SQLSTATE
SELECT connector_uuid_to_uuid(1, 1);
\echo :LAST_ERROR_SQLSTATE

DROP EXTENSION connector_uuid;
-- dropping the extension leaves the application alone
SELECT count(*) AS app_tables FROM pg_class
WHERE relname IN ('mcp_connectors', 'connector_access', 'mcp_servers', 'active_connectors', 'alembic_version');
DROP VIEW active_connectors;
DROP TABLE snap_connectors, alembic_version, mcp_servers, connector_access, mcp_connectors, "user";
