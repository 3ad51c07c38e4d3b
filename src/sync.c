/*-------------------------------------------------------------------------
 *
 * sync.c
 *	  The online mode's trigger: keeps each uuid twin column in step with
 *	  its integer column while the application writes, and after the swap
 *	  the integer column in step with the uuid one.
 *
 * One BEFORE INSERT OR UPDATE row trigger per table, in C because it runs
 * on every write of the application for as long as the tables are
 * prepared.  Its arguments say everything it needs, so it reads no catalog
 * and no state table per row:
 *
 *   0 table id (the registry's: whose key the permutation uses)
 *   1 'key' (the key table) or 'ref' (a referencing table)
 *   2 the master side: 'int' before the swap, 'uuid' after it
 *   3 the integer column, 4 its uuid twin
 *   5 'derive' or 'lookup' (optional for 'key'): whether some ids are not
 *     derived by the key (the id map has exceptions, or rows were created
 *     after a swap), so the value must be looked up first: the key table's
 *     in the id map, a referencing table's in its key row
 *   ref only: 6 and 7 the key table's schema and name, 8 its integer
 *   column, 9 its uuid column
 *   last (6 for 'key', 10 for 'ref'): the check value of the key
 *   (cu_key_check, 16 hex digits), so that a key cached by this backend
 *   from an earlier registry row of the same table id is never used
 *
 * The slave column is computed from the master column:
 *   integer -> uuid: the keyed permutation (idgen.c), the same function the
 *     backfill and the offline upgrade use, so every row gets the uuid the
 *     offline mode would give it.  A referencing table in 'lookup' mode
 *     (the key table has rows whose uuid is not derived: rows created
 *     after a swap, exceptions of the id map) reads the key row's uuid.
 *   uuid -> integer: the inverse permutation when the uuid is derived;
 *     otherwise the key table keeps the integer its column default gave
 *     (new rows at 2.0 still get integers, so a swap back is instant), and
 *     a referencing row reads its key row's integer.
 * A slave column is never taken from the application: an UPDATE that
 * leaves the master column alone keeps the slave's old value; a row not
 * backfilled yet gets the computed one, except from the backfill itself
 * (which runs in replica mode, which only a superuser can set).
 *
 * The lookups run as the key table's owner, with row level security not
 * forced, as PostgreSQL's own foreign key checks do: the application's
 * role need not be able to read the key table, and its policies cannot
 * hide a row.  The key comes from the registry, read as the extension's
 * owner, once per backend.
 *
 * IDENTIFICATION
 *	  src/sync.c
 *
 *-------------------------------------------------------------------------
 */
#include "registry.h"
#include "security.h"

#include "access/htup_details.h"
#include "catalog/namespace.h"
#include "catalog/pg_authid.h"
#include "catalog/pg_type.h"
#include "commands/trigger.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/datum.h"
#include "utils/hsearch.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/rel.h"

PG_FUNCTION_INFO_V1(connector_uuid_sync);

/* A table id's key, read once per backend */
typedef struct SyncKey
{
	int32		table_id;
	uint8		key[16];
	uint64		check;			/* cu_key_check(key) */
} SyncKey;

/* A trigger's saved lookup plan */
typedef struct SyncPlan
{
	Oid			tgoid;
	SPIPlanPtr	plan;
	char	   *sql;			/* its statement (a trigger's OID can be reused) */
} SyncPlan;

static HTAB *sync_keys = NULL;
static HTAB *sync_plans = NULL;
static HTAB *sync_checked = NULL;	/* trigger OIDs found to be prepare's */

/*
 * The key of table_id, from the registry, whose check value must be check
 */
static const uint8 *
sync_key(int32 table_id, uint64 check)
{
	SyncKey    *entry;
	bool		found;
	Oid			save_userid;
	int			save_sec;
	uint8		key[16];

	if (sync_keys == NULL)
	{
		HASHCTL		ctl;

		ctl.keysize = sizeof(int32);
		ctl.entrysize = sizeof(SyncKey);
		sync_keys = hash_create("connector_uuid sync keys", 16, &ctl, HASH_ELEM | HASH_BLOBS);
	}
	entry = hash_search(sync_keys, &table_id, HASH_FIND, NULL);
	if (entry && entry->check == check)
		return entry->key;

	/* the registry is the extension owner's (superuser), not the writer's */
	GetUserIdAndSecContext(&save_userid, &save_sec);
	SetUserIdAndSecContext(BOOTSTRAP_SUPERUSERID, save_sec | SECURITY_LOCAL_USERID_CHANGE);
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	cu_registry_key(table_id, key);
	if (cu_key_check(key) != check)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("the sync trigger of table id %d was made for another key", table_id),
				 errdetail("The key in connector_uuid_tables is not the one the trigger's arguments name: the registry row was replaced after the trigger was created."),
				 errhint("Remove what CALL connector_uuid_prepare() added with connector_uuid_abort(), and prepare again.")));
	entry = hash_search(sync_keys, &table_id, HASH_ENTER, &found);
	memcpy(entry->key, key, 16);
	entry->check = check;
	if (SPI_finish() != SPI_OK_FINISH)
		elog(ERROR, "SPI_finish failed");
	SetUserIdAndSecContext(save_userid, save_sec);
	return entry->key;
}

/*
 * The uuid the id map gives old id id of table_id (an exception: an id the
 * key does not derive), read as the superuser that owns the registry.
 * Returns false if the map has no such pair.
 */
static bool
sync_map_lookup(int32 table_id, Oid nspid, int64 id, pg_uuid_t *out)
{
	static SPIPlanPtr plan = NULL;
	static Oid	plan_nsp = InvalidOid;
	Oid			save_userid;
	int			save_sec;
	Datum		values[2];
	bool		found = false;
	int			rc;

	GetUserIdAndSecContext(&save_userid, &save_sec);
	SetUserIdAndSecContext(BOOTSTRAP_SUPERUSERID, save_sec | SECURITY_LOCAL_USERID_CHANGE);
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	if (plan == NULL || plan_nsp != nspid)
	{
		Oid			argtypes[2] = {INT4OID, INT8OID};
		char	   *sql = psprintf("SELECT new_id FROM %s.connector_uuid_map WHERE table_id OPERATOR(pg_catalog.=) $1 "
								   "AND old_id OPERATOR(pg_catalog.=) $2 AND NOT derived",
								   quote_identifier(get_namespace_name(nspid)));
		SPIPlanPtr	p = SPI_prepare(sql, 2, argtypes);

		if (p == NULL || SPI_keepplan(p) != 0)
			elog(ERROR, "SPI_prepare failed for: %s", sql);
		if (plan)
			SPI_freeplan(plan);
		plan = p;
		plan_nsp = nspid;
	}
	values[0] = Int32GetDatum(table_id);
	values[1] = Int64GetDatum(id);
	rc = SPI_execute_plan(plan, values, NULL, true, 1);
	if (rc != SPI_OK_SELECT)
		elog(ERROR, "SPI_execute_plan failed: %s", SPI_result_code_string(rc));
	if (SPI_processed == 1)
	{
		bool		isnull;
		Datum		d = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull);

		if (!isnull)
		{
			*out = *DatumGetUUIDP(d);
			found = true;
		}
	}
	if (SPI_finish() != SPI_OK_FINISH)
		elog(ERROR, "SPI_finish failed");
	SetUserIdAndSecContext(save_userid, save_sec);
	return found;
}

/*
 * Check, once per backend and trigger, that trigger tg on rel is one that
 * prepare made: its table is one of table_id's in connector_uuid_online_tables
 * and, for a referencing table, the key table it names is table_id's.  (Only
 * roles with EXECUTE on connector_uuid_sync(), not granted to PUBLIC, can
 * create such a trigger; this is the second line.)
 */
static void
sync_check_trigger(Trigger *tg, Relation rel, int32 table_id, Oid nspid, bool is_ref)
{
	bool		found;
	Oid			save_userid;
	int			save_sec;
	Oid			argtypes[5] = {INT4OID, NAMEOID, NAMEOID, NAMEOID, NAMEOID};
	Datum		values[5];
	int			rc;

	if (sync_checked == NULL)
	{
		HASHCTL		ctl;

		ctl.keysize = sizeof(Oid);
		ctl.entrysize = sizeof(Oid);
		sync_checked = hash_create("connector_uuid sync triggers", 16, &ctl, HASH_ELEM | HASH_BLOBS);
	}
	(void) hash_search(sync_checked, &tg->tgoid, HASH_FIND, &found);
	if (found)
		return;

	GetUserIdAndSecContext(&save_userid, &save_sec);
	SetUserIdAndSecContext(BOOTSTRAP_SUPERUSERID, save_sec | SECURITY_LOCAL_USERID_CHANGE);
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	values[0] = Int32GetDatum(table_id);
	values[1] = DirectFunctionCall1(namein, CStringGetDatum(get_namespace_name(RelationGetNamespace(rel))));
	values[2] = DirectFunctionCall1(namein, CStringGetDatum(RelationGetRelationName(rel)));
	values[3] = DirectFunctionCall1(namein, CStringGetDatum(is_ref ? tg->tgargs[6] : ""));
	values[4] = DirectFunctionCall1(namein, CStringGetDatum(is_ref ? tg->tgargs[7] : ""));
	rc = SPI_execute_with_args(psprintf("SELECT FROM %s.connector_uuid_online_tables t "
										"JOIN %s.connector_uuid_online o ON o.table_id OPERATOR(pg_catalog.=) t.table_id "
										"WHERE t.table_id OPERATOR(pg_catalog.=) $1 "
										"AND t.schema_name OPERATOR(pg_catalog.=) $2 AND t.table_name OPERATOR(pg_catalog.=) $3 "
										"AND (%s OR (o.schema_name OPERATOR(pg_catalog.=) $4 AND o.table_name OPERATOR(pg_catalog.=) $5))",
										quote_identifier(get_namespace_name(nspid)),
										quote_identifier(get_namespace_name(nspid)),
										is_ref ? "false" : "true"),
							   5, argtypes, values, NULL, true, 1);
	if (rc != SPI_OK_SELECT)
		elog(ERROR, "SPI_execute failed: %s", SPI_result_code_string(rc));
	if (SPI_processed != 1)
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("trigger \"%s\" of table \"%s\" was not made by connector_uuid_prepare()",
						tg->tgname, RelationGetRelationName(rel)),
				 errdetail("connector_uuid_online_tables has no table id %d for this table%s.", table_id,
						   is_ref ? " with that key table" : ""),
				 errhint("Drop the trigger; CALL connector_uuid_prepare() makes the triggers it needs.")));
	if (SPI_finish() != SPI_OK_FINISH)
		elog(ERROR, "SPI_finish failed");
	SetUserIdAndSecContext(save_userid, save_sec);
	(void) hash_search(sync_checked, &tg->tgoid, HASH_ENTER, &found);
}

/* The attribute number of column name of rel, or an error */
static int
sync_column(Relation rel, const char *name)
{
	int			attnum = SPI_fnumber(RelationGetDescr(rel), name);

	if (attnum <= 0)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_COLUMN),
				 errmsg("column \"%s\" of table \"%s\" kept in step by connector_uuid_sync does not exist",
						name, RelationGetRelationName(rel)),
				 errhint("Remove what CALL connector_uuid_prepare() added with connector_uuid_abort(), and prepare again.")));
	return attnum;
}

/* An integer datum of type typid as int64 */
static int64
int_value(Datum d, Oid typid)
{
	switch (typid)
	{
		case INT2OID:
			return DatumGetInt16(d);
		case INT4OID:
			return DatumGetInt32(d);
		default:
			return DatumGetInt64(d);
	}
}

/*
 * The key row's other column for value (type valtype) of a referencing row:
 * SELECT want FROM ONLY key WHERE by = value, as the key table's owner.
 * Returns false if there is no such row.
 */
static bool
sync_lookup(Trigger *tg, Oid valtype, Datum value, Datum *result)
{
	SyncPlan   *entry;
	bool		found;
	Oid			keyrel;
	Oid			save_userid;
	int			save_sec;
	int			rc;
	bool		ok = false;
	bool		want_uuid = (valtype != UUIDOID);
	char	   *sql;

	if (sync_plans == NULL)
	{
		HASHCTL		ctl;

		ctl.keysize = sizeof(Oid);
		ctl.entrysize = sizeof(SyncPlan);
		sync_plans = hash_create("connector_uuid sync plans", 16, &ctl, HASH_ELEM | HASH_BLOBS);
	}
	keyrel = get_relname_relid(tg->tgargs[7], get_namespace_oid(tg->tgargs[6], false));
	if (!OidIsValid(keyrel))
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_TABLE),
				 errmsg("table \"%s.%s\" does not exist", tg->tgargs[6], tg->tgargs[7])));

	GetUserIdAndSecContext(&save_userid, &save_sec);
	SetUserIdAndSecContext(cu_rel_owner(keyrel),
						   save_sec | SECURITY_LOCAL_USERID_CHANGE | SECURITY_NOFORCE_RLS);
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	sql = psprintf("SELECT k.%s FROM ONLY %s.%s k WHERE k.%s OPERATOR(pg_catalog.=) $1::%s",
				   quote_identifier(tg->tgargs[want_uuid ? 9 : 8]),
				   quote_identifier(tg->tgargs[6]), quote_identifier(tg->tgargs[7]),
				   quote_identifier(tg->tgargs[want_uuid ? 8 : 9]),
				   want_uuid ? "pg_catalog.int8" : "pg_catalog.uuid");
	entry = hash_search(sync_plans, &tg->tgoid, HASH_ENTER, &found);
	if (!found)
	{
		entry->plan = NULL;
		entry->sql = NULL;
	}
	if (entry->plan == NULL || strcmp(entry->sql, sql) != 0)
	{
		Oid			argtypes[1] = {want_uuid ? INT8OID : UUIDOID};
		SPIPlanPtr	plan = SPI_prepare(sql, 1, argtypes);

		if (plan == NULL)
			elog(ERROR, "SPI_prepare failed for: %s", sql);
		if (SPI_keepplan(plan) != 0)
			elog(ERROR, "SPI_keepplan failed");
		if (entry->plan)
			SPI_freeplan(entry->plan);
		if (entry->sql)
			pfree(entry->sql);
		entry->plan = plan;
		entry->sql = MemoryContextStrdup(TopMemoryContext, sql);
	}
	rc = SPI_execute_plan(entry->plan, &value, NULL, true, 1);
	if (rc != SPI_OK_SELECT)
		elog(ERROR, "SPI_execute_plan failed: %s", SPI_result_code_string(rc));
	if (SPI_processed == 1)
	{
		bool		isnull;
		Datum		d = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull);

		if (!isnull)
		{
			if (want_uuid)
			{
				/* in the caller's memory: SPI's goes at SPI_finish */
				pg_uuid_t  *u = SPI_palloc(sizeof(pg_uuid_t));

				*u = *DatumGetUUIDP(d);
				*result = UUIDPGetDatum(u);
			}
			else
				*result = Int64GetDatum(int_value(d, SPI_gettypeid(SPI_tuptable->tupdesc, 1)));
			ok = true;
		}
	}
	if (SPI_finish() != SPI_OK_FINISH)
		elog(ERROR, "SPI_finish failed");
	SetUserIdAndSecContext(save_userid, save_sec);
	return ok;
}

/* int64 v as a datum of integer type typid, or an error if out of its range */
static Datum
int_datum(int64 v, Oid typid, Relation rel, const char *col)
{
	if ((typid == INT2OID && (v < PG_INT16_MIN || v > PG_INT16_MAX)) ||
		(typid == INT4OID && (v < PG_INT32_MIN || v > PG_INT32_MAX)))
		ereport(ERROR,
				(errcode(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE),
				 errmsg("integer id %lld is out of range for column \"%s\" of table \"%s\"",
						(long long) v, col, RelationGetRelationName(rel))));
	switch (typid)
	{
		case INT2OID:
			return Int16GetDatum((int16) v);
		case INT4OID:
			return Int32GetDatum((int32) v);
		default:
			return Int64GetDatum(v);
	}
}

/*
 * connector_uuid_sync() returns trigger
 *
 * See the file header.  BEFORE INSERT OR UPDATE, FOR EACH ROW.
 */
Datum
connector_uuid_sync(PG_FUNCTION_ARGS)
{
	TriggerData *td = (TriggerData *) fcinfo->context;
	Trigger    *tg;
	Relation	rel;
	TupleDesc	desc;
	HeapTuple	newtup;
	HeapTuple	oldtup = NULL;
	bool		is_ref;
	bool		master_int;
	int			intcol,
				uuidcol,
				mastercol,
				slavecol;
	Oid			inttype;
	bool		mnull,
				snull,
				oldmnull = true,
				oldsnull = true;
	Datum		mval,
				sval,
				oldmval = (Datum) 0,
				oldsval = (Datum) 0;
	bool		compute;
	Datum		newval = (Datum) 0;
	bool		newnull = false;
	int			cols[1];
	Datum		vals[1];
	bool		nulls[1];
	uint64		check;

	if (!CALLED_AS_TRIGGER(fcinfo) || !TRIGGER_FIRED_BEFORE(td->tg_event) ||
		!TRIGGER_FIRED_FOR_ROW(td->tg_event) ||
		!(TRIGGER_FIRED_BY_INSERT(td->tg_event) || TRIGGER_FIRED_BY_UPDATE(td->tg_event)))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("connector_uuid_sync() must be fired BEFORE INSERT OR UPDATE, FOR EACH ROW")));
	tg = td->tg_trigger;
	rel = td->tg_relation;
	desc = RelationGetDescr(rel);
	if (tg->tgnargs < 5 || (strcmp(tg->tgargs[1], "ref") == 0 && tg->tgnargs < 10))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("trigger \"%s\" of table \"%s\" has the wrong arguments for connector_uuid_sync()",
						tg->tgname, RelationGetRelationName(rel))));
	is_ref = strcmp(tg->tgargs[1], "ref") == 0;
	master_int = strcmp(tg->tgargs[2], "int") == 0;
	intcol = sync_column(rel, tg->tgargs[3]);
	uuidcol = sync_column(rel, tg->tgargs[4]);
	inttype = TupleDescAttr(desc, intcol - 1)->atttypid;
	if (!(inttype == INT2OID || inttype == INT4OID || inttype == INT8OID) ||
		TupleDescAttr(desc, uuidcol - 1)->atttypid != UUIDOID)
		ereport(ERROR,
				(errcode(ERRCODE_DATATYPE_MISMATCH),
				 errmsg("columns \"%s\" and \"%s\" of table \"%s\" are not an integer and a uuid",
						tg->tgargs[3], tg->tgargs[4], RelationGetRelationName(rel))));
	if (tg->tgnargs < (is_ref ? 11 : 7))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("trigger \"%s\" of table \"%s\" has the wrong arguments for connector_uuid_sync()",
						tg->tgname, RelationGetRelationName(rel))));
	check = strtou64(tg->tgargs[is_ref ? 10 : 6], NULL, 16);
	sync_check_trigger(tg, rel, pg_strtoint32(tg->tgargs[0]), get_func_namespace(fcinfo->flinfo->fn_oid), is_ref);
	mastercol = master_int ? intcol : uuidcol;
	slavecol = master_int ? uuidcol : intcol;

	newtup = TRIGGER_FIRED_BY_UPDATE(td->tg_event) ? td->tg_newtuple : td->tg_trigtuple;
	mval = heap_getattr(newtup, mastercol, desc, &mnull);
	sval = heap_getattr(newtup, slavecol, desc, &snull);
	if (TRIGGER_FIRED_BY_UPDATE(td->tg_event))
	{
		oldtup = td->tg_trigtuple;
		oldmval = heap_getattr(oldtup, mastercol, desc, &oldmnull);
		oldsval = heap_getattr(oldtup, slavecol, desc, &oldsnull);
	}

	/* which value the slave column gets */
	if (oldtup == NULL)
		compute = true;
	else if (mnull != oldmnull ||
			 (!mnull && !datumIsEqual(mval, oldmval, TupleDescAttr(desc, mastercol - 1)->attbyval,
									  TupleDescAttr(desc, mastercol - 1)->attlen)))
		compute = true;			/* the master changed */
	else if (!oldsnull)
	{
		compute = false;		/* unchanged: keep the old value */
		newval = oldsval;
		newnull = false;
	}
	else
	{
		/*
		 * Not backfilled yet: the backfill's value is kept.  Only the
		 * backfill (and a logical replication apply) writes in replica
		 * mode, which takes a superuser to set: any other write of a row
		 * not backfilled yet gets the computed value, whatever it gave.
		 */
		compute = snull || SessionReplicationRole != SESSION_REPLICATION_ROLE_REPLICA;
	}

	if (compute)
	{
		if (mnull)
			newnull = true;
		else if (master_int)
		{
			int64		id = int_value(mval, inttype);
			int32		table_id = pg_strtoint32(tg->tgargs[0]);
			Oid			nspid = get_func_namespace(fcinfo->flinfo->fn_oid);
			const uint8 *key = sync_key(table_id, check);
			bool		lookup = strcmp(tg->tgargs[5], "lookup") == 0;
			pg_uuid_t  *u = palloc(sizeof(pg_uuid_t));

			/*
			 * Looked up first when some ids are not derived: a referencing
			 * row takes its key row's uuid (NULL while that row waits for
			 * the backfill); else, key table or not, the id map's
			 * exception; else the derived uuid.
			 */
			if (is_ref && lookup && sync_lookup(tg, INT8OID, Int64GetDatum(id), &newval))
				pfree(u);
			else if (lookup && sync_map_lookup(table_id, nspid, id, u))
				newval = UUIDPGetDatum(u);
			else
			{
				cu_derive_uuid(key, id, u);
				newval = UUIDPGetDatum(u);
			}
		}
		else
		{
			const uint8 *key = sync_key(pg_strtoint32(tg->tgargs[0]), check);
			int64		id;
			Datum		looked;


			if (cu_underive_uuid(key, DatumGetUUIDP(mval), &id))
				newval = int_datum(id, inttype, rel, tg->tgargs[3]);
			else if (!is_ref)
			{
				/* the key's integer: what its column default gave */
				newval = sval;
				newnull = snull;
				if (oldtup != NULL && !oldsnull)
					newval = oldsval, newnull = false;
			}
			else if (sync_lookup(tg, UUIDOID, mval, &looked))
				newval = int_datum(DatumGetInt64(looked), inttype, rel, tg->tgargs[3]);
			else
				newnull = true; /* no key row: the uuid's foreign key says so */
		}
	}
	else if (oldtup != NULL && oldsnull)
	{
		newval = sval;
		newnull = snull;
	}

	cols[0] = slavecol;
	vals[0] = newval;
	nulls[0] = newnull;
	{
		bool	   *replace = palloc0(sizeof(bool) * desc->natts);
		Datum	   *values = palloc0(sizeof(Datum) * desc->natts);
		bool	   *isnull = palloc0(sizeof(bool) * desc->natts);

		replace[cols[0] - 1] = true;
		values[cols[0] - 1] = vals[0];
		isnull[cols[0] - 1] = nulls[0];
		newtup = heap_modify_tuple(newtup, desc, values, isnull, replace);
	}
	return PointerGetDatum(newtup);
}
