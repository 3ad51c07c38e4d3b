-- schema_objects: what real schemas carry around a converted key, converted
-- and reverted: a partitioned referencing table, row-level-security
-- policies, triggers with WHEN clauses, rules, NOT VALID keys, a shared sequence
SET connector_uuid.progress = off;
CREATE SCHEMA objs;
SET search_path = objs, public;
CREATE EXTENSION connector_uuid VERSION '1.0' SCHEMA objs;

CREATE TABLE parent (id serial PRIMARY KEY, name text);
INSERT INTO parent (name) SELECT 'p' || i FROM generate_series(1, 20) i;
-- a partitioned table referencing the key
CREATE TABLE events (id bigserial, parent_id integer REFERENCES parent ON DELETE CASCADE,
                     at date NOT NULL, PRIMARY KEY (id, at)) PARTITION BY RANGE (at);
CREATE TABLE events_2024 PARTITION OF events FOR VALUES FROM ('2024-01-01') TO ('2025-01-01');
CREATE TABLE events_2025 PARTITION OF events FOR VALUES FROM ('2025-01-01') TO ('2026-01-01');
INSERT INTO events (parent_id, at) SELECT 1 + i % 20, date '2024-06-01' + i FROM generate_series(1, 400) i;
-- a table with a policy and a trigger on its reference, and a NOT VALID key
CREATE TABLE docs (id serial PRIMARY KEY, owner_id integer, body text);
INSERT INTO docs (owner_id, body) SELECT 1 + i % 20, 'body ' || i FROM generate_series(1, 50) i;
ALTER TABLE docs ADD CONSTRAINT docs_owner_fkey FOREIGN KEY (owner_id) REFERENCES parent NOT VALID;
ALTER TABLE docs ENABLE ROW LEVEL SECURITY;
CREATE ROLE regress_cu_docs;
CREATE POLICY docs_owner ON docs AS RESTRICTIVE FOR SELECT TO regress_cu_docs
    USING (owner_id IS NOT NULL AND owner_id IN (SELECT id FROM parent));
COMMENT ON POLICY docs_owner ON docs IS 'only documents with an owner';
CREATE FUNCTION touch() RETURNS trigger LANGUAGE plpgsql AS $$BEGIN NEW.body := NEW.body || '!'; RETURN NEW; END$$;
CREATE TRIGGER docs_owner_changed BEFORE UPDATE OF owner_id ON docs FOR EACH ROW
    WHEN (NEW.owner_id IS DISTINCT FROM OLD.owner_id) EXECUTE FUNCTION touch();
ALTER TABLE docs ENABLE ALWAYS TRIGGER docs_owner_changed;
-- a rule on another table that reads both converted columns
CREATE RULE docs_touch_parent AS ON UPDATE TO docs
    DO ALSO UPDATE parent SET name = name WHERE id = NEW.owner_id;
COMMENT ON RULE docs_touch_parent ON docs IS 'keeps the parent warm';
-- a sequence shared by two tables
CREATE SEQUENCE shared_seq;
CREATE TABLE s1 (id integer PRIMARY KEY DEFAULT nextval('shared_seq'));
CREATE TABLE s2 (id integer PRIMARY KEY DEFAULT nextval('shared_seq'));
INSERT INTO s1 DEFAULT VALUES; INSERT INTO s2 DEFAULT VALUES; INSERT INTO s1 DEFAULT VALUES;

CREATE TABLE snap_events AS SELECT * FROM events;
CREATE TABLE snap_docs AS SELECT * FROM docs;
CREATE TABLE snap_objects AS
    SELECT 'policy' AS kind, policyname::text AS name, permissive || ' ' || cmd || ' ' || roles::text || ' ' || qual AS def
    FROM pg_policies WHERE schemaname = 'objs'
    UNION ALL SELECT 'trigger', tgname, pg_get_triggerdef(oid) || ' ' || tgenabled::text FROM pg_trigger WHERE tgrelid = 'docs'::regclass AND NOT tgisinternal
    UNION ALL SELECT 'rule', rulename::text, pg_get_ruledef(oid) FROM pg_rewrite WHERE ev_class = 'docs'::regclass AND rulename <> '_RETURN';

SELECT step, relation, lock_mode, left(coalesce(statement, description), 60) AS statement
FROM connector_uuid_plan('parent'::regclass) ORDER BY step;
SELECT connector_uuid_convert('parent');

SELECT c.relname, format_type(a.atttypid, a.atttypmod)
FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid
WHERE c.relnamespace = 'objs'::regnamespace AND a.attname IN ('parent_id', 'owner_id') AND c.relkind IN ('r', 'p')
  AND c.relname NOT LIKE 'snap%'
ORDER BY 1;
SELECT conrelid::regclass, conname, convalidated, conparentid <> 0 AS partition_clone
FROM pg_constraint WHERE confrelid = 'parent'::regclass ORDER BY 1, 2;
-- the policy and the trigger are back, the same but for the column type
SELECT policyname, permissive, cmd, roles, qual FROM pg_policies WHERE schemaname = 'objs';
SELECT obj_description(oid, 'pg_policy') FROM pg_policy WHERE polname = 'docs_owner';
SELECT tgname, tgenabled, pg_get_triggerdef(oid) FROM pg_trigger WHERE tgrelid = 'docs'::regclass AND NOT tgisinternal;
SELECT rulename, pg_get_ruledef(oid), obj_description(oid, 'pg_rewrite') FROM pg_rewrite
WHERE ev_class = 'docs'::regclass AND rulename <> '_RETURN';
UPDATE docs SET owner_id = (SELECT id FROM parent WHERE name = 'p3') WHERE id = 1 RETURNING body;
UPDATE docs SET owner_id = (SELECT id FROM parent WHERE name = 'p2') WHERE id = 1;
UPDATE docs SET body = 'body 1' WHERE id = 1;
SELECT count(*) AS events_differing FROM (
    SELECT id, parent_id, at FROM snap_events
    EXCEPT SELECT e.id, m.old_id::integer, e.at FROM events e JOIN connector_uuid_ids('parent') m ON m.new_id = e.parent_id) d;

SELECT connector_uuid_revert('parent');
SELECT count(*) AS events_differing FROM (SELECT * FROM snap_events EXCEPT SELECT * FROM events) d;
SELECT count(*) AS docs_differing FROM (SELECT * FROM snap_docs EXCEPT SELECT * FROM docs) d;
SELECT count(*) AS objects_differing FROM (
    SELECT * FROM snap_objects
    EXCEPT
    (SELECT 'policy', policyname::text, permissive || ' ' || cmd || ' ' || roles::text || ' ' || qual
     FROM pg_policies WHERE schemaname = 'objs'
     UNION ALL SELECT 'trigger', tgname, pg_get_triggerdef(oid) || ' ' || tgenabled::text FROM pg_trigger
     WHERE tgrelid = 'docs'::regclass AND NOT tgisinternal
     UNION ALL SELECT 'rule', rulename::text, pg_get_ruledef(oid) FROM pg_rewrite
     WHERE ev_class = 'docs'::regclass AND rulename <> '_RETURN')) d;
SELECT conrelid::regclass, conname, convalidated FROM pg_constraint WHERE confrelid = 'parent'::regclass AND conparentid = 0 ORDER BY 1, 2;

-- a sequence shared by two tables keeps serving both
SELECT connector_uuid_convert('s1');
INSERT INTO s2 DEFAULT VALUES RETURNING id;
SELECT connector_uuid_revert('s1');
SELECT pg_get_expr(adbin, adrelid) FROM pg_attrdef WHERE adrelid = 's1'::regclass;
INSERT INTO s1 DEFAULT VALUES RETURNING id;

-- a key that is the partition key cannot change type: refused up front
CREATE TABLE pp (id integer PRIMARY KEY, k integer) PARTITION BY RANGE (id);
CREATE TABLE pp1 PARTITION OF pp FOR VALUES FROM (0) TO (1000);
SELECT connector_uuid_convert('pp');
\echo :LAST_ERROR_SQLSTATE
-- so is a referencing table partitioned by its foreign key column, and
-- nothing changes (the key and the other referencing table stay integer)
CREATE TABLE pk (id integer PRIMARY KEY);
INSERT INTO pk SELECT generate_series(1, 5);
CREATE TABLE pk_ok (pk_id integer REFERENCES pk);
CREATE TABLE pk_parts (pk_id integer REFERENCES pk, n integer) PARTITION BY LIST (pk_id);
CREATE TABLE pk_parts_1 PARTITION OF pk_parts FOR VALUES IN (1, 2, 3);
INSERT INTO pk_ok VALUES (4); INSERT INTO pk_parts VALUES (1, 1);
SELECT connector_uuid_convert('pk');
\echo :LAST_ERROR_SQLSTATE
SELECT attrelid::regclass, format_type(atttypid, atttypmod) FROM pg_attribute
WHERE attrelid IN ('pk'::regclass, 'pk_ok'::regclass, 'pk_parts'::regclass) AND attnum = 1 ORDER BY 1;
SELECT count(*) AS pk_registered FROM connector_uuid_tables WHERE table_name = 'pk';

-- expressions that do not work with the new type are found on an empty
-- copy of each table before anything changes: a check constraint, an index
-- expression, a partial index predicate, a generated column, statistics,
-- on the key or on a referencing column
CREATE TABLE ex (id integer PRIMARY KEY, v text);
INSERT INTO ex SELECT g, 'v' || g FROM generate_series(1, 5) g;
CREATE TABLE ex_ref (ex_id integer REFERENCES ex);
INSERT INTO ex_ref VALUES (1), (2);
ALTER TABLE ex ADD CONSTRAINT ex_positive CHECK (id > 0);
SELECT connector_uuid_convert('ex');
\echo :LAST_ERROR_SQLSTATE
ALTER TABLE ex DROP CONSTRAINT ex_positive;
CREATE INDEX ex_bucket ON ex ((id % 10));
SELECT connector_uuid_convert('ex');
DROP INDEX ex_bucket;
CREATE INDEX ex_recent ON ex (v) WHERE id > 3;
SELECT connector_uuid_convert('ex');
DROP INDEX ex_recent;
ALTER TABLE ex ADD COLUMN label text GENERATED ALWAYS AS ('#' || id::text) STORED;
SELECT connector_uuid_convert('ex');
ALTER TABLE ex DROP COLUMN label;
CREATE STATISTICS ex_stats ON v, (id + 1) FROM ex;
SELECT connector_uuid_convert('ex');
DROP STATISTICS ex_stats;
ALTER TABLE ex_ref ADD CONSTRAINT ex_ref_not_seven CHECK (ex_id <> 7);
SELECT connector_uuid_convert('ex');
ALTER TABLE ex_ref DROP CONSTRAINT ex_ref_not_seven;
-- a referencing column keeps its default, so an integer default is refused
-- (the key's own default is replaced by the conversion)
ALTER TABLE ex_ref ALTER COLUMN ex_id SET DEFAULT 1;
SELECT connector_uuid_convert('ex');
\echo :LAST_ERROR_SQLSTATE
ALTER TABLE ex_ref ALTER COLUMN ex_id DROP DEFAULT;
-- nothing changed by those attempts, and the dry run left no table behind
SELECT attrelid::regclass, format_type(atttypid, atttypmod) FROM pg_attribute
WHERE attrelid IN ('ex'::regclass, 'ex_ref'::regclass) AND attnum = 1 ORDER BY 1;
SELECT count(*) AS ex_registered FROM connector_uuid_tables WHERE table_name = 'ex';
SELECT count(*) AS probes_left FROM pg_class WHERE relname = 'connector_uuid_probe';
-- expressions that do work with uuid are kept, through convert and revert
ALTER TABLE ex ADD CONSTRAINT ex_present CHECK (id IS NOT NULL);
CREATE INDEX ex_named ON ex (id) WHERE v IS NOT NULL;
SELECT connector_uuid_convert('ex');
-- a check added at uuid time that integers cannot satisfy blocks the revert
ALTER TABLE ex_ref ADD CONSTRAINT ex_ref_not_nil CHECK (ex_id <> '00000000-0000-0000-0000-000000000000'::uuid);
SELECT connector_uuid_revert('ex');
\echo :LAST_ERROR_SQLSTATE
SELECT format_type(atttypid, atttypmod) AS still FROM pg_attribute WHERE attrelid = 'ex_ref'::regclass AND attnum = 1;
ALTER TABLE ex_ref DROP CONSTRAINT ex_ref_not_nil;
SELECT connector_uuid_revert('ex');
SELECT pg_get_constraintdef(oid) FROM pg_constraint WHERE conname = 'ex_present';
SELECT pg_get_indexdef('ex_named'::regclass);
SELECT e.id, r.ex_id FROM ex e JOIN ex_ref r ON r.ex_id = e.id ORDER BY 1;

-- shapes a type change would only trip over half way are refused up front,
-- each with its reason, and nothing changes
CREATE TABLE sh (id integer PRIMARY KEY, at timestamptz);
INSERT INTO sh SELECT g, timestamptz '2026-01-01' + g * interval '1 day' FROM generate_series(1, 4) g;
CREATE DOMAIN sh_ref_id AS integer CHECK (VALUE > 0);
CREATE TABLE sh_dom (sh_id sh_ref_id REFERENCES sh);
SELECT connector_uuid_convert('sh');
\echo :LAST_ERROR_SQLSTATE
DROP TABLE sh_dom;
-- a referencing column that also references another table, or that a third
-- table references
CREATE TABLE sh_other (id integer PRIMARY KEY);
INSERT INTO sh_other VALUES (1);
CREATE TABLE sh_two (sh_id integer PRIMARY KEY REFERENCES sh, CONSTRAINT sh_two_other FOREIGN KEY (sh_id) REFERENCES sh_other);
SELECT connector_uuid_convert('sh');
ALTER TABLE sh_two DROP CONSTRAINT sh_two_other;
CREATE TABLE sh_third (sh_two_id integer REFERENCES sh_two);
SELECT connector_uuid_convert('sh');
DROP TABLE sh_third, sh_two, sh_other;
-- a foreign key declared on one partition only
CREATE TABLE sh_parts (sh_id integer, k integer) PARTITION BY LIST (k);
CREATE TABLE sh_parts_1 PARTITION OF sh_parts FOR VALUES IN (1);
ALTER TABLE sh_parts_1 ADD CONSTRAINT sh_parts_1_sh FOREIGN KEY (sh_id) REFERENCES sh;
SELECT connector_uuid_convert('sh');
DROP TABLE sh_parts;
-- a key table in an inheritance tree
CREATE TABLE sh_child (extra integer, PRIMARY KEY (id)) INHERITS (sh);
SELECT connector_uuid_convert('sh');
SELECT connector_uuid_convert('sh_child');
DROP TABLE sh_child;
-- v7 times a version 7 uuid cannot hold
UPDATE sh SET at = '1969-12-31' WHERE id = 2;
UPDATE sh SET at = 'infinity' WHERE id = 3;
SELECT connector_uuid_convert('sh', strategy => 'v7', timestamp_column => 'at');
\echo :LAST_ERROR_SQLSTATE
SELECT format_type(atttypid, atttypmod) AS sh_id_type FROM pg_attribute WHERE attrelid = 'sh'::regclass AND attname = 'id';
SELECT count(*) AS sh_registered FROM connector_uuid_tables WHERE table_name = 'sh';
UPDATE sh SET at = NULL WHERE id IN (2, 3);
SELECT connector_uuid_convert('sh', strategy => 'v7', timestamp_column => 'at');
SELECT connector_uuid_revert('sh');
DROP TABLE sh;
DROP DOMAIN sh_ref_id;

-- sequences come back exactly as they were (value, is_called, options),
-- whatever their bounds and direction; rows added at uuid time move them on
CREATE TABLE sq_fresh (id serial PRIMARY KEY);
CREATE TABLE sq_small (id smallserial PRIMARY KEY);
INSERT INTO sq_small VALUES (32767);
CREATE TABLE sq_capped (id serial PRIMARY KEY);
ALTER SEQUENCE sq_capped_id_seq MAXVALUE 100;
INSERT INTO sq_capped DEFAULT VALUES; INSERT INTO sq_capped VALUES (500);
CREATE TABLE sq_down (id integer PRIMARY KEY);
CREATE SEQUENCE sq_down_seq INCREMENT BY -1 MAXVALUE -1 START -1 OWNED BY sq_down.id;
ALTER TABLE sq_down ALTER COLUMN id SET DEFAULT nextval('sq_down_seq');
INSERT INTO sq_down DEFAULT VALUES; INSERT INTO sq_down DEFAULT VALUES;
CREATE TABLE sq_ident (id integer GENERATED ALWAYS AS IDENTITY
    (START WITH 1000 INCREMENT BY 5 MAXVALUE 100000 CACHE 3) PRIMARY KEY, v text);
INSERT INTO sq_ident (v) VALUES ('a'), ('b');
CREATE ROLE regress_cu_seq;
GRANT USAGE, SELECT ON SEQUENCE sq_ident_id_seq TO regress_cu_seq;
COMMENT ON SEQUENCE sq_ident_id_seq IS 'ids of sq_ident';
CREATE FUNCTION sq_state() RETURNS TABLE (seq text, last_value bigint, is_called boolean,
                                          increment bigint, minv bigint, maxv bigint, start bigint, cache bigint,
                                          acl text, comment text)
LANGUAGE plpgsql AS $$
DECLARE r record;
BEGIN
    FOR r IN SELECT s.seqrelid, s.seqincrement, s.seqmin, s.seqmax, s.seqstart, s.seqcache
             FROM pg_sequence s JOIN pg_class c ON c.oid = s.seqrelid
             WHERE c.relname LIKE 'sq\_%' ORDER BY c.relname
    LOOP
        seq := r.seqrelid::regclass::text; increment := r.seqincrement; minv := r.seqmin; maxv := r.seqmax;
        start := r.seqstart; cache := r.seqcache;
        SELECT c.relacl::text, obj_description(c.oid, 'pg_class') INTO acl, comment
        FROM pg_class c WHERE c.oid = r.seqrelid;
        EXECUTE format('SELECT last_value, is_called FROM %s', r.seqrelid::regclass) INTO last_value, is_called;
        RETURN NEXT;
    END LOOP;
END $$;
CREATE TABLE sq_before AS SELECT * FROM sq_state();
SELECT seq, last_value, is_called, increment, minv, maxv, start, cache,
       acl LIKE '%regress_cu_seq=rU/%' AS granted, comment FROM sq_before ORDER BY seq;
SELECT connector_uuid_convert(t) FROM unnest(ARRAY['sq_fresh', 'sq_small', 'sq_capped', 'sq_down', 'sq_ident']::regclass[]) t;
SELECT connector_uuid_revert(t) FROM unnest(ARRAY['sq_fresh', 'sq_small', 'sq_capped', 'sq_down', 'sq_ident']::regclass[]) t;
SELECT * FROM sq_state() EXCEPT SELECT * FROM sq_before;
SELECT * FROM sq_before EXCEPT SELECT * FROM sq_state();
SELECT attrelid::regclass, attidentity FROM pg_attribute WHERE attrelid = 'sq_ident'::regclass AND attname = 'id';
-- the next ids are the ones they would have been
INSERT INTO sq_fresh DEFAULT VALUES RETURNING id;
INSERT INTO sq_down DEFAULT VALUES RETURNING id;
INSERT INTO sq_ident (v) VALUES ('c') RETURNING id;
-- rows added while the keys were uuids: the sequence moves past their new integers
SELECT connector_uuid_convert('sq_fresh');
SELECT connector_uuid_convert('sq_ident');
INSERT INTO sq_fresh DEFAULT VALUES; INSERT INTO sq_fresh DEFAULT VALUES;
INSERT INTO sq_ident (v) VALUES ('d');
SELECT connector_uuid_revert('sq_fresh');
SELECT connector_uuid_revert('sq_ident');
SELECT id FROM sq_fresh ORDER BY id;
INSERT INTO sq_fresh DEFAULT VALUES RETURNING id;
SELECT id, v FROM sq_ident ORDER BY id;
INSERT INTO sq_ident (v) VALUES ('e') RETURNING id;
DROP TABLE sq_fresh, sq_small, sq_capped, sq_down, sq_ident, sq_before;
DROP FUNCTION sq_state();
DROP ROLE regress_cu_seq;

-- a rule on a referencing table that reads only its own converted column
CREATE TABLE rl (id integer PRIMARY KEY);
INSERT INTO rl SELECT generate_series(1, 3);
CREATE TABLE rl_ref (id integer PRIMARY KEY, rl_id integer REFERENCES rl);
CREATE TABLE rl_log (note text);
CREATE RULE rl_ref_logged AS ON INSERT TO rl_ref DO ALSO INSERT INTO rl_log VALUES ('got ' || NEW.rl_id::text);
SELECT connector_uuid_convert('rl');
INSERT INTO rl_ref SELECT 1, id FROM rl ORDER BY id LIMIT 1;
SELECT connector_uuid_revert('rl');
INSERT INTO rl_ref VALUES (2, 3);
SELECT count(*) FILTER (WHERE note ~ '^got [0-9a-f-]{36}$') AS uuid_logged,
       count(*) FILTER (WHERE note = 'got 3') AS integer_logged FROM rl_log;
SELECT pg_get_ruledef(oid) FROM pg_rewrite WHERE rulename = 'rl_ref_logged';
DROP TABLE rl_ref, rl_log, rl;

-- a key table renamed between convert and revert: the revert says under
-- which name it was converted (and does not renumber, even when allowed)
CREATE TABLE rk (id integer PRIMARY KEY);
INSERT INTO rk SELECT generate_series(1, 3);
SELECT connector_uuid_convert('rk');
ALTER TABLE rk RENAME TO rk_renamed;
SELECT connector_uuid_revert('rk_renamed');
\echo :LAST_ERROR_SQLSTATE
SET connector_uuid.allow_renumber = on;
SELECT connector_uuid_revert('rk_renamed');
RESET connector_uuid.allow_renumber;
ALTER TABLE rk_renamed RENAME TO rk;
SELECT connector_uuid_revert('rk');
SELECT id FROM rk ORDER BY id;
DROP TABLE rk;

-- a materialized view's index comments, CLUSTER ON and column statistics
-- targets, and the targets of statistics objects on converted columns
CREATE TABLE mvt (id integer PRIMARY KEY, x integer);
INSERT INTO mvt SELECT g, g % 3 FROM generate_series(1, 9) g;
CREATE STATISTICS mvt_dep (dependencies) ON id, x FROM mvt;
ALTER STATISTICS mvt_dep SET STATISTICS 200;
CREATE MATERIALIZED VIEW mvt_mv AS SELECT id, x FROM mvt;
CREATE UNIQUE INDEX mvt_mv_id ON mvt_mv (id);
COMMENT ON INDEX mvt_mv_id IS 'one row per id';
ALTER MATERIALIZED VIEW mvt_mv CLUSTER ON mvt_mv_id;
ALTER MATERIALIZED VIEW mvt_mv ALTER COLUMN x SET STATISTICS 300;
\set mvt_state 'SELECT (SELECT stxstattarget FROM pg_statistic_ext WHERE stxname = ''mvt_dep'') AS stats_target, obj_description(''mvt_mv_id''::regclass, ''pg_class'') AS index_comment, (SELECT indisclustered FROM pg_index WHERE indexrelid = ''mvt_mv_id''::regclass) AS clustered, (SELECT attstattarget FROM pg_attribute WHERE attrelid = ''mvt_mv''::regclass AND attname = ''x'') AS x_target'
:mvt_state;
SELECT connector_uuid_convert('mvt');
:mvt_state;
SELECT connector_uuid_revert('mvt');
:mvt_state;
DROP MATERIALIZED VIEW mvt_mv;
DROP TABLE mvt;

-- a referencing table and column renamed between convert and revert keep
-- their original type (bigint, not the key's integer) and ON DELETE action
CREATE TABLE rn (id integer PRIMARY KEY);
INSERT INTO rn SELECT generate_series(1, 3);
CREATE TABLE rn_ref (id integer PRIMARY KEY, rn_id bigint REFERENCES rn ON DELETE SET NULL);
INSERT INTO rn_ref VALUES (1, 1), (2, 3);
SELECT connector_uuid_convert('rn', on_delete_cascade => true);
ALTER TABLE rn_ref RENAME TO rn_ref_renamed;
ALTER TABLE rn_ref_renamed RENAME COLUMN rn_id TO rn_key;
SELECT connector_uuid_revert('rn');
SELECT format_type(atttypid, atttypmod) AS rn_key_type FROM pg_attribute
WHERE attrelid = 'rn_ref_renamed'::regclass AND attname = 'rn_key';
SELECT pg_get_constraintdef(oid) FROM pg_constraint WHERE conrelid = 'rn_ref_renamed'::regclass AND contype = 'f';
SELECT * FROM rn_ref_renamed ORDER BY id;
DROP TABLE rn_ref_renamed, rn;

-- what a foreign key carries besides its definition comes back with it: its
-- comment, the column list of ON DELETE SET NULL (...), and the state of
-- its triggers (disabled here on one side, enabled always on the other)
CREATE TABLE fkd (id integer PRIMARY KEY);
INSERT INTO fkd SELECT generate_series(1, 3);
CREATE TABLE fkd_ref (id integer PRIMARY KEY, fkd_id integer, note text,
    CONSTRAINT fkd_ref_fkd FOREIGN KEY (fkd_id) REFERENCES fkd ON DELETE SET NULL (fkd_id));
INSERT INTO fkd_ref VALUES (1, 1, 'a'), (2, 2, 'b'), (3, NULL, 'c');
COMMENT ON CONSTRAINT fkd_ref_fkd ON fkd_ref IS 'who owns the row';
ALTER TABLE fkd_ref DISABLE TRIGGER ALL;
SELECT tg.tgname AS trigger_name FROM pg_trigger tg JOIN pg_constraint c ON c.oid = tg.tgconstraint
WHERE c.conname = 'fkd_ref_fkd' AND tg.tgrelid = 'fkd'::regclass AND tg.tgtype = 9 \gset
ALTER TABLE fkd ENABLE ALWAYS TRIGGER :"trigger_name";
CREATE VIEW fkd_state AS
SELECT pg_get_constraintdef(c.oid) AS def, obj_description(c.oid, 'pg_constraint') AS comment,
       (SELECT string_agg(tg.tgrelid::regclass || ' ' || tg.tgenabled::text, ', ' ORDER BY tg.tgrelid::regclass::text, tg.tgtype)
        FROM pg_trigger tg WHERE tg.tgconstraint = c.oid) AS triggers
FROM pg_constraint c WHERE c.conname = 'fkd_ref_fkd';
SELECT * FROM fkd_state;
SELECT step, coalesce(statement, description) AS statement FROM connector_uuid_plan('fkd'::regclass)
WHERE coalesce(statement, description) ~ '^(set the triggers|COMMENT)';
SELECT connector_uuid_convert('fkd');
SELECT * FROM fkd_state;
SELECT connector_uuid_revert('fkd');
SELECT * FROM fkd_state;
-- (the triggers really are disabled: a row without a parent gets in)
INSERT INTO fkd_ref VALUES (4, 42, 'orphan');
DELETE FROM fkd_ref WHERE id = 4;
-- a role that is not a superuser cannot set the triggers again: refused
CREATE ROLE regress_cu_fkd;
ALTER TABLE fkd OWNER TO regress_cu_fkd;
ALTER TABLE fkd_ref OWNER TO regress_cu_fkd;
GRANT USAGE, CREATE ON SCHEMA objs TO regress_cu_fkd;
GRANT EXECUTE ON FUNCTION connector_uuid_convert(regclass, text, boolean, uuid, name) TO regress_cu_fkd;
GRANT SELECT, INSERT, UPDATE ON connector_uuid_tables, connector_uuid_columns, connector_uuid_map,
    connector_uuid_history TO regress_cu_fkd;
SET ROLE regress_cu_fkd;
SELECT connector_uuid_convert('fkd');
\echo :LAST_ERROR_SQLSTATE
RESET ROLE;
SELECT format_type(atttypid, atttypmod) AS fkd_id_type FROM pg_attribute
WHERE attrelid = 'fkd_ref'::regclass AND attname = 'fkd_id';
DROP VIEW fkd_state;
DROP TABLE fkd_ref, fkd;
REVOKE ALL ON connector_uuid_tables, connector_uuid_columns, connector_uuid_map,
    connector_uuid_history FROM regress_cu_fkd;
REVOKE ALL ON SCHEMA objs FROM regress_cu_fkd;
REVOKE ALL ON FUNCTION connector_uuid_convert(regclass, text, boolean, uuid, name) FROM regress_cu_fkd;
DROP ROLE regress_cu_fkd;

DROP EXTENSION connector_uuid;
DROP SCHEMA objs CASCADE;
DROP ROLE regress_cu_docs;
RESET search_path;
