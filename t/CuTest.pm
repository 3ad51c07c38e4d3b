# t/CuTest.pm: helpers shared by the TAP tests of connector_uuid.
package CuTest;

use strict;
use warnings;

use Exporter 'import';
use PostgreSQL::Test::Utils;
use Test::More;

our @EXPORT = qw(load_app fingerprint version_of verify_ok start_migration
  wait_for_step backend_pid_of);

# The tree's top directory (PGXS sets TESTDIR; else the parent of t/)
sub topdir
{
	return $ENV{TESTDIR} if $ENV{TESTDIR};
	my $dir = __FILE__;
	$dir =~ s{/t/[^/]+$}{};
	return $dir;
}

# Create database $db with uuid-ossp, the 1.0 sample application at $scale
# connector slots, and connector_uuid at 1.0.
sub load_app
{
	my ($node, $db, $scale) = @_;
	$node->safe_psql('postgres', qq{CREATE DATABASE "$db"});
	$node->safe_psql($db, 'CREATE EXTENSION "uuid-ossp"');
	$node->command_ok(
		[
			'psql', '-X', '-q', '-v', 'ON_ERROR_STOP=1', '-v', "scale=$scale",
			'-d', $node->connstr($db), '-f', topdir() . '/fixture/app-1.0.sql'
		],
		"sample application loaded into $db ($scale connector slots)");
	$node->safe_psql($db, q{CREATE EXTENSION connector_uuid VERSION '1.0'});
	return;
}

# A digest of every row of the three tables and of the catalog entries the
# migration touches: equal digests, identical data and schema.
sub fingerprint
{
	my ($node, $db) = @_;
	return $node->safe_psql(
		$db, q{
		SELECT md5(string_agg(r, '|' ORDER BY r)) FROM (
		    SELECT 'c' || t::text AS r FROM mcp_connectors t
		    UNION ALL SELECT 'a' || t::text FROM connector_access t
		    UNION ALL SELECT 's' || t::text FROM mcp_servers t
		    UNION ALL SELECT 'k' || conname || pg_get_constraintdef(oid) FROM pg_constraint
		        WHERE conrelid IN ('mcp_connectors'::regclass, 'connector_access'::regclass, 'mcp_servers'::regclass)
		    UNION ALL SELECT 'i' || pg_get_indexdef(indexrelid) FROM pg_index
		        WHERE indrelid IN ('mcp_connectors'::regclass, 'connector_access'::regclass, 'mcp_servers'::regclass)) s});
}

sub version_of
{
	my ($node, $db) = @_;
	return $node->safe_psql($db,
		q{SELECT extversion FROM pg_extension WHERE extname = 'connector_uuid'});
}

# Every check of connector_uuid_verify() passes
sub verify_ok
{
	my ($node, $db, $what) = @_;
	my $failed = $node->safe_psql($db,
		q{SELECT string_agg(item || ': ' || detail, '; ') FROM connector_uuid_verify(thorough => true) WHERE NOT passed});
	is($failed, '', "$what: every check of connector_uuid_verify() passes");
	return;
}

# Start "$sql" in the background on its own connection; returns the
# IPC::Run handle and refs to its stdout and stderr.
sub start_migration
{
	my ($node, $db, $sql) = @_;
	my ($out, $err) = ('', '');
	my $h = IPC::Run::start(
		[ 'psql', '-X', '-d', $node->connstr($db), '-c', $sql ],
		'>', \$out, '2>', \$err);
	return ($h, \$out, \$err);
}

# Wait until a backend's pg_stat_activity.query matches $like; its pid
sub wait_for_step
{
	my ($node, $db, $like) = @_;
	my $pid;
	for (my $i = 0; $i < 600; $i++)
	{
		$pid = $node->safe_psql($db,
			qq{SELECT pid FROM pg_stat_activity WHERE query LIKE '$like' LIMIT 1});
		return $pid if $pid ne '';
		usleep(50_000);
	}
	die "no backend reached a step like $like";
}

sub usleep
{
	my ($us) = @_;
	select(undef, undef, undef, $us / 1_000_000);
	return;
}

# The pid of the backend running a statement like $like (waiting or not)
sub backend_pid_of
{
	my ($node, $db, $like) = @_;
	return wait_for_step($node, $db, $like);
}

1;
