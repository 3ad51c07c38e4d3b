/*-------------------------------------------------------------------------
 *
 * spi_util.c
 *	  Small SPI helpers: run a statement and insist on the exact result code,
 *	  read typed values out of SPI_tuptable, quote names, pin a safe
 *	  search_path for the duration of an entry point, and switch to a table's
 *	  owner for what runs code the application wrote.
 *
 * Every caller owns its SPI_connect/SPI_finish; these helpers never open or
 * close SPI themselves.  Values go in as $n parameters, never pasted.
 *
 * IDENTIFICATION
 *	  src/spi_util.c
 *
 *-------------------------------------------------------------------------
 */
#include "connector_uuid.h"

#include "catalog/pg_class.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/syscache.h"
#include "access/htup_details.h"
#include "access/table.h"
#include "access/genam.h"
#include "catalog/pg_inherits.h"
#include "storage/lmgr.h"
#include "utils/lsyscache.h"
#include "utils/rel.h"
#include "utils/relcache.h"

/*
 * Run sql through SPI and raise an internal error unless the result code is
 * exactly the one expected.  An SPI failure here is a bug, not user input.
 */
void
cu_spi_exec(const char *sql, int expected)
{
	cu_spi_exec_args(sql, expected, 0, NULL, NULL, NULL);
}

/* As cu_spi_exec, with $n parameters */
void
cu_spi_exec_args(const char *sql, int expected, int nargs,
				 Oid *argtypes, Datum *values, const char *nulls)
{
	int			rc;

	rc = SPI_execute_with_args(sql, nargs, argtypes, values, nulls, false, 0);
	if (rc != expected)
		elog(ERROR, "SPI_execute_with_args returned %s, expected %s, for: %s",
			 SPI_result_code_string(rc), SPI_result_code_string(expected), sql);
}

/* Column col (1-based) of row as text, palloc'd in the caller's context */
char *
cu_spi_getstring(int row, int col)
{
	return SPI_getvalue(SPI_tuptable->vals[row], SPI_tuptable->tupdesc, col);
}

/* Column col of row as a Datum; by-reference values live in SPI memory */
Datum
cu_spi_getdatum(int row, int col, bool *isnull)
{
	return SPI_getbinval(SPI_tuptable->vals[row], SPI_tuptable->tupdesc, col,
						 isnull);
}

/* Column col of row as a boolean */
bool
cu_spi_getbool(int row, int col, bool *isnull)
{
	Datum		d = cu_spi_getdatum(row, col, isnull);

	return *isnull ? false : DatumGetBool(d);
}

/* Column col of row as an int64; accepts int2, int4, int8 and oid columns */
int64
cu_spi_getint64(int row, int col, bool *isnull)
{
	Datum		d = cu_spi_getdatum(row, col, isnull);
	Oid			typid = SPI_gettypeid(SPI_tuptable->tupdesc, col);

	if (*isnull)
		return 0;
	switch (typid)
	{
		case INT2OID:
			return DatumGetInt16(d);
		case INT4OID:
			return DatumGetInt32(d);
		case OIDOID:
			return DatumGetObjectId(d);
		case INT8OID:
			return DatumGetInt64(d);
		default:
			elog(ERROR, "unexpected type %u in column %d", typid, col);
	}
	return 0;					/* keep compiler quiet */
}

/* A quoted, schema-qualified name for putting into SQL */
char *
cu_qualify(const char *nspname, const char *relname)
{
	return quote_qualified_identifier(nspname, relname);
}

/*
 * Pin search_path to pg_catalog, pg_temp for the rest of the entry point, so
 * that neither our SQL nor the definitions we read back with pg_get_*def()
 * resolve anything through a schema the caller can write to (the
 * CVE-2018-1058 class).  Returns the GUC nest level for AtEOXact_GUC().
 */
int
cu_safe_search_path(void)
{
	int			nestlevel = NewGUCNestLevel();

	(void) set_config_option("search_path", "pg_catalog, pg_temp",
							 PGC_USERSET, PGC_S_SESSION,
							 GUC_ACTION_SAVE, true, 0, false);
	return nestlevel;
}

/*
 * Run sql (one text column) with $1 = relid and $2 = qualname, and append
 * each non-null row to list: for queries that generate statements.
 */
List *
cu_spi_collect(List *list, const char *sql, Oid relid, const char *qualname)
{
	Oid			argtypes[2] = {OIDOID, TEXTOID};
	Datum		values[2];
	uint64		i;

	values[0] = ObjectIdGetDatum(relid);
	values[1] = CStringGetTextDatum(qualname);
	cu_spi_exec_args(sql, SPI_OK_SELECT, 2, argtypes, values, NULL);
	for (i = 0; i < SPI_processed; i++)
	{
		char	   *s = cu_spi_getstring(i, 1);

		if (s)
			list = lappend(list, s);
	}
	return list;
}

/*
 * Enter a context in which the engine's SQL runs: as run_as (InvalidOid: the
 * current user), with flags added to the security context, in a new GUC
 * nest level with search_path pinned to pg_catalog, pg_temp.  cu_leave()
 * puts everything back; an error does so through the transaction's abort.
 *
 * This is PostgreSQL's own way of running code a table's owner wrote
 * (REINDEX, CLUSTER, REFRESH MATERIALIZED VIEW): as the owner, with
 * SECURITY_RESTRICTED_OPERATION, so that a CHECK constraint, a generated
 * column, a trigger or a constant-folded immutable function of the
 * application can never act with the converting superuser's privileges,
 * and whatever GUC it sets is undone.  The entry points add
 * SECURITY_NOFORCE_RLS (as the RI triggers do): a table's owner then sees
 * every row of a table with FORCE ROW LEVEL SECURITY, so the id map, the
 * checks and the revert never miss rows a policy hides.  Event triggers
 * fire as run_as too while such a step runs.
 */
void
cu_enter(CuContext *cx, Oid run_as, int sec_flags)
{
	GetUserIdAndSecContext(&cx->save_userid, &cx->save_sec);
	cx->switched = OidIsValid(run_as);
	SetUserIdAndSecContext(OidIsValid(run_as) ? run_as : cx->save_userid,
						   cx->save_sec | sec_flags);
	cx->nestlevel = cu_safe_search_path();
}

/* Leave the context cu_enter() opened */
void
cu_leave(CuContext *cx)
{
	/* what code run as another role set is undone, as PostgreSQL does */
	AtEOXact_GUC(!cx->switched, cx->nestlevel);
	SetUserIdAndSecContext(cx->save_userid, cx->save_sec);
}

/* The owner of relation relid */
Oid
cu_rel_owner(Oid relid)
{
	HeapTuple	tup = SearchSysCache1(RELOID, ObjectIdGetDatum(relid));
	Oid			owner;

	if (!HeapTupleIsValid(tup))
		elog(ERROR, "cache lookup failed for relation %u", relid);
	owner = ((Form_pg_class) GETSTRUCT(tup))->relowner;
	ReleaseSysCache(tup);
	return owner;
}

/*
 * The enabled event triggers, as a quoted, comma-separated list, or NULL if
 * there are none.  Read before the steps run: an error's handler cannot
 * read catalogs.
 */
char *
cu_enabled_event_triggers(void)
{
	cu_spi_exec("SELECT pg_catalog.string_agg(pg_catalog.quote_ident(e.evtname::pg_catalog.text), ', ' "
				"ORDER BY e.evtname) FROM pg_catalog.pg_event_trigger e "
				"WHERE e.evtenabled OPERATOR(pg_catalog.<>) 'D'", SPI_OK_SELECT);
	return SPI_processed == 1 ? cu_spi_getstring(0, 1) : NULL;
}

/*
 * An engine statement failed with edata.  If that is an unknown table,
 * function or schema (or, for a step run as a table's owner, a missing
 * privilege) and event triggers are enabled, the likely cause is one of
 * them: it fired under the engine's pinned search_path (pg_catalog,
 * pg_temp), or as the table's owner.  Say so in the hint.  The protection
 * itself stays: names an event trigger resolves must be qualified.
 */
void
cu_event_trigger_hint(ErrorData *edata, const char *evtnames, bool as_owner)
{
	const char *why;

	if (evtnames == NULL)
		return;
	if (edata->sqlerrcode == ERRCODE_UNDEFINED_TABLE ||
		edata->sqlerrcode == ERRCODE_UNDEFINED_FUNCTION ||
		edata->sqlerrcode == ERRCODE_INVALID_SCHEMA_NAME)
		why = "The migration runs with search_path = pg_catalog, pg_temp, so an event trigger that uses unqualified names does not find them.  Qualify the names in the event trigger's function, or give the function SET search_path.";
	else if (as_owner && edata->sqlerrcode == ERRCODE_INSUFFICIENT_PRIVILEGE)
		why = "Statements that run the application's code run as the table's owner, and event triggers fire as that role then.  Grant the owner what the event trigger's function needs, or make the function SECURITY DEFINER.";
	else
		return;
	edata->hint = psprintf("This may come from event trigger %s.  %s%s%s", evtnames, why,
						   edata->hint ? "  " : "", edata->hint ? edata->hint : "");
}

static void prime_one(Oid relid);

/*
 * The planner of any query on a table, the engine's own reads included,
 * constant-folds the immutable functions of the table's index expressions
 * and predicates, which the table's owner wrote.  PostgreSQL does that once
 * per relcache entry: do it here first, as the owner under
 * SECURITY_RESTRICTED_OPERATION, so that the engine's queries find the
 * folded expressions cached.  Called on the plan's tables after discovery
 * and after each step (a rewrite makes new index entries).  A table locked
 * by another session is left out rather than waited for: the lock steps
 * bound every wait.
 */
void
cu_prime_index_expressions(Oid relid)
{
	List	   *rels;
	ListCell   *lc;

	if (!OidIsValid(relid) || get_rel_relkind(relid) == '\0')
		return;
	/* the planner expands a table to its partitions and children */
	rels = find_all_inheritors(relid, NoLock, NULL);
	foreach(lc, rels)
		prime_one(lfirst_oid(lc));
}

/* cu_prime_index_expressions() for one table */
static void
prime_one(Oid relid)
{
	CuContext	cx;
	Relation	rel;
	List	   *indexes;
	ListCell   *lc;
	char		relkind = get_rel_relkind(relid);

	if (relkind != RELKIND_RELATION && relkind != RELKIND_PARTITIONED_TABLE &&
		relkind != RELKIND_MATVIEW)
		return;
	if (!ConditionalLockRelationOid(relid, AccessShareLock))
		return;
	cu_enter(&cx, cu_rel_owner(relid), SECURITY_RESTRICTED_OPERATION);
	rel = table_open(relid, NoLock);
	indexes = RelationGetIndexList(rel);
	foreach(lc, indexes)
	{
		Relation	ind;

		if (!ConditionalLockRelationOid(lfirst_oid(lc), AccessShareLock))
			continue;
		ind = index_open(lfirst_oid(lc), NoLock);
		(void) RelationGetIndexExpressions(ind);
		(void) RelationGetIndexPredicate(ind);
		index_close(ind, AccessShareLock);
	}
	table_close(rel, AccessShareLock);
	cu_leave(&cx);
}

/*
 * The role to run one query reading relations a and b as: the owner of a if
 * that role may read b (and a), else the owner of b if it may read a (and
 * b); InvalidOid if neither may.  The planner folds the expressions of both
 * tables (statistics objects, children's CHECK constraints, index
 * expressions): run as one of their owners under
 * SECURITY_RESTRICTED_OPERATION, never as the converting role.
 */
Oid
cu_reader_of(Oid a, Oid b)
{
	Oid			cand[2];
	int			i;

	cand[0] = cu_rel_owner(a);
	cand[1] = cu_rel_owner(b);
	for (i = 0; i < 2; i++)
	{
		if (pg_class_aclcheck(a, cand[i], ACL_SELECT) == ACLCHECK_OK &&
			pg_class_aclcheck(b, cand[i], ACL_SELECT) == ACLCHECK_OK)
			return cand[i];
	}
	return InvalidOid;
}
