# The online backfill flushes its WAL in pieces of
# connector_uuid.prepare_flush_after while a batch runs (src/walpace.c), so
# that an application's commit never waits behind a batch's megabytes; with
# 0, only each batch's commit flushes.  Two alike tables, each backfilled in
# one batch, one with each setting: the paced one is flushed many times
# more often (pg_stat_wal.wal_sync, which counts only with fsync = on: the
# test node turns it on).
use strict;
use warnings;

use FindBin;
use lib $FindBin::RealBin;
use CuTest;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $node = PostgreSQL::Test::Cluster->new('pace');
$node->init;
$node->append_conf('postgresql.conf', "fsync = on\nautovacuum = off\n");
$node->start;
$node->safe_psql('postgres', 'CREATE DATABASE pace');
$node->safe_psql('pace', q{
CREATE EXTENSION "uuid-ossp";
CREATE EXTENSION connector_uuid VERSION '1.0';
CREATE TABLE pace_on (id serial PRIMARY KEY, pad text);
INSERT INTO pace_on (pad) SELECT repeat('p', 200) FROM generate_series(1, 20000);
CREATE TABLE pace_off AS SELECT * FROM pace_on;
ALTER TABLE pace_off ADD PRIMARY KEY (id);
CHECKPOINT;
});

# each psql session's WAL counters reach pg_stat_wal when it exits
sub syncs { return $node->safe_psql('pace', 'SELECT wal_sync FROM pg_stat_wal'); }

my $s0 = syncs();
$node->safe_psql('pace', q{SET connector_uuid.progress = off;
SET connector_uuid.prepare_flush_after = 0;
CALL connector_uuid_prepare('pace_off', batch_size => 100000);});
my $s1 = syncs();
$node->safe_psql('pace', q{SET connector_uuid.progress = off;
CALL connector_uuid_prepare('pace_on', batch_size => 100000);});
my $s2 = syncs();
my ($off, $on) = ($s1 - $s0, $s2 - $s1);
note("WAL flushes: $off unpaced, $on paced (64kB)");
ok($on > 4 * $off + 20, "the paced backfill flushes its WAL in pieces ($on flushes against $off)");

is( $node->safe_psql(
		'pace', q{SELECT (SELECT count(*) FROM pace_on WHERE id_uuid IS DISTINCT FROM connector_uuid_lookup('pace_on', id))
		 + (SELECT count(*) FROM pace_off WHERE id_uuid IS DISTINCT FROM connector_uuid_lookup('pace_off', id))}),
	'0', 'both backfills gave every row its uuid');
is($node->safe_psql('pace', q{SELECT string_agg(DISTINCT phase, ',') FROM connector_uuid_progress}),
	'prepared', 'both tables prepared');

$node->stop;
done_testing();
