-- translate: connector_uuid_ids(regclass), every row's old integer id and
-- uuid, at uuid time and after the rollback, with the default (v4, the map
-- holding only what the key cannot derive), with the full map, and with v5;
-- and its refusals
SET connector_uuid.progress = off;
\set SHOW_CONTEXT never
CREATE SCHEMA tr;
SET search_path = tr, public;
CREATE EXTENSION connector_uuid VERSION '1.0' SCHEMA tr;

CREATE TABLE item (id serial PRIMARY KEY, name text NOT NULL UNIQUE);
CREATE TABLE item_tag (id serial PRIMARY KEY, item_id integer REFERENCES item ON DELETE CASCADE, tag text);
INSERT INTO item (name) SELECT 'item ' || i FROM generate_series(1, 40) i;
DELETE FROM item WHERE id IN (5, 6, 7);
INSERT INTO item_tag (item_id, tag) SELECT 1 + i % 40, 'tag ' || i FROM generate_series(1, 90) i WHERE 1 + i % 40 NOT IN (5, 6, 7);
CREATE TABLE snap_item AS SELECT * FROM item;
CREATE TABLE snap_tag AS SELECT * FROM item_tag;
CREATE TABLE twin (LIKE item INCLUDING ALL);
INSERT INTO twin SELECT * FROM item;

-- refused: a table never converted, and a view
SELECT * FROM connector_uuid_ids('item');
\echo :LAST_ERROR_SQLSTATE
CREATE VIEW item_names AS SELECT name FROM item;
SELECT * FROM connector_uuid_ids('item_names');
\echo :LAST_ERROR_SQLSTATE

-- v4 by default: the map gets no pair, the translation has every row
SHOW connector_uuid.full_map;
SELECT connector_uuid_convert('item');
SELECT (SELECT count(*) FROM connector_uuid_map) AS map_rows,
       (SELECT full_map FROM connector_uuid_tables WHERE table_name = 'item') AS registry_full_map;
SELECT count(*) AS rows, count(DISTINCT old_id) AS old_ids, count(DISTINCT new_id) AS new_ids,
       count(*) FILTER (WHERE old_id IS NULL) AS without_old_id
FROM connector_uuid_ids('item');
-- each row's old id is the one it had (the names are unique), its new id is
-- the row's key, and the lookup agrees
SELECT count(*) AS differing FROM (
    SELECT id, name FROM snap_item
    EXCEPT SELECT m.old_id::integer, i.name FROM item i JOIN connector_uuid_ids('item') m ON m.new_id = i.id) d;
SELECT count(*) FILTER (WHERE m.new_id IS DISTINCT FROM connector_uuid_lookup('item', m.old_id)) AS lookup_differs
FROM connector_uuid_ids('item') m;
-- the referencing rows translate back to their old references
SELECT count(*) AS tags_differing FROM (
    SELECT id, item_id, tag FROM snap_tag
    EXCEPT SELECT t.id, m.old_id::integer, t.tag FROM item_tag t JOIN connector_uuid_ids('item') m ON m.new_id = t.item_id) d;
-- in the select list too
SELECT count(*) AS rows FROM (SELECT connector_uuid_ids('item')) s;

-- a row created at uuid time has no old id
INSERT INTO item (name) VALUES ('born at uuid time');
SELECT m.old_id IS NULL AS no_old_id FROM item i JOIN connector_uuid_ids('item') m ON m.new_id = i.id
WHERE i.name = 'born at uuid time';
CREATE TABLE snap_uuid AS SELECT m.new_id, i.name FROM item i JOIN connector_uuid_ids('item') m ON m.new_id = i.id;

-- after the rollback: old_id is the key again, new_id the uuid the row had
-- (for the row born at uuid time, from the map's one exception)
SELECT connector_uuid_revert('item');
SELECT count(*) AS map_rows, bool_and(NOT derived) AS all_exceptions FROM connector_uuid_map;
SELECT count(*) AS rows, count(*) FILTER (WHERE m.old_id IS DISTINCT FROM i.id) AS old_id_not_key
FROM item i JOIN connector_uuid_ids('item') m ON m.old_id = i.id;
SELECT count(*) AS differing FROM (
    SELECT new_id, name FROM snap_uuid
    EXCEPT SELECT m.new_id, i.name FROM item i JOIN connector_uuid_ids('item') m ON m.old_id = i.id) d;
SELECT count(*) AS originals_differing FROM (SELECT * FROM snap_item EXCEPT SELECT * FROM item) d;
-- and converting again gives exactly those uuids
SELECT connector_uuid_convert('item');
SELECT count(*) AS differing FROM (SELECT new_id, name FROM snap_uuid EXCEPT SELECT id, name FROM item) d;
SELECT connector_uuid_revert('item');

-- with the full map (twin holds the same rows, converted with
-- full_map = on): the same translation, read from the map
SET connector_uuid.full_map = on;
SELECT connector_uuid_convert('twin');
RESET connector_uuid.full_map;
SELECT count(*) AS twin_map_rows FROM connector_uuid_map JOIN connector_uuid_tables USING (table_id)
WHERE table_name = 'twin';
SELECT count(*) AS rows, count(*) FILTER (WHERE m.old_id = s.id) AS old_ids_right,
       count(*) FILTER (WHERE m.new_id = connector_uuid_lookup('twin', m.old_id)) AS lookup_agrees
FROM connector_uuid_ids('twin') m JOIN twin t ON t.id = m.new_id JOIN snap_item s ON s.name = t.name;
SELECT connector_uuid_revert('twin');
SELECT count(*) AS twin_differing FROM (SELECT * FROM snap_item EXCEPT SELECT * FROM twin) d;

-- v5: every pair in the map, and the translation is the map
DELETE FROM connector_uuid_map; DELETE FROM connector_uuid_tables; DELETE FROM connector_uuid_columns;
DELETE FROM item WHERE name = 'born at uuid time';
SELECT connector_uuid_convert('item', strategy => 'v5');
SELECT count(*) AS rows, count(*) FILTER (WHERE m.new_id = uuid_generate_v5('6ba7b811-9dad-11d1-80b4-00c04fd430c8', 'item:' || m.old_id)) AS v5_ids
FROM connector_uuid_ids('item') m;
SELECT connector_uuid_revert('item');
-- at integer time, a row the map does not hold has no uuid under v5
INSERT INTO item (name) VALUES ('born after the rollback');
SELECT m.new_id IS NULL AS no_new_id FROM item i JOIN connector_uuid_ids('item') m ON m.old_id = i.id
WHERE i.name = 'born after the rollback';

-- a role without EXECUTE cannot read the translation
CREATE ROLE regress_cu_translate_reader;
GRANT USAGE ON SCHEMA tr TO regress_cu_translate_reader;
GRANT SELECT ON item TO regress_cu_translate_reader;
SET ROLE regress_cu_translate_reader;
SELECT * FROM connector_uuid_ids('item');
\echo :LAST_ERROR_SQLSTATE
RESET ROLE;
DROP OWNED BY regress_cu_translate_reader;
DROP ROLE regress_cu_translate_reader;

DROP EXTENSION connector_uuid;
DROP SCHEMA tr CASCADE;
