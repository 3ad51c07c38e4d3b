/*-------------------------------------------------------------------------
 *
 * keyswap.c
 *	  The online swap's one catalog change that has no SQL command: the
 *	  primary key becomes a unique constraint and a unique constraint
 *	  becomes the primary key, indexes, foreign keys and data untouched.
 *
 * While the tables are prepared both key columns have a unique constraint
 * (the integer one as the primary key) and the foreign keys of both kinds
 * reference them.  DROP CONSTRAINT on the primary key would drop the
 * foreign keys that use its index, and ADD PRIMARY KEY USING INDEX needs an
 * index that no constraint owns yet, so both directions of the swap would
 * have to rebuild and revalidate.  But a primary key and a unique
 * constraint on NOT NULL columns differ in the catalogs only by
 * pg_constraint.contype ('p' or 'u') and pg_index.indisprimary, and
 * PostgreSQL itself sets indisprimary on an existing index when it makes
 * it a primary key (index_constraint_create(), for ADD PRIMARY KEY USING
 * INDEX).  This file flips those two fields on both constraints under the
 * ACCESS EXCLUSIVE lock the swap holds, after checking what a primary key
 * requires (a valid, immediate, unique, non-partial btree index without
 * expressions, on NOT NULL columns), and invalidates the table's relcache
 * entry so every backend sees the new primary key.
 *
 * IDENTIFICATION
 *	  src/keyswap.c
 *
 *-------------------------------------------------------------------------
 */
#include "execute.h"

#include "access/genam.h"
#include "access/htup_details.h"
#include "access/table.h"
#include "access/xact.h"
#include "catalog/pg_am.h"
#include "catalog/indexing.h"
#include "catalog/pg_class.h"
#include "catalog/pg_constraint.h"
#include "catalog/pg_index.h"
#include "storage/lmgr.h"
#include "utils/fmgroids.h"
#include "utils/inval.h"
#include "utils/lsyscache.h"
#include "utils/rel.h"
#include "utils/syscache.h"

/* Set constraint conoid's contype, and its index's indisprimary */
static void
set_primary(Oid relid, Oid conoid, bool primary)
{
	Relation	conrel = table_open(ConstraintRelationId, RowExclusiveLock);
	Relation	indrel = table_open(IndexRelationId, RowExclusiveLock);
	HeapTuple	tup;
	Form_pg_constraint con;
	Form_pg_index ind;
	Oid			indexoid;
	int			i;

	tup = SearchSysCacheCopy1(CONSTROID, ObjectIdGetDatum(conoid));
	if (!HeapTupleIsValid(tup))
		elog(ERROR, "cache lookup failed for constraint %u", conoid);
	con = (Form_pg_constraint) GETSTRUCT(tup);
	if (con->conrelid != relid || con->contype != (primary ? CONSTRAINT_UNIQUE : CONSTRAINT_PRIMARY))
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("constraint \"%s\" of table \"%s\" is not a %s",
						NameStr(con->conname), get_rel_name(relid),
						primary ? "unique constraint" : "primary key")));
	if (primary && (con->condeferrable || !con->convalidated))
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("unique constraint \"%s\" of table \"%s\" cannot become the primary key",
						NameStr(con->conname), get_rel_name(relid)),
				 errdetail("It is deferrable or not valid.")));
	indexoid = con->conindid;
	con->contype = primary ? CONSTRAINT_PRIMARY : CONSTRAINT_UNIQUE;
	CatalogTupleUpdate(conrel, &tup->t_self, tup);

	tup = SearchSysCacheCopy1(INDEXRELID, ObjectIdGetDatum(indexoid));
	if (!HeapTupleIsValid(tup))
		elog(ERROR, "cache lookup failed for index %u", indexoid);
	ind = (Form_pg_index) GETSTRUCT(tup);
	if (primary)
	{
		if (!ind->indisunique || !ind->indisvalid || !ind->indimmediate ||
			!heap_attisnull(tup, Anum_pg_index_indpred, NULL) ||
			!heap_attisnull(tup, Anum_pg_index_indexprs, NULL) ||
			cu_rel_am(indexoid) != BTREE_AM_OID)
			ereport(ERROR,
					(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
					 errmsg("index \"%s\" cannot be the primary key of table \"%s\"",
							get_rel_name(indexoid), get_rel_name(relid)),
					 errdetail("A primary key needs a valid, immediate, unique btree index without expressions or predicate.")));
		for (i = 0; i < ind->indnkeyatts; i++)
		{
			HeapTuple	atttup = SearchSysCache2(ATTNUM, ObjectIdGetDatum(relid),
												 Int16GetDatum(ind->indkey.values[i]));
			bool		notnull;

			if (!HeapTupleIsValid(atttup))
				elog(ERROR, "cache lookup failed for attribute %d of relation %u",
					 ind->indkey.values[i], relid);
			notnull = ((Form_pg_attribute) GETSTRUCT(atttup))->attnotnull;
			ReleaseSysCache(atttup);
			if (!notnull)
				ereport(ERROR,
						(errcode(ERRCODE_NOT_NULL_VIOLATION),
						 errmsg("column %s of table \"%s\" is not marked NOT NULL",
								get_attname(relid, ind->indkey.values[i], false), get_rel_name(relid)),
						 errdetail("A primary key's columns must be NOT NULL.")));
		}
	}
	ind->indisprimary = primary;
	CatalogTupleUpdate(indrel, &tup->t_self, tup);

	table_close(indrel, RowExclusiveLock);
	table_close(conrel, RowExclusiveLock);
}

/*
 * Make unique constraint new_pk the primary key of relid and its primary
 * key old_pk a unique constraint.  Caller holds ACCESS EXCLUSIVE on relid.
 */
void
cu_swap_primary_key(Oid relid, Oid old_pk, Oid new_pk)
{
	Relation	rel = table_open(relid, NoLock);

	if (!CheckRelationLockedByMe(rel, AccessExclusiveLock, false))
		elog(ERROR, "table %u must be locked ACCESS EXCLUSIVE to swap its primary key", relid);
	table_close(rel, NoLock);
	/* one primary key at any time: demote first */
	set_primary(relid, old_pk, false);
	CommandCounterIncrement();
	set_primary(relid, new_pk, true);
	CacheInvalidateRelcacheByRelid(relid);
	CommandCounterIncrement();
}
