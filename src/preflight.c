/*-------------------------------------------------------------------------
 *
 * preflight.c
 *	  Every refusal of a conversion that is known before anything changes:
 *	  the state of the tables, owners, the registry, orphaned references,
 *	  shapes of schema a type change would trip over, the dry run, the v7
 *	  timestamps, logical replication (replication.c), and the range of a revert's new integers.
 *
 * plan.c calls these while it builds a plan, so bad input is refused
 * before the first statement runs, and a DBA sees the same error from
 * connector_uuid_plan() that the migration would give.  Nothing here
 * changes anything.  A query that reads an application table runs as that
 * table's owner under SECURITY_RESTRICTED_OPERATION (security.c): planning
 * it constant-folds what the owner wrote.
 *
 * IDENTIFICATION
 *	  src/preflight.c
 *
 *-------------------------------------------------------------------------
 */
#include "plan.h"
#include "registry.h"
#include "security.h"
#include "spi_util.h"

#include "catalog/pg_class.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"

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
				 errhint("GRANT SELECT ON %s TO %s, then try again.",
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
				 errmsg_plural("table \"%s\" has %lld row whose \"%s\" has no row in table \"%s\"",
							   "table \"%s\" has %lld rows whose \"%s\" has no row in table \"%s\"",
							   (unsigned long) n, childq, (long long) n, fk->attname, t->qualname),
				 errdetail("Values without a parent: %s.", cu_spi_getstring(0, 2)),
				 errhint("Delete those rows or set them to NULL, then try again.")));
}

/* A column a conversion changes: the key, or a referencing column */
typedef struct ConvertedColumn
{
	Oid			relid;
	AttrNumber	attnum;
} ConvertedColumn;

/* The key column and every referencing column, as ConvertedColumn */
static List *
converted_columns(CuTarget *t)
{
	List	   *cols = NIL;
	ConvertedColumn *c = palloc(sizeof(ConvertedColumn));
	ListCell   *lc;

	c->relid = t->relid;
	c->attnum = t->pkattnum;
	cols = lappend(cols, c);
	foreach(lc, t->fkeys)
	{
		CuForeignKey *fk = lfirst(lc);

		c = palloc(sizeof(ConvertedColumn));
		c->relid = fk->relid;
		c->attnum = fk->attnum;
		cols = lappend(cols, c);
	}
	return cols;
}

/* Run sql with $1 = c's table and $2 = its column; true if it found rows */
static bool
column_query(ConvertedColumn *c, const char *sql)
{
	Oid			argtypes[2] = {OIDOID, INT2OID};
	Datum		values[2];

	values[0] = ObjectIdGetDatum(c->relid);
	values[1] = Int16GetDatum(c->attnum);
	cu_spi_exec_args(sql, SPI_OK_SELECT, 2, argtypes, values, NULL);
	return SPI_processed > 0;
}

/*
 * Refuse a converted column that is in a partition key: PostgreSQL cannot
 * change that column's type.  (A key table partitioned by HASH of its key
 * is rebuilt instead: partition.c.)
 */
static void
check_partition_keys(CuTarget *t)
{
	ListCell   *lc;

	foreach(lc, converted_columns(t))
	{
		ConvertedColumn *c = lfirst(lc);

		if (c->relid == t->relid && t->partitioned)
			continue;
		if (column_query(c, "SELECT 1 FROM pg_catalog.pg_partitioned_table p "
						 "WHERE p.partrelid OPERATOR(pg_catalog.=) $1 "
						 "  AND $2 OPERATOR(pg_catalog.=) ANY (p.partattrs::pg_catalog.int2[])"))
			ereport(ERROR,
					(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
					 errmsg("column \"%s\" of table \"%s\" is part of the partition key",
							get_attname(c->relid, c->attnum, false), cu_rel_qualname(c->relid)),
					 errdetail("PostgreSQL cannot change the type of a partition key column, and integer partition bounds have no uuid equivalent."),
					 c->relid == t->relid ?
					 errhint("A partitioned key table cannot be converted in place: build a new table partitioned by a uuid key and copy the rows into it, or convert the table before partitioning it.") :
					 errhint("Repartition \"%s\" by another column, then convert.", get_rel_name(c->relid))));
	}
}

/*
 * Refuse a converted column that takes part in an exclusion constraint:
 * its operator class would have to change with the type.
 */
static void
check_exclusion(CuTarget *t)
{
	ListCell   *lc;

	foreach(lc, converted_columns(t))
	{
		ConvertedColumn *c = lfirst(lc);

		if (column_query(c, "SELECT c.conname FROM pg_catalog.pg_constraint c "
						 "WHERE c.conrelid OPERATOR(pg_catalog.=) $1 AND c.contype OPERATOR(pg_catalog.=) 'x' "
						 "  AND $2 OPERATOR(pg_catalog.=) ANY (c.conkey) ORDER BY 1 LIMIT 1"))
			ereport(ERROR,
					(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
					 errmsg("exclusion constraint \"%s\" on table \"%s\" uses a column that would be converted",
							cu_spi_getstring(0, 1), cu_rel_qualname(c->relid)),
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

		if (fk->relid == t->relid || list_member_oid(done, fk->relid))
			continue;
		done = lappend_oid(done, fk->relid);
		cu_spi_select_oid("WITH RECURSIVE tree(relid) AS (SELECT $1 UNION ALL "
						  "  SELECT i.inhrelid FROM pg_catalog.pg_inherits i "
						  "  JOIN tree ON i.inhparent OPERATOR(pg_catalog.=) tree.relid) "
						  "SELECT p.relid::pg_catalog.regclass::pg_catalog.text, "
						  "       pg_catalog.quote_ident(pg_catalog.pg_get_userbyid(c.relowner)), "
						  "       pg_catalog.quote_ident(pg_catalog.pg_get_userbyid(r.relowner)) "
						  "FROM tree p "
						  "JOIN pg_catalog.pg_class c ON c.oid OPERATOR(pg_catalog.=) p.relid "
						  "JOIN pg_catalog.pg_class r ON r.oid OPERATOR(pg_catalog.=) $1 "
						  "WHERE c.relowner OPERATOR(pg_catalog.<>) r.relowner ORDER BY 1 LIMIT 1", fk->relid);
		if (SPI_processed > 0)
			ereport(ERROR,
					(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
					 errmsg("partition or child \"%s\" of table \"%s\" belongs to another role than the table",
							cu_spi_getstring(0, 1), cu_qualify(fk->nspname, fk->relname)),
					 errdetail("The rewrite of \"%s\" runs as its owner %s, so that the application's code in it never runs as the converting role, and it rewrites every partition and inheritance child; \"%s\" belongs to %s.",
							   cu_qualify(fk->nspname, fk->relname), cu_spi_getstring(0, 3),
							   cu_spi_getstring(0, 1), cu_spi_getstring(0, 2)),
					 errhint("ALTER TABLE %s OWNER TO %s, then convert.",
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

	cu_spi_select_oid("SELECT pg_catalog.format('%s %s %s', c.oid::pg_catalog.regclass, "
					  "         CASE WHEN c.relispartition THEN 'is a partition of' ELSE 'inherits from' END, "
					  "         i.inhparent::pg_catalog.regclass), "
					  "       c.relispartition "
					  "FROM pg_catalog.pg_class c JOIN pg_catalog.pg_inherits i ON i.inhrelid OPERATOR(pg_catalog.=) c.oid "
					  "WHERE c.oid OPERATOR(pg_catalog.=) $1 "
					  "UNION ALL SELECT pg_catalog.format('%s inherits from it', i.inhrelid::pg_catalog.regclass), false "
					  "FROM pg_catalog.pg_inherits i JOIN pg_catalog.pg_class c ON c.oid OPERATOR(pg_catalog.=) i.inhparent "
					  "WHERE i.inhparent OPERATOR(pg_catalog.=) $1 "
					  "  AND c.relkind OPERATOR(pg_catalog.<>) 'p' LIMIT 1", t->relid);
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
				 errhint("Convert the partitioned table instead.") :
				 errhint("Detach the inheritance (ALTER TABLE ... NO INHERIT), convert, then attach it again.")));
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
					 errhint("Drop that foreign key, convert, then create it again between columns of the same type.")));

		if (get_rel_relispartition(fk->relid))
			ereport(ERROR,
					(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
					 errmsg("foreign key \"%s\" is declared on partition \"%s\" only", fk->conname, rel),
					 errdetail("The column's type belongs to the partitioned table and cannot change in one partition."),
					 errhint("Declare the foreign key on the partitioned table (or drop it), then convert.")));
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
					 errhint("Change the column to %s first (ALTER TABLE %s ALTER COLUMN %s TYPE %s), convert, then add the checks back as table constraints.",
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

	if (opt->strategy != CU_STRATEGY_V7 || opt->ts_column == NULL)
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
					 errmsg_plural("%lld row of table \"%s\" has a value in \"%s\" that a version 7 uuid cannot hold",
								   "%lld rows of table \"%s\" have a value in \"%s\" that a version 7 uuid cannot hold",
								   (unsigned long) bad, (long long) bad, t->qualname, opt->ts_column),
					 bad == 1 ?
					 errdetail("Version 7 ids hold the milliseconds since 1970-01-01 in 48 bits; the value out of range is %s.",
							   cu_spi_getstring(0, 2)) :
					 errdetail("Version 7 ids hold the milliseconds since 1970-01-01 in 48 bits; the values out of range run from %s to %s.",
							   cu_spi_getstring(0, 2), cu_spi_getstring(0, 3)),
					 errhint("Correct those values (or set them to NULL: the conversion time is used), or choose another strategy.")));
	}
}

/*
 * Refuse Citus tables (pg_dist_partition, which only Citus, or a superuser
 * allowed to modify system tables, can create): their rows are in shards
 * on the workers, and Citus refuses a type change of a distribution column
 */
static void
check_citus(CuTarget *t)
{
	StringInfoData oids;
	ListCell   *lc;

	cu_spi_exec("SELECT pg_catalog.to_regclass('pg_catalog.pg_dist_partition') IS NOT NULL", SPI_OK_SELECT);
	if (strcmp(cu_spi_getstring(0, 1), "t") != 0)
		return;
	initStringInfo(&oids);
	appendStringInfo(&oids, "%u", t->relid);
	foreach(lc, t->fkeys)
		appendStringInfo(&oids, ", %u", ((CuForeignKey *) lfirst(lc))->relid);
	cu_spi_exec(psprintf("SELECT p.logicalrelid::pg_catalog.oid, p.partmethod::pg_catalog.text "
						 "FROM pg_catalog.pg_dist_partition p "
						 "WHERE p.logicalrelid::pg_catalog.oid IN (%s) ORDER BY 1 LIMIT 1", oids.data),
				SPI_OK_SELECT);
	if (SPI_processed > 0)
	{
		bool		isnull;
		Oid			relid = DatumGetObjectId(cu_spi_getdatum(0, 1, &isnull));
		char	   *method = cu_spi_getstring(0, 2);

		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("table \"%s\" is a Citus %s table", get_rel_name(relid),
						strcmp(method, "n") == 0 ? "reference or local" : "distributed"),
				 errdetail("Citus keeps its rows in shards on the worker nodes, where this extension does not run, "
						   "and does not change the type of a distribution column in place."),
				 errhint("Bring the tables back to the coordinator with undistribute_table() (the referencing tables first), "
						 "convert there, and distribute them again (see the README, \"Citus\").")));
	}
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
							  cu_extension_qual("connector_uuid_tables")),
					 SPI_OK_SELECT, 2, argtypes, values, NULL);
	if (SPI_processed > 0)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("table \"%s\" was converted under the name \"%s\"", t->qualname, cu_spi_getstring(0, 1)),
				 errdetail("Its id map is recorded under that name."),
				 errhint("Rename it back (ALTER TABLE %s RENAME TO ...; ALTER TABLE ... SET SCHEMA ...), revert, then rename it again.",
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
	CuStrategy	earlier;

	if (plan->table_id == 0)
		return;
	earlier = cu_registry_strategy(plan->table_id);
	if (earlier == CU_STRATEGY_NONE || earlier == opt->strategy)
		return;
	if (opt->strategy_given)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("table \"%s\" was converted before with strategy %s", plan->target->qualname,
						cu_strategy_name(earlier)),
				 errdetail("Converting it again gives every row the uuid it had then, so its ids would not be %s ids.",
						   cu_strategy_name(opt->strategy)),
				 errhint("Convert with strategy => '%s'.  To make new %s ids instead (the uuids of the earlier conversion are then lost), "
						 "delete the table's rows from connector_uuid_map and connector_uuid_tables first.",
						 cu_strategy_name(earlier), cu_strategy_name(opt->strategy))));
	plan->notes = lappend(plan->notes,
						  psprintf("%s was converted before with strategy %s: its rows get the uuids they had then, and new rows %s ids",
								   plan->target->qualname, cu_strategy_name(earlier), cu_strategy_name(earlier)));
	opt->strategy = earlier;
	plan->strategy = earlier;
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
			cu_registry_column_type(plan->table_id, fk, keytype) : keytype;
		cols = lappend(cols, col);
	}
	cu_probe_type_change(cols);
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
		bool		derivable = plan->strategy == CU_STRATEGY_V4 &&
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
								  cu_extension_qual("connector_uuid_map"), cu_extension_qual("connector_uuid_tables")),
						 SPI_OK_SELECT, 1, argtypes, values, NULL);
		mapped = cu_spi_getint64(0, 1, &isnull);
		cu_enter(&cx, cu_rel_owner(t->relid), SECURITY_RESTRICTED_OPERATION);
		/* (OFFSET 0: each row's integer is computed once, not per aggregate) */
		cu_spi_exec_args(psprintf("SELECT pg_catalog.count(*) FILTER (WHERE s.n IS NULL), %s "
								  "FROM (SELECT %s(t.%s, $1, true) AS n FROM %s t OFFSET 0) s",
								  derivable ? "pg_catalog.max(s.n)" : "NULL::pg_catalog.int8",
								  cu_extension_qual("connector_uuid_to_int"), pk, t->qualname),
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
			 count == 1 ?
			 errdetail("The revert gives it id %lld, after the highest id the table has had (%lld), but %s holds values up to %lld.",
					   (long long) (base < PG_INT64_MAX ? base + 1 : base),
					   (long long) base,
					   narrow ? narrow : by_sequence ? "the sequence" : format_type_be(plan->int_type), (long long) limit) :
			 errdetail("The revert numbers them from %lld to %lld, after the highest id the table has had (%lld), but %s holds values up to %lld.",
					   (long long) (base < PG_INT64_MAX ? base + 1 : base),
					   (long long) (count > PG_INT64_MAX - base ? PG_INT64_MAX : base + count),
					   (long long) base,
					   narrow ? narrow : by_sequence ? "the sequence" : format_type_be(plan->int_type), (long long) limit),
			 (plan->int_type != INT8OID || narrow) ?
			 errhint("SET connector_uuid.revert_to_bigint = on to revert column \"%s\" and the columns referencing it to bigint (with a bigint sequence or identity) instead, or delete those rows.",
					 t->pkattname) :
			 errhint("Raise the sequence's MAXVALUE (ALTER SEQUENCE ... MAXVALUE), or delete those rows.")));
}

/*
 * The state of the tables: refuse a referencing column of a domain type,
 * and tables half converted.  Sets plan->state, and plan->adopt when the
 * tables are already in the state the conversion goes to; *detail says
 * which column has which type.
 */
void
cu_preflight_state(CuPlan *plan, char **detail)
{
	CuTarget   *t = plan->target;

	check_domains(t);
	plan->state = cu_table_state(t, detail);
	if (plan->state == CU_STATE_MIXED)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("table \"%s\" and the tables referencing it are half converted", t->qualname),
				 errdetail("%s.", *detail),
				 errhint("Bring every one of those columns to the same type (all integer or all uuid), then try again.")));
	plan->adopt = (plan->direction == CU_TO_UUID && plan->state == CU_STATE_UUID) ||
		(plan->direction == CU_TO_INT && plan->state == CU_STATE_INTEGER);
}

/*
 * Privileges: the converting role owns every table it rewrites, and has
 * the grants privcheck.c lists.  Setting a foreign key's triggers' state
 * again takes a superuser.
 */
void
cu_preflight_owners(CuPlan *plan)
{
	CuTarget   *t = plan->target;
	ListCell   *lc;

	cu_check_owner(t->relid);
	foreach(lc, t->leaves)
		cu_check_owner(((CuLeaf *) lfirst(lc))->relid);
	foreach(lc, t->fkeys)
	{
		CuForeignKey *fk = lfirst(lc);

		cu_check_owner(fk->relid);
		if (fk->triggers != NIL && !superuser())
			ereport(ERROR,
					(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
					 errmsg("foreign key \"%s\" on table \"%s\" has disabled triggers",
							fk->conname, cu_qualify(fk->nspname, fk->relname)),
					 errdetail("The foreign key is dropped and added again, and only a superuser can disable the new one's triggers as the old ones were."),
					 errhint("Run the conversion as a superuser, or enable the triggers (ALTER TABLE ... ENABLE TRIGGER ALL) first.")));
	}
	cu_check_privileges(plan);
}

/*
 * What the registry says against the conversion (plan->table_id is the
 * table's registry id, 0 if none): a revert needs an id map (or
 * connector_uuid.allow_renumber), a table renamed since its conversion is
 * named, and a reconversion keeps its earlier strategy.
 */
void
cu_preflight_registry(CuPlan *plan)
{
	CuTarget   *t = plan->target;

	if (plan->direction == CU_TO_INT && plan->table_id == 0)
	{
		check_renamed(t);
		if (!cu_allow_renumber)
			ereport(ERROR,
					(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
					 errmsg("there is no id map for table \"%s\"", t->qualname),
					 errdetail("These tables were not converted by connector_uuid (or its map was not restored), so their original integer ids are unknown."),
					 errhint("To give every row a new integer id instead, SET connector_uuid.allow_renumber = on and try again.")));
	}
	if (plan->direction == CU_TO_UUID)
	{
		Oid			seqrelid;

		/* a default the registry cannot record as a fact is refused */
		(void) cu_registry_default_kind(t, &seqrelid);
		check_earlier_strategy(plan);
	}
}

/*
 * The rows and shapes of the tables: orphaned references, exclusion
 * constraints and partition keys on converted columns, inheritance and
 * foreign keys the conversion cannot follow, partitions owned by another
 * role, what a partitioned key table's rebuild cannot carry over
 * (partition.c), the dry run of the type changes (probe.c), and the v7
 * strategy's timestamp column.
 */
void
cu_preflight_tables(CuPlan *plan)
{
	CuTarget   *t = plan->target;
	ListCell   *lc;

	foreach(lc, t->fkeys)
		check_orphans(t, (CuForeignKey *) lfirst(lc));
	check_exclusion(t);
	check_partition_keys(t);
	check_references(t);
	check_partition_owners(t);
	check_citus(t);
	cu_partition_check(plan);
	check_expressions(plan);
	if (plan->direction == CU_TO_UUID)
		check_timestamp_column(t, plan->options);
}

/*
 * Once the steps are planned: tables in logical replication, refused or
 * checked against the procedure (replication.c), which says so in notes
 */
void
cu_preflight_steps(CuPlan *plan)
{
	plan->notes = list_concat(plan->notes, cu_replication_check(plan));
}
