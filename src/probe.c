/*-------------------------------------------------------------------------
 *
 * probe.c
 *	  A dry run of the column type changes on empty copies of the tables.
 *
 * ALTER COLUMN ... TYPE re-checks every expression that uses the column: a
 * CHECK constraint (id > 0), an index expression or predicate (id % 10,
 * WHERE id > 100), a generated column, a statistics object, the default
 * of a referencing column (DEFAULT 1).  Many of them
 * have no meaning for the new type (there is no uuid > integer), and
 * PostgreSQL finds out only after it has rewritten the table.  So before
 * anything changes we make an empty temporary copy of each table with
 * CREATE TABLE ... (LIKE ... INCLUDING ALL), change the column types there
 * (no rows, so no rewrite), and roll the copy back.  If that fails, the
 * conversion is refused up front with the expressions that use the column.
 *
 * Views, rules, policies and triggers are not probed here: views.c drops
 * and recreates them around the rewrites.  If the copy itself cannot be
 * made (the owner has no TEMP privilege, a read-only transaction), the
 * probe is skipped: the conversion then still fails safely, only later.
 *
 * The copy is made, and its type changed, as the table's owner (see
 * probe_table): its index builds and the type change run the owner's code.
 * Only the errors that are a verdict on the expressions become "used by an
 * expression"; any other error (a cancel, a timeout, an event trigger's)
 * is raised as it is.
 *
 * IDENTIFICATION
 *	  src/probe.c
 *
 *-------------------------------------------------------------------------
 */
#include "plan.h"
#include "security.h"
#include "spi_util.h"

#include "access/xact.h"
#include "access/htup_details.h"
#include "catalog/pg_attribute.h"
#include "catalog/pg_database.h"
#include "catalog/pg_type.h"
#include "commands/extension.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "utils/acl.h"
#include "nodes/value.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/resowner.h"
#include "utils/syscache.h"

/*
 * The objects whose definitions use columns attnames of relid, as text: and
 * the defaults of those columns, except the key's (keyname), which the
 * conversion replaces.
 */
static char *
users_of_columns(Oid relid, List *attnames, const char *keyname)
{
	Oid			argtypes[3] = {OIDOID, TEXTARRAYOID, TEXTOID};
	Datum		values[3];
	Datum	   *names = palloc(sizeof(Datum) * list_length(attnames));
	ListCell   *lc;
	int			n = 0;
	char	   *s;

	foreach(lc, attnames)
		names[n++] = CStringGetTextDatum(lfirst(lc));
	values[0] = ObjectIdGetDatum(relid);
	values[1] = PointerGetDatum(construct_array(names, n, TEXTOID, -1, false, TYPALIGN_INT));
	values[2] = CStringGetTextDatum(keyname ? keyname : "");
	cu_spi_exec_args("SELECT pg_catalog.string_agg(DISTINCT pg_catalog.pg_describe_object(d.classid, d.objid, d.objsubid), '; ') "
					 "FROM pg_catalog.pg_depend d "
					 "JOIN pg_catalog.pg_attribute a ON a.attrelid OPERATOR(pg_catalog.=) d.refobjid "
					 "  AND a.attnum OPERATOR(pg_catalog.=) d.refobjsubid "
					 "WHERE d.refclassid OPERATOR(pg_catalog.=) 'pg_catalog.pg_class'::pg_catalog.regclass "
					 "  AND d.refobjid OPERATOR(pg_catalog.=) $1 "
					 "  AND a.attname::pg_catalog.text OPERATOR(pg_catalog.=) ANY ($2) "
					 "  AND (   (d.classid OPERATOR(pg_catalog.=) 'pg_catalog.pg_constraint'::pg_catalog.regclass "
					 "           AND EXISTS (SELECT 1 FROM pg_catalog.pg_constraint c WHERE c.oid OPERATOR(pg_catalog.=) d.objid "
					 "                       AND c.contype OPERATOR(pg_catalog.=) 'c')) "
					 "       OR (d.classid OPERATOR(pg_catalog.=) 'pg_catalog.pg_class'::pg_catalog.regclass "
					 "           AND EXISTS (SELECT 1 FROM pg_catalog.pg_index i WHERE i.indexrelid OPERATOR(pg_catalog.=) d.objid "
					 "                       AND (i.indexprs IS NOT NULL OR i.indpred IS NOT NULL))) "
					 "       OR (d.classid OPERATOR(pg_catalog.=) 'pg_catalog.pg_attrdef'::pg_catalog.regclass "
					 "           AND EXISTS (SELECT 1 FROM pg_catalog.pg_attrdef ad JOIN pg_catalog.pg_attribute g "
					 "                         ON g.attrelid OPERATOR(pg_catalog.=) ad.adrelid AND g.attnum OPERATOR(pg_catalog.=) ad.adnum "
					 "                       WHERE ad.oid OPERATOR(pg_catalog.=) d.objid "
					 "                         AND (g.attgenerated OPERATOR(pg_catalog.<>) '' "
					 "                              OR g.attname::pg_catalog.text OPERATOR(pg_catalog.<>) $3))) "
					 "       OR d.classid OPERATOR(pg_catalog.=) 'pg_catalog.pg_statistic_ext'::pg_catalog.regclass)",
					 SPI_OK_SELECT, 3, argtypes, values, NULL);
	s = cu_spi_getstring(0, 1);
	return s;
}

/*
 * True if edata, raised by ALTER COLUMN ... TYPE on the empty copy, says an
 * expression, default or dependent object does not work with the new type:
 * no operator or function for it (42883), a default or expression of the
 * wrong type (42804, 42846), an expression not allowed any more (42P17), a
 * missing operator class (42704), or a dependency ALTER TYPE refuses
 * (0A000, e.g. a generated column or a rule).
 */
static bool
probe_verdict(ErrorData *edata)
{
	switch (edata->sqlerrcode)
	{
		case ERRCODE_UNDEFINED_FUNCTION:
		case ERRCODE_DATATYPE_MISMATCH:
		case ERRCODE_CANNOT_COERCE:
		case ERRCODE_INVALID_OBJECT_DEFINITION:
		case ERRCODE_UNDEFINED_OBJECT:
		case ERRCODE_FEATURE_NOT_SUPPORTED:
		case ERRCODE_AMBIGUOUS_FUNCTION:
		case ERRCODE_INDETERMINATE_DATATYPE:
			/* not if an event trigger raised it: that is no verdict on the column */
			return edata->context == NULL || strstr(edata->context, "PL/") == NULL;
		default:
			return false;
	}
}

/*
 * True if the copy itself could not be made for a reason that only means
 * there is no dry run (a read-only transaction, no privilege): the
 * conversion then fails safely later, if at all.  Interrupts and timeouts
 * are never among them.
 */
static bool
copy_failure_skips(ErrorData *edata)
{
	return edata->sqlerrcode == ERRCODE_INSUFFICIENT_PRIVILEGE ||
		edata->sqlerrcode == ERRCODE_READ_ONLY_SQL_TRANSACTION;
}

/*
 * Change the types of the columns of probe (all on one table) on an empty
 * temporary copy of it; refuse the conversion if PostgreSQL refuses that.
 * Caller is connected to SPI.
 */
static void
probe_table(Oid relid, List *columns)
{
	MemoryContext oldcxt = CurrentMemoryContext;
	ResourceOwner oldowner = CurrentResourceOwner;
	bool		saved_creating = creating_extension;
	Oid			saved_extension = CurrentExtensionObject;
	char	   *qual = cu_qualify(get_namespace_name(get_rel_namespace(relid)), get_rel_name(relid));
	StringInfoData drop;
	StringInfoData alter;
	const char *keyname = NULL;
	List	   *attnames = NIL;
	List	   *types = NIL;
	ListCell   *lc;
	volatile bool copied = false;
	ErrorData  *volatile failure = NULL;
	ErrorData  *volatile rethrow = NULL;
	Oid			owner = cu_rel_owner(relid);
	char	   *evtnames;

	initStringInfo(&drop);
	appendStringInfoString(&drop, "ALTER TABLE pg_temp.connector_uuid_probe");
	initStringInfo(&alter);
	appendStringInfoString(&alter, "ALTER TABLE pg_temp.connector_uuid_probe");
	foreach(lc, columns)
	{
		CuProbeColumn *col = lfirst(lc);
		const char *att = quote_identifier(col->attname);

		const char *typname = col->newtype;
		bool		identity = false;
		HeapTuple	tup = SearchSysCacheAttName(relid, col->attname);

		if (HeapTupleIsValid(tup))
		{
			identity = ((Form_pg_attribute) GETSTRUCT(tup))->attidentity != '\0';
			ReleaseSysCache(tup);
		}

		/*
		 * The key's default (or identity, which cannot change type) is
		 * dropped first, as the conversion does; a referencing column keeps
		 * its default, which must work with the new type.
		 */
		if (col->is_key)
		{
			appendStringInfo(&drop, " ALTER COLUMN %s DROP %s", att,
							 identity ? "IDENTITY" : "DEFAULT");
			keyname = col->attname;
		}
		appendStringInfo(&alter, "%s ALTER COLUMN %s TYPE %s USING NULL",
						 lc == list_head(columns) ? "" : ",", att, col->newtype);
		attnames = lappend(attnames, col->attname);
		if (strncmp(typname, "pg_catalog.", 11) == 0)
			typname += 11;
		types = list_append_unique(types, makeString(pstrdup(typname)));
	}

	/*
	 * The copy is ours, not the extension's, and is rolled back anyway.  It
	 * is made as the table's owner: creating it builds its indexes and the
	 * type change constant-folds immutable functions and re-checks its
	 * constraints, all code the owner wrote.  A temporary table cannot be
	 * created under SECURITY_RESTRICTED_OPERATION, so the copy is created
	 * with SECURITY_LOCAL_USERID_CHANGE (its index builds then run under
	 * DefineIndex's own restriction, as the copy's owner), and the type
	 * change under SECURITY_RESTRICTED_OPERATION.  An owner who may not
	 * create temporary tables gets no dry run, as when the copy fails.
	 */
#if PG_VERSION_NUM >= 160000
	if (object_aclcheck(DatabaseRelationId, MyDatabaseId, owner, ACL_CREATE_TEMP) != ACLCHECK_OK)
		return;
#else
	if (pg_database_aclcheck(MyDatabaseId, owner, ACL_CREATE_TEMP) != ACLCHECK_OK)
		return;
#endif
	evtnames = cu_enabled_event_triggers();
	creating_extension = false;
	CurrentExtensionObject = InvalidOid;
	BeginInternalSubTransaction(NULL);
	MemoryContextSwitchTo(oldcxt);
	PG_TRY();
	{
		CuContext	cx;
		CuContext	rcx;

		cu_enter(&cx, owner, SECURITY_LOCAL_USERID_CHANGE);
		cu_spi_exec(psprintf("CREATE TEMPORARY TABLE connector_uuid_probe (LIKE %s INCLUDING ALL)", qual),
					SPI_OK_UTILITY);
		copied = true;
		cu_enter(&rcx, owner, SECURITY_RESTRICTED_OPERATION);
		if (keyname)
			cu_spi_exec(drop.data, SPI_OK_UTILITY);
		cu_spi_exec(alter.data, SPI_OK_UTILITY);
		cu_leave(&rcx);
		cu_leave(&cx);
	}
	PG_CATCH();
	{
		ErrorData  *edata;

		MemoryContextSwitchTo(oldcxt);
		edata = CopyErrorData();
		FlushErrorState();

		/*
		 * Only what the dry run is there to find is a verdict on the
		 * expressions: the errors ALTER COLUMN ... TYPE raises for an
		 * expression, default or object that does not work with the new
		 * type.  Everything else (a cancel, statement_timeout, a lock
		 * timeout, an event trigger's error, running out of memory) is
		 * raised as it is, after the copy is rolled back.
		 */
		if (copied && probe_verdict(edata))
			failure = edata;
		else if (copied || !copy_failure_skips(edata))
			rethrow = edata;
	}
	PG_END_TRY();
	RollbackAndReleaseCurrentSubTransaction();
	MemoryContextSwitchTo(oldcxt);
	CurrentResourceOwner = oldowner;
	creating_extension = saved_creating;
	CurrentExtensionObject = saved_extension;

	if (rethrow != NULL)
	{
		cu_event_trigger_hint(rethrow, evtnames, true);
		ReThrowError(rethrow);
	}
	if (failure == NULL)
		return;

	{
		StringInfoData names;
		StringInfoData typenames;
		char	   *users;

		initStringInfo(&names);
		initStringInfo(&typenames);
		foreach(lc, attnames)
			appendStringInfo(&names, "%s\"%s\"", lc == list_head(attnames) ? "" : ", ",
							 (char *) lfirst(lc));
		foreach(lc, types)
			appendStringInfo(&typenames, "%s%s", lc == list_head(types) ? "" : ", ",
							 strVal(lfirst(lc)));
		users = users_of_columns(relid, attnames, keyname);
		if (users == NULL)
		{
			/* no expression found that uses the columns: PostgreSQL's own error is the news */
			if (failure->detail == NULL)
				failure->detail = psprintf("Raised by a dry run of the type change of column %s on an empty copy of table \"%s\" (connector_uuid_probe).  Nothing was changed.",
										   names.data, qual);
			ReThrowError(failure);
		}
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("column %s of table \"%s\" is used by an expression that does not work with type %s",
						names.data, qual, typenames.data),
				 errdetail("Changing the type on an empty copy of the table failed: %s.  Check constraints, index expressions or predicates, defaults, generated columns and statistics using the column: %s.",
						   failure->message, users),
				 errhint("Drop those objects (or rewrite them without the column), convert, then create them again for the new type.")));
	}
}

/*
 * Dry-run the type change of every column in columns (a list of
 * CuProbeColumn), one table at a time, before anything changes.
 */
void
cu_probe_type_change(List *columns)
{
	List	   *relids = NIL;
	ListCell   *lc;

	foreach(lc, columns)
		relids = list_append_unique_oid(relids, ((CuProbeColumn *) lfirst(lc))->relid);
	foreach(lc, relids)
	{
		Oid			relid = lfirst_oid(lc);
		List	   *mine = NIL;
		ListCell   *lc2;

		foreach(lc2, columns)
		{
			CuProbeColumn *col = lfirst(lc2);

			if (col->relid == relid && !list_member_ptr(mine, col))
			{
				ListCell   *lc3;
				bool		dup = false;

				/* a column referencing the key twice is changed once */
				foreach(lc3, mine)
					if (strcmp(((CuProbeColumn *) lfirst(lc3))->attname, col->attname) == 0)
						dup = true;
				if (!dup)
					mine = lappend(mine, col);
			}
		}
		probe_table(relid, mine);
	}
}
