-- trust_owner: code an application role wrote never runs with the converting
-- superuser's privileges.  The tables belong to regress_cu_owner, who can
-- create objects in their schema; a function of that role tries to make it
-- a superuser from every place the migration executes, evaluates or fires
-- application code.  It never succeeds, it runs as the owner, and every
-- migration still works.  Also: FORCE ROW LEVEL SECURITY with a
-- non-superuser owner, and the DBA's event trigger under the pinned
-- search_path.
SET connector_uuid.progress = off;
CREATE ROLE regress_cu_owner;
CREATE SCHEMA trust;
GRANT USAGE, CREATE ON SCHEMA trust TO regress_cu_owner;
GRANT TEMPORARY ON DATABASE contrib_regression TO regress_cu_owner;
SET search_path = trust, public;
SET ROLE regress_cu_owner;
\set scale 40
\set ECHO none
\i fixture/app-1.0.sql
\set ECHO all

-- the owner's trap: whoever calls it tries to make regress_cu_owner a superuser
CREATE TABLE trust.escalation_log (path text, ran_as name, succeeded boolean);
GRANT INSERT ON trust.escalation_log TO PUBLIC;
CREATE FUNCTION trust.escalate_now(path text) RETURNS boolean
LANGUAGE plpgsql VOLATILE AS $$
BEGIN
    BEGIN
        EXECUTE 'ALTER ROLE regress_cu_owner SUPERUSER';
        INSERT INTO trust.escalation_log VALUES (path, current_user, true);
        RAISE WARNING 'escalated from %', path;
    EXCEPTION WHEN insufficient_privilege THEN
        INSERT INTO trust.escalation_log VALUES (path, current_user, false);
    END;
    RETURN true;
END $$;
-- (marked immutable, so that it may be used in indexes and generated columns)
CREATE FUNCTION trust.escalate(path text, v text DEFAULT NULL) RETURNS boolean
LANGUAGE sql IMMUTABLE AS $$ SELECT trust.escalate_now(path) $$;
CREATE FUNCTION trust.escalate_trigger() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM trust.escalate(TG_ARGV[0]);
    RETURN NEW;
END $$;
ALTER TABLE mcp_connectors ADD CONSTRAINT trap CHECK (trust.escalate('check mcp_connectors', id::text));
ALTER TABLE connector_access ADD CONSTRAINT trap CHECK (trust.escalate('check connector_access', connector_id::text));
-- constant-folded: by the dry run's copy and by every rewrite of the table
CREATE INDEX ix_trap ON connector_access ((connector_id::text), trust.escalate('index expression'));
CREATE MATERIALIZED VIEW trust.trap_mv AS
    SELECT id, trust.escalate('materialized view', id::text) AS t FROM trust.mcp_connectors;
CREATE TRIGGER trap BEFORE UPDATE ON alembic_version
    FOR EACH ROW EXECUTE FUNCTION trust.escalate_trigger('alembic_version trigger');
CREATE TABLE snap AS SELECT c.id, (SELECT count(*) FROM connector_access a WHERE a.connector_id = c.id) AS accesses,
       (SELECT count(*) FROM mcp_servers s WHERE s.connector_id = c.id) AS servers
FROM mcp_connectors c;
RESET ROLE;
-- (the superuser's own queries below run as the owner: planning a query on
-- connector_access folds its index expression, as whoever plans it)
TRUNCATE trust.escalation_log;
CREATE EXTENSION connector_uuid VERSION '1.0' SCHEMA trust;

-- the DBA's audit event trigger writes to an unqualified table: under the
-- engine's search_path it fails, and the hint says why; nothing changed
CREATE TABLE public.ddl_audit (tag text);
CREATE FUNCTION public.audit_ddl() RETURNS event_trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO ddl_audit VALUES (tg_tag);
END $$;
CREATE EVENT TRIGGER regress_cu_audit ON ddl_command_end EXECUTE FUNCTION public.audit_ddl();
\set SHOW_CONTEXT never
ALTER EXTENSION connector_uuid UPDATE;
\set SHOW_CONTEXT errors
SELECT extversion FROM pg_extension WHERE extname = 'connector_uuid';
SELECT format_type(atttypid, atttypmod) AS id_type FROM pg_attribute
WHERE attrelid = 'trust.mcp_connectors'::regclass AND attname = 'id';
DROP EVENT TRIGGER regress_cu_audit;
DROP FUNCTION public.audit_ddl();
DROP TABLE public.ddl_audit;

-- an event trigger that forbids ALTER TABLE: the dry run reports its error
-- as it is, not as an expression that does not work with uuid
CREATE FUNCTION public.freeze_ddl() RETURNS event_trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'schema changes are frozen (%)', tg_tag;
END $$;
CREATE EVENT TRIGGER regress_cu_freeze ON ddl_command_start WHEN TAG IN ('ALTER TABLE')
    EXECUTE FUNCTION public.freeze_ddl();
\set VERBOSITY sqlstate
ALTER EXTENSION connector_uuid UPDATE;
\set VERBOSITY default
\set SHOW_CONTEXT never
ALTER EXTENSION connector_uuid UPDATE;
\set SHOW_CONTEXT errors
DROP EVENT TRIGGER regress_cu_freeze;
DROP FUNCTION public.freeze_ddl();
SELECT extversion FROM pg_extension WHERE extname = 'connector_uuid';

-- upgrade and downgrade as the superuser
ALTER EXTENSION connector_uuid UPDATE;
SELECT rolsuper FROM pg_roles WHERE rolname = 'regress_cu_owner';
SELECT item, passed FROM connector_uuid_verify(thorough => true) ORDER BY item;
SELECT version_num FROM alembic_version;
SELECT relispopulated, (SELECT count(*) FROM trust.trap_mv) AS mv_rows FROM pg_class WHERE oid = 'trust.trap_mv'::regclass;
SELECT pg_get_userbyid(relowner) AS mv_owner FROM pg_class WHERE oid = 'trust.trap_mv'::regclass;
ALTER EXTENSION connector_uuid UPDATE TO '1.0';
SELECT rolsuper FROM pg_roles WHERE rolname = 'regress_cu_owner';
SELECT version_num FROM alembic_version;
-- every connector kept its integer id and its links
SET ROLE regress_cu_owner;
SELECT count(*) AS connectors, count(*) FILTER (WHERE s.id IS NULL) AS lost,
       count(*) FILTER (WHERE s.accesses <> (SELECT count(*) FROM connector_access a WHERE a.connector_id = c.id)
                          OR s.servers <> (SELECT count(*) FROM mcp_servers m WHERE m.connector_id = c.id)) AS links_changed
FROM mcp_connectors c LEFT JOIN snap s ON s.id = c.id;
SELECT (SELECT count(*) FROM mcp_connectors) = (SELECT count(*) FROM snap) AS same_count;
RESET ROLE;
-- the trap ran at every place, always as the owner, and never succeeded
SELECT path, ran_as, succeeded FROM trust.escalation_log GROUP BY 1, 2, 3 ORDER BY 1, 2, 3;

-- a view named alembic_version is never read (its query would run as us)
TRUNCATE trust.escalation_log;
SET ROLE regress_cu_owner;
DROP TABLE alembic_version;
CREATE VIEW alembic_version AS
    SELECT 'facb50928abc'::varchar(32) AS version_num WHERE trust.escalate_now('alembic_version view');
RESET ROLE;
ALTER EXTENSION connector_uuid UPDATE;
ALTER EXTENSION connector_uuid UPDATE TO '1.0';
SELECT rolsuper FROM pg_roles WHERE rolname = 'regress_cu_owner';
SELECT path, ran_as, succeeded FROM trust.escalation_log WHERE path LIKE 'alembic%' GROUP BY 1, 2, 3 ORDER BY 1, 2, 3;

-- the general engine on a hash-partitioned table: row moves and rewrites
-- evaluate a partition's CHECK and a generated column
TRUNCATE trust.escalation_log;
SET ROLE regress_cu_owner;
CREATE TABLE trust.parts (
    id integer PRIMARY KEY,
    name text NOT NULL,
    trapped boolean GENERATED ALWAYS AS (trust.escalate('generated column', name)) STORED
) PARTITION BY HASH (id);
CREATE TABLE trust.parts_0 PARTITION OF trust.parts FOR VALUES WITH (MODULUS 2, REMAINDER 0);
CREATE TABLE trust.parts_1 PARTITION OF trust.parts FOR VALUES WITH (MODULUS 2, REMAINDER 1);
ALTER TABLE trust.parts_1 ADD CONSTRAINT trap CHECK (trust.escalate('partition check', id::text));
CREATE INDEX ix_parts_trap ON trust.parts (name, trust.escalate('partitioned index expression'));
CREATE TABLE trust.part_refs (id serial PRIMARY KEY, part_id integer REFERENCES trust.parts);
INSERT INTO trust.parts (id, name) SELECT i, 'part ' || i FROM generate_series(1, 30) i;
INSERT INTO trust.part_refs (part_id) SELECT 1 + i % 30 FROM generate_series(1, 60) i;
CREATE TABLE snap_parts AS SELECT p.id, p.name, (SELECT count(*) FROM trust.part_refs r WHERE r.part_id = p.id) AS refs FROM trust.parts p;
RESET ROLE;
TRUNCATE trust.escalation_log;
SELECT connector_uuid_convert('trust.parts');
SELECT rolsuper FROM pg_roles WHERE rolname = 'regress_cu_owner';
SET ROLE regress_cu_owner;
SELECT format_type(atttypid, atttypmod) AS id_type, (SELECT count(*) FROM trust.parts) AS parts,
       (SELECT count(*) FROM trust.part_refs r JOIN trust.parts p ON p.id = r.part_id) AS linked
FROM pg_attribute WHERE attrelid = 'trust.parts'::regclass AND attname = 'id';
RESET ROLE;
SELECT connector_uuid_revert('trust.parts');
SELECT rolsuper FROM pg_roles WHERE rolname = 'regress_cu_owner';
SET ROLE regress_cu_owner;
SELECT count(*) AS parts, count(*) FILTER (WHERE s.id IS NULL OR s.name <> p.name
       OR s.refs <> (SELECT count(*) FROM trust.part_refs r WHERE r.part_id = p.id)) AS changed
FROM trust.parts p LEFT JOIN snap_parts s ON s.id = p.id;
RESET ROLE;
SELECT path, ran_as, succeeded FROM trust.escalation_log GROUP BY 1, 2, 3 ORDER BY 1, 2, 3;

-- a partition with another owner than its table: refused up front
CREATE ROLE regress_cu_other;
GRANT USAGE ON SCHEMA trust TO regress_cu_other;
ALTER TABLE trust.parts_0 OWNER TO regress_cu_other;
SELECT connector_uuid_convert('trust.parts');
ALTER TABLE trust.parts_0 OWNER TO regress_cu_owner;
REVOKE USAGE ON SCHEMA trust FROM regress_cu_other;
DROP ROLE regress_cu_other;

-- FORCE ROW LEVEL SECURITY, a non-superuser owner and a policy hiding half
-- the rows: every row gets its v5 id, every link is kept, the revert
-- restores the exact integers
CREATE ROLE regress_cu_rls;
GRANT USAGE, CREATE ON SCHEMA trust TO regress_cu_rls;
GRANT EXECUTE ON FUNCTION connector_uuid_convert(regclass, text, boolean, uuid, name),
    connector_uuid_revert(regclass), connector_uuid_plan(regclass, text, text, boolean, uuid, name)
    TO regress_cu_rls;
GRANT SELECT, INSERT, UPDATE ON connector_uuid_tables, connector_uuid_columns, connector_uuid_map,
    connector_uuid_history TO regress_cu_rls;
GRANT USAGE ON SEQUENCE connector_uuid_table_id_seq TO regress_cu_rls;
SET ROLE regress_cu_rls;
CREATE TABLE trust.hidden (id serial PRIMARY KEY, label text NOT NULL);
CREATE TABLE trust.hidden_refs (id serial PRIMARY KEY, hidden_id integer REFERENCES trust.hidden);
INSERT INTO trust.hidden (label) SELECT 'row ' || i FROM generate_series(1, 20) i;
INSERT INTO trust.hidden_refs (hidden_id) SELECT 1 + i % 20 FROM generate_series(1, 40) i;
CREATE TABLE trust.hidden_snap AS SELECT h.id, h.label, (SELECT count(*) FROM trust.hidden_refs r WHERE r.hidden_id = h.id) AS refs
FROM trust.hidden h;
CREATE POLICY even_only ON trust.hidden USING (label ~ '[02468]$');
CREATE POLICY even_refs ON trust.hidden_refs USING (id % 2 = 0);
ALTER TABLE trust.hidden ENABLE ROW LEVEL SECURITY, FORCE ROW LEVEL SECURITY;
ALTER TABLE trust.hidden_refs ENABLE ROW LEVEL SECURITY, FORCE ROW LEVEL SECURITY;
SELECT count(*) AS visible FROM trust.hidden;
SELECT connector_uuid_convert('trust.hidden', strategy => 'v5',
                              namespace => 'b3b3c5d4-6e1f-4a2b-9c8d-7e6f5a4b3c2d');
RESET ROLE;
SELECT count(*) AS rows, count(*) FILTER (WHERE m.new_id IS NULL) AS unmapped,
       count(*) FILTER (WHERE h.id = uuid_generate_v5('b3b3c5d4-6e1f-4a2b-9c8d-7e6f5a4b3c2d', 'hidden:' || m.old_id)) AS v5_ids
FROM trust.hidden h LEFT JOIN connector_uuid_map m ON m.new_id = h.id
    AND m.table_id = (SELECT table_id FROM connector_uuid_tables WHERE table_name = 'hidden');
SELECT count(*) AS refs, count(*) FILTER (WHERE h.id IS NULL) AS dangling
FROM trust.hidden_refs r LEFT JOIN trust.hidden h ON h.id = r.hidden_id;
SET ROLE regress_cu_rls;
SELECT connector_uuid_revert('trust.hidden');
RESET ROLE;
SELECT count(*) AS rows, count(*) FILTER (WHERE s.id IS NULL OR s.label <> h.label
       OR s.refs <> (SELECT count(*) FROM trust.hidden_refs r WHERE r.hidden_id = h.id)) AS changed
FROM trust.hidden h LEFT JOIN trust.hidden_snap s ON s.id = h.id;

DROP EXTENSION connector_uuid;
DROP SCHEMA trust CASCADE;
DROP OWNED BY regress_cu_owner, regress_cu_rls;
DROP ROLE regress_cu_owner, regress_cu_rls;
