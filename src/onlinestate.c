/*-------------------------------------------------------------------------
 *
 * onlinestate.c
 *	  The online mode's state: the rows of connector_uuid_online (one per
 *	  key table being prepared or swapped) read into CuOnlineState.
 *
 * The rows are facts (names, a phase, options); the statements that act
 * on the tables are always built from the catalogs.  A row that names a
 * phase this code does not know is refused, never guessed at.
 *
 * IDENTIFICATION
 *	  src/onlinestate.c
 *
 *-------------------------------------------------------------------------
 */
#include "online.h"
#include "spi_util.h"

#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"

/* The state row of key table nspname.relname, or NULL */
CuOnlineState *
cu_online_state(const char *nspname, const char *relname)
{
	Oid			argtypes[2] = {NAMEOID, NAMEOID};
	Datum		values[2];
	CuOnlineState *st;
	bool		isnull;

	if (!OidIsValid(cu_extension_rel("connector_uuid_online")))
		return NULL;			/* a 1.0 installed by an earlier release */
	values[0] = DirectFunctionCall1(namein, CStringGetDatum(nspname));
	values[1] = DirectFunctionCall1(namein, CStringGetDatum(relname));
	cu_spi_exec_args(psprintf("SELECT table_id, phase, batch_size, pause::pg_catalog.text, max_lag, "
							  "new_registry, swapped_once FROM %s "
							  "WHERE schema_name OPERATOR(pg_catalog.=) $1 AND table_name OPERATOR(pg_catalog.=) $2",
							  cu_extension_qual("connector_uuid_online")),
					 SPI_OK_SELECT, 2, argtypes, values, NULL);
	if (SPI_processed != 1)
		return NULL;
	st = palloc0(sizeof(CuOnlineState));
	st->table_id = (int) cu_spi_getint64(0, 1, &isnull);
	st->nspname = pstrdup(nspname);
	st->relname = pstrdup(relname);
	st->phase = cu_spi_getstring(0, 2);
	st->batch_size = (int) cu_spi_getint64(0, 3, &isnull);
	st->pause = cu_spi_getstring(0, 4);
	st->max_lag = cu_spi_getint64(0, 5, &st->max_lag_null);
	st->new_registry = cu_spi_getbool(0, 6, &isnull);
	st->swapped_once = cu_spi_getbool(0, 7, &isnull);
	if (strcmp(st->phase, "backfill") != 0 && strcmp(st->phase, "build") != 0 &&
		strcmp(st->phase, "prepared") != 0 && strcmp(st->phase, "swapped") != 0)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_CORRUPTED),
				 errmsg("connector_uuid_online names an unknown phase \"%s\" for table \"%s\"",
						st->phase, cu_qualify(nspname, relname)),
				 errdetail("The phases are backfill, build, prepared and swapped.")));
	return st;
}

/*
 * The state row of the key table relid, or NULL.  A table in the online
 * mode has the sync trigger from the first transaction of its preparation
 * on (prepare.c adds the key table's together with the state row): a
 * table without one is not read about, so the offline mode neither locks
 * nor needs the right to read the state table.
 */
CuOnlineState *
cu_online_state_of(Oid relid)
{
	Oid			argtypes[2] = {OIDOID, NAMEOID};
	Datum		values[2];

	if (!OidIsValid(relid) || get_rel_name(relid) == NULL)
		return NULL;
	values[0] = ObjectIdGetDatum(relid);
	values[1] = DirectFunctionCall1(namein, CStringGetDatum(CU_SYNC_TRIGGER));
	cu_spi_exec_args("SELECT FROM pg_catalog.pg_trigger g WHERE g.tgrelid OPERATOR(pg_catalog.=) $1 "
					 "AND g.tgname OPERATOR(pg_catalog.=) $2",
					 SPI_OK_SELECT, 2, argtypes, values, NULL);
	if (SPI_processed == 0)
		return NULL;
	return cu_online_state(get_namespace_name(get_rel_namespace(relid)), get_rel_name(relid));
}
