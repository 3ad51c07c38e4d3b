/*-------------------------------------------------------------------------
 *
 * executor.c
 *	  The one-transaction mode: takes a plan's locks, re-reads the catalogs
 *	  once they are held, and runs each step through SPI, all inside the
 *	  transaction of ALTER EXTENSION (or of the caller of convert/revert).
 *
 * Four things here are deliberate:
 *
 * - Objects the steps create (recreated views, indexes, constraints) must
 *   never become members of the extension, or DROP EXTENSION would drop the
 *   application's objects.  While ALTER EXTENSION runs, PostgreSQL records
 *   every new object as a member; the steps therefore run with the
 *   "creating extension" state switched off, and it is put back afterwards.
 *   (If a step fails, the transaction aborts and PostgreSQL resets that
 *   state itself.)
 *
 * - A foreign key that was valid before is added back without a second
 *   scan of the referencing table: both sides were rewritten under ACCESS
 *   EXCLUSIVE locks by one injective mapping, so every reference that
 *   matched before matches after.  This uses PostgreSQL's own
 *   skip_validation/initially_valid mechanism (the one CREATE TABLE uses).
 *   connector_uuid.revalidate_foreign_keys = on scans anyway.
 *
 * - A step that runs code the application wrote (a rewrite's CHECK
 *   constraints and generated columns, the triggers of rows it moves or
 *   updates) runs as the table's owner under SECURITY_RESTRICTED_OPERATION
 *   (CuStep.run_as, cu_enter()), never as the converting role; event
 *   triggers fire as that owner then.  A step that fails in a way one of
 *   the DBA's event triggers may have caused says so in its hint.
 *
 * - Each step's description goes to progress.c when it starts (INFO to
 *   the client, LOG to the server log, pg_stat_activity), and its row count
 *   and elapsed time when it has rewritten a table or taken a while.
 *
 * IDENTIFICATION
 *	  src/executor.c
 *
 *-------------------------------------------------------------------------
 */
#include "execute.h"
#include "registry.h"
#include "security.h"
#include "spi_util.h"

#include "access/xact.h"
#include "catalog/pg_type.h"
#include "commands/extension.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "nodes/parsenodes.h"
#include "nodes/plannodes.h"
#include "parser/parser.h"
#include "pgstat.h"
#include "portability/instr_time.h"
#include "storage/lmgr.h"
#include "tcop/tcopprot.h"
#include "tcop/utility.h"
#include "utils/backend_status.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/json.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/snapmgr.h"

/*
 * Run one SQL step.  A GRANT ... GRANTED BY role (catalog.c: a grant that a
 * role other than the owner made) runs as that role, which PostgreSQL
 * requires of GRANTED BY, so the grant is recorded as that role's again.  If
 * the converting role can no longer act as the grantor, the grant runs
 * without the clause and is recorded as the owner's.
 *
 * A step with run_as runs the application's code (a table rewrite evaluates
 * CHECK constraints and generated columns, DML fires triggers): it runs as
 * that role under SECURITY_RESTRICTED_OPERATION (see cu_enter()).  Event
 * triggers fire as that role then.
 */
static void
run_sql(CuStep *step)
{
	const char *sql = step->sql;
	const char *run = sql;
	Oid			grantor = InvalidOid;
	CuContext	cx;
	int			rc;

#if PG_VERSION_NUM >= 140000
	if (strncmp(sql, "GRANT ", 6) == 0 && strstr(sql, " GRANTED BY ") != NULL)
	{
		List	   *raw = raw_parser(sql, RAW_PARSE_DEFAULT);
		Node	   *stmt = list_length(raw) == 1 ? ((RawStmt *) linitial(raw))->stmt : NULL;

		if (stmt && IsA(stmt, GrantStmt) && ((GrantStmt *) stmt)->grantor != NULL)
		{
			RoleSpec   *spec = ((GrantStmt *) stmt)->grantor;
			const char *clause = " GRANTED BY ";
			int			at = spec->location - (int) strlen(clause);

			grantor = get_rolespec_oid(spec, false);
			if (!superuser() && !is_member_of_role(GetUserId(), grantor) &&
				at > 0 && strncmp(sql + at, clause, strlen(clause)) == 0)
			{
				run = pnstrdup(sql, at);
				grantor = InvalidOid;
			}
		}
	}
#endif
	if (OidIsValid(step->run_as))
		cu_enter(&cx, step->run_as, SECURITY_RESTRICTED_OPERATION);
	else if (OidIsValid(grantor))
		cu_enter(&cx, grantor, SECURITY_LOCAL_USERID_CHANGE);
	if (step->page_rewrite)
		cu_page_rewrite_arm();
	rc = SPI_execute(run, false, 0);
	if (step->page_rewrite)
		cu_page_rewrite_disarm(step->relid);
	if (OidIsValid(step->run_as) || OidIsValid(grantor))
		cu_leave(&cx);
	/* (a rule may rewrite the application's DML: SPI_OK_REWRITTEN) */
	if (rc != step->spi_ok &&
		!(rc == SPI_OK_REWRITTEN && step->spi_ok != SPI_OK_UTILITY && step->spi_ok != SPI_OK_SELECT))
		elog(ERROR, "SPI_execute returned %s, expected %s, for: %s",
			 SPI_result_code_string(rc), SPI_result_code_string(step->spi_ok), run);
}

/*
 * A guard: run the step's count and fail if it found anything, so that
 * what follows (a DROP of a work table) can never lose rows.
 */
static void
expect_none(CuStep *step)
{
	bool		isnull;
	int64		n;
	CuContext	cx;
	int			rc;

	/* a work table the owner's code could reach: as the owner (run_as) */
	if (OidIsValid(step->run_as))
		cu_enter(&cx, step->run_as, SECURITY_RESTRICTED_OPERATION);
	rc = SPI_execute(step->sql, true, 1);
	if (OidIsValid(step->run_as))
		cu_leave(&cx);
	if (rc != SPI_OK_SELECT || SPI_processed != 1)
		elog(ERROR, "SPI_execute failed for: %s", step->sql);
	n = cu_spi_getint64(0, 1, &isnull);
	if (n != 0)
		ereport(ERROR,
				(errcode(ERRCODE_CHECK_VIOLATION),
				 errmsg_plural("%lld row of table \"%s\" found no partition to go to",
							   "%lld rows of table \"%s\" found no partition to go to",
							   (unsigned long) n, (long long) n, step->relname),
				 errdetail("The conversion was rolled back: nothing was changed.")));
}

/*
 * Add a foreign key.  With skip_validation the constraint is created valid
 * without scanning: see the file header for why that is sound.
 */
static void
run_fkey_step(CuStep *step)
{
	List	   *raw;
	RawStmt    *rs;
	AlterTableStmt *ats;
	AlterTableCmd *cmd;
	Constraint *con;
	PlannedStmt *pstmt;

	if (!step->skip_validation)
	{
		cu_spi_exec(step->sql, SPI_OK_UTILITY);
		return;
	}

	raw = pg_parse_query(step->sql);
	if (list_length(raw) != 1)
		elog(ERROR, "unexpected statement count for: %s", step->sql);
	rs = linitial_node(RawStmt, raw);
	ats = castNode(AlterTableStmt, rs->stmt);
	cmd = linitial_node(AlterTableCmd, ats->cmds);
	con = castNode(Constraint, cmd->def);
	if (con->contype != CONSTR_FOREIGN)
		elog(ERROR, "not a foreign key: %s", step->sql);
	con->skip_validation = true;
	con->initially_valid = true;

	pstmt = makeNode(PlannedStmt);
	pstmt->commandType = CMD_UTILITY;
	pstmt->canSetTag = false;
	pstmt->utilityStmt = (Node *) ats;
	pstmt->stmt_location = rs->stmt_location;
	pstmt->stmt_len = rs->stmt_len;

	ProcessUtility(pstmt, step->sql,
#if PG_VERSION_NUM >= 140000
				   false,
#endif
				   PROCESS_UTILITY_QUERY, NULL, NULL, None_Receiver, NULL);
	CommandCounterIncrement();
}

/*
 * Set the triggers of a re-added foreign key as the old one's were: a DBA
 * may have disabled them (ALTER TABLE ... DISABLE TRIGGER ALL), and a new
 * constraint's triggers start enabled.  Matched by table, function and
 * type, since their names carry the new constraint's OID.
 */
static void
run_fk_triggers(CuForeignKey *fk)
{
	ListCell   *lc;

	foreach(lc, fk->triggers)
	{
		CuFkTrigger *trig = lfirst(lc);
		Oid			argtypes[5] = {OIDOID, NAMEOID, OIDOID, OIDOID, INT2OID};
		Datum		values[5];
		char	   *tgname;
		char	   *rel;

		/* (by name: a partitioned key table referencing itself is a new table now) */
		values[0] = ObjectIdGetDatum(cu_lookup_table(fk->nspname, fk->relname));
		values[1] = DirectFunctionCall1(namein, CStringGetDatum(fk->conname));
		values[2] = ObjectIdGetDatum(cu_lookup_table(trig->nspname, trig->relname));
		values[3] = ObjectIdGetDatum(trig->funcid);
		values[4] = Int16GetDatum(trig->tgtype);
		cu_spi_exec_args("SELECT g.tgname FROM pg_catalog.pg_trigger g "
						 "JOIN pg_catalog.pg_constraint c ON c.oid OPERATOR(pg_catalog.=) g.tgconstraint "
						 "WHERE c.conrelid OPERATOR(pg_catalog.=) $1 AND c.conname OPERATOR(pg_catalog.=) $2 "
						 "  AND c.contype OPERATOR(pg_catalog.=) 'f' "
						 "  AND g.tgrelid OPERATOR(pg_catalog.=) $3 AND g.tgfoid OPERATOR(pg_catalog.=) $4 "
						 "  AND g.tgtype OPERATOR(pg_catalog.=) $5",
						 SPI_OK_SELECT, 5, argtypes, values, NULL);
		if (SPI_processed != 1)
			elog(ERROR, "trigger of foreign key \"%s\" not found after it was added", fk->conname);
		tgname = cu_spi_getstring(0, 1);
		rel = cu_qualify(trig->nspname, trig->relname);
		cu_spi_exec(psprintf("ALTER TABLE %s %s TRIGGER %s", rel,
							 trig->enabled == 'D' ? "DISABLE" :
							 trig->enabled == 'R' ? "ENABLE REPLICA" : "ENABLE ALWAYS",
							 quote_identifier(tgname)),
					SPI_OK_UTILITY);
	}
}

/* Append one row to the history table */
static void
write_history(CuPlan *plan, const char *outcome, const char *rows_json,
			  TimestampTz started)
{
	Oid			argtypes[6] = {TEXTOID, TEXTOID, TEXTOID, TEXTOID, TIMESTAMPTZOID, TEXTOID};
	Datum		values[6];
	CuTarget   *t = plan->target;

	values[0] = CStringGetTextDatum(plan->direction == CU_TO_UUID ? "to uuid" : "to integer");
	values[1] = CStringGetTextDatum(t ? t->qualname : "");
	values[2] = CStringGetTextDatum(rows_json);
	values[3] = CStringGetTextDatum(cu_strategy_name(plan->strategy != CU_STRATEGY_NONE ? plan->strategy :
													 plan->options->strategy != CU_STRATEGY_NONE ?
													 plan->options->strategy : CU_STRATEGY_V4));
	values[4] = TimestampTzGetDatum(started);
	values[5] = CStringGetTextDatum(outcome);
	cu_spi_exec_args(psprintf("INSERT INTO %s (direction, table_name, rows_per_table, strategy, "
							  "started_at, duration, role_name, outcome) "
							  "VALUES ($1, $2, $3::pg_catalog.jsonb, $4, $5, "
							  "pg_catalog.clock_timestamp() OPERATOR(pg_catalog.-) $5, CURRENT_USER, $6)",
							  cu_qualify(cu_extension_schema_name(), "connector_uuid_history")),
					 SPI_OK_INSERT, 6, argtypes, values, NULL);
}

/*
 * Record the table's OID as it is now (a partitioned one was rebuilt): if
 * it is renamed before it is reverted, the revert can say under which name
 * it was converted instead of finding no id map.
 */
static void
remember_oid(CuPlan *plan)
{
	Oid			argtypes[2] = {INT4OID, OIDOID};
	Datum		values[2];

	if (plan->table_id == 0)
		return;
	values[0] = Int32GetDatum(plan->table_id);
	values[1] = ObjectIdGetDatum(cu_lookup_table(plan->target->nspname, plan->target->relname));
	cu_spi_exec_args(psprintf("UPDATE %s SET table_oid = $2 WHERE table_id OPERATOR(pg_catalog.=) $1",
							  cu_qualify(cu_extension_schema_name(), "connector_uuid_tables")),
					 SPI_OK_UPDATE, 2, argtypes, values, NULL);
}

/*
 * True if every lock step of plan is already held (after a re-read of the
 * catalogs, a new referencing table may have appeared while we waited).
 * Row locks cannot be looked up: rowlocked lists the tables whose rows we
 * have locked.
 */
static bool
locks_held(CuPlan *plan, List *rowlocked)
{
	ListCell   *lc;

	foreach(lc, plan->steps)
	{
		CuStep	   *step = lfirst(lc);

		if (step->kind != CU_STEP_LOCK)
			continue;
		if (step->row_lock ? !list_member_oid(rowlocked, step->relid) :
			!cu_lock_held(step->relid, step->lockmode))
			return false;
	}
	return true;
}

/* Run one step of plan (not a lock step); rows collects the rewrite counts */
static void
run_step(CuPlan *plan, CuStep *step, StringInfo rows, TimestampTz started)
{
	switch (step->kind)
	{
		case CU_STEP_SQL:
			run_sql(step);
			break;
		case CU_STEP_FKEY:
			run_fkey_step(step);
			break;
		case CU_STEP_INTERNAL:
			switch (step->action)
			{
				case CU_ACT_REGISTER:
					plan->table_id = cu_registry_register(plan->target, plan->options, plan->table_id);
					break;
				case CU_ACT_LOAD_EXCEPTIONS:
					cu_idmap_activate(plan->table_id, plan->direction, plan->target->qualname);
					break;
				case CU_ACT_FINISH:
					appendStringInfoChar(rows, '}');
					write_history(plan, plan->outcome ? plan->outcome :
								  plan->direction == CU_TO_UUID ? "converted" : "reverted",
								  rows->data, started);
					remember_oid(plan);
					break;
				case CU_ACT_FK_TRIGGERS:
					run_fk_triggers(step->fkey);
					break;
				case CU_ACT_EXPECT_NONE:
					expect_none(step);
					break;
				case CU_ACT_CHECK_RANGE:
					cu_check_new_ids(plan);
					break;
				case CU_ACT_SWAP_KEY:
					cu_swap_primary_key(step->relid, step->swap_from, step->swap_to);
					break;
				case CU_ACT_NONE:
					break;
			}
			break;
		case CU_STEP_LOCK:
			break;
	}
}

/*
 * run_step(), and if it fails in a way an event trigger may have caused
 * (see cu_event_trigger_hint()), the same error with a hint naming them.
 */
static void
run_step_hinted(CuPlan *plan, CuStep *step, StringInfo rows, TimestampTz started,
				const char *evtnames)
{
	MemoryContext oldcxt = CurrentMemoryContext;

	if (evtnames == NULL)
	{
		run_step(plan, step, rows, started);
		return;
	}
	PG_TRY();
	{
		run_step(plan, step, rows, started);
	}
	PG_CATCH();
	{
		ErrorData  *edata;

		MemoryContextSwitchTo(oldcxt);
		edata = CopyErrorData();
		FlushErrorState();
		cu_event_trigger_hint(edata, evtnames, OidIsValid(step->run_as));
		ReThrowError(edata);
	}
	PG_END_TRY();
}

/*
 * The plan's tables, found by name (a partitioned key table is a new table
 * after its rebuild): see cu_prime_index_expressions().
 */
static void
prime_plan_tables(CuPlan *plan)
{
	ListCell   *lc;

	cu_prime_index_expressions(cu_lookup_table(plan->target->nspname, plan->target->relname));
	foreach(lc, plan->target->fkeys)
	{
		CuForeignKey *fk = lfirst(lc);

		cu_prime_index_expressions(cu_lookup_table(fk->nspname, fk->relname));
	}
}

/*
 * Before a step: every lock it takes on a relation that existed when the
 * plan was made must be held already, in that mode or a stronger one (the
 * lock phase took them under connector_uuid.lock_timeout).  A step that
 * would have to wait for a lock here, with the converted tables locked,
 * would stall the application without a bound: that is a bug in the plan.
 */
static void
check_step_locks(CuStep *step, int k)
{
	ListCell   *lc;

	foreach(lc, step->locks)
	{
		CuLock	   *lock = lfirst(lc);

		if (!cu_lock_held(lock->relid, lock->mode))
			ereport(ERROR,
					(errcode(ERRCODE_INTERNAL_ERROR),
					 errmsg_internal("connector_uuid: step %d needs a %s lock on %s \"%s\" (OID %u) that the lock phase did not take",
									 k, cu_lock_name(lock->mode), cu_rel_kind_name(lock->relid),
									 get_rel_name(lock->relid) ? get_rel_name(lock->relid) : "?",
									 lock->relid)));
	}
}

/*
 * Build the plan, lock what it names, and build it again under the locks
 * until nothing new appears; then run it.  Caller is connected to SPI.
 */
void
cu_execute_plan(CuPlan *plan)
{
	ListCell   *lc;
	int			nsteps = 0;
	int			k = 0;
	bool		saved_creating = creating_extension;
	Oid			saved_extension = CurrentExtensionObject;
	TimestampTz started = GetCurrentTimestamp();
	StringInfoData rows;
	bool		first_row = true;
	char	   *evtnames;

	foreach(lc, plan->notes)
		cu_report_progress("%s", (char *) lfirst(lc));

	if (plan->state == CU_STATE_MISSING)
		return;
	if (plan->adopt)
	{
		write_history(plan, "adopted", "{}", started);
		return;
	}

	foreach(lc, plan->steps)
	{
		if (((CuStep *) lfirst(lc))->kind != CU_STEP_LOCK)
			nsteps++;
	}

	initStringInfo(&rows);
	appendStringInfoChar(&rows, '{');
	evtnames = cu_enabled_event_triggers();

	/* objects created from here on belong to the application */
	creating_extension = false;
	CurrentExtensionObject = InvalidOid;

	foreach(lc, plan->steps)
	{
		CuStep	   *step = lfirst(lc);
		instr_time	start,
					duration;

		CHECK_FOR_INTERRUPTS();
		if (step->kind == CU_STEP_LOCK)
			continue;
		k++;
		check_step_locks(step, k);
		cu_report_step(step->sql, "step %d of %d: %s: %s", k, nsteps,
					   step->relname ? step->relname : "-", step->description);
		INSTR_TIME_SET_CURRENT(start);

		run_step_hinted(plan, step, &rows, started, evtnames);

		/* before the next step reads them: see cu_prime_index_expressions() */
		if (step->kind != CU_STEP_INTERNAL)
			prime_plan_tables(plan);

		INSTR_TIME_SET_CURRENT(duration);
		INSTR_TIME_SUBTRACT(duration, start);
		if (step->rewrites)
		{
			int64		n = cu_rel_tuples(step->relid);

			cu_report_progress("step %d of %d: %s: rewrote %lld rows in %.3f s", k, nsteps,
							   step->relname, (long long) n, INSTR_TIME_GET_DOUBLE(duration));
			if (!first_row)
				appendStringInfoString(&rows, ", ");
			escape_json(&rows, step->relname);
			appendStringInfo(&rows, ": %lld", (long long) n);
			first_row = false;
		}
		else if (INSTR_TIME_GET_DOUBLE(duration) >= 0.1)
			cu_report_progress("step %d of %d: %s: done in %.3f s", k, nsteps,
							   step->relname ? step->relname : "-", INSTR_TIME_GET_DOUBLE(duration));
	}

	cu_idmap_deactivate();
	creating_extension = saved_creating;
	CurrentExtensionObject = saved_extension;
	cu_progress_done();
}

/*
 * Take the plan's locks in its order, then rebuild it under those locks
 * (the catalogs may have changed while we waited) until every table the
 * plan touches is locked.  Returns the plan to execute.
 */
CuPlan *
cu_lock_and_replan(Oid relid, CuDirection direction, CuOptions *opt)
{
	CuPlan	   *plan = cu_build_plan(relid, direction, opt);
	int			rounds = 0;
	List	   *rowlocked = NIL;

	if (plan->online)
		cu_lock_short_attempts();

	while (!plan->adopt && plan->state != CU_STATE_MISSING && !locks_held(plan, rowlocked))
	{
		ListCell   *lc;

		if (++rounds > 10)
			ereport(ERROR,
					(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
					 errmsg("the tables referencing \"%s\" keep changing", plan->target->qualname),
					 errhint("Try again when no schema changes are running.")));

		cu_lock_steps(plan->steps);
		foreach(lc, plan->steps)
		{
			CuStep	   *step = lfirst(lc);

			if (step->kind == CU_STEP_LOCK && step->row_lock)
				rowlocked = list_append_unique_oid(rowlocked, step->relid);
		}
		/* a new table's id: taken now that its locks are held, never before */
		if (plan->table_id_predicted && opt->reserved_table_id == 0)
			opt->reserved_table_id = cu_registry_take_id();
		/* locking accepted invalidations: the rebuild sees the catalogs as they are */
		plan = cu_build_plan(relid, direction, opt);
	}
	/* (the caller held every lock already: the first plan is the last) */
	if (plan->table_id_predicted)
	{
		opt->reserved_table_id = cu_registry_take_id();
		plan = cu_build_plan(relid, direction, opt);
	}
	return plan;
}
