# The online mode's throttle: CALL connector_uuid_prepare(max_lag => bytes)
# waits while a standby's replay lag exceeds max_lag, and goes on when the
# standby catches up; the backfill is complete and right afterwards.
use strict;
use warnings;

use FindBin;
use lib $FindBin::RealBin;
use CuTest;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(usleep);

my $primary = PostgreSQL::Test::Cluster->new('primary');
$primary->init(allows_streaming => 1);
$primary->start;
load_app($primary, 'app', 20000);

$primary->backup('base');
my $standby = PostgreSQL::Test::Cluster->new('standby');
$standby->init_from_backup($primary, 'base', has_streaming => 1);
$standby->start;
$primary->wait_for_catchup($standby);

# the standby stops replaying: its lag grows with every batch
$standby->safe_psql('postgres', 'SELECT pg_wal_replay_pause()');
my $prep = start_sql($primary, 'app',
	q{CALL connector_uuid_prepare(batch_size => 500, max_lag => 65536)});

# prepare waits: no batch is recorded for a while, and it says why
my $waiting = 0;
for (my $i = 0; $i < 600; $i++)
{
	if ($prep->{err} =~ /waiting: a standby's replay lag is \d+ bytes, more than max_lag 65536/)
	{
		$waiting = 1;
		last;
	}
	$prep->{h}->pump_nb;
	usleep(100_000);
}
ok($waiting, 'prepare waits while the standby lags more than max_lag');
my $done1 = $primary->safe_psql('app', 'SELECT sum(rows_done) FROM connector_uuid_progress');
sleep 2;
my $done2 = $primary->safe_psql('app', 'SELECT sum(rows_done) FROM connector_uuid_progress');
is($done2, $done1, 'and writes no batch while it waits');
is($primary->safe_psql('app', q{SELECT bool_or(phase = 'backfill') FROM connector_uuid_progress}),
	't', 'still in the backfill');

# the standby replays again: prepare goes on to the end
$standby->safe_psql('postgres', 'SELECT pg_wal_replay_resume()');
is(finish_sql($prep), 0, 'prepare finishes once the standby catches up');
is($primary->safe_psql('app', q{SELECT string_agg(DISTINCT phase, ',') FROM connector_uuid_progress}),
	'prepared', 'all tables prepared');
is( $primary->safe_psql(
		'app', q{SELECT count(*) FROM mcp_connectors WHERE id_uuid IS DISTINCT FROM connector_uuid_lookup('mcp_connectors', id)}),
	'0', 'every connector has its uuid');
is( $primary->safe_psql(
		'app', q{SELECT count(*) FROM connector_access a LEFT JOIN mcp_connectors c ON c.id = a.connector_id
		         WHERE a.connector_id_uuid IS DISTINCT FROM c.id_uuid}),
	'0', 'every grant has its connector\'s uuid');

# the swap replays on the standby, and the checklist passes there
$primary->safe_psql('app', 'ALTER EXTENSION connector_uuid UPDATE');
$primary->wait_for_catchup($standby);
is($standby->safe_psql('app', 'SELECT bool_and(passed) FROM connector_uuid_verify()'), 't',
	'on the standby after the swap: verify passes');

done_testing();
