/*-------------------------------------------------------------------------
 *
 * plan.c
 *	  The migration plan: from the catalog picture (catalog.c, views.c) to
 *	  the ordered list of steps, each with its statement and the lock it
 *	  takes.  connector_uuid_plan() prints this list; executor.c runs it.
 *
 * Building a plan also runs every pre-flight check (state of the tables,
 * privileges, orphaned references, duplicate secrets, a dry run of the type
 * changes on empty copies of the tables), so bad input is
 * refused before the first statement runs, and a DBA sees the same error
 * from connector_uuid_plan() that the upgrade would give.
 *
 * Every step records the relations it touches and the lock mode its
 * statement takes on each (CuStep.locks, from the PostgreSQL source of the
 * command: ALTER TABLE, DROP/CREATE POLICY, RULE, TRIGGER and VIEW,
 * RemoveConstraintById, the sequence commands); plan_locks then puts in
 * front the lock steps that take their union, so that nothing a step does
 * waits for a lock once the converted tables are locked.
 *
 * The upgrade (integer -> uuid), one rewrite per table:
 *	 lock everything the steps touch (locking.c gives the order);
 *	 record the table in the registry and its ids in the id map;
 *	 drop the views that read the columns, and the foreign keys;
 *	 ALTER COLUMN ... TYPE uuid USING the mapping function, key table first;
 *	 add the foreign keys back (no second validation scan: see executor.c);
 *	 recreate the views; the connector's MD5 index and alembic stamp.
 * The downgrade is the same walk backwards, after giving an integer to every
 * row that was created at 2.0.
 *
 * IDENTIFICATION
 *	  src/plan.c
 *
 *-------------------------------------------------------------------------
 */
#include "connector_uuid.h"

#include "access/transam.h"
#include "catalog/pg_class.h"
#include "catalog/pg_policy.h"
#include "catalog/pg_rewrite.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "utils/acl.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"

#define ALEMBIC_BEFORE			"facb50928abc"
#define ALEMBIC_AFTER			"543a0ca15c86"

/*
 * Append a step to plan: it works on relid (InvalidOid: a relation the plan
 * creates, or none) and takes mode on it.
 */
void
cu_plan_add(CuPlan *plan, CuStepKind kind, Oid relid, const char *relname,
			LOCKMODE mode, char *sql)
{
	CuStep	   *step = palloc0(sizeof(CuStep));

	step->kind = kind;
	step->relid = relid;
	step->relname = relname ? pstrdup(relname) : NULL;
	step->lockmode = mode;
	step->sql = sql;
	cu_step_lock(step, relid, mode);
	plan->steps = lappend(plan->steps, step);
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
	Oid			argtypes[1] = {OIDOID};
	Datum		values[1];
	uint64		i;
	bool		isnull;

	if (!OidIsValid(relid))
		return;
	values[0] = ObjectIdGetDatum(relid);
	/* partitions at any depth, and inheritance children: ALTER TABLE recurses to both */
	cu_spi_exec_args("WITH RECURSIVE tree(relid) AS (SELECT $1 UNION "
					 "  SELECT i.inhrelid FROM pg_catalog.pg_inherits i "
					 "  JOIN tree ON i.inhparent OPERATOR(pg_catalog.=) tree.relid) "
					 "SELECT t.relid FROM tree t WHERE t.relid OPERATOR(pg_catalog.<>) $1 ORDER BY 1",
					 SPI_OK_SELECT, 1, argtypes, values, NULL);
	for (i = 0; i < SPI_processed; i++)
		cu_step_lock(step, DatumGetObjectId(cu_spi_getdatum(i, 1, &isnull)), mode);
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
	uint64		i;
	bool		isnull;

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
	for (i = 0; i < SPI_processed; i++)
		cu_step_lock(step, DatumGetObjectId(cu_spi_getdatum(i, 1, &isnull)), mode);
}

static CuStep *
last_step(CuPlan *plan)
{
	return (CuStep *) llast(plan->steps);
}

static char *
ext_qual(const char *name)
{
	return cu_qualify(cu_extension_schema_name(), name);
}

/* One of the extension's own tables */
static Oid
ext_rel(const char *name)
{
	return get_relname_relid(name, cu_extension_schema());
}

/* Refuse unless the current user owns relid (or is superuser) */
static void
check_owner(Oid relid)
{
#if PG_VERSION_NUM >= 160000
	if (!object_ownercheck(RelationRelationId, relid, GetUserId()))
#else
	if (!pg_class_ownercheck(relid, GetUserId()))
#endif
		aclcheck_error(ACLCHECK_NOT_OWNER,
					   get_relkind_objtype(get_rel_relkind(relid)),
					   get_rel_name(relid));
}

/*
 * The connector's two referencing columns must exist; a missing foreign key
 * on one of them is put back (after the orphan check), so the result has
 * both, ON DELETE CASCADE, whatever the 1.0 tables had lost.
 */
static void
add_connector_children(CuTarget *t, CuOptions *opt)
{
	static const char *const children[] = {"connector_access", "mcp_servers"};
	int			i;

	for (i = 0; i < lengthof(children); i++)
	{
		Oid			relid = cu_lookup_table(t->nspname, children[i]);
		ListCell   *lc;
		CuForeignKey *fk = NULL;
		AttrNumber	attnum;

		if (!OidIsValid(relid))
			ereport(ERROR,
					(errcode(ERRCODE_UNDEFINED_TABLE),
					 errmsg("table \"%s\" does not exist", cu_qualify(t->nspname, children[i])),
					 errdetail("connector_uuid converts mcp_connectors together with connector_access and mcp_servers, in the schema the extension is installed in."),
					 errhint("Install the extension in the schema that holds the application's tables.")));
		/* a view would run its query as us when read */
		if (get_rel_relkind(relid) != RELKIND_RELATION &&
			get_rel_relkind(relid) != RELKIND_PARTITIONED_TABLE)
			ereport(ERROR,
					(errcode(ERRCODE_WRONG_OBJECT_TYPE),
					 errmsg("\"%s\" is not a table", cu_qualify(t->nspname, children[i])),
					 errdetail("connector_uuid converts mcp_connectors together with the tables connector_access and mcp_servers.")));
		attnum = get_attnum(relid, "connector_id");
		if (attnum == InvalidAttrNumber)
			ereport(ERROR,
					(errcode(ERRCODE_UNDEFINED_COLUMN),
					 errmsg("column \"connector_id\" of table \"%s\" does not exist",
							cu_qualify(t->nspname, children[i]))));
		foreach(lc, t->fkeys)
		{
			CuForeignKey *f = lfirst(lc);

			if (f->relid == relid && f->attnum == attnum)
				fk = f;
		}
		if (fk == NULL)
		{
			fk = palloc0(sizeof(CuForeignKey));
			fk->relid = relid;
			fk->nspname = t->nspname;
			fk->relname = pstrdup(children[i]);
			fk->conname = psprintf("%s_connector_id_fkey", children[i]);
			fk->attnum = attnum;
			fk->attname = "connector_id";
			fk->atttypid = get_atttype(relid, attnum);
			fk->upd_action = 'a';
			fk->orig_del_action = 'c';
			fk->match_type = 's';
			fk->validated = false;
			fk->synthetic = true;
			t->fkeys = lappend(t->fkeys, fk);
		}
		fk->del_action = 'c';
	}
	(void) opt;
}

/*
 * Refuse if referencing rows point at keys that do not exist.  Only needed
 * where PostgreSQL has not already proven it: foreign keys that are NOT
 * VALID, and missing ones we are about to create.
 */
static void
check_orphans(CuTarget *t, CuForeignKey *fk)
{
	char	   *childq = cu_qualify(fk->nspname, fk->relname);
	bool		isnull;
	int64		n;
	Oid			reader;
	CuContext	cx;

	if (fk->validated && !fk->synthetic)
		return;

	/*
	 * Planning the query folds what the two tables' owners wrote: run it as
	 * the owner that may read both, under SECURITY_RESTRICTED_OPERATION.
	 */
	reader = cu_reader_of(fk->relid, t->relid);
	if (!OidIsValid(reader))
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("cannot check the rows of table \"%s\" against table \"%s\"",
						childq, t->qualname),
				 errdetail("%s, so its rows are checked with a query that runs as the owner of one of the tables, and neither role %s nor role %s may read both tables.",
						   fk->synthetic ? psprintf("Foreign key \"%s\" is to be created", fk->conname) :
						   psprintf("Foreign key \"%s\" is not validated", fk->conname),
						   GetUserNameFromId(cu_rel_owner(fk->relid), false),
						   GetUserNameFromId(cu_rel_owner(t->relid), false)),
				 errhint("GRANT SELECT ON %s TO %s, then try again.  Nothing was changed.",
						 t->qualname, quote_identifier(GetUserNameFromId(cu_rel_owner(fk->relid), false)))));
	cu_enter(&cx, reader, SECURITY_RESTRICTED_OPERATION);
	cu_spi_exec(psprintf("SELECT pg_catalog.count(*), "
						 "       pg_catalog.string_agg(v, ', ' ORDER BY v) FILTER (WHERE rn OPERATOR(pg_catalog.<=) 5) "
						 "FROM (SELECT c.%s::pg_catalog.text AS v, pg_catalog.row_number() OVER () AS rn "
						 "      FROM %s c WHERE c.%s IS NOT NULL AND NOT EXISTS "
						 "      (SELECT 1 FROM %s p WHERE p.%s OPERATOR(pg_catalog.=) c.%s)) o",
						 quote_identifier(fk->attname), childq, quote_identifier(fk->attname),
						 t->qualname, quote_identifier(t->pkattname), quote_identifier(fk->attname)),
				SPI_OK_SELECT);
	cu_leave(&cx);
	n = cu_spi_getint64(0, 1, &isnull);
	if (n > 0)
		ereport(ERROR,
				(errcode(ERRCODE_FOREIGN_KEY_VIOLATION),
				 errmsg("table \"%s\" has %lld rows whose \"%s\" has no row in table \"%s\"",
						childq, (long long) n, fk->attname, t->qualname),
				 errdetail("Values without a parent: %s.", cu_spi_getstring(0, 2)),
				 errhint("Delete those rows or set them to NULL, then try again.  Nothing was changed.")));
}

/*
 * Refuse a converted column that takes part in an exclusion constraint (its
 * operator class would have to change with the type) or in a partition key
 * (PostgreSQL cannot change that column's type).
 */
static void
check_exclusion(CuTarget *t)
{
	ListCell   *lc;
	List	   *cols = list_make1(t);

	foreach(lc, t->fkeys)
		cols = lappend(cols, lfirst(lc));
	foreach(lc, cols)
	{
		Oid			relid;
		AttrNumber	attnum;
		Oid			argtypes[2] = {OIDOID, INT2OID};
		Datum		values[2];

		if (lc == list_head(cols))
		{
			relid = t->relid;
			attnum = t->pkattnum;
		}
		else
		{
			relid = ((CuForeignKey *) lfirst(lc))->relid;
			attnum = ((CuForeignKey *) lfirst(lc))->attnum;
		}
		values[0] = ObjectIdGetDatum(relid);
		values[1] = Int16GetDatum(attnum);
		/* (a key table partitioned by HASH of its key is rebuilt: partition.c) */
		if (relid == t->relid && t->partitioned)
			continue;
		cu_spi_exec_args("SELECT 1 FROM pg_catalog.pg_partitioned_table p "
						 "WHERE p.partrelid OPERATOR(pg_catalog.=) $1 "
						 "  AND $2 OPERATOR(pg_catalog.=) ANY (p.partattrs::pg_catalog.int2[])",
						 SPI_OK_SELECT, 2, argtypes, values, NULL);
		if (SPI_processed > 0)
			ereport(ERROR,
					(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
					 errmsg("column \"%s\" of table \"%s\" is part of the partition key",
							get_attname(relid, attnum, false),
							cu_qualify(get_namespace_name(get_rel_namespace(relid)), get_rel_name(relid))),
					 errdetail("PostgreSQL cannot change the type of a partition key column, and integer partition bounds have no uuid equivalent."),
					 relid == t->relid ?
					 errhint("A partitioned key table cannot be converted in place: build a new table partitioned by a uuid key and copy the rows into it, or convert the table before partitioning it.") :
					 errhint("Repartition \"%s\" by another column, then convert.", get_rel_name(relid))));
		cu_spi_exec_args("SELECT c.conname FROM pg_catalog.pg_constraint c "
						 "WHERE c.conrelid OPERATOR(pg_catalog.=) $1 AND c.contype OPERATOR(pg_catalog.=) 'x' "
						 "  AND $2 OPERATOR(pg_catalog.=) ANY (c.conkey) ORDER BY 1 LIMIT 1",
						 SPI_OK_SELECT, 2, argtypes, values, NULL);
		if (SPI_processed > 0)
			ereport(ERROR,
					(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
					 errmsg("exclusion constraint \"%s\" on table \"%s\" uses a column that would be converted",
							cu_spi_getstring(0, 1),
							cu_qualify(get_namespace_name(get_rel_namespace(relid)), get_rel_name(relid))),
					 errdetail("Its operators are those of the integer type."),
					 errhint("Drop the constraint before the conversion and recreate it for uuid afterwards.")));
	}
}

/*
 * A referencing table's rewrite runs as its owner (the application's code
 * in it must not run as us) and recurses to its partitions and inheritance
 * children, which that owner must therefore own too: refuse, before
 * anything changes, one that another role owns.
 */
static void
check_partition_owners(CuTarget *t)
{
	ListCell   *lc;
	List	   *done = NIL;

	foreach(lc, t->fkeys)
	{
		CuForeignKey *fk = lfirst(lc);
		Oid			argtypes[1] = {OIDOID};
		Datum		values[1];

		if (fk->relid == t->relid || list_member_oid(done, fk->relid))
			continue;
		done = lappend_oid(done, fk->relid);
		values[0] = ObjectIdGetDatum(fk->relid);
		cu_spi_exec_args("WITH RECURSIVE tree(relid) AS (SELECT $1 UNION ALL "
						 "  SELECT i.inhrelid FROM pg_catalog.pg_inherits i "
						 "  JOIN tree ON i.inhparent OPERATOR(pg_catalog.=) tree.relid) "
						 "SELECT p.relid::pg_catalog.regclass::pg_catalog.text, "
						 "       pg_catalog.quote_ident(pg_catalog.pg_get_userbyid(c.relowner)), "
						 "       pg_catalog.quote_ident(pg_catalog.pg_get_userbyid(r.relowner)) "
						 "FROM tree p "
						 "JOIN pg_catalog.pg_class c ON c.oid OPERATOR(pg_catalog.=) p.relid "
						 "JOIN pg_catalog.pg_class r ON r.oid OPERATOR(pg_catalog.=) $1 "
						 "WHERE c.relowner OPERATOR(pg_catalog.<>) r.relowner ORDER BY 1 LIMIT 1",
						 SPI_OK_SELECT, 1, argtypes, values, NULL);
		if (SPI_processed > 0)
			ereport(ERROR,
					(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
					 errmsg("partition or child \"%s\" of table \"%s\" belongs to another role than the table",
							cu_spi_getstring(0, 1), cu_qualify(fk->nspname, fk->relname)),
					 errdetail("The rewrite of \"%s\" runs as its owner %s, so that the application's code in it never runs as the converting role, and it rewrites every partition and inheritance child; \"%s\" belongs to %s.",
							   cu_qualify(fk->nspname, fk->relname), cu_spi_getstring(0, 3),
							   cu_spi_getstring(0, 1), cu_spi_getstring(0, 2)),
					 errhint("ALTER TABLE %s OWNER TO %s, then convert.  Nothing was changed.",
							 cu_spi_getstring(0, 1), cu_spi_getstring(0, 3))));
	}
}

/*
 * Refuse, before anything changes, the shapes of schema a type change would
 * only trip over later: a referencing column whose type is a domain, that
 * another foreign key uses (to another table, or from a third table to it),
 * a foreign key declared on a single partition, a key table in an
 * inheritance tree or that is itself a partition.
 */
static void
check_references(CuTarget *t)
{
	ListCell   *lc;
	Oid			argtypes[3] = {OIDOID, INT2OID, OIDOID};
	Datum		values[3];

	values[0] = ObjectIdGetDatum(t->relid);
	cu_spi_exec_args("SELECT pg_catalog.format('%s %s %s', c.oid::pg_catalog.regclass, "
					 "         CASE WHEN c.relispartition THEN 'is a partition of' ELSE 'inherits from' END, "
					 "         i.inhparent::pg_catalog.regclass), "
					 "       c.relispartition "
					 "FROM pg_catalog.pg_class c JOIN pg_catalog.pg_inherits i ON i.inhrelid OPERATOR(pg_catalog.=) c.oid "
					 "WHERE c.oid OPERATOR(pg_catalog.=) $1 "
					 "UNION ALL SELECT pg_catalog.format('%s inherits from it', i.inhrelid::pg_catalog.regclass), false "
					 "FROM pg_catalog.pg_inherits i JOIN pg_catalog.pg_class c ON c.oid OPERATOR(pg_catalog.=) i.inhparent "
					 "WHERE i.inhparent OPERATOR(pg_catalog.=) $1 "
					 "  AND c.relkind OPERATOR(pg_catalog.<>) 'p' LIMIT 1",
					 SPI_OK_SELECT, 1, argtypes, values, NULL);
	if (SPI_processed > 0)
	{
		bool		isnull;
		bool		partition = cu_spi_getbool(0, 2, &isnull);

		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("table \"%s\" is part of an inheritance tree", t->qualname),
				 errdetail("%s: the type of an inherited key column changes with the whole tree, and ids are unique only per table.",
						   cu_spi_getstring(0, 1)),
				 partition ?
				 errhint("Convert the partitioned table instead.  Nothing was changed.") :
				 errhint("Detach the inheritance (ALTER TABLE ... NO INHERIT), convert, then attach it again.  Nothing was changed.")));
	}

	foreach(lc, t->fkeys)
	{
		CuForeignKey *fk = lfirst(lc);
		char	   *rel = cu_qualify(fk->nspname, fk->relname);

		if (fk->synthetic)
			continue;
		values[0] = ObjectIdGetDatum(fk->relid);
		values[1] = Int16GetDatum(fk->attnum);
		values[2] = ObjectIdGetDatum(t->relid);
		cu_spi_exec_args("SELECT pg_catalog.format('foreign key %I on %s references %s', c.conname, "
						 "       c.conrelid::pg_catalog.regclass, c.confrelid::pg_catalog.regclass) "
						 "FROM pg_catalog.pg_constraint c "
						 "WHERE c.contype OPERATOR(pg_catalog.=) 'f' AND c.conparentid OPERATOR(pg_catalog.=) 0 "
						 "  AND ((c.conrelid OPERATOR(pg_catalog.=) $1 AND $2 OPERATOR(pg_catalog.=) ANY (c.conkey) "
						 "        AND c.confrelid OPERATOR(pg_catalog.<>) $3) "
						 "    OR (c.confrelid OPERATOR(pg_catalog.=) $1 AND $2 OPERATOR(pg_catalog.=) ANY (c.confkey) "
						 "        AND c.confrelid OPERATOR(pg_catalog.<>) $3)) "
						 "ORDER BY 1 LIMIT 1",
						 SPI_OK_SELECT, 3, argtypes, values, NULL);
		if (SPI_processed > 0)
			ereport(ERROR,
					(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
					 errmsg("column \"%s\" of table \"%s\" takes part in another foreign key", fk->attname, rel),
					 errdetail("It references \"%s\", and %s: that key's other side would keep the integer type.",
							   t->qualname, cu_spi_getstring(0, 1)),
					 errhint("Drop that foreign key, convert, then create it again between columns of the same type.  Nothing was changed.")));

		if (get_rel_relispartition(fk->relid))
			ereport(ERROR,
					(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
					 errmsg("foreign key \"%s\" is declared on partition \"%s\" only", fk->conname, rel),
					 errdetail("The column's type belongs to the partitioned table and cannot change in one partition."),
					 errhint("Declare the foreign key on the partitioned table (or drop it), then convert.  Nothing was changed.")));
	}
}

/*
 * A referencing column whose type is a domain over integer (or uuid): the
 * conversion would replace the domain and drop its checks.  Checked before
 * the state of the columns, which would call it half converted.
 */
static void
check_domains(CuTarget *t)
{
	ListCell   *lc;

	foreach(lc, t->fkeys)
	{
		CuForeignKey *fk = lfirst(lc);
		char	   *rel = cu_qualify(fk->nspname, fk->relname);
		Oid			base = fk->synthetic ? fk->atttypid : getBaseType(fk->atttypid);

		if (base != fk->atttypid)
			ereport(ERROR,
					(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
					 errmsg("column \"%s\" of table \"%s\" is of domain type %s",
							fk->attname, rel, format_type_be(fk->atttypid)),
					 errdetail("A conversion changes the column's type, which would drop the domain and its constraints."),
					 errhint("Change the column to %s first (ALTER TABLE %s ALTER COLUMN %s TYPE %s), convert, then add the checks back as table constraints.  Nothing was changed.",
							 format_type_be(base), rel, quote_identifier(fk->attname), format_type_be(base))));
	}
}

/* The v7 strategy's timestamp column must exist and hold a time */
static void
check_timestamp_column(CuTarget *t, CuOptions *opt)
{
	AttrNumber	attnum;
	Oid			typid;
	CuContext	cx;

	if (strcmp(opt->strategy, "v7") != 0 || opt->ts_column == NULL)
		return;
	attnum = get_attnum(t->relid, opt->ts_column);
	if (attnum == InvalidAttrNumber)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_COLUMN),
				 errmsg("column \"%s\" of table \"%s\" does not exist", opt->ts_column, t->qualname),
				 errhint("Name the column connector_uuid.timestamp_column should take each row's time from.")));
	typid = get_atttype(t->relid, attnum);
	if (typid != TIMESTAMPTZOID && typid != TIMESTAMPOID && typid != DATEOID)
		ereport(ERROR,
				(errcode(ERRCODE_DATATYPE_MISMATCH),
				 errmsg("column \"%s\" of table \"%s\" is of type %s, not a time",
						opt->ts_column, t->qualname, format_type_be(typid)),
				 errhint("The v7 strategy needs a timestamptz, timestamp or date column.")));

	/* a version 7 id holds milliseconds since 1970 in 48 bits (read as the owner) */
	cu_enter(&cx, cu_rel_owner(t->relid), SECURITY_RESTRICTED_OPERATION);
	cu_spi_exec(psprintf("SELECT pg_catalog.count(*), pg_catalog.min(%s)::pg_catalog.text, pg_catalog.max(%s)::pg_catalog.text FROM %s "
						 "WHERE NOT pg_catalog.isfinite(%s) "
						 "   OR %s::pg_catalog.timestamptz OPERATOR(pg_catalog.<) '1970-01-01 00:00:00+00' "
						 "   OR %s::pg_catalog.timestamptz OPERATOR(pg_catalog.>=) '10889-08-02 05:31:50.655+00'",
						 quote_identifier(opt->ts_column), quote_identifier(opt->ts_column), t->qualname,
						 quote_identifier(opt->ts_column), quote_identifier(opt->ts_column),
						 quote_identifier(opt->ts_column)),
				SPI_OK_SELECT);
	cu_leave(&cx);
	{
		bool		isnull;
		int64		bad = cu_spi_getint64(0, 1, &isnull);

		if (bad > 0)
			ereport(ERROR,
					(errcode(ERRCODE_DATETIME_VALUE_OUT_OF_RANGE),
					 errmsg("%lld rows of table \"%s\" have a value in \"%s\" that a version 7 uuid cannot hold",
							(long long) bad, t->qualname, opt->ts_column),
					 errdetail("Version 7 ids hold the milliseconds since 1970-01-01 in 48 bits; the values out of range run from %s to %s.",
							   cu_spi_getstring(0, 2), cu_spi_getstring(0, 3)),
					 errhint("Correct those values (or set them to NULL: the conversion time is used), or choose another strategy.  Nothing was changed.")));
	}
}

/*
 * Refuse tables that are published for logical replication: a subscriber
 * would receive uuids for integer columns.  The detail carries the DDL the
 * subscriber needs, from the plan itself.
 */
static void
check_publications(CuPlan *plan)
{
	List	   *relids = list_make1_oid(plan->target->relid);
	ListCell   *lc;

	foreach(lc, plan->target->fkeys)
		relids = lappend_oid(relids, ((CuForeignKey *) lfirst(lc))->relid);
	foreach(lc, relids)
	{
		Oid			argtypes[1] = {OIDOID};
		Datum		values[1];

		values[0] = ObjectIdGetDatum(lfirst_oid(lc));
		/* the table or one of its partitions, listed or in a listed schema */
		cu_spi_exec_args("WITH tree AS (SELECT c.oid, c.relnamespace FROM pg_catalog.pg_class c "
						 "  WHERE c.oid IN (SELECT t.relid FROM pg_catalog.pg_partition_tree($1) t) "
						 "     OR c.oid OPERATOR(pg_catalog.=) $1) "
						 "SELECT x.pubname, x.what FROM ("
						 "SELECT p.pubname, 'FOR ALL TABLES' AS what FROM pg_catalog.pg_publication p WHERE p.puballtables "
						 "UNION ALL SELECT p.pubname, pg_catalog.format('table %s', r.prrelid::pg_catalog.regclass) "
						 "FROM pg_catalog.pg_publication p JOIN pg_catalog.pg_publication_rel r "
						 "  ON r.prpubid OPERATOR(pg_catalog.=) p.oid AND r.prrelid IN (SELECT tree.oid FROM tree) "
#if PG_VERSION_NUM >= 150000
						 "UNION ALL SELECT p.pubname, pg_catalog.format('FOR TABLES IN SCHEMA %I', n.nspname) "
						 "FROM pg_catalog.pg_publication p JOIN pg_catalog.pg_publication_namespace pn "
						 "  ON pn.pnpubid OPERATOR(pg_catalog.=) p.oid AND pn.pnnspid IN (SELECT tree.relnamespace FROM tree) "
						 "JOIN pg_catalog.pg_namespace n ON n.oid OPERATOR(pg_catalog.=) pn.pnnspid "
#endif
						 ") x ORDER BY 1, 2 LIMIT 1",
						 SPI_OK_SELECT, 1, argtypes, values, NULL);
		if (SPI_processed > 0)
		{
			StringInfoData ddl;
			ListCell   *lc2;
			char	   *pubname = pstrdup(cu_spi_getstring(0, 1));
			char	   *what = pstrdup(cu_spi_getstring(0, 2));

			initStringInfo(&ddl);
			foreach(lc2, plan->steps)
			{
				CuStep	   *step = lfirst(lc2);

				if (step->rewrites || step->kind == CU_STEP_FKEY ||
					(step->kind == CU_STEP_SQL && strncmp(step->sql, "ALTER TABLE", 11) == 0))
					appendStringInfo(&ddl, "%s;\n", step->sql);
			}
			ereport(ERROR,
					(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
					 errmsg("table \"%s\" is part of publication \"%s\"",
							get_rel_name(lfirst_oid(lc)), pubname),
					 errdetail("The publication publishes it (%s).  Logical replication would send uuid values to a subscriber whose columns are still integer.  "
							   "A subscriber needs these statements, with the same id map:\n%s", what, ddl.data),
					 errhint("Remove the tables from the publication, convert publisher and subscriber, then add them back.")));
		}
	}
}

/* The ADD CONSTRAINT statement that recreates fk against the key column */
static char *
fk_add_sql(CuTarget *t, CuForeignKey *fk)
{
	StringInfoData buf;

	initStringInfo(&buf);
	appendStringInfo(&buf, "ALTER TABLE %s ADD CONSTRAINT %s FOREIGN KEY (%s) REFERENCES %s (%s)",
					 cu_qualify(fk->nspname, fk->relname), quote_identifier(fk->conname),
					 quote_identifier(fk->attname), t->qualname,
					 quote_identifier(t->pkattname));
	if (fk->match_type == 'f')
		appendStringInfoString(&buf, " MATCH FULL");
	appendStringInfo(&buf, " ON UPDATE %s ON DELETE %s",
					 cu_fk_action_sql(fk->upd_action), cu_fk_action_sql(fk->del_action));
	/* ON DELETE SET NULL (col, ...): PostgreSQL 15 and later */
	if (fk->set_columns && (fk->del_action == 'n' || fk->del_action == 'd'))
		appendStringInfo(&buf, " (%s)", fk->set_columns);
	if (fk->deferrable)
		appendStringInfo(&buf, " DEFERRABLE INITIALLY %s", fk->deferred ? "DEFERRED" : "IMMEDIATE");
	if (!fk->validated && !fk->synthetic)
		appendStringInfoString(&buf, " NOT VALID");
	return buf.data;
}

/* Group the referencing columns by table: one rewrite per table */
typedef struct TableCols
{
	Oid			relid;
	char	   *nspname;
	char	   *relname;
	List	   *fkeys;
} TableCols;

static List *
group_by_table(CuTarget *t)
{
	List	   *groups = NIL;
	ListCell   *lc;

	foreach(lc, t->fkeys)
	{
		CuForeignKey *fk = lfirst(lc);
		ListCell   *lc2;
		TableCols  *g = NULL;

		foreach(lc2, groups)
		{
			TableCols  *x = lfirst(lc2);

			if (x->relid == fk->relid)
				g = x;
		}
		if (g == NULL)
		{
			g = palloc0(sizeof(TableCols));
			g->relid = fk->relid;
			g->nspname = fk->nspname;
			g->relname = fk->relname;
			groups = lappend(groups, g);
		}
		/* two foreign keys on one column convert the column once */
		foreach(lc2, g->fkeys)
		{
			if (((CuForeignKey *) lfirst(lc2))->attnum == fk->attnum)
				break;
		}
		if (lc2 == NULL)
			g->fkeys = lappend(g->fkeys, fk);
	}
	return groups;
}

/*
 * The type a revert gives a referencing column: as recorded at the
 * upgrade (validated), bigint with connector_uuid.revert_to_bigint.
 */
static char *
child_original_type(int table_id, CuForeignKey *fk, const char *fallback)
{
	Oid			typid;
	char		on_delete;

	if (cu_revert_to_bigint)
		return cu_type_name(INT8OID);
	if (cu_registry_column(table_id, fk, &typid, &on_delete))
		return cu_type_name(typid);
	return pstrdup(fallback);
}

/*
 * A table with no registry row under its name, at uuid: if it was
 * converted under another name (renamed since), say so, rather than let
 * the revert find no id map (and renumber, with allow_renumber).
 */
static void
check_renamed(CuTarget *t)
{
	Oid			argtypes[2] = {OIDOID, NAMEOID};
	Datum		values[2];

	values[0] = ObjectIdGetDatum(t->relid);
	values[1] = DirectFunctionCall1(namein, CStringGetDatum(t->pkattname));
	cu_spi_exec_args(psprintf("SELECT pg_catalog.format('%%I.%%I', schema_name, table_name) FROM %s "
							  "WHERE table_oid OPERATOR(pg_catalog.=) $1 AND column_name OPERATOR(pg_catalog.=) $2",
							  ext_qual("connector_uuid_tables")),
					 SPI_OK_SELECT, 2, argtypes, values, NULL);
	if (SPI_processed > 0)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("table \"%s\" was converted under the name \"%s\"", t->qualname, cu_spi_getstring(0, 1)),
				 errdetail("Its id map is recorded under that name."),
				 errhint("Rename it back (ALTER TABLE %s RENAME TO ...; ALTER TABLE ... SET SCHEMA ...), revert, then rename it again.  Nothing was changed.",
						 t->qualname)));
}

/*
 * A table converted before (it has a registry row) gets back the uuids it
 * had then (the id map keeps them, or the key derives them): so its ids
 * keep that conversion's strategy.  Without a strategy argument, use it;
 * with a different one, refuse rather than record a strategy the ids do
 * not have.
 */
static void
check_earlier_strategy(CuPlan *plan)
{
	CuOptions  *opt = plan->options;
	Oid			argtypes[1] = {INT4OID};
	Datum		values[1];
	char	   *earlier;

	if (plan->table_id == 0)
		return;
	values[0] = Int32GetDatum(plan->table_id);
	/* (the registry alone: the map is read only once the locks are held) */
	cu_spi_exec_args(psprintf("SELECT r.strategy FROM %s r WHERE r.table_id OPERATOR(pg_catalog.=) $1",
							  ext_qual("connector_uuid_tables")),
					 SPI_OK_SELECT, 1, argtypes, values, NULL);
	if (SPI_processed != 1)
		return;
	earlier = cu_spi_getstring(0, 1);
	if (strcmp(earlier, opt->strategy) == 0)
		return;
	if (opt->strategy_given)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("table \"%s\" was converted before with strategy %s", plan->target->qualname, earlier),
				 errdetail("Converting it again gives every row the uuid it had then, so its ids would not be %s ids.",
						   opt->strategy),
				 errhint("Convert with strategy => '%s'.  To make new %s ids instead (the uuids of the earlier conversion are then lost), "
						 "delete the table's rows from connector_uuid_map and connector_uuid_tables first.  Nothing was changed.",
						 earlier, opt->strategy)));
	plan->notes = lappend(plan->notes,
						  psprintf("%s was converted before with strategy %s: its rows get the uuids they had then, and new rows %s ids",
								   plan->target->qualname, earlier, earlier));
	opt->strategy = pstrdup(earlier);
}

/*
 * Dry-run the type changes on empty copies of the tables (probe.c), so that
 * an expression the new type breaks is refused before anything changes.
 */
static void
check_expressions(CuPlan *plan)
{
	CuTarget   *t = plan->target;
	List	   *cols = NIL;
	ListCell   *lc;
	char	   *keytype = "pg_catalog.uuid";
	CuProbeColumn *col;

	if (plan->direction == CU_TO_INT)
	{
		CuRegistry *r = plan->registered ? cu_registry_read(plan->table_id, t) : NULL;

		keytype = cu_type_name(r ? r->revert_type : cu_revert_to_bigint ? INT8OID : INT4OID);
	}

	col = palloc0(sizeof(CuProbeColumn));
	col->relid = t->relid;
	col->attname = t->pkattname;
	col->newtype = keytype;
	col->is_key = true;
	cols = lappend(cols, col);
	/* a partition may have expressions of its own on the key */
	foreach(lc, t->leaves)
	{
		CuProbeColumn *leafcol = palloc0(sizeof(CuProbeColumn));

		*leafcol = *col;
		leafcol->relid = ((CuLeaf *) lfirst(lc))->relid;
		cols = lappend(cols, leafcol);
	}
	foreach(lc, t->fkeys)
	{
		CuForeignKey *fk = lfirst(lc);

		col = palloc0(sizeof(CuProbeColumn));
		col->relid = fk->relid;
		col->attname = fk->attname;
		col->newtype = plan->direction == CU_TO_INT ?
			child_original_type(plan->table_id, fk, keytype) : keytype;
		cols = lappend(cols, col);
	}
	cu_probe_type_change(cols);
}

/*
 * True if column attname of relid is of a built-in type: its cast to text
 * is then PostgreSQL's (CREATE CAST takes owning one of the two types).
 */
static bool
builtin_type_column(Oid relid, const char *attname)
{
	AttrNumber	attnum = get_attnum(relid, attname);
	Oid			typid;

	if (attnum == InvalidAttrNumber)
		return false;
	typid = get_atttype(relid, attnum);
	return typid < FirstNormalObjectId;
}

/* The connector's MD5 index: fine as it is, or (re)create it */
static void
plan_md5_index(CuPlan *plan)
{
	CuTarget   *t = plan->target;
	CuMd5State state = cu_md5_index_state(t->relid);
	bool		exists = state != CU_MD5_MISSING;
	char	   *secret;
	CuContext	cx;

	if (state == CU_MD5_OK)
		return;

	if (get_attnum(t->relid, "secret") == InvalidAttrNumber)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_COLUMN),
				 errmsg("column \"secret\" of table \"%s\" does not exist", t->qualname)));

	/*
	 * md5(secret::text) below and in the index: a cast of a type of the
	 * application's would be the application's code, run as us.
	 */
	if (!builtin_type_column(t->relid, "secret"))
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("column \"secret\" of table \"%s\" is not of a built-in type",
						t->qualname),
				 errdetail("Index \"%s\" is built on md5(secret::text); a conversion of another type to text would run code the table's owner wrote.",
						   CONNECTOR_MD5_INDEX),
				 errhint("Change the column to a built-in type (text or jsonb) first.  Nothing was changed.")));

	/* the index would fail on duplicates: say which, before changing anything */
	secret = "secret::pg_catalog.text";
	cu_enter(&cx, cu_rel_owner(t->relid), SECURITY_RESTRICTED_OPERATION);
	cu_spi_exec(psprintf("SELECT pg_catalog.md5(%s), pg_catalog.string_agg(%s::pg_catalog.text, ', ' ORDER BY %s), pg_catalog.count(*) "
						 "FROM %s WHERE secret IS NOT NULL GROUP BY 1 HAVING pg_catalog.count(*) OPERATOR(pg_catalog.>) 1 "
						 "ORDER BY 1 LIMIT 5",
						 secret, quote_identifier(t->pkattname), quote_identifier(t->pkattname), t->qualname),
				SPI_OK_SELECT);
	cu_leave(&cx);
	if (SPI_processed > 0)
	{
		StringInfoData buf;
		uint64		i;

		initStringInfo(&buf);
		for (i = 0; i < SPI_processed; i++)
			appendStringInfo(&buf, "%smd5 %s is shared by connectors %s",
							 i > 0 ? "; " : "", cu_spi_getstring(i, 1), cu_spi_getstring(i, 2));
		ereport(ERROR,
				(errcode(ERRCODE_UNIQUE_VIOLATION),
				 errmsg("table \"%s\" has duplicate secrets, so index \"%s\" cannot be created",
						t->qualname, CONNECTOR_MD5_INDEX),
				 errdetail("%s.", buf.data),
				 errhint("Make those secrets unique (or NULL), then try again.  Nothing was changed.")));
	}

	if (exists)
	{
		cu_plan_add(plan, CU_STEP_SQL, t->relid, t->relname, AccessExclusiveLock,
					psprintf("DROP INDEX %s", cu_qualify(t->nspname, CONNECTOR_MD5_INDEX)));
		cu_step_lock(last_step(plan), cu_lookup_table(t->nspname, CONNECTOR_MD5_INDEX),
					 AccessExclusiveLock);
	}
	cu_plan_add(plan, CU_STEP_SQL, t->relid, t->relname, ShareLock,
				psprintf("CREATE UNIQUE INDEX %s ON %s (pg_catalog.md5(%s)) WHERE secret IS NOT NULL",
						 quote_identifier(CONNECTOR_MD5_INDEX), t->qualname, secret));
}

/*
 * The connector's alembic_version stamp, if the table is there and holds
 * the version we move from: remembered in the plan, so that its row lock is
 * taken with the table locks (see plan_locks) and its UPDATE runs last.
 */
static void
plan_alembic_decide(CuPlan *plan)
{
	CuTarget   *t = plan->target;
	Oid			relid = cu_lookup_table(t->nspname, "alembic_version");
	const char *from = plan->direction == CU_TO_UUID ? ALEMBIC_BEFORE : ALEMBIC_AFTER;
	const char *to = plan->direction == CU_TO_UUID ? ALEMBIC_AFTER : ALEMBIC_BEFORE;
	char	   *qual;
	char	   *cur;
	CuContext	cx;

	if (!OidIsValid(relid))
		return;
	qual = cu_qualify(t->nspname, "alembic_version");

	/*
	 * Reading a view would run its query as us, and a cast of a type of the
	 * application's to text is the application's code: leave anything but
	 * a plain table with a built-in string column alone.
	 */
	if (get_rel_relkind(relid) != RELKIND_RELATION ||
		!builtin_type_column(relid, "version_num"))
	{
		plan->notes = lappend(plan->notes,
							  psprintf("%s is not a table with a column version_num of a built-in type: left alone", qual));
		return;
	}
	cu_prime_index_expressions(relid);
	/* planning it folds what the table's owner wrote: as the owner */
	cu_enter(&cx, cu_rel_owner(relid), SECURITY_RESTRICTED_OPERATION);
	cu_spi_exec(psprintf("SELECT pg_catalog.string_agg(version_num::pg_catalog.text, ', ') FROM %s", qual),
				SPI_OK_SELECT);
	cu_leave(&cx);
	cur = cu_spi_getstring(0, 1);
	if (cur && strcmp(cur, from) == 0)
	{
		plan->alembic_relid = relid;
		plan->alembic_sql = psprintf("UPDATE %s SET version_num = %s WHERE version_num OPERATOR(pg_catalog.=) %s",
									 qual, quote_literal_cstr(to), quote_literal_cstr(from));
	}
	else
		plan->notes = lappend(plan->notes,
							  psprintf("alembic_version holds %s, not %s: left alone",
									   cur ? cur : "no row", from));
}

/* The alembic_version UPDATE step (its row is locked with the tables) */
static void
plan_alembic(CuPlan *plan)
{
	if (OidIsValid(plan->alembic_relid))
	{
		/* its triggers and rules fire: as its owner */
		cu_plan_add(plan, CU_STEP_SQL, plan->alembic_relid, "alembic_version", RowExclusiveLock,
					plan->alembic_sql);
		last_step(plan)->run_as = cu_rel_owner(plan->alembic_relid);
	}
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
	char	   *qual = cu_qualify(get_namespace_name(get_rel_namespace(lock->relid)),
								  get_rel_name(lock->relid));
	char		relkind = get_rel_relkind(lock->relid);

	step->kind = CU_STEP_LOCK;
	step->relid = lock->relid;
	step->relname = get_rel_name(lock->relid);
	step->lockmode = lock->mode;
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
 * The lock steps, put at the front of the plan: the union of every step's
 * locks (CuStep.locks, the weakest mode covering all a relation needs), in
 * the order of locking.c's header: the key table, its partitions, the
 * referencing tables, every other relation, each group in OID order; then
 * the alembic_version row.  Called once every other step is planned.
 */
static void
plan_locks(CuPlan *plan)
{
	CuTarget   *t = plan->target;
	List	   *all = NIL;
	List	   *groups[4] = {NIL, NIL, NIL, NIL};
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

			/* (its row lock step, last, covers the stamp) */
			if (need->relid == plan->alembic_relid && OidIsValid(plan->alembic_relid))
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

		if (lock->relid == t->relid)
			g = 0;
		else if (list_member_oid(leafrels, lock->relid))
			g = 1;
		else if (list_member_oid(fkrels, lock->relid))
			g = 2;
		else
			g = 3;
		groups[g] = lappend(groups[g], lock);
	}
	for (g = 0; g < 4; g++)
	{
		list_sort(groups[g], lock_relid_cmp);
		foreach(lc, groups[g])
			locksteps = lappend(locksteps, lock_step(lfirst(lc)));
	}

	/*
	 * The alembic_version row is updated at the end, while the relations
	 * above are locked: a transaction holding that row (an Alembic run) must
	 * make us give up within the lock budget like any other lock, not make
	 * the application wait behind us for as long as it lasts.
	 */
	if (OidIsValid(plan->alembic_relid))
	{
		char	   *qual = cu_qualify(t->nspname, "alembic_version");
		CuStep	   *step = palloc0(sizeof(CuStep));

		step->kind = CU_STEP_LOCK;
		step->relid = plan->alembic_relid;
		step->relname = "alembic_version";
		step->lockmode = RowExclusiveLock;
		step->sql = psprintf("LOCK TABLE %s IN ROW EXCLUSIVE MODE; SELECT 1 FROM %s FOR UPDATE",
							 qual, qual);
		step->row_lock = true;
		/* planning the SELECT folds what the table's owner wrote */
		step->run_as = cu_rel_owner(plan->alembic_relid);
		cu_step_lock(step, plan->alembic_relid, RowExclusiveLock);
		locksteps = lappend(locksteps, step);
	}

	/* a stricter lock_timeout of the session is kept, and said */
	if (cu_lock_budget_ms() != cu_lock_timeout_ms)
		plan->notes = lappend(plan->notes,
							  psprintf("the session's lock_timeout (%d ms) is stricter than connector_uuid.lock_timeout (%d ms): each attempt to take the locks waits at most %d ms",
									   cu_lock_budget_ms(), cu_lock_timeout_ms, cu_lock_budget_ms()));

	plan->steps = list_concat(locksteps, plan->steps);
}

/* Views: dropped deepest first, recreated in the reverse order */
static void
plan_drop_views(CuPlan *plan)
{
	ListCell   *lc;

	foreach(lc, plan->target->views)
	{
		CuView	   *v = lfirst(lc);

		cu_plan_add(plan, CU_STEP_SQL, v->relid, v->relname, AccessExclusiveLock, v->drop_sql);
		/* DROP TRIGGER on a partitioned table drops its clones too */
		if (v->relkind == 'T')
			cu_step_lock_tree(last_step(plan), v->relid, AccessExclusiveLock);
	}
}

/*
 * The locks that recreating v takes on relations that exist now.  CREATE
 * VIEW and CREATE MATERIALIZED VIEW parse the query, which locks what it
 * reads in ACCESS SHARE mode (a rule's INSERT, UPDATE or DELETE its target
 * in ROW EXCLUSIVE); CREATE POLICY and CREATE RULE lock their table in
 * ACCESS EXCLUSIVE mode, CREATE TRIGGER in SHARE ROW EXCLUSIVE mode (on
 * every partition too).
 */
static void
view_create_locks(CuStep *step, CuView *v)
{
	Oid			argtypes[1] = {OIDOID};
	Datum		values[1];
	uint64		i;
	uint64		n;
	List	   *reads = NIL;	/* rules and policies that read */
	List	   *writes = NIL;	/* rules that write */
	ListCell   *lc;
	bool		isnull;

	values[0] = ObjectIdGetDatum(v->relid);
	switch (v->relkind)
	{
		case 'P':
		case 'R':
			step->lockmode = AccessExclusiveLock;
			cu_step_lock(step, v->relid, AccessExclusiveLock);
			break;
		case 'T':
			step->lockmode = ShareRowExclusiveLock;
			cu_step_lock(step, v->relid, ShareRowExclusiveLock);
			cu_step_lock_tree(step, v->relid, ShareRowExclusiveLock);
			return;
		default:
			break;
	}
	/* what the rules (a view's query is its _RETURN rule) and policies read */
	if (v->relkind == 'P')
		cu_spi_exec_args("SELECT p.oid, false FROM pg_catalog.pg_policy p "
						 "WHERE p.polrelid OPERATOR(pg_catalog.=) $1",
						 SPI_OK_SELECT, 1, argtypes, values, NULL);
	else
		cu_spi_exec_args("SELECT r.oid, r.rulename OPERATOR(pg_catalog.<>) '_RETURN' FROM pg_catalog.pg_rewrite r "
						 "WHERE r.ev_class OPERATOR(pg_catalog.=) $1",
						 SPI_OK_SELECT, 1, argtypes, values, NULL);
	n = SPI_processed;
	for (i = 0; i < n; i++)
	{
		Oid			oid = DatumGetObjectId(cu_spi_getdatum(i, 1, &isnull));

		if (cu_spi_getbool(i, 2, &isnull))
			writes = lappend_oid(writes, oid);
		else
			reads = lappend_oid(reads, oid);
	}
	foreach(lc, reads)
		cu_step_lock_refs(step, v->relkind == 'P' ? PolicyRelationId : RewriteRelationId,
						  lfirst_oid(lc), v->relid, AccessShareLock);
	foreach(lc, writes)
		cu_step_lock_refs(step, RewriteRelationId, lfirst_oid(lc), v->relid, RowExclusiveLock);
}

static void
plan_create_views(CuPlan *plan)
{
	int			i;

	for (i = list_length(plan->target->views) - 1; i >= 0; i--)
	{
		CuView	   *v = list_nth(plan->target->views, i);
		ListCell   *lc;

		cu_plan_add(plan, CU_STEP_SQL, InvalidOid, v->relname, NoLock, v->create_sql);
		view_create_locks(last_step(plan), v);
		foreach(lc, v->after_sql)
		{
			cu_plan_add(plan, CU_STEP_SQL, InvalidOid, v->relname, AccessExclusiveLock, lfirst(lc));
			/* a policy's, rule's or trigger's comment, a trigger's state */
			if (v->relkind == 'P' || v->relkind == 'R' || v->relkind == 'T')
			{
				cu_step_lock(last_step(plan), v->relid, AccessExclusiveLock);
				cu_step_lock_tree(last_step(plan), v->relid, AccessExclusiveLock);
			}
		}
	}
}

static void
plan_drop_fkeys(CuPlan *plan)
{
	ListCell   *lc;

	foreach(lc, plan->target->fkeys)
	{
		CuForeignKey *fk = lfirst(lc);

		if (fk->synthetic)
			continue;
		cu_plan_add(plan, CU_STEP_SQL, fk->relid, fk->relname, AccessExclusiveLock,
					psprintf("ALTER TABLE %s DROP CONSTRAINT %s",
							 cu_qualify(fk->nspname, fk->relname), quote_identifier(fk->conname)));
		/* RemoveConstraintById locks the referenced table too; both recurse */
		cu_step_lock(last_step(plan), plan->target->relid, AccessExclusiveLock);
		cu_step_lock_tree(last_step(plan), fk->relid, AccessExclusiveLock);
		cu_step_lock_tree(last_step(plan), plan->target->relid, AccessExclusiveLock);
	}
}

static void
plan_add_fkeys(CuPlan *plan)
{
	ListCell   *lc;

	foreach(lc, plan->target->fkeys)
	{
		CuForeignKey *fk = lfirst(lc);

		cu_plan_add(plan, CU_STEP_FKEY, fk->relid, fk->relname, ShareRowExclusiveLock,
					fk_add_sql(plan->target, fk));
		/* both sides, and their partitions */
		cu_step_lock(last_step(plan), plan->target->relid, ShareRowExclusiveLock);
		cu_step_lock_tree(last_step(plan), fk->relid, ShareRowExclusiveLock);
		cu_step_lock_tree(last_step(plan), plan->target->relid, ShareRowExclusiveLock);
		/* valid before, and both sides mapped by one bijection: still valid */
		last_step(plan)->skip_validation = (fk->validated || fk->synthetic) && !cu_revalidate_fkeys;
		if (fk->comment)
			cu_plan_add(plan, CU_STEP_SQL, fk->relid, fk->relname, ShareUpdateExclusiveLock,
						psprintf("COMMENT ON CONSTRAINT %s ON %s IS %s", quote_identifier(fk->conname),
								 cu_qualify(fk->nspname, fk->relname), quote_literal_cstr(fk->comment)));
		if (fk->triggers != NIL)
		{
			StringInfoData buf;
			ListCell   *lc2;

			initStringInfo(&buf);
			appendStringInfo(&buf, "set the triggers of foreign key %s as they were:",
							 quote_identifier(fk->conname));
			foreach(lc2, fk->triggers)
			{
				CuFkTrigger *trig = lfirst(lc2);

				appendStringInfo(&buf, "%s %s on %s %s", lc2 == list_head(fk->triggers) ? "" : ",",
								 get_func_name(trig->funcid),
								 cu_qualify(get_namespace_name(get_rel_namespace(trig->relid)),
											get_rel_name(trig->relid)),
								 trig->enabled == 'D' ? "disabled" :
								 trig->enabled == 'R' ? "enabled replica" : "enabled always");
			}
			cu_plan_add(plan, CU_STEP_INTERNAL, fk->relid, fk->relname, ShareRowExclusiveLock, buf.data);
			foreach(lc2, fk->triggers)
				cu_step_lock(last_step(plan), ((CuFkTrigger *) lfirst(lc2))->relid, ShareRowExclusiveLock);
			last_step(plan)->action = CU_ACT_FK_TRIGGERS;
			last_step(plan)->fkey = fk;
		}
	}
}

/*
 * The USING expression of one column: the mapping function applied to it.
 */
static char *
using_expr(CuPlan *plan, const char *attname, const char *inttype)
{
	if (plan->direction == CU_TO_UUID)
		return psprintf("%s(%s::pg_catalog.int8, %d::pg_catalog.int4)", ext_qual("connector_uuid_to_uuid"),
						quote_identifier(attname), plan->table_id);
	return psprintf("%s(%s::pg_catalog.uuid, %d::pg_catalog.int4, false::pg_catalog.bool)::%s", ext_qual("connector_uuid_to_int"),
					quote_identifier(attname), plan->table_id, inttype);
}

/* The rewrite of the key table (with any self-references in the same pass) */
static void
plan_rewrite_key_table(CuPlan *plan, List *groups, const char *inttype,
					   const char *newdefault)
{
	CuTarget   *t = plan->target;
	StringInfoData buf;
	const char *pk = quote_identifier(t->pkattname);
	const char *newtype = plan->direction == CU_TO_UUID ? "uuid" : inttype;
	List	   *selfcols = NIL;
	ListCell   *lc;

	if (plan->direction == CU_TO_UUID && t->identity)
	{
		cu_plan_add(plan, CU_STEP_SQL, t->relid, t->relname, AccessExclusiveLock,
					psprintf("ALTER TABLE %s ALTER COLUMN %s DROP IDENTITY", t->qualname, pk));
		/* it drops the identity sequence */
		cu_step_lock(last_step(plan), t->seqrelid, AccessExclusiveLock);
	}

	/* self-references: changed in the same pass */
	foreach(lc, groups)
	{
		TableCols  *g = lfirst(lc);
		ListCell   *lc2;

		if (g->relid != t->relid)
			continue;
		foreach(lc2, g->fkeys)
		{
			CuForeignKey *fk = lfirst(lc2);
			CuRewriteColumn *c = palloc0(sizeof(CuRewriteColumn));

			c->attname = fk->attname;
			c->newtype = plan->direction == CU_TO_UUID ? "uuid" :
				child_original_type(plan->table_id, fk, inttype);
			c->using_expr = using_expr(plan, fk->attname, c->newtype);
			selfcols = lappend(selfcols, c);
		}
	}

	/* partitioned by HASH of the key: rebuilt around its partitions */
	if (t->partitioned)
	{
		cu_plan_partitioned_rewrite(plan, newtype, newdefault,
									using_expr(plan, t->pkattname, inttype), selfcols);
		return;
	}

	initStringInfo(&buf);
	appendStringInfo(&buf, "ALTER TABLE %s", t->qualname);
	if (t->default_expr)
		appendStringInfo(&buf, " ALTER COLUMN %s DROP DEFAULT,", pk);
	appendStringInfo(&buf, " ALTER COLUMN %s TYPE %s USING %s", pk, newtype,
					 using_expr(plan, t->pkattname, inttype));
	if (newdefault)
		appendStringInfo(&buf, ", ALTER COLUMN %s SET DEFAULT %s", pk, newdefault);
	foreach(lc, selfcols)
	{
		CuRewriteColumn *c = lfirst(lc);

		appendStringInfo(&buf, ", ALTER COLUMN %s TYPE %s USING %s",
						 quote_identifier(c->attname), c->newtype, c->using_expr);
	}
	cu_plan_add(plan, CU_STEP_SQL, t->relid, t->relname, AccessExclusiveLock, buf.data);
	last_step(plan)->rewrites = true;
	/* the rewrite evaluates CHECK constraints and generated columns */
	last_step(plan)->run_as = cu_rel_owner(t->relid);
}

/* One rewrite per referencing table */
static void
plan_rewrite_children(CuPlan *plan, List *groups, const char *inttype)
{
	ListCell   *lc;

	foreach(lc, groups)
	{
		TableCols  *g = lfirst(lc);
		StringInfoData buf;
		ListCell   *lc2;
		bool		first = true;

		if (g->relid == plan->target->relid)
			continue;
		initStringInfo(&buf);
		appendStringInfo(&buf, "ALTER TABLE %s", cu_qualify(g->nspname, g->relname));
		foreach(lc2, g->fkeys)
		{
			CuForeignKey *fk = lfirst(lc2);
			char	   *ctype = plan->direction == CU_TO_UUID ? "uuid" :
				child_original_type(plan->table_id, fk, inttype);

			appendStringInfo(&buf, "%s ALTER COLUMN %s TYPE %s USING %s", first ? "" : ",",
							 quote_identifier(fk->attname), ctype,
							 using_expr(plan, fk->attname, ctype));
			first = false;
		}
		cu_plan_add(plan, CU_STEP_SQL, g->relid, g->relname, AccessExclusiveLock, buf.data);
		last_step(plan)->rewrites = true;
		last_step(plan)->run_as = cu_rel_owner(g->relid);
		/* ALTER TABLE recurses to the partitions */
		cu_step_lock_tree(last_step(plan), g->relid, AccessExclusiveLock);
	}
}

/*
 * ALTER COLUMN ... TYPE rebuilds the statistics objects on the column and
 * forgets their statistics targets (ALTER STATISTICS ... SET STATISTICS):
 * set them again after the rewrites.
 */
/*
 * The registry step writes the registry's two tables, and reads the map
 * and the position of the key's sequence
 */
static void
registry_locks(CuStep *step, CuTarget *t)
{
	cu_step_lock(step, t->seqrelid, AccessShareLock);
	cu_step_lock(step, ext_rel("connector_uuid_tables"), RowExclusiveLock);
	cu_step_lock(step, ext_rel("connector_uuid_columns"), RowExclusiveLock);
	cu_step_lock(step, ext_rel("connector_uuid_map"), AccessShareLock);
	/* a table registered for the first time takes its id from the sequence */
	cu_step_lock(step, ext_rel("connector_uuid_table_id_seq"), RowExclusiveLock);
}

static void
plan_statistics_targets(CuPlan *plan, List *groups)
{
	List	   *relids = list_make1_oid(plan->target->relid);
	ListCell   *lc;

	foreach(lc, groups)
		relids = list_append_unique_oid(relids, ((TableCols *) lfirst(lc))->relid);
	foreach(lc, relids)
	{
		Oid			relid = lfirst_oid(lc);
		Oid			argtypes[1] = {OIDOID};
		Datum		values[1];
		uint64		i;

		values[0] = ObjectIdGetDatum(relid);
		cu_spi_exec_args("SELECT pg_catalog.format('ALTER STATISTICS %I.%I SET STATISTICS %s', n.nspname, s.stxname, s.stxstattarget) "
						 "FROM pg_catalog.pg_statistic_ext s "
						 "JOIN pg_catalog.pg_namespace n ON n.oid OPERATOR(pg_catalog.=) s.stxnamespace "
						 "WHERE s.stxrelid OPERATOR(pg_catalog.=) $1 AND s.stxstattarget IS NOT NULL "
						 "  AND s.stxstattarget OPERATOR(pg_catalog.>=) 0 ORDER BY s.stxname",
						 SPI_OK_SELECT, 1, argtypes, values, NULL);
		for (i = 0; i < SPI_processed; i++)
			cu_plan_add(plan, CU_STEP_SQL, relid, get_rel_name(relid), ShareUpdateExclusiveLock,
						cu_spi_getstring(i, 1));
	}
}

/*
 * An internal step.  Those that load the id map read it; mode is the lock
 * on the key table.
 */
static void
plan_internal(CuPlan *plan, CuInternalAction action, LOCKMODE mode, char *text)
{
	cu_plan_add(plan, CU_STEP_INTERNAL, plan->target->relid, plan->target->relname,
				mode, text);
	last_step(plan)->action = action;
	if (action == CU_ACT_LOAD_EXCEPTIONS)
		cu_step_lock(last_step(plan), ext_rel("connector_uuid_map"), AccessShareLock);
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
#define CU_WORK_TABLE "pg_temp.connector_uuid_work"

static Oid
plan_work_table(CuPlan *plan)
{
	Oid			owner = cu_rel_owner(plan->target->relid);

	cu_plan_add(plan, CU_STEP_SQL, InvalidOid, plan->target->relname, NoLock,
				"CREATE TABLE " CU_WORK_TABLE " (kind pg_catalog.\"char\" NOT NULL, "
				"n pg_catalog.int8, u pg_catalog.uuid) ON COMMIT DROP");
	if (owner != GetUserId())
		cu_plan_add(plan, CU_STEP_SQL, InvalidOid, plan->target->relname, NoLock,
					psprintf("GRANT INSERT ON " CU_WORK_TABLE " TO %s",
							 quote_identifier(GetUserNameFromId(owner, false))));
	return owner;
}

/* A step that reads the key table (sql) as its owner */
static void
plan_read_as_owner(CuPlan *plan, Oid owner, char *sql)
{
	cu_plan_add(plan, CU_STEP_SQL, plan->target->relid, plan->target->relname,
				AccessShareLock, sql);
	last_step(plan)->run_as = owner;
}

static void
plan_drop_work_table(CuPlan *plan)
{
	cu_plan_add(plan, CU_STEP_SQL, InvalidOid, plan->target->relname, NoLock,
				"DROP TABLE " CU_WORK_TABLE);
}

/* integer -> uuid */
static void
plan_to_uuid(CuPlan *plan)
{
	CuTarget   *t = plan->target;
	List	   *groups = group_by_table(t);
	Oid			ossp = cu_uuid_ossp_schema();
	char	   *map = ext_qual("connector_uuid_map");
	char	   *pk = (char *) quote_identifier(t->pkattname);
	int			tid = plan->table_id;
	const char *strategy = plan->options->strategy;
	char	   *newid;
	char	   *newdefault;

	plan_internal(plan, CU_ACT_REGISTER, RowExclusiveLock,
				  psprintf("record %s in %s: key, type, default and sequence of %s",
						   t->qualname, ext_qual("connector_uuid_tables"), pk));
	registry_locks(last_step(plan), t);

	/*
	 * v4 ids are derived from the old id by the keyed permutation, so the
	 * USING expressions need no lookup.  v5 and v7 ids are made here once,
	 * from the parent row, and looked up from the map by every rewrite.
	 */
	if (strcmp(strategy, "v5") == 0)
		newid = psprintf("%s(%s::pg_catalog.uuid, %s::pg_catalog.text OPERATOR(pg_catalog.||) t.%s::pg_catalog.text)",
						 cu_qualify(get_namespace_name(ossp), "uuid_generate_v5"),
						 quote_literal_cstr(plan->options->namespace_uuid),
						 quote_literal_cstr(psprintf("%s:", t->relname)), pk);
	else if (strcmp(strategy, "v7") == 0)
		newid = psprintf("%s(%s, t.%s::pg_catalog.int8)", ext_qual("connector_uuid_v7"),
						 plan->options->ts_column ?
						 psprintf("COALESCE(t.%s::pg_catalog.timestamptz, pg_catalog.transaction_timestamp())",
								  quote_identifier(plan->options->ts_column)) :
						 "pg_catalog.transaction_timestamp()", pk);
	else
		newid = psprintf("%s(t.%s::pg_catalog.int8, %d::pg_catalog.int4)", ext_qual("connector_uuid_to_uuid"), pk, tid);
	if (strcmp(strategy, "v7") == 0)
		newdefault = psprintf("%s()", ext_qual("connector_uuid_generate_v7"));
	else
		newdefault = psprintf("%s()", cu_qualify(get_namespace_name(ossp), "uuid_generate_v4"));

	plan_internal(plan, CU_ACT_LOAD_EXCEPTIONS, AccessShareLock,
				  psprintf("load the id map's exceptions for %s", t->qualname));
	/*
	 * A table converted before: its rows keep the uuid they had (ON
	 * CONFLICT; not NOT EXISTS, whose anti-join against the map being
	 * filled can rescan what the statement itself inserted, quadratic once
	 * the map's statistics say it is empty).  A first conversion has no
	 * map rows to skip: a plain insert, the cheapest.
	 */
	if (strcmp(strategy, "v4") != 0 || cu_full_map)
	{
		Oid			owner = plan_work_table(plan);

		plan_read_as_owner(plan, owner,
						   psprintf("INSERT INTO " CU_WORK_TABLE " (kind, n, u) SELECT 'p', t.%s, %s FROM %s t",
									pk, newid, t->qualname));
		cu_plan_add(plan, CU_STEP_SQL, t->relid, t->relname, RowExclusiveLock,
					psprintf("INSERT INTO %s (table_id, derived, old_id, new_id) "
							 "SELECT %d, %s, w.n, w.u FROM " CU_WORK_TABLE " w "
							 "WHERE w.kind OPERATOR(pg_catalog.=) 'p'%s",
							 map, tid, strcmp(strategy, "v4") == 0 ? "true" : "false",
							 plan->registered ? " ON CONFLICT (table_id, old_id) DO NOTHING" : ""));
		cu_step_lock(last_step(plan), ext_rel("connector_uuid_map"), RowExclusiveLock);
		plan_drop_work_table(plan);
	}
	if (strcmp(strategy, "v4") != 0)
		plan_internal(plan, CU_ACT_LOAD_EXCEPTIONS, AccessShareLock,
					  psprintf("load the %s ids of %s from the id map", strategy, t->qualname));
	plan_drop_views(plan);
	plan_drop_fkeys(plan);
	plan_rewrite_key_table(plan, groups, NULL, newdefault);
	plan_rewrite_children(plan, groups, NULL);
	plan_statistics_targets(plan, groups);
	plan_add_fkeys(plan);
	plan_create_views(plan);
}

/* uuid -> integer */
static void
plan_to_int(CuPlan *plan)
{
	CuTarget   *t = plan->target;
	List	   *groups = group_by_table(t);
	char	   *map = ext_qual("connector_uuid_map");
	char	   *tables = ext_qual("connector_uuid_tables");
	char	   *pk = (char *) quote_identifier(t->pkattname);
	int			tid = plan->table_id;
	char	   *inttype;
	char	   *olddefault = NULL;
	char		identity = '\0';
	bool		has_seq = false;
	char	   *identity_sql = NULL;
	List	   *seqextra_sql = NIL;
	bool		full_map = true;
	char	   *serial_to_bigint = NULL;
	Oid			owner;
	CuRegistry *r = plan->registered ? cu_registry_read(tid, t) : NULL;

	/* the statements come from validated facts (registry.c), never from SQL text */
	if (r)
	{
		plan->int_type = r->revert_type;
		olddefault = r->default_sql;
		identity = r->identity;
		identity_sql = r->identity_sql;
		seqextra_sql = r->seq_after_sql;
		has_seq = OidIsValid(t->seqrelid);
		plan->strategy = r->strategy;
		full_map = r->full_map;
		if (identity && r->seq_increment > 0)
			plan->seq_max = r->seq_max_after;
	}
	else
	{
		/* no registry row yet: allowed only with renumbering (checked by caller) */
		plan->int_type = cu_revert_to_bigint ? INT8OID : INT4OID;
		if (t->seqqualname)
		{
			has_seq = true;
			olddefault = psprintf("pg_catalog.nextval(%s::pg_catalog.regclass)",
								  quote_literal_cstr(t->seqqualname));
		}
	}
	inttype = cu_type_name(plan->int_type);

	/*
	 * A serial's sequence is still there: its top bounds the new integers,
	 * and a bigint revert makes it bigint (its top moving with its type's).
	 */
	if (!identity && OidIsValid(t->seqrelid))
	{
		Oid			argtypes[1] = {OIDOID};
		Datum		values[1];
		bool		isnull;

		values[0] = ObjectIdGetDatum(t->seqrelid);
		cu_spi_exec_args("SELECT s.seqtypid, s.seqmax, s.seqincrement FROM pg_catalog.pg_sequence s "
						 "WHERE s.seqrelid OPERATOR(pg_catalog.=) $1",
						 SPI_OK_SELECT, 1, argtypes, values, NULL);
		if (SPI_processed == 1)
		{
			Oid			seqtype = (Oid) cu_spi_getint64(0, 1, &isnull);
			int64		seqmax = cu_spi_getint64(0, 2, &isnull);
			bool		to_bigint = cu_revert_to_bigint && seqtype != INT8OID;

			if (cu_spi_getint64(0, 3, &isnull) > 0)
				plan->seq_max = (to_bigint && seqmax == cu_int_type_max(seqtype)) ? PG_INT64_MAX : seqmax;
			if (to_bigint)
				serial_to_bigint = psprintf("ALTER SEQUENCE %s AS pg_catalog.int8", t->seqqualname);
		}
	}

	/* the general revert puts back the ON DELETE actions convert changed */
	if (!plan->options->connector)
	{
		ListCell   *lc;

		foreach(lc, t->fkeys)
		{
			CuForeignKey *fk = lfirst(lc);
			Oid			typid;
			char		on_delete;

			if (cu_registry_column(tid, fk, &typid, &on_delete) && on_delete)
				fk->del_action = on_delete;
		}
	}

	plan_internal(plan, CU_ACT_REGISTER, RowExclusiveLock,
				  psprintf("make sure %s has a row in %s", t->qualname, tables));
	registry_locks(last_step(plan), t);
	plan_internal(plan, CU_ACT_LOAD_EXCEPTIONS, AccessShareLock,
				  psprintf("load the id map's exceptions for %s", t->qualname));
	plan_internal(plan, CU_ACT_CHECK_RANGE, AccessShareLock,
				  psprintf("check that the rows of %s created at uuid time get integers within %s",
						   t->qualname, inttype));
	cu_step_lock(last_step(plan), ext_rel("connector_uuid_map"), AccessShareLock);
	cu_step_lock(last_step(plan), ext_rel("connector_uuid_tables"), AccessShareLock);
	/*
	 * The rows created at uuid time, ranked in table order, and (a map
	 * without the derived pairs) the highest id the key derives: read as the
	 * table's owner; then numbered past every id the table has had.  (The
	 * highest integer given here, for the sequence at the end.)
	 */
	owner = plan_work_table(plan);
	plan_read_as_owner(plan, owner,
					   psprintf("INSERT INTO " CU_WORK_TABLE " (kind, n, u) "
								"SELECT 'p', pg_catalog.row_number() OVER (ORDER BY t.ctid), t.%s FROM %s t "
								"WHERE %s(t.%s::pg_catalog.uuid, %d::pg_catalog.int4, true::pg_catalog.bool) IS NULL%s",
								pk, t->qualname, ext_qual("connector_uuid_to_int"), pk, tid,
								full_map ? "" :
								psprintf(" UNION ALL SELECT 'd', pg_catalog.max(%s(t2.%s::pg_catalog.uuid, %d::pg_catalog.int4, true::pg_catalog.bool)), NULL FROM %s t2",
										 ext_qual("connector_uuid_to_int"), pk, tid, t->qualname)));
	cu_plan_add(plan, CU_STEP_SQL, t->relid, t->relname, RowExclusiveLock,
				psprintf("WITH added AS (INSERT INTO %s (table_id, derived, old_id, new_id) "
						 "SELECT %d, false, b.base OPERATOR(pg_catalog.+) w.n, w.u "
						 "FROM " CU_WORK_TABLE " w, (SELECT GREATEST("
						 "  (SELECT pg_catalog.max(old_id) FROM %s WHERE table_id OPERATOR(pg_catalog.=) %d), "
						 "  (SELECT seq_last_value FROM %s WHERE table_id OPERATOR(pg_catalog.=) %d), "
						 "  (SELECT pg_catalog.max(d.n) FROM " CU_WORK_TABLE " d WHERE d.kind OPERATOR(pg_catalog.=) 'd'), "
						 "  0) AS base) b "
						 "WHERE w.kind OPERATOR(pg_catalog.=) 'p' RETURNING old_id) "
						 "UPDATE %s SET seq_added_max = (SELECT pg_catalog.max(old_id) FROM added) "
						 "WHERE table_id OPERATOR(pg_catalog.=) %d",
						 map, tid, map, tid, tables, tid, tables, tid));
	cu_step_lock(last_step(plan), ext_rel("connector_uuid_map"), RowExclusiveLock);
	cu_step_lock(last_step(plan), ext_rel("connector_uuid_tables"), RowExclusiveLock);
	plan_internal(plan, CU_ACT_LOAD_EXCEPTIONS, AccessShareLock,
				  psprintf("load the id map's exceptions for %s again, with the new integers", t->qualname));
	plan_drop_views(plan);
	plan_drop_fkeys(plan);
	plan_rewrite_key_table(plan, groups, inttype, identity ? NULL : olddefault);
	if (identity)
		cu_plan_add(plan, CU_STEP_SQL, t->relid, t->relname, AccessExclusiveLock, identity_sql);
	/* the new identity sequence: the old one's comment and grants */
	{
		ListCell   *lc;

		foreach(lc, seqextra_sql)
			cu_plan_add(plan, CU_STEP_SQL, t->relid, t->relname, ShareUpdateExclusiveLock, lfirst(lc));
	}
	/* a bigint revert: a serial's sequence goes on to bigint's top */
	if (serial_to_bigint)
		cu_plan_add(plan, CU_STEP_SQL, t->seqrelid, get_rel_name(t->seqrelid), ShareRowExclusiveLock,
					serial_to_bigint);
	plan_rewrite_children(plan, groups, inttype);
	plan_statistics_targets(plan, groups);
	plan_add_fkeys(plan);
	plan_create_views(plan);
	/*
	 * The sequence: exactly as it was at the conversion (value and
	 * is_called), or, if rows added at uuid time were given integers above
	 * it, at the highest of those.  Without a record (renumbering), past
	 * every id.  Always within the sequence's bounds.
	 */
	if (has_seq || identity)
		plan_read_as_owner(plan, owner,
						   psprintf("INSERT INTO " CU_WORK_TABLE " (kind, n) SELECT 'm', pg_catalog.max(t.%s) FROM %s t",
									pk, t->qualname));
	if (has_seq || identity)
		cu_plan_add(plan, CU_STEP_SQL, t->relid, t->relname, RowExclusiveLock,
					psprintf("SELECT pg_catalog.setval(g.seqrelid, "
							 "CASE WHEN g.seq_value IS NULL "
							 "  THEN LEAST(GREATEST((SELECT pg_catalog.max(m.n) FROM " CU_WORK_TABLE " m "
							 "                       WHERE m.kind OPERATOR(pg_catalog.=) 'm'), g.seq_last_value, g.seqmin), g.seqmax) "
							 "  WHEN g.grow THEN g.seq_added_max ELSE g.seq_value END, "
							 "g.seq_value IS NULL OR g.grow OR g.seq_is_called) "
							 "FROM (SELECT s.seqrelid, s.seqmin, s.seqmax, r.seq_value, r.seq_is_called, r.seq_last_value, r.seq_added_max, "
							 "  COALESCE(s.seqincrement OPERATOR(pg_catalog.>) 0 AND r.seq_added_max OPERATOR(pg_catalog.<=) s.seqmax "
							 "    AND r.seq_added_max OPERATOR(pg_catalog.>=) (r.seq_value OPERATOR(pg_catalog.+) "
							 "      CASE WHEN r.seq_is_called THEN 1 ELSE 0 END), false) AS grow "
							 "  FROM %s r, pg_catalog.pg_sequence s "
							 "  WHERE r.table_id OPERATOR(pg_catalog.=) %d "
							 "  AND s.seqrelid OPERATOR(pg_catalog.=) pg_catalog.pg_get_serial_sequence(%s, %s)::pg_catalog.regclass) g",
							 tables, tid,
							 quote_literal_cstr(t->qualname), quote_literal_cstr(t->pkattname)));
	/* setval on the serial sequence (an identity's is new) */
	if (has_seq || identity)
	{
		cu_step_lock(last_step(plan), t->seqrelid, RowExclusiveLock);
		cu_step_lock(last_step(plan), ext_rel("connector_uuid_tables"), AccessShareLock);
	}
	plan_drop_work_table(plan);
}

/*
 * The tables of t, before the checks below read them: see
 * cu_prime_index_expressions().
 */
static void
prime_tables(CuTarget *t)
{
	ListCell   *lc;

	cu_prime_index_expressions(t->relid);
	foreach(lc, t->leaves)
		cu_prime_index_expressions(((CuLeaf *) lfirst(lc))->relid);
	foreach(lc, t->fkeys)
		cu_prime_index_expressions(((CuForeignKey *) lfirst(lc))->relid);
}

/*
 * connector_uuid_plan() and the CU_ACT_CHECK_RANGE step of a revert: the
 * rows created at uuid time get new integers past the highest id the table
 * has had (the map's, the sequence's at the conversion).  Refuse, before
 * anything changes, if the last of them would not fit in the key's type or
 * below its sequence's top.  Caller has activated the table's id map (when
 * it has one).
 */
void
cu_check_new_ids(CuPlan *plan)
{
	CuTarget   *t = plan->target;
	const char *pk = quote_identifier(t->pkattname);
	Oid			argtypes[1] = {INT4OID};
	Datum		values[1];
	bool		isnull;
	int64		count;
	int64		base;
	int64		limit = cu_int_type_max(plan->int_type);
	bool		by_sequence = false;
	CuContext	cx;
	char	   *narrow = NULL;	/* a referencing column's smaller type */
	Oid			narrow_type = InvalidOid;

	values[0] = Int32GetDatum(plan->table_id);
	if (plan->registered)
	{
		/* v4 without a full map: new ids also come after the derived ones */
		bool		derivable = plan->strategy && strcmp(plan->strategy, "v4") == 0 &&
			!cu_registry_read(plan->table_id, t)->full_map;
		int64		mapped;

		/*
		 * The extension's map and registry, as the converting role; then the
		 * key table, whose planning folds what its owner wrote: as the owner,
		 * under SECURITY_RESTRICTED_OPERATION (connector_uuid_to_int is
		 * executable by every role).
		 */
		cu_spi_exec_args(psprintf("SELECT GREATEST((SELECT pg_catalog.max(m.old_id) FROM %s m "
								  "                    WHERE m.table_id OPERATOR(pg_catalog.=) $1), "
								  "  (SELECT r.seq_last_value FROM %s r WHERE r.table_id OPERATOR(pg_catalog.=) $1), 0)",
								  ext_qual("connector_uuid_map"), ext_qual("connector_uuid_tables")),
						 SPI_OK_SELECT, 1, argtypes, values, NULL);
		mapped = cu_spi_getint64(0, 1, &isnull);
		cu_enter(&cx, cu_rel_owner(t->relid), SECURITY_RESTRICTED_OPERATION);
		cu_spi_exec_args(psprintf("SELECT pg_catalog.count(*) FILTER (WHERE %s(t.%s, $1, true) IS NULL), "
								  "       %s FROM %s t",
								  ext_qual("connector_uuid_to_int"), pk,
								  derivable ?
								  psprintf("pg_catalog.max(%s(t.%s, $1, true))", ext_qual("connector_uuid_to_int"), pk) :
								  "NULL::pg_catalog.int8",
								  t->qualname),
						 SPI_OK_SELECT, 1, argtypes, values, NULL);
		cu_leave(&cx);
		count = cu_spi_getint64(0, 1, &isnull);
		base = cu_spi_getint64(0, 2, &isnull);
		if (isnull || base < mapped)
			base = mapped;
	}
	else
	{
		cu_enter(&cx, cu_rel_owner(t->relid), SECURITY_RESTRICTED_OPERATION);
		cu_spi_exec(psprintf("SELECT pg_catalog.count(*) FROM %s", t->qualname),
					SPI_OK_SELECT);
		cu_leave(&cx);
		count = cu_spi_getint64(0, 1, &isnull);
		base = 0;
	}
	if (plan->seq_max > 0 && plan->seq_max < limit)
	{
		limit = plan->seq_max;
		by_sequence = true;
	}
	/* a referencing column recorded with a smaller type holds them too */
	if (plan->registered && !cu_revert_to_bigint)
	{
		ListCell   *lc;

		foreach(lc, t->fkeys)
		{
			CuForeignKey *fk = lfirst(lc);
			Oid			typid;
			char		on_delete;

			if (cu_registry_column(plan->table_id, fk, &typid, &on_delete) &&
				cu_int_type_max(typid) < limit)
			{
				limit = cu_int_type_max(typid);
				by_sequence = false;
				narrow = psprintf("%s, the type of column \"%s\" of table \"%s\",",
								  format_type_be(typid), fk->attname, cu_qualify(fk->nspname, fk->relname));
				narrow_type = typid;
			}
		}
	}
	if (count == 0 || (base <= limit && count <= limit - base))
		return;
	ereport(ERROR,
			(errcode(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE),
			 errmsg_plural("%lld row of table \"%s\" created at uuid time does not fit in %s",
						   "%lld rows of table \"%s\" created at uuid time do not fit in %s",
						   (unsigned long) count, (long long) count, t->qualname,
						   narrow ? format_type_be(narrow_type) :
						   by_sequence ? "the key's sequence" : format_type_be(plan->int_type)),
			 errdetail("The revert numbers them from %lld to %lld, after the highest id the table has had (%lld), but %s holds values up to %lld.",
					   (long long) (base < PG_INT64_MAX ? base + 1 : base),
					   (long long) (count > PG_INT64_MAX - base ? PG_INT64_MAX : base + count),
					   (long long) base,
					   narrow ? narrow : by_sequence ? "the sequence" : format_type_be(plan->int_type), (long long) limit),
			 (plan->int_type != INT8OID || narrow) ?
			 errhint("SET connector_uuid.revert_to_bigint = on to revert column \"%s\" and the columns referencing it to bigint (with a bigint sequence or identity) instead, or delete those rows.  Nothing was changed.",
					 t->pkattname) :
			 errhint("Raise the sequence's MAXVALUE (ALTER SEQUENCE ... MAXVALUE), or delete those rows.  Nothing was changed.")));
}

/*
 * Build the plan for converting relid's key in direction, running every
 * pre-flight check on the way.  Caller is connected to SPI and has pinned
 * a safe search_path.
 */
CuPlan *
cu_build_plan(Oid relid, CuDirection direction, CuOptions *opt)
{
	CuPlan	   *plan = palloc0(sizeof(CuPlan));
	CuTarget   *t;
	char	   *detail = NULL;
	ListCell   *lc;

	plan->direction = direction;
	plan->options = opt;
	plan->strategy = opt->strategy;

	if (!OidIsValid(relid))
	{
		plan->state = CU_STATE_MISSING;
		return plan;
	}

	t = cu_discover(relid);
	cu_partition_discover(t);
	plan->target = t;
	if (opt->connector)
		add_connector_children(t, opt);
	if (opt->force_cascade)
		foreach(lc, t->fkeys)
			((CuForeignKey *) lfirst(lc))->del_action = 'c';
	prime_tables(t);

	check_domains(t);
	plan->state = cu_table_state(t, &detail);
	if (plan->state == CU_STATE_MIXED)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("table \"%s\" and the tables referencing it are half converted", t->qualname),
				 errdetail("%s.", detail),
				 errhint("Bring every one of those columns to the same type (all integer or all uuid), then try again.  Nothing was changed.")));
	/* integer columns left as they are, for lack of a foreign key */
	plan->notes = cu_softref_notes(plan->notes, t);
	if ((direction == CU_TO_UUID && plan->state == CU_STATE_UUID) ||
		(direction == CU_TO_INT && plan->state == CU_STATE_INTEGER))
	{
		plan->adopt = true;
		cu_check_privileges(plan);
		plan->table_id = cu_registry_id(t->nspname, t->relname);
		plan->notes = lappend(plan->notes,
							  psprintf("the tables are already %s (%s): adopting them as they are, no row changed",
									   direction == CU_TO_UUID ? "uuid" : "integer", detail));
		if (direction == CU_TO_UUID && plan->table_id == 0)
			plan->notes = lappend(plan->notes,
								  "there is no id map for these tables, so a downgrade cannot restore integer ids it never saw");
		return plan;
	}

	/* privileges: every table we rewrite */
	check_owner(t->relid);
	foreach(lc, t->leaves)
		check_owner(((CuLeaf *) lfirst(lc))->relid);
	foreach(lc, t->fkeys)
	{
		CuForeignKey *fk = lfirst(lc);

		check_owner(fk->relid);
		/* setting a system trigger's state again takes a superuser */
		if (fk->triggers != NIL && !superuser())
			ereport(ERROR,
					(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
					 errmsg("foreign key \"%s\" on table \"%s\" has disabled triggers",
							fk->conname, cu_qualify(fk->nspname, fk->relname)),
					 errdetail("The foreign key is dropped and added again, and only a superuser can disable the new one's triggers as the old ones were."),
					 errhint("Run the conversion as a superuser, or enable the triggers (ALTER TABLE ... ENABLE TRIGGER ALL) first.  Nothing was changed.")));
	}
	/* the grants a role that is not a superuser needs besides (privcheck.c) */
	cu_check_privileges(plan);

	plan->table_id = cu_registry_id(t->nspname, t->relname);
	plan->registered = (plan->table_id != 0);
	if (direction == CU_TO_INT && plan->table_id == 0)
		check_renamed(t);
	if (direction == CU_TO_INT && plan->table_id == 0 && !cu_allow_renumber)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("there is no id map for table \"%s\"", t->qualname),
				 errdetail("These tables were not converted by connector_uuid (or its map was not restored), so their original integer ids are unknown."),
				 errhint("To give every row a new integer id instead, SET connector_uuid.allow_renumber = on and try again.")));
	if (plan->table_id == 0 && opt->reserved_table_id != 0)
		plan->table_id = opt->reserved_table_id;
	else if (plan->table_id == 0)
	{
		/*
		 * The id the registry step will get, shown in the plan's SQL: only
		 * predicted here.  cu_lock_and_replan takes it from the sequence
		 * once the locks are held, and builds the plan again with it.
		 */
		plan->table_id = cu_registry_predict_id();
		plan->table_id_predicted = true;
	}
	/* a default the registry cannot record as a fact is refused up front */
	if (direction == CU_TO_UUID)
	{
		Oid			seqrelid;

		(void) cu_registry_default_kind(t, &seqrelid);
	}

	if (direction == CU_TO_UUID)
		check_earlier_strategy(plan);
	foreach(lc, t->fkeys)
		check_orphans(t, (CuForeignKey *) lfirst(lc));
	check_exclusion(t);
	check_references(t);
	check_partition_owners(t);
	cu_partition_check(plan);
	check_expressions(plan);
	if (direction == CU_TO_UUID)
		check_timestamp_column(t, opt);

	t->views = cu_discover_views(t);

	if (opt->connector)
		plan_alembic_decide(plan);
	if (direction == CU_TO_UUID)
		plan_to_uuid(plan);
	else
		plan_to_int(plan);
	if (opt->connector)
	{
		plan_md5_index(plan);
		plan_alembic(plan);
	}
	plan_internal(plan, CU_ACT_FINISH, RowExclusiveLock,
				  psprintf("append a row to %s", ext_qual("connector_uuid_history")));
	cu_step_lock(last_step(plan), ext_rel("connector_uuid_history"), RowExclusiveLock);
	cu_step_lock(last_step(plan), ext_rel("connector_uuid_tables"), RowExclusiveLock);
	plan_locks(plan);
	check_publications(plan);
	return plan;
}
