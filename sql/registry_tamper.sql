-- registry_tamper: the registry holds facts, not SQL.  Whoever can write
-- connector_uuid_tables / _columns (a role granted on them, a crafted dump)
-- must not choose the statements a superuser's revert runs.  Each fact is
-- tampered with in turn (in a transaction rolled back): the plan and the
-- revert refuse cleanly, naming the table, the registry column and the bad
-- value, before anything changes; names and text planted with SQL in them
-- come back only as a quoted name or literal.  The untampered registry then
-- reverts exactly.
SET connector_uuid.progress = off;
CREATE SCHEMA rt;
SET search_path = rt, public;
CREATE EXTENSION connector_uuid VERSION '1.0' SCHEMA rt;
CREATE ROLE regress_rt_reader;

-- an identity key (its sequence is dropped at convert: the registry keeps
-- its parameters, comment and grants) and a serial key, each referenced
CREATE TABLE ident (id integer GENERATED ALWAYS AS IDENTITY (START WITH 10 INCREMENT BY 3 CACHE 2) PRIMARY KEY, v text);
COMMENT ON SEQUENCE ident_id_seq IS 'ids of ident';
GRANT SELECT, USAGE ON SEQUENCE ident_id_seq TO regress_rt_reader;
-- a grant another role made keeps its grantor (GRANTED BY, after the grant it depends on)
CREATE ROLE regress_rt_granter;
GRANT USAGE ON SCHEMA rt TO regress_rt_granter;
GRANT UPDATE ON SEQUENCE ident_id_seq TO regress_rt_granter WITH GRANT OPTION;
SET ROLE regress_rt_granter;
GRANT UPDATE ON SEQUENCE ident_id_seq TO regress_rt_reader;
RESET ROLE;
CREATE TABLE ident_ref (id integer PRIMARY KEY, ident_id integer REFERENCES ident ON DELETE SET NULL);
CREATE TABLE ser (id serial PRIMARY KEY, v text);
CREATE TABLE ser_ref (id integer PRIMARY KEY, ser_id smallint REFERENCES ser ON DELETE CASCADE);
INSERT INTO ident (v) VALUES ('a'), ('b'), ('c');
INSERT INTO ident_ref SELECT row_number() OVER (ORDER BY id), id FROM ident;
INSERT INTO ser (v) VALUES ('x'), ('y');
INSERT INTO ser_ref SELECT row_number() OVER (ORDER BY id), id FROM ser;
CREATE TABLE snap AS
    SELECT 'ident' AS t, id::text, v FROM ident UNION ALL SELECT 'ident_ref', id::text, ident_id::text FROM ident_ref
    UNION ALL SELECT 'ser', id::text, v FROM ser UNION ALL SELECT 'ser_ref', id::text, ser_id::text FROM ser_ref;
CREATE FUNCTION shape() RETURNS TABLE (what text, def text)
LANGUAGE sql AS $$
    SELECT a.attrelid::regclass || '.' || a.attname,
           format_type(a.atttypid, a.atttypmod) || ' identity=' || a.attidentity::text
           || ' default=' || COALESCE(pg_get_expr(d.adbin, d.adrelid), '-')
    FROM pg_attribute a LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
    WHERE a.attrelid IN ('ident'::regclass, 'ident_ref'::regclass, 'ser'::regclass, 'ser_ref'::regclass)
      AND a.attnum > 0 AND a.attname LIKE '%id'
    UNION ALL
    SELECT c.conrelid::regclass || ' ' || c.conname, pg_get_constraintdef(c.oid) FROM pg_constraint c
    WHERE c.contype = 'f' AND c.conrelid IN ('ident_ref'::regclass, 'ser_ref'::regclass)
    UNION ALL
    SELECT s.seqrelid::regclass::text, format('%s %s..%s +%s start %s cache %s cycle %s; %s; %s',
           format_type(s.seqtypid, NULL), s.seqmin, s.seqmax, s.seqincrement, s.seqstart, s.seqcache, s.seqcycle,
           obj_description(s.seqrelid, 'pg_class'),
           (SELECT string_agg(CASE WHEN a.grantee = 0 THEN 'PUBLIC' WHEN a.grantee = c.relowner THEN 'owner'
                                   ELSE pg_get_userbyid(a.grantee) END || ':' || a.privilege_type
                              || CASE WHEN a.is_grantable THEN '*' ELSE '' END
                              || ' by ' || CASE WHEN a.grantor = c.relowner THEN 'owner' ELSE pg_get_userbyid(a.grantor) END,
                              ',' ORDER BY 1)
            FROM aclexplode(c.relacl) a))
    FROM pg_sequence s JOIN pg_class c ON c.oid = s.seqrelid
    WHERE c.relnamespace = 'rt'::regnamespace AND c.relname IN ('ident_id_seq', 'ser_id_seq')
$$;
CREATE TABLE shape_before AS SELECT * FROM shape();

SELECT connector_uuid_convert('ident');
SELECT connector_uuid_convert('ser');
-- what the registry holds: typed facts
SELECT table_name, original_type, identity, default_kind, sequence_schema, sequence_name, seq_type,
       seq_increment, seq_min, seq_max, seq_start, seq_cache, seq_cycle, seq_comment,
       seq_acl IS NOT NULL AS has_acl
FROM connector_uuid_tables ORDER BY table_name;
SELECT table_name, column_name, original_type, on_delete, fk_on_delete FROM connector_uuid_columns ORDER BY 1, 2;
SELECT pg_typeof(original_type) AS original_type, pg_typeof(seq_acl) AS seq_acl
FROM connector_uuid_tables LIMIT 1;

-- a type that is not an integer type
BEGIN;
UPDATE connector_uuid_tables SET original_type = 'text' WHERE table_name = 'ser';
SELECT count(*) FROM connector_uuid_plan('ser'::regclass);
ROLLBACK;
BEGIN;
UPDATE connector_uuid_tables SET original_type = 'text' WHERE table_name = 'ser';
SELECT connector_uuid_revert('ser');
ROLLBACK;
BEGIN;
UPDATE connector_uuid_columns SET original_type = 'pg_catalog.numeric' WHERE table_name = 'ser_ref';
SELECT connector_uuid_revert('ser');
ROLLBACK;
-- an identity kind that is none of '', 'a', 'd'
BEGIN;
UPDATE connector_uuid_tables SET identity = 'x' WHERE table_name = 'ident';
SELECT connector_uuid_revert('ident');
ROLLBACK;
-- a kind of default we do not know, or that contradicts the identity
BEGIN;
UPDATE connector_uuid_tables SET default_kind = '1; DROP TABLE rt.ser_ref' WHERE table_name = 'ser';
SELECT connector_uuid_revert('ser');
ROLLBACK;
BEGIN;
UPDATE connector_uuid_tables SET default_kind = 'nextval' WHERE table_name = 'ident';
SELECT connector_uuid_revert('ident');
ROLLBACK;
-- the default's sequence is missing (a name with SQL in it is just a name)
BEGIN;
UPDATE connector_uuid_tables SET sequence_name = 'ser_id_seq''::regclass); DROP TABLE rt.ser_ref; --'
WHERE table_name = 'ser';
SELECT connector_uuid_revert('ser');
ROLLBACK;
-- identity sequence parameters that make no sequence
BEGIN;
UPDATE connector_uuid_tables SET seq_min = 100, seq_max = 5 WHERE table_name = 'ident';
SELECT connector_uuid_revert('ident');
ROLLBACK;
BEGIN;
UPDATE connector_uuid_tables SET seq_max = 3000000000 WHERE table_name = 'ident';
SELECT connector_uuid_revert('ident');
ROLLBACK;
BEGIN;
UPDATE connector_uuid_tables SET seq_increment = 0 WHERE table_name = 'ident';
SELECT connector_uuid_revert('ident');
ROLLBACK;
BEGIN;
UPDATE connector_uuid_tables SET seq_start = 0 WHERE table_name = 'ident';
SELECT connector_uuid_revert('ident');
ROLLBACK;
BEGIN;
UPDATE connector_uuid_tables SET seq_cache = 0 WHERE table_name = 'ident';
SELECT connector_uuid_revert('ident');
ROLLBACK;
BEGIN;
UPDATE connector_uuid_tables SET seq_type = 'pg_catalog.text' WHERE table_name = 'ident';
SELECT connector_uuid_revert('ident');
ROLLBACK;
BEGIN;
UPDATE connector_uuid_tables SET seq_cycle = NULL WHERE table_name = 'ident';
SELECT connector_uuid_revert('ident');
ROLLBACK;
-- a privilege a sequence does not have
BEGIN;
UPDATE connector_uuid_tables SET seq_acl = seq_acl || format('%I=d/%I', 'regress_rt_reader', current_user)::aclitem
WHERE table_name = 'ident';
SELECT connector_uuid_revert('ident');
ROLLBACK;
-- ON DELETE actions that are none of a, r, c, n, d
BEGIN;
UPDATE connector_uuid_columns SET on_delete = 'x', fk_on_delete = NULL WHERE table_name = 'ser_ref';
SELECT connector_uuid_revert('ser');
ROLLBACK;
BEGIN;
UPDATE connector_uuid_columns SET fk_on_delete = '{"ser_ref_ser_id_fkey": "CASCADE; DROP TABLE rt.ser_ref"}'
WHERE table_name = 'ser_ref';
SELECT connector_uuid_revert('ser');
ROLLBACK;
-- a strategy we do not know
BEGIN;
UPDATE connector_uuid_tables SET strategy = 'v9' WHERE table_name = 'ser';
SELECT connector_uuid_revert('ser');
ROLLBACK;
-- still uuid, nothing ran
SELECT what, def FROM shape() WHERE what LIKE '%.id' ORDER BY 1;

-- SQL planted in the identity sequence's name and comment: the plan shows it
-- only as a quoted name and a literal, and the revert runs nothing of it
BEGIN;
UPDATE connector_uuid_tables
SET sequence_name = 'evil; CREATE ROLE regress_rt_evil SUPERUSER; --',
    seq_comment = 'x''; CREATE ROLE regress_rt_evil SUPERUSER; --'
WHERE table_name = 'ident';
SELECT statement FROM connector_uuid_plan('ident'::regclass)
WHERE statement ~ 'IDENTITY|COMMENT ON SEQUENCE' ORDER BY step;
SELECT connector_uuid_revert('ident');
SELECT c.relname, obj_description(c.oid, 'pg_class') FROM pg_class c
WHERE c.oid = pg_get_serial_sequence('ident', 'id')::regclass;
SELECT count(*) AS evil_roles FROM pg_roles WHERE rolname = 'regress_rt_evil';
ROLLBACK;

-- the grants the revert gives the new identity sequence, from seq_acl
SELECT replace(statement, ' ' || quote_ident(current_user), ' CURRENT_USER') AS statement
FROM connector_uuid_plan('ident'::regclass) WHERE statement ~ '^(GRANT|REVOKE)' ORDER BY step;

-- the untampered registry reverts exactly: rows, types, defaults, identity,
-- sequences with their parameters, comment and grants, ON DELETE actions
SELECT connector_uuid_revert('ident');
SELECT connector_uuid_revert('ser');
SELECT * FROM shape() EXCEPT SELECT * FROM shape_before;
SELECT * FROM shape_before EXCEPT SELECT * FROM shape();
SELECT count(*) AS rows_differing FROM (
    SELECT 'ident' AS t, id::text, v FROM ident UNION ALL SELECT 'ident_ref', id::text, ident_id::text FROM ident_ref
    UNION ALL SELECT 'ser', id::text, v FROM ser UNION ALL SELECT 'ser_ref', id::text, ser_id::text FROM ser_ref
    EXCEPT SELECT * FROM snap) d;
INSERT INTO ident (v) VALUES ('d') RETURNING id;
INSERT INTO ser (v) VALUES ('z') RETURNING id;

-- a key default the registry cannot record as a fact is refused at convert
CREATE TABLE expr_default (id integer PRIMARY KEY DEFAULT (random() * 1000)::integer);
SELECT count(*) FROM connector_uuid_plan('expr_default'::regclass);
SELECT connector_uuid_convert('expr_default');

DROP TABLE ident_ref, ident, ser_ref, ser, snap, shape_before, expr_default;
DROP FUNCTION shape();
DROP EXTENSION connector_uuid;
REVOKE ALL ON SCHEMA rt FROM regress_rt_granter;
DROP SCHEMA rt;
DROP ROLE regress_rt_reader, regress_rt_granter;
