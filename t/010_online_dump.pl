# A prepared database (after CALL connector_uuid_prepare(), before the
# swap): pg_dump and restore, and the swap against a long application
# transaction.
#
# pg_dump writes CREATE EXTENSION IF NOT EXISTS connector_uuid without a
# version, before the tables; the extension's configuration tables (the
# registry with the key, the online state) come back with their rows, the
# twin columns, indexes, constraints and sync triggers with the tables.
#  (a) restored into an empty database, the extension is installed at the
#      default version 2.0 over prepared integer tables: verify names the
#      fix, UPDATE TO '1.0', which records 1.0 and changes nothing; then
#      ALTER EXTENSION UPDATE swaps.
#  (b) restored into a database where CREATE EXTENSION connector_uuid
#      VERSION '1.0' ran first: prepared at 1.0, the sync triggers work, the
#      swap gives every connector the uuid it had in the original database.
#  (c) a long application transaction holding ROW EXCLUSIVE during the swap:
#      ALTER EXTENSION UPDATE gives up within a bounded time with 55P03,
#      naming the table, and changes nothing; after the transaction ends the
#      swap works.
#  (d) a connector born at 2.0 keeps its uuid through the swap back and an
#      abort (the abort records it in the id map).
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
$node->append_conf('postgresql.conf', "connector_uuid.progress = off\n");
$node->start;
my $tmp = PostgreSQL::Test::Utils::tempdir;

load_app($node, 'app', 2000);
$node->safe_psql('app', 'CALL connector_uuid_prepare()');
# connectors born while prepared: their uuids come from the sync trigger
$node->safe_psql(
	'app', q{
	INSERT INTO mcp_connectors (name, url) SELECT 'born ' || i, 'https://born.example.com/' || i FROM generate_series(1, 5) i;
	INSERT INTO connector_access (connector_id, user_id)
	SELECT c.id, md5('user9')::uuid FROM mcp_connectors c WHERE c.name LIKE 'born %';});
is($node->safe_psql('app', 'SELECT phase FROM connector_uuid_online'), 'prepared', 'app: prepared');
my $fp_prepared = fingerprint($node, 'app', sequence => 1);
# every connector's integer and uuid, and every grant's pair
my $ids_sql = q{SELECT md5(string_agg(id || '>' || id_uuid, ',' ORDER BY id)) FROM mcp_connectors};
my $ids_swapped_sql = q{SELECT md5(string_agg(id_int || '>' || id, ',' ORDER BY id_int)) FROM mcp_connectors
                        WHERE name <> 'born in r2'};
my $ids = $node->safe_psql('app', $ids_sql);
my $state_sql = q{SELECT string_agg(t::text, '|' ORDER BY table_id) FROM
                  (SELECT table_id, schema_name, table_name, phase, batch_size FROM connector_uuid_online) t};
my $state = $node->safe_psql('app', $state_sql);

# the uuid checks of 008: wrong keys, wrong access links, wrong server links
sub wrong_uuids
{
	my ($db, $swapped) = @_;
	my ($int, $uuid, $ref_int, $ref_uuid) =
	  $swapped ? qw(id_int id connector_id_int connector_id) : qw(id id_uuid connector_id connector_id_uuid);
	return $node->safe_psql(
		$db, qq{
		SELECT (SELECT count(*) FILTER (WHERE $uuid IS DISTINCT FROM connector_uuid_lookup('mcp_connectors', $int))
		        FROM mcp_connectors)
		    || ' ' || (SELECT count(*) FILTER (WHERE a.$ref_uuid IS DISTINCT FROM c.$uuid)
		               FROM connector_access a LEFT JOIN mcp_connectors c ON c.$int = a.$ref_int)
		    || ' ' || (SELECT count(*) FILTER (WHERE s.$ref_uuid IS DISTINCT FROM c.$uuid)
		               FROM mcp_servers s LEFT JOIN mcp_connectors c ON c.$int = s.$ref_int)});
}
is(wrong_uuids('app', 0), '0 0 0', 'app: every uuid is connector_uuid_lookup() of its integer, every link right');

$node->command_ok([ 'pg_dump', '-Fc', '-f', "$tmp/prepared.dump", '-d', $node->connstr('app') ],
	'pg_dump -Fc of the prepared database');

# --- (a) restored into an empty database -------------------------------------

$node->safe_psql('postgres', 'CREATE DATABASE r1');
$node->command_ok([ 'pg_restore', '--exit-on-error', '-d', $node->connstr('r1'), "$tmp/prepared.dump" ],
	'r1: pg_restore --exit-on-error into an empty database succeeds');
is(version_of($node, 'r1'), '2.0', 'r1: the extension is restored at the default version, 2.0');
is(fingerprint($node, 'r1', sequence => 1), $fp_prepared, 'r1: the tables as they were, twins, triggers and all');
is($node->safe_psql('r1', $ids_sql), $ids, 'r1: every connector with its integer and its uuid');
is($node->safe_psql('r1', $state_sql), $state, 'r1: the online state came along: prepared');
my ($passed, $detail) = split /\|/,
  $node->safe_psql('r1', q{SELECT passed, detail FROM connector_uuid_verify() WHERE item = 'extension version matches the tables'}),
  2;
is($passed, 'f', 'r1: verify says the version disagrees with the tables');
like($detail, qr/ALTER EXTENSION connector_uuid UPDATE TO '1\.0'/, 'r1: and names the fix');
# the fix the README gives: UPDATE TO '1.0' records the integer state
$node->safe_psql('r1', q{ALTER EXTENSION connector_uuid UPDATE TO '1.0'});
is(version_of($node, 'r1'), '1.0', "r1: UPDATE TO '1.0' records 1.0");
is($node->safe_psql('r1', $state_sql), $state, 'r1: still prepared');
is(fingerprint($node, 'r1', sequence => 1), $fp_prepared, 'r1: the fix changes no row, column, index or constraint');
verify_ok($node, 'r1', 'r1, after the fix');
$node->safe_psql('r1', 'ALTER EXTENSION connector_uuid UPDATE');
is(version_of($node, 'r1'), '2.0', 'r1: then the swap works');
is($node->safe_psql('r1', 'SELECT phase FROM connector_uuid_online'), 'swapped', 'r1: phase swapped');
is(column_types($node, 'r1'),
	'connector_access.connector_id uuid, mcp_connectors.id uuid, mcp_servers.connector_id uuid',
	'r1: the uuid columns carry the names');
verify_ok($node, 'r1', 'r1, swapped');
is(wrong_uuids('r1', 1), '0 0 0', 'r1: swapped, every uuid and link right');

# --- (b) restored where connector_uuid 1.0 was created first --------------------

$node->safe_psql('postgres', 'CREATE DATABASE r2');
$node->safe_psql('r2', q{CREATE EXTENSION "uuid-ossp"; CREATE EXTENSION connector_uuid VERSION '1.0'});
$node->command_ok([ 'pg_restore', '--exit-on-error', '-d', $node->connstr('r2'), "$tmp/prepared.dump" ],
	'r2: pg_restore --exit-on-error after CREATE EXTENSION connector_uuid VERSION \'1.0\' succeeds');
is(version_of($node, 'r2'), '1.0', 'r2: at 1.0');
is($node->safe_psql('r2', $state_sql), $state, 'r2: prepared');
is(fingerprint($node, 'r2', sequence => 1), $fp_prepared, 'r2: the tables as they were');
is($node->safe_psql('r2', $ids_sql), $ids, 'r2: every connector with its integer and its uuid');
verify_ok($node, 'r2', 'r2, restored prepared');
# the restored sync triggers work
$node->safe_psql(
	'r2', q{
	INSERT INTO mcp_connectors (name, url) VALUES ('born in r2', 'https://r2.example.com');
	INSERT INTO connector_access (connector_id, user_id)
	SELECT c.id, md5('user2')::uuid FROM mcp_connectors c WHERE c.name = 'born in r2';
	UPDATE mcp_servers SET connector_id = (SELECT id FROM mcp_connectors WHERE name = 'born in r2')
	WHERE name = (SELECT min(name) FROM mcp_servers WHERE connector_id IS NOT NULL);});
is(wrong_uuids('r2', 0), '0 0 0', 'r2: rows written after the restore have their uuids from the sync triggers');
$node->safe_psql('r2', 'ALTER EXTENSION connector_uuid UPDATE');
is(version_of($node, 'r2'), '2.0', 'r2: the swap works');
verify_ok($node, 'r2', 'r2, swapped');
is(wrong_uuids('r2', 1), '0 0 0', 'r2: swapped, every uuid and link right');

# --- (c) a long application transaction during the swap ----------------------

my $blocker = hold_lock($node, 'app', q{UPDATE mcp_connectors SET name = name WHERE name = 'connector 1'});
my $run = start_sql(
	$node, 'app',
	q{SET connector_uuid.lock_timeout = '200ms'},
	q{SET connector_uuid.lock_retries = 2},
	'ALTER EXTENSION connector_uuid UPDATE');
isnt(finish_sql($run), 0, 'a long transaction during the swap: ALTER EXTENSION UPDATE fails');
ok($run->{elapsed} < 20, sprintf('and gives up in bounded time (%.1f s)', $run->{elapsed}));
like($run->{err}, qr/ERROR:  55P03: could not lock table "public\.mcp_connectors"/,
	'with 55P03, naming the table');
like($run->{err}, qr/processes holding locks on it: $blocker->{pid}/, 'and the blocking process');
is(version_of($node, 'app'), '1.0', 'the database is unchanged: at 1.0');
is($node->safe_psql('app', 'SELECT phase FROM connector_uuid_online'), 'prepared', 'still prepared');
release_lock($blocker);
is(fingerprint($node, 'app', sequence => 1), $fp_prepared, 'every row, column, index and constraint as before');

$node->safe_psql('app', 'ALTER EXTENSION connector_uuid UPDATE');
is(version_of($node, 'app'), '2.0', 'after the transaction ended, the swap works');
verify_ok($node, 'app', 'app, swapped');
is(wrong_uuids('app', 1), '0 0 0', 'app: swapped, every uuid and link right');
is($node->safe_psql('r2', $ids_swapped_sql), $node->safe_psql('app', $ids_swapped_sql),
	'the restored database (r2) swapped to the same uuids as the original');
is($node->safe_psql('r1', $ids_swapped_sql), $node->safe_psql('app', $ids_swapped_sql),
	'and so did r1');

# --- (d) a connector born at 2.0, the swap back, then abort ---------------------

# At 2.0 a new connector gets a random uuid (and an integer from the
# sequence).  After the swap back its uuid is still in its twin column;
# connector_uuid_abort() records it in the id map before it drops the
# twin, as the offline downgrade records such ids (001_dump_restore, r20b),
# so a later offline upgrade gives it the uuid the application saw.
my $born = $node->safe_psql('app',
	q{INSERT INTO mcp_connectors (name, url) VALUES ('born at 2.0', 'https://b20.example.com') RETURNING id_int || ' ' || id});
my ($born_int, $born_uuid) = split / /, $born;
$node->safe_psql('app', q{ALTER EXTENSION connector_uuid UPDATE TO '1.0'});
is($node->safe_psql('app', 'SELECT phase FROM connector_uuid_online'), 'prepared', 'app: swapped back, prepared');
is($node->safe_psql('app', q{SELECT id || ' ' || id_uuid FROM mcp_connectors WHERE name = 'born at 2.0'}),
	$born, 'app: swapped back, the connector born at 2.0 keeps its integer and its uuid');
# the abort keeps it in the id map (the swap back changes only the
# catalogs; the row itself holds its uuid meanwhile)
$node->safe_psql('app', 'SELECT connector_uuid_abort()');
is($node->safe_psql('app', "SELECT connector_uuid_lookup('mcp_connectors', $born_int)"), $born_uuid,
	'app: after the abort, connector_uuid_lookup() of its integer gives its uuid');
$node->safe_psql('app', 'ALTER EXTENSION connector_uuid UPDATE');
is($node->safe_psql('app', q{SELECT id FROM mcp_connectors WHERE name = 'born at 2.0'}), $born_uuid,
	'app: abort, then the offline upgrade: the connector born at 2.0 has the uuid it had');

$node->stop;
done_testing();
