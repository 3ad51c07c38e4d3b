# A streaming hot standby replays the whole online run (prepare, the swap,
# finalize) while the application writes on the primary: inserts with
# grants and servers, updates that move links, deletes that cascade, each
# its own transaction.  On the standby the checklist passes when prepared,
# after the swap and after finalize, every uuid is the one the key gives for
# its integer and every link follows its integer link, and at the end the
# standby holds what the primary holds.  The application saw no error.
use strict;
use warnings;

use FindBin;
use lib $FindBin::RealBin;
use CuTest;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $primary = PostgreSQL::Test::Cluster->new('primary');
$primary->init(allows_streaming => 1);
$primary->append_conf('postgresql.conf', "connector_uuid.progress = off\n");
$primary->start;
load_app($primary, 'app', 5000);

# the application: a loop of short transactions, in a schema of its own,
# written so that it works whether the ids are integers or uuids
$primary->safe_psql(
	'app', q{
	CREATE SCHEMA w;
	CREATE TABLE w.ctl (stop boolean NOT NULL, rounds integer NOT NULL);
	INSERT INTO w.ctl VALUES (false, 0);
	CREATE PROCEDURE w.writes() LANGUAGE plpgsql AS $$
	DECLARE i integer := 0;
	BEGIN
	    LOOP
	        i := i + 1;
	        INSERT INTO public.mcp_connectors (name, url) VALUES ('w ' || i, 'https://w.example.com/' || i);
	        INSERT INTO public.connector_access (connector_id, user_id)
	        SELECT c.id, md5('user5')::uuid FROM public.mcp_connectors c WHERE c.name = 'w ' || i;
	        INSERT INTO public.mcp_servers (id, connector_id, name)
	        SELECT gen_random_uuid(), c.id, 'ws ' || i FROM public.mcp_connectors c WHERE c.name = 'w ' || i;
	        UPDATE public.mcp_connectors SET description = 'touched ' || i WHERE name = 'connector ' || (1 + i % 4000);
	        UPDATE public.connector_access
	           SET connector_id = (SELECT c.id FROM public.mcp_connectors c WHERE c.name = 'w ' || i)
	         WHERE id = 3 * i;
	        DELETE FROM public.mcp_connectors WHERE name = 'connector ' || (5 + 7 * (i % 700));
	        UPDATE w.ctl SET rounds = i;
	        COMMIT;
	        EXIT WHEN (SELECT stop FROM w.ctl);
	        PERFORM pg_sleep(0.005);
	    END LOOP;
	END $$;
	CHECKPOINT;});

$primary->backup('base');
my $standby = PostgreSQL::Test::Cluster->new('standby');
$standby->init_from_backup($primary, 'base', has_streaming => 1);
$standby->start;
$primary->wait_for_catchup($standby);
is($standby->safe_psql('app', 'SELECT pg_is_in_recovery()'), 't', 'the standby is in recovery');

# the uuid checks of 008: "wrong rows" per table, 0 0 0 (connectors born at
# 2.0 have random uuids: their keys are not looked up, their links are)
sub wrong_uuids
{
	my ($node, $swapped) = @_;
	my ($int, $uuid, $ref_int, $ref_uuid) =
	  $swapped ? qw(id_int id connector_id_int connector_id) : qw(id id_uuid connector_id connector_id_uuid);
	return $node->safe_psql(
		'app', qq{
		SELECT (SELECT count(*) FILTER (WHERE $uuid IS DISTINCT FROM connector_uuid_lookup('mcp_connectors', $int))
		        FROM mcp_connectors WHERE $int <= (SELECT max_int FROM w.swap))
		    || ' ' || (SELECT count(*) FILTER (WHERE a.$ref_uuid IS DISTINCT FROM c.$uuid)
		               FROM connector_access a LEFT JOIN mcp_connectors c ON c.$int = a.$ref_int)
		    || ' ' || (SELECT count(*) FILTER (WHERE s.$ref_uuid IS DISTINCT FROM c.$uuid)
		               FROM mcp_servers s LEFT JOIN mcp_connectors c ON c.$int = s.$ref_int)});
}

sub uuids_right
{
	my ($node, $swapped, $what) = @_;
	local $Test::Builder::Level = $Test::Builder::Level + 1;
	is(wrong_uuids($node, $swapped), '0 0 0',
		"$what: every uuid is connector_uuid_lookup() of its integer, every link its parent's");
	return;
}

my $all_passed = 'SELECT count(*) || bool_and(passed)::text FROM connector_uuid_verify(thorough => true)';
my $rounds = sub { $primary->safe_psql('app', 'SELECT rounds FROM w.ctl') };

# --- the application writes from here to the end --------------------------

my $app = start_sql($primary, 'app', 'CALL w.writes()');
$primary->poll_query_until('app', 'SELECT rounds > 10 FROM w.ctl') or die 'the application did not start';

# --- prepare ------------------------------------------------------------------

$primary->safe_psql('app',
	q{CALL connector_uuid_prepare(batch_size => 500, pause => '5 ms', max_lag => 16777216)});
my $r1 = $rounds->();
is($primary->safe_psql('app', 'SELECT phase FROM connector_uuid_online'), 'prepared', 'the primary is prepared');
# wait for more application writes, so that the triggers, not the backfill, gave the last rows their uuids
$primary->poll_query_until('app', "SELECT rounds > $r1 + 20 FROM w.ctl") or die 'the application stopped';
# the highest integer a connector had before the swap (those born after it have random uuids)
$primary->safe_psql('app', 'CREATE TABLE w.swap AS SELECT max(id) AS max_int FROM mcp_connectors');
$primary->wait_for_catchup($standby);
is($standby->safe_psql('app', 'SELECT phase FROM connector_uuid_progress LIMIT 1'), 'prepared',
	'the standby replayed the preparation');
is($standby->safe_psql('app', $all_passed), '14true', 'on the standby, prepared: all fourteen checks pass');
uuids_right($standby, 0, 'on the standby, prepared');
uuids_right($primary, 0, 'on the primary, prepared');

# --- the swap -------------------------------------------------------------------

$primary->safe_psql('app', 'ALTER EXTENSION connector_uuid UPDATE');
my $r2 = $rounds->();
is(version_of($primary, 'app'), '2.0', 'the primary swapped');
$primary->poll_query_until('app', "SELECT rounds > $r2 + 20 FROM w.ctl") or die 'the application stopped';
$primary->wait_for_catchup($standby);
is(version_of($standby, 'app'), '2.0', 'the standby replayed the swap');
is(column_types($standby, 'app'),
	'connector_access.connector_id uuid, mcp_connectors.id uuid, mcp_servers.connector_id uuid',
	'the standby has the uuid columns under the names');
is($standby->safe_psql('app', $all_passed), '14true', 'on the standby, swapped: all fourteen checks pass');
verify_ok($standby, 'app', 'on the standby, swapped');
uuids_right($standby, 1, 'on the standby, swapped');
uuids_right($primary, 1, 'on the primary, swapped');

# --- finalize ---------------------------------------------------------------------

$primary->safe_psql('app', 'SELECT connector_uuid_finalize()');
my $r3 = $rounds->();
$primary->poll_query_until('app', "SELECT rounds > $r3 + 20 FROM w.ctl") or die 'the application stopped';
$primary->wait_for_catchup($standby);
is( $standby->safe_psql(
		'app', q{SELECT count(*) FROM pg_attribute WHERE attrelid IN ('mcp_connectors'::regclass,
		         'connector_access'::regclass, 'mcp_servers'::regclass) AND attname LIKE '%\_int' AND NOT attisdropped}),
	'0', 'the standby replayed finalize: no integer columns');
is($standby->safe_psql('app', $all_passed), '14true', 'on the standby, finalized: all fourteen checks pass');
verify_ok($standby, 'app', 'on the standby, finalized');

# --- the application stops: no error, and the standby has what the primary has

$primary->safe_psql('app', 'UPDATE w.ctl SET stop = true');
is(finish_sql($app), 0, 'the application loop ran through the whole online run without an error')
  or diag $app->{err};
unlike($app->{err}, qr/ERROR/, 'and reported none');
my $total = $rounds->();
ok($total > $r3 + 20, "the application wrote all along ($total rounds)");
$primary->wait_for_catchup($standby);
# (not the sequence's position: WAL logs it ahead of the primary's value)
is(fingerprint($standby, 'app'), fingerprint($primary, 'app'),
	'the standby holds the rows and schema of the primary');
is( $standby->safe_psql(
		'app', q{SELECT count(*) FROM connector_access a LEFT JOIN mcp_connectors c ON c.id = a.connector_id
		         WHERE a.connector_id IS NOT NULL AND c.id IS NULL}),
	'0', 'on the standby: no grant points at a missing connector');

$standby->stop;
$primary->stop;
done_testing();
