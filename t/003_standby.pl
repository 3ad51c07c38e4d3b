# A streaming hot standby replays the upgrade and the downgrade, and the
# checklist passes there (connector_uuid_verify() writes nothing).
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
my $fp10 = fingerprint($primary, 'app');

$primary->backup('base');
my $standby = PostgreSQL::Test::Cluster->new('standby');
$standby->init_from_backup($primary, 'base', has_streaming => 1);
$standby->start;
$primary->wait_for_catchup($standby);

is($standby->safe_psql('app', 'SELECT pg_is_in_recovery()'), 't', 'the standby is in recovery');
verify_ok($standby, 'app', 'on the standby at 1.0');

$primary->safe_psql('app', 'ALTER EXTENSION connector_uuid UPDATE');
$primary->wait_for_catchup($standby);
is(version_of($standby, 'app'), '2.0', 'the standby replayed the upgrade');
is($standby->safe_psql('app', q{SELECT pg_typeof(id) FROM mcp_connectors LIMIT 1}), 'uuid',
	'the standby serves uuid ids');
verify_ok($standby, 'app', 'on the standby at 2.0');
is(fingerprint($standby, 'app'), fingerprint($primary, 'app'), 'standby and primary hold the same rows');

$primary->safe_psql('app', q{ALTER EXTENSION connector_uuid UPDATE TO '1.0'});
$primary->wait_for_catchup($standby);
is(version_of($standby, 'app'), '1.0', 'the standby replayed the downgrade');
is(fingerprint($standby, 'app'), $fp10, 'the standby has the original integer ids back');
verify_ok($standby, 'app', 'on the standby after the downgrade');

# a migration cannot run on the standby: read-only, nothing attempted
my ($ret, $out, $err) = $standby->psql('app', 'ALTER EXTENSION connector_uuid UPDATE');
isnt($ret, 0, 'the upgrade is refused on a standby');
like($err, qr/read-only transaction/, 'because the standby is read-only');

$standby->stop;
$primary->stop;
done_testing();
