/*-------------------------------------------------------------------------
 *
 * discover.c
 *	  Discovery: the primary key of the table to convert, its sequence and
 *	  default, every foreign key that references it (with the states of its
 *	  triggers), and the state the tables are in (integer, uuid, or half
 *	  converted).
 *
 * Nothing here changes anything.  Everything is read from pg_constraint,
 * pg_attribute, pg_attrdef and pg_depend through SPI, so a renamed
 * constraint or an extra index changes nothing.  Callers are connected to
 * SPI and run under cu_safe_search_path(), so the expressions read back with
 * pg_get_expr() come out fully qualified.
 *
 * IDENTIFICATION
 *	  src/discover.c
 *
 *-------------------------------------------------------------------------
 */
#include "catalog.h"
#include "spi_util.h"

#include "catalog/pg_class.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"

/*
 * The referencing foreign keys, as a WHERE clause over pg_constraint c with
 * $1 = the key table and $2 = its key column: the top-level constraints
 * only (a partition's clone follows its parent's), shared by the query of
 * the foreign keys and that of their triggers so both see the same set.
 */
#define REFERENCING_FKEYS \
	"c.contype OPERATOR(pg_catalog.=) 'f' AND c.confrelid OPERATOR(pg_catalog.=) $1 " \
	"  AND c.conparentid OPERATOR(pg_catalog.=) 0 " \
	"  AND $2 OPERATOR(pg_catalog.=) ANY (c.confkey) "

/* The table's names; refuses what is not a table (before any SPI) */
static void
discover_table(CuTarget *t, Oid relid)
{
	char		relkind = get_rel_relkind(relid);

	if (relkind == '\0')
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_TABLE),
				 errmsg("relation with OID %u does not exist", relid)));
	t->relid = relid;
	t->relname = get_rel_name(relid);
	t->nspname = get_namespace_name(get_rel_namespace(relid));
	t->qualname = cu_qualify(t->nspname, t->relname);
	if (relkind != RELKIND_RELATION && relkind != RELKIND_PARTITIONED_TABLE)
		ereport(ERROR,
				(errcode(ERRCODE_WRONG_OBJECT_TYPE),
				 errmsg("\"%s\" is not a table", t->qualname)));
}

/* The primary key: the conversion needs one, of one column */
static void
discover_primary_key(CuTarget *t, MemoryContext outer)
{
	Oid			argtypes[1] = {OIDOID};
	Datum		values[1];
	bool		isnull;

	values[0] = ObjectIdGetDatum(t->relid);
	cu_spi_exec_args("SELECT c.oid, c.conname, pg_catalog.array_length(c.conkey, 1), c.conkey[1] "
					 "FROM pg_catalog.pg_constraint c "
					 "WHERE c.conrelid OPERATOR(pg_catalog.=) $1 AND c.contype OPERATOR(pg_catalog.=) 'p'",
					 SPI_OK_SELECT, 1, argtypes, values, NULL);
	if (SPI_processed == 0)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("table \"%s\" has no primary key", t->qualname),
				 errdetail("The conversion rewrites the primary key column and the foreign keys that reference it."),
				 errhint("Restore the primary key, then try again.")));
	t->pkconoid = (Oid) cu_spi_getint64(0, 1, &isnull);
	t->pkconname = MemoryContextStrdup(outer, cu_spi_getstring(0, 2));
	if (cu_spi_getint64(0, 3, &isnull) != 1)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("primary key \"%s\" of table \"%s\" has more than one column",
						t->pkconname, t->qualname),
				 errdetail("Only single-column primary keys can be converted to UUID.")));
	t->pkattnum = (AttrNumber) cu_spi_getint64(0, 4, &isnull);
}

/*
 * The key column: its name, its type (an integer to convert, or a uuid to
 * revert), its identity and its default, read back fully qualified
 */
static void
discover_key_column(CuTarget *t, MemoryContext outer)
{
	Oid			argtypes[2] = {OIDOID, INT2OID};
	Datum		values[2];
	bool		isnull;
	char	   *ident;
	char	   *def;

	values[0] = ObjectIdGetDatum(t->relid);
	values[1] = Int16GetDatum(t->pkattnum);
	cu_spi_exec_args("SELECT a.attname, a.atttypid, a.attidentity, "
					 "       pg_catalog.pg_get_expr(d.adbin, d.adrelid) "
					 "FROM pg_catalog.pg_attribute a "
					 "LEFT JOIN pg_catalog.pg_attrdef d "
					 "  ON d.adrelid OPERATOR(pg_catalog.=) a.attrelid AND d.adnum OPERATOR(pg_catalog.=) a.attnum "
					 "WHERE a.attrelid OPERATOR(pg_catalog.=) $1 AND a.attnum OPERATOR(pg_catalog.=) $2",
					 SPI_OK_SELECT, 2, argtypes, values, NULL);
	t->pkattname = MemoryContextStrdup(outer, cu_spi_getstring(0, 1));
	t->pktypid = (Oid) cu_spi_getint64(0, 2, &isnull);
	ident = cu_spi_getstring(0, 3);
	t->identity = (ident && ident[0]) ? ident[0] : '\0';
	def = cu_spi_getstring(0, 4);
	t->default_expr = def ? MemoryContextStrdup(outer, def) : NULL;
	if (!cu_is_integer_type(t->pktypid) && t->pktypid != UUIDOID)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("primary key column \"%s\" of table \"%s\" is of type %s",
						t->pkattname, t->qualname, format_type_be(t->pktypid)),
				 errdetail("Only smallint, integer and bigint keys can be converted to UUID.")));
}

/*
 * The sequence the key column owns (serial or identity), if any: a
 * conversion drops it and a revert puts it back where it stood
 */
static void
discover_owned_sequence(CuTarget *t, MemoryContext outer)
{
	Oid			argtypes[2] = {OIDOID, INT2OID};
	Datum		values[2];
	bool		isnull;

	values[0] = ObjectIdGetDatum(t->relid);
	values[1] = Int16GetDatum(t->pkattnum);
	cu_spi_exec_args("SELECT s.oid, n.nspname, s.relname "
					 "FROM pg_catalog.pg_depend d "
					 "JOIN pg_catalog.pg_class s ON s.oid OPERATOR(pg_catalog.=) d.objid "
					 "JOIN pg_catalog.pg_namespace n ON n.oid OPERATOR(pg_catalog.=) s.relnamespace "
					 "WHERE d.classid OPERATOR(pg_catalog.=) 'pg_catalog.pg_class'::pg_catalog.regclass "
					 "  AND d.refclassid OPERATOR(pg_catalog.=) 'pg_catalog.pg_class'::pg_catalog.regclass "
					 "  AND d.refobjid OPERATOR(pg_catalog.=) $1 AND d.refobjsubid OPERATOR(pg_catalog.=) $2 "
					 "  AND s.relkind OPERATOR(pg_catalog.=) 'S' AND d.deptype IN ('a', 'i')",
					 SPI_OK_SELECT, 2, argtypes, values, NULL);
	if (SPI_processed > 0)
	{
		t->seqrelid = (Oid) cu_spi_getint64(0, 1, &isnull);
		t->seqqualname = MemoryContextStrdup(outer,
											 cu_qualify(cu_spi_getstring(0, 2),
														cu_spi_getstring(0, 3)));
	}
}

/*
 * One row of discover_foreign_keys()' query as a CuForeignKey, palloc'd in
 * the current context; refuses a key of more than one column
 */
static CuForeignKey *
read_foreign_key(CuTarget *t, uint64 row)
{
	CuForeignKey *fk = palloc0(sizeof(CuForeignKey));
	bool		isnull;

	fk->conoid = (Oid) cu_spi_getint64(row, 1, &isnull);
	fk->relid = (Oid) cu_spi_getint64(row, 2, &isnull);
	fk->nspname = pstrdup(cu_spi_getstring(row, 3));
	fk->relname = pstrdup(cu_spi_getstring(row, 4));
	fk->conname = pstrdup(cu_spi_getstring(row, 5));
	fk->attnum = (AttrNumber) cu_spi_getint64(row, 6, &isnull);
	fk->attname = pstrdup(cu_spi_getstring(row, 7));
	fk->atttypid = (Oid) cu_spi_getint64(row, 8, &isnull);
	fk->upd_action = cu_spi_getstring(row, 9)[0];
	fk->del_action = cu_spi_getstring(row, 10)[0];
	fk->orig_del_action = fk->del_action;
	fk->match_type = cu_spi_getstring(row, 11)[0];
	fk->deferrable = cu_spi_getbool(row, 12, &isnull);
	fk->deferred = cu_spi_getbool(row, 13, &isnull);
	fk->validated = cu_spi_getbool(row, 14, &isnull);
	if (cu_spi_getint64(row, 15, &isnull) != 1)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("foreign key \"%s\" on table \"%s\" has more than one column",
						fk->conname, cu_qualify(fk->nspname, fk->relname)),
				 errdetail("Only single-column foreign keys to \"%s\" can be converted.",
						   t->qualname)));
	fk->comment = cu_spi_getstring(row, 17);
	fk->set_columns = cu_spi_getstring(row, 18);
	return fk;
}

/*
 * Every foreign key that references the key (t->fkeys, by referencing
 * table and name): each is dropped and added again around the rewrites,
 * so everything needed to add it back as it was is read here
 */
static void
discover_foreign_keys(CuTarget *t, MemoryContext outer)
{
	Oid			argtypes[2] = {OIDOID, INT2OID};
	Datum		values[2];
	uint64		i;

	values[0] = ObjectIdGetDatum(t->relid);
	values[1] = Int16GetDatum(t->pkattnum);
	cu_spi_exec_args("SELECT c.oid, c.conrelid, n.nspname, r.relname, c.conname, "
					 "       c.conkey[1], a.attname, a.atttypid, c.confupdtype, c.confdeltype, "
					 "       c.confmatchtype, c.condeferrable, c.condeferred, c.convalidated, "
					 "       pg_catalog.array_length(c.conkey, 1), c.confkey[1], "
					 "       pg_catalog.obj_description(c.oid, 'pg_constraint'), "
#if PG_VERSION_NUM >= 150000
					 "       (SELECT pg_catalog.string_agg(pg_catalog.quote_ident(sa.attname), ', ' ORDER BY u.o) "
					 "        FROM pg_catalog.unnest(c.confdelsetcols) WITH ORDINALITY u(n, o) "
					 "        JOIN pg_catalog.pg_attribute sa ON sa.attrelid OPERATOR(pg_catalog.=) c.conrelid "
					 "          AND sa.attnum OPERATOR(pg_catalog.=) u.n) "
#else
					 "       NULL::pg_catalog.text "
#endif
					 "FROM pg_catalog.pg_constraint c "
					 "JOIN pg_catalog.pg_class r ON r.oid OPERATOR(pg_catalog.=) c.conrelid "
					 "JOIN pg_catalog.pg_namespace n ON n.oid OPERATOR(pg_catalog.=) r.relnamespace "
					 "JOIN pg_catalog.pg_attribute a ON a.attrelid OPERATOR(pg_catalog.=) c.conrelid "
					 "  AND a.attnum OPERATOR(pg_catalog.=) c.conkey[1] "
					 "WHERE " REFERENCING_FKEYS
					 "ORDER BY c.conrelid, c.conname",
					 SPI_OK_SELECT, 2, argtypes, values, NULL);
	for (i = 0; i < SPI_processed; i++)
	{
		MemoryContext old = MemoryContextSwitchTo(outer);

		t->fkeys = lappend(t->fkeys, read_foreign_key(t, i));
		MemoryContextSwitchTo(old);
	}
}

/* The foreign key of t->fkeys with constraint OID conoid, or NULL */
static CuForeignKey *
find_foreign_key(CuTarget *t, Oid conoid)
{
	ListCell   *lc;

	foreach(lc, t->fkeys)
	{
		CuForeignKey *fk = lfirst(lc);

		if (fk->conoid == conoid)
			return fk;
	}
	return NULL;
}

/*
 * The triggers of those foreign keys whose state is not the default
 * (enabled): a DBA may have disabled them, and the foreign key added again
 * must get the same states (fk->triggers, one CuFkTrigger a row).  Ordered
 * by function, so the plan lists the referencing table's checks first.
 */
static void
discover_fk_triggers(CuTarget *t, MemoryContext outer)
{
	Oid			argtypes[2] = {OIDOID, INT2OID};
	Datum		values[2];
	bool		isnull;
	uint64		i;

	if (t->fkeys == NIL)
		return;
	values[0] = ObjectIdGetDatum(t->relid);
	values[1] = Int16GetDatum(t->pkattnum);
	cu_spi_exec_args("SELECT g.tgconstraint, g.tgrelid, n.nspname, r.relname, g.tgfoid, g.tgtype, g.tgenabled "
					 "FROM pg_catalog.pg_trigger g "
					 "JOIN pg_catalog.pg_constraint c ON c.oid OPERATOR(pg_catalog.=) g.tgconstraint "
					 "JOIN pg_catalog.pg_class r ON r.oid OPERATOR(pg_catalog.=) g.tgrelid "
					 "JOIN pg_catalog.pg_namespace n ON n.oid OPERATOR(pg_catalog.=) r.relnamespace "
					 "WHERE " REFERENCING_FKEYS
					 "  AND g.tgenabled OPERATOR(pg_catalog.<>) 'O' "
					 "ORDER BY g.tgconstraint, g.tgfoid, g.tgrelid, g.tgtype, g.oid",
					 SPI_OK_SELECT, 2, argtypes, values, NULL);
	for (i = 0; i < SPI_processed; i++)
	{
		CuForeignKey *fk = find_foreign_key(t, (Oid) cu_spi_getint64(i, 1, &isnull));
		CuFkTrigger *trig;
		MemoryContext old;

		/* (a foreign key added since the query of the keys is not ours) */
		if (fk == NULL)
			continue;
		old = MemoryContextSwitchTo(outer);
		trig = palloc0(sizeof(CuFkTrigger));
		trig->relid = (Oid) cu_spi_getint64(i, 2, &isnull);
		trig->nspname = cu_spi_getstring(i, 3);
		trig->relname = cu_spi_getstring(i, 4);
		trig->funcid = (Oid) cu_spi_getint64(i, 5, &isnull);
		trig->tgtype = (int16) cu_spi_getint64(i, 6, &isnull);
		trig->enabled = cu_spi_getstring(i, 7)[0];
		fk->triggers = lappend(fk->triggers, trig);
		MemoryContextSwitchTo(old);
	}
}

/* The table's row estimate and total size, for the plan */
static void
discover_size(CuTarget *t)
{
	Oid			argtypes[1] = {OIDOID};
	Datum		values[1];
	bool		isnull;

	values[0] = ObjectIdGetDatum(t->relid);
	cu_spi_exec_args("SELECT c.reltuples::pg_catalog.int8, pg_catalog.pg_total_relation_size(c.oid) "
					 "FROM pg_catalog.pg_class c WHERE c.oid OPERATOR(pg_catalog.=) $1",
					 SPI_OK_SELECT, 1, argtypes, values, NULL);
	t->reltuples = (double) cu_spi_getint64(0, 1, &isnull);
	t->total_bytes = cu_spi_getint64(0, 2, &isnull);
}

/*
 * Discover everything about converting relid's primary key.  Refuses up
 * front what the engine cannot do, before anything has changed.  The result
 * is palloc'd in the caller's memory context: SPI switches to its own after
 * every query, so each step copies what it keeps into outer.
 */
CuTarget *
cu_discover(Oid relid)
{
	MemoryContext outer = CurrentMemoryContext;
	CuTarget   *t = palloc0(sizeof(CuTarget));

	discover_table(t, relid);
	discover_primary_key(t, outer);
	discover_key_column(t, outer);
	discover_owned_sequence(t, outer);
	discover_foreign_keys(t, outer);
	discover_fk_triggers(t, outer);
	discover_size(t);
	return t;
}

/*
 * The state of the key and every reference to it (the connector's expected
 * child columns are among target->fkeys even when their foreign key was
 * dropped): integer, uuid, or mixed.  *detail says which column has which
 * type.
 */
CuTableState
cu_table_state(CuTarget *target, char **detail)
{
	int			nint = 0,
				nuuid = 0;
	StringInfoData buf;
	ListCell   *lc;

	if (target == NULL)
		return CU_STATE_MISSING;

	initStringInfo(&buf);
	appendStringInfo(&buf, "%s.%s is %s", target->relname, target->pkattname,
					 format_type_be(target->pktypid));
	if (cu_is_integer_type(target->pktypid))
		nint++;
	else
		nuuid++;

	foreach(lc, target->fkeys)
	{
		CuForeignKey *fk = lfirst(lc);

		appendStringInfo(&buf, ", %s.%s is %s", fk->relname, fk->attname,
						 format_type_be(fk->atttypid));
		if (cu_is_integer_type(fk->atttypid))
			nint++;
		else if (fk->atttypid == UUIDOID)
			nuuid++;
		else
			nint = nuuid = -1000;	/* neither: always mixed */
	}
	if (detail)
		*detail = buf.data;
	if (nint > 0 && nuuid == 0)
		return CU_STATE_INTEGER;
	if (nuuid > 0 && nint == 0)
		return CU_STATE_UUID;
	return CU_STATE_MIXED;
}
