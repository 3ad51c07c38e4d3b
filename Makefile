# Makefile for connector_uuid (PGXS)

MODULE_big = connector_uuid
OBJS = \
	src/settings.o \
	src/entry.o \
	src/catalog.o \
	src/discover.o \
	src/dependents.o \
	src/softref.o \
	src/steps.o \
	src/preflight.o \
	src/privcheck.o \
	src/probe.o \
	src/connector.o \
	src/partition.o \
	src/plan.o \
	src/locking.o \
	src/progress.o \
	src/executor.o \
	src/registry.o \
	src/idmap.o \
	src/translate.o \
	src/keyexport.o \
	src/replication.o \
	src/idgen.o \
	src/verify.o \
	src/security.o \
	src/sync.o \
	src/keyswap.o \
	src/twins.o \
	src/onlinestate.o \
	src/prepare.o \
	src/swap.o \
	src/worker.o \
	src/walpace.o \
	src/pagerewrite.o \
	src/spi_util.o
PGFILEDESC = "connector_uuid - integer primary keys to UUID and back, without loss"

EXTENSION = connector_uuid
DATA = connector_uuid--1.0.sql connector_uuid--1.0--2.0.sql connector_uuid--2.0--1.0.sql
# The 2.0 install script (used by plain CREATE EXTENSION, e.g. pg_restore) is
# the 1.0 script plus the migration call, so the two can never drift apart.
DATA_built = connector_uuid--2.0.sql
EXTRA_CLEAN = connector_uuid--2.0.sql

REGRESS = install plan upgrade downgrade adopt errors privileges hostile overloads schema_app schema_objects partitioned convert idmap translate replication pagerewrite softref grants trust_owner trust_reads trust_planner registry_tamper revert_range locks update_paths online
REGRESS_OPTS = --load-extension=uuid-ossp
ISOLATION = concurrent_dml lock_wait concurrent_convert online_dml online_swap online_sync_ids
ISOLATION_OPTS = --load-extension=uuid-ossp
TAP_TESTS = 1

PG_CONFIG ?= pg_config
PGXS := $(shell $(PG_CONFIG) --pgxs)
include $(PGXS)

connector_uuid--2.0.sql: connector_uuid--1.0.sql
	sed -e 's/connector_uuid--1\.0\.sql/connector_uuid--2.0.sql (generated from connector_uuid--1.0.sql)/' \
	    -e 's/VERSION .1\.0. to load this file/to load this file/' $< > $@
	printf '%s\n' '' '-- Installing 2.0 directly: migrate the tables if they are there (none yet' \
	    '-- during pg_restore, which creates extensions before tables).' \
	    'SELECT @extschema@.connector_uuid_upgrade(true::pg_catalog.bool);' >> $@

# the headers (a few, by layer: see the README's "How it works")
$(OBJS): $(wildcard src/*.h)
