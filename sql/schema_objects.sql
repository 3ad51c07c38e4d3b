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

SELECT step, relation, lock_mode, left(statement, 60) AS statement
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
    EXCEPT SELECT e.id, m.old_id::integer, e.at FROM events e JOIN connector_uuid_map m ON m.new_id = e.parent_id) d;

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

DROP EXTENSION connector_uuid;
DROP SCHEMA objs CASCADE;
DROP ROLE regress_cu_docs;
RESET search_path;
