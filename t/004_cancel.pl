# Cancels and resource limits stop a migration cleanly: statement_timeout
# (while it waits before the rewrites, and inside a rewrite) and
# pg_cancel_backend from another session (inside a rewrite, at the last
# step, while it waits for a table lock), in both directions;
# pg_terminate_backend inside a rewrite; temp_file_limit
# with little maintenance_work_mem or work_mem.  Each time: an error, the old
# version, every row as before, the checklist passing, and the migration
# succeeding when run again (once in the very session that was cancelled).
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
$node->append_conf('postgresql.conf', "connector_uuid.progress = log\n");
$node->start;

# large enough that each table rewrite takes a noticeable time
my $scale = 100000;
load_app($node, 'app', $scale);
pause_at_history($node, 'app');
my $fp10 = fingerprint($node, 'app');
my $up = 'ALTER EXTENSION connector_uuid UPDATE';
my $down = q{ALTER EXTENSION connector_uuid UPDATE TO '1.0'};

sub unchanged
{
	my ($what, $version, $fp) = @_;
	local $Test::Builder::Level = $Test::Builder::Level + 1;
	is(version_of($node, 'app'), $version, "$what: still at $version");
	is(fingerprint($node, 'app'), $fp, "$what: every row as before");
	verify_ok($node, 'app', $what);
	return;
}

# Run @sql in the background, optionally blocked by a session holding an
# ACCESS EXCLUSIVE lock on $a{block}; with $a{like}, cancel the backend
# (from the watcher, at once) when its query is LIKE it.  Returns the run
# (its {err}) and the progress lines its backend logged.
sub run_and_cancel
{
	my (%a) = @_;
	my $w = start_watched($node, 'app', %a);
	my ($run, $pid, $offset) = @$w{qw(run pid offset)};
	my $ret = finish_sql($run);
	release_lock($w->{blocker}) if $w->{blocker};
	close_watcher($w->{watcher});
	isnt($ret, 0, "$a{name}: the migration failed");
	like($run->{err}, $a{error}, "$a{name}: with the expected error");
	my $steps = progress_of($node, $pid, $offset);
	like($steps->[-1] // 'none', $a{last_step}, "$a{name}: it was stopped in the intended step")
	  if $a{last_step};
	unlike(join("\n", @$steps), $a{not_done}, "$a{name}: before finishing it") if $a{not_done};
	return ($run, $steps);
}

my $timeout_error = qr/ERROR:  57014: canceling statement due to statement timeout/;
my $cancel_error = qr/ERROR:  57014: canceling statement due to user request/;

# --- statement_timeout ---------------------------------------------------

# while the upgrade waits (a plain lock wait) before the rewrites
run_and_cancel(
	name => 'statement_timeout while waiting for the locks, before the rewrites',
	sql => [ q{SET statement_timeout = '1s'}, $up ],
	block => 'connector_uuid_map',
	like => $up,
	event => 'relation',
	error => $timeout_error,
	last_step => qr/^none$/);
unchanged('statement_timeout while waiting', '1.0', $fp10);

# inside a rewrite: time a trial run (rolled back) from the server log,
# then aim statement_timeout at the middle of the rewrite of
# connector_access (landing in any of the three rewrites will do; the log
# says where it landed, and up to three tries are made)
sub log_secs
{
	my ($ts) = @_;
	my ($h, $m, $s) = $ts =~ /(\d\d):(\d\d):(\d\d\.\d+)/;
	return $h * 3600 + $m * 60 + $s;
}

sub rewrite_window
{
	my $offset = log_offset($node);
	my $pid = $node->safe_psql(
		'app', qq{
		SET log_statement = 'all';
		BEGIN;
		$up;
		SELECT pg_backend_pid();
		ROLLBACK;});
	my $log = slurp_file($node->logfile, $offset);
	my ($t0) = $log =~ /^(\S+ \S+) \S+ \[$pid\][^\n]*LOG:  statement: ALTER EXTENSION/m;
	my ($t1) = $log =~ /^(\S+ \S+) \S+ \[$pid\][^\n]*connector_access: rewrite /m;
	my ($t2) = $log =~ /^(\S+ \S+) \S+ \[$pid\][^\n]*connector_access: rewrote/m;
	die "no timings in the log" unless $t0 && $t1 && $t2;
	my @window = map { my $d = log_secs($_) - log_secs($t0); $d < 0 ? $d + 86400 : $d } ($t1, $t2);
	return @window;
}

my $landed = 0;
for my $attempt (1 .. 3)
{
	my ($from, $to) = rewrite_window();
	my $ms = int(1000 * ($from + $to) / 2);
	note sprintf('connector_access is rewritten from %.3f s to %.3f s: statement_timeout = %d ms', $from, $to, $ms);
	my $offset = log_offset($node);
	my ($ret, $out, $err) = $node->psql('app', "SET statement_timeout = $ms; SELECT pg_backend_pid(); $up",
		extra_params => [ '-v', 'VERBOSITY=verbose' ]);
	isnt($ret, 0, "statement_timeout = $ms ms: the upgrade failed");
	like($err, $timeout_error, "statement_timeout = $ms ms: by the timeout");
	my ($pid) = $out =~ /(\d+)/;
	my $steps = progress_of($node, $pid, $offset);
	note 'the last step it began: ' . ($steps->[-1] // 'none');
	my ($table) = ($steps->[-1] // '') =~ /^step \d+ of \d+: (\w+): rewrite [0-9,]+ rows with their new /;
	if ($table && join("\n", @$steps) !~ /$table: rewrote/)
	{
		$landed = 1;
		last;
	}
}
ok($landed, 'statement_timeout fired inside a table rewrite');
unchanged('statement_timeout inside a rewrite', '1.0', $fp10);

# --- pg_cancel_backend -----------------------------------------------------

run_and_cancel(
	name => 'pg_cancel_backend inside the rewrite of connector_access',
	sql => [$up],
	like => 'connector_uuid: step % connector_access: rewrite %ALTER TABLE % TYPE uuid%',
	action => 'cancel',
	error => $cancel_error,
	last_step => qr/^step \d+ of \d+: connector_access: rewrite [0-9,]+ rows with their new references$/,
	not_done => qr/connector_access: rewrote/);
unchanged('pg_cancel_backend inside a rewrite', '1.0', $fp10);

run_and_cancel(
	name => 'pg_cancel_backend at the last step',
	sql => [$up],
	hold => 'SELECT pg_advisory_xact_lock(4242)',
	like => 'connector_uuid: step % of %: mcp_connectors: append a row to %connector_uuid_history%',
	event => 'advisory',
	action => 'cancel',
	error => $cancel_error,
	last_step => qr/^step (\d+) of \1: mcp_connectors: append a row/);
unchanged('pg_cancel_backend at the last step', '1.0', $fp10);

run_and_cancel(
	name => 'pg_terminate_backend inside the rewrite of mcp_servers',
	sql => [$up],
	like => 'connector_uuid: step % mcp_servers: rewrite %ALTER TABLE % TYPE uuid%',
	action => 'terminate',
	error => qr/FATAL:  57P01: terminating connection due to administrator command/,
	last_step => qr/^step \d+ of \d+: mcp_servers: rewrite [0-9,]+ rows with their new references$/,
	not_done => qr/mcp_servers: rewrote/);
unchanged('pg_terminate_backend inside a rewrite', '1.0', $fp10);

# --- resource limits ---------------------------------------------------------

for my $mem ('maintenance_work_mem', 'work_mem')
{
	my $least = $mem eq 'work_mem' ? '64kB' : '1MB';
	my ($ret, $out, $err) = $node->psql('app',
		"SET $mem = '$least'; SET temp_file_limit = '64kB'; $up",
		extra_params => [ '-v', 'VERBOSITY=verbose' ]);
	isnt($ret, 0, "a tiny temp_file_limit (and $mem) stops the upgrade");
	like($err, qr/ERROR:  53400: temporary file size exceeds temp_file_limit \(64kB\)/,
		"$mem: with a clean error");
	unchanged("temp_file_limit with little $mem", '1.0', $fp10);
}

# --- a cancel while waiting for a table lock; then, in the same session, ----
# --- the upgrade again ---------------------------------------------------

{
	my $blocker = hold_lock($node, 'app', 'UPDATE connector_access SET granted_at = granted_at WHERE id = 1');
	my $watcher = new_watcher($node);
	my $run = start_sql(
		$node, 'app',
		{ on_error_stop => 0 },
		'SET connector_uuid.lock_timeout = 20000',
		$up,
		q{SELECT 'after the cancel: lock_timeout=' || current_setting('lock_timeout')
		         || ' search_path=' || current_setting('search_path')},
		$up);
	wait_for_backend($watcher, $up, 'relation', 'cancel');
	# once the cancel has hit, let the second attempt have the lock
	pump_until($run->{h}, $run->{timer}, \$run->{err}, qr/canceling statement/)
	  or die 'the cancel did not hit';
	release_lock($blocker);
	close_watcher($watcher);
	finish_sql($run);
	like($run->{err}, $cancel_error, 'pg_cancel_backend while waiting for the lock on connector_access');
	unlike($run->{err}, qr/55P03/, 'a cancel is not taken for a lock timeout (no retry)');
	like($run->{out}, qr/after the cancel: lock_timeout=0 search_path="\$user", public/,
		'the session has its own lock_timeout and search_path back');
	my $errors = () = $run->{err} =~ /ERROR:/g;
	is($errors, 1, 'one error only');
	like($run->{out}, qr/ALTER EXTENSION\s*$/, 'the upgrade run again in the same session succeeds');
	is(version_of($node, 'app'), '2.0', 'at 2.0 now');
	verify_ok($node, 'app', 'upgraded in the cancelled session');
}
my $fp20 = fingerprint($node, 'app');

# --- the downgrade ---------------------------------------------------------

run_and_cancel(
	name => 'pg_cancel_backend inside the rewrite of mcp_connectors (downgrade)',
	sql => [$down],
	like => 'connector_uuid: step % mcp_connectors: rewrite %ALTER TABLE % TYPE integer%',
	action => 'cancel',
	error => $cancel_error,
	last_step => qr/^step \d+ of \d+: mcp_connectors: rewrite [0-9,]+ rows with their new ids$/,
	not_done => qr/mcp_connectors: rewrote/);
unchanged('pg_cancel_backend inside a rewrite of the downgrade', '2.0', $fp20);

run_and_cancel(
	name => 'statement_timeout while the downgrade waits for the locks, before the rewrites',
	sql => [ q{SET statement_timeout = '1s'}, $down ],
	block => 'connector_uuid_map',
	like => $down,
	event => 'relation',
	error => $timeout_error,
	last_step => qr/^none$/);
unchanged('statement_timeout while the downgrade waits', '2.0', $fp20);

{
	my ($ret, $out, $err) = $node->psql('app',
		"SET maintenance_work_mem = '1MB'; SET temp_file_limit = '64kB'; $down",
		extra_params => [ '-v', 'VERBOSITY=verbose' ]);
	like($err, qr/ERROR:  53400: temporary file size exceeds temp_file_limit/,
		'a tiny temp_file_limit stops the downgrade with a clean error');
	unchanged('temp_file_limit (downgrade)', '2.0', $fp20);
}

# and after all that, the rollback is exact
$node->safe_psql('app', $down);
is(fingerprint($node, 'app'), $fp10, 'the downgrade run again: the original integer ids, exactly');
verify_ok($node, 'app', 'downgraded after the cancels');

$node->stop;
done_testing();
