# A streaming hot standby replays the upgrade and the downgrade, and the
# checklist passes there: connector_uuid_verify() writes nothing, so it runs
# in a read-only transaction on the standby.
use strict;
use warnings;

use FindBin;
use lib $FindBin::RealBin;
use CuTest;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $primary = PostgreSQL::Test::Cluster->new('primary');
$primary->init(allows_streaming => 1);
$primary->append_conf('postgresql.conf', "connector_uuid.progress = off\n");
$primary->start;
load_app($primary, 'app', 5000);
my $fp10 = fingerprint($primary, 'app', sequence => 1);

$primary->backup('base');
my $standby = PostgreSQL::Test::Cluster->new('standby');
$standby->init_from_backup($primary, 'base', has_streaming => 1);
$standby->start;
$primary->wait_for_catchup($standby);

my $all_passed = 'SELECT bool_and(passed) FROM connector_uuid_verify()';
my ($ret, $out, $err);

is($standby->safe_psql('app', 'SELECT pg_is_in_recovery()'), 't', 'the standby is in recovery');
is($standby->safe_psql('app', $all_passed), 't', 'on the standby at 1.0: bool_and(passed) is true');
verify_ok($standby, 'app', 'on the standby at 1.0');

# the upgrade, replayed
$primary->safe_psql('app', 'ALTER EXTENSION connector_uuid UPDATE');
$primary->wait_for_catchup($standby);
is(version_of($standby, 'app'), '2.0', 'the standby replayed the upgrade');
is(column_types($standby, 'app'),
	'connector_access.connector_id uuid, mcp_connectors.id uuid, mcp_servers.connector_id uuid',
	'the standby has uuid columns');
is($standby->safe_psql('app', $all_passed), 't', 'on the standby at 2.0: bool_and(passed) is true');
is( $standby->safe_psql(
		'app', q{SELECT count(*) FROM connector_uuid_verify() WHERE passed AND (item LIKE '% is UUID' OR item LIKE '%auto-generated UUIDs')}),
	'4', 'the 2.0 checks (UUID columns and generated UUIDs) are the ones that ran');
verify_ok($standby, 'app', 'on the standby at 2.0');
is( $standby->safe_psql(
		'app', 'BEGIN TRANSACTION READ ONLY; SELECT bool_and(passed) FROM connector_uuid_verify(strict => true, thorough => true); COMMIT'),
	't', 'verify(strict, thorough) in an explicitly read-only transaction');
is(fingerprint($standby, 'app', sequence => 1), fingerprint($primary, 'app', sequence => 1),
	'standby and primary hold the same rows and schema');
my $translation = q{SELECT count(*) || ' ' || md5(string_agg(m.old_id || '>' || m.new_id, ',' ORDER BY m.old_id))
                     FROM connector_uuid_ids('mcp_connectors') m WHERE m.old_id IS NOT NULL};
is($standby->safe_psql('app', $translation), $primary->safe_psql('app', $translation),
	'the registry and key replayed too: the standby translates every id as the primary does');
is((split / /, $standby->safe_psql('app', $translation))[0],
	$standby->safe_psql('app', 'SELECT count(*) FROM mcp_connectors'), 'and that is every connector');

# the downgrade, replayed
$primary->safe_psql('app', q{ALTER EXTENSION connector_uuid UPDATE TO '1.0'});
$primary->wait_for_catchup($standby);
is(version_of($standby, 'app'), '1.0', 'the standby replayed the downgrade');
is(column_types($standby, 'app'),
	'connector_access.connector_id integer, mcp_connectors.id integer, mcp_servers.connector_id integer',
	'the standby has integer columns again');
is($standby->safe_psql('app', $all_passed), 't', 'on the standby after the downgrade: bool_and(passed) is true');
verify_ok($standby, 'app', 'on the standby after the downgrade');
is(fingerprint($standby, 'app', sequence => 1), $fp10, 'the standby has the original integer ids back, exactly');

# the other read-only functions work there too
($ret, $out, $err) = $standby->psql('app', 'SELECT count(*) > 0 FROM connector_uuid_plan()');
is($err, '', 'connector_uuid_plan() runs on the standby');
($ret, $out, $err) = $standby->psql('app', 'SELECT version, mapped_tables = 1 FROM connector_uuid_status()');
is($out, '1.0|t', 'connector_uuid_status() runs on the standby');

# a migration cannot run on the standby: refused, nothing attempted
($ret, $out, $err) = $standby->psql('app', 'ALTER EXTENSION connector_uuid UPDATE');
isnt($ret, 0, 'the upgrade is refused on a standby');
like($err, qr/read-only transaction/, 'because the standby is read-only');
is(version_of($standby, 'app'), '1.0', 'and the standby is still at 1.0');

# the standby follows a second round trip too (same uuids as the first)
$primary->safe_psql('app', 'ALTER EXTENSION connector_uuid UPDATE');
$primary->wait_for_catchup($standby);
is($standby->safe_psql('app', $all_passed), 't', 'on the standby after the second upgrade: all passed');
is(fingerprint($standby, 'app'), fingerprint($primary, 'app'), 'and it matches the primary');

$standby->stop;
$primary->stop;
done_testing();
