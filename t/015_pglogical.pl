# pglogical, where installed: a table of the connector migration in one of
# its replication sets (on the provider), or any pglogical subscription (on
# a subscriber), is detected and refused, with or without
# connector_uuid.allow_replicated (the procedure's checks read PostgreSQL's
# own logical replication only), and nothing changes; once the table is
# out of the set, the upgrade runs.
use strict;
use warnings;

use FindBin;
use lib $FindBin::RealBin;
use CuTest;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $node = PostgreSQL::Test::Cluster->new('provider');
my $libdir = `pg_config --pkglibdir`;
chomp $libdir;
plan skip_all => 'pglogical is not installed (postgresql-15-pglogical)'
  unless -f "$libdir/pglogical.so";

$node->init(allows_streaming => 'logical');
$node->append_conf('postgresql.conf', "shared_preload_libraries = 'pglogical'\nconnector_uuid.progress = off\n");
$node->start;
load_app($node, 'app', 500);
my $before = fingerprint($node, 'app', sequence => 1);
my $dsn = $node->connstr() . ' dbname=app';
$node->safe_psql('app', qq{
	CREATE EXTENSION pglogical;
	SELECT pglogical.create_node(node_name := 'provider', dsn := '$dsn');
	SELECT pglogical.replication_set_add_table('default', 'mcp_servers');
});

for my $allow ('off', 'on')
{
	my ($ret, $out, $err) = $node->psql('app',
		"SET connector_uuid.allow_replicated = $allow; ALTER EXTENSION connector_uuid UPDATE");
	isnt($ret, 0, "allow_replicated = $allow: the upgrade is refused");
	like($err, qr/ERROR:  table "mcp_connectors" or a table referencing it is replicated by pglogical \(replication set "?default"?\)/,
		"allow_replicated = $allow: the error names pglogical's replication set");
	like($err, qr/HINT:  Remove the tables from the replication sets/, "allow_replicated = $allow: the hint says what to do");
}
is(version_of($node, 'app'), '1.0', 'still at 1.0');
is(fingerprint($node, 'app', sequence => 1), $before, 'nothing changed');

# a pglogical subscriber is detected too: which tables a subscription
# carries only its provider knows, so any pglogical subscription counts
# (whether or not its apply runs: it need not, for this check)
my $subnode = PostgreSQL::Test::Cluster->new('pglogical_subscriber');
$subnode->init(allows_streaming => 'logical');
$subnode->append_conf('postgresql.conf', "shared_preload_libraries = 'pglogical'\nconnector_uuid.progress = off\n");
$subnode->start;
load_app($subnode, 'app', 500);
$subnode->safe_psql('app', 'TRUNCATE mcp_servers');
my $subdsn = $subnode->connstr() . ' dbname=app';
$subnode->safe_psql('app', qq{
	CREATE EXTENSION pglogical;
	SELECT pglogical.create_node(node_name := 'subscriber', dsn := '$subdsn');
	SELECT pglogical.create_subscription(subscription_name := 'pgl_sub', provider_dsn := '$dsn',
	                                     replication_sets := ARRAY['default'], synchronize_structure := false,
	                                     synchronize_data := false);
});
my $sub_before = fingerprint($subnode, 'app', sequence => 1);
my ($sret, $sout, $serr) = $subnode->psql('app',
	'SET connector_uuid.allow_replicated = on; ALTER EXTENSION connector_uuid UPDATE');
isnt($sret, 0, 'the pglogical subscriber: the upgrade is refused');
like($serr, qr/is replicated by pglogical \(subscription "?pgl_sub"?\)/, 'the pglogical subscriber: the error names the subscription');
is(fingerprint($subnode, 'app', sequence => 1), $sub_before, 'the pglogical subscriber: nothing changed');
$subnode->safe_psql('app', q{SELECT pglogical.drop_subscription('pgl_sub')});
$subnode->stop;

$node->safe_psql('app', q{SELECT pglogical.replication_set_remove_table('default', 'mcp_servers')});
$node->safe_psql('app', 'ALTER EXTENSION connector_uuid UPDATE');
is(version_of($node, 'app'), '2.0', 'out of the replication set, the upgrade runs');
verify_ok($node, 'app', 'at 2.0 beside pglogical');

done_testing();
