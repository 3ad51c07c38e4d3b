/*-------------------------------------------------------------------------
 *
 * idmap.c
 *	  The id map: the old-id <-> new-uuid map table, and the two SQL
 *	  functions the ALTER COLUMN ... TYPE ... USING expressions call.  (The
 *	  registry of converted tables, with each table's key, is registry.c.)
 *
 * Most ids need no lookup: under the v4 strategy they are derived from the
 * old id by the keyed permutation in idgen.c, and only "exceptions" are
 * looked up (connectors created at 2.0 with a random UUID and given an
 * integer by a downgrade).  Under v5 and v7 every id is in the map, and an
 * id missing from it is an error, never derived: the map of such a table
 * is complete by construction, so a gap means rows were hidden from the
 * step that filled it, or pairs were deleted.
 *
 * Memory bound: 24 bytes per map pair loaded, plus one fetch batch.  Only
 * the direction the migration needs is kept (old -> new to uuid, new -> old
 * to integer), as one array of (old id, uuid) pairs sorted on the key of
 * that direction and searched by bisection; the pairs are counted first so
 * the array is allocated once, and loaded through a cursor CU_FETCH_BATCH
 * rows at a time.  A v4 table loads only its exceptions; a v5 or v7 table
 * every row of its map (3M rows: 72 MB).  Loading again (the downgrade does,
 * after giving integers to rows created at 2.0) frees the previous array
 * first.
 *
 * The state lives in a child of TopTransactionContext and is forgotten at
 * the end of the transaction, whether it commits or aborts.
 *
 * IDENTIFICATION
 *	  src/idmap.c
 *
 *-------------------------------------------------------------------------
 */
#include "registry.h"
#include "spi_util.h"

#include "access/xact.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"

PG_FUNCTION_INFO_V1(connector_uuid_to_uuid);
PG_FUNCTION_INFO_V1(connector_uuid_to_int);

/* rows per cursor fetch while loading the map */
#define CU_FETCH_BATCH	10000

/* One map pair: 24 bytes */
typedef struct CuMapPair
{
	int64		old_id;
	pg_uuid_t	new_id;
} CuMapPair;

typedef struct CuMapState
{
	int			table_id;
	char	   *qualname;		/* the key table, for messages */
	CuStrategy	strategy;
	bool		complete;		/* not v4: every id is in the map */
	CuDirection direction;		/* CU_TO_UUID: sorted on old_id; CU_TO_INT:
								 * on new_id */
	uint8		key[16];
	CuMapPair  *pairs;
	uint64		npairs;
	SubTransactionId subid;		/* the subtransaction that loaded it */
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

/*
 * Forget the map when the subtransaction that loaded it aborts (a caller
 * that caught the migration's error in a savepoint must not keep a map that
 * maps ids with the table's key).  Subtransactions that the application's
 * code opens and aborts inside a step (an exception block) are inner ones:
 * the map stays for the rest of the step.
 */
static void
idmap_subxact_callback(SubXactEvent event, SubTransactionId mySubid,
					   SubTransactionId parentSubid, void *arg)
{
	if (event == SUBXACT_EVENT_ABORT_SUB && active_map != NULL &&
		active_map->subid == mySubid)
	{
		MemoryContext cxt = active_map->cxt;

		active_map = NULL;
		MemoryContextDelete(cxt);
	}
}

static char *
ext_table(const char *relname)
{
	return cu_qualify(cu_extension_schema_name(), relname);
}

/* qsort and bsearch orders: on the old id, on the uuid's bytes */
static int
pair_cmp_old(const void *a, const void *b)
{
	int64		x = ((const CuMapPair *) a)->old_id;
	int64		y = ((const CuMapPair *) b)->old_id;

	return x < y ? -1 : x > y ? 1 : 0;
}

static int
pair_cmp_new(const void *a, const void *b)
{
	return memcmp(((const CuMapPair *) a)->new_id.data,
				  ((const CuMapPair *) b)->new_id.data, UUID_LEN);
}

/*
 * Load table_id's key, strategy and map pairs so that the USING expressions
 * can map ids in direction: under v4 only the exceptions (map rows not
 * derived from the key), under v5 and v7 every row.  Replaces (and frees)
 * whatever map was active.  qualname names the key table in messages.
 * Caller is connected to SPI and holds the locks that keep the map's rows
 * of table_id from changing under it (only this transaction writes them).
 */
void
cu_idmap_activate(int table_id, CuDirection direction, const char *qualname)
{
	MemoryContext cxt;
	MemoryContext oldcxt;
	CuMapState *state;
	Oid			argtypes[1] = {INT4OID};
	Datum		values[1];
	bool		isnull;
	char	   *strategy;
	int64		count;
	uint64		n = 0;
	char	   *where;
	Portal		portal;

	if (!callback_registered)
	{
		RegisterXactCallback(idmap_xact_callback, NULL);
		RegisterSubXactCallback(idmap_subxact_callback, NULL);
		callback_registered = true;
	}
	cu_idmap_deactivate();

	cxt = AllocSetContextCreate(TopTransactionContext, "connector_uuid id map",
								ALLOCSET_DEFAULT_SIZES);
	oldcxt = MemoryContextSwitchTo(cxt);
	state = palloc0(sizeof(CuMapState));
	state->cxt = cxt;
	state->table_id = table_id;
	state->direction = direction;
	state->qualname = pstrdup(qualname);
	MemoryContextSwitchTo(oldcxt);

	cu_registry_key(table_id, state->key);
	values[0] = Int32GetDatum(table_id);
	cu_spi_exec_args(psprintf("SELECT strategy FROM %s WHERE table_id OPERATOR(pg_catalog.=) $1",
							  ext_table("connector_uuid_tables")),
					 SPI_OK_SELECT, 1, argtypes, values, NULL);
	strategy = SPI_processed == 1 ? cu_spi_getstring(0, 1) : NULL;
	state->strategy = strategy ? cu_strategy_from_name(strategy) : CU_STRATEGY_V4;
	if (state->strategy == CU_STRATEGY_NONE)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_CORRUPTED),
				 errmsg("id map strategy of table id %d is damaged", table_id),
				 errdetail("connector_uuid_tables.strategy must be 'v4', 'v5' or 'v7'.")));
	state->complete = (state->strategy != CU_STRATEGY_V4);
	SPI_freetuptable(SPI_tuptable);

	/* count first, to allocate once */
	where = state->complete ? "" : " AND NOT derived";
	cu_spi_exec_args(psprintf("SELECT pg_catalog.count(*) FROM %s WHERE table_id OPERATOR(pg_catalog.=) $1%s",
							  ext_table("connector_uuid_map"), where),
					 SPI_OK_SELECT, 1, argtypes, values, NULL);
	count = cu_spi_getint64(0, 1, &isnull);
	SPI_freetuptable(SPI_tuptable);
	if (count > 0)
		state->pairs = MemoryContextAllocHuge(cxt, sizeof(CuMapPair) * (Size) count);

	/* then the pairs, a batch at a time, through a cursor (not read-only: it
	 * must see the map rows this transaction has just written) */
	portal = SPI_cursor_open_with_args(NULL,
									   psprintf("SELECT old_id, new_id FROM %s WHERE table_id OPERATOR(pg_catalog.=) $1%s",
												ext_table("connector_uuid_map"), where),
									   1, argtypes, values, NULL, false, CURSOR_OPT_NO_SCROLL);
	if (portal == NULL)
		elog(ERROR, "SPI_cursor_open failed: %s", SPI_result_code_string(SPI_result));
	for (;;)
	{
		uint64		i;

		CHECK_FOR_INTERRUPTS();
		SPI_cursor_fetch(portal, true, CU_FETCH_BATCH);
		if (SPI_processed == 0)
			break;
		if (n + SPI_processed > (uint64) count)
			elog(ERROR, "id map of table id %d changed while it was loaded", table_id);
		for (i = 0; i < SPI_processed; i++)
		{
			HeapTuple	tup = SPI_tuptable->vals[i];
			TupleDesc	desc = SPI_tuptable->tupdesc;
			Datum		d;
			bool		null1,
						null2;

			state->pairs[n].old_id = DatumGetInt64(SPI_getbinval(tup, desc, 1, &null1));
			d = SPI_getbinval(tup, desc, 2, &null2);
			if (null1 || null2)
				elog(ERROR, "id map of table id %d has a null id", table_id);
			state->pairs[n].new_id = *DatumGetUUIDP(d);
			n++;
		}
		SPI_freetuptable(SPI_tuptable);
	}
	SPI_cursor_close(portal);
	if (n != (uint64) count)
		elog(ERROR, "id map of table id %d changed while it was loaded", table_id);
	state->npairs = n;

	if (n > 1)
	{
		uint64		i;

		qsort(state->pairs, n, sizeof(CuMapPair),
			  direction == CU_TO_UUID ? pair_cmp_old : pair_cmp_new);
		/* old ids are the map's primary key; a uuid must be there once too */
		if (direction == CU_TO_INT)
			for (i = 1; i < n; i++)
				if (pair_cmp_new(&state->pairs[i - 1], &state->pairs[i]) == 0)
					ereport(ERROR,
							(errcode(ERRCODE_DATA_CORRUPTED),
							 errmsg("uuid %s of table \"%s\" has two integer ids in the id map",
									DatumGetCString(DirectFunctionCall1(uuid_out, UUIDPGetDatum(&state->pairs[i].new_id))),
									qualname),
							 errdetail("Old ids %lld and %lld both map to it in connector_uuid_map.",
									   (long long) state->pairs[i - 1].old_id,
									   (long long) state->pairs[i].old_id)));
	}
	elog(DEBUG1, "connector_uuid: id map of %s loaded: %llu pairs, %zu bytes",
		 qualname, (unsigned long long) n, MemoryContextMemAllocated(cxt, true));
	state->subid = GetCurrentSubTransactionId();
	active_map = state;
}

/* Drop the active map, if any, and free its memory */
void
cu_idmap_deactivate(void)
{
	if (active_map)
		MemoryContextDelete(active_map->cxt);
	active_map = NULL;
}

static CuMapState *
require_map(int32 table_id, CuDirection direction)
{
	if (active_map == NULL || active_map->table_id != table_id ||
		active_map->direction != direction)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("no id map is active for table id %d", table_id),
				 errdetail("This function is called by the migration engine while it rewrites a table."),
				 errhint("Read the mapping from the connector_uuid_map table instead.")));
	return active_map;
}

/* The loaded pair equal to *probe in the map's order, or NULL */
static inline CuMapPair *
find_pair(CuMapState *state, const CuMapPair *probe)
{
	if (state->npairs == 0)
		return NULL;
	return bsearch(probe, state->pairs, state->npairs, sizeof(CuMapPair),
				   state->direction == CU_TO_UUID ? pair_cmp_old : pair_cmp_new);
}

/*
 * connector_uuid_to_uuid(old_id bigint, table_id int) returns uuid
 *
 * The UUID for an old integer id: from the map, else (v4 only) the derived
 * one.  Under v5 and v7 an id missing from the map is an error.  Called once
 * per row by ALTER COLUMN ... TYPE uuid USING, and by the online backfill's
 * batches, whose WAL it paces (walpace.c).
 */
Datum
connector_uuid_to_uuid(PG_FUNCTION_ARGS)
{
	CuMapState *state = require_map(PG_GETARG_INT32(1), CU_TO_UUID);
	pg_uuid_t  *result = palloc(sizeof(pg_uuid_t));
	CuMapPair	probe;
	CuMapPair  *p;

	probe.old_id = PG_GETARG_INT64(0);
	cu_walpace_row();
	p = find_pair(state, &probe);
	if (p)
		*result = p->new_id;
	else if (!state->complete)
		cu_derive_uuid(state->key, probe.old_id, result);
	else
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("id %lld of table \"%s\" is not in the id map",
						(long long) probe.old_id, state->qualname),
				 errdetail("The table is being converted with strategy %s, whose ids are all taken from the id map; "
						   "the map is incomplete: a row was hidden from the step that filled it, or its pair was deleted.",
						   cu_strategy_name(state->strategy)),
				 errhint("Check the table's row level security policies and triggers on connector_uuid_map.")));
	PG_RETURN_UUID_P(result);
}

/*
 * connector_uuid_to_int(new_id uuid, table_id int, missing_ok bool) returns bigint
 *
 * The integer id for a UUID: from the map, else (v4 only) the one it was
 * derived from.  A UUID with neither is an error, or NULL with missing_ok
 * (the downgrade uses that to find the rows created at 2.0, which need a
 * new integer).
 */
Datum
connector_uuid_to_int(PG_FUNCTION_ARGS)
{
	CuMapState *state = require_map(PG_GETARG_INT32(1), CU_TO_INT);
	bool		missing_ok = PG_GETARG_BOOL(2);
	CuMapPair	probe;
	CuMapPair  *p;
	int64		old_id;
	char	   *text;

	probe.new_id = *PG_GETARG_UUID_P(0);
	p = find_pair(state, &probe);
	if (p)
		PG_RETURN_INT64(p->old_id);
	if (!state->complete && cu_underive_uuid(state->key, &probe.new_id, &old_id))
		PG_RETURN_INT64(old_id);
	text = DatumGetCString(DirectFunctionCall1(uuid_out, UUIDPGetDatum(&probe.new_id)));

	/*
	 * Missing is how the downgrade finds the rows created at 2.0.  Under v5
	 * those have the column default's version 4 ids: a version 5 id is one
	 * the conversion made, and its pair is lost.  (Under v7 the conversion's
	 * ids and the default's cannot be told apart.)
	 */
	if (missing_ok && state->strategy == CU_STRATEGY_V5 &&
		(probe.new_id.data[6] >> 4) == 5)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("uuid %s of table \"%s\" is not in the id map", text, state->qualname),
				 errdetail("The table was converted with strategy v5, whose ids are all in the id map, and rows created since "
						   "have version 4 ids: this version 5 id was made by the conversion and its pair was deleted."),
				 errhint("Put the pair back into connector_uuid_map (derived = false), "
						 "or, if the application made this id itself after the conversion, give it a new integer id there.")));
	if (missing_ok)
		PG_RETURN_NULL();
	if (state->complete)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("uuid %s of table \"%s\" is not in the id map", text, state->qualname),
				 errdetail("The table was converted with strategy %s, whose ids are all taken from the id map; "
						   "the map is incomplete: a row was hidden from the step that gave integers to the rows created after the conversion.",
						   cu_strategy_name(state->strategy)),
				 errhint("Check the table's row level security policies and triggers on connector_uuid_map.")));
	ereport(ERROR,
			(errcode(ERRCODE_FOREIGN_KEY_VIOLATION),
			 errmsg("uuid %s of table \"%s\" has no integer id in the id map", text, state->qualname),
			 errdetail("It is neither derived from the table's key nor in connector_uuid_map: a row was hidden "
					   "from the step that gave integers to the rows created after the conversion, or a referencing row "
					   "points at a uuid that no key row has.")));
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
