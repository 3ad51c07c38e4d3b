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

-- The online mode (CALL connector_uuid_prepare()): one row per key table
-- being prepared or swapped, and one per table it backfills.  phase:
--   backfill   the uuid twin columns and sync triggers are in place; rows
--              are being given their uuids, a batch per transaction
--   build      indexes, the key's unique constraint, checks and foreign keys
--              on the twins are being built and validated, writes going on
--   prepared   everything is there: ALTER EXTENSION ... UPDATE (or
--              connector_uuid_convert) swaps in a catalog-only transaction
--   swapped    the uuid columns are the key; the integer ones are kept in
--              sync until connector_uuid_finalize()
-- Facts only (names and counts): every statement is built from the catalogs.
CREATE TABLE @extschema@.connector_uuid_online (
    table_id         integer PRIMARY KEY,
    schema_name      name NOT NULL,
    table_name       name NOT NULL,
    phase            text NOT NULL,
    batch_size       integer NOT NULL,
    pause            interval NOT NULL,
    max_lag          bigint,
    new_registry     boolean NOT NULL,
    swapped_once     boolean NOT NULL DEFAULT false,
    started_at       timestamptz NOT NULL,
    updated_at       timestamptz NOT NULL,
    UNIQUE (schema_name, table_name)
);
COMMENT ON TABLE @extschema@.connector_uuid_online IS
    'connector_uuid: key tables in the online mode, and their phase';

CREATE TABLE @extschema@.connector_uuid_online_tables (
    table_id         integer NOT NULL,
    schema_name      name NOT NULL,
    table_name       name NOT NULL,
    ordinal          integer NOT NULL,
    pages_total      bigint NOT NULL,
    next_page        bigint NOT NULL DEFAULT 0,
    rows_total       bigint NOT NULL,
    rows_done        bigint NOT NULL DEFAULT 0,
    done             boolean NOT NULL DEFAULT false,
    started_at       timestamptz,
    updated_at       timestamptz,
    PRIMARY KEY (table_id, schema_name, table_name)
);

-- pg_dump must keep their rows (the map is what makes a rollback lossless).
SELECT pg_catalog.pg_extension_config_dump('@extschema@.connector_uuid_tables'::pg_catalog.regclass, ''::pg_catalog.text);
SELECT pg_catalog.pg_extension_config_dump('@extschema@.connector_uuid_table_id_seq'::pg_catalog.regclass, ''::pg_catalog.text);
SELECT pg_catalog.pg_extension_config_dump('@extschema@.connector_uuid_columns'::pg_catalog.regclass, ''::pg_catalog.text);
SELECT pg_catalog.pg_extension_config_dump('@extschema@.connector_uuid_map'::pg_catalog.regclass, ''::pg_catalog.text);
SELECT pg_catalog.pg_extension_config_dump('@extschema@.connector_uuid_history'::pg_catalog.regclass, ''::pg_catalog.text);
SELECT pg_catalog.pg_extension_config_dump('@extschema@.connector_uuid_online'::pg_catalog.regclass, ''::pg_catalog.text);
SELECT pg_catalog.pg_extension_config_dump('@extschema@.connector_uuid_online_tables'::pg_catalog.regclass, ''::pg_catalog.text);

-- The map and the keys are not for everyone.
REVOKE ALL ON @extschema@.connector_uuid_tables, @extschema@.connector_uuid_columns,
    @extschema@.connector_uuid_map, @extschema@.connector_uuid_history,
    @extschema@.connector_uuid_online, @extschema@.connector_uuid_online_tables FROM PUBLIC;
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

-- Every row's old integer id and uuid, whichever type the key has now
-- (the map holds only what the key cannot derive: this is the translation).
CREATE FUNCTION @extschema@.connector_uuid_ids(pk_table regclass)
RETURNS TABLE (old_id bigint, new_id uuid)
AS 'MODULE_PATHNAME', 'connector_uuid_ids'
LANGUAGE C STABLE STRICT PARALLEL RESTRICTED;

-- Logical replication (src/keyexport.c): a table's id mapping (strategy,
-- key, the pairs the key does not derive) exported from one database and
-- imported into another before its conversion, so both give every row the
-- same uuid without copying a row; and its fingerprint (the same
-- fingerprint: the same ids), which any role may read (it is a hash) so
-- that a subscriber's verify can ask its publisher over the subscription's
-- own connection.
CREATE FUNCTION @extschema@.connector_uuid_export(pk_table regclass)
RETURNS jsonb
AS 'MODULE_PATHNAME', 'connector_uuid_export'
LANGUAGE C STABLE STRICT PARALLEL RESTRICTED;

CREATE FUNCTION @extschema@.connector_uuid_import(pk_table regclass, export jsonb, replace boolean DEFAULT false)
RETURNS text
AS 'MODULE_PATHNAME', 'connector_uuid_import'
LANGUAGE C VOLATILE STRICT PARALLEL UNSAFE;

CREATE FUNCTION @extschema@.connector_uuid_fingerprint(pk_table regclass)
RETURNS text
AS 'MODULE_PATHNAME', 'connector_uuid_fingerprint'
LANGUAGE C STABLE STRICT PARALLEL RESTRICTED
SECURITY DEFINER SET search_path = pg_catalog, pg_temp;

-- The table access method the offline rewrites name so that they write
-- whole pages, as CLUSTER does (src/pagerewrite.c): heap's, but for the
-- rewrite's inserts; refused for any other table.  No table keeps it.
CREATE FUNCTION @extschema@.connector_uuid_rewrite_handler(internal)
RETURNS table_am_handler
AS 'MODULE_PATHNAME', 'connector_uuid_rewrite_handler'
LANGUAGE C STRICT;
CREATE ACCESS METHOD connector_uuid_rewrite TYPE TABLE HANDLER @extschema@.connector_uuid_rewrite_handler;
COMMENT ON ACCESS METHOD connector_uuid_rewrite IS
    'connector_uuid: heap, written a page at a time by the offline rewrites (only while one runs)';

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

-- The online mode: prepare while the application runs (a procedure, which
-- commits a batch at a time), then the swap is ALTER EXTENSION ... UPDATE
-- (or connector_uuid_convert for other tables).
CREATE PROCEDURE @extschema@.connector_uuid_prepare(pk_table regclass DEFAULT NULL,
                                                    batch_size integer DEFAULT 2500,
                                                    pause interval DEFAULT '0',
                                                    max_lag bigint DEFAULT NULL,
                                                    time_budget interval DEFAULT NULL)
AS 'MODULE_PATHNAME', 'connector_uuid_prepare'
LANGUAGE C;

-- After the swap: drop the integer columns and the sync triggers.
CREATE FUNCTION @extschema@.connector_uuid_finalize(pk_table regclass DEFAULT NULL)
RETURNS void
AS 'MODULE_PATHNAME', 'connector_uuid_finalize'
LANGUAGE C VOLATILE CALLED ON NULL INPUT PARALLEL UNSAFE;

-- Instead of the swap: remove everything prepare added.
CREATE FUNCTION @extschema@.connector_uuid_abort(pk_table regclass DEFAULT NULL)
RETURNS void
AS 'MODULE_PATHNAME', 'connector_uuid_abort'
LANGUAGE C VOLATILE CALLED ON NULL INPUT PARALLEL UNSAFE;

-- The trigger that keeps each uuid twin column in step with its integer
-- column (and, after the swap, the other way round).  Only prepare creates
-- triggers with it (PostgreSQL checks EXECUTE when a trigger is created,
-- not when it fires): its arguments name the key it uses and the table it
-- reads, so no other role may attach it to a table of its own.
CREATE FUNCTION @extschema@.connector_uuid_sync()
RETURNS trigger
AS 'MODULE_PATHNAME', 'connector_uuid_sync'
LANGUAGE C VOLATILE;
REVOKE ALL ON FUNCTION @extschema@.connector_uuid_sync() FROM PUBLIC;

-- Where the online mode stands, from any session: phase, table, rows done.
CREATE VIEW @extschema@.connector_uuid_progress AS
    SELECT o.schema_name OPERATOR(pg_catalog.||) '.' OPERATOR(pg_catalog.||) o.table_name AS key_table,
           t.schema_name OPERATOR(pg_catalog.||) '.' OPERATOR(pg_catalog.||) t.table_name AS table_name,
           CASE WHEN o.phase OPERATOR(pg_catalog.=) 'backfill' AND t.done THEN 'backfilled'
                ELSE o.phase END AS phase,
           CASE WHEN o.phase OPERATOR(pg_catalog.=) 'build' AND p.relid IS NOT NULL
                THEN p.tuples_done ELSE t.rows_done END AS rows_done,
           CASE WHEN o.phase OPERATOR(pg_catalog.=) 'build' AND p.relid IS NOT NULL
                THEN p.tuples_total ELSE GREATEST(t.rows_total, t.rows_done) END AS rows_total,
           pg_catalog.round(100.0 OPERATOR(pg_catalog.*) t.next_page::pg_catalog.numeric
                            OPERATOR(pg_catalog./) GREATEST(t.pages_total, 1)::pg_catalog.numeric, 1) AS percent,
           r.rate AS rows_per_second,
           CASE WHEN NOT t.done AND r.rate OPERATOR(pg_catalog.>) 0
                THEN pg_catalog.make_interval(secs => (GREATEST(t.rows_total OPERATOR(pg_catalog.-) t.rows_done, 0)::pg_catalog.float8
                                                       OPERATOR(pg_catalog./) r.rate)) END AS eta,
           p.phase AS index_build,
           t.updated_at
      FROM @extschema@.connector_uuid_online o
      JOIN @extschema@.connector_uuid_online_tables t
        ON t.table_id OPERATOR(pg_catalog.=) o.table_id
      LEFT JOIN pg_catalog.pg_stat_progress_create_index p
        ON p.relid OPERATOR(pg_catalog.=) pg_catalog.to_regclass(pg_catalog.quote_ident(t.schema_name)
               OPERATOR(pg_catalog.||) '.' OPERATOR(pg_catalog.||) pg_catalog.quote_ident(t.table_name))::pg_catalog.oid
       AND p.datid OPERATOR(pg_catalog.=) (SELECT d.oid FROM pg_catalog.pg_database d
                                            WHERE d.datname OPERATOR(pg_catalog.=) pg_catalog.current_database())
      CROSS JOIN LATERAL (SELECT CASE WHEN t.updated_at OPERATOR(pg_catalog.>) t.started_at
               THEN pg_catalog.round((t.rows_done::pg_catalog.float8 OPERATOR(pg_catalog./)
                     pg_catalog.date_part('epoch', t.updated_at OPERATOR(pg_catalog.-) t.started_at))::pg_catalog.numeric)
               END AS rate) r
     ORDER BY o.table_id, t.ordinal;
COMMENT ON VIEW @extschema@.connector_uuid_progress IS
    'connector_uuid: progress of CALL connector_uuid_prepare(), one row per table';
REVOKE ALL ON @extschema@.connector_uuid_progress FROM PUBLIC;
GRANT SELECT ON @extschema@.connector_uuid_progress TO pg_monitor;

REVOKE ALL ON FUNCTION @extschema@.connector_uuid_upgrade(boolean),
    @extschema@.connector_uuid_downgrade(),
    @extschema@.connector_uuid_plan(text),
    @extschema@.connector_uuid_convert(regclass, text, boolean, uuid, name),
    @extschema@.connector_uuid_revert(regclass),
    @extschema@.connector_uuid_lookup(regclass, bigint),
    @extschema@.connector_uuid_ids(regclass),
    @extschema@.connector_uuid_export(regclass),
    @extschema@.connector_uuid_import(regclass, jsonb, boolean),
    @extschema@.connector_uuid_plan(regclass, text, text, boolean, uuid, name),
    @extschema@.connector_uuid_status(),
    @extschema@.connector_uuid_finalize(regclass),
    @extschema@.connector_uuid_abort(regclass) FROM PUBLIC;
REVOKE ALL ON PROCEDURE @extschema@.connector_uuid_prepare(regclass, integer, interval, bigint, interval) FROM PUBLIC;

-- The table rewrites call these two in their USING expressions, and run as
-- the table's owner (so that the application's constraints and generated
-- columns never run as the converting superuser): every owner must be able
-- to call them.  They give nothing away: outside a migration of that table
-- id in the calling backend they raise an error (idmap.c, require_map).
GRANT EXECUTE ON FUNCTION @extschema@.connector_uuid_to_uuid(bigint, integer),
    @extschema@.connector_uuid_to_int(uuid, integer, boolean) TO PUBLIC;
