# Across releases: the same uuid for the same integer, and a lossless
# rollback, whichever release converted and whichever reverts.
#
#  (a) converted by the previous release, reverted by this one: the
#      previous release's dump at 2.0 (fixture/release-*/converted.sql, made
#      by scripts/make-release-fixture.sh with that release: the connector
#      tables upgraded with its defaults, which wrote every pair to the id
#      map, and a general orders table converted with full_map = off; rows
#      deleted and born at uuid time in both) restores here, verifies, and
#      this release's rollback gives exactly what the previous release's own
#      rollback gave (reverted.sql);
#  (b) converted again by this one: reverted.sql restored here and
#      converted gives every row the uuid the previous release gave it,
#      the rows born at uuid time included;
#  (c) converted by this release, reverted by the previous one: with the
#      previous release's source (scripts/test.sh extracts it from git into
#      .previous-release, when the clone has that commit), built here into
#      a private copy of the PostgreSQL installation, a database this
#      release converted (its default: no derived pair in the map) is
#      dumped, restored under the previous release, verified there and
#      reverted by it to exactly what this release's own rollback gives.
use strict;
use warnings;

use FindBin;
use lib $FindBin::RealBin;
use CuTest;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my ($fixture) = glob(topdir() . '/fixture/release-*/converted.sql');
die 'no cross-release fixture under fixture/' unless $fixture;
(my $fixdir = $fixture) =~ s{/converted\.sql$}{};
my $release = slurp_file("$fixdir/RELEASE");
note("previous release: $release");

my $node = PostgreSQL::Test::Cluster->new('main');
$node->init;
$node->append_conf('postgresql.conf', "connector_uuid.progress = off\n");
$node->start;
my $tmp = PostgreSQL::Test::Utils::tempdir;

sub restore_plain
{
	my ($n, $db, $file) = @_;
	$n->safe_psql('postgres', qq{CREATE DATABASE "$db"});
	$n->command_ok([ 'psql', '-X', '-q', '-v', 'ON_ERROR_STOP=1', '-d', $n->connstr($db), '-f', $file ],
		"$file restored into $db");
	return;
}

# every row of the general tables, whatever their key types, and their
# columns with types and defaults
my $orders_sql = q{
	SELECT concat_ws(' ',
	  'orders=' || (SELECT md5(string_agg(t::text, '|' ORDER BY t::text)) FROM orders t),
	  'lines=' || (SELECT md5(string_agg(t::text, '|' ORDER BY t::text)) FROM order_lines t),
	  'shipments=' || (SELECT md5(string_agg(t::text, '|' ORDER BY t::text)) FROM shipments t),
	  'columns=' || (SELECT md5(string_agg(x, '|' ORDER BY x)) FROM (
	      SELECT c.relname || '.' || a.attname || ' ' || format_type(a.atttypid, a.atttypmod) || ' '
	             || a.attidentity::text || ' ' || coalesce(pg_get_expr(d.adbin, d.adrelid), '-') AS x
	      FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid
	      LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
	      WHERE c.relname IN ('orders', 'order_lines', 'shipments') AND a.attnum > 0 AND NOT a.attisdropped) s),
	  'constraints=' || (SELECT md5(string_agg(pg_get_constraintdef(c.oid), '|' ORDER BY conname))
	      FROM pg_constraint c WHERE conrelid IN ('orders'::regclass, 'order_lines'::regclass, 'shipments'::regclass)))};

sub state_of
{
	my ($n, $db, %opt) = @_;
	return fingerprint($n, $db, %opt) . ' ' . $n->safe_psql($db, $orders_sql);
}

sub revert_all
{
	my ($n, $db) = @_;
	$n->safe_psql($db, q{ALTER EXTENSION connector_uuid UPDATE TO '1.0'});
	$n->safe_psql($db, q{SELECT connector_uuid_revert('orders')});
	return;
}

# --- (a) converted by the previous release, reverted by this one ---------

restore_plain($node, 'prev20', $fixture);
restore_plain($node, 'prev10', "$fixdir/reverted.sql");
is(version_of($node, 'prev20'), '2.0', 'prev20: at 2.0');
is(column_types($node, 'prev20'),
	'connector_access.connector_id uuid, mcp_connectors.id uuid, mcp_servers.connector_id uuid',
	'prev20: with uuid keys');
verify_ok($node, 'prev20', 'prev20, the previous release\'s conversion');
my $prev20_state = state_of($node, 'prev20');
is( $node->safe_psql(
		'prev20', q{SELECT count(*) FILTER (WHERE old_id IS NOT NULL) || ' ' || count(*) FILTER (WHERE old_id IS NULL)
		           FROM connector_uuid_ids('mcp_connectors')}),
	$node->safe_psql(
		'prev20', q{SELECT count(*) FILTER (WHERE name NOT LIKE 'born %') || ' ' || count(*) FILTER (WHERE name LIKE 'born %')
		           FROM mcp_connectors}),
	'prev20: this release translates every old connector of the previous one, and none born at 2.0');
my $prev_map = $node->safe_psql('prev20', q{SELECT count(*) FROM connector_uuid_map m
	JOIN connector_uuid_tables t USING (table_id) WHERE t.table_name = 'mcp_connectors'});
ok($prev_map > 0, "prev20: the previous release wrote the full map ($prev_map pairs)");
is( $node->safe_psql(
		'prev20', q{SELECT count(*) FROM connector_uuid_map m JOIN connector_uuid_tables t USING (table_id)
		           JOIN mcp_connectors c ON c.id = m.new_id
		           WHERE t.table_name = 'mcp_connectors'
		             AND m.new_id IS DISTINCT FROM connector_uuid_lookup('mcp_connectors', m.old_id)}),
	'0', 'prev20: every pair of its map is what this release derives from the key');

revert_all($node, 'prev20');
is(version_of($node, 'prev20'), '1.0', 'prev20: reverted by this release');
is(state_of($node, 'prev20', sequence => 1), state_of($node, 'prev10', sequence => 1),
	'prev20: exactly what the previous release\'s own rollback gave: every row, id, link, column and sequence');

# --- (b) the previous release's rollback, converted by this one ----------

is(version_of($node, 'prev10'), '2.0', 'prev10: restored at the default version over integer tables');
$node->safe_psql('prev10', q{ALTER EXTENSION connector_uuid UPDATE TO '1.0'});
verify_ok($node, 'prev10', 'prev10, after the version fix');
$node->safe_psql('prev10', 'ALTER EXTENSION connector_uuid UPDATE');
$node->safe_psql('prev10', q{SELECT connector_uuid_convert('orders')});
is(state_of($node, 'prev10'), $prev20_state,
	'prev10: converted by this release: every row has the uuid the previous release gave it (born at 2.0 too)');
verify_ok($node, 'prev10', 'prev10, converted by this release');

# --- (c) converted by this release, reverted by the previous one ----------

my $prev_src = topdir() . '/.previous-release';
SKIP:
{
	skip 'the previous release\'s source is not here (scripts/test.sh extracts it from git)', 12
	  unless -f "$prev_src/connector_uuid.control";

	# a private copy of this PostgreSQL installation, with the previous
	# release installed into it (the binaries find their share and lib
	# directories relative to themselves)
	my $bindir = `pg_config --bindir`;
	chomp $bindir;
	(my $prefix = $bindir) =~ s{/bin$}{};
	my $sharedir = `pg_config --sharedir`;
	chomp $sharedir;
	my $incdir = `pg_config --includedir`;
	chomp $incdir;
	my $root = "$tmp/prevpg";
	for my $d ($prefix, $sharedir, $incdir)
	{
		(my $parent = "$root$d") =~ s{/[^/]+$}{};
		system('mkdir', '-p', $parent) == 0 && system('cp', '-a', $d, $parent) == 0
		  or die "copying $d failed";
	}
	my $pg_config = "$root$bindir/pg_config";
	my $build = "$tmp/prevbuild";
	system('cp', '-a', $prev_src, $build) == 0 or die "copying $prev_src failed";
	my ($out, $err) = ('', '');
	my $built = IPC::Run::run([ 'make', '-C', $build, '-s', "PG_CONFIG=$pg_config", 'with_llvm=no', 'install' ],
		'>', \$out, '2>', \$err);
	ok($built, 'the previous release builds and installs into a private copy of PostgreSQL')
	  or diag($err);

	# this release converts: its defaults, life at 2.0, a general table
	load_app($node, 'ours', 300);
	$node->safe_psql('ours', q{
		CREATE TABLE orders (id bigint GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY, label text NOT NULL);
		CREATE TABLE order_lines (id serial PRIMARY KEY,
		                          order_id bigint NOT NULL REFERENCES orders ON DELETE CASCADE, qty integer NOT NULL);
		CREATE TABLE shipments (id serial PRIMARY KEY, order_id bigint REFERENCES orders, carrier text);
		INSERT INTO orders (label) SELECT 'order ' || i FROM generate_series(1, 50) i;
		INSERT INTO order_lines (order_id, qty) SELECT 1 + i % 50, i FROM generate_series(1, 120) i;
		INSERT INTO shipments (order_id, carrier) SELECT 1 + i % 30, 'carrier ' || i FROM generate_series(1, 30) i;});
	$node->safe_psql('ours', 'ALTER EXTENSION connector_uuid UPDATE');
	$node->safe_psql('ours', q{SELECT connector_uuid_convert('orders')});
	is($node->safe_psql('ours', 'SELECT count(*) FROM connector_uuid_map'), '0',
		'ours: this release wrote no derived pair');
	$node->safe_psql('ours', q{
		DELETE FROM mcp_connectors WHERE name IN (SELECT name FROM mcp_connectors ORDER BY name LIMIT 7);
		INSERT INTO mcp_connectors (name, url) SELECT 'born ' || i, 'https://born' || i || '.example.com'
		FROM generate_series(1, 3) i;
		INSERT INTO connector_access (connector_id, user_id)
		SELECT c.id, md5('user2')::uuid FROM mcp_connectors c WHERE c.name LIKE 'born %';
		INSERT INTO orders (label) VALUES ('born order');
		INSERT INTO order_lines (order_id, qty) SELECT id, 1 FROM orders WHERE label = 'born order';});
	my $ours20 = state_of($node, 'ours');
	$node->command_ok([ 'pg_dump', '-d', $node->connstr('ours'), '-f', "$tmp/ours20.sql" ],
		'ours: dumped at 2.0');
	revert_all($node, 'ours');
	my $ours10 = state_of($node, 'ours', sequence => 1);

	my $old = PostgreSQL::Test::Cluster->new('previous', install_path => "$root$prefix");
	$old->init;
	$old->append_conf('postgresql.conf', "connector_uuid.progress = off\n");
	$old->start;
	$old->safe_psql('postgres', 'CREATE EXTENSION "uuid-ossp"; CREATE EXTENSION connector_uuid');
	is($old->safe_psql('postgres', q{SELECT count(*) FROM pg_proc WHERE proname = 'connector_uuid_ids'}), '0',
		'the private installation has the previous release (it lacks connector_uuid_ids)');
	$old->safe_psql('postgres', 'DROP EXTENSION connector_uuid; DROP EXTENSION "uuid-ossp"');
	restore_plain($old, 'ours', "$tmp/ours20.sql");
	is(state_of($old, 'ours'), $ours20, 'under the previous release: the same database');
	# (the previous release's checklist has no replication row: thirteen checks)
	verify_ok($old, 'ours', 'the previous release verifies this release\'s conversion', 13);
	revert_all($old, 'ours');
	is(version_of($old, 'ours'), '1.0', 'the previous release reverted it');
	is(state_of($old, 'ours', sequence => 1), $ours10,
		'exactly as this release reverts it: every row, id, link, column and sequence');
	$old->stop;
}

$node->stop;
done_testing();
