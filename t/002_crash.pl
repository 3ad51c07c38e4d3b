# Crashes (kill -9 of the migrating backend, immediate shutdown) at several
# points of the upgrade and of the downgrade: after restart the database is
# at exactly the old version, every row and link as before, the checklist
# passes, and running the migration again succeeds.
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
$node->append_conf('postgresql.conf', "connector_uuid.progress = log\nrestart_after_crash = on\n");
$node->start;

# large enough that a table rewrite takes a noticeable time
load_app($node, 'app', 150000);
my $fp10 = fingerprint($node, 'app');

# Hold a lock on one of the extension's tables in an open transaction, so
# the migration stops at the step that writes it.
sub blocker
{
	my ($table) = @_;
	my ($in, $out) = ("BEGIN; LOCK TABLE $table IN ACCESS EXCLUSIVE MODE;\n", '');
	my $h = IPC::Run::start([ 'psql', '-X', '-d', $node->connstr('app') ], '<', \$in, '>', \$out, '2>', \$out);
	# hand psql its input, keeping its stdin open (the transaction with it)
	$h->pump while length $in;
	# wait until the lock is granted
	$node->poll_query_until('app',
		qq{SELECT count(*) > 0 FROM pg_locks WHERE relation = '$table'::regclass AND granted AND mode = 'AccessExclusiveLock'})
	  or die "blocker did not get its lock";
	return $h;
}

# Run $sql in the background, wait for a backend to reach $like, crash it
# (kill -9, or an immediate shutdown), restart, and check nothing changed.
sub crash_at
{
	my (%a) = @_;
	my $blocker = $a{block} ? blocker($a{block}) : undef;
	my ($h) = start_migration($node, 'app', $a{sql});
	my $pid = wait_for_step($node, 'app', $a{like});
	if ($a{how} eq 'immediate')
	{
		$node->stop('immediate');
		$h->finish;
		$blocker->kill_kill if $blocker;
		$node->start;
	}
	else
	{
		kill 'KILL', $pid;
		$h->finish;
		$blocker->kill_kill if $blocker;
		$node->poll_query_until('app', 'SELECT true') or die "server did not come back";
	}
	is(version_of($node, 'app'), $a{version}, "$a{name}: still at $a{version}");
	is(fingerprint($node, 'app'), $a{fp}, "$a{name}: every row, link, index and constraint as before");
	verify_ok($node, 'app', $a{name});
	return;
}

my $up = 'ALTER EXTENSION connector_uuid UPDATE';
my $down = q{ALTER EXTENSION connector_uuid UPDATE TO '1.0'};

# the upgrade
crash_at(name => 'upgrade killed before the rewrite', sql => $up, block => 'connector_uuid_map',
	like => 'connector_uuid: step 2 of%', how => 'kill', version => '1.0', fp => $fp10);
crash_at(name => 'upgrade killed inside a rewrite', sql => $up,
	like => 'connector_uuid: step % connector_access: ALTER TABLE % TYPE uuid%', how => 'kill',
	version => '1.0', fp => $fp10);
crash_at(name => 'upgrade stopped (immediate) inside a rewrite', sql => $up,
	like => 'connector_uuid: step % mcp_servers: ALTER TABLE % TYPE uuid%', how => 'immediate',
	version => '1.0', fp => $fp10);
crash_at(name => 'upgrade killed at commit', sql => $up, block => 'connector_uuid_history',
	like => 'connector_uuid: step % append a row%', how => 'kill', version => '1.0', fp => $fp10);

$node->safe_psql('app', $up);
verify_ok($node, 'app', 'the upgrade run again after the crashes');
my $fp20 = fingerprint($node, 'app');

# the downgrade
crash_at(name => 'downgrade killed before the rewrite', sql => $down, block => 'connector_uuid_map',
	like => 'connector_uuid: step 2 of%', how => 'kill', version => '2.0', fp => $fp20);
crash_at(name => 'downgrade killed inside a rewrite', sql => $down,
	like => 'connector_uuid: step % connector_access: ALTER TABLE % TYPE integer%', how => 'kill',
	version => '2.0', fp => $fp20);
crash_at(name => 'downgrade stopped (immediate) at commit', sql => $down, block => 'connector_uuid_history',
	like => 'connector_uuid: step % append a row%', how => 'immediate', version => '2.0', fp => $fp20);

$node->safe_psql('app', $down);
is(fingerprint($node, 'app'), $fp10, 'the downgrade run again: the original integer ids, exactly');
verify_ok($node, 'app', 'the downgrade run again after the crashes');

$node->stop;
done_testing();
