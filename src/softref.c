/*-------------------------------------------------------------------------
 *
 * softref.c
 *	  Soft references: integer columns that look like references to a
 *	  converted key but that no foreign key proves to be one.
 *
 * The engine converts a key and every foreign key that references it; a
 * column that only holds the key's values by convention (an audit log's
 * connector_id) is not touched and keeps the old integers.  That is the
 * right default (nothing proves the column is a reference), but it must not
 * happen silently: the plan lists such columns as notes and verify as one
 * informational row, so the DBA decides, and the README says how to
 * translate them with the id map.
 *
 * A column is listed when it is smallint, integer or bigint, in an ordinary
 * or partitioned table (not a partition, which its parent stands for) of a
 * non-system schema that is not one of the extension's own tables, carries
 * no foreign key at all, and is named like the key's references: the name
 * of a column that references the key now, <table>_id, or <table without a
 * trailing s>_id.  Only the catalogs are read: nothing a table owner wrote
 * runs.
 *
 * IDENTIFICATION
 *	  src/softref.c
 *
 *-------------------------------------------------------------------------
 */
#include "catalog.h"
#include "spi_util.h"

#include "catalog/pg_type.h"
#include "commands/extension.h"
#include "executor/spi.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"

/* Append name to the array being built, once */
static List *
add_name(List *names, const char *name)
{
	ListCell   *lc;

	if (name == NULL || name[0] == '\0' || strlen(name) >= NAMEDATALEN)
		return names;
	foreach(lc, names)
	{
		if (strcmp((char *) lfirst(lc), name) == 0)
			return names;
	}
	return lappend(names, pstrdup(name));
}

/*
 * The soft references to relid's key, as "schema.table.column (type)"
 * strings in schema, table and column order.  skip: CuForeignKey entries
 * (relid and attnum are used) whose columns the conversion converts
 * anyway, such as the connector's synthetic foreign keys.  Caller is
 * connected to SPI under a safe search_path.
 */
List *
cu_soft_references(Oid relid, List *skip)
{
	List	   *names = NIL;
	List	   *result = NIL;
	char	   *relname = get_rel_name(relid);
	Datum	   *elems;
	ArrayType  *arr;
	Oid			argtypes[3] = {OIDOID, TEXTARRAYOID, OIDOID};
	Datum		values[3];
	ListCell   *lc;
	int			i;
	int			n;

	if (relname == NULL)
		return NIL;

	/* the names its references have now */
	{
		Oid			a1[1] = {OIDOID};
		Datum		v1[1];

		v1[0] = ObjectIdGetDatum(relid);
		cu_spi_exec_args("SELECT DISTINCT a.attname::pg_catalog.text "
						 "FROM pg_catalog.pg_constraint c "
						 "JOIN pg_catalog.pg_attribute a ON a.attrelid OPERATOR(pg_catalog.=) c.conrelid "
						 "  AND a.attnum OPERATOR(pg_catalog.=) ANY (c.conkey) "
						 "WHERE c.contype OPERATOR(pg_catalog.=) 'f' "
						 "  AND c.confrelid OPERATOR(pg_catalog.=) $1 "
						 "ORDER BY 1",
						 SPI_OK_SELECT, 1, a1, v1, NULL);
		n = (int) SPI_processed;
		for (i = 0; i < n; i++)
			names = add_name(names, cu_spi_getstring(i, 1));
	}
	foreach(lc, skip)
	{
		CuForeignKey *fk = lfirst(lc);

		if (fk->attname)
			names = add_name(names, fk->attname);
	}
	names = add_name(names, psprintf("%s_id", relname));
	{
		size_t		len = strlen(relname);

		if (len > 1 && relname[len - 1] == 's')
			names = add_name(names, psprintf("%.*s_id", (int) (len - 1), relname));
	}

	elems = palloc(sizeof(Datum) * list_length(names));
	i = 0;
	foreach(lc, names)
		elems[i++] = CStringGetTextDatum((char *) lfirst(lc));
	arr = construct_array(elems, i, TEXTOID, -1, false, TYPALIGN_INT);

	values[0] = ObjectIdGetDatum(relid);
	values[1] = PointerGetDatum(arr);
	values[2] = ObjectIdGetDatum(get_extension_oid("connector_uuid", true));
	cu_spi_exec_args("SELECT n.nspname::pg_catalog.text, c.relname::pg_catalog.text, "
					 "       a.attname::pg_catalog.text, a.attrelid, a.attnum, "
					 "       pg_catalog.format_type(a.atttypid, a.atttypmod) "
					 "FROM pg_catalog.pg_attribute a "
					 "JOIN pg_catalog.pg_class c ON c.oid OPERATOR(pg_catalog.=) a.attrelid "
					 "JOIN pg_catalog.pg_namespace n ON n.oid OPERATOR(pg_catalog.=) c.relnamespace "
					 "WHERE a.attnum OPERATOR(pg_catalog.>) 0 AND NOT a.attisdropped "
					 "  AND a.atttypid OPERATOR(pg_catalog.=) ANY ('{int2,int4,int8}'::pg_catalog.regtype[]::pg_catalog.oid[]) "
					 "  AND a.attname::pg_catalog.text OPERATOR(pg_catalog.=) ANY ($2) "
					 "  AND c.relkind OPERATOR(pg_catalog.=) ANY ('{r,p}'::pg_catalog.\"char\"[]) "
					 "  AND NOT c.relispartition "
					 "  AND n.nspname OPERATOR(pg_catalog.<>) ALL ('{pg_catalog,information_schema,pg_toast}'::pg_catalog.name[]) "
					 "  AND n.nspname::pg_catalog.text OPERATOR(pg_catalog.!~) '^pg_(toast_)?temp_' "
					 /* the key itself */
					 "  AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_constraint k "
					 "    WHERE k.conrelid OPERATOR(pg_catalog.=) a.attrelid AND k.contype OPERATOR(pg_catalog.=) 'p' "
					 "      AND a.attrelid OPERATOR(pg_catalog.=) $1 "
					 "      AND a.attnum OPERATOR(pg_catalog.=) ANY (k.conkey)) "
					 /* any foreign key proves what the column references */
					 "  AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_constraint f "
					 "    WHERE f.conrelid OPERATOR(pg_catalog.=) a.attrelid AND f.contype OPERATOR(pg_catalog.=) 'f' "
					 "      AND a.attnum OPERATOR(pg_catalog.=) ANY (f.conkey)) "
					 /* the extension's own tables */
					 "  AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_depend d "
					 "    WHERE d.classid OPERATOR(pg_catalog.=) 'pg_catalog.pg_class'::pg_catalog.regclass "
					 "      AND d.objid OPERATOR(pg_catalog.=) c.oid "
					 "      AND d.refclassid OPERATOR(pg_catalog.=) 'pg_catalog.pg_extension'::pg_catalog.regclass "
					 "      AND d.refobjid OPERATOR(pg_catalog.=) $3 AND d.deptype OPERATOR(pg_catalog.=) 'e') "
					 "ORDER BY n.nspname, c.relname, a.attnum",
					 SPI_OK_SELECT, 3, argtypes, values, NULL);

	n = (int) SPI_processed;
	for (i = 0; i < n; i++)
	{
		bool		isnull;
		Oid			attrelid = DatumGetObjectId(cu_spi_getdatum(i, 4, &isnull));
		AttrNumber	attnum = (AttrNumber) cu_spi_getint64(i, 5, &isnull);
		bool		skipped = false;

		foreach(lc, skip)
		{
			CuForeignKey *fk = lfirst(lc);

			if (fk->relid == attrelid && fk->attnum == attnum)
				skipped = true;
		}
		if (skipped)
			continue;
		result = lappend(result,
						 psprintf("%s.%s (%s)",
								  cu_qualify(cu_spi_getstring(i, 1), cu_spi_getstring(i, 2)),
								  quote_identifier(cu_spi_getstring(i, 3)),
								  cu_spi_getstring(i, 6)));
	}
	return result;
}

/*
 * Append a plan note for each soft reference to the target's key.  The
 * conversion's own referencing columns (real or synthetic foreign keys) are
 * not soft references.
 */
List *
cu_softref_notes(List *notes, CuTarget *target)
{
	List	   *refs = cu_soft_references(target->relid, target->fkeys);
	ListCell   *lc;

	foreach(lc, refs)
		notes = lappend(notes,
						psprintf("column %s not converted: no foreign key proves this is a reference to %s.%s (see the README, \"Soft references\", to translate it with the id map)",
								 (char *) lfirst(lc), target->qualname,
								 quote_identifier(target->pkattname)));
	return notes;
}
