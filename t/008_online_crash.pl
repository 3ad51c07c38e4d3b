# The online mode survives crashes: kill -9 of the backend running
# CALL connector_uuid_prepare() (or of its background worker) and immediate
# shutdown, during the backfill, during a CREATE INDEX CONCURRENTLY (kept
# waiting by an open snapshot) and during the swap (kept waiting by an
# application transaction, and at its last step).  After each restart the
# state is consistent; CALL connector_uuid_prepare() again continues (an
# index left invalid is dropped and built again), the swap works, the
# checklist passes, every connector's uuid is the one connector_uuid_lookup()
# gives for its integer and every link follows its integer link (checked
# before finalize, after application writes at each stage), and after a
# crash in the backfill or in the build connector_uuid_abort() leaves the
# tables as the fixture made them (pg_dump -s, row counts, every row).
use strict;
use warnings;

use FindBin;
use lib $FindBin::RealBin;
use CuTest;
use IPC::Run;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $node = PostgreSQL::Test::Cluster->new('main');
$node->init;
$node->append_conf(
	'postgresql.conf', q{
connector_uuid.progress = log
restart_after_crash = on
});
$node->start;

my $scale = 20000;
load_app($node, 'app', $scale);

# small batches with a pause: the backfill takes a few seconds
my $call = q{CALL connector_uuid_prepare(batch_size => 2000, pause => '100 ms')};

# the application's objects as pg_dump -s shows them
sub schema_dump
{
	my ($out, $err);
	IPC::Run::run(
		[
			'pg_dump', '-s', '-d', $node->connstr('app'),
			map { ('-t', "public.$_") }
			  qw(mcp_connectors connector_access mcp_servers user alembic_version
			  active_connectors mcp_connectors_id_seq connector_access_id_seq)
		],
		'>', \$out, '2>', \$err) or die "pg_dump failed: $err";
	# pg_dump's \restrict key is new each time
	$out =~ s/^\\(un)?restrict \S+$//mg;
	return $out;
}

my $counts_sql = q{SELECT (SELECT count(*) FROM mcp_connectors) || ' ' || (SELECT count(*) FROM connector_access)
                          || ' ' || (SELECT count(*) FROM mcp_servers)};
my $dump0 = schema_dump();
my $counts0 = $node->safe_psql('app', $counts_sql);
my $fp0 = fingerprint($node, 'app', sequence => 1);
like($dump0, qr/CREATE TABLE public\.mcp_connectors/, 'the schema dump has the application tables');

# Every row's uuid is the one connector_uuid_lookup() gives for its integer,
# and every child's uuid is its parent's through the integer link: "0 0 0"
# (wrong keys, wrong access links, wrong server links) and the row counts.
# (Connectors born at 2.0 get a random uuid and a fresh integer from the
# sequence, which the key does not map to that uuid: their keys are not
# looked up, their links are checked.)
sub wrong_uuids
{
	my ($swapped) = @_;
	my ($int, $uuid, $ref_int, $ref_uuid) =
	  $swapped ? qw(id_int id connector_id_int connector_id) : qw(id id_uuid connector_id connector_id_uuid);
	return $node->safe_psql(
		'app', qq{
		SELECT (SELECT count(*) FILTER (WHERE $uuid IS DISTINCT FROM connector_uuid_lookup('mcp_connectors', $int))
		        || ' ' || count(*) FROM mcp_connectors WHERE name NOT LIKE 'born at 2.0 %')
		    || ' ' || (SELECT count(*) FILTER (WHERE a.$ref_uuid IS DISTINCT FROM c.$uuid) || ' ' || count(*)
		               FROM connector_access a LEFT JOIN mcp_connectors c ON c.$int = a.$ref_int)
		    || ' ' || (SELECT count(*) FILTER (WHERE s.$ref_uuid IS DISTINCT FROM c.$uuid) || ' ' || count(*)
		               FROM mcp_servers s LEFT JOIN mcp_connectors c ON c.$int = s.$ref_int)});
}

sub uuids_right
{
	my ($swapped, $what) = @_;
	local $Test::Builder::Level = $Test::Builder::Level + 1;
	my $res = wrong_uuids($swapped);
	like($res, qr/^0 [1-9]\d* 0 [1-9]\d* 0 [1-9]\d*$/,
		"$what: every uuid is connector_uuid_lookup() of its integer, every link its parent's (wrong/rows: $res)");
	return;
}

# Application writes that work at either version: new connectors with
# grants and servers, links moved, connectors deleted with their cascade.
my $round = 0;
sub app_writes
{
	my ($prefix) = @_;
	$round++;
	$prefix = $prefix ? "$prefix $round" : "born $round";
	$node->safe_psql(
		'app', qq{
		INSERT INTO mcp_connectors (name, url)
		SELECT '$prefix.' || i, 'https://born.example.com/$round/' || i FROM generate_series(1, 20) i;
		INSERT INTO connector_access (connector_id, user_id)
		SELECT c.id, md5('user3')::uuid FROM mcp_connectors c WHERE c.name LIKE '$prefix.%';
		INSERT INTO mcp_servers (id, connector_id, name)
		SELECT gen_random_uuid(), c.id, 'server ' || c.name FROM mcp_connectors c WHERE c.name LIKE '$prefix.%';
		UPDATE connector_access SET connector_id = (SELECT id FROM mcp_connectors WHERE name = 'connector $round')
		WHERE id IN (SELECT id FROM connector_access WHERE connector_id IS NOT NULL ORDER BY id OFFSET 10 * $round LIMIT 5);
		UPDATE mcp_servers SET connector_id = NULL WHERE name = 'server $prefix.1';
		DELETE FROM mcp_connectors WHERE name IN ('connector ' || (100 + $round), '$prefix.2');});
	return;
}

# The prepare in the background, its backend recognisable by application_name
sub start_prepare
{
	return start_sql($node, 'app', q{SET application_name = 'cu_prepare'}, $call);
}

sub prepare_pid
{
	$node->poll_query_until('app',
		q{SELECT count(*) > 0 FROM pg_stat_activity WHERE application_name = 'cu_prepare'})
	  or die 'no prepare backend';
	return $node->safe_psql('app', q{SELECT pid FROM pg_stat_activity WHERE application_name = 'cu_prepare'});
}

# Wait until the backfill is under way (some table has rows done, not all)
sub wait_for_backfill
{
	my ($min) = @_;
	$min //= 0;
	$node->poll_query_until(
		'app', qq{
		SELECT count(*) > 0 FROM connector_uuid_progress WHERE phase = 'backfill' AND rows_done > 0
		   AND (SELECT sum(rows_done) FROM connector_uuid_online_tables) > $min})
	  or die 'the backfill did not start';
	return;
}

sub lost_connection
{
	my ($run, $what) = @_;
	local $Test::Builder::Level = $Test::Builder::Level + 1;
	isnt(finish_sql($run), 0, "$what: the CALL failed");
	like($run->{err}, qr/server closed the connection unexpectedly|terminating connection/,
		"$what: the client lost its connection");
	return;
}

my $state_sql = q{SELECT (SELECT string_agg(phase, ',') FROM connector_uuid_online) || ' '
                         || (SELECT sum(rows_done) FROM connector_uuid_online_tables) || ' '
                         || (SELECT bool_and(done) FROM connector_uuid_online_tables)};

# --- (a) crashes during the backfill, then abort -------------------------

my $run = start_prepare();
my $pid = prepare_pid();
wait_for_backfill();
crash_restart($node, $pid, 'kill');
lost_connection($run, 'kill -9 during the backfill');
my ($phase, $done, $all) = split / /, $node->safe_psql('app', $state_sql);
is("$phase $all", 'backfill false', 'kill -9 during the backfill: the state says backfill, not every table done');
ok($done > 0, "kill -9 during the backfill: the batches committed before it are recorded ($done rows)");

# resume it, then stop the server (immediate) in the middle again
my $offset = log_offset($node);
$run = start_prepare();
$pid = prepare_pid();
wait_for_backfill($done);
crash_restart($node, $pid, 'immediate');
lost_connection($run, 'immediate shutdown during the resumed backfill');
like(slurp_file($node->logfile, $offset), qr/continuing the preparation of public\.mcp_connectors \(phase backfill\)/,
	'the second CALL continued the first');
my ($phase2, $done2, $all2) = split / /, $node->safe_psql('app', $state_sql);
is("$phase2 $all2", 'backfill false', 'immediate during the backfill: still in the backfill');
ok($done2 > $done, "the resumed backfill got further ($done2 > $done rows)");

# abort after the crashes: exactly the fixture's tables
$node->safe_psql('app', 'SELECT connector_uuid_abort()');
is(schema_dump(), $dump0, 'abort after the crashes: pg_dump -s of the application as before prepare');
is($node->safe_psql('app', $counts_sql), $counts0, 'abort after the crashes: the same row counts');
is(fingerprint($node, 'app', sequence => 1), $fp0, 'abort after the crashes: every row, column, constraint, index as before');
is($node->safe_psql('app', 'SELECT count(*) FROM connector_uuid_online'), '0', 'abort: no online state left');
is(version_of($node, 'app'), '1.0', 'abort: at 1.0');
verify_ok($node, 'app', 'after the abort');

# An open snapshot (REPEATABLE READ) in the database makes CREATE INDEX
# CONCURRENTLY wait for it (virtualxid) after the index is in the catalog,
# invalid; kill -9 the background worker running it then.
sub crash_in_build
{
	my ($how, $what, $sql) = @_;
	my $w = start_watched(
		$node, 'app',
		hold => 'SET TRANSACTION ISOLATION LEVEL REPEATABLE READ',
		sql => [ q{SET application_name = 'cu_prepare'}, $sql // $call ],
		like => 'CREATE UNIQUE INDEX CONCURRENTLY %mcp_connectors_pkey_uuid%',
		event => 'virtualxid');
	is( $node->safe_psql('app', "SELECT backend_type FROM pg_stat_activity WHERE pid = $w->{pid}"),
		'connector_uuid worker', "$what: the CREATE INDEX CONCURRENTLY runs in the background worker");
	crash_restart($node, $w->{pid}, $how);
	close_watcher($w->{watcher});
	abandon_lock($w->{blocker});
	lost_connection($w->{run}, $what);
	is( $node->safe_psql('app',
			q{SELECT phase || ' ' || (SELECT indisvalid FROM pg_index WHERE indexrelid = 'mcp_connectors_pkey_uuid'::regclass)
			  FROM connector_uuid_online}),
		'build false', "$what: phase build, the index left behind invalid");
	return $w->{offset};
}

# --- (b) a crash during the build, then abort ---------------------------------

crash_in_build('immediate', 'immediate shutdown during CREATE INDEX CONCURRENTLY (default options)',
	'CALL connector_uuid_prepare()');
$node->safe_psql('app', 'SELECT connector_uuid_abort()');
is(schema_dump(), $dump0, 'abort after a crash in the build: pg_dump -s of the application as before prepare');
is($node->safe_psql('app', $counts_sql), $counts0, 'abort after a crash in the build: the same row counts');
is(fingerprint($node, 'app'), $fp0 =~ s/ sequence=\S+//r,
	'abort after a crash in the build: every row, column, constraint and index (the invalid one gone) as before');
is($node->safe_psql('app', 'SELECT count(*) FROM connector_uuid_online'), '0', 'abort: no online state left');
verify_ok($node, 'app', 'after the abort in the build');

# --- (a) again: a crash in the backfill, then resume to the end ------------

$run = start_prepare();
$pid = prepare_pid();
wait_for_backfill();
crash_restart($node, $pid, 'kill');
lost_connection($run, 'kill -9 during the backfill (second prepare)');
app_writes();

# --- (b) crashes during the concurrent build of the key's unique index -----

$offset = crash_in_build('kill', 'kill -9 of the worker during CREATE INDEX CONCURRENTLY');
like(slurp_file($node->logfile, $offset), qr/backfill continues at page/, 'the CALL finished the backfill first');
app_writes();
$offset = crash_in_build('immediate', 'immediate shutdown during CREATE INDEX CONCURRENTLY');
like(slurp_file($node->logfile, $offset),
	qr/dropping index mcp_connectors_pkey_uuid, left invalid by an interrupted build/,
	'the resumed CALL dropped the invalid index before building it again');
app_writes();

# the last CALL finishes
$offset = log_offset($node);
$node->safe_psql('app', $call);
like(slurp_file($node->logfile, $offset),
	qr/dropping index mcp_connectors_pkey_uuid, left invalid.*building the unique index mcp_connectors_pkey_uuid.*mcp_connectors is prepared/s,
	'the last CALL dropped the invalid index, built it again and finished');
is( $node->safe_psql(
		'app', q{SELECT count(*) FROM pg_index i JOIN pg_class c ON c.oid = i.indrelid
		         WHERE c.relnamespace = 'public'::regnamespace AND NOT (i.indisvalid AND i.indisready)}),
	'0', 'no invalid index remains');
is( $node->safe_psql(
		'app', q{SELECT string_agg(c.relname, ',' ORDER BY c.relname) FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid
		         WHERE c.relname LIKE '%\_uuid'}),
	'ix_connector_access_connector_id_uuid,ix_mcp_servers_connector_id_uuid,mcp_connectors_pkey_uuid',
	'each twin index once');
is($node->safe_psql('app', q{SELECT phase FROM connector_uuid_online}), 'prepared', 'phase prepared');
is($node->safe_psql('app', q{SELECT bool_and(done) FROM connector_uuid_online_tables}), 't', 'every table backfilled');
is(version_of($node, 'app'), '1.0', 'still at 1.0');
uuids_right(0, 'prepared after four crashes');
verify_ok($node, 'app', 'prepared after four crashes');
app_writes();
uuids_right(0, 'prepared, after more application writes');

# --- (c) crashes during the swap -------------------------------------------

pause_at_history($node, 'app');
# (not the sequence: crash recovery moves it on by the values it logged ahead)
my $fp_prepared = fingerprint($node, 'app');
my $up = 'ALTER EXTENSION connector_uuid UPDATE';

# blocked by an application transaction holding ROW EXCLUSIVE
crash_watched(
	$node, 'app',
	name => 'swap killed while waiting for its locks',
	hold => 'UPDATE mcp_connectors SET name = name WHERE id = 1',
	sql => [ 'SET connector_uuid.lock_timeout = 60000', $up ],
	like => $up,
	event => 'relation',
	how => 'kill',
	last_step => qr/^none$/);
is(version_of($node, 'app'), '1.0', 'swap killed while waiting: at 1.0');
is($node->safe_psql('app', q{SELECT phase FROM connector_uuid_online}), 'prepared', 'swap killed while waiting: phase prepared');
is(fingerprint($node, 'app'), $fp_prepared, 'swap killed while waiting: nothing changed');

# at its last step, every catalog change made
crash_watched(
	$node, 'app',
	name => 'swap stopped (immediate) at its last step',
	hold => 'SELECT pg_advisory_xact_lock(4242)',
	sql => [$up],
	like => 'connector_uuid: step % of %: mcp_connectors: append a row to %connector_uuid_history%',
	event => 'advisory',
	how => 'immediate',
	last_step => qr/^step (\d+) of \1: mcp_connectors: append a row/);
is(version_of($node, 'app'), '1.0', 'swap stopped at its last step: at 1.0');
is($node->safe_psql('app', q{SELECT phase FROM connector_uuid_online}), 'prepared', 'swap stopped at its last step: phase prepared');
is(fingerprint($node, 'app'), $fp_prepared, 'swap stopped at its last step: nothing changed');
uuids_right(0, 'prepared, after the crashed swaps');
app_writes();

# --- the swap, then finalize ---------------------------------------------

$node->safe_psql('app', $up);
is(version_of($node, 'app'), '2.0', 'the swap after the crashes: at 2.0');
is($node->safe_psql('app', q{SELECT phase FROM connector_uuid_online}), 'swapped', 'phase swapped');
is(column_types($node, 'app'),
	'connector_access.connector_id uuid, mcp_connectors.id uuid, mcp_servers.connector_id uuid',
	'the uuid columns carry the names');
uuids_right(1, 'swapped');
verify_ok($node, 'app', 'swapped');
app_writes('born at 2.0');
is( $node->safe_psql(
		'app', q{SELECT count(*) || ' ' || count(DISTINCT id_int) || ' ' || count(DISTINCT id)
		         FROM mcp_connectors WHERE name LIKE 'born at 2.0 %'}),
	'19 19 19', 'connectors born at 2.0 get an integer too (kept in sync the other way)');
uuids_right(1, 'swapped, after application writes at 2.0');

$node->safe_psql('app', 'SELECT connector_uuid_finalize()');
is( $node->safe_psql(
		'app', q{SELECT count(*) FROM pg_attribute WHERE attrelid IN ('mcp_connectors'::regclass, 'connector_access'::regclass,
		         'mcp_servers'::regclass) AND attname LIKE '%\_int' AND NOT attisdropped}),
	'0', 'finalize dropped the integer columns');
is( $node->safe_psql('app', q{SELECT count(*) FROM pg_trigger WHERE tgname = 'zz_connector_uuid_sync'}),
	'0', 'and the sync triggers');
verify_ok($node, 'app', 'finalized');
is( $node->safe_psql('app', q{SELECT string_agg(outcome, ',' ORDER BY started_at) FROM connector_uuid_history}),
	'aborted (online),aborted (online),swapped (online),finalized (online)',
	'the history: the two aborts, one swap (the crashed ones left nothing), one finalize');

$node->stop;
done_testing();
