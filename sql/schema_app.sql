-- schema_app: a non-public schema with a quoted name, a bigint identity key
-- (GENERATED ALWAYS), a self-reference and an extra referencing table with
-- its own actions; all of it converts and comes back exactly
SET connector_uuid.progress = off;
CREATE SCHEMA "App Schema";
SET search_path = "App Schema", public;
\set ECHO none
\i fixture/app-1.0.sql
\set ECHO all

-- the key becomes a bigint identity, as newer deployments have it
DROP VIEW active_connectors;
ALTER TABLE mcp_connectors ALTER COLUMN id DROP DEFAULT;
DROP SEQUENCE mcp_connectors_id_seq;
ALTER TABLE mcp_connectors ALTER COLUMN id TYPE bigint;
ALTER TABLE mcp_connectors ALTER COLUMN id ADD GENERATED ALWAYS AS IDENTITY (START WITH 5000);
CREATE VIEW active_connectors AS SELECT id, name FROM mcp_connectors WHERE is_active;
-- a self-reference and another referencing table with different actions
ALTER TABLE mcp_connectors ADD COLUMN parent_id bigint REFERENCES mcp_connectors (id) ON DELETE SET NULL;
UPDATE mcp_connectors SET parent_id = id - 1 WHERE id % 5 = 0 AND id % 7 <> 1;
CREATE TABLE connector_audit (
    id serial PRIMARY KEY,
    connector_id bigint NOT NULL,
    note text,
    CONSTRAINT "Audit → Connector" FOREIGN KEY (connector_id) REFERENCES mcp_connectors (id)
        ON UPDATE CASCADE ON DELETE RESTRICT DEFERRABLE INITIALLY DEFERRED);
INSERT INTO connector_audit (connector_id, note) SELECT id, 'created' FROM mcp_connectors WHERE id % 3 = 0;

CREATE TABLE snap_connectors AS SELECT * FROM mcp_connectors;
CREATE TABLE snap_access AS SELECT * FROM connector_access;
CREATE TABLE snap_audit AS SELECT * FROM connector_audit;

CREATE EXTENSION connector_uuid VERSION '1.0' SCHEMA "App Schema";
ALTER EXTENSION connector_uuid UPDATE;
SELECT item, passed FROM connector_uuid_verify(thorough => true) ORDER BY item;
SELECT c.relname, a.attname, format_type(a.atttypid, a.atttypmod), a.attidentity,
       pg_get_expr(d.adbin, d.adrelid) AS default
FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid
LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
WHERE c.relnamespace = '"App Schema"'::regnamespace AND c.relkind = 'r' AND c.relname NOT LIKE 'snap%'
  AND (a.attname IN ('connector_id', 'parent_id') OR (c.relname = 'mcp_connectors' AND a.attname = 'id'))
ORDER BY 1, 2;
SELECT conrelid::regclass, conname, pg_get_constraintdef(oid), convalidated
FROM pg_constraint WHERE confrelid = 'mcp_connectors'::regclass ORDER BY 1, 2;
-- the self-reference and the audit trail still point at the same connectors
SELECT count(*) AS parent_links_differing FROM (
    SELECT id, parent_id FROM snap_connectors
    EXCEPT
    SELECT m.old_id, p.old_id FROM mcp_connectors c
    JOIN connector_uuid_ids('mcp_connectors') m ON m.new_id = c.id
    LEFT JOIN connector_uuid_ids('mcp_connectors') p ON p.new_id = c.parent_id) d;
SELECT count(*) AS audit_differing FROM (
    SELECT id, connector_id, note FROM snap_audit
    EXCEPT
    SELECT a.id, m.old_id, a.note FROM connector_audit a JOIN connector_uuid_ids('mcp_connectors') m ON m.new_id = a.connector_id) d;
-- a new connector at 2.0
INSERT INTO mcp_connectors (name, url) VALUES ('born at 2.0', 'https://n.example.com');

ALTER EXTENSION connector_uuid UPDATE TO '1.0';
SELECT bool_and(passed) AS all_passed FROM connector_uuid_verify(strict => true, thorough => true);
SELECT c.relname, a.attname, format_type(a.atttypid, a.atttypmod), a.attidentity
FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid
WHERE c.relnamespace = '"App Schema"'::regnamespace AND c.relkind = 'r' AND c.relname NOT LIKE 'snap%'
  AND (a.attname IN ('connector_id', 'parent_id') OR (c.relname = 'mcp_connectors' AND a.attname = 'id'))
ORDER BY 1, 2;
SELECT conrelid::regclass, conname, pg_get_constraintdef(oid)
FROM pg_constraint WHERE confrelid = 'mcp_connectors'::regclass ORDER BY 1, 2;
SELECT count(*) AS connectors_differing FROM (SELECT * FROM snap_connectors EXCEPT SELECT * FROM mcp_connectors) d;
SELECT count(*) AS access_differing FROM (SELECT * FROM snap_access EXCEPT SELECT * FROM connector_access) d;
SELECT count(*) AS audit_differing FROM (SELECT * FROM snap_audit EXCEPT SELECT * FROM connector_audit) d;
-- (the identity had been set to start at 5000: the first new integer is 5000)
SELECT id = 5000 AS new_integer
FROM mcp_connectors WHERE name = 'born at 2.0';
-- the identity continues past every id, and stays ALWAYS
INSERT INTO mcp_connectors (name, url) VALUES ('born at 1.0 again', 'https://m.example.com')
RETURNING id > (SELECT max(id) FROM mcp_connectors WHERE name <> 'born at 1.0 again') AS identity_past_max;
INSERT INTO mcp_connectors (id, name, url) VALUES (1, 'forced', 'x');
\echo :LAST_ERROR_SQLSTATE

DROP EXTENSION connector_uuid;
DROP SCHEMA "App Schema" CASCADE;
RESET search_path;
