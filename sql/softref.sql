-- softref: an integer column named like the key's references but with no
-- foreign key to prove it (an audit log's connector_id) is left as it is,
-- and the plan and verify say so
SET connector_uuid.progress = off;
\set ECHO none
\i fixture/app-1.0.sql
\set ECHO all
CREATE EXTENSION connector_uuid VERSION '1.0';

CREATE TABLE audit_log (id bigserial PRIMARY KEY, connector_id integer, note text);
INSERT INTO audit_log (connector_id, note) SELECT id, 'created' FROM mcp_connectors WHERE id <= 3;
-- named like a reference too, but with foreign keys: converted, or proven
-- to reference something else; neither is listed
CREATE TABLE connector_notes (connector_id integer REFERENCES mcp_connectors ON DELETE CASCADE, note text);
CREATE TABLE other_connectors (id integer PRIMARY KEY);
CREATE TABLE other_links (connector_id integer REFERENCES other_connectors);
-- <table>_id and <table without its s>_id, in another schema, as bigint
CREATE SCHEMA reporting;
CREATE TABLE reporting.daily (mcp_connector_id bigint, mcp_connectors_id smallint, hits bigint);
-- not listed: text, a partition (its parent is), a dropped column
CREATE TABLE labels (connector_id text);
CREATE TABLE events (connector_id integer, at date) PARTITION BY RANGE (at);
CREATE TABLE events_2025 PARTITION OF events FOR VALUES FROM ('2025-01-01') TO ('2026-01-01');
CREATE TABLE gone (x integer, connector_id integer);
ALTER TABLE gone DROP COLUMN connector_id;

SELECT step, relation, statement FROM connector_uuid_plan() WHERE step = 0 ORDER BY statement;
SELECT item, passed, detail FROM connector_uuid_verify() WHERE item LIKE 'integer columns%';

ALTER EXTENSION connector_uuid UPDATE;
-- the soft references keep their integers; the real one was converted
SELECT pg_typeof(connector_id) AS audit_log, count(*) FROM audit_log GROUP BY 1;
SELECT atttypid::regtype AS connector_notes FROM pg_attribute
WHERE attrelid = 'connector_notes'::regclass AND attname = 'connector_id';
SELECT atttypid::regtype AS reporting_daily FROM pg_attribute
WHERE attrelid = 'reporting.daily'::regclass AND attname LIKE 'mcp_%' ORDER BY attnum;

-- at 2.0: the downgrade's plan and verify list them too, and a strict
-- verify passes
SELECT step, relation, statement FROM connector_uuid_plan() WHERE step = 0 ORDER BY statement;
SELECT item, passed, detail FROM connector_uuid_verify() WHERE item LIKE 'integer columns%';
SELECT count(*) AS checks FROM connector_uuid_verify(strict => true);

-- the README's translation: a uuid column filled from the id map
ALTER TABLE audit_log ADD COLUMN connector_uuid uuid;
UPDATE audit_log SET connector_uuid = connector_uuid_lookup('mcp_connectors'::regclass, connector_id::bigint);
SELECT count(*) AS translated, bool_and(a.connector_uuid = m.new_id) AS match_ids,
       bool_and(EXISTS (SELECT 1 FROM mcp_connectors c WHERE c.id = a.connector_uuid)) AS found
FROM audit_log a JOIN connector_uuid_ids('mcp_connectors') m ON m.old_id = a.connector_id;
-- or the same with a join: every row's old and new id
UPDATE audit_log a SET connector_uuid = NULL;
UPDATE audit_log a SET connector_uuid = m.new_id
FROM connector_uuid_ids('mcp_connectors') m WHERE m.old_id = a.connector_id;
SELECT count(*) AS translated, bool_and(a.connector_uuid = connector_uuid_lookup('mcp_connectors'::regclass, a.connector_id::bigint)) AS match_lookup
FROM audit_log a WHERE a.connector_uuid IS NOT NULL;
ALTER TABLE audit_log DROP COLUMN connector_uuid;

-- none left: verify says so
DROP TABLE audit_log, reporting.daily, events;
SELECT item, passed, detail FROM connector_uuid_verify() WHERE item LIKE 'integer columns%';
SELECT count(*) AS notes FROM connector_uuid_plan() WHERE step = 0;

-- the general conversion: a log's order_id is listed for orders
CREATE TABLE orders (id serial PRIMARY KEY);
CREATE TABLE order_log (order_id integer, orders_id integer);
SELECT step, relation, statement FROM connector_uuid_plan('orders'::regclass) WHERE step = 0 ORDER BY statement;
DROP TABLE orders, order_log;

ALTER EXTENSION connector_uuid UPDATE TO '1.0';
DROP EXTENSION connector_uuid;
DROP SCHEMA reporting;
DROP TABLE connector_notes, other_links, other_connectors, labels, gone;
DROP VIEW active_connectors;
DROP TABLE alembic_version, mcp_servers, connector_access, mcp_connectors, "user";
