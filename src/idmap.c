/*-------------------------------------------------------------------------
 *
 * idmap.c
 *	  The id map: the old-id <-> new-uuid map table, and the two SQL
 *	  functions the ALTER COLUMN ... TYPE ... USING expressions call.  (The
 *	  registry of converted tables, with each table's key, is registry.c.)
 *
 * Most ids need no lookup: they are derived from the old id by the keyed
 * permutation in idgen.c.  Only "exceptions" are looked up: connectors that
 * were created at 2.0 with a random UUID and were given an integer by a
 * downgrade.  Those are loaded into a backend-local hash table, so memory is
 * bounded by the number of exceptions, not by the size of the table.
 *
 * The state lives in a child of TopTransactionContext and is forgotten at
 * the end of the transaction, whether it commits or aborts.
 *
 * IDENTIFICATION
 *	  src/idmap.c
 *
 *-------------------------------------------------------------------------
 */
#include "connector_uuid.h"

#include "access/xact.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/hsearch.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"

PG_FUNCTION_INFO_V1(connector_uuid_to_uuid);
PG_FUNCTION_INFO_V1(connector_uuid_to_int);

typedef struct OldToNew
{
	int64		old_id;			/* hash key */
	pg_uuid_t	new_id;
} OldToNew;

typedef struct NewToOld
{
	pg_uuid_t	new_id;			/* hash key */
	int64		old_id;
} NewToOld;

typedef struct CuMapState
{
	int			table_id;
	uint8		key[16];
	HTAB	   *old2new;
	HTAB	   *new2old;
	uint64		nexceptions;	/* entries in the two tables */
	MemoryContext cxt;
} CuMapState;

static CuMapState *active_map = NULL;
static bool callback_registered = false;

/* Forget the map at the end of every transaction */
static void
idmap_xact_callback(XactEvent event, void *arg)
{
	switch (event)
	{
		case XACT_EVENT_COMMIT:
		case XACT_EVENT_ABORT:
		case XACT_EVENT_PARALLEL_COMMIT:
		case XACT_EVENT_PARALLEL_ABORT:
		case XACT_EVENT_PREPARE:
			active_map = NULL;	/* its memory goes with the transaction */
			break;
		default:
			break;
	}
}

static char *
ext_table(const char *relname)
{
	return cu_qualify(cu_extension_schema_name(), relname);
}

/*
 * Load table_id's key and its exceptions (map rows not derived from the
 * key) so that the USING expressions can map ids.  Caller is connected to
 * SPI.  Replaces whatever map was active.
 */
void
cu_idmap_activate(int table_id)
{
	MemoryContext cxt;
	MemoryContext oldcxt;
	CuMapState *state;
	HASHCTL		ctl;
	Oid			argtypes[1] = {INT4OID};
	Datum		values[1];
	bool		isnull;
	bytea	   *key;
	uint64		i;

	if (!callback_registered)
	{
		RegisterXactCallback(idmap_xact_callback, NULL);
		callback_registered = true;
	}
	if (active_map)
		MemoryContextDelete(active_map->cxt);
	active_map = NULL;

	cxt = AllocSetContextCreate(TopTransactionContext, "connector_uuid id map",
								ALLOCSET_DEFAULT_SIZES);
	oldcxt = MemoryContextSwitchTo(cxt);
	state = palloc0(sizeof(CuMapState));
	state->cxt = cxt;
	state->table_id = table_id;

	memset(&ctl, 0, sizeof(ctl));
	ctl.keysize = sizeof(int64);
	ctl.entrysize = sizeof(OldToNew);
	ctl.hcxt = cxt;
	state->old2new = hash_create("connector_uuid old to new", 1024, &ctl,
								 HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);
	ctl.keysize = sizeof(pg_uuid_t);
	ctl.entrysize = sizeof(NewToOld);
	state->new2old = hash_create("connector_uuid new to old", 1024, &ctl,
								 HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);
	MemoryContextSwitchTo(oldcxt);

	values[0] = Int32GetDatum(table_id);
	cu_spi_exec_args(psprintf("SELECT id_key FROM %s WHERE table_id OPERATOR(pg_catalog.=) $1",
							  ext_table("connector_uuid_tables")),
					 SPI_OK_SELECT, 1, argtypes, values, NULL);
	if (SPI_processed != 1)
		elog(ERROR, "connector_uuid registry has no row for table id %d", table_id);
	key = DatumGetByteaPP(cu_spi_getdatum(0, 1, &isnull));
	if (isnull || VARSIZE_ANY_EXHDR(key) != 16)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_CORRUPTED),
				 errmsg("id map key of table id %d is damaged", table_id),
				 errdetail("connector_uuid_tables.id_key must be 16 bytes.")));
	memcpy(state->key, VARDATA_ANY(key), 16);

	cu_spi_exec_args(psprintf("SELECT old_id, new_id FROM %s "
							  "WHERE table_id OPERATOR(pg_catalog.=) $1 AND NOT derived",
							  ext_table("connector_uuid_map")),
					 SPI_OK_SELECT, 1, argtypes, values, NULL);
	for (i = 0; i < SPI_processed; i++)
	{
		int64		old_id = cu_spi_getint64(i, 1, &isnull);
		pg_uuid_t  *new_id = DatumGetUUIDP(cu_spi_getdatum(i, 2, &isnull));
		OldToNew   *o;
		NewToOld   *n;
		bool		found;

		CHECK_FOR_INTERRUPTS();
		o = hash_search(state->old2new, &old_id, HASH_ENTER, &found);
		o->new_id = *new_id;
		n = hash_search(state->new2old, new_id, HASH_ENTER, &found);
		n->old_id = old_id;
	}
	state->nexceptions = SPI_processed;
	active_map = state;
}

/* Drop the active map, if any */
void
cu_idmap_deactivate(void)
{
	if (active_map)
		MemoryContextDelete(active_map->cxt);
	active_map = NULL;
}

static CuMapState *
require_map(int32 table_id)
{
	if (active_map == NULL || active_map->table_id != table_id)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("no id map is active for table id %d", table_id),
				 errdetail("This function is called by the migration engine while it rewrites a table."),
				 errhint("Read the mapping from the connector_uuid_map table instead.")));
	return active_map;
}

/*
 * connector_uuid_to_uuid(old_id bigint, table_id int) returns uuid
 *
 * The UUID for an old integer id: an exception's recorded UUID, else the
 * derived one.  Called once per row by ALTER COLUMN ... TYPE uuid USING.
 */
Datum
connector_uuid_to_uuid(PG_FUNCTION_ARGS)
{
	int64		old_id = PG_GETARG_INT64(0);
	CuMapState *state = require_map(PG_GETARG_INT32(1));
	pg_uuid_t  *result = palloc(sizeof(pg_uuid_t));
	OldToNew   *o;

	o = state->nexceptions ? hash_search(state->old2new, &old_id, HASH_FIND, NULL) : NULL;
	if (o)
		*result = o->new_id;
	else
		cu_derive_uuid(state->key, old_id, result);
	PG_RETURN_UUID_P(result);
}

/*
 * connector_uuid_to_int(new_id uuid, table_id int, missing_ok bool) returns bigint
 *
 * The integer id for a UUID: the one it was derived from, or an exception's.
 * A UUID with neither is an error, or NULL with missing_ok (the downgrade
 * uses that to find the rows that need a new integer).
 */
Datum
connector_uuid_to_int(PG_FUNCTION_ARGS)
{
	pg_uuid_t  *new_id = PG_GETARG_UUID_P(0);
	CuMapState *state = require_map(PG_GETARG_INT32(1));
	bool		missing_ok = PG_GETARG_BOOL(2);
	NewToOld   *n;
	int64		old_id;

	n = state->nexceptions ? hash_search(state->new2old, new_id, HASH_FIND, NULL) : NULL;
	if (n)
		PG_RETURN_INT64(n->old_id);
	if (cu_underive_uuid(state->key, new_id, &old_id))
		PG_RETURN_INT64(old_id);
	if (missing_ok)
		PG_RETURN_NULL();
	ereport(ERROR,
			(errcode(ERRCODE_FOREIGN_KEY_VIOLATION),
			 errmsg("uuid %s has no integer id in the id map",
					DatumGetCString(DirectFunctionCall1(uuid_out, UUIDPGetDatum(new_id)))),
			 errdetail("A referencing row points at a uuid that no key row has.")));
	PG_RETURN_NULL();
}

PG_FUNCTION_INFO_V1(connector_uuid_lookup);

/*
 * connector_uuid_lookup(pk_table regclass, old_id bigint) returns uuid
 *
 * The uuid an old integer id of pk_table became: from the id map, else
 * derived from the table's key (v4).  NULL if the table was never converted
 * or the id is in no map.  Reads only; for translating ids held outside the
 * database, and the way to read the map when connector_uuid.full_map is off.
 */
Datum
connector_uuid_lookup(PG_FUNCTION_ARGS)
{
	Oid			relid = PG_GETARG_OID(0);
	int64		old_id = PG_GETARG_INT64(1);
	int			nestlevel;
	int			table_id;
	pg_uuid_t  *result = NULL;
	char	   *relname = get_rel_name(relid);
	Oid			argtypes[2] = {INT4OID, INT8OID};
	Datum		values[2];
	bool		isnull;

	if (relname == NULL)
		PG_RETURN_NULL();
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	nestlevel = cu_safe_search_path();

	table_id = cu_registry_id(get_namespace_name(get_rel_namespace(relid)), relname);
	if (table_id != 0)
	{
		values[0] = Int32GetDatum(table_id);
		values[1] = Int64GetDatum(old_id);
		cu_spi_exec_args(psprintf("SELECT new_id FROM %s WHERE table_id OPERATOR(pg_catalog.=) $1 "
								  "AND old_id OPERATOR(pg_catalog.=) $2",
								  ext_table("connector_uuid_map")),
						 SPI_OK_SELECT, 2, argtypes, values, NULL);
		if (SPI_processed == 1)
		{
			result = SPI_palloc(sizeof(pg_uuid_t));
			*result = *DatumGetUUIDP(cu_spi_getdatum(0, 1, &isnull));
		}
		else
		{
			cu_spi_exec_args(psprintf("SELECT id_key FROM %s WHERE table_id OPERATOR(pg_catalog.=) $1 "
									  "AND strategy OPERATOR(pg_catalog.=) 'v4'",
									  ext_table("connector_uuid_tables")),
							 SPI_OK_SELECT, 1, argtypes, values, NULL);
			if (SPI_processed == 1)
			{
				bytea	   *key = DatumGetByteaPP(cu_spi_getdatum(0, 1, &isnull));

				if (VARSIZE_ANY_EXHDR(key) == 16)
				{
					result = SPI_palloc(sizeof(pg_uuid_t));
					cu_derive_uuid((uint8 *) VARDATA_ANY(key), old_id, result);
				}
			}
		}
	}

	AtEOXact_GUC(true, nestlevel);
	if (SPI_finish() != SPI_OK_FINISH)
		elog(ERROR, "SPI_finish failed");
	if (result == NULL)
		PG_RETURN_NULL();
	PG_RETURN_UUID_P(result);
}
