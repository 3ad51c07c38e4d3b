# A key table partitioned by HASH of its key is rebuilt around its
# partitions (src/partition.c): its old parent renamed, a new one created,
# partitions detached, rows moved between them, rewritten and attached.
# Crashes in the middle of that (kill -9 while the rebuild waits for a lock
# after the new parent exists; immediate shutdown while rows move between
# partitions) leave, after the restart, the table exactly as it was: same
# parent, same partitions, every row in its partition, nothing of the
# rebuild left behind.  Then the conversion and the revert run through and
# round-trip exactly.
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
$node->append_conf(
	'postgresql.conf', q{
connector_uuid.progress = log
restart_after_crash = on
});
$node->start;

my $db = 'part';
$node->safe_psql('postgres', "CREATE DATABASE $db");
$node->safe_psql(
	$db, q{
	CREATE EXTENSION "uuid-ossp";
	CREATE EXTENSION connector_uuid VERSION '1.0';
	CREATE TABLE currency (code text PRIMARY KEY);
	INSERT INTO currency VALUES ('EUR'), ('USD');
	CREATE TABLE account (id serial PRIMARY KEY, name text NOT NULL,
	                      currency text REFERENCES currency, parent_id integer)
	  PARTITION BY HASH (id);
	ALTER TABLE account ADD CONSTRAINT account_parent FOREIGN KEY (parent_id) REFERENCES account;
	CREATE INDEX account_name ON account (name);
	COMMENT ON TABLE account IS 'accounts';
	CREATE TABLE account_0 PARTITION OF account FOR VALUES WITH (MODULUS 4, REMAINDER 0);
	CREATE TABLE account_1 PARTITION OF account FOR VALUES WITH (MODULUS 4, REMAINDER 1);
	CREATE TABLE account_2 PARTITION OF account FOR VALUES WITH (MODULUS 4, REMAINDER 2);
	CREATE TABLE account_3 PARTITION OF account FOR VALUES WITH (MODULUS 4, REMAINDER 3);
	INSERT INTO account (name, currency, parent_id)
	  SELECT 'a' || g, CASE WHEN g % 2 = 0 THEN 'EUR' ELSE 'USD' END, NULLIF(g - 1, 0)
	  FROM generate_series(1, 200000) g;
	CREATE TABLE posting (id serial PRIMARY KEY, account_id integer NOT NULL REFERENCES account ON DELETE CASCADE);
	INSERT INTO posting (account_id) SELECT 1 + g % 200000 FROM generate_series(1, 100000) g;
	CREATE VIEW account_names AS SELECT name FROM account;
	ANALYZE;
});

# rows (with the partition each is in), links, and the catalog entries of
# the parent, its partitions and what references them
sub state
{
	return $node->safe_psql(
		$db, q{
		SELECT concat_ws(' ',
		  'rows=' || (SELECT md5(string_agg(tableoid::regclass || ':' || t::text, '|' ORDER BY t.id::text)) FROM account t),
		  'postings=' || (SELECT md5(string_agg(t::text, '|' ORDER BY t.id)) FROM posting t),
		  'catalog=' || (SELECT md5(string_agg(x, '|' ORDER BY x)) FROM (
		      SELECT c.relname || ' ' || c.relkind::text || ' ' || coalesce(pg_get_expr(c.relpartbound, c.oid), '-')
		             || ' ' || coalesce(obj_description(c.oid, 'pg_class'), '-') AS x
		      FROM pg_class c WHERE c.relnamespace = 'public'::regnamespace
		      UNION ALL SELECT conrelid::regclass || ' ' || conname || ' ' || pg_get_constraintdef(oid)
		      FROM pg_constraint WHERE connamespace = 'public'::regnamespace
		      UNION ALL SELECT a.attrelid::regclass || ' ' || a.attname || ' ' || format_type(a.atttypid, a.atttypmod)
		             || ' ' || coalesce(pg_get_expr(d.adbin, d.adrelid), '-')
		      FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid
		      LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
		      WHERE c.relnamespace = 'public'::regnamespace AND c.relkind IN ('r', 'p') AND a.attnum > 0
		        AND NOT a.attisdropped
		      UNION ALL SELECT pg_get_indexdef(indexrelid) FROM pg_index i JOIN pg_class c ON c.oid = i.indrelid
		      WHERE c.relnamespace = 'public'::regnamespace) s))});
}

sub leftovers
{
	return $node->safe_psql($db,
		q{SELECT count(*) FROM pg_class WHERE relname ~ '^connector_uuid_(old|stage|moved)_'});
}

my $before = state();
my $convert = q{SELECT connector_uuid_convert('account')};

# Run the conversion, catch it where $like says, crash it as $how says;
# after the restart everything is as before.
sub crash_in_rebuild
{
	my (%a) = @_;
	crash_watched($node, $db, sql => [$convert], %a);
	is(state(), $before, "$a{name}: parent, partitions, rows (each in its partition) and links as before");
	is(leftovers(), '0', "$a{name}: nothing of the rebuild left behind");
	is($node->safe_psql($db, 'SELECT count(*) FROM connector_uuid_tables'), '0',
		"$a{name}: nothing registered");
	return;
}

# the new parent exists and the old one is renamed when the parent's foreign
# key to currency is added; every table lock is taken before the first step
# (currency's too), so an event trigger holds the migration there, while a
# session holds advisory lock 4242
$node->safe_psql(
	$db, q{
	CREATE FUNCTION public.cu_test_pause_ddl() RETURNS event_trigger LANGUAGE plpgsql
	SET search_path = pg_catalog AS $$
	BEGIN
	  PERFORM pg_catalog.pg_stat_clear_snapshot();
	  IF (SELECT a.query FROM pg_catalog.pg_stat_activity a WHERE a.pid = pg_catalog.pg_backend_pid())
	     LIKE '%ADD CONSTRAINT account_currency_fkey%' THEN
	    PERFORM pg_catalog.pg_advisory_xact_lock(4242);
	  END IF;
	END $$;
	CREATE EVENT TRIGGER cu_test_pause_ddl ON ddl_command_end WHEN TAG IN ('ALTER TABLE')
	EXECUTE FUNCTION public.cu_test_pause_ddl();});
crash_in_rebuild(
	name => 'killed with the new parent made',
	hold => 'SELECT pg_advisory_xact_lock(4242)',
	like => 'connector_uuid: step % ADD CONSTRAINT account_currency_fkey%',
	event => 'advisory',
	how => 'kill',
	last_step => qr/: new parent: ALTER TABLE, as the old parent had it$/);
$node->safe_psql($db, 'DROP EVENT TRIGGER cu_test_pause_ddl; DROP FUNCTION public.cu_test_pause_ddl()');

# rows moving between the detached partitions
crash_in_rebuild(
	name => 'immediate shutdown while rows move between partitions',
	like => 'connector_uuid: step %WITH moving AS %',
	how => 'immediate',
	last_step => qr/^step \d+ of \d+: account_\d+: move out the rows whose new id hashes to another partition$/);

# after all that, the conversion and the revert run through
$node->safe_psql($db, $convert);
is( $node->safe_psql(
		$db, q{SELECT bool_and(satisfies_hash_partition('account'::regclass, 4, substr(tableoid::regclass::text, 9)::int, id))
		       FROM account}),
	't', 'converted: every row in the partition its uuid hashes to');
is( $node->safe_psql($db, q{SELECT format_type(atttypid, atttypmod) FROM pg_attribute
		                    WHERE attrelid = 'posting'::regclass AND attname = 'account_id'}),
	'uuid', 'converted: the referencing column too');
is( $node->safe_psql(
		$db, q{SELECT count(*) FROM posting p JOIN account a ON a.id = p.account_id}),
	'100000', 'converted: every posting still linked');
is(leftovers(), '0', 'converted: nothing of the rebuild left behind');
$node->safe_psql($db, q{SELECT connector_uuid_revert('account')});
is(state(), $before, 'reverted: parent, partitions, rows (each in its partition) and links as before');

$node->stop;
done_testing();
