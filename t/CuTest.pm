# t/CuTest.pm: helpers shared by the TAP tests of connector_uuid.
#
# Every test builds its own cluster(s) with PostgreSQL::Test::Cluster, loads
# the sample application (fixture/app-1.0.sql) with the psql binary (the
# fixture uses \if and \set), and compares digests of the application's
# rows and schema before and after what it does.
package CuTest;

use strict;
use warnings;

use Exporter 'import';
use IPC::Run;
use Time::HiRes ();
use PostgreSQL::Test::Utils;
use Test::More;

our @EXPORT = qw(topdir load_app fingerprint version_of verify_ok failed_checks
  column_types hold_lock release_lock abandon_lock start_sql finish_sql
  new_watcher wait_for_backend close_watcher progress_of log_offset
  crash_restart app_objects start_watched crash_watched pause_at_history);

# The tree's top directory: PGXS's prove_installcheck sets TESTDIR; else the
# parent of t/.
sub topdir
{
	return $ENV{TESTDIR}
	  if $ENV{TESTDIR} && -f "$ENV{TESTDIR}/fixture/app-1.0.sql";
	my $dir = __FILE__;
	$dir =~ s{/?[^/]+$}{};
	$dir = '.' if $dir eq '';
	return "$dir/..";
}

# Create database $db with uuid-ossp, the 1.0 sample application at $scale
# connector slots (about 6/7 of them exist), and connector_uuid at 1.0.
sub load_app
{
	my ($node, $db, $scale) = @_;
	local $Test::Builder::Level = $Test::Builder::Level + 1;
	$node->safe_psql('postgres', qq{CREATE DATABASE "$db"});
	$node->safe_psql($db, 'CREATE EXTENSION "uuid-ossp"');
	$node->command_ok(
		[
			'psql', '-X', '-q', '-v', 'ON_ERROR_STOP=1', '-v', "scale=$scale",
			'-d', $node->connstr($db), '-f', topdir() . '/fixture/app-1.0.sql'
		],
		"sample application loaded into $db ($scale connector slots)");
	$node->safe_psql($db, q{CREATE EXTENSION connector_uuid VERSION '1.0'});
	# a crash test should not replay the load
	$node->safe_psql($db, 'CHECKPOINT');
	return;
}

my $app_tables = q{'mcp_connectors', 'connector_access', 'mcp_servers', 'user', 'alembic_version'};

# A digest of the application: every row of its tables (in key order) and
# every catalog entry the migration touches (columns with types and
# defaults, constraints, indexes, the view, the serial sequence's owner).
# Returned as "name=md5 ..." so that a difference shows which part moved.
# With sequence => 1 the serial sequence's position is included as well.
sub fingerprint
{
	my ($node, $db, %opt) = @_;
	my $seq =
	  $opt{sequence}
	  ? q{, 'sequence=' || (SELECT last_value || '/' || is_called FROM mcp_connectors_id_seq)}
	  : '';
	return $node->safe_psql(
		$db, qq{
		SELECT concat_ws(' ',
		  'connectors=' || (SELECT md5(string_agg(t::text, '|' ORDER BY t.id)) FROM mcp_connectors t),
		  'access=' || (SELECT md5(string_agg(t::text, '|' ORDER BY t.id)) FROM connector_access t),
		  'servers=' || (SELECT md5(string_agg(t::text, '|' ORDER BY t.id)) FROM mcp_servers t),
		  'users=' || (SELECT md5(string_agg(t::text, '|' ORDER BY t.id)) FROM "user" t),
		  'alembic=' || (SELECT string_agg(version_num, ',') FROM alembic_version),
		  'columns=' || (SELECT md5(string_agg(x, '|' ORDER BY x)) FROM (
		      SELECT c.relname || '.' || a.attnum || '.' || a.attname || ' ' || format_type(a.atttypid, a.atttypmod)
		             || ' ' || a.attnotnull || ' ' || a.attidentity::text || ' ' || coalesce(pg_get_expr(d.adbin, d.adrelid), '-') AS x
		      FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid
		      LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
		      WHERE c.relnamespace = 'public'::regnamespace AND c.relname IN ($app_tables)
		        AND a.attnum > 0 AND NOT a.attisdropped) s),
		  'constraints=' || (SELECT md5(string_agg(x, '|' ORDER BY x)) FROM (
		      SELECT c.conrelid::regclass || ' ' || c.conname || ' ' || pg_get_constraintdef(c.oid) || ' ' || c.convalidated AS x
		      FROM pg_constraint c JOIN pg_class r ON r.oid = c.conrelid
		      WHERE r.relnamespace = 'public'::regnamespace AND r.relname IN ($app_tables)) s),
		  'indexes=' || (SELECT md5(string_agg(x, '|' ORDER BY x)) FROM (
		      SELECT pg_get_indexdef(i.indexrelid) || ' ' || i.indisvalid || ' ' || i.indisready AS x
		      FROM pg_index i JOIN pg_class r ON r.oid = i.indrelid
		      WHERE r.relnamespace = 'public'::regnamespace AND r.relname IN ($app_tables)) s),
		  'views=' || (SELECT md5(string_agg(x, '|' ORDER BY x)) FROM (
		      SELECT c.relname || ' ' || pg_get_viewdef(c.oid) || ' ' || coalesce(obj_description(c.oid, 'pg_class'), '-')
		             || ' ' || pg_get_userbyid(c.relowner) AS x
		      FROM pg_class c WHERE c.relnamespace = 'public'::regnamespace AND c.relkind IN ('v', 'm')
		        AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_class'::regclass
		                        AND d.objid = c.oid AND d.deptype = 'e')) s),
		  'serial=' || coalesce(pg_get_serial_sequence('public.mcp_connectors', 'id'), '-')
		  $seq)});
}

sub version_of
{
	my ($node, $db) = @_;
	return $node->safe_psql($db,
		q{SELECT extversion FROM pg_extension WHERE extname = 'connector_uuid'});
}

# The failed checks of connector_uuid_verify(), as "item: detail; ..."
sub failed_checks
{
	my ($node, $db, $thorough) = @_;
	$thorough = $thorough ? 'true' : 'false';
	return $node->safe_psql($db,
		qq{SELECT coalesce(string_agg(item || ': ' || detail, '; ' ORDER BY item), '')
		   FROM connector_uuid_verify(thorough => $thorough) WHERE NOT passed});
}

# Every check of connector_uuid_verify() passes (thoroughly: the child
# tables are scanned for dangling links), and the strict form agrees.
sub verify_ok
{
	my ($node, $db, $what, $nchecks) = @_;
	local $Test::Builder::Level = $Test::Builder::Level + 1;
	# this release's checklist has fourteen rows; an earlier one's fewer
	$nchecks //= 14;
	my $res = $node->safe_psql($db,
		q{SELECT count(*) || ' ' || bool_and(passed) FROM connector_uuid_verify(thorough => true)});
	my $failed = failed_checks($node, $db, 1);
	is($failed, '', "$what: every check of connector_uuid_verify() passes");
	is($res, "$nchecks true", "$what: $nchecks checks, all passed");
	my ($ret, $out, $err) = $node->psql($db,
		'SELECT count(*) FROM connector_uuid_verify(strict => true)');
	is($ret, 0, "$what: connector_uuid_verify(strict => true) raises nothing")
	  or diag $err;
	return;
}

sub column_types
{
	my ($node, $db) = @_;
	return $node->safe_psql(
		$db, q{
		SELECT string_agg(c.relname || '.' || a.attname || ' ' || format_type(a.atttypid, a.atttypmod), ', '
		                  ORDER BY c.relname)
		FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid
		WHERE c.relnamespace = 'public'::regnamespace
		  AND (c.relname, a.attname) IN (('mcp_connectors', 'id'), ('connector_access', 'connector_id'),
		                                 ('mcp_servers', 'connector_id'))});
}

# The application's objects in schema public (everything but the
# extension's own tables and their indexes), as "kind:name,..." and counts:
# relations, constraints, triggers, column defaults.
sub app_objects
{
	my ($node, $db) = @_;
	return $node->safe_psql(
		$db, q{
		WITH rels AS (
		    SELECT c.oid, c.relname, c.relkind FROM pg_class c
		    WHERE c.relnamespace = 'public'::regnamespace AND c.relname NOT LIKE 'connector\_uuid\_%')
		SELECT (SELECT string_agg(relkind::text || ':' || relname, ',' ORDER BY relname) FROM rels)
		    || ' | constraints ' || (SELECT count(*) FROM pg_constraint WHERE conrelid IN (SELECT oid FROM rels))
		    || ' | triggers ' || (SELECT count(*) FROM pg_trigger WHERE tgrelid IN (SELECT oid FROM rels))
		    || ' | defaults ' || (SELECT count(*) FROM pg_attrdef WHERE adrelid IN (SELECT oid FROM rels))
		    || ' | rules ' || (SELECT count(*) FROM pg_rewrite WHERE ev_class IN (SELECT oid FROM rels))});
}

# A session that holds a lock in an open transaction: $lock_sql runs after
# BEGIN.  Returns a handle; its {pid} is the backend's pid.
sub hold_lock
{
	my ($node, $db, $lock_sql) = @_;
	my %s = (in => '', out => '', err => '');
	$s{timer} = IPC::Run::timeout($PostgreSQL::Test::Utils::timeout_default);
	$s{h} = IPC::Run::start(
		[ 'psql', '-X', '-At', '-v', 'ON_ERROR_STOP=1', '-d', $node->connstr($db) ],
		'<', \$s{in}, '>', \$s{out}, '2>', \$s{err}, $s{timer});
	$s{in} .= "BEGIN;\n$lock_sql;\nSELECT 'locked ' || pg_backend_pid();\n";
	pump_until($s{h}, $s{timer}, \$s{out}, qr/locked (\d+)/)
	  or die "the lock was not taken: $s{err}";
	($s{pid}) = $s{out} =~ /locked (\d+)/;
	return \%s;
}

# Make the migration's last step (its row in connector_uuid_history) wait
# while a session holds advisory lock 4242 (hold => 'SELECT
# pg_advisory_xact_lock(4242)'), so that a test can act there: every table
# lock the migration takes is taken, bounded, before the first step.
sub pause_at_history
{
	my ($node, $db) = @_;
	$node->safe_psql(
		$db, q{
		CREATE FUNCTION public.cu_test_pause() RETURNS trigger LANGUAGE plpgsql
		SET search_path = pg_catalog AS $$
		BEGIN PERFORM pg_catalog.pg_advisory_xact_lock(4242); RETURN NEW; END $$;
		CREATE TRIGGER cu_test_pause BEFORE INSERT ON connector_uuid_history
		FOR EACH ROW EXECUTE FUNCTION public.cu_test_pause();});
	return;
}

# Run @{$a{sql}} in the background in database $db, optionally blocked by a
# session running $a{hold} or holding an ACCESS EXCLUSIVE lock on table $a{block}, and wait
# until its backend's query is LIKE $a{like} (and waits on $a{event}); with
# $a{action} ('cancel' or 'terminate') the watcher then acts on it at once.
# Returns {blocker, watcher, offset (of the server log), run, pid}.
sub start_watched
{
	my ($node, $db, %a) = @_;
	my %r;
	$r{blocker} =
	    $a{hold} ? hold_lock($node, $db, $a{hold})
	  : $a{block} ? hold_lock($node, $db, "LOCK TABLE $a{block} IN ACCESS EXCLUSIVE MODE")
	  : undef;
	$r{watcher} = new_watcher($node);
	$r{offset} = log_offset($node);
	$r{run} = start_sql($node, $db, @{ $a{sql} });
	$r{pid} = wait_for_backend($r{watcher}, $a{like}, $a{event}, $a{action});
	return \%r;
}

# Run @{$a{sql}} watched (start_watched), crash its backend as $a{how} says
# once it is where $a{like} says, and check that the client lost its
# connection and that the backend's last progress line matches
# $a{last_step}.  Returns the backend's progress lines.
sub crash_watched
{
	my ($node, $db, %a) = @_;
	my $w = start_watched($node, $db, %a);
	my ($run, $pid, $offset) = @$w{qw(run pid offset)};
	crash_restart($node, $pid, $a{how});
	finish_sql($run);
	close_watcher($w->{watcher});
	abandon_lock($w->{blocker}) if $w->{blocker};

	like($run->{err}, qr/server closed the connection unexpectedly|terminating connection/,
		"$a{name}: the client lost its connection");
	my $steps = progress_of($node, $pid, $offset);
	like($steps->[-1] // 'none', $a{last_step},
		"$a{name}: the backend was in the intended step when it died");
	return $steps;
}

# End the blocker's transaction (ROLLBACK) and its session
sub release_lock
{
	my ($s) = @_;
	$s->{in} .= "ROLLBACK;\n\\q\n";
	$s->{h}->finish;
	return;
}

# Forget a blocker whose server went away (crash)
sub abandon_lock
{
	my ($s) = @_;
	$s->{h}->kill_kill;
	return;
}

# Start psql running the statements of @sql (one -c each, in one session)
# in the background; the handle's {out} and {err} collect its output.  A
# leading { on_error_stop => 0 } lets psql go on after an error.
sub start_sql
{
	my ($node, $db, @sql) = @_;
	my %s = (out => '', err => '');
	my $stop = 1;
	if (ref $sql[0] eq 'HASH')
	{
		my $opt = shift @sql;
		$stop = 0 if defined $opt->{on_error_stop} && !$opt->{on_error_stop};
	}
	$s{timer} = IPC::Run::timeout($PostgreSQL::Test::Utils::timeout_default);
	$s{h} = IPC::Run::start(
		[
			'psql', '-X', '-v', "ON_ERROR_STOP=$stop", '-v', 'VERBOSITY=verbose',
			'-d', $node->connstr($db), map { ('-c', $_) } @sql
		],
		'>', \$s{out}, '2>', \$s{err}, $s{timer});
	$s{started} = Time::HiRes::time();
	return \%s;
}

# Wait for a start_sql to end; returns its exit status (0: all ran)
sub finish_sql
{
	my ($s) = @_;
	$s->{h}->finish;
	$s->{elapsed} = Time::HiRes::time() - $s->{started};
	return $s->{h}->result(0);
}

# A session in database postgres that waits, polling pg_stat_activity every
# few milliseconds on the server, for a backend whose query is LIKE a
# pattern: the kill (or cancel) then follows at once, not after a round
# trip of psql start-ups.
sub new_watcher
{
	my ($node) = @_;
	my %s = (in => '', out => '', err => '', n => 0);
	$s{timer} = IPC::Run::timeout($PostgreSQL::Test::Utils::timeout_default);
	$s{h} = IPC::Run::start(
		[ 'psql', '-X', '-At', '-v', 'ON_ERROR_STOP=1', '-d', $node->connstr('postgres') ],
		'<', \$s{in}, '>', \$s{out}, '2>', \$s{err}, $s{timer});
	$s{in} .= q{
CREATE FUNCTION pg_temp.wait_for_backend(pattern text, event text, act text, limit_s float8)
RETURNS integer LANGUAGE plpgsql AS $$
DECLARE
    found integer;
    deadline timestamptz := clock_timestamp() + limit_s * interval '1 second';
BEGIN
    LOOP
        PERFORM pg_stat_clear_snapshot();
        SELECT pid INTO found FROM pg_stat_activity
        WHERE query LIKE pattern AND pid <> pg_backend_pid()
          AND (event IS NULL OR wait_event = event)
        LIMIT 1;
        IF found IS NOT NULL AND act = 'cancel' THEN
            PERFORM pg_cancel_backend(found);
        ELSIF found IS NOT NULL AND act = 'terminate' THEN
            PERFORM pg_terminate_backend(found);
        END IF;
        IF found IS NOT NULL OR clock_timestamp() > deadline THEN
            RETURN found;
        END IF;
        PERFORM pg_sleep(0.002);
    END LOOP;
END $$;
SELECT 'watcher ready';
};
	pump_until($s{h}, $s{timer}, \$s{out}, qr/watcher ready/)
	  or die "watcher did not start: $s{err}";
	$s{out} = '';
	return \%s;
}

# The pid of the first backend whose pg_stat_activity.query is LIKE
# $pattern (and, if given, whose wait_event is $event); dies after 120 s.
# With $action 'cancel' (or 'terminate'), the watcher sends it
# pg_cancel_backend() (or pg_terminate_backend()) at once.
sub wait_for_backend
{
	my ($w, $pattern, $event, $action) = @_;
	my $n = ++$w->{n};
	$pattern =~ s/'/''/g;
	$event = defined $event ? "'$event'" : 'NULL';
	$action = defined $action ? "'$action'" : 'NULL';
	$w->{in} .= "SELECT 'pid$n=' || coalesce(pg_temp.wait_for_backend('$pattern', $event, $action, 120)::text, 'none');\n";
	pump_until($w->{h}, $w->{timer}, \$w->{out}, qr/pid$n=(\d+|none)\n/)
	  or die "watcher failed: $w->{err}";
	my ($pid) = $w->{out} =~ /pid$n=(\d+|none)\n/;
	die "no backend reached a query like $pattern" if $pid eq 'none';
	return $pid;
}

sub close_watcher
{
	my ($w) = @_;
	$w->{h}->kill_kill;
	return;
}

sub log_offset
{
	my ($node) = @_;
	return -s $node->logfile;
}

# The connector_uuid progress lines ("step k of n: ...") that backend $pid
# wrote to the server log after $offset
sub progress_of
{
	my ($node, $pid, $offset) = @_;
	my $log = slurp_file($node->logfile, $offset);
	return [ $log =~ /\[$pid\][^\n]*LOG:  connector_uuid: (step \d+ of \d+: [^\n]*)/g ];
}

# kill -9 backend $pid (or, with $how 'immediate', stop the server in
# immediate mode); wait until the server is back.
sub crash_restart
{
	my ($node, $pid, $how) = @_;
	my $offset = log_offset($node);
	if ($how eq 'immediate')
	{
		$node->stop('immediate');
		$node->start;
	}
	else
	{
		kill 'KILL', $pid or die "could not kill $pid: $!";
		$node->wait_for_log(qr/all server processes terminated; reinitializing/, $offset);
		$node->wait_for_log(qr/database system is ready to accept connections/, $offset);
	}
	$node->poll_query_until('postgres', 'SELECT true')
	  or die 'the server did not come back';
	return;
}

1;
