-- trust_planner: the planner constant-folds what a table's owner wrote
-- whenever it plans a query over the table: the expressions of extended
-- statistics objects (on every planning), the CHECK constraints of
-- inheritance children (constraint exclusion).  Every query the migration
-- runs over an application table (the checks before a plan, verify, the
-- alembic_version row lock) runs as the table's owner under
-- SECURITY_RESTRICTED_OPERATION, so the owner's immutable function never
-- runs as the converting superuser.
SET connector_uuid.progress = off;
CREATE ROLE regress_cu_planner;
CREATE SCHEMA tplan AUTHORIZATION regress_cu_planner;
SET search_path = tplan, public;
SET ROLE regress_cu_planner;
\set scale 40
\set ECHO none
\i fixture/app-1.0.sql
\set ECHO all

-- the owner's trap: whoever calls it tries to make regress_cu_planner a
-- superuser, and logs whether that worked; it then undoes it, so that one
-- escalation does not make the later attempts succeed as the owner
CREATE TABLE tplan.log (path text, ran_as name, succeeded boolean);
GRANT INSERT ON tplan.log TO PUBLIC;
CREATE FUNCTION tplan.escalate_now(path text) RETURNS boolean
LANGUAGE plpgsql VOLATILE AS $$
BEGIN
    BEGIN
        EXECUTE 'ALTER ROLE regress_cu_planner SUPERUSER';
        RAISE EXCEPTION 'escalated' USING ERRCODE = 'P0001';
    EXCEPTION WHEN insufficient_privilege THEN
        INSERT INTO tplan.log VALUES (path, current_user, false);
    WHEN raise_exception THEN
        INSERT INTO tplan.log VALUES (path, current_user, true);
        RAISE WARNING 'escalated from % as %', path, current_user;
    END;
    RETURN true;
END $$;
-- immutable, so that the planner folds a call with constant arguments
CREATE FUNCTION tplan.escalate(path text, v text DEFAULT NULL) RETURNS boolean
LANGUAGE sql IMMUTABLE AS $$ SELECT tplan.escalate_now(path) $$;

-- 1. statistics objects whose expression calls it
CREATE STATISTICS tplan.trap_connectors
    ON (name || (tplan.escalate('statistics on mcp_connectors'))::text), is_active FROM tplan.mcp_connectors;
CREATE STATISTICS tplan.trap_alembic
    ON (version_num || (tplan.escalate('statistics on alembic_version'))::text), version_num FROM tplan.alembic_version;
-- 2. an inheritance child of connector_access with a CHECK calling it, and a
-- NOT VALID foreign key, so that the orphan checks read connector_access
CREATE TABLE tplan.access_child (CHECK (tplan.escalate('child of connector_access')))
    INHERITS (tplan.connector_access);
ALTER TABLE tplan.connector_access DROP CONSTRAINT connector_access_connector_id_fkey;
ALTER TABLE tplan.connector_access ADD CONSTRAINT connector_access_connector_id_fkey
    FOREIGN KEY (connector_id) REFERENCES tplan.mcp_connectors (id) ON DELETE CASCADE NOT VALID;
-- 3. the MD5 index is missing, so the plan looks for duplicate secrets
DROP INDEX tplan.uq_mcp_connectors_secret_md5;
RESET ROLE;
CREATE EXTENSION connector_uuid VERSION '1.0' SCHEMA tplan;

-- verify, plan, upgrade, verify, downgrade, as the superuser
TRUNCATE tplan.log;
SELECT item, passed FROM connector_uuid_verify(thorough => true) WHERE NOT passed ORDER BY item;
SELECT count(*) > 0 AS planned FROM connector_uuid_plan();
SELECT 'plan' AS after, path, ran_as, succeeded FROM tplan.log GROUP BY 1, 2, 3, 4 ORDER BY 1, 2, 3, 4;
TRUNCATE tplan.log;
ALTER EXTENSION connector_uuid UPDATE;
SELECT extversion FROM pg_extension WHERE extname = 'connector_uuid';
SELECT item, passed FROM connector_uuid_verify(thorough => true) WHERE NOT passed ORDER BY item;
ALTER EXTENSION connector_uuid UPDATE TO '1.0';
SELECT extversion FROM pg_extension WHERE extname = 'connector_uuid';
-- (the test reads the trapped tables as their owner too)
SET ROLE regress_cu_planner;
SELECT version_num FROM alembic_version;
RESET ROLE;
-- the trap ran only as the owner, and never succeeded
SELECT rolsuper FROM pg_roles WHERE rolname = 'regress_cu_planner';
SELECT 'migration' AS after, path, ran_as, succeeded FROM tplan.log GROUP BY 1, 2, 3, 4 ORDER BY 1, 2, 3, 4;

-- a read-only role verifies as well (the reads run as the owner)
CREATE ROLE regress_cu_planner_ro;
GRANT USAGE ON SCHEMA tplan TO regress_cu_planner_ro;
GRANT SELECT ON ALL TABLES IN SCHEMA tplan TO regress_cu_planner_ro;
GRANT SELECT ON ALL SEQUENCES IN SCHEMA tplan TO regress_cu_planner_ro;
TRUNCATE tplan.log;
SET ROLE regress_cu_planner_ro;
SELECT item, passed FROM connector_uuid_verify(thorough => true) WHERE NOT passed ORDER BY item;
RESET ROLE;
-- ... and a role that may not read a table is told, not shown its rows
REVOKE SELECT ON tplan.mcp_servers FROM regress_cu_planner_ro;
SET ROLE regress_cu_planner_ro;
SELECT item, passed, detail FROM connector_uuid_verify(thorough => true) WHERE NOT passed ORDER BY item;
RESET ROLE;
SELECT 'verify' AS after, path, ran_as, succeeded FROM tplan.log GROUP BY 1, 2, 3, 4 ORDER BY 1, 2, 3, 4;
DROP OWNED BY regress_cu_planner_ro;
DROP ROLE regress_cu_planner_ro;

-- 4. a general table with a statistics trap: convert (v7, so that the
-- timestamp column is checked) and revert
SET ROLE regress_cu_planner;
CREATE TABLE tplan.k (id serial PRIMARY KEY, name text, made timestamptz DEFAULT '2025-01-01 00:00:00+00');
INSERT INTO tplan.k (name) SELECT 'k' || g FROM generate_series(1, 10) g;
CREATE TABLE tplan.r (id serial PRIMARY KEY, k_id integer);
INSERT INTO tplan.r (k_id) SELECT g FROM generate_series(1, 10) g;
ALTER TABLE tplan.r ADD FOREIGN KEY (k_id) REFERENCES tplan.k (id) NOT VALID;
CREATE STATISTICS tplan.trap_k ON (name || (tplan.escalate('statistics on k'))::text), id FROM tplan.k;
CREATE STATISTICS tplan.trap_r ON ((k_id::text) || (tplan.escalate('statistics on r'))::text), id FROM tplan.r;
RESET ROLE;
TRUNCATE tplan.log;
SELECT connector_uuid_convert('tplan.k'::regclass, strategy => 'v7', timestamp_column => 'made');
SELECT format_type(atttypid, atttypmod) AS k_id FROM pg_attribute WHERE attrelid = 'tplan.k'::regclass AND attname = 'id';
SET ROLE regress_cu_planner;
INSERT INTO tplan.k (id, name) VALUES (gen_random_uuid(), 'made at uuid time');
RESET ROLE;
SELECT connector_uuid_revert('tplan.k'::regclass);
SET ROLE regress_cu_planner;
SELECT format_type(atttypid, atttypmod) AS k_id, (SELECT count(*) FROM tplan.k) AS rows
FROM pg_attribute WHERE attrelid = 'tplan.k'::regclass AND attname = 'id';
RESET ROLE;
SELECT 'convert, revert' AS after, path, ran_as, succeeded FROM tplan.log GROUP BY 1, 2, 3, 4 ORDER BY 1, 2, 3, 4;

-- 5. the key table and a referencing table of two owners, neither of whom
-- may read the other's: the orphan check cannot run as either, so the
-- conversion is refused before anything changes
CREATE ROLE regress_cu_planner_b;
GRANT USAGE, CREATE ON SCHEMA tplan TO regress_cu_planner_b;
SET ROLE regress_cu_planner;
CREATE TABLE tplan.p2 (id serial PRIMARY KEY);
INSERT INTO tplan.p2 SELECT FROM generate_series(1, 3);
GRANT REFERENCES ON tplan.p2 TO regress_cu_planner_b;
RESET ROLE;
SET ROLE regress_cu_planner_b;
CREATE TABLE tplan.c2 (id serial PRIMARY KEY, p2_id integer);
INSERT INTO tplan.c2 (p2_id) VALUES (1), (2);
ALTER TABLE tplan.c2 ADD FOREIGN KEY (p2_id) REFERENCES tplan.p2 (id) NOT VALID;
RESET ROLE;
SELECT connector_uuid_convert('tplan.p2'::regclass);
\echo :LAST_ERROR_SQLSTATE
SELECT format_type(atttypid, atttypmod) AS p2_id FROM pg_attribute WHERE attrelid = 'tplan.p2'::regclass AND attname = 'id';
-- once the referencing table's owner may read the key table, it runs as that owner
GRANT SELECT ON tplan.p2 TO regress_cu_planner_b;
SELECT connector_uuid_convert('tplan.p2'::regclass);
SELECT format_type(atttypid, atttypmod) AS p2_id FROM pg_attribute WHERE attrelid = 'tplan.p2'::regclass AND attname = 'id';

-- verify, likewise, cannot check links it could only read as neither owner:
-- it says so and goes on
ALTER TABLE tplan.mcp_servers OWNER TO regress_cu_planner_b;
SELECT item, passed, detail FROM connector_uuid_verify(thorough => true) WHERE NOT passed ORDER BY item;
ALTER TABLE tplan.mcp_servers OWNER TO regress_cu_planner;

-- 6. a hash-partitioned key table whose CHECK constraint (run as the owner
-- while rows move) puts a statistics trap on the work table the rows move
-- through: the guard that counts that table runs as the owner too
SET ROLE regress_cu_planner;
CREATE TABLE tplan.h (id serial PRIMARY KEY, name text) PARTITION BY HASH (id);
CREATE TABLE tplan.h_0 PARTITION OF tplan.h FOR VALUES WITH (MODULUS 2, REMAINDER 0);
CREATE TABLE tplan.h_1 PARTITION OF tplan.h FOR VALUES WITH (MODULUS 2, REMAINDER 1);
INSERT INTO tplan.h (name) SELECT 'h' || g FROM generate_series(1, 10) g;
CREATE FUNCTION tplan.plant() RETURNS boolean LANGUAGE plpgsql AS $$
DECLARE w regclass;
BEGIN
    SELECT c.oid INTO w FROM pg_catalog.pg_class c
    WHERE c.relname LIKE 'connector\_uuid\_moved\_%' AND c.relnamespace = 'tplan'::regnamespace;
    IF w IS NOT NULL AND NOT EXISTS (SELECT FROM pg_catalog.pg_statistic_ext WHERE stxrelid = w) THEN
        EXECUTE pg_catalog.format('CREATE STATISTICS tplan.trap_moved ON (name || (tplan.escalate(%L))::text), id FROM %s',
                                  'statistics on the work table', w);
    END IF;
    RETURN true;
END $$;
ALTER TABLE tplan.h ADD CONSTRAINT plant CHECK (tplan.plant());
RESET ROLE;
TRUNCATE tplan.log;
SELECT connector_uuid_convert('tplan.h'::regclass);
SELECT format_type(atttypid, atttypmod) AS h_id FROM pg_attribute WHERE attrelid = 'tplan.h'::regclass AND attname = 'id';
SELECT 'partitioned convert' AS after, path, ran_as, succeeded FROM tplan.log GROUP BY 1, 2, 3, 4 ORDER BY 1, 2, 3, 4;

DROP EXTENSION connector_uuid;
SET client_min_messages = warning;
DROP SCHEMA tplan CASCADE;
RESET client_min_messages;
DROP OWNED BY regress_cu_planner, regress_cu_planner_b;
DROP ROLE regress_cu_planner, regress_cu_planner_b;
