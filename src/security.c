/*-------------------------------------------------------------------------
 *
 * security.c
 *	  Running what the application wrote as its owner: the security context
 *	  the engine's statements run in (cu_enter/cu_leave), the owner to read
 *	  two tables as, priming the planner's caches of index expressions, and
 *	  the hint an event trigger's failure gets.
 *
 * The migration runs as a superuser on tables other roles own, so any
 * function, operator, trigger or expression it resolves or runs can be
 * theirs.  PostgreSQL's own REINDEX, CLUSTER and REFRESH MATERIALIZED VIEW
 * switch to the owner under SECURITY_RESTRICTED_OPERATION; so does every
 * step and query here that runs or plans the application's code.
 *
 * IDENTIFICATION
 *	  src/security.c
 *
 *-------------------------------------------------------------------------
 */
#include "security.h"
#include "spi_util.h"

#include "access/genam.h"
#include "access/htup_details.h"
#include "access/table.h"
#include "catalog/pg_class.h"
#include "catalog/pg_inherits.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "storage/lmgr.h"
#include "utils/acl.h"
#include "utils/guc.h"
#include "utils/lsyscache.h"
#include "utils/rel.h"
#include "utils/relcache.h"
#include "utils/syscache.h"

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
