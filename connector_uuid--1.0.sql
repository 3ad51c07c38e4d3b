/* connector_uuid--1.0.sql */

-- complain if script is sourced in psql, rather than via CREATE EXTENSION
\echo Use "CREATE EXTENSION connector_uuid VERSION '1.0'" to load this file. \quit

-- Version 1.0: the tools only.  The application's tables stay integer; the
-- upgrade to 2.0 (connector_uuid--1.0--2.0.sql) migrates them.
--
-- Everything below lives in the extension's schema, which is the schema of
-- the application's tables.  Names are qualified with @extschema@ and
-- pg_catalog so the caller's search_path cannot redirect anything.

-- Tables converted by connector_uuid: what a revert needs to put the key
-- column back as it was, and the key of the id permutation (see idgen.c).
-- Facts only, never SQL: the revert builds its statements from these typed
-- values, quoting every name and literal, and refuses a row that does not
-- validate (src/registry.c), so whoever can write this table cannot choose
-- the statements a superuser's revert runs.
--   original_type   smallint, integer or bigint
--   identity        '' (none), 'a' (ALWAYS) or 'd' (BY DEFAULT)
--   default_kind    'none', 'nextval' (of sequence_schema.sequence_name) or
--                   'identity' (the identity's own sequence, created again
--                   under that name with the seq_* parameters, comment and ACL)
--   seq_*           the identity sequence's type and parameters; for every
--                   owned sequence, where it stood at the conversion
CREATE TABLE @extschema@.connector_uuid_tables (
    table_id         integer PRIMARY KEY,
    schema_name      name NOT NULL,
    table_name       name NOT NULL,
    column_name      name NOT NULL,
    original_type    pg_catalog.regtype NOT NULL,
    identity         "char" NOT NULL DEFAULT '',
    default_kind     text NOT NULL DEFAULT 'none',
    sequence_schema  name,
    sequence_name    name,
    seq_type         pg_catalog.regtype,
    seq_increment    bigint,
    seq_min          bigint,
    seq_max          bigint,
    seq_start        bigint,
    seq_cache        bigint,
    seq_cycle        boolean,
    seq_comment      text,
    seq_acl          pg_catalog.aclitem[],
    seq_last_value   bigint,
    seq_value        bigint,
    seq_is_called    boolean,
    seq_added_max    bigint,
    table_oid        oid,
    strategy         text NOT NULL DEFAULT 'v4',
    full_map         boolean NOT NULL DEFAULT true,
    id_key           bytea NOT NULL,
    UNIQUE (schema_name, table_name)
);
COMMENT ON TABLE @extschema@.connector_uuid_tables IS
    'connector_uuid: tables converted to UUID keys, with what a downgrade restores';

-- The table ids: taken only by a conversion that holds its locks, so two
-- conversions of different tables at once never collide.
CREATE SEQUENCE @extschema@.connector_uuid_table_id_seq AS integer;

-- The referencing columns' original types (smallint, integer or bigint),
-- and the original ON DELETE action of their foreign keys (one of a, r, c,
-- n, d; fk_on_delete: by constraint name, for a column with several foreign
-- keys to the table).  Found by name, or by table_oid and column_number if
-- the table or column was renamed since.
CREATE TABLE @extschema@.connector_uuid_columns (
    table_id         integer NOT NULL,
    schema_name      name NOT NULL,
    table_name       name NOT NULL,
    column_name      name NOT NULL,
    original_type    pg_catalog.regtype NOT NULL,
    on_delete        "char",
    fk_on_delete     jsonb,
    table_oid        oid,
    column_number    smallint,
    PRIMARY KEY (table_id, schema_name, table_name, column_name)
);

-- The id map: every old integer id and the UUID it became.  "derived" rows
-- follow from the table's key; the others (connectors created at 2.0 and
-- given an integer by a downgrade) are looked up.
CREATE TABLE @extschema@.connector_uuid_map (
    table_id         integer NOT NULL,
    derived          boolean NOT NULL,
    old_id           bigint NOT NULL,
    new_id           uuid NOT NULL,
    PRIMARY KEY (table_id, old_id)
);
COMMENT ON TABLE @extschema@.connector_uuid_map IS
    'connector_uuid: old integer id <-> new uuid of every converted row';

-- One row per migration that committed.
CREATE TABLE @extschema@.connector_uuid_history (
    started_at       timestamptz NOT NULL,
    duration         interval NOT NULL,
    direction        text NOT NULL,
    table_name       text NOT NULL,
    rows_per_table   jsonb NOT NULL,
    strategy         text NOT NULL,
    role_name        name NOT NULL,
    outcome          text NOT NULL
);
COMMENT ON TABLE @extschema@.connector_uuid_history IS
    'connector_uuid: every upgrade and downgrade that committed';

-- pg_dump must keep their rows (the map is what makes a rollback lossless).
SELECT pg_catalog.pg_extension_config_dump('@extschema@.connector_uuid_tables'::pg_catalog.regclass, ''::pg_catalog.text);
SELECT pg_catalog.pg_extension_config_dump('@extschema@.connector_uuid_table_id_seq'::pg_catalog.regclass, ''::pg_catalog.text);
SELECT pg_catalog.pg_extension_config_dump('@extschema@.connector_uuid_columns'::pg_catalog.regclass, ''::pg_catalog.text);
SELECT pg_catalog.pg_extension_config_dump('@extschema@.connector_uuid_map'::pg_catalog.regclass, ''::pg_catalog.text);
SELECT pg_catalog.pg_extension_config_dump('@extschema@.connector_uuid_history'::pg_catalog.regclass, ''::pg_catalog.text);

-- The map and the keys are not for everyone.
REVOKE ALL ON @extschema@.connector_uuid_tables, @extschema@.connector_uuid_columns,
    @extschema@.connector_uuid_map, @extschema@.connector_uuid_history FROM PUBLIC;
REVOKE ALL ON SEQUENCE @extschema@.connector_uuid_table_id_seq FROM PUBLIC;

-- The migration itself: called by the update scripts only (the C code
-- refuses to run outside ALTER EXTENSION).
CREATE FUNCTION @extschema@.connector_uuid_upgrade(missing_ok boolean DEFAULT false)
RETURNS void
AS 'MODULE_PATHNAME', 'connector_uuid_upgrade'
LANGUAGE C VOLATILE STRICT PARALLEL UNSAFE;

CREATE FUNCTION @extschema@.connector_uuid_downgrade()
RETURNS void
AS 'MODULE_PATHNAME', 'connector_uuid_downgrade'
LANGUAGE C VOLATILE STRICT PARALLEL UNSAFE;

-- The mappings the ALTER COLUMN ... TYPE ... USING expressions call while
-- a migration runs (they error outside one).
CREATE FUNCTION @extschema@.connector_uuid_to_uuid(old_id bigint, table_id integer)
RETURNS uuid
AS 'MODULE_PATHNAME', 'connector_uuid_to_uuid'
LANGUAGE C VOLATILE STRICT PARALLEL UNSAFE;

CREATE FUNCTION @extschema@.connector_uuid_to_int(new_id uuid, table_id integer, missing_ok boolean)
RETURNS bigint
AS 'MODULE_PATHNAME', 'connector_uuid_to_int'
LANGUAGE C VOLATILE STRICT PARALLEL UNSAFE;

-- What the next ALTER EXTENSION would do.
CREATE FUNCTION @extschema@.connector_uuid_plan(direction text DEFAULT NULL)
RETURNS TABLE (step integer, relation text, description text, statement text,
               lock_mode text, rows bigint, total_bytes bigint)
AS 'MODULE_PATHNAME', 'connector_uuid_plan'
LANGUAGE C VOLATILE CALLED ON NULL INPUT PARALLEL UNSAFE;

-- The migration guide's checklist, one row per check.
CREATE FUNCTION @extschema@.connector_uuid_verify(strict boolean DEFAULT false,
                                                  thorough boolean DEFAULT false)
RETURNS TABLE (item text, passed boolean, detail text)
AS 'MODULE_PATHNAME', 'connector_uuid_verify'
LANGUAGE C STABLE STRICT PARALLEL RESTRICTED;

-- The general engine: any table's integer key to uuid and back.
CREATE FUNCTION @extschema@.connector_uuid_convert(pk_table regclass,
                                                   strategy text DEFAULT NULL,
                                                   on_delete_cascade boolean DEFAULT false,
                                                   namespace uuid DEFAULT NULL,
                                                   timestamp_column name DEFAULT NULL)
RETURNS void
AS 'MODULE_PATHNAME', 'connector_uuid_convert'
LANGUAGE C VOLATILE CALLED ON NULL INPUT PARALLEL UNSAFE;

CREATE FUNCTION @extschema@.connector_uuid_revert(pk_table regclass)
RETURNS void
AS 'MODULE_PATHNAME', 'connector_uuid_revert'
LANGUAGE C VOLATILE STRICT PARALLEL UNSAFE;

CREATE FUNCTION @extschema@.connector_uuid_plan(pk_table regclass,
                                                direction text DEFAULT NULL,
                                                strategy text DEFAULT NULL,
                                                on_delete_cascade boolean DEFAULT false,
                                                namespace uuid DEFAULT NULL,
                                                timestamp_column name DEFAULT NULL)
RETURNS TABLE (step integer, relation text, description text, statement text,
               lock_mode text, rows bigint, total_bytes bigint)
AS 'MODULE_PATHNAME', 'connector_uuid_plan_table'
LANGUAGE C VOLATILE CALLED ON NULL INPUT PARALLEL UNSAFE;

-- The uuid an old integer id became (from the map, or derived from the key).
CREATE FUNCTION @extschema@.connector_uuid_lookup(pk_table regclass, old_id bigint)
RETURNS uuid
AS 'MODULE_PATHNAME', 'connector_uuid_lookup'
LANGUAGE C STABLE STRICT PARALLEL RESTRICTED;

-- Version 7 UUIDs: of an existing row (its time and old id), and new ones
-- (the default of a key converted with the v7 strategy).
CREATE FUNCTION @extschema@.connector_uuid_v7(at timestamptz, old_id bigint)
RETURNS uuid
AS 'MODULE_PATHNAME', 'connector_uuid_v7'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

CREATE FUNCTION @extschema@.connector_uuid_generate_v7()
RETURNS uuid
AS 'MODULE_PATHNAME', 'connector_uuid_generate_v7'
LANGUAGE C VOLATILE STRICT PARALLEL SAFE;

-- Where things stand: version, map, recent runs.
CREATE FUNCTION @extschema@.connector_uuid_status()
RETURNS TABLE (version text, mapped_tables integer, mapped_ids bigint,
               derived_ids bigint, last_runs jsonb)
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT (SELECT e.extversion FROM pg_catalog.pg_extension e
             WHERE e.extname OPERATOR(pg_catalog.=) 'connector_uuid'::pg_catalog.name),
           (SELECT pg_catalog.count(*)::integer FROM @extschema@.connector_uuid_tables),
           (SELECT pg_catalog.count(*) FROM @extschema@.connector_uuid_map),
           (SELECT pg_catalog.count(*) FILTER (WHERE derived) FROM @extschema@.connector_uuid_map),
           (SELECT COALESCE(pg_catalog.jsonb_agg(h ORDER BY h.started_at DESC), '[]'::pg_catalog.jsonb)
              FROM (SELECT * FROM @extschema@.connector_uuid_history
                     ORDER BY started_at DESC LIMIT 5) h)
$$;

REVOKE ALL ON FUNCTION @extschema@.connector_uuid_upgrade(boolean),
    @extschema@.connector_uuid_downgrade(),
    @extschema@.connector_uuid_plan(text),
    @extschema@.connector_uuid_convert(regclass, text, boolean, uuid, name),
    @extschema@.connector_uuid_revert(regclass),
    @extschema@.connector_uuid_lookup(regclass, bigint),
    @extschema@.connector_uuid_plan(regclass, text, text, boolean, uuid, name),
    @extschema@.connector_uuid_status() FROM PUBLIC;

-- The table rewrites call these two in their USING expressions, and run as
-- the table's owner (so that the application's constraints and generated
-- columns never run as the converting superuser): every owner must be able
-- to call them.  They give nothing away: outside a migration of that table
-- id in the calling backend they raise an error (idmap.c, require_map).
GRANT EXECUTE ON FUNCTION @extschema@.connector_uuid_to_uuid(bigint, integer),
    @extschema@.connector_uuid_to_int(uuid, integer, boolean) TO PUBLIC;
