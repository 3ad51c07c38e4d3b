/*-------------------------------------------------------------------------
 *
 * spi_util.c
 *	  Small SPI helpers: run a statement and insist on the exact result code,
 *	  read typed values out of SPI_tuptable, quote names, pin a safe
 *	  search_path for the duration of an entry point; and formatting a
 *	  message from a va_list.
 *
 * Every caller owns its SPI_connect/SPI_finish; these helpers never open or
 * close SPI themselves.  Values go in as $n parameters, never pasted.
 *
 * IDENTIFICATION
 *	  src/spi_util.c
 *
 *-------------------------------------------------------------------------
 */
#include "spi_util.h"

#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "utils/builtins.h"
#include "utils/guc.h"

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

/* Run a SELECT with one parameter, $1 = the OID arg */
void
cu_spi_select_oid(const char *sql, Oid arg)
{
	Oid			argtypes[1] = {OIDOID};
	Datum		values[1];

	values[0] = ObjectIdGetDatum(arg);
	cu_spi_exec_args(sql, SPI_OK_SELECT, 1, argtypes, values, NULL);
}

/* The OIDs in the first column of the rows the last query returned */
List *
cu_spi_oid_column(void)
{
	List	   *result = NIL;
	uint64		i;
	bool		isnull;

	for (i = 0; i < SPI_processed; i++)
	{
		Datum		d = cu_spi_getdatum(i, 1, &isnull);

		if (!isnull)
			result = lappend_oid(result, DatumGetObjectId(d));
	}
	return result;
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

/* The OIDs a query about relid ($1) returns */
List *
cu_spi_oids(const char *sql, Oid relid)
{
	cu_spi_select_oid(sql, relid);
	return cu_spi_oid_column();
}

/* fmt and its arguments, formatted into a new string */
char *
cu_vformat(const char *fmt, va_list args)
{
	StringInfoData buf;

	initStringInfo(&buf);
	for (;;)
	{
		va_list		copy;
		int			needed;

		va_copy(copy, args);
		needed = appendStringInfoVA(&buf, fmt, copy);
		va_end(copy);
		if (needed == 0)
			break;
		enlargeStringInfo(&buf, needed);
	}
	return buf.data;
}
