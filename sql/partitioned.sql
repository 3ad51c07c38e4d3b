-- partitioned: a key table partitioned by HASH of its key is rebuilt around
-- its partitions, converted and reverted; rows move to the partition their
-- new id hashes to; everything on the parent comes back; what cannot be
-- rebuilt is refused before anything changes
SET connector_uuid.progress = off;
CREATE SCHEMA "Part Schema";
SET search_path = "Part Schema", public;
CREATE EXTENSION connector_uuid VERSION '1.0' SCHEMA "Part Schema";
CREATE ROLE regress_cu_part_reader;

CREATE TABLE currency (code text PRIMARY KEY);
INSERT INTO currency VALUES ('EUR'), ('USD');
CREATE TABLE "Account" (
    id serial,
    name text NOT NULL,
    currency text REFERENCES currency,
    parent_id integer,
    CONSTRAINT account_id_present CHECK (id IS NOT NULL),
    PRIMARY KEY (id)) PARTITION BY HASH (id);
ALTER TABLE "Account" ADD CONSTRAINT account_parent FOREIGN KEY (parent_id) REFERENCES "Account";
CREATE INDEX account_name ON "Account" (name);
CREATE UNIQUE INDEX account_name_id ON "Account" (name, id);
COMMENT ON INDEX account_name IS 'by name';
COMMENT ON TABLE "Account" IS 'accounts, by hash of id';
COMMENT ON COLUMN "Account".name IS 'the name';
COMMENT ON CONSTRAINT account_parent ON "Account" IS 'the parent account';
GRANT SELECT ON "Account" TO regress_cu_part_reader;
GRANT UPDATE (name) ON "Account" TO regress_cu_part_reader;
ALTER TABLE "Account" ALTER COLUMN name SET STATISTICS 400;
CREATE STATISTICS account_stats (ndistinct) ON name, currency FROM "Account";
CREATE TABLE account_p0 PARTITION OF "Account" FOR VALUES WITH (MODULUS 3, REMAINDER 0);
CREATE TABLE account_p1 PARTITION OF "Account" FOR VALUES WITH (MODULUS 3, REMAINDER 1);
CREATE TABLE account_p2 PARTITION OF "Account" FOR VALUES WITH (MODULUS 3, REMAINDER 2);
-- a partition keeps its own things: a grant, a comment, an index
GRANT SELECT ON account_p1 TO regress_cu_part_reader;
COMMENT ON TABLE account_p1 IS 'one third';
CREATE INDEX account_p1_currency ON account_p1 (currency);
INSERT INTO "Account" (name, currency) SELECT 'a' || g, CASE WHEN g % 2 = 0 THEN 'EUR' ELSE 'USD' END
FROM generate_series(1, 60) g;
UPDATE "Account" SET parent_id = id - 1 WHERE id % 5 <> 1;
-- a referencing table, a view over another column, a policy, a trigger
CREATE TABLE posting (id serial PRIMARY KEY, account_id integer NOT NULL REFERENCES "Account" ON DELETE CASCADE,
                      amount integer);
INSERT INTO posting (account_id, amount) SELECT 1 + g % 60, g FROM generate_series(1, 200) g;
CREATE VIEW account_names AS SELECT name FROM "Account";
GRANT SELECT ON account_names TO regress_cu_part_reader;
-- grants made by a role other than the owner keep their grantor
CREATE ROLE regress_cu_part_granter;
GRANT USAGE ON SCHEMA "Part Schema" TO regress_cu_part_granter;
GRANT SELECT ON "Account" TO regress_cu_part_granter WITH GRANT OPTION;
GRANT UPDATE (currency) ON "Account" TO regress_cu_part_granter WITH GRANT OPTION;
GRANT SELECT ON account_names TO regress_cu_part_granter WITH GRANT OPTION;
SET ROLE regress_cu_part_granter;
GRANT SELECT ON "Account" TO PUBLIC;
GRANT UPDATE (currency) ON "Account" TO regress_cu_part_reader;
GRANT SELECT ON account_names TO PUBLIC;
RESET ROLE;
CREATE POLICY account_all ON "Account" USING (true);
ALTER TABLE "Account" ENABLE ROW LEVEL SECURITY;
CREATE FUNCTION account_touch() RETURNS trigger LANGUAGE plpgsql AS $$BEGIN RETURN NEW; END$$;
CREATE TRIGGER account_touch BEFORE UPDATE ON "Account" FOR EACH ROW EXECUTE FUNCTION account_touch();
-- a trigger disabled on one partition only; a statistics object of another owner
ALTER TABLE account_p1 DISABLE TRIGGER account_touch;
ALTER STATISTICS account_stats OWNER TO regress_cu_part_reader;

CREATE TABLE snap_accounts AS SELECT id, name, currency, parent_id FROM "Account";
CREATE TABLE snap_postings AS SELECT * FROM posting;
CREATE TABLE snap_counts AS SELECT tableoid::regclass::text AS part, count(*) FROM "Account" GROUP BY 1;

-- everything about the parent that must come back, as text
CREATE FUNCTION parent_state() RETURNS TABLE (what text, detail text) LANGUAGE sql AS $$
    SELECT 'column', a.attname || ' ' || format_type(a.atttypid, a.atttypmod) || ' ' || a.attnotnull
           || ' ' || coalesce(pg_get_expr(d.adbin, d.adrelid), '-') || ' ' || a.attstattarget
           || ' ' || coalesce(col_description(a.attrelid, a.attnum), '-')
    FROM pg_attribute a LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
    WHERE a.attrelid = '"Account"'::regclass AND a.attnum > 0 AND NOT a.attisdropped
    UNION ALL SELECT 'constraint', conname || ' ' || pg_get_constraintdef(oid) || ' '
           || coalesce(obj_description(oid, 'pg_constraint'), '-')
    FROM pg_constraint WHERE conrelid = '"Account"'::regclass
    UNION ALL SELECT 'index', c.relname || ' ' || pg_get_indexdef(i.indexrelid) || ' '
           || coalesce(obj_description(i.indexrelid, 'pg_class'), '-')
    FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid WHERE i.indrelid = '"Account"'::regclass
    UNION ALL SELECT 'table', c.relname || ' ' || pg_get_userbyid(c.relowner) || ' ' || c.relrowsecurity || ' '
           || coalesce(obj_description(c.oid, 'pg_class'), '-') || ' '
           || (SELECT string_agg(privilege_type, ',' ORDER BY privilege_type) FROM aclexplode(c.relacl)
               WHERE grantee = 'regress_cu_part_reader'::regrole)
           || ' ' || pg_get_partkeydef(c.oid) || ' ' || array_to_string(c.relacl, ',')
    FROM pg_class c WHERE c.oid = '"Account"'::regclass
    UNION ALL SELECT 'column grant', a.attname || ' ' || array_to_string(a.attacl, ',')
    FROM pg_attribute a WHERE a.attrelid = '"Account"'::regclass AND a.attacl IS NOT NULL
    UNION ALL SELECT 'statistics', stxname || ' ' || pg_get_statisticsobjdef(oid) || ' ' || pg_get_userbyid(stxowner)
    FROM pg_statistic_ext WHERE stxrelid = '"Account"'::regclass
    UNION ALL SELECT 'partition', c.relname || ' ' || pg_get_expr(c.relpartbound, c.oid) || ' '
           || coalesce(obj_description(c.oid, 'pg_class'), '-') || ' '
           || coalesce((SELECT string_agg(ic.relname, ',' ORDER BY ic.relname) FROM pg_index i
                        JOIN pg_class ic ON ic.oid = i.indexrelid WHERE i.indrelid = c.oid), '-')
    FROM pg_inherits h JOIN pg_class c ON c.oid = h.inhrelid WHERE h.inhparent = '"Account"'::regclass
    UNION ALL SELECT 'policy', policyname || ' ' || coalesce(qual, '-') FROM pg_policies WHERE tablename = 'Account'
    UNION ALL SELECT 'trigger', tgname || ' ' || tgrelid::regclass::text || ' ' || tgenabled::text FROM pg_trigger
    WHERE tgrelid IN (SELECT inhrelid FROM pg_inherits WHERE inhparent = '"Account"'::regclass
                      UNION ALL SELECT '"Account"'::regclass) AND NOT tgisinternal
    UNION ALL SELECT 'sequence', pg_get_serial_sequence('"Part Schema"."Account"', 'id')
    UNION ALL SELECT 'view', c.relname || ' ' || array_to_string(c.relacl, ',')
    FROM pg_class c WHERE c.relname = 'account_names'
$$;
CREATE TABLE snap_state AS SELECT * FROM parent_state();

-- the plan: lock the partitions with the parent, rebuild, move, rewrite, attach
SELECT step, relation, lock_mode, statement FROM connector_uuid_plan('"Account"'::regclass)
WHERE statement ~ '^(LOCK|ALTER TABLE .* (RENAME|DETACH|ATTACH)|CREATE TABLE|WITH (moving|arriving)|SELECT pg_catalog.count|DROP TABLE)'
ORDER BY step;
-- the grants another role made run as that role
SELECT relation, statement FROM connector_uuid_plan('"Account"'::regclass)
WHERE statement ~ 'GRANTED BY' ORDER BY step;

-- a failure half way (a partition's own check rejects the rows moving into
-- it) leaves everything as it was
SELECT format('ALTER TABLE account_p0 ADD CONSTRAINT account_p0_only_these CHECK (name = ANY (%L::text[]))',
              array_agg(name)) FROM account_p0 \gexec
\set VERBOSITY terse
SELECT connector_uuid_convert('"Account"');
\set VERBOSITY default
\echo :LAST_ERROR_SQLSTATE
ALTER TABLE account_p0 DROP CONSTRAINT account_p0_only_these;
SELECT what, detail FROM parent_state() EXCEPT SELECT * FROM snap_state ORDER BY 1, 2;
SELECT what, detail FROM snap_state EXCEPT SELECT * FROM parent_state() ORDER BY 1, 2;
SELECT part, count FROM snap_counts EXCEPT SELECT tableoid::regclass::text, count(*) FROM "Account" GROUP BY 1;
SELECT count(*) AS registered FROM connector_uuid_tables;

SELECT connector_uuid_convert('"Account"');
SELECT what, detail FROM parent_state() EXCEPT SELECT * FROM snap_state ORDER BY 1, 2;
-- every row in the partition its new id hashes to (a plain scan through the
-- parent would not notice: ask each partition), links intact
SELECT c.relname, bool_and(satisfies_hash_partition('"Account"'::regclass, 3, substr(c.relname, 10)::int, a.id)) AS placed
FROM "Account" a JOIN pg_class c ON c.oid = a.tableoid GROUP BY 1 ORDER BY 1;
SELECT count(*) AS accounts, count(*) FILTER (WHERE substr(id::text, 15, 1) = '4') AS v4 FROM "Account";
SELECT count(*) AS accounts_differing FROM (
    SELECT id, name, currency, parent_id FROM snap_accounts
    EXCEPT SELECT m.old_id::integer, a.name, a.currency, p.old_id::integer FROM "Account" a
    JOIN connector_uuid_ids('"Account"') m ON m.new_id = a.id
    LEFT JOIN connector_uuid_ids('"Account"') p ON p.new_id = a.parent_id) d;
SELECT count(*) AS postings_differing FROM (
    SELECT * FROM snap_postings
    EXCEPT SELECT p.id, m.old_id::integer, p.amount FROM posting p JOIN connector_uuid_ids('"Account"') m ON m.new_id = p.account_id) d;
SELECT count(*) AS names FROM account_names;
-- no leftovers, and the new objects are not members of the extension
SELECT relname FROM pg_class WHERE relname LIKE 'connector\_uuid\_old%' OR relname LIKE 'connector\_uuid\_stage%'
    OR relname LIKE 'connector\_uuid\_moved%';
SELECT count(*) AS extension_members FROM pg_depend
WHERE refobjid = (SELECT oid FROM pg_extension WHERE extname = 'connector_uuid') AND deptype = 'e'
  AND objid IN (SELECT oid FROM pg_class WHERE relname IN ('Account', 'account_names', 'account_p0'));
-- it works as a partitioned table: new rows are routed, cascades reach them
INSERT INTO "Account" (name) VALUES ('born as uuid') RETURNING substr(id::text, 15, 1) AS version;
INSERT INTO posting (account_id, amount) SELECT id, 0 FROM "Account" WHERE name = 'born as uuid';
DELETE FROM "Account" WHERE name = 'born as uuid';
SELECT count(*) AS postings FROM posting;

SELECT connector_uuid_revert('"Account"');
SELECT what, detail FROM parent_state() EXCEPT SELECT * FROM snap_state ORDER BY 1, 2;
SELECT what, detail FROM snap_state EXCEPT SELECT * FROM parent_state() ORDER BY 1, 2;
SELECT count(*) AS accounts_differing FROM (
    SELECT * FROM snap_accounts EXCEPT SELECT id, name, currency, parent_id FROM "Account") d;
SELECT count(*) AS postings_differing FROM (SELECT * FROM snap_postings EXCEPT SELECT * FROM posting) d;
-- each row back in the partition its integer id hashes to
SELECT part, count FROM snap_counts EXCEPT SELECT tableoid::regclass::text, count(*) FROM "Account" GROUP BY 1;
INSERT INTO "Account" (name) VALUES ('born again') RETURNING id;
DELETE FROM "Account" WHERE name = 'born again';

-- an identity key, the v7 strategy, converted and reverted
CREATE TABLE ledger (id bigint GENERATED BY DEFAULT AS IDENTITY (START WITH 100) PRIMARY KEY,
                     at timestamptz NOT NULL) PARTITION BY HASH (id);
CREATE TABLE ledger_a PARTITION OF ledger FOR VALUES WITH (MODULUS 2, REMAINDER 0);
CREATE TABLE ledger_b PARTITION OF ledger FOR VALUES WITH (MODULUS 2, REMAINDER 1);
INSERT INTO ledger (at) SELECT timestamptz '2026-01-01' + g * interval '1 hour' FROM generate_series(1, 40) g;
CREATE TABLE snap_ledger AS SELECT * FROM ledger;
SELECT connector_uuid_convert('ledger', strategy => 'v7', timestamp_column => 'at');
SELECT count(*) FILTER (WHERE substr(id::text, 15, 1) = '7') AS v7, count(*) AS all_rows FROM ledger;
SELECT attidentity, pg_get_expr(d.adbin, d.adrelid) AS default FROM pg_attribute a
LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
WHERE a.attrelid = 'ledger'::regclass AND a.attname = 'id';
SELECT connector_uuid_revert('ledger');
SELECT count(*) AS ledger_differing FROM (SELECT * FROM snap_ledger EXCEPT SELECT * FROM ledger) d;
SELECT attidentity FROM pg_attribute WHERE attrelid = 'ledger'::regclass AND attname = 'id';
INSERT INTO ledger (at) VALUES (now()) RETURNING id;

-- refused up front, nothing changed: RANGE and LIST partitioning, a rule,
-- a trigger of a partition's own
CREATE TABLE by_range (id integer PRIMARY KEY) PARTITION BY RANGE (id);
CREATE TABLE by_range_1 PARTITION OF by_range FOR VALUES FROM (0) TO (100);
SELECT connector_uuid_convert('by_range');
\echo :LAST_ERROR_SQLSTATE
CREATE TABLE by_list (id integer PRIMARY KEY) PARTITION BY LIST (id);
SELECT connector_uuid_convert('by_list');
CREATE TRIGGER own_touch BEFORE UPDATE ON account_p2 FOR EACH ROW EXECUTE FUNCTION account_touch();
SELECT connector_uuid_convert('"Account"');
\echo :LAST_ERROR_SQLSTATE
DROP TRIGGER own_touch ON account_p2;
CREATE TABLE account_ref (a "Account");
SELECT connector_uuid_convert('"Account"');
DROP TABLE account_ref;
SELECT format_type(atttypid, atttypmod) AS still FROM pg_attribute WHERE attrelid = '"Account"'::regclass AND attname = 'id';

-- refused up front as well: an index ON ONLY the parent not yet valid, a
-- NOT VALID check, an expression of a partition's own on the key, a
-- partition with an identity of its own, a published partition
CREATE INDEX account_pending ON ONLY "Account" (currency);
SELECT connector_uuid_convert('"Account"');
DROP INDEX account_pending;
ALTER TABLE account_p0 ADD CONSTRAINT account_p0_named CHECK (name <> '') NOT VALID;
SELECT connector_uuid_convert('"Account"');
ALTER TABLE account_p0 DROP CONSTRAINT account_p0_named;
CREATE INDEX account_p2_tens ON account_p2 ((id / 10));
SELECT connector_uuid_convert('"Account"');
DROP INDEX account_p2_tens;
CREATE FUNCTION account_count() RETURNS bigint LANGUAGE sql BEGIN ATOMIC SELECT count(name) FROM "Account"; END;
SELECT connector_uuid_convert('"Account"');
DROP FUNCTION account_count();
CREATE TABLE holds_partition_row (r account_p1);
SELECT connector_uuid_convert('"Account"');
DROP TABLE holds_partition_row;
CREATE TABLE own_ident (id integer PRIMARY KEY) PARTITION BY HASH (id);
CREATE TABLE own_ident_0 (id integer GENERATED BY DEFAULT AS IDENTITY NOT NULL);
ALTER TABLE own_ident ATTACH PARTITION own_ident_0 FOR VALUES WITH (MODULUS 1, REMAINDER 0);
SELECT connector_uuid_convert('own_ident');
SET client_min_messages = error;
CREATE PUBLICATION account_part_pub FOR TABLE account_p2;
RESET client_min_messages;
\set VERBOSITY terse
SELECT connector_uuid_convert('"Account"');
\set VERBOSITY default
DROP PUBLICATION account_part_pub;
SELECT what, detail FROM parent_state() EXCEPT SELECT * FROM snap_state ORDER BY 1, 2;

-- partitions that leave a hash remainder uncovered: rows whose new id
-- hashes there would have nowhere to go, so it is refused; once the
-- missing partition exists, the rows spread over all of them and come back
CREATE TABLE gappy (id serial PRIMARY KEY, v text) PARTITION BY HASH (id);
CREATE TABLE gappy_0 PARTITION OF gappy FOR VALUES WITH (MODULUS 4, REMAINDER 0);
CREATE TABLE gappy_1 PARTITION OF gappy FOR VALUES WITH (MODULUS 2, REMAINDER 1);
INSERT INTO gappy (id, v) SELECT g, 'g' || g FROM generate_series(1, 400) g
WHERE satisfies_hash_partition('gappy'::regclass, 4, 0, g) OR satisfies_hash_partition('gappy'::regclass, 2, 1, g);
CREATE TABLE gappy_child (id serial PRIMARY KEY, gappy_id integer NOT NULL REFERENCES gappy);
INSERT INTO gappy_child (gappy_id) SELECT id FROM gappy;
CREATE TABLE snap_gappy AS SELECT g.id, g.v, c.id AS child FROM gappy g JOIN gappy_child c ON c.gappy_id = g.id;
SELECT connector_uuid_convert('gappy');
\echo :LAST_ERROR_SQLSTATE
SELECT count(*) AS rows_still FROM gappy;
CREATE TABLE gappy_2 PARTITION OF gappy FOR VALUES WITH (MODULUS 4, REMAINDER 2);
SELECT connector_uuid_convert('gappy');
SELECT count(*) AS gappy_rows, count(DISTINCT tableoid) AS partitions_used,
       (SELECT count(*) FROM gappy_child c JOIN gappy g ON g.id = c.gappy_id) AS links
FROM gappy;
SELECT connector_uuid_revert('gappy');
SELECT count(*) AS gappy_differing FROM (
    (SELECT g.id, g.v, c.id FROM gappy g JOIN gappy_child c ON c.gappy_id = g.id EXCEPT SELECT * FROM snap_gappy)
    UNION ALL
    (SELECT * FROM snap_gappy EXCEPT SELECT g.id, g.v, c.id FROM gappy g JOIN gappy_child c ON c.gappy_id = g.id)) d;
SELECT count(*) AS registered FROM connector_uuid_tables WHERE table_name IN ('by_range', 'by_list');

DROP EXTENSION connector_uuid;
DROP SCHEMA "Part Schema" CASCADE;
DROP ROLE regress_cu_part_reader;
DROP ROLE regress_cu_part_granter;
RESET search_path;
