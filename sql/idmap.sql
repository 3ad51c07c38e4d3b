-- idmap: the id map the rewrites read.  Under v5 and v7 every id comes from
-- the map, so an id missing from it is an error naming the table and the id,
-- never a v4 derivation; under v4 a missing pair is still derived.  And v7
-- times a version 7 uuid cannot hold are refused, not wrapped.
SET connector_uuid.progress = off;
SET timezone = 'UTC';
\set SHOW_CONTEXT never
CREATE SCHEMA idm;
SET search_path = idm, public;
CREATE EXTENSION connector_uuid VERSION '1.0' SCHEMA idm;

CREATE TABLE parent (id serial PRIMARY KEY, name text NOT NULL);
CREATE TABLE child (id serial PRIMARY KEY, parent_id integer REFERENCES parent);
INSERT INTO parent (name) SELECT 'parent ' || i FROM generate_series(1, 20) i;
INSERT INTO child (parent_id) SELECT 1 + i % 20 FROM generate_series(1, 60) i;
CREATE TABLE snap_parent AS SELECT * FROM parent;
CREATE TABLE snap_child AS SELECT * FROM child;

-- A trigger on the map that drops some pairs: a stand-in for row level
-- security hiding rows from the step that fills the map.
CREATE TABLE dropped_pairs (old_id bigint, new_id uuid);
CREATE FUNCTION drop_pair() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.old_id IN (SELECT old_id FROM idm.dropped_pairs)
       OR NEW.new_id IN (SELECT new_id FROM idm.dropped_pairs) THEN
        RETURN NULL;
    END IF;
    RETURN NEW;
END $$;
CREATE TRIGGER drop_pair BEFORE INSERT ON connector_uuid_map
    FOR EACH ROW EXECUTE FUNCTION drop_pair();

-- v5 with parent 3 missing from the map: an error, nothing changed
INSERT INTO dropped_pairs (old_id) VALUES (3);
SELECT connector_uuid_convert('parent', strategy => 'v5');
\echo :LAST_ERROR_SQLSTATE
SELECT pg_typeof(id) AS parent_id_type, count(*) FROM parent GROUP BY 1;
SELECT pg_typeof(parent_id) AS child_parent_id_type FROM child LIMIT 1;
SELECT (SELECT count(*) FROM connector_uuid_map) AS map_rows,
       (SELECT count(*) FROM connector_uuid_tables) AS registry_rows;
-- v7 the same
SELECT connector_uuid_convert('parent', strategy => 'v7');
\echo :LAST_ERROR_SQLSTATE
SELECT pg_typeof(id) AS parent_id_type FROM parent LIMIT 1;
DELETE FROM dropped_pairs;

-- v5 with the whole map: converts; a row created at 2.0 whose pair the
-- revert's map insert drops: an error naming the uuid, nothing changed
SELECT connector_uuid_convert('parent', strategy => 'v5');
SELECT count(*) FILTER (WHERE substr(id::text, 15, 1) = '5') AS v5_ids, count(*) FROM parent;
INSERT INTO parent (id, name) VALUES ('00000000-0000-4000-8000-000000000001', 'born at 2.0');
INSERT INTO dropped_pairs (new_id) VALUES ('00000000-0000-4000-8000-000000000001');
SELECT connector_uuid_revert('parent');
\echo :LAST_ERROR_SQLSTATE
SELECT pg_typeof(id) AS parent_id_type, count(*) FROM parent GROUP BY 1;
SELECT count(*) AS map_rows FROM connector_uuid_map;
DELETE FROM dropped_pairs;
-- without the trigger's interference the revert is exact
DELETE FROM parent WHERE name = 'born at 2.0';
SELECT connector_uuid_revert('parent');
SELECT count(*) AS parent_differing FROM (SELECT * FROM snap_parent EXCEPT SELECT * FROM parent) d;
SELECT count(*) AS child_differing FROM (SELECT * FROM snap_child EXCEPT SELECT * FROM child) d;

-- v5 with one pair deleted from the map after the conversion: the row's
-- version 5 id cannot be one created at 2.0 (those get version 4 ids), so
-- the revert refuses rather than give it a new integer
SELECT connector_uuid_convert('parent');
DELETE FROM connector_uuid_map WHERE old_id = 7;
SELECT connector_uuid_revert('parent');
\echo :LAST_ERROR_SQLSTATE
SELECT pg_typeof(id) AS parent_id_type, count(*) FROM parent GROUP BY 1;
SELECT count(*) AS map_rows FROM connector_uuid_map;
-- put back, the revert is exact
INSERT INTO connector_uuid_map (table_id, derived, old_id, new_id)
SELECT table_id, false, 7, uuid_generate_v5(
    '6ba7b811-9dad-11d1-80b4-00c04fd430c8', 'parent:7')
FROM connector_uuid_tables WHERE table_name = 'parent';
SELECT connector_uuid_revert('parent');
SELECT count(*) AS parent_differing FROM (SELECT * FROM snap_parent EXCEPT SELECT * FROM parent) d;
SELECT count(*) AS child_differing FROM (SELECT * FROM snap_child EXCEPT SELECT * FROM child) d;
DELETE FROM connector_uuid_map; DELETE FROM connector_uuid_tables; DELETE FROM connector_uuid_columns;

-- v4 with the full map (connector_uuid.full_map = on) and parent 3's pair
-- dropped: derived from the key, as before, and the revert gives back
-- every id
INSERT INTO dropped_pairs (old_id) VALUES (3);
SET connector_uuid.full_map = on;
SELECT connector_uuid_convert('parent');
RESET connector_uuid.full_map;
SELECT count(*) AS map_rows FROM connector_uuid_map;
SELECT count(*) AS not_derived FROM parent p JOIN connector_uuid_map m ON m.new_id = p.id
WHERE p.id <> connector_uuid_lookup('parent', m.old_id);
SELECT substr(id::text, 15, 1) AS version FROM parent
WHERE id = connector_uuid_lookup('parent', 3);
SELECT count(*) AS children_of_3 FROM child c
WHERE c.parent_id = connector_uuid_lookup('parent', 3);
SELECT connector_uuid_revert('parent');
SELECT count(*) AS parent_differing FROM (SELECT * FROM snap_parent EXCEPT SELECT * FROM parent) d;
SELECT count(*) AS child_differing FROM (SELECT * FROM snap_child EXCEPT SELECT * FROM child) d;
DELETE FROM dropped_pairs;
DROP TRIGGER drop_pair ON connector_uuid_map;

-- v7 times: 48 bits of milliseconds from 1970-01-01 00:00:00 UTC, up to
-- (not including) 10889-08-02 05:31:50.655 UTC
SELECT substr(connector_uuid_v7('1970-01-01 00:00:00+00', 1)::text, 1, 13) AS first_ms;
SELECT substr(connector_uuid_v7('10889-08-02 05:31:50.654999+00', 1)::text, 1, 13) AS last_ms;
SELECT connector_uuid_v7('1969-12-31 23:59:59.999999+00', 1);
\echo :LAST_ERROR_SQLSTATE
SELECT connector_uuid_v7('10889-08-02 05:31:50.655+00', 1);
\echo :LAST_ERROR_SQLSTATE
SELECT connector_uuid_v7('200000-01-01 00:00:00+00', 1);
\echo :LAST_ERROR_SQLSTATE
SELECT connector_uuid_v7('infinity', 1);
\echo :LAST_ERROR_SQLSTATE
SELECT connector_uuid_v7('-infinity', 1);
\echo :LAST_ERROR_SQLSTATE
-- a time before 2000 (negative in PostgreSQL) rounds down to its millisecond
SELECT ('x' || substr(replace(connector_uuid_v7('1999-12-31 23:59:59.9995+00', 1)::text, '-', ''), 1, 12))::bit(48)::bigint
       AS ms, extract(epoch FROM timestamptz '1999-12-31 23:59:59.999+00') * 1000 AS expected;
SELECT substr(connector_uuid_generate_v7()::text, 15, 1) AS generated_version;

-- a conversion that fails in a step, caught in a savepoint: the id map it
-- loaded is gone with the savepoint (nobody maps ids with the table's key
-- afterwards), and a trap's own exception block inside a step keeps it
CREATE TABLE keyed (id serial PRIMARY KEY, v integer);
INSERT INTO keyed (v) SELECT g FROM generate_series(1, 5) g;
CREATE FUNCTION fails_when_asked(integer) RETURNS boolean LANGUAGE plpgsql AS $$
BEGIN
    BEGIN
        PERFORM 1 / 0;
    EXCEPTION WHEN division_by_zero THEN
        NULL;
    END;
    IF current_setting('regress.fail_rewrite', true) = 'on' THEN
        RAISE EXCEPTION 'failing the rewrite on purpose';
    END IF;
    RETURN true;
END $$;
ALTER TABLE keyed ADD CONSTRAINT keyed_v_check CHECK (fails_when_asked(v) AND id IS NOT NULL);
BEGIN;
SET LOCAL regress.fail_rewrite = on;
SAVEPOINT before_convert;
SELECT connector_uuid_convert('keyed'::regclass);
ROLLBACK TO SAVEPOINT before_convert;
SELECT connector_uuid_to_uuid(1::int8, (SELECT last_value FROM connector_uuid_table_id_seq)::int4);
ROLLBACK;
SELECT connector_uuid_convert('keyed'::regclass);
SELECT pg_typeof(id)::text, count(*) FROM keyed GROUP BY 1;
SELECT connector_uuid_revert('keyed'::regclass);
SELECT pg_typeof(id)::text, array_agg(id ORDER BY id) FROM keyed GROUP BY 1;
DROP TABLE keyed;
DROP FUNCTION fails_when_asked(integer);

DROP EXTENSION connector_uuid;
DROP SCHEMA idm CASCADE;
RESET search_path;
RESET timezone;
