-- convert: the general engine, for any table with a single integer key and
-- any number of referencing tables; v4, v5 and v7 ids; lossless revert
SET connector_uuid.progress = off;
CREATE SCHEMA shop;
SET search_path = shop, public;
CREATE EXTENSION connector_uuid VERSION '1.0' SCHEMA shop;

CREATE TABLE customers (id bigserial PRIMARY KEY, name text NOT NULL);
CREATE TABLE orders (
    id serial PRIMARY KEY,
    customer_id bigint REFERENCES customers,
    created_at timestamptz NOT NULL,
    note text);
CREATE TABLE order_lines (
    id serial PRIMARY KEY,
    order_id integer NOT NULL REFERENCES orders ON DELETE CASCADE,
    qty integer);
CREATE TABLE shipments (
    id serial PRIMARY KEY,
    order_id integer REFERENCES orders ON DELETE SET NULL,
    replaces integer REFERENCES orders MATCH FULL DEFERRABLE INITIALLY DEFERRED);
CREATE INDEX ix_lines_order ON order_lines (order_id) INCLUDE (qty);
INSERT INTO customers (name) SELECT 'customer ' || i FROM generate_series(1, 10) i;
INSERT INTO orders (customer_id, created_at)
SELECT 1 + i % 10, timestamptz '2025-01-01 00:00+00' + i * interval '1 hour' FROM generate_series(1, 100) i;
INSERT INTO order_lines (order_id, qty) SELECT 1 + i % 100, i FROM generate_series(1, 300) i;
INSERT INTO shipments (order_id, replaces) SELECT i, CASE WHEN i > 1 THEN i - 1 END FROM generate_series(1, 50) i;
DELETE FROM orders WHERE id % 9 = 0 AND id > 50;
CREATE TABLE snap_orders AS SELECT * FROM orders;
CREATE TABLE snap_lines AS SELECT * FROM order_lines;
CREATE TABLE snap_shipments AS SELECT * FROM shipments;

-- the plan for orders: one rewrite per table, the two columns of shipments
-- in one pass
SELECT step, relation, lock_mode FROM connector_uuid_plan('orders'::regclass) ORDER BY step;
SELECT statement FROM connector_uuid_plan('orders'::regclass) WHERE statement LIKE 'ALTER TABLE shop.shipments %ALTER COLUMN%';
-- a bare string is a direction, not a table: the hint says how to name one
SELECT * FROM connector_uuid_plan('orders');

-- v4 (the default)
SELECT connector_uuid_convert('orders');
SELECT c.relname, a.attname, format_type(a.atttypid, a.atttypmod)
FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid
WHERE c.relname IN ('orders', 'order_lines', 'shipments') AND a.attname IN ('id', 'order_id', 'replaces')
  AND NOT (c.relname <> 'orders' AND a.attname = 'id')
ORDER BY 1, 2;
SELECT conrelid::regclass, conname, pg_get_constraintdef(oid), convalidated
FROM pg_constraint WHERE confrelid = 'orders'::regclass ORDER BY 1, 2;
SELECT count(*) FILTER (WHERE substr(id::text, 15, 1) <> '4' OR substr(id::text, 20, 1) NOT IN ('8', '9', 'a', 'b')) AS not_v4
FROM orders;
SELECT count(*) AS lines_differing FROM (
    SELECT id, order_id, qty FROM snap_lines
    EXCEPT SELECT l.id, m.old_id::integer, l.qty FROM order_lines l JOIN connector_uuid_ids('orders') m ON m.new_id = l.order_id) d;
SELECT count(*) AS shipments_differing FROM (
    SELECT id, order_id, replaces FROM snap_shipments
    EXCEPT SELECT s.id, a.old_id::integer, b.old_id::integer FROM shipments s
    LEFT JOIN connector_uuid_ids('orders') a ON a.new_id = s.order_id
    LEFT JOIN connector_uuid_ids('orders') b ON b.new_id = s.replaces) d;
SELECT step, statement FROM connector_uuid_plan('orders'::regclass, 'upgrade');
SELECT connector_uuid_revert('orders');
SELECT count(*) AS orders_differing FROM (SELECT * FROM snap_orders EXCEPT SELECT * FROM orders) d;
SELECT count(*) AS lines_differing FROM (SELECT * FROM snap_lines EXCEPT SELECT * FROM order_lines) d;
SELECT count(*) AS shipments_differing FROM (SELECT * FROM snap_shipments EXCEPT SELECT * FROM shipments) d;
SELECT conrelid::regclass, conname, pg_get_constraintdef(oid) FROM pg_constraint
WHERE confrelid = 'orders'::regclass ORDER BY 1, 2;

-- with on_delete_cascade every referencing key becomes ON DELETE CASCADE
-- (here with a second foreign key on one column, with its own action)
ALTER TABLE shop.order_lines ADD CONSTRAINT order_lines_order_kept
    FOREIGN KEY (order_id) REFERENCES orders ON DELETE RESTRICT;
SELECT connector_uuid_convert('orders', on_delete_cascade => true);
SELECT conrelid::regclass, conname, pg_get_constraintdef(oid) FROM pg_constraint
WHERE confrelid = 'orders'::regclass ORDER BY 1, 2;
SELECT connector_uuid_revert('orders');
-- and the revert puts back the actions they had, each its own
SELECT conrelid::regclass, conname, pg_get_constraintdef(oid) FROM pg_constraint
WHERE confrelid = 'orders'::regclass ORDER BY 1, 2;
-- and so does a convert and revert that leaves the actions alone
SELECT connector_uuid_convert('orders');
SELECT connector_uuid_revert('orders');
SELECT conrelid::regclass, conname, pg_get_constraintdef(oid) FROM pg_constraint
WHERE confrelid = 'orders'::regclass ORDER BY 1, 2;
ALTER TABLE shop.order_lines DROP CONSTRAINT order_lines_order_kept;
-- converted again, the rows get back the uuids they had: so another
-- strategy is refused, and the setting alone does not change it
SELECT connector_uuid_convert('orders', strategy => 'v7');
\echo :LAST_ERROR_SQLSTATE
SET connector_uuid.strategy = v7;
SELECT statement FROM connector_uuid_plan('orders'::regclass) WHERE step = 0;
SELECT connector_uuid_convert('orders');
SELECT strategy FROM connector_uuid_tables WHERE table_name = 'orders';
SELECT count(*) FILTER (WHERE substr(id::text, 15, 1) <> '4') AS not_v4 FROM orders;
SELECT connector_uuid_revert('orders');
RESET connector_uuid.strategy;
DELETE FROM connector_uuid_map; DELETE FROM connector_uuid_tables; DELETE FROM connector_uuid_columns;

-- v7: time-ordered, from created_at; in old-id order
SELECT connector_uuid_convert('orders', strategy => 'v7', timestamp_column => 'created_at');
SELECT count(*) FILTER (WHERE substr(id::text, 15, 1) <> '7' OR substr(id::text, 20, 1) NOT IN ('8', '9', 'a', 'b')) AS not_v7
FROM orders;
SELECT bool_and(ok) AS monotonic_in_old_id_order FROM (
    SELECT new_id > lag(new_id) OVER (ORDER BY old_id) AS ok FROM connector_uuid_map) s;
-- the time in each id is the row's created_at
SELECT count(*) AS time_differing FROM orders o
WHERE ('x' || substr(replace(o.id::text, '-', ''), 1, 12))::bit(48)::bigint
      <> (extract(epoch FROM o.created_at) * 1000)::bigint;
SELECT pg_get_expr(adbin, adrelid) AS new_rows_default FROM pg_attrdef WHERE adrelid = 'orders'::regclass;
INSERT INTO orders (created_at) VALUES (now()) RETURNING substr(id::text, 15, 1) AS version;
SELECT connector_uuid_revert('orders');
SELECT count(*) AS orders_differing FROM (SELECT * FROM snap_orders EXCEPT SELECT * FROM orders) d;
SELECT count(*) AS lines_differing FROM (SELECT * FROM snap_lines EXCEPT SELECT * FROM order_lines) d;
DELETE FROM orders WHERE id NOT IN (SELECT id FROM snap_orders);
DELETE FROM connector_uuid_map; DELETE FROM connector_uuid_tables; DELETE FROM connector_uuid_columns;

-- v5: deterministic, the same in every database: uuid_generate_v5 of the
-- namespace and 'table:old id'
SELECT connector_uuid_convert('customers', strategy => 'v5',
                              namespace => 'b3b3c5d4-6e1f-4a2b-9c8d-7e6f5a4b3c2d');
SELECT count(*) AS v5_matching FROM customers c JOIN connector_uuid_map m ON m.new_id = c.id
WHERE c.id = uuid_generate_v5('b3b3c5d4-6e1f-4a2b-9c8d-7e6f5a4b3c2d', 'customers:' || m.old_id);
SELECT count(*) AS orders_linked FROM orders o JOIN customers c ON c.id = o.customer_id;
SELECT connector_uuid_revert('customers');
SELECT id, name FROM customers ORDER BY id LIMIT 3;
SELECT count(*) AS orders_differing FROM (SELECT * FROM snap_orders EXCEPT SELECT * FROM orders) d;

-- the migration guide's sibling: mcp_servers.id, referenced by nothing
CREATE TABLE servers (id serial PRIMARY KEY, name text);
INSERT INTO servers (name) SELECT 'server ' || i FROM generate_series(1, 20) i;
SELECT connector_uuid_convert('servers');
SELECT pg_typeof(id), count(*) FROM servers GROUP BY 1;
SELECT connector_uuid_revert('servers');
SELECT min(id), max(id), count(*) FROM servers;

-- refused up front, nothing changed
CREATE TABLE pairs (a integer, b integer, PRIMARY KEY (a, b));
SELECT connector_uuid_convert('pairs');
\echo :LAST_ERROR_SQLSTATE
CREATE TABLE labels (id text PRIMARY KEY);
SELECT connector_uuid_convert('labels');
\echo :LAST_ERROR_SQLSTATE
CREATE EXTENSION btree_gist;
CREATE TABLE bookings (id serial PRIMARY KEY, order_id integer REFERENCES orders, during tstzrange,
    EXCLUDE USING gist (order_id WITH =, during WITH &&));
SELECT connector_uuid_convert('orders');
\echo :LAST_ERROR_SQLSTATE
DROP TABLE bookings;
DROP EXTENSION btree_gist;
CREATE PUBLICATION pub_orders FOR TABLE order_lines;
SELECT connector_uuid_convert('orders');
\echo :LAST_ERROR_SQLSTATE
DROP PUBLICATION pub_orders;
SET client_min_messages = error;
CREATE PUBLICATION pub_shop FOR TABLES IN SCHEMA shop;
RESET client_min_messages;
\set VERBOSITY terse
SELECT connector_uuid_convert('orders');
\set VERBOSITY default
DROP PUBLICATION pub_shop;
SELECT connector_uuid_convert('orders', strategy => 'v9');
\echo :LAST_ERROR_SQLSTATE
SELECT connector_uuid_convert('orders', strategy => 'v7', timestamp_column => 'note');
\echo :LAST_ERROR_SQLSTATE
SELECT connector_uuid_revert('orders');
\echo :LAST_ERROR_SQLSTATE
SELECT pg_typeof(id) FROM orders LIMIT 1;

-- one million rows: every v4 id distinct and well formed
CREATE TABLE big (id integer PRIMARY KEY);
INSERT INTO big SELECT generate_series(1, 1000000);
SELECT connector_uuid_convert('big');
SELECT count(*) AS ids, count(DISTINCT id) AS distinct_ids,
       count(*) FILTER (WHERE substr(id::text, 15, 1) <> '4' OR substr(id::text, 20, 1) NOT IN ('8', '9', 'a', 'b')) AS not_v4
FROM big;
SELECT connector_uuid_revert('big');
SELECT count(*) AS ids, min(id), max(id), sum(id::bigint) = 500000500000 AS exact FROM big;

-- full_map off: only exceptions are written; lookup derives the rest, and
-- the revert is as exact
DELETE FROM connector_uuid_map WHERE table_id = (SELECT table_id FROM connector_uuid_tables WHERE table_name = 'big');
SET connector_uuid.full_map = off;
SELECT connector_uuid_convert('big');
SELECT count(*) AS big_map_rows FROM connector_uuid_map JOIN connector_uuid_tables USING (table_id)
WHERE table_name = 'big';
CREATE TABLE big_check AS SELECT i AS old_id, connector_uuid_lookup('big', i) AS new_id
FROM generate_series(1, 1000000, 997) i;
SELECT count(*) AS sampled, count(b.id) AS found FROM big_check c LEFT JOIN big b ON b.id = c.new_id;
INSERT INTO big VALUES (gen_random_uuid());
SELECT connector_uuid_revert('big');
SELECT count(*) AS ids, min(id), max(id), sum(id::bigint) FILTER (WHERE id <= 1000000) = 500000500000 AS exact FROM big;
SELECT count(*) AS big_map_rows FROM connector_uuid_map JOIN connector_uuid_tables USING (table_id)
WHERE table_name = 'big';
SELECT connector_uuid_lookup('big', 1000001) IS NOT NULL AS born_at_uuid_found,
       connector_uuid_lookup('pairs', 1) AS never_converted;
RESET connector_uuid.full_map;

SELECT direction, table_name, strategy, outcome FROM connector_uuid_history ORDER BY started_at;

DROP EXTENSION connector_uuid;
DROP SCHEMA shop CASCADE;
RESET search_path;
