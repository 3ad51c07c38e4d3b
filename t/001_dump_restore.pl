# Dump and restore at both versions; DROP EXTENSION leaves the application.
#
# pg_dump writes CREATE EXTENSION connector_uuid without a version, before
# the tables: the restore installs 2.0, whose script finds no tables yet and
# does nothing; the extension's configuration tables (the id map with its
# key) come back with their rows.  So:
#  (a) a dump taken at 2.0 restores at 2.0, consistent, and the rollback in
#      the restored database gives the exact original integer ids;
#  (b) a dump taken at 1.0 restores with the version saying 2.0 over integer
#      tables: verify names the mismatch and the fix, and after the fix the
#      migration works (with the uuids of the original database, when the
#      dump carried its id map);
#  (c) DROP EXTENSION after an upgrade leaves every application object.
use strict;
use warnings;

use FindBin;
use lib $FindBin::RealBin;
use CuTest;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $node = PostgreSQL::Test::Cluster->new('main');
$node->init;
$node->append_conf('postgresql.conf', "connector_uuid.progress = off\n");
$node->start;
my $tmp = PostgreSQL::Test::Utils::tempdir;

my $scale = 2000;
load_app($node, 'app', $scale);
my $fp10 = fingerprint($node, 'app', sequence => 1);
my $connectors = $node->safe_psql('app', 'SELECT count(*) FROM mcp_connectors');
my $orig_connectors = $node->safe_psql('app',
	q{SELECT md5(string_agg(t::text, '|' ORDER BY t.id)) FROM mcp_connectors t});

$node->safe_psql('app', 'ALTER EXTENSION connector_uuid UPDATE');
my $fp20 = fingerprint($node, 'app', sequence => 1);
my $map_sql = q{SELECT count(*) || ' ' || coalesce(md5(string_agg(table_id || ':' || old_id || '>' || new_id || ':' || derived, ','
                                                         ORDER BY table_id, old_id)), '-')
                FROM connector_uuid_map};
my $map = $node->safe_psql('app', $map_sql);
my $registry_sql = q{SELECT md5(string_agg(t::text, '|' ORDER BY table_id)) FROM connector_uuid_tables t};
my $registry = $node->safe_psql('app', $registry_sql);
is((split / /, $map)[0], '0', 'the id map holds no pair (the key derives them all)');
# the ids: old -> new, as the translation says and the tables have them
my $ids_sql = q{SELECT count(*) || ' ' || md5(string_agg(m.old_id || '>' || c.id || ' ' || c.name, ',' ORDER BY m.old_id))
                FROM mcp_connectors c JOIN connector_uuid_ids('mcp_connectors') m ON m.new_id = c.id};
my $ids = $node->safe_psql('app', $ids_sql);
is((split / /, $ids)[0], $connectors, 'the translation has every connector with its old id');

sub dump_db
{
	my ($db, $file, $format) = @_;
	$node->command_ok(
		[ 'pg_dump', "-F$format", '-f', "$tmp/$file", '-d', $node->connstr($db) ],
		"pg_dump of $db ($file)");
	return;
}

sub restore_db
{
	my ($db, $file, $format) = @_;
	$node->safe_psql('postgres', qq{CREATE DATABASE "$db"});
	if ($format eq 'p')
	{
		$node->command_ok(
			[ 'psql', '-X', '-q', '-v', 'ON_ERROR_STOP=1', '-d', $node->connstr($db), '-f', "$tmp/$file" ],
			"psql restores $file into $db");
	}
	else
	{
		$node->command_ok(
			[ 'pg_restore', '--exit-on-error', '-d', $node->connstr($db), "$tmp/$file" ],
			"pg_restore restores $file into $db");
	}
	return;
}

sub mismatch_reported
{
	my ($db) = @_;
	my ($passed, $detail) = split /\|/, $node->safe_psql($db,
		q{SELECT passed, detail FROM connector_uuid_verify() WHERE item = 'extension version matches the tables'}), 2;
	is($passed, 'f', "$db: verify says the version disagrees with the tables");
	like($detail, qr/ALTER EXTENSION connector_uuid UPDATE TO '1\.0'/, "$db: and names the fix");
	my ($ret, $out, $err) = $node->psql($db, 'SELECT * FROM connector_uuid_verify(strict => true)');
	isnt($ret, 0, "$db: verify(strict => true) fails on the mismatch");
	like($err, qr/connector_uuid verification failed: .*extension version matches the tables/s,
		"$db: naming the failed check");
	return;
}

# --- (a) a dump taken at 2.0 ---------------------------------------------

dump_db('app', 'at20.dump', 'c');
restore_db('r20', 'at20.dump', 'c');
is(version_of($node, 'r20'), '2.0', 'r20: restored at 2.0');
verify_ok($node, 'r20', 'r20, restored at 2.0');
is($node->safe_psql('r20', $map_sql), $map, 'r20: the id map came along, row for row');
is($node->safe_psql('r20', $registry_sql), $registry, 'r20: and its key with it');
is($node->safe_psql('r20', $ids_sql), $ids, 'r20: every connector has the uuid of the original database');
is(fingerprint($node, 'r20', sequence => 1), $fp20, 'r20: the restored database is identical');
$node->safe_psql('r20', q{ALTER EXTENSION connector_uuid UPDATE TO '1.0'});
is(version_of($node, 'r20'), '1.0', 'r20: downgraded');
is(fingerprint($node, 'r20', sequence => 1), $fp10,
	'r20: downgrade after restore: the original integer ids (and sequence), exactly');
verify_ok($node, 'r20', 'r20, downgraded after restore');
$node->safe_psql('r20', 'ALTER EXTENSION connector_uuid UPDATE');
is(fingerprint($node, 'r20', sequence => 1), $fp20, 'r20: upgraded again: the same uuids as before');

# --- (b) a dump taken at 1.0, after a round trip: the map is in it -------

$node->safe_psql('app', q{ALTER EXTENSION connector_uuid UPDATE TO '1.0'});
is(fingerprint($node, 'app', sequence => 1), $fp10, 'app: round trip in the original database');
dump_db('app', 'at10.dump', 'c');
restore_db('r10', 'at10.dump', 'c');
is(version_of($node, 'r10'), '2.0', 'r10: restored at the default version, 2.0');
is(column_types($node, 'r10'),
	'connector_access.connector_id integer, mcp_connectors.id integer, mcp_servers.connector_id integer',
	'r10: over integer tables');
is(fingerprint($node, 'r10', sequence => 1), $fp10, 'r10: the restored tables are the original ones');
mismatch_reported('r10');
$node->safe_psql('r10', q{ALTER EXTENSION connector_uuid UPDATE TO '1.0'});
is(version_of($node, 'r10'), '1.0', 'r10: the fix records 1.0');
is(fingerprint($node, 'r10', sequence => 1), $fp10, 'r10: the fix changes no row');
verify_ok($node, 'r10', 'r10, after the fix');
$node->safe_psql('r10', 'ALTER EXTENSION connector_uuid UPDATE');
is(version_of($node, 'r10'), '2.0', 'r10: then the upgrade works');
verify_ok($node, 'r10', 'r10, upgraded after the fix');
is(fingerprint($node, 'r10', sequence => 1), $fp20,
	'r10: with the uuids of the original database (the map and key came with the dump)');
$node->safe_psql('r10', q{ALTER EXTENSION connector_uuid UPDATE TO '1.0'});
is(fingerprint($node, 'r10', sequence => 1), $fp10, 'r10: and the rollback is exact');

# --- (b) a dump taken at 1.0 of a database never upgraded (plain format) --

load_app($node, 'fresh', 500);
my $fp_fresh = fingerprint($node, 'fresh', sequence => 1);
dump_db('fresh', 'fresh10.sql', 'p');
restore_db('rfresh', 'fresh10.sql', 'p');
is(version_of($node, 'rfresh'), '2.0', 'rfresh: restored at the default version, 2.0');
is(fingerprint($node, 'rfresh', sequence => 1), $fp_fresh, 'rfresh: the restored tables are the original ones');
mismatch_reported('rfresh');
$node->safe_psql('rfresh', q{ALTER EXTENSION connector_uuid UPDATE TO '1.0'});
is(fingerprint($node, 'rfresh', sequence => 1), $fp_fresh, 'rfresh: the fix changes no row');
verify_ok($node, 'rfresh', 'rfresh, after the fix');
$node->safe_psql('rfresh', 'ALTER EXTENSION connector_uuid UPDATE');
is(column_types($node, 'rfresh'),
	'connector_access.connector_id uuid, mcp_connectors.id uuid, mcp_servers.connector_id uuid',
	'rfresh: the upgrade migrates the tables');
verify_ok($node, 'rfresh', 'rfresh, upgraded after the fix');
$node->safe_psql('rfresh', q{ALTER EXTENSION connector_uuid UPDATE TO '1.0'});
is(fingerprint($node, 'rfresh', sequence => 1), $fp_fresh, 'rfresh: and the rollback is exact');

# --- (a) a dump taken at 2.0 with connectors born at 2.0 ------------------

$node->safe_psql('app', 'ALTER EXTENSION connector_uuid UPDATE');
is(fingerprint($node, 'app', sequence => 1), $fp20, 'app: upgraded again, the same uuids');
$node->safe_psql(
	'app', q{
	INSERT INTO mcp_connectors (name, url, secret)
	SELECT 'born ' || i, 'https://born' || i || '.example.com', jsonb_build_object('token', 'born' || i)
	FROM generate_series(1, 5) i;
	INSERT INTO connector_access (connector_id, user_id)
	SELECT c.id, md5('user7')::uuid FROM mcp_connectors c WHERE c.name LIKE 'born %';
	INSERT INTO mcp_servers (id, connector_id, name)
	SELECT gen_random_uuid(), c.id, 'born server ' || c.name FROM mcp_connectors c WHERE c.name LIKE 'born %';});
my $fp20b = fingerprint($node, 'app', sequence => 1);
my $fp20b_rows = fingerprint($node, 'app');
dump_db('app', 'at20b.dump', 'c');
restore_db('r20b', 'at20b.dump', 'c');
is(fingerprint($node, 'r20b', sequence => 1), $fp20b, 'r20b: restored identical, with the connectors born at 2.0');
verify_ok($node, 'r20b', 'r20b, restored at 2.0');
$node->safe_psql('r20b', q{ALTER EXTENSION connector_uuid UPDATE TO '1.0'});
is( $node->safe_psql(
		'r20b', qq{SELECT md5(string_agg(t::text, '|' ORDER BY t.id)) FROM mcp_connectors t WHERE id <= $scale}),
	$orig_connectors, 'r20b: downgraded, every original connector has its original integer id');
is( $node->safe_psql(
		'r20b', qq{SELECT count(*) || ' ' || count(DISTINCT id) || ' ' || bool_and(id > $scale)
		           FROM mcp_connectors WHERE name LIKE 'born %'}),
	'5 5 true', 'r20b: those born at 2.0 got new integers past the old ones');
is( $node->safe_psql(
		'r20b', q{SELECT count(*) FROM connector_access a JOIN mcp_connectors c ON c.id = a.connector_id
		          JOIN mcp_servers s ON s.connector_id = c.id WHERE c.name LIKE 'born %'}),
	'5', 'r20b: with their grants and servers');
verify_ok($node, 'r20b', 'r20b, downgraded');
$node->safe_psql('r20b', 'ALTER EXTENSION connector_uuid UPDATE');
# (the serial sequence stays past the integers the downgrade handed out)
is(fingerprint($node, 'r20b'), $fp20b_rows,
	'r20b: upgraded again, every connector (born at 2.0 too) has the uuid it had');

# --- (c) DROP EXTENSION leaves every application object ------------------

sub drop_leaves_app
{
	my ($db, $drop) = @_;
	my $before = app_objects($node, $db);
	my $data = fingerprint($node, $db, sequence => 1);
	$node->safe_psql($db, $drop);
	is($node->safe_psql($db, q{SELECT count(*) FROM pg_extension WHERE extname = 'connector_uuid'}),
		'0', "$db: $drop");
	is(app_objects($node, $db), $before,
		"$db: every table, view, index, sequence, constraint, trigger and default is still there");
	is(fingerprint($node, $db, sequence => 1), $data, "$db: with every row as it was");
	note "$db: $before";
	return;
}

# after an upgrade (and connectors born at 2.0)
my $rels = $node->safe_psql('app',
	q{SELECT count(*) FROM pg_class WHERE relnamespace = 'public'::regnamespace AND relname NOT LIKE 'connector\_uuid\_%'});
drop_leaves_app('app', 'DROP EXTENSION connector_uuid');
is( $node->safe_psql(
		'app', q{SELECT count(*) FROM pg_class WHERE relnamespace = 'public'::regnamespace
		         AND relname NOT LIKE 'connector\_uuid\_%'}),
	$rels, "app: $rels application relations before and after");
# and the application still works without it
is( $node->safe_psql(
		'app', q{
		INSERT INTO mcp_connectors (name, url) VALUES ('after drop', 'https://x.example.com') RETURNING pg_typeof(id);
		}),
	'uuid', 'app: new connectors still get generated uuids');
is( $node->safe_psql(
		'app', q{
		WITH d AS (DELETE FROM mcp_connectors WHERE name = 'born 1' RETURNING id)
		SELECT 1;
		SELECT count(*) FROM connector_access a JOIN mcp_connectors c ON c.id = a.connector_id WHERE c.name = 'born 1';
		SELECT count(*) FROM mcp_servers WHERE name = 'born server born 1';
		SELECT count(*) > 0 FROM active_connectors;}),
	"1\n0\n0\nt", 'app: deleting a connector still cascades, and the view works');

# after a downgrade, with CASCADE (nothing of the application depends on it)
drop_leaves_app('r10', 'DROP EXTENSION connector_uuid CASCADE');
# after CREATE EXTENSION without a version migrated integer tables
$node->safe_psql('fresh', 'DROP EXTENSION connector_uuid');
$node->safe_psql('fresh', 'CREATE EXTENSION connector_uuid');
is(version_of($node, 'fresh'), '2.0', 'fresh: CREATE EXTENSION (2.0) on integer tables');
is(column_types($node, 'fresh'),
	'connector_access.connector_id uuid, mcp_connectors.id uuid, mcp_servers.connector_id uuid',
	'fresh: migrates them');
verify_ok($node, 'fresh', 'fresh, migrated by CREATE EXTENSION');
drop_leaves_app('fresh', 'DROP EXTENSION connector_uuid CASCADE');

# --- v5 ids are the same in two databases that never talked to each other -

for my $db ('dev', 'prod')
{
	$node->safe_psql('postgres', "CREATE DATABASE $db");
	$node->safe_psql(
		$db, q{
		CREATE EXTENSION "uuid-ossp";
		CREATE EXTENSION connector_uuid VERSION '1.0';
		CREATE TABLE orders (id integer GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY, note text);
		CREATE TABLE lines (id serial PRIMARY KEY, order_id integer REFERENCES orders);
		INSERT INTO orders (note) SELECT 'o' || i FROM generate_series(1, 500) i;
		INSERT INTO lines (order_id) SELECT 1 + i % 500 FROM generate_series(1, 1500) i;
		SELECT connector_uuid_convert('orders', strategy => 'v5');});
}
my $v5ids = q{SELECT md5(string_agg(id::text || note, ',' ORDER BY note)) FROM orders};
is($node->safe_psql('dev', $v5ids), $node->safe_psql('prod', $v5ids), 'v5: the same uuids in two databases');
$node->safe_psql('dev', q{SELECT connector_uuid_revert('orders')});
is( $node->safe_psql(
		'dev', q{SELECT attidentity FROM pg_attribute WHERE attrelid = 'orders'::regclass AND attname = 'id'}),
	'd', 'the revert restores GENERATED BY DEFAULT AS IDENTITY');
is($node->safe_psql('dev', q{SELECT min(id) || '-' || max(id) || '-' || count(*) FROM orders}),
	'1-500-500', 'with the original integers');
is($node->safe_psql('dev', q{INSERT INTO orders (note) VALUES ('new') RETURNING id}),
	'501', 'and the identity continues after them');

$node->stop;
done_testing();
