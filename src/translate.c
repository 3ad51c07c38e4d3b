/*-------------------------------------------------------------------------
 *
 * translate.c
 *	  connector_uuid_ids(pk_table regclass): the old integer id and the uuid
 *	  of every row of a converted table, for the DBA who has ids to
 *	  translate outside the database (logs, caches, other systems).
 *
 * The id map holds only what the table's key cannot derive (the v4
 * default), so the map alone is not a translation table: this function is.
 * It reads the key table and joins the map, and for a v4 table derives
 * what the map does not hold, the same way the migrations do (idgen.c).
 * Whichever type the key has now, it answers: at uuid time old_id is the
 * integer the row had (NULL for a row created since, which never had one);
 * at integer time (after a rollback) new_id is the uuid the row had or will
 * get again (NULL under v5 and v7 for a row the map does not hold).
 *
 * It runs as its caller, who needs SELECT on the table, connector_uuid_map
 * and connector_uuid_tables (the key), like connector_uuid_lookup().  The
 * statements are built from catalog names, quoted, with every operator and
 * cast schema-qualified, under a pinned search_path.  Memory: one fetch
 * batch; the result is a tuplestore, which spills to disk past work_mem.
 *
 * IDENTIFICATION
 *	  src/translate.c
 *
 *-------------------------------------------------------------------------
 */
#include "registry.h"
#include "spi_util.h"

#include "catalog/pg_class.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/tuplestore.h"
#include "utils/uuid.h"

PG_FUNCTION_INFO_V1(connector_uuid_ids);

/* rows per cursor fetch */
#define CU_IDS_BATCH	10000

/*
 * connector_uuid_ids(pk_table regclass) returns table (old_id bigint, new_id uuid)
 *
 * One row per row of pk_table (in no particular order).  A table that was
 * never converted is an error, not an empty result: the caller asked for
 * a translation that does not exist.
 */
Datum
connector_uuid_ids(PG_FUNCTION_ARGS)
{
	Oid			relid = PG_GETARG_OID(0);
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	TupleDesc	tupdesc;
	Tuplestorestate *tupstore;
	MemoryContext oldcxt;
	char	   *relname;
	char	   *nspname;
	char	   *qualname;
	int			nestlevel;
	int			table_id;
	char	   *column;
	char	   *strategy;
	uint8		key[16];
	bool		have_key = false;
	AttrNumber	attnum;
	Oid			atttype;
	bool		at_uuid;
	char	   *pk;
	char	   *sql;
	Oid			argtypes[1] = {INT4OID};
	Datum		args[1];
	Portal		portal;
	bool		isnull;

	if (rsinfo == NULL || !IsA(rsinfo, ReturnSetInfo) ||
		(rsinfo->allowedModes & SFRM_Materialize) == 0)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("connector_uuid_ids() must be called where a set is accepted"),
				 errhint("Call it in FROM: SELECT * FROM connector_uuid_ids('mcp_connectors').")));
	relname = cu_require_table(relid, "connector_uuid_ids() translates the key of a table connector_uuid converted.");
	nspname = get_namespace_name(get_rel_namespace(relid));
	qualname = cu_qualify(nspname, relname);

	/* the result's shape and store, in the query's memory */
	oldcxt = MemoryContextSwitchTo(rsinfo->econtext->ecxt_per_query_memory);
	if (get_call_result_type(fcinfo, NULL, &tupdesc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "return type must be a row type");
	tupdesc = CreateTupleDescCopy(tupdesc);
	tupstore = tuplestore_begin_heap(true, false, work_mem);
	MemoryContextSwitchTo(oldcxt);

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	nestlevel = cu_safe_search_path();

	table_id = cu_registry_id(nspname, relname);
	if (table_id == 0)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("table \"%s\" was never converted by connector_uuid", qualname),
				 errdetail("connector_uuid_tables has no row for it, so it has no id translation."),
				 errhint("The tables converted so far are listed in connector_uuid_tables.")));
	args[0] = Int32GetDatum(table_id);
	cu_spi_exec_args(psprintf("SELECT column_name::pg_catalog.text, strategy, id_key FROM %s "
							  "WHERE table_id OPERATOR(pg_catalog.=) $1",
							  cu_qualify(cu_extension_schema_name(), "connector_uuid_tables")),
					 SPI_OK_SELECT, 1, argtypes, args, NULL);
	if (SPI_processed != 1)
		elog(ERROR, "registry row %d of table \"%s\" disappeared", table_id, qualname);
	column = cu_spi_getstring(0, 1);
	strategy = cu_spi_getstring(0, 2);
	if (strcmp(strategy, "v4") == 0)
	{
		bytea	   *k = DatumGetByteaPP(cu_spi_getdatum(0, 3, &isnull));

		if (!isnull && VARSIZE_ANY_EXHDR(k) == 16)
		{
			memcpy(key, VARDATA_ANY(k), 16);
			have_key = true;
		}
		else
			ereport(ERROR,
					(errcode(ERRCODE_DATA_CORRUPTED),
					 errmsg("the key of table \"%s\" in connector_uuid_tables is not 16 bytes", qualname),
					 errhint("Restore connector_uuid_tables from a backup: without its key a v4 table's ids cannot be translated.")));
	}

	attnum = get_attnum(relid, column);
	if (attnum == InvalidAttrNumber)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_COLUMN),
				 errmsg("column \"%s\" of table \"%s\", recorded in connector_uuid_tables, does not exist",
						column, qualname)));
	atttype = get_atttype(relid, attnum);
	if (atttype == UUIDOID)
		at_uuid = true;
	else if (atttype == INT2OID || atttype == INT4OID || atttype == INT8OID)
		at_uuid = false;
	else
		ereport(ERROR,
				(errcode(ERRCODE_DATATYPE_MISMATCH),
				 errmsg("column \"%s\" of table \"%s\" is of type %s, neither uuid nor an integer",
						column, qualname, format_type_be(atttype))));

	pk = (char *) quote_identifier(column);
	if (at_uuid)
		sql = psprintf("SELECT m.old_id, t.%s FROM %s t LEFT JOIN %s m "
					   "ON m.table_id OPERATOR(pg_catalog.=) $1 AND m.new_id OPERATOR(pg_catalog.=) t.%s",
					   pk, qualname, cu_qualify(cu_extension_schema_name(), "connector_uuid_map"), pk);
	else
		sql = psprintf("SELECT t.%s::pg_catalog.int8, m.new_id FROM %s t LEFT JOIN %s m "
					   "ON m.table_id OPERATOR(pg_catalog.=) $1 "
					   "AND m.old_id OPERATOR(pg_catalog.=) t.%s::pg_catalog.int8",
					   pk, qualname, cu_qualify(cu_extension_schema_name(), "connector_uuid_map"), pk);
	portal = SPI_cursor_open_with_args(NULL, sql, 1, argtypes, args, NULL, true, 0);
	for (;;)
	{
		SPI_cursor_fetch(portal, true, CU_IDS_BATCH);
		if (SPI_processed == 0)
			break;
		for (uint64 i = 0; i < SPI_processed; i++)
		{
			Datum		values[2];
			bool		nulls[2];
			pg_uuid_t	derived;
			int64		old_id;

			values[0] = cu_spi_getdatum(i, 1, &nulls[0]);
			values[1] = cu_spi_getdatum(i, 2, &nulls[1]);
			if (at_uuid && nulls[0] && have_key &&
				cu_underive_uuid(key, DatumGetUUIDP(values[1]), &old_id))
			{
				values[0] = Int64GetDatum(old_id);
				nulls[0] = false;
			}
			else if (!at_uuid && nulls[1] && have_key)
			{
				cu_derive_uuid(key, DatumGetInt64(values[0]), &derived);
				values[1] = UUIDPGetDatum(&derived);
				nulls[1] = false;
			}
			tuplestore_putvalues(tupstore, tupdesc, values, nulls);
		}
		SPI_freetuptable(SPI_tuptable);
		CHECK_FOR_INTERRUPTS();
	}
	SPI_cursor_close(portal);

	AtEOXact_GUC(true, nestlevel);
	if (SPI_finish() != SPI_OK_FINISH)
		elog(ERROR, "SPI_finish failed");

	rsinfo->returnMode = SFRM_Materialize;
	rsinfo->setResult = tupstore;
	rsinfo->setDesc = tupdesc;
	return (Datum) 0;
}
