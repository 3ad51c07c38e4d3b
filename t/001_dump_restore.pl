# Dump and restore at both versions; DROP EXTENSION leaves the application.
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

load_app($node, 'app', 2000);
my $fp10 = fingerprint($node, 'app');
$node->safe_psql('app', 'ALTER EXTENSION connector_uuid UPDATE');
my $fp20 = fingerprint($node, 'app');
my $mapped = $node->safe_psql('app', 'SELECT count(*) FROM connector_uuid_map');
my $tmp = PostgreSQL::Test::Utils::tempdir;

# a dump taken at 2.0
$node->command_ok([ 'pg_dump', '-Fc', '-f', "$tmp/at20.dump", '-d', $node->connstr('app') ],
	'pg_dump at 2.0');
$node->safe_psql('postgres', 'CREATE DATABASE r20');
$node->command_ok([ 'pg_restore', '-d', $node->connstr('r20'), "$tmp/at20.dump" ],
	'pg_restore of the 2.0 dump');
is(version_of($node, 'r20'), '2.0', 'restored at 2.0');
verify_ok($node, 'r20', 'restored at 2.0');
is($node->safe_psql('r20', 'SELECT count(*) FROM connector_uuid_map'), $mapped, 'the id map came along');
is(fingerprint($node, 'r20'), $fp20, 'the restored database is identical');
$node->safe_psql('r20', q{ALTER EXTENSION connector_uuid UPDATE TO '1.0'});
is(fingerprint($node, 'r20'), $fp10, 'downgrade after restore: the original integer ids, exactly');
verify_ok($node, 'r20', 'downgraded after restore');

# a dump taken at 1.0 (after a round trip: the map is in it)
$node->safe_psql('app', q{ALTER EXTENSION connector_uuid UPDATE TO '1.0'});
is(fingerprint($node, 'app'), $fp10, 'round trip in the original database');
$node->command_ok([ 'pg_dump', '-Fc', '-f', "$tmp/at10.dump", '-d', $node->connstr('app') ],
	'pg_dump at 1.0');
$node->safe_psql('postgres', 'CREATE DATABASE r10');
$node->command_ok([ 'pg_restore', '-d', $node->connstr('r10'), "$tmp/at10.dump" ],
	'pg_restore of the 1.0 dump');
# pg_dump writes CREATE EXTENSION without a version: the restore says 2.0
is(version_of($node, 'r10'), '2.0', 'restored at the default version');
my ($passed, $detail) = split /\|/, $node->safe_psql('r10',
	q{SELECT passed, detail FROM connector_uuid_verify() WHERE item = 'extension version matches the tables'});
is($passed, 'f', 'verify says the version disagrees with the tables');
like($detail, qr/ALTER EXTENSION connector_uuid UPDATE TO '1.0'/, 'and names the fix');
my ($ret, $stdout, $stderr) = $node->psql('r10', 'SELECT * FROM connector_uuid_verify(strict => true)');
isnt($ret, 0, 'strict verify fails on the mismatch');
$node->safe_psql('r10', q{ALTER EXTENSION connector_uuid UPDATE TO '1.0'});
is(fingerprint($node, 'r10'), $fp10, 'the fix changes no row');
verify_ok($node, 'r10', 'after the fix');
$node->safe_psql('r10', 'ALTER EXTENSION connector_uuid UPDATE');
verify_ok($node, 'r10', 'upgraded after the fix');
is($node->safe_psql('r10', q{SELECT count(*) FROM mcp_connectors c JOIN connector_uuid_map m ON m.new_id = c.id}),
	$node->safe_psql('r10', 'SELECT count(*) FROM mcp_connectors'),
	'every connector got the uuid of the map restored with the dump');
$node->safe_psql('r10', q{ALTER EXTENSION connector_uuid UPDATE TO '1.0'});
is(fingerprint($node, 'r10'), $fp10, 'and the rollback is exact');

# DROP EXTENSION after an upgrade leaves every application object
$node->safe_psql('app', 'ALTER EXTENSION connector_uuid UPDATE');
my $objects = q{SELECT string_agg(relname || ':' || relkind::text, ',' ORDER BY relname) FROM pg_class
	WHERE relnamespace = 'public'::regnamespace AND relname NOT LIKE 'connector\_uuid\_%'};
my $before = $node->safe_psql('app', $objects);
$node->safe_psql('app', 'DROP EXTENSION connector_uuid');
is($node->safe_psql('app', $objects), $before, 'DROP EXTENSION leaves every table, view, index and sequence');

$node->stop;
done_testing();
