/*-------------------------------------------------------------------------
 *
 * twins.c
 *	  What the online mode adds beside the tables' own objects: the twin
 *	  of each converted column, of the key constraint, of every index on a
 *	  converted column and of every foreign key, found by name.
 *
 * A twin has its original's name with a suffix: "_uuid" while the integer
 * side is the key (1.0), "_int" once the uuid side is (after the swap, the
 * integer objects carry the suffix and the uuid ones the original names,
 * so every name is the one the offline mode leaves).  Names are clipped to
 * NAMEDATALEN - 1 bytes before the suffix, on a character boundary, as
 * PostgreSQL clips the names it makes.  The list is read from the catalogs
 * each time, from the side that is the key now; nothing of it is stored.
 *
 * Preparing also needs the statements that build the twins, and refuses
 * what the online mode cannot carry over by name alone (see
 * cu_twins_refuse): those are made here too, from the catalogs.
 *
 * IDENTIFICATION
 *	  src/twins.c
 *
 *-------------------------------------------------------------------------
 */
#include "online.h"
#include "registry.h"
#include "spi_util.h"

#include "access/htup_details.h"
#include "catalog/pg_index.h"
#include "catalog/pg_opclass.h"
#include "catalog/pg_type.h"
#include "commands/defrem.h"
#include "executor/spi.h"
#include "mb/pg_wchar.h"
#include "nodes/nodeFuncs.h"
#include "optimizer/optimizer.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/syscache.h"

/* base with suffix, clipped to fit a name */
char *
cu_twin_name(const char *base, const char *suffix)
{
	int			room = NAMEDATALEN - 1 - (int) strlen(suffix);
	int			len = pg_mbcliplen(base, (int) strlen(base), room);

	return psprintf("%.*s%s", len, base, suffix);
}

/* The twin column of column attname, on the side opposite the key now */
char *
cu_twin_column(CuOnline *o, const char *attname)
{
	return cu_twin_name(attname, o->suffix);
}

/*
 * The name of the check that keeps a referencing table's column attname
 * and its uuid twin NULL together (the same before and after the swap)
 */
char *
cu_sync_check_name(const char *relname, const char *attname)
{
	return cu_twin_name(psprintf("%s_%s", relname, cu_twin_name(attname, "_uuid")), "_sync");
}

static CuTwin *
add_twin(CuOnline *o, CuTwinKind kind, Oid relid, const char *attname, const char *base, Oid oid)
{
	CuTwin	   *tw = palloc0(sizeof(CuTwin));

	tw->kind = kind;
	tw->relid = relid;
	tw->nspname = get_namespace_name(get_rel_namespace(relid));
	tw->relname = get_rel_name(relid);
	tw->attname = pstrdup(attname);
	tw->base = pstrdup(base);
	tw->twin = cu_twin_name(base, o->suffix);
	tw->oid = oid;
	o->twins = lappend(o->twins, tw);
	return tw;
}

/*
 * The statement that builds the twin of index indexoid (an index of relid
 * with converted column attnum among its columns) on the twin column, with
 * CREATE INDEX CONCURRENTLY; or an error for an index whose expressions or
 * predicate use the column (its twin cannot be written by name).
 */
static char *
index_twin_sql(CuOnline *o, Oid relid, Oid indexoid, AttrNumber attnum, const char *twinname)
{
	HeapTuple	tup = SearchSysCache1(INDEXRELID, ObjectIdGetDatum(indexoid));
	Form_pg_index ind;
	bool		isnull;
	Datum		d;
	Bitmapset  *used = NULL;
	StringInfoData buf;
	int			i;
	oidvector  *indclass;
	int2vector *indoption;
	char	   *pred = NULL;
	char	   *amname;
	char	   *opts;

	if (!HeapTupleIsValid(tup))
		elog(ERROR, "cache lookup failed for index %u", indexoid);
	ind = (Form_pg_index) GETSTRUCT(tup);
	d = SysCacheGetAttr(INDEXRELID, tup, Anum_pg_index_indexprs, &isnull);
	if (!isnull)
		pull_varattnos(stringToNode(TextDatumGetCString(d)), 1, &used);
	d = SysCacheGetAttr(INDEXRELID, tup, Anum_pg_index_indpred, &isnull);
	if (!isnull)
	{
		pull_varattnos(stringToNode(TextDatumGetCString(d)), 1, &used);
		cu_spi_select_oid("SELECT pg_catalog.pg_get_expr(i.indpred, i.indrelid) FROM pg_catalog.pg_index i "
						  "WHERE i.indexrelid OPERATOR(pg_catalog.=) $1", indexoid);
		pred = cu_spi_getstring(0, 1);
	}
	if (bms_is_member(attnum - FirstLowInvalidHeapAttributeNumber, used))
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("index \"%s\" uses column %s of table \"%s\" in an expression or predicate",
						get_rel_name(indexoid), get_attname(relid, attnum, false), get_rel_name(relid)),
				 errdetail("The online mode builds a twin of every index on a converted column, and cannot rewrite expressions."),
				 errhint("Use the offline mode (ALTER EXTENSION connector_uuid UPDATE without prepare), or drop the index first.")));

	indclass = (oidvector *) DatumGetPointer(SysCacheGetAttr(INDEXRELID, tup, Anum_pg_index_indclass, &isnull));
	indoption = (int2vector *) DatumGetPointer(SysCacheGetAttr(INDEXRELID, tup, Anum_pg_index_indoption, &isnull));
	cu_spi_select_oid("SELECT a.amname, pg_catalog.array_to_string(c.reloptions, ', ') "
					  "FROM pg_catalog.pg_class c JOIN pg_catalog.pg_am a ON a.oid OPERATOR(pg_catalog.=) c.relam "
					  "WHERE c.oid OPERATOR(pg_catalog.=) $1", indexoid);
	amname = cu_spi_getstring(0, 1);
	opts = cu_spi_getstring(0, 2);

	initStringInfo(&buf);
	appendStringInfo(&buf, "CREATE %sINDEX CONCURRENTLY %s ON %s USING %s (",
					 ind->indisunique ? "UNIQUE " : "", quote_identifier(twinname),
					 cu_qualify(get_namespace_name(get_rel_namespace(relid)), get_rel_name(relid)),
					 quote_identifier(amname));
	for (i = 0; i < ind->indnatts; i++)
	{
		AttrNumber	k = ind->indkey.values[i];
		bool		converted = (k == attnum);
		char	   *col;

		if (i == ind->indnkeyatts)
			appendStringInfoString(&buf, ") INCLUDE (");
		else if (i > 0)
			appendStringInfoString(&buf, ", ");
		if (k == 0)
			ereport(ERROR,
					(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
					 errmsg("index \"%s\" of table \"%s\" has an expression column",
							get_rel_name(indexoid), get_rel_name(relid)),
					 errdetail("The online mode builds a twin of every index on a converted column from its columns."),
					 errhint("Use the offline mode, or drop the index first.")));
		col = get_attname(relid, k, false);
		appendStringInfoString(&buf, quote_identifier(converted ? cu_twin_column(o, col) : col));
		if (i >= ind->indnkeyatts)
			continue;
		/* a column's own opclass, unless it is its type's default */
		if (!converted &&
			indclass->values[i] != GetDefaultOpClass(get_atttype(relid, k), cu_rel_am(indexoid)))
		{
			HeapTuple	optup = SearchSysCache1(CLAOID, ObjectIdGetDatum(indclass->values[i]));
			Form_pg_opclass opc;

			if (!HeapTupleIsValid(optup))
				elog(ERROR, "cache lookup failed for operator class %u", indclass->values[i]);
			opc = (Form_pg_opclass) GETSTRUCT(optup);
			appendStringInfo(&buf, " %s", cu_qualify(get_namespace_name(opc->opcnamespace),
													 NameStr(opc->opcname)));
			ReleaseSysCache(optup);
		}
		if (indoption->values[i] & INDOPTION_DESC)
			appendStringInfoString(&buf, (indoption->values[i] & INDOPTION_NULLS_FIRST) ? " DESC" : " DESC NULLS LAST");
		else if (indoption->values[i] & INDOPTION_NULLS_FIRST)
			appendStringInfoString(&buf, " NULLS FIRST");
	}
	appendStringInfoChar(&buf, ')');
#if PG_VERSION_NUM >= 150000
	if (ind->indnullsnotdistinct)
		appendStringInfoString(&buf, " NULLS NOT DISTINCT");
#endif
	if (opts)
		appendStringInfo(&buf, " WITH (%s)", opts);
	if (pred)
		appendStringInfo(&buf, " WHERE %s", pred);
	ReleaseSysCache(tup);
	return buf.data;
}

/*
 * The indexes of relid that have column attnum among their columns and
 * back no constraint: each gets a twin
 */
static void
index_twins(CuOnline *o, Oid relid, const char *attname, AttrNumber attnum, bool build)
{
	Oid			argtypes[2] = {OIDOID, INT2OID};
	Datum		values[2];
	uint64		i,
				n;
	List	   *oids = NIL;
	List	   *names = NIL;
	ListCell   *lc,
			   *lc2;

	values[0] = ObjectIdGetDatum(relid);
	values[1] = Int16GetDatum(attnum);
	cu_spi_exec_args("SELECT i.indexrelid, c.relname FROM pg_catalog.pg_index i "
					 "JOIN pg_catalog.pg_class c ON c.oid OPERATOR(pg_catalog.=) i.indexrelid "
					 "WHERE i.indrelid OPERATOR(pg_catalog.=) $1 "
					 "  AND $2 OPERATOR(pg_catalog.=) ANY (i.indkey::pg_catalog.int2[]) "
					 "  AND NOT EXISTS (SELECT FROM pg_catalog.pg_constraint k "
					 "                   WHERE k.conindid OPERATOR(pg_catalog.=) i.indexrelid "
					 "                     AND k.conrelid OPERATOR(pg_catalog.=) i.indrelid) "
					 "ORDER BY c.relname",
					 SPI_OK_SELECT, 2, argtypes, values, NULL);
	n = SPI_processed;
	for (i = 0; i < n; i++)
	{
		bool		isnull;

		oids = lappend_oid(oids, (Oid) cu_spi_getint64(i, 1, &isnull));
		names = lappend(names, cu_spi_getstring(i, 2));
	}
	forboth(lc, oids, lc2, names)
	{
		const char *name = lfirst(lc2);

		add_twin(o, CU_TWIN_INDEX, relid, attname, name, lfirst_oid(lc))->create_sql =
			build ? index_twin_sql(o, relid, lfirst_oid(lc), attnum,
								   cu_twin_name(name, o->suffix)) : NULL;
	}
}

/* The statement that adds the twin of foreign key fk, NOT VALID */
static char *
fkey_twin_sql(CuOnline *o, CuForeignKey *fk, const char *twinname)
{
	CuTarget   *t = o->target;
	StringInfoData buf;

	initStringInfo(&buf);
	appendStringInfo(&buf, "ALTER TABLE %s ADD CONSTRAINT %s FOREIGN KEY (%s) REFERENCES %s (%s)",
					 cu_qualify(fk->nspname, fk->relname), quote_identifier(twinname),
					 quote_identifier(cu_twin_column(o, fk->attname)), t->qualname,
					 quote_identifier(cu_twin_column(o, t->pkattname)));
	if (fk->match_type == 'f')
		appendStringInfoString(&buf, " MATCH FULL");
	appendStringInfo(&buf, " ON UPDATE %s ON DELETE %s",
					 cu_fk_action_sql(fk->upd_action), cu_fk_action_sql(fk->del_action));
	if (fk->deferrable)
		appendStringInfo(&buf, " DEFERRABLE INITIALLY %s", fk->deferred ? "DEFERRED" : "IMMEDIATE");
	appendStringInfoString(&buf, " NOT VALID");
	return buf.data;
}

/*
 * The online picture of target: its tables (the key table first, then the
 * referencing tables by OID) and the twins of their objects.  swapped: the
 * uuid side is the key now.  build: also the statements that build the
 * twins (prepare).
 */
CuOnline *
cu_online_picture(CuTarget *t, int table_id, bool swapped, bool build)
{
	CuOnline   *o = palloc0(sizeof(CuOnline));
	ListCell   *lc;

	o->target = t;
	o->table_id = table_id;
	o->swapped = swapped;
	o->suffix = swapped ? "_int" : "_uuid";
	o->other_suffix = swapped ? "_uuid" : "_int";

	o->relids = list_make1_oid(t->relid);
	add_twin(o, CU_TWIN_COLUMN, t->relid, t->pkattname, t->pkattname, InvalidOid);
	add_twin(o, CU_TWIN_KEY, t->relid, t->pkattname, t->pkconname, t->pkconoid);
	index_twins(o, t->relid, t->pkattname, t->pkattnum, build);
	foreach(lc, t->fkeys)
	{
		CuForeignKey *fk = lfirst(lc);
		bool		seen = false;
		ListCell   *lc2;

		foreach(lc2, o->twins)
		{
			CuTwin	   *tw = lfirst(lc2);

			if (tw->kind == CU_TWIN_COLUMN && tw->relid == fk->relid && strcmp(tw->attname, fk->attname) == 0)
				seen = true;
		}
		if (!seen)
		{
			o->relids = list_append_unique_oid(o->relids, fk->relid);
			add_twin(o, CU_TWIN_COLUMN, fk->relid, fk->attname, fk->attname, InvalidOid);
			index_twins(o, fk->relid, fk->attname, fk->attnum, build);
		}
		add_twin(o, CU_TWIN_FKEY, fk->relid, fk->attname, fk->conname, fk->conoid)->create_sql =
			build ? fkey_twin_sql(o, fk, cu_twin_name(fk->conname, o->suffix)) : NULL;
	}
	return o;
}

/*
 * The CREATE TRIGGER of the sync trigger on table relid of o, for its
 * column attname (the original name).  master_int: the integer side is the
 * key, and carries the original names (the uuid side the suffix "_uuid");
 * otherwise the uuid side does (the integer side "_int").  lookup: see
 * sync.c.
 */
char *
cu_sync_trigger_sql(CuOnline *o, Oid relid, const char *attname, bool master_int, bool lookup)
{
	CuTarget   *t = o->target;
	char	   *qual = cu_rel_qualname(relid);
	char	   *sync = cu_extension_qual("connector_uuid_sync");
	const char *intcol = master_int ? attname : cu_twin_name(attname, "_int");
	const char *uuidcol = master_int ? cu_twin_name(attname, "_uuid") : attname;
	const char *key_int = master_int ? t->pkattname : cu_twin_name(t->pkattname, "_int");
	const char *key_uuid = master_int ? cu_twin_name(t->pkattname, "_uuid") : t->pkattname;

	char	   *check = cu_registry_key_check(o->table_id);

	if (relid == t->relid)
		return psprintf("CREATE TRIGGER %s BEFORE INSERT OR UPDATE ON %s FOR EACH ROW EXECUTE FUNCTION %s('%d', 'key', '%s', %s, %s, '%s', '%s')",
						CU_SYNC_TRIGGER, qual, sync, o->table_id, master_int ? "int" : "uuid",
						quote_literal_cstr(intcol), quote_literal_cstr(uuidcol), lookup ? "lookup" : "derive",
						check);
	return psprintf("CREATE TRIGGER %s BEFORE INSERT OR UPDATE ON %s FOR EACH ROW EXECUTE FUNCTION %s('%d', 'ref', '%s', %s, %s, '%s', %s, %s, %s, %s, '%s')",
					CU_SYNC_TRIGGER, qual, sync, o->table_id, master_int ? "int" : "uuid",
					quote_literal_cstr(intcol), quote_literal_cstr(uuidcol), lookup ? "lookup" : "derive",
					quote_literal_cstr(t->nspname), quote_literal_cstr(t->relname),
					quote_literal_cstr(key_int), quote_literal_cstr(key_uuid), check);
}

/* The OID of relid's index named name, or InvalidOid */
Oid
cu_lookup_twin_index(Oid relid, const char *name)
{
	Oid			idx = get_relname_relid(name, get_rel_namespace(relid));

	if (OidIsValid(idx) && get_rel_relkind(idx) == RELKIND_INDEX)
	{
		HeapTuple	tup = SearchSysCache1(INDEXRELID, ObjectIdGetDatum(idx));
		Oid			indrelid = InvalidOid;

		if (HeapTupleIsValid(tup))
		{
			indrelid = ((Form_pg_index) GETSTRUCT(tup))->indrelid;
			ReleaseSysCache(tup);
		}
		if (indrelid == relid)
			return idx;
	}
	return InvalidOid;
}

/* The OID of relid's constraint named name, or InvalidOid */
Oid
cu_lookup_constraint(Oid relid, const char *name)
{
	Oid			argtypes[2] = {OIDOID, NAMEOID};
	Datum		values[2];
	bool		isnull;

	values[0] = ObjectIdGetDatum(relid);
	values[1] = DirectFunctionCall1(namein, CStringGetDatum(name));
	cu_spi_exec_args("SELECT c.oid FROM pg_catalog.pg_constraint c "
					 "WHERE c.conrelid OPERATOR(pg_catalog.=) $1 AND c.conname OPERATOR(pg_catalog.=) $2",
					 SPI_OK_SELECT, 2, argtypes, values, NULL);
	return SPI_processed == 1 ? (Oid) cu_spi_getint64(0, 1, &isnull) : InvalidOid;
}
