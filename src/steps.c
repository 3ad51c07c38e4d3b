/*-------------------------------------------------------------------------
 *
 * steps.c
 *	  The step type of a plan: what a step touches and the lock mode it
 *	  takes there, its description in words, its SQL; and the lock phase
 *	  that takes the union of every step's locks before the first step runs.
 *
 * Every step records the relations it touches and the lock mode its
 * statement takes on each (CuStep.locks, from the PostgreSQL source of the
 * command: ALTER TABLE, DROP/CREATE POLICY, RULE, TRIGGER and VIEW,
 * RemoveConstraintById, the sequence commands).  cu_lock_phase() turns
 * their union into the lock steps put in front of the plan, so that nothing
 * a step does waits for a lock once the converted tables are locked; the
 * executor checks before each step that its locks are held.
 *
 * Lock order (to avoid deadlocks with the application and with a second
 * migration): the primary key table first, then its partitions, then the
 * referencing tables, then every other relation a step touches, each group
 * in OID order.  The online mode's plans lock the views they recreate
 * first: a query through a view locks the view before its tables, so a
 * swap that held the tables while it waited for the view would wait on
 * queries that wait on it (each attempt is short, so that would only cost
 * attempts, but the first one should succeed).
 *
 * IDENTIFICATION
 *	  src/steps.c
 *
 *-------------------------------------------------------------------------
 */
#include "plan.h"
#include "security.h"
#include "spi_util.h"

#include "catalog/pg_class.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "parser/parser.h"
#include "tcop/utility.h"
#include "utils/lsyscache.h"

/*
 * The parse tree of the last statement of sql, or NULL if there is none
 * (PostgreSQL's own parser: no SQL is run)
 */
static Node *
parse_last(const char *sql)
{
#if PG_VERSION_NUM >= 140000
	List	   *raw = raw_parser(sql, RAW_PARSE_DEFAULT);
#else
	List	   *raw = raw_parser(sql);
#endif

	if (raw == NIL)
		return NULL;
	return ((RawStmt *) llast(raw))->stmt;
}

/*
 * The SPI_OK_* code SPI_execute() returns for sql: that of its last
 * statement's command (an INSERT, UPDATE or DELETE that a rule rewrites
 * returns SPI_OK_REWRITTEN instead: the executor allows that too)
 */
static int
expected_spi_code(const char *sql)
{
	Node	   *stmt = parse_last(sql);

	if (stmt == NULL)
		elog(ERROR, "no statement in step: %s", sql);
	switch (nodeTag(stmt))
	{
		case T_SelectStmt:
			return SPI_OK_SELECT;
		case T_InsertStmt:
			return ((InsertStmt *) stmt)->returningList ? SPI_OK_INSERT_RETURNING : SPI_OK_INSERT;
		case T_UpdateStmt:
			return ((UpdateStmt *) stmt)->returningList ? SPI_OK_UPDATE_RETURNING : SPI_OK_UPDATE;
		case T_DeleteStmt:
			return ((DeleteStmt *) stmt)->returningList ? SPI_OK_DELETE_RETURNING : SPI_OK_DELETE;
		default:
			return SPI_OK_UTILITY;
	}
}

/* The new step, appended to plan */
static CuStep *
add_step(CuPlan *plan, CuStepKind kind, Oid relid, const char *relname,
		 LOCKMODE mode, char *sql, char *description)
{
	CuStep	   *step = palloc0(sizeof(CuStep));

	step->kind = kind;
	step->relid = relid;
	step->relname = relname ? pstrdup(relname) : NULL;
	step->lockmode = mode;
	step->sql = sql;
	step->description = description;
	if (kind == CU_STEP_SQL)
		step->spi_ok = expected_spi_code(sql);
	cu_step_lock(step, relid, mode);
	plan->steps = lappend(plan->steps, step);
	return step;
}

/*
 * Append a step to plan and return it: it works on relid (InvalidOid: a
 * relation the plan creates, or none), takes mode on it and runs sql (NULL
 * for an internal step); fmt... says in words what it does.
 */
CuStep *
cu_plan_add(CuPlan *plan, CuStepKind kind, Oid relid, const char *relname,
			LOCKMODE mode, char *sql, const char *fmt,...)
{
	va_list		args;
	char	   *description;

	va_start(args, fmt);
	description = cu_vformat(fmt, args);
	va_end(args);
	return add_step(plan, kind, relid, relname, mode, sql, description);
}

/*
 * Append an internal step (a C action, no SQL) on the plan's key table,
 * taking mode on it; fmt... says what it does
 */
CuStep *
cu_plan_internal(CuPlan *plan, CuInternalAction action, LOCKMODE mode,
				 const char *fmt,...)
{
	va_list		args;
	CuStep	   *step;

	va_start(args, fmt);
	step = add_step(plan, CU_STEP_INTERNAL, plan->target->relid, plan->target->relname,
					mode, NULL, cu_vformat(fmt, args));
	va_end(args);
	step->action = action;
	return step;
}

/*
 * Record that step takes mode on relid (a relation that exists now; the
 * ones the plan creates are not locked ahead).  Twice on one relation: the
 * weakest mode covering both.
 */
void
cu_step_lock(CuStep *step, Oid relid, LOCKMODE mode)
{
	ListCell   *lc;
	CuLock	   *lock;

	if (!OidIsValid(relid) || mode == NoLock)
		return;
	foreach(lc, step->locks)
	{
		lock = lfirst(lc);
		if (lock->relid == relid)
		{
			lock->mode = cu_lock_combine(lock->mode, mode);
			return;
		}
	}
	lock = palloc(sizeof(CuLock));
	lock->relid = relid;
	lock->mode = mode;
	step->locks = lappend(step->locks, lock);
}

/*
 * mode on every partition and inheritance child below relid (ALTER TABLE
 * recurses to both; DROP and CREATE TRIGGER and foreign keys to
 * partitions).
 */
void
cu_step_lock_tree(CuStep *step, Oid relid, LOCKMODE mode)
{
	ListCell   *lc;

	if (!OidIsValid(relid))
		return;
	/* partitions at any depth, and inheritance children: ALTER TABLE recurses to both */
	cu_spi_select_oid("WITH RECURSIVE tree(relid) AS (SELECT $1 UNION "
					  "  SELECT i.inhrelid FROM pg_catalog.pg_inherits i "
					  "  JOIN tree ON i.inhparent OPERATOR(pg_catalog.=) tree.relid) "
					  "SELECT t.relid FROM tree t WHERE t.relid OPERATOR(pg_catalog.<>) $1 ORDER BY 1", relid);
	foreach(lc, cu_spi_oid_column())
		cu_step_lock(step, lfirst_oid(lc), mode);
}

/*
 * mode on the tables, views and sequences the object (classid, objid)
 * refers to (a view's query, a rule's actions, a policy's expressions),
 * except the relation except: recreating the object parses its text again,
 * which locks them.
 */
void
cu_step_lock_refs(CuStep *step, Oid classid, Oid objid, Oid except, LOCKMODE mode)
{
	Oid			argtypes[3] = {OIDOID, OIDOID, OIDOID};
	Datum		values[3];
	ListCell   *lc;

	values[0] = ObjectIdGetDatum(classid);
	values[1] = ObjectIdGetDatum(objid);
	values[2] = ObjectIdGetDatum(except);
	cu_spi_exec_args("SELECT DISTINCT d.refobjid FROM pg_catalog.pg_depend d "
					 "JOIN pg_catalog.pg_class c ON c.oid OPERATOR(pg_catalog.=) d.refobjid "
					 "WHERE d.classid OPERATOR(pg_catalog.=) $1 AND d.objid OPERATOR(pg_catalog.=) $2 "
					 "  AND d.refclassid OPERATOR(pg_catalog.=) 'pg_catalog.pg_class'::pg_catalog.regclass "
					 "  AND d.refobjid OPERATOR(pg_catalog.<>) $3 "
					 "  AND c.relkind IN ('r', 'p', 'v', 'm', 'f', 'S') ORDER BY 1",
					 SPI_OK_SELECT, 3, argtypes, values, NULL);
	foreach(lc, cu_spi_oid_column())
		cu_step_lock(step, lfirst_oid(lc), mode);
}

/* The SQL name of a lock mode */
const char *
cu_lock_name(LOCKMODE mode)
{
	switch (mode)
	{
		case AccessShareLock:
			return "ACCESS SHARE";
		case RowShareLock:
			return "ROW SHARE";
		case RowExclusiveLock:
			return "ROW EXCLUSIVE";
		case ShareUpdateExclusiveLock:
			return "SHARE UPDATE EXCLUSIVE";
		case ShareLock:
			return "SHARE";
		case ShareRowExclusiveLock:
			return "SHARE ROW EXCLUSIVE";
		case ExclusiveLock:
			return "EXCLUSIVE";
		case AccessExclusiveLock:
			return "ACCESS EXCLUSIVE";
		default:
			return "NONE";
	}
}

/*
 * The modes each table lock mode conflicts with, as a bit mask (bit n for
 * mode n): the table "Conflicting Lock Modes" of the manual.
 */
static int
conflicts(LOCKMODE mode)
{
#define M(m) (1 << (m))
	switch (mode)
	{
		case AccessShareLock:
			return M(AccessExclusiveLock);
		case RowShareLock:
			return M(ExclusiveLock) | M(AccessExclusiveLock);
		case RowExclusiveLock:
			return M(ShareLock) | M(ShareRowExclusiveLock) | M(ExclusiveLock) | M(AccessExclusiveLock);
		case ShareUpdateExclusiveLock:
			return M(ShareUpdateExclusiveLock) | M(ShareLock) | M(ShareRowExclusiveLock) |
				M(ExclusiveLock) | M(AccessExclusiveLock);
		case ShareLock:
			return M(RowExclusiveLock) | M(ShareUpdateExclusiveLock) | M(ShareRowExclusiveLock) |
				M(ExclusiveLock) | M(AccessExclusiveLock);
		case ShareRowExclusiveLock:
			return M(RowExclusiveLock) | M(ShareUpdateExclusiveLock) | M(ShareLock) |
				M(ShareRowExclusiveLock) | M(ExclusiveLock) | M(AccessExclusiveLock);
		case ExclusiveLock:
			return M(RowShareLock) | M(RowExclusiveLock) | M(ShareUpdateExclusiveLock) | M(ShareLock) |
				M(ShareRowExclusiveLock) | M(ExclusiveLock) | M(AccessExclusiveLock);
		case AccessExclusiveLock:
			return M(AccessShareLock) | M(RowShareLock) | M(RowExclusiveLock) |
				M(ShareUpdateExclusiveLock) | M(ShareLock) | M(ShareRowExclusiveLock) |
				M(ExclusiveLock) | M(AccessExclusiveLock);
		default:
			return 0;
	}
#undef M
}

/*
 * Whether holding held keeps out everyone that need would (held is need or
 * stronger).  SHARE is not stronger than ROW EXCLUSIVE or SHARE UPDATE
 * EXCLUSIVE, though its number is greater.
 */
bool
cu_lock_covers(LOCKMODE held, LOCKMODE need)
{
	return (conflicts(held) & conflicts(need)) == conflicts(need);
}

/* The weakest mode that covers both a and b */
LOCKMODE
cu_lock_combine(LOCKMODE a, LOCKMODE b)
{
	LOCKMODE	m;

	for (m = Max(a, b); m < AccessExclusiveLock; m++)
	{
		if (cu_lock_covers(m, a) && cu_lock_covers(m, b))
			return m;
	}
	return AccessExclusiveLock;
}

/* Compare two CuLock by relation OID */
static int
lock_relid_cmp(const ListCell *a, const ListCell *b)
{
	Oid			ra = ((CuLock *) lfirst(a))->relid;
	Oid			rb = ((CuLock *) lfirst(b))->relid;

	return (ra > rb) - (ra < rb);
}

/* The lock step that takes lock, for the front of the plan */
static CuStep *
lock_step(CuLock *lock)
{
	CuStep	   *step = palloc0(sizeof(CuStep));
	char	   *qual = cu_rel_qualname(lock->relid);
	char		relkind = get_rel_relkind(lock->relid);

	step->kind = CU_STEP_LOCK;
	step->relid = lock->relid;
	step->relname = get_rel_name(lock->relid);
	step->lockmode = lock->mode;
	step->description = psprintf("lock %s %s in %s mode", cu_rel_kind_name(lock->relid),
								 step->relname, cu_lock_name(lock->mode));
	/* LOCK TABLE takes tables and views; the engine locks the others itself */
	if (relkind == RELKIND_RELATION || relkind == RELKIND_PARTITIONED_TABLE ||
		relkind == RELKIND_VIEW)
		step->sql = psprintf("LOCK TABLE %s IN %s MODE", qual, cu_lock_name(lock->mode));
	else
		step->sql = psprintf("-- lock %s %s in %s mode", cu_rel_kind_name(lock->relid), qual,
							 cu_lock_name(lock->mode));
	cu_step_lock(step, lock->relid, lock->mode);
	return step;
}

/*
 * The lock steps for the front of the plan: the union of every step's
 * locks (the weakest mode covering all a relation needs), in the order of
 * the file header.  skip_relid (a table whose rows a row-lock step locks
 * instead) is left out.  Called once every other step is planned.
 */
List *
cu_lock_phase(CuPlan *plan, Oid skip_relid)
{
	CuTarget   *t = plan->target;
	List	   *all = NIL;
	List	   *groups[5] = {NIL, NIL, NIL, NIL, NIL};
	List	   *fkrels = NIL;
	List	   *leafrels = NIL;
	List	   *locksteps = NIL;
	ListCell   *lc;
	int			g;

	foreach(lc, t->leaves)
		leafrels = lappend_oid(leafrels, ((CuLeaf *) lfirst(lc))->relid);
	foreach(lc, t->fkeys)
		fkrels = lappend_oid(fkrels, ((CuForeignKey *) lfirst(lc))->relid);

	foreach(lc, plan->steps)
	{
		CuStep	   *step = lfirst(lc);
		ListCell   *lc2;

		foreach(lc2, step->locks)
		{
			CuLock	   *need = lfirst(lc2);
			ListCell   *lc3;
			CuLock	   *have = NULL;

			if (OidIsValid(skip_relid) && need->relid == skip_relid)
				continue;
			foreach(lc3, all)
			{
				if (((CuLock *) lfirst(lc3))->relid == need->relid)
					have = lfirst(lc3);
			}
			if (have)
				have->mode = cu_lock_combine(have->mode, need->mode);
			else
			{
				have = palloc(sizeof(CuLock));
				*have = *need;
				all = lappend(all, have);
			}
		}
	}

	foreach(lc, all)
	{
		CuLock	   *lock = lfirst(lc);

		/* the online mode: views first, as the application's queries lock them */
		if (plan->online && (get_rel_relkind(lock->relid) == RELKIND_VIEW ||
							 get_rel_relkind(lock->relid) == RELKIND_MATVIEW))
			g = 0;
		else if (lock->relid == t->relid)
			g = 1;
		else if (list_member_oid(leafrels, lock->relid))
			g = 2;
		else if (list_member_oid(fkrels, lock->relid))
			g = 3;
		else
			g = 4;
		groups[g] = lappend(groups[g], lock);
	}
	for (g = 0; g < 5; g++)
	{
		list_sort(groups[g], lock_relid_cmp);
		foreach(lc, groups[g])
			locksteps = lappend(locksteps, lock_step(lfirst(lc)));
	}
	return locksteps;
}

/*
 * The work table through which rows of the key table reach the extension's
 * tables.  Planning a query over an application table constant-folds
 * expressions its owner wrote (statistics objects, index expressions, the
 * checks of inheritance children), so the query that reads the key table
 * runs as its owner under SECURITY_RESTRICTED_OPERATION and writes here;
 * only our own statement, planned over this table and ours, writes the map.
 * Rows: kind 'p' a pair (n, u), 'd' the highest id the key derives, 'm'
 * the highest key after a revert.
 */
Oid
cu_plan_work_table(CuPlan *plan)
{
	Oid			owner = cu_rel_owner(plan->target->relid);

	cu_plan_add(plan, CU_STEP_SQL, InvalidOid, plan->target->relname, NoLock,
				"CREATE TABLE " CU_WORK_TABLE " (kind pg_catalog.\"char\" NOT NULL, "
				"n pg_catalog.int8, u pg_catalog.uuid) ON COMMIT DROP",
				"create the work table through which the table's rows reach the id map");
	if (owner != GetUserId())
		cu_plan_add(plan, CU_STEP_SQL, InvalidOid, plan->target->relname, NoLock,
					psprintf("GRANT INSERT ON " CU_WORK_TABLE " TO %s",
							 quote_identifier(GetUserNameFromId(owner, false))),
					"let the table's owner %s write the work table", GetUserNameFromId(owner, false));
	return owner;
}

/* A step that reads the key table (sql) as its owner; what says what for */
void
cu_plan_read_as_owner(CuPlan *plan, Oid owner, char *sql, const char *what)
{
	cu_plan_add(plan, CU_STEP_SQL, plan->target->relid, plan->target->relname,
				AccessShareLock, sql, "%s, as the table's owner", what)->run_as = owner;
}

void
cu_plan_drop_work_table(CuPlan *plan)
{
	cu_plan_add(plan, CU_STEP_SQL, InvalidOid, plan->target->relname, NoLock,
				"DROP TABLE " CU_WORK_TABLE, "drop the work table");
}

/* n (a row count) in words for a description: 857,143 */
char *
cu_count_words(double n)
{
	char		digits[32];
	StringInfoData buf;
	int			len;
	int			i;

	snprintf(digits, sizeof(digits), "%.0f", n < 0 ? 0 : n);
	len = strlen(digits);
	initStringInfo(&buf);
	for (i = 0; i < len; i++)
	{
		if (i > 0 && (len - i) % 3 == 0)
			appendStringInfoChar(&buf, ',');
		appendStringInfoChar(&buf, digits[i]);
	}
	return buf.data;
}

/*
 * The command tag of statement sql ("GRANT", "CREATE INDEX"), for the
 * description of a step that puts back what a catalog query read
 */
const char *
cu_statement_tag(const char *sql)
{
	Node	   *stmt = parse_last(sql);

	return stmt ? CreateCommandName(stmt) : "statement";
}
