# Cancels (statement_timeout, pg_cancel_backend) and resource limits
# (temp_file_limit) leave the database at its old version, unchanged;
# progress reaches the client, the server log and pg_stat_activity; a lock
# held too long makes the migration give up with the blocker's pid named.
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
$node->start;
load_app($node, 'app', 150000);
my $fp10 = fingerprint($node, 'app');
my $up = 'ALTER EXTENSION connector_uuid UPDATE';

sub unchanged
{
	my ($what) = @_;
	is(version_of($node, 'app'), '1.0', "$what: still at 1.0");
	is(fingerprint($node, 'app'), $fp10, "$what: nothing changed");
	return;
}

# statement_timeout fires during the rewrites
my ($ret, $out, $err) = $node->psql('app',
	"SET connector_uuid.progress = off; SET statement_timeout = '1500ms'; $up");
isnt($ret, 0, 'statement_timeout stops the upgrade');
like($err, qr/canceling statement due to statement timeout/, 'with the timeout error');
unchanged('statement_timeout');

# pg_cancel_backend from another session, inside a rewrite
my ($h, $hout, $herr) = start_migration($node, 'app', "SET connector_uuid.progress = off; $up");
my $pid = wait_for_step($node, 'app', 'connector_uuid: step % connector_access: ALTER TABLE%');
$node->safe_psql('app', "SELECT pg_cancel_backend($pid)");
$h->finish;
like($$herr, qr/canceling statement due to user request/, 'pg_cancel_backend stops the upgrade');
unchanged('pg_cancel_backend');

# a tiny temp_file_limit: the index builds cannot spill
($ret, $out, $err) = $node->psql('app',
	"SET connector_uuid.progress = off; SET maintenance_work_mem = '1MB'; SET temp_file_limit = '64kB'; $up");
isnt($ret, 0, 'a tiny temp_file_limit stops the upgrade');
like($err, qr/temporary file size exceeds temp_file_limit/, 'with a clean error');
unchanged('temp_file_limit');

# progress: INFO to the client, LOG to the server log, pg_stat_activity
my $in = "BEGIN; LOCK TABLE connector_uuid_history IN ACCESS EXCLUSIVE MODE;\n";
my $bout = '';
my $blocker = IPC::Run::start([ 'psql', '-X', '-d', $node->connstr('app') ], '<', \$in, '>', \$bout, '2>', \$bout);
$blocker->pump while length $in;
$node->poll_query_until('app',
	q{SELECT count(*) > 0 FROM pg_locks WHERE relation = 'connector_uuid_history'::regclass AND granted})
  or die 'no blocker';
my $logstart = -s $node->logfile;
($h, $hout, $herr) = start_migration($node, 'app', $up);
$pid = wait_for_step($node, 'app', 'connector_uuid: step % append a row%');
my $seen = $node->safe_psql('app', "SELECT query FROM pg_stat_activity WHERE pid = $pid");
like($seen, qr/^connector_uuid: step (\d+) of \1: mcp_connectors: append a row/,
	'another session sees the step in pg_stat_activity');
$in = "COMMIT;\n";
$blocker->pump while length $in;
$h->finish;
$blocker->kill_kill;
is(version_of($node, 'app'), '2.0', 'the upgrade completed once the lock was released');
like($$herr, qr/INFO:  connector_uuid: step 1 of (\d+): mcp_connectors: /, 'INFO: the first step');
like($$herr, qr/INFO:  connector_uuid: step \d+ of \d+: connector_access: rewrote \d+ rows in [0-9.]+ s/,
	'INFO: rows and seconds of a rewrite');
my ($n) = $$herr =~ /step 1 of (\d+)/;
like($$herr, qr/INFO:  connector_uuid: step $n of $n: /, 'INFO: the last step');
my $log = slurp_file($node->logfile, $logstart);
like($log, qr/LOG:  connector_uuid: step $n of $n: /, 'the server log has the progress too');

# a lock held too long: the migration gives up, names the table and the pid
$in = "BEGIN; UPDATE connector_access SET user_id = user_id WHERE id = 1;\n";
$bout = '';
$blocker = IPC::Run::start([ 'psql', '-X', '-d', $node->connstr('app') ], '<', \$in, '>', \$bout, '2>', \$bout);
$blocker->pump while length $in;
$node->poll_query_until('app',
	q{SELECT count(*) > 0 FROM pg_locks WHERE relation = 'connector_access'::regclass AND granted AND mode = 'RowExclusiveLock'})
  or die 'no blocker';
my $holder = $node->safe_psql('app',
	q{SELECT pid FROM pg_locks WHERE relation = 'connector_access'::regclass AND granted AND mode = 'RowExclusiveLock'});
my $fp20 = fingerprint($node, 'app');
($ret, $out, $err) = $node->psql('app',
	q{SET connector_uuid.lock_timeout = 200; SET connector_uuid.lock_retries = 2; ALTER EXTENSION connector_uuid UPDATE TO '1.0'},
	extra_params => [ '-v', 'VERBOSITY=verbose' ]);
like($err, qr/ERROR:  55P03: could not lock table "public.connector_access" in ACCESS EXCLUSIVE mode/,
	'the downgrade gives up with 55P03, naming the table');
like($err, qr/processes holding locks on it: .*\b$holder\b/, 'and the blocking process');
like($err, qr/attempt 2 of 3/, 'after the retries');
is(version_of($node, 'app'), '2.0', 'still at 2.0');
is(fingerprint($node, 'app'), $fp20, 'nothing changed');
$blocker->kill_kill;

$node->stop;
done_testing();
