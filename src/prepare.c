/*-------------------------------------------------------------------------
 *
 * prepare.c
 *	  CALL connector_uuid_prepare(): the online mode's long part, run
 *	  while the application keeps writing, in many short transactions.
 *
 * For a key table and its referencing tables, in this order, each unit
 * of work its own transaction (the procedure commits between them):
 *
 *   1. record the key in the registry and the tables in
 *      connector_uuid_online (phase backfill);
 *   2. per table, a uuid twin column (catalog only) and the sync trigger
 *      (sync.c), under a short lock_timeout with retries;
 *   3. per table, the backfill: the pages that existed when its trigger
 *      was created, a batch of pages per transaction, each row given the
 *      uuid the offline mode would give it.  The batch runs as the table's
 *      owner with session_replication_role = replica, so the application's
 *      own triggers do not fire (as they do not for the offline rewrite)
 *      but the sync trigger, ENABLE ALWAYS, does.  Throttled: a pause
 *      between batches, and waiting while a standby's replay lag exceeds
 *      max_lag bytes.  Every tenth of the table a heap-only VACUUM
 *      (INDEX_CLEANUP OFF, TRUNCATE OFF), so the next batches reuse the
 *      space the last ones freed: the indexes' dead entries go with the
 *      REINDEX of phase build or with their converted column, so cleaning
 *      them now would be wasted work the application pays for, and
 *      truncation would take an ACCESS EXCLUSIVE lock.  Each batch flushes
 *      its WAL in small pieces as it goes (walpace.c);
 *   4. phase build: the twins of the indexes and of the key's unique
 *      index with CREATE INDEX CONCURRENTLY, the key twin NOT NULL (by a
 *      validated CHECK, so SET NOT NULL does not scan), the unique
 *      constraint on its index, each referencing table's CHECK that its
 *      twin is NULL exactly when its integer is, the twin foreign keys NOT
 *      VALID and then VALIDATE CONSTRAINT, which lets writes go on; last,
 *      the indexes the backfill bloated rebuilt with REINDEX CONCURRENTLY;
 *   5. phase prepared.
 *
 * Every unit looks at the catalogs first and skips what is there, so
 * CALL again after a crash, a cancel or a disconnect continues where the
 * last one stopped (an index left invalid by an interrupted build is
 * dropped and built again).  time_budget stops it cleanly between units.
 *
 * CREATE INDEX CONCURRENTLY, REINDEX CONCURRENTLY, DROP INDEX CONCURRENTLY
 * and VACUUM refuse to run inside a procedure: they run in a background worker (worker.c), at
 * top level, while this backend waits holding no snapshot and no lock.
 * Two prepares of one table never run at once: a session advisory lock.
 *
 * IDENTIFICATION
 *	  src/prepare.c
 *
 *-------------------------------------------------------------------------
 */
#include "execute.h"
#include "online.h"
#include "registry.h"
#include "security.h"
#include "spi_util.h"
#include "worker.h"

#include "access/xact.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "storage/latch.h"
#include "storage/lock.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/resowner.h"
#include "utils/lsyscache.h"
#include "utils/timestamp.h"

/*
 * VACUUM a table after each such fraction of its pages is backfilled, and
 * not more often than every CU_VACUUM_MIN_PAGES pages (10 MB)
 */
#define CU_VACUUM_EVERY		0.1
#define CU_VACUUM_MIN_PAGES	1280

/* A batch that waits for a row lock is tried this often before prepare stops */
#define CU_BATCH_RETRIES	30

/* The procedure's run: what it prepares and how */
typedef struct PrepareRun
{
	Oid			relid;			/* the key table */
	CuOptions  *opt;
	CuOnlineState *want;		/* the options asked for */
	CuOnlineState *st;			/* the state row, once there */
	TimestampTz started;
	double		budget_s;		/* or 0: none */
	bool		stopped;		/* the time budget ran out */
} PrepareRun;

/* Commit the work so far and start the next transaction */
static void
commit_unit(void)
{
	SPI_commit();
#if PG_VERSION_NUM < 150000
	SPI_start_transaction();
#endif
}

/* True, with a notice, once the time budget has run out */
static bool
out_of_time(PrepareRun *run)
{
	if (run->stopped)
		return true;
	if (run->budget_s <= 0 ||
		TimestampDifferenceMilliseconds(run->started, GetCurrentTimestamp()) < run->budget_s * 1000.0)
		return false;
	run->stopped = true;
	ereport(NOTICE,
			(errmsg("connector_uuid_prepare stopped: its time budget ran out"),
			 errhint("CALL connector_uuid_prepare() again to continue where it stopped.")));
	return true;
}

/* The key table, discovered now (at integer state), with the run's options */
static CuTarget *
discover(PrepareRun *run)
{
	CuTarget   *t = cu_discover(run->relid);

	cu_partition_discover(t);
	if (run->opt->connector)
		cu_connector_children(t);
	return t;
}

/*
 * Run steps (already added to plan) in this transaction, their locks taken
 * first under connector_uuid.lock_timeout with retries, then commit
 */
static void
run_unit(CuPlan *plan)
{
	CuContext	cx;

	if (plan->steps == NIL)
		return;
	plan->steps = list_concat(cu_lock_phase(plan, InvalidOid), plan->steps);
	cu_enter(&cx, InvalidOid, SECURITY_NOFORCE_RLS);
	cu_lock_short_attempts();
	cu_lock_steps(plan->steps);
	cu_execute_plan(plan);
	cu_leave(&cx);
	commit_unit();
}

/* A new plan for a unit of work on t */
static CuPlan *
unit_plan(PrepareRun *run, CuTarget *t)
{
	CuPlan	   *plan = palloc0(sizeof(CuPlan));

	plan->direction = CU_TO_UUID;
	plan->target = t;
	plan->options = run->opt;
	plan->strategy = CU_STRATEGY_V4;
	plan->state = CU_STATE_INTEGER;
	plan->table_id = run->st ? run->st->table_id : 0;
	return plan;
}

/*
 * The worker's index builds run without parallel workers unless this session
 * set max_parallel_maintenance_workers (to a value other than the server's):
 * on a small machine a parallel build takes every core from the application,
 * which is what the online mode is for (README, "Benchmark")
 */
static void
gentle_maintenance(void)
{
	cu_set_unless_session("max_parallel_maintenance_workers", "0", PGC_USERSET);
}

/* Run sql at top level in the background worker, after committing */
static void
run_in_worker(const char *sql, const char *fmt, const char *name)
{
	commit_unit();
	cu_report_progress(fmt, name);
	gentle_maintenance();
	cu_walpace_unit();
	cu_worker_run(sql, GetUserId());
	commit_unit();
}

/* Does relid have column attname? */
static bool
has_column(Oid relid, const char *attname)
{
	return get_attnum(relid, attname) != InvalidAttrNumber;
}

/* Does relid have a trigger named name? */
static bool
has_trigger(Oid relid, const char *name)
{
	Oid			argtypes[2] = {OIDOID, TEXTOID};
	Datum		values[2];

	values[0] = ObjectIdGetDatum(relid);
	values[1] = CStringGetTextDatum(name);
	cu_spi_exec_args("SELECT FROM pg_catalog.pg_trigger g WHERE g.tgrelid OPERATOR(pg_catalog.=) $1 "
					 "AND g.tgname OPERATOR(pg_catalog.=) $2::pg_catalog.name",
					 SPI_OK_SELECT, 2, argtypes, values, NULL);
	return SPI_processed > 0;
}

/* The state row as it is now */
static void
reread_state(PrepareRun *run)
{
	run->st = cu_online_state(get_namespace_name(get_rel_namespace(run->relid)), get_rel_name(run->relid));
}

/* Set the phase of the run's state row */
static void
set_phase(PrepareRun *run, const char *phase)
{
	Oid			argtypes[2] = {INT4OID, TEXTOID};
	Datum		values[2];

	values[0] = Int32GetDatum(run->st->table_id);
	values[1] = CStringGetTextDatum(phase);
	cu_spi_exec_args(psprintf("UPDATE %s SET phase = $2, updated_at = pg_catalog.clock_timestamp() "
							  "WHERE table_id OPERATOR(pg_catalog.=) $1",
							  cu_extension_qual("connector_uuid_online")),
					 SPI_OK_UPDATE, 2, argtypes, values, NULL);
	run->st->phase = pstrdup(phase);
}

/*
 * The refusals of the online mode beyond the offline mode's (which the
 * caller has run by planning the offline upgrade)
 */
static void
refuse(PrepareRun *run, CuTarget *t)
{
	ListCell   *lc;

	if (run->opt->strategy != CU_STRATEGY_V4)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("the online mode converts with strategy v4 only"),
				 errdetail("connector_uuid.strategy is %s; v5 and v7 ids are not derived from the integer by a permutation the sync trigger can compute.",
						   cu_strategy_name(run->opt->strategy)),
				 errhint("SET connector_uuid.strategy = 'v4', or use the offline mode.")));
	if (t->partitioned || get_rel_relkind(t->relid) == RELKIND_PARTITIONED_TABLE)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("the online mode does not convert partitioned table \"%s\"", t->qualname),
				 errhint("Use the offline mode (ALTER EXTENSION connector_uuid UPDATE, or connector_uuid_convert) for partitioned tables.")));
	foreach(lc, t->fkeys)
	{
		CuForeignKey *fk = lfirst(lc);

		if (fk->synthetic)
			ereport(ERROR,
					(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
					 errmsg("column %s of table \"%s\" has no foreign key to \"%s\"",
							fk->attname, cu_qualify(fk->nspname, fk->relname), t->qualname),
					 errhint("Add the foreign key first, or use the offline mode, which adds it.")));
		if (fk->relid == t->relid)
			ereport(ERROR,
					(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
					 errmsg("the online mode does not convert self-referencing table \"%s\"", t->qualname),
					 errdetail("Foreign key \"%s\" references the table's own key.", fk->conname),
					 errhint("Use the offline mode.")));
		if (get_rel_relkind(fk->relid) == RELKIND_PARTITIONED_TABLE)
			ereport(ERROR,
					(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
					 errmsg("the online mode does not convert partitioned table \"%s\"",
							cu_qualify(fk->nspname, fk->relname)),
					 errhint("Use the offline mode for partitioned tables.")));
	}
}

/*
 * Refuse a constraint on a converted column other than the key and the
 * foreign keys: a unique, exclusion or check constraint (or a referencing
 * table's primary key) would have no twin, and finalize's DROP COLUMN
 * would take it away with the integer column
 */
static void
refuse_constraints(CuOnline *o)
{
	ListCell   *lc;

	foreach(lc, o->twins)
	{
		CuTwin	   *tw = lfirst(lc);
		Oid			argtypes[3] = {OIDOID, INT2OID, OIDOID};
		Datum		values[3];

		if (tw->kind != CU_TWIN_COLUMN)
			continue;
		values[0] = ObjectIdGetDatum(tw->relid);
		values[1] = Int16GetDatum(get_attnum(tw->relid, tw->attname));
		values[2] = ObjectIdGetDatum(o->target->pkconoid);
		cu_spi_exec_args("SELECT c.conname, c.contype FROM pg_catalog.pg_constraint c "
						 "WHERE c.conrelid OPERATOR(pg_catalog.=) $1 AND c.oid OPERATOR(pg_catalog.<>) $3 "
						 "  AND c.contype OPERATOR(pg_catalog.=) ANY ('{p,u,x,c}'::pg_catalog.\"char\"[]) "
						 "  AND $2 OPERATOR(pg_catalog.=) ANY (c.conkey) "
						 "ORDER BY c.conname LIMIT 1",
						 SPI_OK_SELECT, 3, argtypes, values, NULL);
		if (SPI_processed > 0)
		{
			char	   *kind = cu_spi_getstring(0, 2);

			ereport(ERROR,
					(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
					 errmsg("the online mode cannot carry %s constraint \"%s\" of table \"%s\" over to column %s's twin",
							kind[0] == 'p' ? "primary key" : kind[0] == 'u' ? "unique" :
							kind[0] == 'x' ? "exclusion" : "check",
							cu_spi_getstring(0, 1), cu_qualify(tw->nspname, tw->relname), tw->attname),
					 errdetail("It uses the converted column; the online mode twins the key, the foreign keys and the indexes only, and finalize drops the integer column with what uses it."),
					 errhint("Use the offline mode (ALTER EXTENSION connector_uuid UPDATE without prepare, or connector_uuid_convert), which converts it in place.")));
		}
	}
}

/* Refuse a twin name already taken on the table by something else */
static void
refuse_taken_names(CuOnline *o)
{
	ListCell   *lc;

	foreach(lc, o->twins)
	{
		CuTwin	   *tw = lfirst(lc);
		int			i;

		/* the uuid twin's name now, the integer side's after the swap */
		for (i = 0; i < 2; i++)
		{
			char	   *name = i == 0 ? tw->twin : cu_twin_name(tw->base, "_int");
			bool		taken = false;

			if (tw->kind == CU_TWIN_COLUMN)
				taken = has_column(tw->relid, name);
			else if (tw->kind == CU_TWIN_INDEX || tw->kind == CU_TWIN_KEY)
				taken = OidIsValid(get_relname_relid(name, get_rel_namespace(tw->relid)));
			if (tw->kind == CU_TWIN_KEY || tw->kind == CU_TWIN_FKEY)
				taken = taken || OidIsValid(cu_lookup_constraint(tw->relid, name));
			if (taken)
				ereport(ERROR,
						(errcode(ERRCODE_DUPLICATE_OBJECT),
						 errmsg("table \"%s\" already has an object named \"%s\"",
								cu_qualify(tw->nspname, tw->relname), name),
						 errdetail(i == 0 ? "The online mode names the uuid twin of \"%s\" so." :
								   "The online swap renames \"%s\" so, for the integer side.", tw->base),
						 errhint("Rename that object, or use the offline mode.")));
		}
	}
}

/*
 * Unit 1: the checks, the registry row (and key) and the state rows.
 * Returns false if there is nothing to do (already prepared).
 */
static bool
start(PrepareRun *run)
{
	CuContext	cx;
	CuTarget   *t;
	CuPlan	   *offline;
	CuOnline   *o;
	int			table_id;
	bool		new_registry;
	Oid			argtypes[7] = {INT4OID, NAMEOID, NAMEOID, INT4OID, INTERVALOID, INT8OID, BOOLOID};
	Datum		values[7];
	char		nulls[7] = "       ";
	ListCell   *lc;
	int			ordinal = 0;
	CuOnlineState *want = run->want;

	cu_enter(&cx, InvalidOid, SECURITY_NOFORCE_RLS);
	reread_state(run);
	if (run->st)
	{
		if (strcmp(run->st->phase, "swapped") == 0)
			ereport(ERROR,
					(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
					 errmsg("table \"%s\" is swapped already", cu_qualify(run->st->nspname, run->st->relname)),
					 errhint("Finish with connector_uuid_finalize(), or swap back first.")));
		if (run->st->batch_size != want->batch_size || strcmp(run->st->pause, want->pause) != 0 ||
			run->st->max_lag_null != want->max_lag_null ||
			(!want->max_lag_null && run->st->max_lag != want->max_lag))
			ereport(ERROR,
					(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
					 errmsg("table \"%s\" is being prepared with other options",
							cu_qualify(run->st->nspname, run->st->relname)),
					 errdetail("It was started with batch_size %d, pause '%s', max_lag %s.",
							   run->st->batch_size, run->st->pause,
							   run->st->max_lag_null ? "NULL" : psprintf("%lld", (long long) run->st->max_lag)),
					 errhint("CALL connector_uuid_prepare() with the same options to continue, or remove what it added with connector_uuid_abort() and start again.")));
		cu_leave(&cx);
		if (strcmp(run->st->phase, "prepared") == 0)
		{
			cu_report_progress("table %s is prepared: ALTER EXTENSION connector_uuid UPDATE (or connector_uuid_convert) swaps",
							   cu_qualify(run->st->nspname, run->st->relname));
			return false;
		}
		cu_report_progress("continuing the preparation of %s (phase %s)",
						   cu_qualify(run->st->nspname, run->st->relname), run->st->phase);
		return true;
	}

	if (!OidIsValid(cu_extension_rel("connector_uuid_online")))
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("this installation of connector_uuid 1.0 predates the online mode"),
				 errdetail("Its schema has no table connector_uuid_online."),
				 errhint("If connector_uuid_status() shows no mapped tables, install 1.0 again: DROP EXTENSION connector_uuid; CREATE EXTENSION connector_uuid VERSION '1.0'.")));

	/* tables in logical replication: the order of the sides (replication.c) */
	if (OidIsValid(run->relid) && get_rel_name(run->relid) != NULL)
		cu_replication_prepare_check(discover(run));
	/* every refusal of the offline upgrade applies, and the plan's checks */
	run->opt->preparing = true;
	offline = cu_build_plan(run->relid, CU_TO_UUID, run->opt);
	run->opt->preparing = false;
	if (offline->state == CU_STATE_MISSING)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_TABLE),
				 errmsg("relation with OID %u does not exist", run->relid)));
	if (offline->adopt)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("table \"%s\" is not at integer state", offline->target->qualname),
				 errhint("There is nothing to prepare.")));
	t = discover(run);
	refuse(run, t);
	o = cu_online_picture(t, 0, false, true);
	refuse_constraints(o);
	refuse_taken_names(o);

	table_id = cu_registry_id(t->nspname, t->relname);
	new_registry = (table_id == 0);
	if (new_registry)
		table_id = cu_registry_take_id();
	run->opt->online = true;
	table_id = cu_registry_register(t, run->opt, table_id);

	values[0] = Int32GetDatum(table_id);
	values[1] = DirectFunctionCall1(namein, CStringGetDatum(t->nspname));
	values[2] = DirectFunctionCall1(namein, CStringGetDatum(t->relname));
	values[3] = Int32GetDatum(want->batch_size);
	values[4] = DirectFunctionCall3(interval_in, CStringGetDatum(want->pause),
									ObjectIdGetDatum(InvalidOid), Int32GetDatum(-1));
	values[5] = Int64GetDatum(want->max_lag);
	nulls[5] = want->max_lag_null ? 'n' : ' ';
	values[6] = BoolGetDatum(new_registry);
	cu_spi_exec_args(psprintf("INSERT INTO %s (table_id, schema_name, table_name, phase, batch_size, pause, "
							  "max_lag, new_registry, started_at, updated_at) "
							  "VALUES ($1, $2, $3, 'backfill', $4, $5, $6, $7, pg_catalog.clock_timestamp(), "
							  "pg_catalog.clock_timestamp())",
							  cu_extension_qual("connector_uuid_online")),
					 SPI_OK_INSERT, 7, argtypes, values, nulls);
	foreach(lc, o->relids)
	{
		Oid			relid = lfirst_oid(lc);
		Oid			targs[4] = {INT4OID, NAMEOID, NAMEOID, INT4OID};
		Datum		tvals[4];

		tvals[0] = Int32GetDatum(table_id);
		tvals[1] = DirectFunctionCall1(namein, CStringGetDatum(get_namespace_name(get_rel_namespace(relid))));
		tvals[2] = DirectFunctionCall1(namein, CStringGetDatum(get_rel_name(relid)));
		tvals[3] = Int32GetDatum(ordinal++);
		cu_spi_exec_args(psprintf("INSERT INTO %s (table_id, schema_name, table_name, ordinal, pages_total, rows_total) "
								  "SELECT $1, $2, $3, $4, 0, GREATEST(c.reltuples, 0)::pg_catalog.int8 "
								  "FROM pg_catalog.pg_class c WHERE c.oid OPERATOR(pg_catalog.=) %u",
								  cu_extension_qual("connector_uuid_online_tables"), relid),
						 SPI_OK_INSERT, 4, targs, tvals, NULL);
	}
	cu_report_progress("recorded the key of %s in the registry (table id %d); preparing %d tables",
					   t->qualname, table_id, list_length(o->relids));
	reread_state(run);
	cu_leave(&cx);
	/* committed with the key table's sync trigger (setup_tables): see cu_online_state_of() */
	return true;
}

/* Does the id map hold ids of table_id the key does not derive? */
static bool
has_exceptions(int table_id)
{
	Oid			argtypes[1] = {INT4OID};
	Datum		values[1];

	values[0] = Int32GetDatum(table_id);
	cu_spi_exec_args(psprintf("SELECT FROM %s WHERE table_id OPERATOR(pg_catalog.=) $1 AND NOT derived LIMIT 1",
							  cu_extension_qual("connector_uuid_map")),
					 SPI_OK_SELECT, 1, argtypes, values, NULL);
	return SPI_processed > 0;
}

/* Unit 2: each table's twin column and sync trigger */
static void
setup_tables(PrepareRun *run)
{
	CuContext	cx;
	CuTarget   *t;
	CuOnline   *o;
	ListCell   *lc;
	bool		lookup;

	cu_enter(&cx, InvalidOid, SECURITY_NOFORCE_RLS);
	t = discover(run);
	o = cu_online_picture(t, run->st->table_id, false, false);
	lookup = has_exceptions(run->st->table_id);
	cu_leave(&cx);
	foreach(lc, o->twins)
	{
		CuTwin	   *tw = lfirst(lc);
		CuPlan	   *plan;

		if (tw->kind != CU_TWIN_COLUMN)
			continue;
		cu_enter(&cx, InvalidOid, SECURITY_NOFORCE_RLS);
		plan = unit_plan(run, t);
		if (!has_column(tw->relid, tw->twin))
			cu_plan_add(plan, CU_STEP_SQL, tw->relid, tw->relname, AccessExclusiveLock,
						psprintf("ALTER TABLE %s ADD COLUMN %s pg_catalog.uuid", cu_rel_qualname(tw->relid),
								 quote_identifier(tw->twin)),
						"add the uuid twin %s of column %s (catalog only)", tw->twin, tw->attname);
		if (!has_trigger(tw->relid, CU_SYNC_TRIGGER))
		{
			cu_plan_add(plan, CU_STEP_SQL, tw->relid, tw->relname, ShareRowExclusiveLock,
						cu_sync_trigger_sql(o, tw->relid, tw->attname, true, lookup),
						"add the trigger that keeps %s in step with %s", tw->twin, tw->attname);
			cu_plan_add(plan, CU_STEP_SQL, tw->relid, tw->relname, ShareRowExclusiveLock,
						psprintf("ALTER TABLE %s ENABLE ALWAYS TRIGGER %s", cu_rel_qualname(tw->relid),
								 CU_SYNC_TRIGGER),
						"make it fire on logical replicas and in the backfill too");
		}
		cu_leave(&cx);
		run_unit(plan);
	}
}

/* Wait while a standby's replay lag exceeds max_lag bytes */
static void
wait_for_standbys(PrepareRun *run)
{
	bool		said = false;

	if (run->st->max_lag_null)
		return;
	for (;;)
	{
		bool		isnull;
		int64		lag;
		CuContext	cx;

		cu_enter(&cx, InvalidOid, SECURITY_NOFORCE_RLS);
		cu_spi_exec("SELECT COALESCE(pg_catalog.max(pg_catalog.pg_wal_lsn_diff(pg_catalog.pg_current_wal_lsn(), "
					"r.replay_lsn))::pg_catalog.int8, 0) FROM pg_catalog.pg_stat_replication r",
					SPI_OK_SELECT);
		lag = cu_spi_getint64(0, 1, &isnull);
		cu_leave(&cx);
		commit_unit();
		if (lag <= run->st->max_lag)
			break;
		if (!said)
			cu_report_progress("waiting: a standby's replay lag is %lld bytes, more than max_lag %lld",
							   (long long) lag, (long long) run->st->max_lag);
		said = true;
		(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH, 200, PG_WAIT_EXTENSION);
		ResetLatch(MyLatch);
		CHECK_FOR_INTERRUPTS();
	}
}

/* The pause between batches */
static void
pause_between_batches(PrepareRun *run)
{
	bool		isnull;
	int64		ms;
	CuContext	cx;

	cu_enter(&cx, InvalidOid, SECURITY_NOFORCE_RLS);
	cu_spi_exec(psprintf("SELECT (pg_catalog.date_part('epoch', %s::pg_catalog.interval) OPERATOR(pg_catalog.*) 1000)::pg_catalog.int8",
						 quote_literal_cstr(run->st->pause)), SPI_OK_SELECT);
	ms = cu_spi_getint64(0, 1, &isnull);
	cu_leave(&cx);
	commit_unit();
	if (ms > 0)
	{
		(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH, (long) ms, PG_WAIT_EXTENSION);
		ResetLatch(MyLatch);
	}
	CHECK_FOR_INTERRUPTS();
}

/* The backfill progress row of table relid: pages_total, next_page, done */
static bool
read_progress(PrepareRun *run, Oid relid, int64 *pages_total, int64 *next_page)
{
	Oid			argtypes[3] = {INT4OID, NAMEOID, NAMEOID};
	Datum		values[3];
	bool		isnull;

	values[0] = Int32GetDatum(run->st->table_id);
	values[1] = DirectFunctionCall1(namein, CStringGetDatum(get_namespace_name(get_rel_namespace(relid))));
	values[2] = DirectFunctionCall1(namein, CStringGetDatum(get_rel_name(relid)));
	cu_spi_exec_args(psprintf("SELECT pages_total, next_page, done FROM %s WHERE table_id OPERATOR(pg_catalog.=) $1 "
							  "AND schema_name OPERATOR(pg_catalog.=) $2 AND table_name OPERATOR(pg_catalog.=) $3",
							  cu_extension_qual("connector_uuid_online_tables")),
					 SPI_OK_SELECT, 3, argtypes, values, NULL);
	if (SPI_processed != 1)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("table \"%s\" has no row in connector_uuid_online_tables", cu_rel_qualname(relid)),
				 errhint("Remove what CALL connector_uuid_prepare() added with connector_uuid_abort(), and start again.")));
	*pages_total = cu_spi_getint64(0, 1, &isnull);
	*next_page = cu_spi_getint64(0, 2, &isnull);
	return cu_spi_getbool(0, 3, &isnull);
}

/* Record a batch: pages up to next_page done, rows more rows */
static void
write_progress(PrepareRun *run, Oid relid, int64 pages_total, int64 next_page, int64 rows, bool done)
{
	Oid			argtypes[7] = {INT4OID, NAMEOID, NAMEOID, INT8OID, INT8OID, INT8OID, BOOLOID};
	Datum		values[7];

	values[0] = Int32GetDatum(run->st->table_id);
	values[1] = DirectFunctionCall1(namein, CStringGetDatum(get_namespace_name(get_rel_namespace(relid))));
	values[2] = DirectFunctionCall1(namein, CStringGetDatum(get_rel_name(relid)));
	values[3] = Int64GetDatum(pages_total);
	values[4] = Int64GetDatum(next_page);
	values[5] = Int64GetDatum(rows);
	values[6] = BoolGetDatum(done);
	cu_spi_exec_args(psprintf("UPDATE %s SET pages_total = $4, next_page = $5, rows_done = rows_done OPERATOR(pg_catalog.+) $6, "
							  "done = $7, started_at = COALESCE(started_at, pg_catalog.clock_timestamp()), "
							  "updated_at = pg_catalog.clock_timestamp() "
							  "WHERE table_id OPERATOR(pg_catalog.=) $1 "
							  "AND schema_name OPERATOR(pg_catalog.=) $2 AND table_name OPERATOR(pg_catalog.=) $3",
							  cu_extension_qual("connector_uuid_online_tables")),
					 SPI_OK_UPDATE, 7, argtypes, values, NULL);
}

/*
 * Run one batch's UPDATE (sql) as the table's owner (its CHECK constraints
 * run), waiting at most CU_ONLINE_LOCK_MS for each row lock: the rows it has
 * updated stay locked while it waits, and the application's requests for
 * them with it.  Returns the rows updated, or -1 if it gave up on a lock or
 * was chosen as a deadlock's victim (nothing of the batch is kept).
 */
static int64
run_batch(const char *sql, Oid owner)
{
	MemoryContext oldcxt = CurrentMemoryContext;
	ResourceOwner oldowner = CurrentResourceOwner;
	volatile int64 rows = -1;

	BeginInternalSubTransaction(NULL);
	MemoryContextSwitchTo(oldcxt);
	PG_TRY();
	{
		CuContext	ocx;

		(void) set_config_option("lock_timeout", CppAsString2(CU_ONLINE_LOCK_MS), PGC_USERSET, PGC_S_SESSION,
								 GUC_ACTION_LOCAL, true, 0, false);
		cu_enter(&ocx, owner, SECURITY_RESTRICTED_OPERATION);
		pgstat_report_activity(STATE_RUNNING, sql);
		cu_spi_exec(sql, SPI_OK_UPDATE);
		rows = (int64) SPI_processed;
		cu_leave(&ocx);
		ReleaseCurrentSubTransaction();
		MemoryContextSwitchTo(oldcxt);
		CurrentResourceOwner = oldowner;
	}
	PG_CATCH();
	{
		ErrorData  *edata;

		MemoryContextSwitchTo(oldcxt);
		edata = CopyErrorData();
		RollbackAndReleaseCurrentSubTransaction();
		MemoryContextSwitchTo(oldcxt);
		CurrentResourceOwner = oldowner;
		if (edata->sqlerrcode != ERRCODE_LOCK_NOT_AVAILABLE &&
			edata->sqlerrcode != ERRCODE_T_R_DEADLOCK_DETECTED)
			ReThrowError(edata);
		FlushErrorState();
		FreeErrorData(edata);
		rows = -1;
	}
	PG_END_TRY();
	return rows;
}

/*
 * Unit 3 for one table: give every row that existed when the trigger came
 * its uuid, a batch of pages per transaction
 */
static void
backfill_table(PrepareRun *run, CuTarget *t, Oid relid, const char *attname, const char *twin)
{
	int64		pages_total;
	int64		next_page;
	int64		per_batch;
	int64		since_vacuum = 0;
	char	   *qual = cu_rel_qualname(relid);
	CuContext	cx;
	bool		isnull;
	Oid			owner = cu_rel_owner(relid);
	int			attempts = 0;
	long		backoff_ms = 100;

	cu_enter(&cx, InvalidOid, SECURITY_NOFORCE_RLS);
	if (read_progress(run, relid, &pages_total, &next_page))
	{
		cu_leave(&cx);
		return;
	}
	/* the pages that exist now hold every row the trigger has not seen */
	cu_spi_select_oid("SELECT (pg_catalog.pg_relation_size($1) OPERATOR(pg_catalog./) "
					  "pg_catalog.current_setting('block_size')::pg_catalog.int8)::pg_catalog.int8, "
					  "GREATEST(c.reltuples, 0)::pg_catalog.int8, GREATEST(c.relpages, 1)::pg_catalog.int8 "
					  "FROM pg_catalog.pg_class c WHERE c.oid OPERATOR(pg_catalog.=) $1", relid);
	if (next_page == 0)
		pages_total = cu_spi_getint64(0, 1, &isnull);
	per_batch = Max(1, (int64) run->st->batch_size * cu_spi_getint64(0, 3, &isnull) /
					Max(1, cu_spi_getint64(0, 2, &isnull)));
	if (next_page == 0)
		cu_report_progress("%s: backfill %s from %s, %lld pages in batches of %lld",
						   get_rel_name(relid), twin, attname, (long long) pages_total, (long long) per_batch);
	else
		cu_report_progress("%s: backfill continues at page %lld of %lld",
						   get_rel_name(relid), (long long) next_page, (long long) pages_total);
	cu_leave(&cx);
	commit_unit();

	while (next_page < pages_total)
	{
		int64		end = Min(next_page + per_batch, pages_total);
		int64		rows;
		char	   *sql;

		if (out_of_time(run))
			return;
		cu_enter(&cx, InvalidOid, SECURITY_NOFORCE_RLS);
		cu_idmap_activate(run->st->table_id, CU_TO_UUID, t->qualname);
		/* only the sync trigger fires (ENABLE ALWAYS): see the file header */
		(void) set_config_option("session_replication_role", "replica", PGC_SUSET, PGC_S_SESSION,
								 GUC_ACTION_LOCAL, true, 0, false);
		sql = psprintf("UPDATE ONLY %s SET %s = %s(%s::pg_catalog.int8, %d::pg_catalog.int4) "
					   "WHERE ctid OPERATOR(pg_catalog.>=) '(%lld,0)'::pg_catalog.tid "
					   "AND ctid OPERATOR(pg_catalog.<) '(%lld,0)'::pg_catalog.tid "
					   "AND %s IS NULL AND %s IS NOT NULL",
					   qual, quote_identifier(twin), cu_extension_qual("connector_uuid_to_uuid"),
					   quote_identifier(attname), run->st->table_id,
					   (long long) next_page, (long long) end,
					   quote_identifier(twin), quote_identifier(attname));
		/* the batch's WAL goes out as it is written (walpace.c) */
		cu_walpace_start();
		rows = run_batch(sql, owner);
		if (rows < 0)
		{
			/* a row lock the application holds, or a deadlock: again, later */
			cu_idmap_deactivate();
			cu_leave(&cx);
			commit_unit();
			if (++attempts > CU_BATCH_RETRIES)
				ereport(ERROR,
						(errcode(ERRCODE_LOCK_NOT_AVAILABLE),
						 errmsg("could not lock the rows of pages %lld to %lld of table \"%s\"",
								(long long) next_page, (long long) end - 1, qual),
						 errdetail("Gave up after %d attempts of %d ms each: the application holds locks on those rows.",
								   attempts, CU_ONLINE_LOCK_MS),
						 errhint("CALL connector_uuid_prepare() again later: it continues with this batch.")));
			cu_report_progress("%s: pages %lld to %lld wait for a row lock (attempt %d), retrying in %ld ms",
							   get_rel_name(relid), (long long) next_page, (long long) end - 1, attempts,
							   backoff_ms);
			(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH, backoff_ms, PG_WAIT_EXTENSION);
			ResetLatch(MyLatch);
			CHECK_FOR_INTERRUPTS();
			backoff_ms = Min(backoff_ms * 2, 5000);
			continue;
		}
		attempts = 0;
		backoff_ms = 100;
		write_progress(run, relid, pages_total, end, rows, end >= pages_total);
		cu_idmap_deactivate();
		cu_leave(&cx);
		commit_unit();
		since_vacuum += end - next_page;
		next_page = end;
		if (next_page < pages_total && since_vacuum >= Max(CU_VACUUM_MIN_PAGES, (int64) (pages_total * CU_VACUUM_EVERY)))
		{
			run_in_worker(psprintf("VACUUM (INDEX_CLEANUP OFF, TRUNCATE OFF) %s", qual),
						  "%s: VACUUM (heap only), so the next batches reuse the space", get_rel_name(relid));
			since_vacuum = 0;
		}
		wait_for_standbys(run);
		pause_between_batches(run);
	}
	if (pages_total == 0)
	{
		cu_enter(&cx, InvalidOid, SECURITY_NOFORCE_RLS);
		write_progress(run, relid, 0, 0, 0, true);
		cu_leave(&cx);
		commit_unit();
	}
	cu_report_progress("%s: backfill done", get_rel_name(relid));
}

/* Unit 3: the backfill of every table */
static void
backfill(PrepareRun *run)
{
	CuContext	cx;
	CuTarget   *t;
	CuOnline   *o;
	ListCell   *lc;

	cu_enter(&cx, InvalidOid, SECURITY_NOFORCE_RLS);
	t = discover(run);
	o = cu_online_picture(t, run->st->table_id, false, false);
	cu_leave(&cx);
	foreach(lc, o->twins)
	{
		CuTwin	   *tw = lfirst(lc);

		if (tw->kind == CU_TWIN_COLUMN)
			backfill_table(run, t, tw->relid, tw->attname, tw->twin);
		if (run->stopped)
			return;
	}
	cu_enter(&cx, InvalidOid, SECURITY_NOFORCE_RLS);
	set_phase(run, "build");
	cu_leave(&cx);
	commit_unit();
}

/* Is relid's index name there and valid?  *invalid: there, but not valid */
static bool
index_ready(Oid relid, const char *name, bool *invalid)
{
	Oid			idx = cu_lookup_twin_index(relid, name);
	bool		isnull;

	*invalid = false;
	if (!OidIsValid(idx))
		return false;
	cu_spi_select_oid("SELECT i.indisvalid FROM pg_catalog.pg_index i WHERE i.indexrelid OPERATOR(pg_catalog.=) $1", idx);
	if (cu_spi_getbool(0, 1, &isnull))
		return true;
	*invalid = true;
	return false;
}

/* Is constraint name of relid there, and validated? */
static bool
constraint_state(Oid relid, const char *name, bool *validated)
{
	Oid			con = cu_lookup_constraint(relid, name);
	bool		isnull;

	*validated = false;
	if (!OidIsValid(con))
		return false;
	cu_spi_select_oid("SELECT c.convalidated FROM pg_catalog.pg_constraint c WHERE c.oid OPERATOR(pg_catalog.=) $1", con);
	*validated = cu_spi_getbool(0, 1, &isnull);
	return true;
}

/* One statement as a unit of its own (locks with retries, then commit) */
static void
run_one(PrepareRun *run, CuTarget *t, Oid relid, LOCKMODE mode, Oid other, char *sql,
		Oid run_as, const char *what)
{
	CuPlan	   *plan = unit_plan(run, t);
	CuStep	   *step = cu_plan_add(plan, CU_STEP_SQL, relid, get_rel_name(relid), mode, sql, "%s", what);

	if (OidIsValid(other))
		cu_step_lock(step, other, mode);
	step->run_as = run_as;
	run_unit(plan);
}

/*
 * The twin of a NOT NULL column (the key is one) made NOT NULL: a CHECK
 * added NOT VALID, validated while writes go on, then SET NOT NULL, which
 * the validated CHECK spares its scan, and the CHECK dropped
 */
static void
make_not_null(PrepareRun *run, CuTarget *t, CuTwin *tw)
{
	CuContext	cx;
	char	   *qual = cu_qualify(tw->nspname, tw->relname);
	char	   *chk = cu_twin_name(psprintf("%s_%s", tw->relname, tw->twin), "_not_null");
	bool		base_not_null;
	bool		twin_not_null;
	bool		exists;
	bool		validated;

	cu_enter(&cx, InvalidOid, SECURITY_NOFORCE_RLS);
	base_not_null = cu_column_not_null(tw->relid, tw->attname);
	twin_not_null = cu_column_not_null(tw->relid, tw->twin);
	exists = constraint_state(tw->relid, chk, &validated);
	cu_leave(&cx);
	if (!base_not_null)
		return;
	if (!twin_not_null)
	{
		if (!exists)
			run_one(run, t, tw->relid, AccessExclusiveLock, InvalidOid,
					psprintf("ALTER TABLE %s ADD CONSTRAINT %s CHECK (%s IS NOT NULL) NOT VALID",
							 qual, quote_identifier(chk), quote_identifier(tw->twin)),
					InvalidOid, psprintf("add CHECK (%s IS NOT NULL), NOT VALID (catalog only)", tw->twin));
		if (!exists || !validated)
			run_one(run, t, tw->relid, ShareUpdateExclusiveLock, InvalidOid,
					psprintf("ALTER TABLE %s VALIDATE CONSTRAINT %s", qual, quote_identifier(chk)),
					cu_rel_owner(tw->relid), "validate it (a scan; writes go on)");
		/* (on its own: dropped in the same statement, the check would not spare the scan) */
		run_one(run, t, tw->relid, AccessExclusiveLock, InvalidOid,
				psprintf("ALTER TABLE %s ALTER COLUMN %s SET NOT NULL", qual, quote_identifier(tw->twin)),
				InvalidOid, psprintf("make %s NOT NULL, as %s is (the validated CHECK spares the scan)",
									 tw->twin, tw->attname));
		exists = true;
	}
	if (exists)
		run_one(run, t, tw->relid, AccessExclusiveLock, InvalidOid,
				psprintf("ALTER TABLE %s DROP CONSTRAINT %s", qual, quote_identifier(chk)),
				InvalidOid, psprintf("drop the CHECK, which NOT NULL replaces"));
}

/*
 * The backfill gave every row a new version on another page (its own page
 * is full), so every index of the table got a second entry per row, which
 * VACUUM frees but does not give back: rebuild, with REINDEX CONCURRENTLY,
 * every index of o's tables that stays after finalize (not on a converted
 * column: those go with their columns).  An index left invalid by an
 * interrupted REINDEX CONCURRENTLY (its "_ccnew" copy) is dropped first.
 */
static void
reindex_bloated(CuOnline *o)
{
	ListCell   *lc;

	foreach(lc, o->twins)
	{
		CuTwin	   *tw = lfirst(lc);
		CuContext	cx;
		List	   *drop = NIL;
		List	   *rebuild = NIL;
		ListCell   *lc2;
		Oid			argtypes[3] = {OIDOID, INT2OID, INT2OID};
		Datum		values[3];
		uint64		i;

		if (tw->kind != CU_TWIN_COLUMN)
			continue;
		cu_enter(&cx, InvalidOid, SECURITY_NOFORCE_RLS);
		values[0] = ObjectIdGetDatum(tw->relid);
		values[1] = Int16GetDatum(get_attnum(tw->relid, tw->attname));
		values[2] = Int16GetDatum(get_attnum(tw->relid, tw->twin));
		cu_spi_exec_args("SELECT pg_catalog.quote_ident(n.nspname) OPERATOR(pg_catalog.||) '.' OPERATOR(pg_catalog.||) "
						 "       pg_catalog.quote_ident(c.relname), i.indisvalid, "
						 "       c.relname OPERATOR(pg_catalog.~) '_ccnew[0-9]*$' "
						 "FROM pg_catalog.pg_index i JOIN pg_catalog.pg_class c ON c.oid OPERATOR(pg_catalog.=) i.indexrelid "
						 "JOIN pg_catalog.pg_namespace n ON n.oid OPERATOR(pg_catalog.=) c.relnamespace "
						 "WHERE i.indrelid OPERATOR(pg_catalog.=) $1 "
						 "  AND NOT ($2 OPERATOR(pg_catalog.=) ANY (i.indkey::pg_catalog.int2[])) "
						 "  AND NOT ($3 OPERATOR(pg_catalog.=) ANY (i.indkey::pg_catalog.int2[])) "
						 "ORDER BY c.relname",
						 SPI_OK_SELECT, 3, argtypes, values, NULL);
		for (i = 0; i < SPI_processed; i++)
		{
			bool		isnull;
			bool		valid = cu_spi_getbool(i, 2, &isnull);
			bool		leftover = cu_spi_getbool(i, 3, &isnull);

			if (leftover && !valid)
				drop = lappend(drop, cu_spi_getstring(i, 1));
			else if (valid && !leftover)
				rebuild = lappend(rebuild, cu_spi_getstring(i, 1));
		}
		cu_leave(&cx);
		foreach(lc2, drop)
			run_in_worker(psprintf("DROP INDEX CONCURRENTLY %s", (char *) lfirst(lc2)),
						  "dropping index %s, left invalid by an interrupted REINDEX CONCURRENTLY", lfirst(lc2));
		foreach(lc2, rebuild)
			run_in_worker(psprintf("REINDEX INDEX CONCURRENTLY %s", (char *) lfirst(lc2)),
						  "rebuilding index %s, which the backfill left twice its size (REINDEX CONCURRENTLY: writes go on)",
						  lfirst(lc2));
	}
}

/* Unit 4: indexes, constraints, foreign keys; then phase prepared */
static void
build(PrepareRun *run)
{
	CuContext	cx;
	CuTarget   *t;
	CuOnline   *o;
	ListCell   *lc;
	CuTwin	   *key = NULL;
	char	   *keytwin;
	bool		validated;

	cu_enter(&cx, InvalidOid, SECURITY_NOFORCE_RLS);
	t = discover(run);
	o = cu_online_picture(t, run->st->table_id, false, true);
	cu_leave(&cx);
	keytwin = cu_twin_column(o, t->pkattname);

	/* twins of NOT NULL columns (the key's too): NOT NULL, without a scan under the strong lock */
	foreach(lc, o->twins)
	{
		CuTwin	   *tw = lfirst(lc);

		if (tw->kind == CU_TWIN_COLUMN)
			make_not_null(run, t, tw);
	}

	/* indexes: the key's unique twin, then the twins of the others */
	foreach(lc, o->twins)
	{
		CuTwin	   *tw = lfirst(lc);
		bool		ready;
		bool		invalid = false;

		if (tw->kind == CU_TWIN_KEY)
			key = tw;
		if (tw->kind != CU_TWIN_KEY && tw->kind != CU_TWIN_INDEX)
			continue;
		cu_enter(&cx, InvalidOid, SECURITY_NOFORCE_RLS);
		ready = (tw->kind == CU_TWIN_KEY && OidIsValid(cu_lookup_constraint(tw->relid, tw->twin))) ||
			index_ready(tw->relid, tw->twin, &invalid);
		cu_leave(&cx);
		if (ready)
			continue;
		if (invalid)
			run_in_worker(psprintf("DROP INDEX CONCURRENTLY %s", cu_qualify(tw->nspname, tw->twin)),
						  "dropping index %s, left invalid by an interrupted build", tw->twin);
		if (tw->kind == CU_TWIN_KEY)
			run_in_worker(psprintf("CREATE UNIQUE INDEX CONCURRENTLY %s ON %s (%s)", quote_identifier(tw->twin),
								   t->qualname, quote_identifier(keytwin)),
						  "building the unique index %s with CREATE INDEX CONCURRENTLY (writes go on)", tw->twin);
		else
			run_in_worker(tw->create_sql, "building index %s with CREATE INDEX CONCURRENTLY (writes go on)", tw->twin);
	}
	if (key)
	{
		cu_enter(&cx, InvalidOid, SECURITY_NOFORCE_RLS);
		if (!OidIsValid(cu_lookup_constraint(t->relid, key->twin)))
		{
			cu_leave(&cx);
			run_one(run, t, t->relid, AccessExclusiveLock, InvalidOid,
					psprintf("ALTER TABLE %s ADD CONSTRAINT %s UNIQUE USING INDEX %s", t->qualname,
							 quote_identifier(key->twin), quote_identifier(key->twin)),
					InvalidOid, psprintf("make index %s the unique constraint %s (catalog only)", key->twin, key->twin));
		}
		else
			cu_leave(&cx);
	}

	/* the referencing tables: the NULL check, then the foreign keys */
	foreach(lc, o->twins)
	{
		CuTwin	   *tw = lfirst(lc);
		char	   *chk;
		bool		exists;

		if (tw->kind != CU_TWIN_COLUMN || tw->relid == t->relid)
			continue;
		chk = cu_sync_check_name(tw->relname, tw->attname);
		cu_enter(&cx, InvalidOid, SECURITY_NOFORCE_RLS);
		if (cu_column_not_null(tw->relid, tw->attname))
		{
			/* both NOT NULL: nothing to keep together */
			cu_leave(&cx);
			continue;
		}
		exists = constraint_state(tw->relid, chk, &validated);
		cu_leave(&cx);
		if (!exists)
			run_one(run, t, tw->relid, AccessExclusiveLock, InvalidOid,
					psprintf("ALTER TABLE %s ADD CONSTRAINT %s CHECK ((%s IS NULL) OPERATOR(pg_catalog.=) (%s IS NULL)) NOT VALID",
							 cu_rel_qualname(tw->relid), quote_identifier(chk), quote_identifier(tw->attname),
							 quote_identifier(tw->twin)),
					InvalidOid, psprintf("add a CHECK that %s is NULL just when %s is, NOT VALID (catalog only)",
										 tw->twin, tw->attname));
		if (!validated)
			run_one(run, t, tw->relid, ShareUpdateExclusiveLock, InvalidOid,
					psprintf("ALTER TABLE %s VALIDATE CONSTRAINT %s", cu_rel_qualname(tw->relid), quote_identifier(chk)),
					cu_rel_owner(tw->relid), psprintf("validate it (a scan; writes go on)"));
	}
	foreach(lc, o->twins)
	{
		CuTwin	   *tw = lfirst(lc);
		bool		exists;

		if (tw->kind != CU_TWIN_FKEY)
			continue;
		cu_enter(&cx, InvalidOid, SECURITY_NOFORCE_RLS);
		exists = constraint_state(tw->relid, tw->twin, &validated);
		cu_leave(&cx);
		if (!exists)
			run_one(run, t, tw->relid, ShareRowExclusiveLock, t->relid, tw->create_sql, InvalidOid,
					psprintf("add foreign key %s, NOT VALID (catalog only)", tw->twin));
		if (!validated)
			run_one(run, t, tw->relid, ShareUpdateExclusiveLock, t->relid,
					psprintf("ALTER TABLE %s VALIDATE CONSTRAINT %s", cu_rel_qualname(tw->relid),
							 quote_identifier(tw->twin)),
					cu_rel_owner(tw->relid), psprintf("validate foreign key %s (a scan; writes go on)", tw->twin));
	}

	reindex_bloated(o);

	cu_enter(&cx, InvalidOid, SECURITY_NOFORCE_RLS);
	set_phase(run, "prepared");
	cu_leave(&cx);
	commit_unit();
	cu_report_progress("%s is prepared: ALTER EXTENSION connector_uuid UPDATE (or connector_uuid_convert) swaps",
					   get_rel_name(run->relid));
}

/* The advisory lock that keeps two prepares of one table apart */
static void
advisory_tag(LOCKTAG *tag, Oid relid)
{
	SET_LOCKTAG_ADVISORY(*tag, MyDatabaseId, (uint32) relid, 0x6375, 4);
}

/*
 * CALL connector_uuid_prepare(): prepare key table relid (connector: the
 * connector tables) for the swap, with the options in want.  Caller is not
 * connected to SPI and was called non-atomically (CALL at top level).
 */
void
cu_online_prepare(Oid relid, bool connector, CuOnlineState *want, double time_budget_s)
{
	PrepareRun	run;
	LOCKTAG		tag;

	memset(&run, 0, sizeof(run));
	run.relid = relid;
	run.want = want;
	run.started = GetCurrentTimestamp();
	run.budget_s = time_budget_s;
	run.opt = palloc0(sizeof(CuOptions));
	run.opt->connector = connector;
	run.opt->strategy = (CuStrategy) cu_strategy;
	run.opt->namespace_uuid = cu_namespace;

	advisory_tag(&tag, relid);
	if (LockAcquire(&tag, ExclusiveLock, true, true) == LOCKACQUIRE_NOT_AVAIL)
		ereport(ERROR,
				(errcode(ERRCODE_LOCK_NOT_AVAILABLE),
				 errmsg("another connector_uuid_prepare() of table \"%s\" is running", cu_rel_qualname(relid)),
				 errhint("Wait for it, or cancel it; a CALL afterwards continues where it stopped.")));
	PG_TRY();
	{
		if (SPI_connect_ext(SPI_OPT_NONATOMIC) != SPI_OK_CONNECT)
			elog(ERROR, "SPI_connect failed");
		if (start(&run))
		{
			if (strcmp(run.st->phase, "backfill") == 0)
			{
				setup_tables(&run);
				backfill(&run);
			}
			if (!run.stopped && strcmp(run.st->phase, "build") == 0)
				build(&run);
		}
		if (SPI_finish() != SPI_OK_FINISH)
			elog(ERROR, "SPI_finish failed");
	}
	PG_FINALLY();
	{
		LockRelease(&tag, ExclusiveLock, true);
	}
	PG_END_TRY();
}
