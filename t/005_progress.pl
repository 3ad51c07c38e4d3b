# Progress: INFO lines on the client (step 1 of N ... step N of N, rows
# rewritten), LOG lines in the server log, and the current step in
# pg_stat_activity.query where another session can watch it (with
# connector_uuid.progress = off too), and not left there once a migration
# has failed.  Lock waits: a lock held too long on a child table makes the
# migration give up with 55P03, naming the table and the blocking process,
# and change nothing; so must a row lock held on alembic_version, which the
# migration writes while it holds its ACCESS EXCLUSIVE locks.
use strict;
use warnings;

use FindBin;
use lib $FindBin::RealBin;
use CuTest;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(time);

my $node = PostgreSQL::Test::Cluster->new('main');
$node->init;
$node->start;
load_app($node, 'app', 3000);
my $fp10 = fingerprint($node, 'app');
my $up = 'ALTER EXTENSION connector_uuid UPDATE';
my $down = q{ALTER EXTENSION connector_uuid UPDATE TO '1.0'};

# the number of steps the plan says the migration will report (the lock
# steps are taken before the first one)
sub planned_steps
{
	return $node->safe_psql('app',
		q{SELECT count(*) FROM connector_uuid_plan() WHERE step > 0 AND coalesce(statement, '') !~ '^(LOCK TABLE |-- lock )'});
}

# Check that the progress lines (k, n, text) go from step 1 of n to step n
# of n, in order, none missing
sub steps_in_order
{
	my ($what, $n, @lines) = @_;
	local $Test::Builder::Level = $Test::Builder::Level + 1;
	my @ks = map { $_->[0] } @lines;
	my @ns = grep { $_ != $n } map { $_->[1] } @lines;
	is(scalar(@ns), 0, "$what: every line says \"of $n\"");
	my @first;
	my $last = 0;
	my $ordered = 1;
	for my $k (@ks)
	{
		$ordered = 0 if $k < $last;
		push @first, $k if $k != $last;
		$last = $k;
	}
	ok($ordered, "$what: the steps come in order");
	is(join(',', @first), join(',', 1 .. $n), "$what: step 1 of $n to step $n of $n, none missing");
	return;
}

# --- INFO on the client, LOG in the server log (progress = info) ---------

my $n = planned_steps();
cmp_ok($n, '>=', 10, "the plan has $n steps");
my @described = split /\n/, $node->safe_psql('app',
	q{SELECT coalesce(relation, '-') || ': ' || description FROM connector_uuid_plan()
	  WHERE step > 0 AND coalesce(statement, '') !~ '^(LOCK TABLE |-- lock )' ORDER BY step});
is(scalar(@described), $n, 'every step of the plan has a description');
my %rows = map { $_ => $node->safe_psql('app', "SELECT count(*) FROM $_") }
  qw(mcp_connectors connector_access mcp_servers);
my $offset = log_offset($node);
my ($ret, $out, $err) = $node->psql('app', "SELECT pg_backend_pid(); $up");
is($ret, 0, 'the upgrade ran');
$err =~ s/^psql:<stdin>:\d+: //mg;
my ($pid) = $out =~ /(\d+)/;
my @info = map { [ /^INFO:  connector_uuid: step (\d+) of (\d+): (.*)$/ ] }
  grep { /^INFO:  connector_uuid: step / } split /\n/, $err;
steps_in_order('INFO on the client', $n, @info);
for my $t (qw(mcp_connectors connector_access mcp_servers))
{
	my @rw = map { $_->[2] =~ /^$t: rewrote (\d+) rows in [0-9.]+ s$/ ? ($1) : () } @info;
	is(join(',', @rw), $rows{$t}, "INFO: $t: rewrote $rows{$t} rows (once, the table's row count)");
}
like($err, qr/^INFO:  connector_uuid: step \d+ of $n: mcp_connectors: record the key, type, default and sequence of column id in the registry$/m,
	'INFO: the registry step names its table and what it does');
like($err, qr/^INFO:  connector_uuid: step \d+ of $n: active_connectors: drop view active_connectors \(created again after the rewrites\)$/m,
	'INFO: the steps are described in words');
like($err, qr/^INFO:  connector_uuid: step \d+ of $n: connector_access: rewrite [0-9,]+ rows with their new references$/m,
	'INFO: a rewrite says how many rows');
unlike($err, qr/^INFO:  connector_uuid: step \d+ of $n: [^\n]*(ALTER TABLE|INSERT INTO|\.\.\.$)/m,
	'INFO: no SQL in the progress lines');
# each step's first line is its description in the plan, in the plan's order
my @first_lines;
my $seen = 0;
for my $l (@info)
{
	next if $l->[0] == $seen;
	$seen = $l->[0];
	push @first_lines, $l->[2];
}
is(join("\n", @first_lines), join("\n", @described),
	'INFO: each step starts with its description from connector_uuid_plan()');
like($err, qr/^INFO:  connector_uuid: step $n of $n: mcp_connectors: append a row to connector_uuid_history$/m,
	'INFO: the last step');
my $log = slurp_file($node->logfile, $offset);
my @logged = map { [ /connector_uuid: step (\d+) of (\d+): (.*)$/ ] }
  grep { /\[$pid\].*LOG:  connector_uuid: step / } split /\n/, $log;
steps_in_order('LOG in the server log', $n, @logged);
is(scalar(@logged), scalar(@info), 'the server log has every line the client had');
is(version_of($node, 'app'), '2.0', 'at 2.0');

# --- pg_stat_activity while the migration waits (progress = off) ----------

{
	my $n_down = planned_steps();
	my $blocker = hold_lock($node, 'app', 'LOCK TABLE connector_uuid_map IN ACCESS EXCLUSIVE MODE');
	my $watcher = new_watcher($node);
	$offset = log_offset($node);
	my $run = start_sql($node, 'app', 'SET connector_uuid.progress = off', $down);
	my $mpid = wait_for_backend($watcher, 'connector_uuid: waiting for %', 'relation');
	my $seen = $node->safe_psql('app',
		"SELECT state || ' ' || wait_event_type || ' ' || query FROM pg_stat_activity WHERE pid = $mpid");
	like(
		$seen,
		qr/^active Lock connector_uuid: waiting for ROW EXCLUSIVE lock on table "connector_uuid_map" \(attempt \d+ of \d+ gave up after \d+ ms; the locks already taken were released\), retrying in \d+ ms$/,
		'another session sees what the migration waits for, in pg_stat_activity.query');
	# the monitoring query of the README finds it
	is( $node->safe_psql(
			'postgres', q{SELECT count(*) FROM pg_stat_activity WHERE query LIKE 'connector_uuid: %'}),
		'1', 'the README monitoring query finds the migrating backend');
	release_lock($blocker);
	close_watcher($watcher);
	is(finish_sql($run), 0, 'the downgrade completed once the lock was released');
	unlike($run->{err}, qr/INFO:  connector_uuid/, 'progress = off: no INFO on the client');
	unlike(slurp_file($node->logfile, $offset), qr/\[$mpid\].*connector_uuid: step/,
		'progress = off: nothing in the server log');
	is(version_of($node, 'app'), '1.0', 'at 1.0');
	is(fingerprint($node, 'app'), $fp10, 'the original integer ids back');
}

# --- a lock held too long on a child table: give up, name it and its holder

{
	my $blocker = hold_lock($node, 'app', 'UPDATE connector_access SET granted_at = granted_at WHERE id = 1');
	# a session that stays connected after the failure
	my $session = $node->background_psql('app', on_error_stop => 0);
	my $spid = $session->query_safe('SELECT pg_backend_pid()');
	$session->{stderr} = '';
	my $start = time();
	my ($out, $failed) = $session->query(
		qq{\\set VERBOSITY verbose\nSET connector_uuid.lock_timeout = 200; SET connector_uuid.lock_retries = 2; $up});
	my $elapsed = time() - $start;
	my $err = $session->{stderr};
	release_lock($blocker);
	$err =~ s/^psql:<stdin>:\d+: //mg;
	ok($failed, 'a row lock held on connector_access: the upgrade fails');
	like($err, qr/ERROR:  55P03: could not lock table "public\.connector_access" in ACCESS EXCLUSIVE mode/,
		'with SQLSTATE 55P03, naming the table');
	like($err, qr/DETAIL:  Gave up after 3 attempts of 200 ms each; processes holding locks on it: (?:\d+, )*$blocker->{pid}\b/,
		"the detail names the blocking process ($blocker->{pid})");
	like($err, qr/INFO:  00000: connector_uuid: waiting for ACCESS EXCLUSIVE lock on table "connector_access" \(attempt 1 of 3 /,
		'it said it was waiting, attempt by attempt');
	like($err, qr/\(attempt 2 of 3 /, 'and retried');
	cmp_ok($elapsed, '<', 10, sprintf('it gave up after %.1f s, not when the blocker ended', $elapsed));
	is(version_of($node, 'app'), '1.0', 'still at 1.0');
	is(fingerprint($node, 'app'), $fp10, 'nothing changed');
	# pg_stat_activity.query shows "the current step" of a migration: once it
	# has failed there is none, and the README's monitoring query
	# (query LIKE 'connector_uuid: %') must not list the idle session
	my $activity = $node->safe_psql('postgres',
		"SELECT state || ': ' || query FROM pg_stat_activity WHERE pid = $spid");
	like($activity, qr/^idle: /, 'the failed session is idle');
	unlike($activity, qr/connector_uuid: /,
		'after the failure, pg_stat_activity shows no migration step for the idle session');
	$session->quit;
}

# --- a row lock on alembic_version ---------------------------------------
#
# The upgrade stamps alembic_version (UPDATE ... SET version_num) after the
# rewrites, while it holds ACCESS EXCLUSIVE on the three tables.  A
# transaction holding that row (an Alembic run, SELECT ... FOR UPDATE) must
# not make the migration wait for as long as it lasts with the application
# locked out: like a lock on a child table, it should give up within
# connector_uuid.lock_timeout (x retries) with 55P03 and change nothing.
# (statement_timeout only keeps this test from hanging.)
{
	my $blocker = hold_lock($node, 'app', 'SELECT * FROM alembic_version FOR UPDATE');
	my $run = start_sql($node, 'app', q{SET statement_timeout = '10s'}, 'SET connector_uuid.lock_timeout = 200',
		'SET connector_uuid.lock_retries = 2', $up);
	# past the lock budget (3 x 200 ms and 300 ms of backoff), the
	# application reads its connectors again
	sleep 2;
	my ($rret, $rout, $rerr) = $node->psql('app',
		q{SET statement_timeout = '2s'; SELECT count(*) > 0 FROM mcp_connectors});
	finish_sql($run);
	release_lock($blocker);
	# the error and what follows it (detail, context)
	my ($error) = $run->{err} =~ /^(ERROR: .*)\z/ms;
	$error //= 'no error';
	is($rerr, '', 'a row lock held on alembic_version: the application can read mcp_connectors after the lock budget');
	like($error, qr/^ERROR:  55P03: /, 'the upgrade gives up with SQLSTATE 55P03 (lock not available)');
	like($error, qr/alembic_version/, 'naming alembic_version');
	cmp_ok($run->{elapsed}, '<', 5,
		sprintf('within the lock budget (it took %.1f s), not when the blocker ends', $run->{elapsed}));
	is(version_of($node, 'app'), '1.0', 'still at 1.0');
	is(fingerprint($node, 'app'), $fp10, 'nothing changed');
}

# --- progress = log: the server log only -----------------------------------

$offset = log_offset($node);
($ret, $out, $err) = $node->psql('app',
	"SET connector_uuid.progress = log; SET lock_timeout = '7s'; SELECT pg_backend_pid(); $up; "
	  . q{SELECT current_setting('search_path') || ' / ' || current_setting('lock_timeout')});
is($ret, 0, 'the upgrade ran (progress = log)');
($pid) = $out =~ /(\d+)/;
like($out, qr/^"\$user", public \/ 7s$/m, "the session's search_path and lock_timeout are its own again");
unlike($err, qr/INFO:  connector_uuid/, 'progress = log: no INFO on the client');
$log = slurp_file($node->logfile, $offset);
@logged = map { [ /connector_uuid: step (\d+) of (\d+): (.*)$/ ] }
  grep { /\[$pid\].*LOG:  connector_uuid: step / } split /\n/, $log;
steps_in_order('progress = log: in the server log', $n, @logged);
verify_ok($node, 'app', 'upgraded');

$node->stop;
done_testing();
