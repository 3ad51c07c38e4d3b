-- pagerewrite: the offline rewrites write whole pages (access method
-- connector_uuid_rewrite, src/pagerewrite.c).  The pages are heap's, byte
-- for byte as the plain rewrite writes them (TOAST, fillfactor and a CHECK
-- constraint whose function catches its own error included); the tables
-- keep access method heap; the WAL is less; who can use the access method;
-- which tables get the plain rewrite
SET connector_uuid.progress = off;
\set SHOW_CONTEXT never
CREATE SCHEMA pr;
SET search_path = pr, public;
CREATE EXTENSION connector_uuid VERSION '1.0' SCHEMA pr;
CREATE EXTENSION pageinspect;

-- a CHECK constraint whose function starts and aborts a subtransaction for
-- every row
CREATE FUNCTION careful_check(n text) RETURNS boolean LANGUAGE plpgsql AS $$
BEGIN
    BEGIN
        PERFORM 1 / 0;
    EXCEPTION WHEN division_by_zero THEN
        RETURN n IS NOT NULL;
    END;
END $$;

-- two identical pairs of tables, one to be rewritten by pages, the other by
-- the plain rewrite: long values (TOAST), a fillfactor, a CHECK
CREATE FUNCTION make_pair(suffix text) RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    EXECUTE format('CREATE TABLE item_%s (id serial PRIMARY KEY, name text NOT NULL CHECK (pr.careful_check(name)),
                    body text) WITH (fillfactor = 70)', suffix);
    EXECUTE format('CREATE TABLE tag_%s (id serial PRIMARY KEY, item_id integer REFERENCES item_%s, tag text)',
                   suffix, suffix);
    EXECUTE format('INSERT INTO item_%s (name, body) SELECT ''item '' || i,
                    CASE WHEN i %% 50 = 0 THEN (SELECT string_agg(md5(i::text || j::text), '''') FROM generate_series(1, 200) j)
                         ELSE repeat(''b'', i %% 300) END
                    FROM generate_series(1, 3000) i', suffix);
    EXECUTE format('DELETE FROM item_%s WHERE id %% 7 = 0', suffix);
    EXECUTE format('INSERT INTO tag_%s (item_id, tag) SELECT i.id, ''tag '' || g FROM item_%s i, generate_series(1, 3) g',
                   suffix, suffix);
END $$;
SELECT make_pair('pages'), make_pair('plain');
CREATE TABLE snap_item AS SELECT * FROM item_pages;
CREATE TABLE snap_tag AS SELECT * FROM tag_pages;
SELECT count(*) AS toasted FROM item_pages WHERE pg_column_size(body) > 2000;

-- the plan names the access method for the rewrites (and only with the
-- setting on)
SELECT relation, substr(statement, 1, 80) AS statement FROM connector_uuid_plan('item_pages'::regclass)
WHERE statement LIKE 'ALTER TABLE%ALTER COLUMN%TYPE%' ORDER BY step;
SET connector_uuid.page_rewrite = off;
SELECT relation, substr(statement, 1, 80) AS statement FROM connector_uuid_plan('item_plain'::regclass)
WHERE statement LIKE 'ALTER TABLE%ALTER COLUMN%TYPE%' ORDER BY step;

-- the same rows, converted both ways, with the same key: item_plain gets
-- a registry row (converted and reverted), then item_pages's key
SELECT connector_uuid_convert('item_plain');
SELECT connector_uuid_revert('item_plain');
RESET connector_uuid.page_rewrite;
SELECT pg_current_wal_lsn() AS before_pages \gset
SELECT connector_uuid_convert('item_pages');
SELECT pg_current_wal_lsn() AS after_pages \gset
UPDATE connector_uuid_tables SET id_key = (SELECT id_key FROM connector_uuid_tables WHERE table_name = 'item_pages')
WHERE table_name = 'item_plain';
SET connector_uuid.page_rewrite = off;
SELECT pg_current_wal_lsn() AS before_plain \gset
SELECT connector_uuid_convert('item_plain');
SELECT pg_current_wal_lsn() AS after_plain \gset
RESET connector_uuid.page_rewrite;

-- heap, no dependency on the rewrite's access method, TOAST tables of heap
SELECT c.relname, a.amname, t.amname AS toast_am
FROM pg_class c JOIN pg_am a ON a.oid = c.relam
LEFT JOIN pg_class tc ON tc.oid = c.reltoastrelid LEFT JOIN pg_am t ON t.oid = tc.relam
WHERE c.relname IN ('item_pages', 'tag_pages', 'item_plain', 'tag_plain') ORDER BY 1;
SELECT count(*) AS dependents FROM pg_depend
WHERE refclassid = 'pg_am'::regclass AND refobjid = (SELECT oid FROM pg_am WHERE amname = 'connector_uuid_rewrite');

-- the same rows with the same uuids, the same sizes, and every line pointer
-- and tuple header as the plain rewrite made them (but the transaction ids)
SELECT count(*) AS items_differing FROM (SELECT * FROM item_pages EXCEPT SELECT * FROM item_plain) d;
SELECT count(*) AS tags_differing FROM (SELECT item_id, tag FROM tag_pages EXCEPT SELECT item_id, tag FROM tag_plain) d;
SELECT pg_relation_size('item_pages') = pg_relation_size('item_plain') AS same_heap_size,
       pg_relation_size('tag_pages') = pg_relation_size('tag_plain') AS same_tag_size,
       pg_relation_size('item_pages') / 8192 AS item_pages;
SELECT count(*) AS lines_differing FROM (
    SELECT b, lp, lp_off, lp_flags, lp_len, t_infomask2, t_infomask & ~768, t_hoff, t_bits, t_ctid,
           CASE WHEN t_infomask & 4 = 0 THEN t_data END
    FROM generate_series(0, pg_relation_size('item_pages') / 8192 - 1) b,
         heap_page_items(get_raw_page('item_pages', b::int))
    EXCEPT
    SELECT b, lp, lp_off, lp_flags, lp_len, t_infomask2, t_infomask & ~768, t_hoff, t_bits, t_ctid,
           CASE WHEN t_infomask & 4 = 0 THEN t_data END
    FROM generate_series(0, pg_relation_size('item_plain') / 8192 - 1) b,
         heap_page_items(get_raw_page('item_plain', b::int))) d;
-- (the hint bits aside, and the data of rows with TOAST pointers, which
-- name values of each table's own TOAST table)
SELECT count(DISTINCT t_xmin::text) AS xmins, bool_and(t_xmax = '0') AS no_xmax
FROM generate_series(0, pg_relation_size('tag_pages') / 8192 - 1) b, heap_page_items(get_raw_page('tag_pages', b::int));
-- indexes work on the new pages
SET enable_seqscan = off;
SELECT count(*) AS found FROM item_pages i JOIN snap_item s ON s.name = i.name WHERE i.id = connector_uuid_lookup('item_pages', s.id);
RESET enable_seqscan;
SELECT pg_wal_lsn_diff(:'after_pages', :'before_pages') < pg_wal_lsn_diff(:'after_plain', :'before_plain') AS less_wal;

-- and back, by pages too: exactly the rows of before
SELECT relation, substr(statement, 1, 60) AS statement FROM connector_uuid_plan('item_pages'::regclass)
WHERE statement LIKE 'ALTER TABLE%ALTER COLUMN%TYPE%' ORDER BY step;
SELECT connector_uuid_revert('item_pages');
SELECT count(*) AS items_differing FROM (SELECT * FROM snap_item EXCEPT SELECT * FROM item_pages) d;
SELECT count(*) AS tags_differing FROM (SELECT * FROM snap_tag EXCEPT SELECT * FROM tag_pages) d;
SELECT a.amname FROM pg_class c JOIN pg_am a ON a.oid = c.relam WHERE c.relname = 'item_pages';

-- a table of another access method gets the plain rewrite, and keeps its
-- access method; a partitioned referencing table too
CREATE ACCESS METHOD heap_alias TYPE TABLE HANDLER heap_tableam_handler;
CREATE TABLE other_am (id serial PRIMARY KEY, v text) USING heap_alias;
CREATE TABLE other_ref (id serial, other_id integer REFERENCES other_am, part integer NOT NULL) PARTITION BY LIST (part);
CREATE TABLE other_ref_1 PARTITION OF other_ref FOR VALUES IN (1);
INSERT INTO other_am (v) SELECT 'v' || i FROM generate_series(1, 20) i;
INSERT INTO other_ref (other_id, part) SELECT id, 1 FROM other_am;
SELECT relation, substr(statement, 1, 60) AS statement FROM connector_uuid_plan('other_am'::regclass)
WHERE statement LIKE 'ALTER TABLE%ALTER COLUMN%TYPE%' ORDER BY step;
SELECT connector_uuid_convert('other_am');
SELECT a.amname FROM pg_class c JOIN pg_am a ON a.oid = c.relam WHERE c.relname = 'other_am';
SELECT count(*) AS linked FROM other_ref r JOIN other_am o ON o.id = r.other_id;

-- nobody else gets the access method: not for a new table, not for a
-- table of theirs
CREATE TABLE mine (id integer) USING connector_uuid_rewrite;
\echo :LAST_ERROR_SQLSTATE
CREATE TABLE mine (id integer);
INSERT INTO mine VALUES (1);
ALTER TABLE mine SET ACCESS METHOD connector_uuid_rewrite;
\echo :LAST_ERROR_SQLSTATE
SELECT a.amname, (SELECT count(*) FROM mine) AS rows FROM pg_class c JOIN pg_am a ON a.oid = c.relam WHERE c.relname = 'mine';

DROP EXTENSION pageinspect;
DROP EXTENSION connector_uuid;
DROP SCHEMA pr CASCADE;
DROP ACCESS METHOD heap_alias;
