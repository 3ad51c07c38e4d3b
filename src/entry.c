/*-------------------------------------------------------------------------
 *
 * entry.c
 *	  SQL entry points and settings of connector_uuid.
 *
 * Each entry point connects to SPI once, pins a safe search_path, does its
 * work through the plan/executor/verify modules, and disconnects.
 *
 * IDENTIFICATION
 *	  src/entry.c
 *
 *-------------------------------------------------------------------------
 */
#include "execute.h"
#include "online.h"
#include "registry.h"
#include "security.h"
#include "spi_util.h"
#include "verify.h"

#include "catalog/pg_type.h"
#include "commands/extension.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/lsyscache.h"
#include "utils/uuid.h"
#include "datatype/timestamp.h"
#include "nodes/parsenodes.h"
#include "utils/timestamp.h"

PG_FUNCTION_INFO_V1(connector_uuid_upgrade);
PG_FUNCTION_INFO_V1(connector_uuid_downgrade);
PG_FUNCTION_INFO_V1(connector_uuid_plan);
PG_FUNCTION_INFO_V1(connector_uuid_verify);

static void refuse_connector_table(Oid relid);

/* Refuse unless we are running inside ALTER EXTENSION connector_uuid */
static void
require_extension_script(void)
{
	Oid			extoid = get_extension_oid("connector_uuid", true);

	if (!creating_extension || !OidIsValid(extoid) || CurrentExtensionObject != extoid)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("the connector migration runs only inside ALTER EXTENSION connector_uuid UPDATE"),
				 errhint("Run ALTER EXTENSION connector_uuid UPDATE to migrate, or UPDATE TO '1.0' to roll back.")));
}

/* The strategy, v5 namespace and v7 column: arguments, else settings */
static void
set_strategy(CuOptions *opt, const char *strategy, const char *namespace_uuid,
			 const char *ts_column)
{
	opt->strategy_given = (strategy != NULL);
	if (strategy == NULL)
		opt->strategy = (CuStrategy) cu_strategy;
	else if ((opt->strategy = cu_strategy_from_name(strategy)) == CU_STRATEGY_NONE)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid id strategy \"%s\"", strategy),
				 errhint("Use 'v4', 'v5' or 'v7'.")));
	if (namespace_uuid == NULL)
		namespace_uuid = cu_namespace;
	/* validates the text as a uuid */
	(void) DirectFunctionCall1(uuid_in, CStringGetDatum(namespace_uuid));
	opt->namespace_uuid = pstrdup(namespace_uuid);
	if (ts_column == NULL && cu_timestamp_column && cu_timestamp_column[0])
		ts_column = cu_timestamp_column;
	opt->ts_column = ts_column ? pstrdup(ts_column) : NULL;
}

/* The options of the connector migration */
static CuOptions *
connector_options(void)
{
	CuOptions  *opt = palloc0(sizeof(CuOptions));

	opt->connector = true;
	set_strategy(opt, NULL, NULL, NULL);
	return opt;
}

/* mcp_connectors in the extension's schema, or InvalidOid */
static Oid
connector_table(bool missing_ok)
{
	char	   *nsp = cu_extension_schema_name();
	Oid			relid = cu_lookup_table(nsp, "mcp_connectors");

	if (!OidIsValid(relid) && !missing_ok)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_TABLE),
				 errmsg("table \"%s\" does not exist", cu_qualify(nsp, "mcp_connectors")),
				 errdetail("connector_uuid works on the application's tables in the schema it is installed in (%s).", nsp),
				 errhint("Create the extension in the schema that holds mcp_connectors: CREATE EXTENSION connector_uuid VERSION '1.0' SCHEMA <schema>.")));
	return relid;
}

/* Plan and run the connector migration in direction */
static void
run_connector_migration(CuDirection direction, bool missing_ok)
{
	CuContext	cx;
	Oid			relid;
	CuPlan	   *plan;

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	cu_enter(&cx, InvalidOid, SECURITY_NOFORCE_RLS);

	relid = connector_table(missing_ok);
	if (!OidIsValid(relid))
		cu_report_progress("no table mcp_connectors in schema %s yet: nothing to migrate "
						   "(as during pg_restore, which creates extensions before tables)",
						   cu_extension_schema_name());
	else
	{
		plan = cu_lock_and_replan(relid, direction, connector_options());
		cu_execute_plan(plan);
	}

	cu_leave(&cx);
	if (SPI_finish() != SPI_OK_FINISH)
		elog(ERROR, "SPI_finish failed");
}

/*
 * connector_uuid_upgrade(missing_ok boolean DEFAULT false) returns void
 *
 * The 1.0 -> 2.0 migration; called by connector_uuid--1.0--2.0.sql (and,
 * with missing_ok, by the 2.0 install script).  Takes ACCESS EXCLUSIVE on
 * mcp_connectors and then on each referencing table in OID order.
 */
Datum
connector_uuid_upgrade(PG_FUNCTION_ARGS)
{
	require_extension_script();
	run_connector_migration(CU_TO_UUID, PG_GETARG_BOOL(0));
	PG_RETURN_VOID();
}

/*
 * connector_uuid_downgrade() returns void
 *
 * The 2.0 -> 1.0 migration; called by connector_uuid--2.0--1.0.sql.  Same
 * locks as the upgrade.
 */
Datum
connector_uuid_downgrade(PG_FUNCTION_ARGS)
{
	require_extension_script();
	run_connector_migration(CU_TO_INT, false);
	PG_RETURN_VOID();
}

/* Set up a materialized set-returning function result */
static Tuplestorestate *
begin_srf(FunctionCallInfo fcinfo, TupleDesc *tupdesc)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	MemoryContext oldcxt;
	Tuplestorestate *ts;

	if (rsinfo == NULL || !IsA(rsinfo, ReturnSetInfo) ||
		!(rsinfo->allowedModes & SFRM_Materialize))
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("set-valued function called in context that cannot accept a set")));
	oldcxt = MemoryContextSwitchTo(rsinfo->econtext->ecxt_per_query_memory);
	if (get_call_result_type(fcinfo, NULL, tupdesc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "return type must be a row type");
	*tupdesc = BlessTupleDesc(CreateTupleDescCopy(*tupdesc));
	ts = tuplestore_begin_heap(true, false, work_mem);
	rsinfo->returnMode = SFRM_Materialize;
	rsinfo->setResult = ts;
	rsinfo->setDesc = *tupdesc;
	MemoryContextSwitchTo(oldcxt);
	return ts;
}

/* One row of connector_uuid_plan() */
typedef struct PlanRow
{
	int			step;			/* 0: a note */
	const char *relation;
	const char *description;
	const char *statement;		/* NULL: none (a note, an internal step) */
	const char *lock_mode;
	bool		sized;			/* rows and total_bytes are known */
	int64		rows;
	int64		total_bytes;
} PlanRow;

/*
 * Put row into ts, by the names of the columns the function was declared
 * with: a database whose 1.0 script is of an earlier release (without the
 * description column) gets the columns it has, and an internal step's
 * description in the statement column, as it was then.  A note (step 0)
 * is a comment in the statement column.
 */
static void
put_plan_row(Tuplestorestate *ts, TupleDesc tupdesc, PlanRow *row)
{
	Datum	   *values = palloc0(sizeof(Datum) * tupdesc->natts);
	bool	   *nulls = palloc(sizeof(bool) * tupdesc->natts);
	bool		has_description = false;
	int			i;

	for (i = 0; i < tupdesc->natts; i++)
		if (strcmp(NameStr(TupleDescAttr(tupdesc, i)->attname), "description") == 0)
			has_description = true;
	for (i = 0; i < tupdesc->natts; i++)
	{
		const char *name = NameStr(TupleDescAttr(tupdesc, i)->attname);
		const char *text = NULL;

		nulls[i] = false;
		if (strcmp(name, "step") == 0)
			values[i] = Int32GetDatum(row->step);
		else if (strcmp(name, "rows") == 0 || strcmp(name, "total_bytes") == 0)
		{
			nulls[i] = !row->sized;
			values[i] = Int64GetDatum(strcmp(name, "rows") == 0 ? row->rows : row->total_bytes);
		}
		else
		{
			if (strcmp(name, "relation") == 0)
				text = row->relation;
			else if (strcmp(name, "description") == 0)
				text = row->description;
			else if (strcmp(name, "statement") == 0)
				text = (row->statement || has_description) ? row->statement : row->description;
			else if (strcmp(name, "lock_mode") == 0)
				text = row->lock_mode;
			nulls[i] = (text == NULL);
			if (text)
				values[i] = CStringGetTextDatum(text);
		}
	}
	tuplestore_putvalues(ts, tupdesc, values, nulls);
}

/*
 * The rows of a plan: for relid with opt, or (relid invalid) for the
 * connector migration.  direction is 'upgrade', 'downgrade' or NULL: the
 * next move (by the extension's version for the connector, by the key's
 * type for any other table).
 */
static Datum
plan_rows(FunctionCallInfo fcinfo, Oid relid, const char *d, CuOptions *opt)
{
	TupleDesc	tupdesc;
	Tuplestorestate *ts = begin_srf(fcinfo, &tupdesc);
	CuContext	cx;
	CuDirection direction;
	CuPlan	   *plan;
	ListCell   *lc;
	int			k = 0;
	bool		connector = !OidIsValid(relid);

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	cu_enter(&cx, InvalidOid, SECURITY_NOFORCE_RLS);

	if (d != NULL)
	{
		if (strcmp(d, "upgrade") == 0)
			direction = CU_TO_UUID;
		else if (strcmp(d, "downgrade") == 0)
			direction = CU_TO_INT;
		else
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("invalid direction \"%s\"", d),
					 errhint("Use 'upgrade' or 'downgrade'.  To plan another table, pass it as a regclass: connector_uuid_plan('orders'::regclass).")));
	}
	if (connector)
		relid = connector_table(false);
	else
		refuse_connector_table(relid);

	if (d != NULL)
		;
	else if (connector)
	{
		char	   *version;

		cu_spi_exec("SELECT extversion FROM pg_catalog.pg_extension "
					"WHERE extname OPERATOR(pg_catalog.=) 'connector_uuid'", SPI_OK_SELECT);
		version = SPI_processed ? cu_spi_getstring(0, 1) : "1.0";
		direction = strcmp(version, "2.0") == 0 ? CU_TO_INT : CU_TO_UUID;
	}
	else
	{
		CuTarget   *t = cu_discover(relid);

		direction = t->pktypid == UUIDOID ? CU_TO_INT : CU_TO_UUID;
	}

	plan = cu_build_plan(relid, direction, opt);
	/* a revert's new integers must fit: the same refusal the revert gives */
	if (direction == CU_TO_INT && !plan->adopt && plan->target)
	{
		if (plan->registered)
			cu_idmap_activate(plan->table_id, CU_TO_INT, plan->target->qualname);
		cu_check_new_ids(plan);
		cu_idmap_deactivate();
	}

	foreach(lc, plan->notes)
	{
		PlanRow		row = {0};

		row.relation = plan->target->relname;
		row.statement = psprintf("-- %s", (char *) lfirst(lc));
		row.lock_mode = "NONE";
		put_plan_row(ts, tupdesc, &row);
	}
	foreach(lc, plan->steps)
	{
		CuStep	   *step = lfirst(lc);
		PlanRow		row = {0};

		row.step = ++k;
		row.relation = step->relname;
		row.description = step->description;
		row.statement = step->sql;
		row.lock_mode = cu_lock_name(step->lockmode);
		if (OidIsValid(step->relid) && get_rel_relkind(step->relid) != '\0')
		{
			Oid			argtypes[1] = {OIDOID};
			Datum		args[1];
			bool		isnull;

			args[0] = ObjectIdGetDatum(step->relid);
			cu_spi_exec_args("SELECT GREATEST(c.reltuples, 0)::pg_catalog.int8, pg_catalog.pg_total_relation_size(c.oid) "
							 "FROM pg_catalog.pg_class c WHERE c.oid OPERATOR(pg_catalog.=) $1",
							 SPI_OK_SELECT, 1, argtypes, args, NULL);
			row.sized = true;
			row.rows = cu_spi_getint64(0, 1, &isnull);
			row.total_bytes = cu_spi_getint64(0, 2, &isnull);
		}
		put_plan_row(ts, tupdesc, &row);
	}

	cu_leave(&cx);
	if (SPI_finish() != SPI_OK_FINISH)
		elog(ERROR, "SPI_finish failed");
	return (Datum) 0;
}

/*
 * connector_uuid_plan(direction text DEFAULT NULL)
 *   returns table (step int, relation text, description text, statement text,
 *                  lock_mode text, rows bigint, total_bytes bigint)
 *
 * The statements the next ALTER EXTENSION would run, in order: at 1.0 the
 * upgrade, at 2.0 the downgrade (or the one named: 'upgrade'/'downgrade').
 * Runs the same pre-flight checks, so bad input errors here too.  Takes no
 * lock beyond ACCESS SHARE for reading; changes nothing.
 */
Datum
connector_uuid_plan(PG_FUNCTION_ARGS)
{
	return plan_rows(fcinfo, InvalidOid,
					 PG_ARGISNULL(0) ? NULL : text_to_cstring(PG_GETARG_TEXT_PP(0)),
					 connector_options());
}

/*
 * connector_uuid_verify(strict boolean DEFAULT false, thorough boolean DEFAULT false)
 *   returns table (item text, passed boolean, detail text)
 *
 * The checklist, one row per check.  With strict, an ERROR naming every
 * failed check instead (for deploy pipelines).  Read-only; ACCESS SHARE
 * locks only; works on a hot standby.
 */
Datum
connector_uuid_verify(PG_FUNCTION_ARGS)
{
	bool		strict = PG_GETARG_BOOL(0);
	bool		thorough = PG_GETARG_BOOL(1);
	TupleDesc	tupdesc;
	Tuplestorestate *ts = begin_srf(fcinfo, &tupdesc);
	CuContext	cx;
	List	   *checks;
	ListCell   *lc;
	StringInfoData failed;
	int			nfailed = 0;

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	cu_enter(&cx, InvalidOid, SECURITY_NOFORCE_RLS);

	checks = cu_verify(thorough);
	initStringInfo(&failed);
	foreach(lc, checks)
	{
		CuCheck    *c = lfirst(lc);
		Datum		values[3];
		bool		nulls[3] = {false, false, false};

		values[0] = CStringGetTextDatum(c->item);
		values[1] = BoolGetDatum(c->passed);
		values[2] = CStringGetTextDatum(c->detail);
		tuplestore_putvalues(ts, tupdesc, values, nulls);
		if (!c->passed)
		{
			appendStringInfo(&failed, "%s%s: %s", nfailed ? "; " : "", c->item, c->detail);
			nfailed++;
		}
	}

	if (strict && nfailed > 0)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg_plural("connector_uuid verification failed: %d of %d check",
							   "connector_uuid verification failed: %d of %d checks",
							   (unsigned long) list_length(checks), nfailed, list_length(checks)),
				 errdetail("%s.", failed.data)));

	cu_leave(&cx);
	if (SPI_finish() != SPI_OK_FINISH)
		elog(ERROR, "SPI_finish failed");
	return (Datum) 0;
}

/*
 * Refuse a pk_table argument that names no table (a dropped table's OID,
 * 0::regclass), and the connector table, which ALTER EXTENSION converts
 * and whose state the extension's version records.
 */
static void
refuse_connector_table(Oid relid)
{
	if (!OidIsValid(relid) || get_rel_name(relid) == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_TABLE),
				 errmsg("relation with OID %u does not exist", relid),
				 errhint("Pass the table by name: 'schema.table'::regclass.")));
	if (relid == connector_table(true))
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("table \"%s\" is converted by ALTER EXTENSION connector_uuid",
						cu_qualify(get_namespace_name(get_rel_namespace(relid)), get_rel_name(relid))),
				 errdetail("The extension's version records the state of the connector tables."),
				 errhint("Run ALTER EXTENSION connector_uuid UPDATE (or UPDATE TO '1.0') instead.")));
}

/* Options of the general functions, from their arguments */
static CuOptions *
table_options(FunctionCallInfo fcinfo, int first)
{
	CuOptions  *opt = palloc0(sizeof(CuOptions));

	set_strategy(opt,
				 PG_ARGISNULL(first) ? NULL : text_to_cstring(PG_GETARG_TEXT_PP(first)),
				 PG_ARGISNULL(first + 2) ? NULL :
				 DatumGetCString(DirectFunctionCall1(uuid_out, PG_GETARG_DATUM(first + 2))),
				 PG_ARGISNULL(first + 3) ? NULL : NameStr(*PG_GETARG_NAME(first + 3)));
	opt->force_cascade = !PG_ARGISNULL(first + 1) && PG_GETARG_BOOL(first + 1);
	return opt;
}

/* Plan and run the conversion of any table */
static void
run_table_migration(Oid relid, CuDirection direction, CuOptions *opt)
{
	CuContext	cx;
	CuPlan	   *plan;

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	cu_enter(&cx, InvalidOid, SECURITY_NOFORCE_RLS);
	refuse_connector_table(relid);
	plan = cu_lock_and_replan(relid, direction, opt);
	cu_execute_plan(plan);
	cu_leave(&cx);
	if (SPI_finish() != SPI_OK_FINISH)
		elog(ERROR, "SPI_finish failed");
}

PG_FUNCTION_INFO_V1(connector_uuid_convert);
PG_FUNCTION_INFO_V1(connector_uuid_revert);
PG_FUNCTION_INFO_V1(connector_uuid_plan_table);

/*
 * connector_uuid_convert(pk_table regclass, strategy text DEFAULT NULL,
 *                        on_delete_cascade boolean DEFAULT false,
 *                        namespace uuid DEFAULT NULL,
 *                        timestamp_column name DEFAULT NULL) returns void
 *
 * Converts any table's single-column integer primary key, and every foreign
 * key referencing it, to uuid.  Same locks as the upgrade: ACCESS EXCLUSIVE
 * on the table, then on the referencing tables in OID order.  The caller
 * must own every one of them.
 */
Datum
connector_uuid_convert(PG_FUNCTION_ARGS)
{
	if (PG_ARGISNULL(0))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("pk_table must not be null")));
	run_table_migration(PG_GETARG_OID(0), CU_TO_UUID, table_options(fcinfo, 1));
	PG_RETURN_VOID();
}

/*
 * connector_uuid_revert(pk_table regclass) returns void
 *
 * The lossless inverse of connector_uuid_convert: the original integers
 * back, from the id map.  Same locks.
 */
Datum
connector_uuid_revert(PG_FUNCTION_ARGS)
{
	CuOptions  *opt = palloc0(sizeof(CuOptions));

	set_strategy(opt, NULL, NULL, NULL);
	run_table_migration(PG_GETARG_OID(0), CU_TO_INT, opt);
	PG_RETURN_VOID();
}

/*
 * connector_uuid_plan(pk_table regclass, direction text DEFAULT NULL,
 *                     strategy text DEFAULT NULL, on_delete_cascade boolean DEFAULT false,
 *                     namespace uuid DEFAULT NULL, timestamp_column name DEFAULT NULL)
 *   returns table (step, relation, description, statement, lock_mode, rows,
 *                  total_bytes)
 *
 * What connector_uuid_convert (direction 'upgrade', the default for an
 * integer key) or connector_uuid_revert ('downgrade', the default for a
 * uuid key) would run.  Changes nothing.
 */
Datum
connector_uuid_plan_table(PG_FUNCTION_ARGS)
{
	if (PG_ARGISNULL(0))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("pk_table must not be null")));
	if (!OidIsValid(PG_GETARG_OID(0)))
		refuse_connector_table(InvalidOid);
	return plan_rows(fcinfo, PG_GETARG_OID(0), PG_ARGISNULL(1) ? NULL : text_to_cstring(PG_GETARG_TEXT_PP(1)),
					 table_options(fcinfo, 2));
}

PG_FUNCTION_INFO_V1(connector_uuid_prepare);
PG_FUNCTION_INFO_V1(connector_uuid_finalize);
PG_FUNCTION_INFO_V1(connector_uuid_abort);

/* The key table an online entry point works on: pk_table, or the connector's */
static Oid
online_table(FunctionCallInfo fcinfo, bool *connector, bool *at_1_0)
{
	Oid			conn;
	Oid			relid;

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	conn = connector_table(!PG_ARGISNULL(0));
	relid = PG_ARGISNULL(0) ? conn : PG_GETARG_OID(0);
	if (!OidIsValid(relid) || get_rel_name(relid) == NULL)
		refuse_connector_table(InvalidOid);
	*connector = (relid == conn);
	cu_spi_exec("SELECT extversion FROM pg_catalog.pg_extension "
				"WHERE extname OPERATOR(pg_catalog.=) 'connector_uuid'", SPI_OK_SELECT);
	*at_1_0 = SPI_processed == 1 && strcmp(cu_spi_getstring(0, 1), "1.0") == 0;
	if (SPI_finish() != SPI_OK_FINISH)
		elog(ERROR, "SPI_finish failed");
	return relid;
}

/* An interval in seconds (a month: 30 days) */
static double
interval_seconds(Interval *iv)
{
	return (double) iv->time / USECS_PER_SEC + (double) iv->day * SECS_PER_DAY +
		(double) iv->month * DAYS_PER_MONTH * SECS_PER_DAY;
}

/*
 * CALL connector_uuid_prepare(pk_table regclass DEFAULT NULL,
 *                             batch_size integer DEFAULT 10000,
 *                             pause interval DEFAULT '0',
 *                             max_lag bigint DEFAULT NULL,
 *                             time_budget interval DEFAULT NULL)
 *
 * The online mode's preparation of pk_table (NULL: the connector tables)
 * while the application writes: see prepare.c.  A procedure, because it
 * commits as it goes; it must be called with CALL outside a transaction
 * block.
 */
Datum
connector_uuid_prepare(PG_FUNCTION_ARGS)
{
	CuOnlineState *want = palloc0(sizeof(CuOnlineState));
	bool		connector;
	bool		at_1_0;
	Oid			relid;
	double		budget = 0;

	if (fcinfo->context == NULL || !IsA(fcinfo->context, CallContext) ||
		castNode(CallContext, fcinfo->context)->atomic)
		ereport(ERROR,
				(errcode(ERRCODE_ACTIVE_SQL_TRANSACTION),
				 errmsg("connector_uuid_prepare() cannot run inside a transaction block"),
				 errdetail("It commits after every batch, so that the application is never held up."),
				 errhint("Run CALL connector_uuid_prepare() on its own, not in BEGIN ... COMMIT or a function.")));
	want->batch_size = PG_ARGISNULL(1) ? 10000 : PG_GETARG_INT32(1);
	if (want->batch_size < 1)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("batch_size must be at least 1")));
	want->pause = PG_ARGISNULL(2) ? "00:00:00" :
		DatumGetCString(DirectFunctionCall1(interval_out, PG_GETARG_DATUM(2)));
	if (!PG_ARGISNULL(2) && interval_seconds(PG_GETARG_INTERVAL_P(2)) < 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("pause must not be negative")));
	want->max_lag_null = PG_ARGISNULL(3);
	want->max_lag = PG_ARGISNULL(3) ? 0 : PG_GETARG_INT64(3);
	if (!want->max_lag_null && want->max_lag < 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("max_lag must not be negative")));
	if (!PG_ARGISNULL(4))
	{
		budget = interval_seconds(PG_GETARG_INTERVAL_P(4));
		if (budget <= 0)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("time_budget must be positive")));
	}
	relid = online_table(fcinfo, &connector, &at_1_0);
	if (connector && !at_1_0)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("the connector tables are converted already"),
				 errdetail("connector_uuid is at version 2.0; the online mode prepares at 1.0."),
				 errhint("After an online swap, finish with connector_uuid_finalize(); to go back, ALTER EXTENSION connector_uuid UPDATE TO '1.0'.")));
	cu_online_prepare(relid, connector, want, budget);
	PG_RETURN_VOID();
}

/* finalize or abort (action) of the online mode, as one plan */
static void
run_online_action(FunctionCallInfo fcinfo, char action)
{
	bool		connector;
	bool		at_1_0;			/* (the plans check the tables' phase) */
	Oid			relid = online_table(fcinfo, &connector, &at_1_0);
	CuOptions  *opt = connector ? connector_options() : palloc0(sizeof(CuOptions));
	CuContext	cx;
	CuPlan	   *plan;

	if (!connector)
		set_strategy(opt, NULL, NULL, NULL);
	opt->online_action = action;
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	cu_enter(&cx, InvalidOid, SECURITY_NOFORCE_RLS);
	plan = cu_lock_and_replan(relid, action == CU_ONLINE_FINALIZE ? CU_TO_UUID : CU_TO_INT, opt);
	cu_execute_plan(plan);
	cu_leave(&cx);
	if (SPI_finish() != SPI_OK_FINISH)
		elog(ERROR, "SPI_finish failed");
}

/*
 * connector_uuid_finalize(pk_table regclass DEFAULT NULL) returns void
 *
 * After the online swap: drops the integer columns, their foreign keys
 * and the sync triggers, under ACCESS EXCLUSIVE for a catalog-only
 * transaction.  Afterwards a downgrade is the offline one.
 */
Datum
connector_uuid_finalize(PG_FUNCTION_ARGS)
{
	run_online_action(fcinfo, CU_ONLINE_FINALIZE);
	PG_RETURN_VOID();
}

/*
 * connector_uuid_abort(pk_table regclass DEFAULT NULL) returns void
 *
 * Before the swap (or after a swap back): removes everything
 * CALL connector_uuid_prepare() added.
 */
Datum
connector_uuid_abort(PG_FUNCTION_ARGS)
{
	run_online_action(fcinfo, CU_ONLINE_ABORT);
	PG_RETURN_VOID();
}
