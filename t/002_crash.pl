# Crashes (kill -9 of the migrating backend, immediate shutdown) at several
# points of the upgrade and of the downgrade: while it waits before the
# rewrites, inside a table rewrite, at its last step, and at commit (the
# commit record written, the backend waiting for a synchronous standby).
# After the restart the database is at the old version with every row, link,
# index and constraint as before (or, for the crash after the commit record,
# at the new version and consistent), the checklist passes, and the
# migration runs again.  Each crash checks in the server log that the
# backend really was at the step it was meant to be killed in.
use strict;
use warnings;

use FindBin;
use lib $FindBin::RealBin;
use CuTest;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $node = PostgreSQL::Test::Cluster->new('main');
# wal_level = replica, as in production (and max_wal_senders > 0, without
# which no commit waits for a synchronous standby)
$node->init(allows_streaming => 1);
# Commits wait for a synchronous standby that never comes, but only in a
# session that asks for it (synchronous_commit = on): that is how a backend
# is caught after its commit record is flushed.
$node->append_conf(
	'postgresql.conf', q{
connector_uuid.progress = log
restart_after_crash = on
synchronous_standby_names = 'nobody'
synchronous_commit = local
});
$node->start;

# large enough that each table rewrite takes a noticeable time
my $scale = 100000;
load_app($node, 'app', $scale);
pause_at_history($node, 'app');
my $fp10 = fingerprint($node, 'app');
my $access_max = $node->safe_psql('app', 'SELECT max(id) FROM connector_access');

# The rows of the original 1.0 application (not those born at 2.0 below)
sub original_rows
{
	return $node->safe_psql(
		'app', qq{
		SELECT concat_ws(' ',
		  (SELECT md5(string_agg(t::text, '|' ORDER BY t.id)) FROM mcp_connectors t WHERE id <= $scale),
		  (SELECT md5(string_agg(t::text, '|' ORDER BY t.id)) FROM connector_access t WHERE id <= $access_max),
		  (SELECT md5(string_agg(t::text, '|' ORDER BY t.id)) FROM mcp_servers t WHERE name NOT LIKE 'born %'))});
}
my $orig10 = original_rows();

my $up = 'ALTER EXTENSION connector_uuid UPDATE';
my $down = q{ALTER EXTENSION connector_uuid UPDATE TO '1.0'};

# Run @sql in the background (optionally blocked by a session holding an
# ACCESS EXCLUSIVE lock on $a{block}), wait until its backend's query is
# LIKE $a{like} (and waits on $a{event}), crash it as $a{how} says, and
# check where it was and that nothing changed.
sub crash_at
{
	my (%a) = @_;
	my $steps = crash_watched($node, 'app', %a);
	unlike(join("\n", @$steps), $a{not_done}, "$a{name}: and had not finished it")
	  if $a{not_done};
	is(version_of($node, 'app'), $a{version}, "$a{name}: at $a{version} after the restart");
	is(fingerprint($node, 'app'), $a{fp}, "$a{name}: every row, link, index and constraint as before")
	  if $a{fp};
	verify_ok($node, 'app', $a{name});
	return;
}

# --- the upgrade ---------------------------------------------------------

crash_at(
	name => 'upgrade killed while waiting for its locks, before the rewrites',
	sql => [$up],
	block => 'connector_uuid_map',
	like => $up,
	event => 'relation',
	how => 'kill',
	last_step => qr/^none$/,
	version => '1.0',
	fp => $fp10);

crash_at(
	name => 'upgrade stopped (immediate) inside the rewrite of mcp_connectors',
	sql => [$up],
	like => 'connector_uuid: step % mcp_connectors: rewrite %ALTER TABLE % TYPE uuid%',
	how => 'immediate',
	last_step => qr/^step \d+ of \d+: mcp_connectors: rewrite [0-9,]+ rows with their new ids$/,
	not_done => qr/mcp_connectors: rewrote/,
	version => '1.0',
	fp => $fp10);

crash_at(
	name => 'upgrade killed inside the rewrite of connector_access',
	sql => [$up],
	like => 'connector_uuid: step % connector_access: rewrite %ALTER TABLE % TYPE uuid%',
	how => 'kill',
	last_step => qr/^step \d+ of \d+: connector_access: rewrite [0-9,]+ rows with their new references$/,
	not_done => qr/connector_access: rewrote/,
	version => '1.0',
	fp => $fp10);

crash_at(
	name => 'upgrade killed at its last step, before commit',
	sql => [$up],
	hold => 'SELECT pg_advisory_xact_lock(4242)',
	like => 'connector_uuid: step % of %: mcp_connectors: append a row to %connector_uuid_history%',
	event => 'advisory',
	how => 'kill',
	last_step => qr/^step (\d+) of \1: mcp_connectors: append a row/,
	version => '1.0',
	fp => $fp10);

# after the commit record is flushed: the upgrade has happened
crash_at(
	name => 'upgrade killed at commit, after the commit record',
	sql => [ 'SET synchronous_commit = on', $up ],
	like => $up,
	event => 'SyncRep',
	how => 'kill',
	last_step => qr/^step (\d+) of \1: mcp_connectors: append a row/,
	version => '2.0');
is(column_types($node, 'app'),
	'connector_access.connector_id uuid, mcp_connectors.id uuid, mcp_servers.connector_id uuid',
	'the committed upgrade survived the crash: uuid columns');
is( $node->safe_psql(
		'app', q{SELECT count(*) = (SELECT count(*) FROM mcp_connectors)
		         FROM mcp_connectors c JOIN connector_uuid_ids('mcp_connectors') m ON m.new_id = c.id
		         WHERE m.old_id IS NOT NULL}),
	't', 'and every connector translates to its old id');
is($node->safe_psql('app', q{SELECT string_agg(direction || ' ' || outcome, ',') FROM connector_uuid_history}),
	'to uuid converted', 'and one history row: only the committed run left one');

# connectors, grants and servers born at 2.0 give the downgrade more to do
$node->safe_psql(
	'app', q{
	INSERT INTO mcp_connectors (name, url) SELECT 'born ' || i, 'https://born' || i || '.example.com'
	FROM generate_series(1, 40) i;
	INSERT INTO connector_access (connector_id, user_id)
	SELECT c.id, md5('user1')::uuid FROM mcp_connectors c WHERE c.name LIKE 'born %';
	INSERT INTO mcp_servers (id, connector_id, name)
	SELECT gen_random_uuid(), c.id, 'born server ' || c.name FROM mcp_connectors c WHERE c.name LIKE 'born %';
	CHECKPOINT;});
my $fp20 = fingerprint($node, 'app');

# --- the downgrade -------------------------------------------------------

crash_at(
	name => 'downgrade killed while waiting for its locks, before the rewrites',
	sql => [$down],
	block => 'connector_uuid_map',
	like => $down,
	event => 'relation',
	how => 'kill',
	last_step => qr/^none$/,
	version => '2.0',
	fp => $fp20);

crash_at(
	name => 'downgrade killed inside the rewrite of connector_access',
	sql => [$down],
	like => 'connector_uuid: step % connector_access: rewrite %ALTER TABLE % TYPE integer%',
	how => 'kill',
	last_step => qr/^step \d+ of \d+: connector_access: rewrite [0-9,]+ rows with their new references$/,
	not_done => qr/connector_access: rewrote/,
	version => '2.0',
	fp => $fp20);

crash_at(
	name => 'downgrade stopped (immediate) inside the rewrite of mcp_servers',
	sql => [$down],
	like => 'connector_uuid: step % mcp_servers: rewrite %ALTER TABLE % TYPE integer%',
	how => 'immediate',
	last_step => qr/^step \d+ of \d+: mcp_servers: rewrite [0-9,]+ rows with their new references$/,
	not_done => qr/mcp_servers: rewrote/,
	version => '2.0',
	fp => $fp20);

crash_at(
	name => 'downgrade stopped (immediate) at its last step, before commit',
	sql => [$down],
	hold => 'SELECT pg_advisory_xact_lock(4242)',
	like => 'connector_uuid: step % of %: mcp_connectors: append a row to %connector_uuid_history%',
	event => 'advisory',
	how => 'immediate',
	last_step => qr/^step (\d+) of \1: mcp_connectors: append a row/,
	version => '2.0',
	fp => $fp20);

crash_at(
	name => 'downgrade killed at commit, after the commit record',
	sql => [ 'SET synchronous_commit = on', $down ],
	like => $down,
	event => 'SyncRep',
	how => 'kill',
	last_step => qr/^step (\d+) of \1: mcp_connectors: append a row/,
	version => '1.0');
is(original_rows(), $orig10, 'the committed downgrade: every original row has its original integer id back');
is( $node->safe_psql(
		'app', qq{SELECT count(*) || ' ' || count(DISTINCT id) || ' ' || bool_and(id > $scale)
		          FROM mcp_connectors WHERE name LIKE 'born %'}),
	'40 40 true', 'the connectors born at 2.0 got new integers past the old ones');
is( $node->safe_psql(
		'app', q{SELECT count(*) FROM connector_access a JOIN mcp_connectors c ON c.id = a.connector_id
		         WHERE c.name LIKE 'born %'}),
	'40', 'and their grants followed them');
my $fp10b = fingerprint($node, 'app');

# the migrations run again after all that, and round-trip exactly
$node->safe_psql('app', $up);
is(fingerprint($node, 'app'), $fp20, 'upgrade again: every connector gets the uuid it had at 2.0');
verify_ok($node, 'app', 'upgraded again');
$node->safe_psql('app', $down);
is(fingerprint($node, 'app'), $fp10b, 'downgrade again: the same integers');
is(original_rows(), $orig10, 'the original rows as they were loaded');
verify_ok($node, 'app', 'downgraded again');

$node->stop;
done_testing();
