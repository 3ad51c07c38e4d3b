# Logical replication, with two clusters: a publisher and a subscriber of the
# three connector tables (and of a general orders table with two tables
# referencing it), the application writing on the publisher.  The README's
# procedure, with the extension's check of each step: the refusal without
# connector_uuid.allow_replicated, a slot still streaming, a subscriber that
# has not caught up (refused with its lag), a subscriber migrated before its
# publisher or without the publisher's mapping.  Afterwards both sides hold
# the same rows with the same uuids and links, new writes replicate and
# verify passes on both; then the rollback, the same; and a subscriber
# converted with another key has another fingerprint and fails verify.
use strict;
use warnings;

use FindBin;
use lib $FindBin::RealBin;
use CuTest;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $pub = PostgreSQL::Test::Cluster->new('publisher');
$pub->init(allows_streaming => 'logical');
$pub->append_conf('postgresql.conf', "connector_uuid.progress = off\n");
$pub->start;
my $sub = PostgreSQL::Test::Cluster->new('subscriber');
$sub->init;
$sub->append_conf('postgresql.conf', "connector_uuid.progress = off\nwal_retrieve_retry_interval = 200ms\n");
$sub->start;

my $orders_schema = q{
	CREATE TABLE orders (id serial PRIMARY KEY, note text);
	CREATE TABLE order_lines (id serial PRIMARY KEY, order_id integer NOT NULL REFERENCES orders ON DELETE CASCADE, qty integer);
	CREATE TABLE shipments (id serial PRIMARY KEY, order_id integer REFERENCES orders ON DELETE SET NULL);
};
load_app($_, 'app', 2000) for ($pub, $sub);
$_->safe_psql('app', $orders_schema) for ($pub, $sub);
# the application: connectors with a server and an access grant each (and
# an order), one transaction apiece
my $app_writes = q{
	CREATE PROCEDURE app_writes(n integer) LANGUAGE plpgsql AS $$
	DECLARE c record;
	BEGIN
		FOR i IN 1 .. n LOOP
			INSERT INTO mcp_connectors (name, url, secret, created_by)
			SELECT 'app-' || clock_timestamp(), 'https://app.example/' || i, pg_catalog.to_jsonb('sec-' || clock_timestamp() || '-' || i),
			       (SELECT id FROM "user" ORDER BY id LIMIT 1)
			RETURNING id INTO c;
			INSERT INTO mcp_servers (id, name, connector_id) VALUES (gen_random_uuid(), 'srv-' || i, c.id);
			INSERT INTO connector_access (connector_id, user_id) SELECT c.id, (SELECT id FROM "user" ORDER BY id LIMIT 1);
			IF to_regclass('orders') IS NOT NULL THEN
				EXECUTE 'INSERT INTO orders (note) VALUES ($1)' USING 'live-' || i;
			END IF;
			COMMIT;
			PERFORM pg_sleep(0.002);
		END LOOP;
	END $$;
};
$pub->safe_psql('app', q{
	INSERT INTO orders (note) SELECT 'o' || i FROM generate_series(1, 300) i;
	INSERT INTO order_lines (order_id, qty) SELECT 1 + i % 300, i FROM generate_series(1, 900) i;
	INSERT INTO shipments (order_id) SELECT i FROM generate_series(1, 200) i;
	CREATE PUBLICATION app_pub FOR TABLE mcp_connectors, connector_access, mcp_servers, orders, order_lines, shipments;
} . $app_writes);
$sub->safe_psql('app', 'TRUNCATE mcp_connectors, connector_access, mcp_servers, orders, order_lines, shipments');
my $pubconn = $pub->connstr() . ' dbname=app';
$sub->safe_psql('app', "CREATE SUBSCRIPTION app_sub CONNECTION '$pubconn' PUBLICATION app_pub");
# every table copied and in the ready state, then caught up
$sub->poll_query_until('app', q{SELECT count(*) = 6 AND bool_and(srsubstate = 'r') FROM pg_subscription_rel})
  or die 'the initial copy did not finish';
$pub->wait_for_catchup('app_sub');

# what both sides must agree on: every row of the replicated tables, with ids and links
my $orders_digest = q{SELECT concat_ws(' ',
	(SELECT count(*) || ':' || md5(string_agg(t::text, '|' ORDER BY t.id)) FROM orders t),
	(SELECT count(*) || ':' || md5(string_agg(t::text, '|' ORDER BY t.id)) FROM order_lines t),
	(SELECT count(*) || ':' || md5(string_agg(t::text, '|' ORDER BY t.id)) FROM shipments t))};
sub same_rows
{
	my ($what) = @_;
	local $Test::Builder::Level = $Test::Builder::Level + 1;
	is(fingerprint($sub, 'app'), fingerprint($pub, 'app'), "$what: the connector tables are the same on both sides");
	is($sub->safe_psql('app', $orders_digest), $pub->safe_psql('app', $orders_digest),
		"$what: orders, order_lines and shipments are the same on both sides");
	return;
}
sub psql_fails
{
	my ($node, $sql, $re, $what) = @_;
	local $Test::Builder::Level = $Test::Builder::Level + 1;
	my ($ret, $out, $err) = $node->psql('app', "SET connector_uuid.allow_replicated = on; $sql");
	isnt($ret, 0, "$what: refused");
	like($err, $re, "$what: the error says why");
	return $err;
}
# the subscription stopped: its apply worker gone here, its slot inactive there
sub disable_subscription
{
	my ($db, $name) = @_;
	($db, $name) = ('app', 'app_sub') unless $db;
	$sub->safe_psql($db, "ALTER SUBSCRIPTION $name DISABLE");
	$sub->poll_query_until($db, qq{SELECT count(*) = 0 FROM pg_stat_subscription WHERE subname = '$name' AND pid IS NOT NULL})
	  or die 'the apply worker did not stop';
	$pub->poll_query_until($db, qq{SELECT NOT active FROM pg_replication_slots WHERE slot_name = '$name'})
	  or die 'the slot stayed active';
	return;
}
# the mapping of $table from one side to the other (by default publisher to subscriber)
sub export_import
{
	my ($table, $db, $from, $to) = @_;
	($db, $from, $to) = ('app', $pub, $sub) unless $db;
	my $export = $from->safe_psql($db, "SELECT connector_uuid_export('$table')");
	return $to->safe_psql($db, "SELECT connector_uuid_import('$table', \$e\$$export\$e\$)");
}
my $allow = 'SET connector_uuid.allow_replicated = on; ';
my $fp = q{SELECT connector_uuid_fingerprint('mcp_connectors')};
my $our_row = q{SELECT CASE WHEN passed THEN 't' ELSE 'f' END || ' ' || detail FROM connector_uuid_verify() WHERE item = 'same ids as the publisher (logical replication)'};

same_rows('subscribed at 1.0');
like($sub->safe_psql('app', $our_row), qr/^t subscription app_sub: fingerprint none, the same as the publisher's \(its key is integer\)/,
	'verify on the subscriber at 1.0: no mapping on either side yet');

# ---- the upgrade -----------------------------------------------------------
# the application writes; every step is refused while it should be
my $writer = start_sql($pub, 'app', 'CALL app_writes(150)');
my ($ret, $out, $err) = $pub->psql('app', 'ALTER EXTENSION connector_uuid UPDATE');
like($err, qr/ERROR:  table "mcp_connectors" or a table referencing it is in logical replication.*published by app_pub/s,
	'without connector_uuid.allow_replicated the published tables are refused, as before');
like($err, qr/HINT:  To convert replicated tables, follow the README's procedure/, 'and the hint gives the procedure');
($ret, $out, $err) = $sub->psql('app', 'ALTER EXTENSION connector_uuid UPDATE');
like($err, qr/replicated into by subscription app_sub/, 'the subscriber refuses too, naming its subscription');
psql_fails($pub, 'ALTER EXTENSION connector_uuid UPDATE',
	qr/replication slot "app_sub" is streaming to a subscriber \(pid \d+\), .* of WAL behind/,
	'publisher, while the subscription streams');
is(finish_sql($writer), 0, 'the application wrote 150 connectors meanwhile') or diag $writer->{err};

# writes stopped; the DBA disables the subscription too early
disable_subscription();
$pub->safe_psql('app', 'CALL app_writes(3)');
my $slot = q{SELECT confirmed_flush_lsn FROM pg_replication_slots WHERE slot_name = 'app_sub'};
my $confirmed = $pub->safe_psql('app', $slot);
my $lag = psql_fails($pub, 'ALTER EXTENSION connector_uuid UPDATE',
	qr/ERROR:  the subscriber of replication slot "app_sub" has not caught up: \d+ changes in 3 transactions not confirmed, \d+ (bytes|kB) of WAL behind/,
	'publisher, subscriber behind');
like($lag, qr/confirmed up to [0-9A-F]+\/[0-9A-F]+, the server is at [0-9A-F]+\/[0-9A-F]+/, 'the detail has the LSNs');
is(version_of($pub, 'app'), '1.0', 'refused: the publisher is still at 1.0');
is($pub->safe_psql('app', $slot), $confirmed, 'the check only peeked: the slot has consumed nothing');
$sub->safe_psql('app', 'ALTER SUBSCRIPTION app_sub ENABLE');
$pub->wait_for_catchup('app_sub');
disable_subscription();
same_rows('caught up, subscription disabled');

# a slot of another output plugin: what it consumed cannot be told
$pub->safe_psql('app', q{SELECT pg_create_logical_replication_slot('debug_slot', 'test_decoding')});
psql_fails($pub, 'ALTER EXTENSION connector_uuid UPDATE',
	qr/ERROR:  replication slot "debug_slot" uses output plugin "test_decoding".*HINT:  Drop the slot if nothing reads it any more/s,
	'publisher, with a test_decoding slot');
$pub->safe_psql('app', q{SELECT pg_drop_replication_slot('debug_slot')});

# the subscriber first: refused
psql_fails($sub, 'ALTER EXTENSION connector_uuid UPDATE',
	qr/the publisher of subscription "app_sub" has not been migrated yet.*has a key of type integer/s,
	'subscriber before its publisher');

# the publisher
my $plan = $pub->safe_psql('app', $allow . q{SELECT string_agg(statement, E'\n') FROM connector_uuid_plan() WHERE step = 0});
like($plan, qr/-- publisher: replication slot app_sub is inactive and its subscriber has confirmed every change/,
	'the publisher\'s plan says what it checked');
$pub->safe_psql('app', $allow . 'ALTER EXTENSION connector_uuid UPDATE');
is(version_of($pub, 'app'), '2.0', 'the publisher is at 2.0');

# the subscriber without the publisher's mapping: refused
psql_fails($sub, 'ALTER EXTENSION connector_uuid UPDATE',
	qr/the id mapping of public.mcp_connectors here differs from its publisher's.*Fingerprint here: none; at the publisher of subscription "app_sub": v4-[0-9a-f]{32}/s,
	'subscriber without the publisher\'s mapping');
like($sub->safe_psql('app', $our_row), qr/^f subscription app_sub: the id mapping here \(fingerprint none\) differs from the publisher's/,
	'verify on the subscriber fails in the window');

is(export_import('mcp_connectors'), $pub->safe_psql('app', $fp), 'imported: the subscriber has the publisher\'s fingerprint');
$plan = $sub->safe_psql('app', $allow . q{SELECT string_agg(statement, E'\n') FROM connector_uuid_plan() WHERE step = 0});
like($plan, qr/-- subscriber: subscription app_sub is disabled; its publisher is already uuid and has the same id mapping/,
	'the subscriber\'s plan says what it checked');
$sub->safe_psql('app', $allow . 'ALTER EXTENSION connector_uuid UPDATE');
is(version_of($sub, 'app'), '2.0', 'the subscriber is at 2.0');
$sub->safe_psql('app', 'ALTER SUBSCRIPTION app_sub ENABLE');

# writes at 2.0 replicate: new connectors (uuid defaults), a delete that cascades, an update
$pub->safe_psql('app', 'CALL app_writes(20)');
$pub->safe_psql('app', q{DELETE FROM mcp_connectors WHERE id = (SELECT connector_id FROM mcp_servers ORDER BY name LIMIT 1)});
$pub->safe_psql('app', q{UPDATE mcp_connectors SET description = 'edited at 2.0' WHERE name LIKE 'app-%'});
$pub->wait_for_catchup('app_sub');
same_rows('after the upgrade on both sides and writes at 2.0');
is(column_types($sub, 'app'),
	'connector_access.connector_id uuid, mcp_connectors.id uuid, mcp_servers.connector_id uuid',
	'the subscriber has uuid columns');
is($sub->safe_psql('app', q{SELECT count(*) FROM mcp_connectors WHERE description = 'edited at 2.0'}), '173',
	'the update at 2.0 reached every connector the application made (150 + 3 + 20)');
verify_ok($_, 'app', $_->name . ' at 2.0') for ($pub, $sub);
like($sub->safe_psql('app', $our_row), qr/^t subscription app_sub: fingerprint v4-[0-9a-f]{32}, the same as the publisher's \(its key is uuid\)/,
	'verify on the subscriber compared its mapping with the publisher\'s');
my $ids = q{SELECT md5(string_agg(old_id || '>' || new_id, ',' ORDER BY new_id)) FROM connector_uuid_ids('mcp_connectors')};
is($sub->safe_psql('app', $ids), $pub->safe_psql('app', $ids), 'both sides translate every old id to the same uuid');

# ---- the general engine: orders and its two referencing tables -------------
disable_subscription();
$pub->safe_psql('app', $allow . q{SELECT connector_uuid_convert('orders')});
export_import('orders');
$sub->safe_psql('app', $allow . q{SELECT connector_uuid_convert('orders')});
$sub->safe_psql('app', 'ALTER SUBSCRIPTION app_sub ENABLE');
$pub->safe_psql('app', 'CALL app_writes(5)');
$pub->safe_psql('app', q{INSERT INTO order_lines (order_id, qty) SELECT id, 7 FROM orders WHERE note LIKE 'live-%'});
$pub->safe_psql('app', q{DELETE FROM orders WHERE note = 'o1'});
$pub->wait_for_catchup('app_sub');
same_rows('orders converted on both sides');
is($sub->safe_psql('app', q{SELECT pg_typeof(id) FROM orders LIMIT 1}), 'uuid', 'orders.id is uuid on the subscriber');
is($sub->safe_psql('app', q{SELECT connector_uuid_fingerprint('orders')}), $pub->safe_psql('app', q{SELECT connector_uuid_fingerprint('orders')}),
	'orders: the same fingerprint on both sides');
is($sub->safe_psql('app', q{SELECT count(*) FROM order_lines l JOIN orders o ON o.id = l.order_id}),
	$pub->safe_psql('app', q{SELECT count(*) FROM order_lines}), 'every order line still finds its order on the subscriber');

# ---- the rollback ----------------------------------------------------------
disable_subscription();
psql_fails($sub, q{ALTER EXTENSION connector_uuid UPDATE TO '1.0'}, qr/has not been migrated yet.*has a key of type uuid/s,
	'rollback: the subscriber before its publisher');
$pub->safe_psql('app', $allow . q{ALTER EXTENSION connector_uuid UPDATE TO '1.0'});
$pub->safe_psql('app', $allow . q{SELECT connector_uuid_revert('orders')});
# the connectors made at 2.0 got new integers on the publisher: the subscriber must give the same
psql_fails($sub, q{ALTER EXTENSION connector_uuid UPDATE TO '1.0'},
	qr/the id mapping of public.mcp_connectors here differs from its publisher's/,
	'rollback: the subscriber without the integers the publisher gave the connectors made at 2.0');
export_import('mcp_connectors');
export_import('orders');
$sub->safe_psql('app', $allow . q{ALTER EXTENSION connector_uuid UPDATE TO '1.0'});
$sub->safe_psql('app', $allow . q{SELECT connector_uuid_revert('orders')});
$sub->safe_psql('app', 'ALTER SUBSCRIPTION app_sub ENABLE');
$pub->safe_psql('app', 'CALL app_writes(10)');
$pub->wait_for_catchup('app_sub');
same_rows('after the rollback on both sides and writes at 1.0');
is(column_types($sub, 'app'),
	'connector_access.connector_id integer, mcp_connectors.id integer, mcp_servers.connector_id integer',
	'the subscriber has integer columns again');
verify_ok($pub, 'app', 'the publisher at 1.0');
# sequences are not replicated: the subscriber's lags behind the ids it received
is(failed_checks($sub, 'app', 1) =~ s/new connectors get sequence-generated ids: sequence public.mcp_connectors_id_seq is at \d+, behind max\(id\) \d+; fix: SELECT setval\('public.mcp_connectors_id_seq', \d+\)//r,
	'', 'on the subscriber at 1.0 only its sequence (not replicated) fails verify');
like($sub->safe_psql('app', $our_row), qr/^t subscription app_sub: fingerprint v4-[0-9a-f]{32}, the same as the publisher's \(its key is integer\)/,
	'verify on the subscriber at 1.0: the same mapping');

# ---- a subscriber converted with another key -------------------------------
$sub->safe_psql('app', 'DROP SUBSCRIPTION app_sub');
$sub->safe_psql('app', q{DELETE FROM connector_uuid_map WHERE table_id = (SELECT table_id FROM connector_uuid_tables WHERE table_name = 'mcp_connectors');
	DELETE FROM connector_uuid_tables WHERE table_name = 'mcp_connectors'});
$sub->safe_psql('app', 'ALTER EXTENSION connector_uuid UPDATE');
$pub->safe_psql('app', $allow . 'ALTER EXTENSION connector_uuid UPDATE');
$sub->safe_psql('app', "CREATE SUBSCRIPTION app_sub2 CONNECTION '$pubconn' PUBLICATION app_pub WITH (copy_data = false, enabled = false)");
isnt($sub->safe_psql('app', $fp), $pub->safe_psql('app', $fp), 'another key: another fingerprint');
my $first = q{SELECT id FROM mcp_connectors WHERE name = (SELECT min(name) FROM mcp_connectors)};
isnt($sub->safe_psql('app', $first), $pub->safe_psql('app', $first), 'and indeed other uuids for the same connector');
like($sub->safe_psql('app', $our_row),
	qr/^f subscription app_sub2: the id mapping here \(fingerprint v4-[0-9a-f]{32}\) differs from the publisher's \(v4-[0-9a-f]{32}, its key is uuid\)/,
	'verify on the subscriber fails, naming both fingerprints');
($ret, $out, $err) = $sub->psql('app', 'SELECT connector_uuid_verify(strict => true)');
like($err, qr/same ids as the publisher/, 'and verify(strict => true) raises it');

# ---- the subscriber's copy made again at uuid, with the publisher's mapping --
# (as for a subscriber created after the publisher's conversion): the
# export carries the registry's facts, so the copy also rolls back in step
$sub->safe_psql('app', 'DROP SUBSCRIPTION app_sub2');
$sub->safe_psql('app', 'TRUNCATE mcp_connectors, connector_access, mcp_servers, orders, order_lines, shipments');
my $export = $pub->safe_psql('app', q{SELECT connector_uuid_export('mcp_connectors')});
($ret, $out, $err) = $sub->psql('app', "SELECT connector_uuid_import('mcp_connectors', \$e\$$export\$e\$)");
like($err, qr/was converted here with another id mapping than the export's/, 'the copy\'s own mapping is not replaced silently');
is($sub->safe_psql('app', "SELECT connector_uuid_import('mcp_connectors', \$e\$$export\$e\$, replace => true)"),
	$pub->safe_psql('app', $fp), 'emptied, the copy takes the publisher\'s mapping with replace => true');
$sub->safe_psql('app', "CREATE SUBSCRIPTION app_sub3 CONNECTION '$pubconn' PUBLICATION app_pub");
$sub->poll_query_until('app', q{SELECT count(*) = 6 AND bool_and(srsubstate = 'r') FROM pg_subscription_rel})
  or die 'the initial copy did not finish';
$pub->wait_for_catchup('app_sub3');
same_rows('copied again at uuid');
like($sub->safe_psql('app', $our_row), qr/^t subscription app_sub3: fingerprint v4-[0-9a-f]{32}, the same as the publisher's/,
	'the copy has the publisher\'s mapping');
$pub->safe_psql('app', 'CALL app_writes(5)');
disable_subscription('app', 'app_sub3');
$pub->safe_psql('app', $allow . q{ALTER EXTENSION connector_uuid UPDATE TO '1.0'});
export_import('mcp_connectors');
$sub->safe_psql('app', $allow . q{ALTER EXTENSION connector_uuid UPDATE TO '1.0'});
$sub->safe_psql('app', 'ALTER SUBSCRIPTION app_sub3 ENABLE');
$pub->safe_psql('app', 'CALL app_writes(3)');
$pub->wait_for_catchup('app_sub3');
same_rows('the copy rolled back with its publisher');
is(column_types($sub, 'app'),
	'connector_access.connector_id integer, mcp_connectors.id integer, mcp_servers.connector_id integer',
	'the copy is integer again, from the publisher\'s registry facts');
is($sub->safe_psql('app', q{SELECT pg_get_expr(adbin, adrelid) FROM pg_attrdef WHERE adrelid = 'mcp_connectors'::regclass AND adnum = 1}),
	q{nextval('mcp_connectors_id_seq'::regclass)}, 'and its key has its serial default back');

# ---- the online mode on both sides -----------------------------------------
# the subscriber is prepared first (its twin columns exist before the
# publisher sends them), the publisher last with the subscriber's mapping;
# then the swap on both in one short window, and finalize the same way
load_app($_, 'live', 2000) for ($pub, $sub);
$pub->safe_psql('live', $app_writes . q{
	CREATE PUBLICATION live_pub FOR TABLE mcp_connectors, connector_access, mcp_servers;});
$sub->safe_psql('live', 'TRUNCATE mcp_connectors, connector_access, mcp_servers');
my $liveconn = $pub->connstr() . ' dbname=live';
$sub->safe_psql('live', "CREATE SUBSCRIPTION live_sub CONNECTION '$liveconn' PUBLICATION live_pub");
$sub->poll_query_until('live', q{SELECT count(*) = 3 AND bool_and(srsubstate = 'r') FROM pg_subscription_rel})
  or die 'the initial copy did not finish';
$pub->wait_for_catchup('live_sub');
my $prepare = $allow . 'SET connector_uuid.lock_timeout = 0; CALL connector_uuid_prepare()';

$writer = start_sql($pub, 'live', 'CALL app_writes(400)');
($ret, $out, $err) = $pub->psql('live', 'CALL connector_uuid_prepare()');
like($err, qr/ERROR:  table "mcp_connectors" or a table referencing it is in logical replication/,
	'online: prepare refuses replicated tables without allow_replicated');
($ret, $out, $err) = $pub->psql('live', $prepare);
like($err, qr/ERROR:  the publisher of public.mcp_connectors has no id mapping for it, and its subscribers are prepared first/,
	'online: the publisher is not prepared before its subscribers');
$sub->safe_psql('live', $prepare);
is($sub->safe_psql('live', q{SELECT string_agg(DISTINCT phase, ',') FROM connector_uuid_progress}), 'prepared',
	'online: the subscriber is prepared while the publisher writes and it applies');
export_import('mcp_connectors', 'live', $sub, $pub);
$pub->safe_psql('live', $prepare);
is($pub->safe_psql('live', q{SELECT string_agg(DISTINCT phase, ',') FROM connector_uuid_progress}), 'prepared',
	'online: the publisher is prepared with the subscriber\'s mapping');
is(finish_sql($writer), 0, 'online: the application wrote 400 connectors meanwhile') or diag $writer->{err};
$pub->wait_for_catchup('live_sub');
is(fingerprint($sub, 'live'), fingerprint($pub, 'live'),
	'online: both sides hold the same rows, twin columns included');
is($sub->safe_psql('live', q{SELECT count(*) FROM mcp_connectors WHERE id_uuid IS NULL}), '0',
	'online: every connector on the subscriber has its twin');

# the window: writes stopped, the subscription disabled, swap on both
disable_subscription('live', 'live_sub');
$pub->safe_psql('live', $allow . 'ALTER EXTENSION connector_uuid UPDATE');
$sub->safe_psql('live', $allow . 'ALTER EXTENSION connector_uuid UPDATE');
$sub->safe_psql('live', 'ALTER SUBSCRIPTION live_sub ENABLE');
$pub->safe_psql('live', 'CALL app_writes(25)');
$pub->safe_psql('live', q{DELETE FROM mcp_connectors WHERE id = (SELECT connector_id FROM mcp_servers ORDER BY name LIMIT 1)});
$pub->wait_for_catchup('live_sub');
is(fingerprint($sub, 'live'), fingerprint($pub, 'live'), 'online: swapped on both sides, writes at 2.0 replicate');
is(column_types($sub, 'live'),
	'connector_access.connector_id uuid, mcp_connectors.id uuid, mcp_servers.connector_id uuid',
	'online: the subscriber\'s columns are uuid');
verify_ok($_, 'live', 'online, swapped: ' . $_->name) for ($pub, $sub);

# the swap back on both, and the swap again: catalog only, every id kept
disable_subscription('live', 'live_sub');
$_->safe_psql('live', $allow . q{ALTER EXTENSION connector_uuid UPDATE TO '1.0'}) for ($pub, $sub);
$sub->safe_psql('live', 'ALTER SUBSCRIPTION live_sub ENABLE');
$pub->safe_psql('live', 'CALL app_writes(7)');
$pub->wait_for_catchup('live_sub');
is(fingerprint($sub, 'live'), fingerprint($pub, 'live'), 'online: swapped back on both sides, writes at 1.0 replicate');
is(column_types($sub, 'live'),
	'connector_access.connector_id integer, mcp_connectors.id integer, mcp_servers.connector_id integer',
	'online: the subscriber\'s columns are integer again');
disable_subscription('live', 'live_sub');
$_->safe_psql('live', $allow . 'ALTER EXTENSION connector_uuid UPDATE') for ($pub, $sub);
$sub->safe_psql('live', 'ALTER SUBSCRIPTION live_sub ENABLE');
$pub->safe_psql('live', 'CALL app_writes(4)');
$pub->wait_for_catchup('live_sub');
is(fingerprint($sub, 'live'), fingerprint($pub, 'live'), 'online: swapped again on both sides, the same rows');

# finalize on both, in a window too
disable_subscription('live', 'live_sub');
$_->safe_psql('live', $allow . 'SELECT connector_uuid_finalize()') for ($pub, $sub);
$sub->safe_psql('live', 'ALTER SUBSCRIPTION live_sub ENABLE');
$pub->safe_psql('live', 'CALL app_writes(5)');
$pub->wait_for_catchup('live_sub');
is(fingerprint($sub, 'live'), fingerprint($pub, 'live'), 'online: finalized on both sides, the same rows');
verify_ok($_, 'live', 'online, finalized: ' . $_->name) for ($pub, $sub);

done_testing();
