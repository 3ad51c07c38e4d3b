/*-------------------------------------------------------------------------
 *
 * swap.c
 *	  The plans of the online mode's short transactions: the swap (inside
 *	  ALTER EXTENSION ... UPDATE, or connector_uuid_convert), the swap back
 *	  (UPDATE TO '1.0', connector_uuid_revert), connector_uuid_finalize()
 *	  and connector_uuid_abort().  executor.c runs them like any plan: the
 *	  locks first, bounded and retried, then the steps.
 *
 * The swap changes the catalogs only.  prepare.c has built every twin
 * and validated it, so here the plan checks that they are all there and
 * valid (any row without its uuid would have failed a validated
 * constraint: nothing is scanned), then, under ACCESS EXCLUSIVE on the
 * tables in the usual order:
 *   drops the views, rules, policies and triggers that use the columns
 *   (dependents.c), to create them again on the new columns at the end;
 *   makes the uuid key's unique constraint the primary key and the
 *   integer key a unique constraint (keyswap.c);
 *   renames every object and its twin, so the uuid side carries the
 *   original names and the integer side the suffix "_int";
 *   gives the uuid key the offline mode's default; the integer key keeps
 *   its own, so rows created at 2.0 still get integers;
 *   turns the sync triggers around (the uuid side is now the master);
 *   records the registry facts of the integer key (for a later offline
 *   downgrade), stamps alembic, and sets the phase.
 * The swap back is the same walk the other way; the integer side's
 * foreign keys were kept all along, so nothing is validated either way.
 * Finalize drops the integer side (columns, foreign keys, checks,
 * triggers): catalog only.  Abort drops everything prepare added.
 *
 * IDENTIFICATION
 *	  src/swap.c
 *
 *-------------------------------------------------------------------------
 */
#include "online.h"
#include "registry.h"
#include "spi_util.h"

#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"

/* A refusal of the online plans: what is missing, and what to do */
static void
refuse(CuOnlineState *st, const char *what, const char *hint)
{
	ereport(ERROR,
			(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
			 errmsg("table \"%s\" is not ready to swap: %s", cu_qualify(st->nspname, st->relname), what),
			 errhint("%s", hint)));
}

/* The validated state of constraint name on relid: 0 missing, 1 not valid, 2 valid */
static int
constraint_validity(Oid relid, const char *name)
{
	Oid			con = cu_lookup_constraint(relid, name);
	bool		isnull;

	if (!OidIsValid(con))
		return 0;
	cu_spi_select_oid("SELECT c.convalidated FROM pg_catalog.pg_constraint c WHERE c.oid OPERATOR(pg_catalog.=) $1", con);
	return cu_spi_getbool(0, 1, &isnull) ? 2 : 1;
}

/*
 * Every twin of o is there and valid, the key twin is NOT NULL and each
 * referencing table's sync check is validated: so every row has its twin
 * value, without a scan
 */
static void
check_twins(CuOnline *o, CuOnlineState *st)
{
	ListCell   *lc;
	const char *again = "CALL connector_uuid_prepare() to finish the preparation.";

	foreach(lc, o->twins)
	{
		CuTwin	   *tw = lfirst(lc);
		bool		isnull;

		switch (tw->kind)
		{
			case CU_TWIN_COLUMN:
				if (get_attnum(tw->relid, tw->twin) == InvalidAttrNumber)
					refuse(st, psprintf("column %s of table %s is missing", tw->twin, tw->relname), again);
				if (cu_column_not_null(tw->relid, tw->attname))
				{
					if (!cu_column_not_null(tw->relid, tw->twin))
						refuse(st, psprintf("column %s of table %s is not NOT NULL", tw->twin, tw->relname), again);
				}
				else if (constraint_validity(tw->relid, cu_sync_check_name(tw->relname, tw->attname)) != 2)
					refuse(st, psprintf("the check of column %s of table %s is missing or not validated",
										tw->twin, tw->relname), again);
				break;
			case CU_TWIN_KEY:
				if (constraint_validity(tw->relid, tw->twin) != 2)
					refuse(st, psprintf("unique constraint %s is missing", tw->twin), again);
				break;
			case CU_TWIN_INDEX:
				{
					Oid			idx = cu_lookup_twin_index(tw->relid, tw->twin);

					if (!OidIsValid(idx))
						refuse(st, psprintf("index %s is missing", tw->twin), again);
					cu_spi_select_oid("SELECT i.indisvalid FROM pg_catalog.pg_index i WHERE i.indexrelid OPERATOR(pg_catalog.=) $1", idx);
					if (!cu_spi_getbool(0, 1, &isnull))
						refuse(st, psprintf("index %s is not valid", tw->twin), again);
					break;
				}
			case CU_TWIN_FKEY:
				if (constraint_validity(tw->relid, tw->twin) != 2)
					refuse(st, psprintf("foreign key %s is missing or not validated", tw->twin), again);
				break;
		}
	}
}

/* The state row's UPDATE, as a step of plan */
static void
plan_state(CuPlan *plan, CuOnlineState *st, const char *sql, const char *what)
{
	cu_step_lock(cu_plan_add(plan, CU_STEP_SQL, InvalidOid, st->relname, NoLock,
							 psprintf(sql, cu_extension_qual("connector_uuid_online"), st->table_id),
							 "%s", what),
				 cu_extension_rel("connector_uuid_online"), RowExclusiveLock);
}

/* The sync trigger of every table of o, dropped and added again the other way round */
static void
plan_triggers(CuPlan *plan, CuOnline *o, bool master_int, bool lookup)
{
	ListCell   *lc;

	foreach(lc, o->twins)
	{
		CuTwin	   *tw = lfirst(lc);
		char	   *qual;
		char	   *other;

		if (tw->kind != CU_TWIN_COLUMN)
			continue;
		qual = cu_qualify(tw->nspname, tw->relname);
		/* after the renames, the new master carries the original name */
		other = cu_twin_name(tw->attname, master_int ? "_uuid" : "_int");
		cu_plan_add(plan, CU_STEP_SQL, tw->relid, tw->relname, AccessExclusiveLock,
					psprintf("DROP TRIGGER %s ON %s", CU_SYNC_TRIGGER, qual),
					"drop the sync trigger (added again the other way round)");
		cu_plan_add(plan, CU_STEP_SQL, tw->relid, tw->relname, ShareRowExclusiveLock,
					cu_sync_trigger_sql(o, tw->relid, tw->attname, master_int, lookup),
					"add the sync trigger: %s from %s", other, tw->attname);
		cu_plan_add(plan, CU_STEP_SQL, tw->relid, tw->relname, ShareRowExclusiveLock,
					psprintf("ALTER TABLE %s ENABLE ALWAYS TRIGGER %s", qual, CU_SYNC_TRIGGER),
					"make it fire on logical replicas too");
	}
}

/* The renames that put every twin of o in its original's place */
static void
plan_renames(CuPlan *plan, CuOnline *o)
{
	ListCell   *lc;

	foreach(lc, o->twins)
	{
		CuTwin	   *tw = lfirst(lc);
		char	   *qual = cu_qualify(tw->nspname, tw->relname);
		char	   *aside = cu_twin_name(tw->base, o->other_suffix);
		const char *fmt = NULL;
		CuStep	   *s1,
				   *s2;

		switch (tw->kind)
		{
			case CU_TWIN_COLUMN:
				fmt = "ALTER TABLE %s RENAME COLUMN %s TO %s";
				break;
			case CU_TWIN_KEY:
			case CU_TWIN_FKEY:
				fmt = "ALTER TABLE %s RENAME CONSTRAINT %s TO %s";
				break;
			case CU_TWIN_INDEX:
				fmt = "ALTER INDEX %s RENAME TO %s";
				break;
		}
		if (tw->kind == CU_TWIN_INDEX)
		{
			Oid			twin = cu_lookup_twin_index(tw->relid, tw->twin);

			s1 = cu_plan_add(plan, CU_STEP_SQL, tw->relid, tw->relname, AccessExclusiveLock,
							 psprintf(fmt, cu_qualify(tw->nspname, tw->base), quote_identifier(aside)),
							 "rename index %s to %s", tw->base, aside);
			cu_step_lock(s1, tw->oid, ShareUpdateExclusiveLock);
			s2 = cu_plan_add(plan, CU_STEP_SQL, tw->relid, tw->relname, AccessExclusiveLock,
							 psprintf(fmt, cu_qualify(tw->nspname, tw->twin), quote_identifier(tw->base)),
							 "rename index %s to %s", tw->twin, tw->base);
			cu_step_lock(s2, twin, ShareUpdateExclusiveLock);
			continue;
		}
		cu_plan_add(plan, CU_STEP_SQL, tw->relid, tw->relname, AccessExclusiveLock,
					psprintf(fmt, qual, quote_identifier(tw->base), quote_identifier(aside)),
					"rename %s %s to %s", tw->kind == CU_TWIN_COLUMN ? "column" : "constraint",
					tw->base, aside);
		s2 = cu_plan_add(plan, CU_STEP_SQL, tw->relid, tw->relname, AccessExclusiveLock,
						 psprintf(fmt, qual, quote_identifier(tw->twin), quote_identifier(tw->base)),
						 "rename %s %s to %s", tw->kind == CU_TWIN_COLUMN ? "column" : "constraint",
						 tw->twin, tw->base);
		/* renaming a constraint renames its index; a foreign key's locks the other table */
		if (tw->kind == CU_TWIN_FKEY)
			cu_step_lock(s2, o->target->relid, AccessExclusiveLock);
	}
}

/*
 * The swap (plan->direction CU_TO_UUID, phase prepared) or the swap back
 * (CU_TO_INT, phase swapped) of the key table plan->target and its
 * referencing tables
 */
void
cu_plan_swap(CuPlan *plan, CuOnlineState *st)
{
	CuTarget   *t = plan->target;
	bool		up = plan->direction == CU_TO_UUID;
	CuOnline   *o;
	CuStep	   *step;
	ListCell   *lc;
	Oid			twinkey;
	CuTwin	   *keytwin = NULL;

	if (up && strcmp(st->phase, "swapped") == 0)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("table \"%s\" is swapped already", t->qualname),
				 errhint("Finish with connector_uuid_finalize(), or swap back.")));
	if (up && strcmp(st->phase, "prepared") != 0)
		refuse(st, psprintf("its preparation is in phase %s", st->phase),
			   "CALL connector_uuid_prepare() to finish it, or remove what it added with connector_uuid_abort().");
	/*
	 * The connector tables prepared, with the extension at 2.0: a dump taken
	 * while prepared, restored (pg_dump's CREATE EXTENSION installs 2.0 before
	 * the tables).  UPDATE TO '1.0' records the integer state, no row changed.
	 */
	if (!up && strcmp(st->phase, "swapped") != 0 && plan->options->connector)
	{
		plan->adopt = true;
		plan->notes = lappend(plan->notes,
							  psprintf("the tables are prepared for the online swap, at integer state (phase %s): recording version 1.0, no row changed",
									   st->phase));
		return;
	}
	if (!up && strcmp(st->phase, "swapped") != 0)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("table \"%s\" is prepared for the online swap, not swapped", t->qualname),
				 errdetail("Its integer key is the primary key still."),
				 errhint("To remove what CALL connector_uuid_prepare() added, run connector_uuid_abort().")));

	plan->table_id = st->table_id;
	plan->online = true;
	plan->outcome = up ? "swapped (online)" : "swapped back (online)";
	/* the registry records no derived pairs: the backfill wrote none */
	plan->options->online = true;
	o = cu_online_picture(t, st->table_id, !up, false);
	check_twins(o, st);
	foreach(lc, o->twins)
		if (((CuTwin *) lfirst(lc))->kind == CU_TWIN_KEY)
			keytwin = lfirst(lc);
	twinkey = cu_lookup_constraint(t->relid, keytwin->twin);

	/* the integer key's facts, for a downgrade after finalize */
	if (up)
		cu_step_lock(cu_plan_internal(plan, CU_ACT_REGISTER, RowExclusiveLock,
									  "record the key's type, default and sequence in the registry"),
					 cu_extension_rel("connector_uuid_tables"), RowExclusiveLock);
	cu_plan_drop_dependents(plan);
	step = cu_plan_internal(plan, CU_ACT_SWAP_KEY, AccessExclusiveLock,
							"make unique constraint %s the primary key and %s a unique constraint (catalog only)",
							keytwin->twin, keytwin->base);
	step->relid = t->relid;
	step->swap_from = t->pkconoid;
	step->swap_to = twinkey;
	cu_step_lock(step, t->relid, AccessExclusiveLock);
	plan_renames(plan, o);
	if (up)
		cu_plan_add(plan, CU_STEP_SQL, t->relid, t->relname, AccessExclusiveLock,
					psprintf("ALTER TABLE %s ALTER COLUMN %s SET DEFAULT %s()", t->qualname,
							 quote_identifier(t->pkattname),
							 cu_qualify(get_namespace_name(cu_uuid_ossp_schema()), "uuid_generate_v4")),
					"give the uuid key the offline mode's default (the integer key keeps its own)");
	else
		cu_plan_add(plan, CU_STEP_SQL, t->relid, t->relname, AccessExclusiveLock,
					psprintf("ALTER TABLE %s ALTER COLUMN %s DROP DEFAULT", t->qualname,
							 quote_identifier(cu_twin_name(t->pkattname, "_uuid"))),
					"drop the uuid column's default (the sync trigger fills it)");
	plan_triggers(plan, o, !up, true);
	if (plan->options->connector)
	{
		cu_connector_alembic_decide(plan);
		cu_connector_steps(plan);
	}
	cu_plan_create_dependents(plan);
	plan_state(plan, st, up ?
			   "UPDATE %s SET phase = 'swapped', swapped_once = true, updated_at = pg_catalog.clock_timestamp() "
			   "WHERE table_id OPERATOR(pg_catalog.=) %d" :
			   "UPDATE %s SET phase = 'prepared', updated_at = pg_catalog.clock_timestamp() "
			   "WHERE table_id OPERATOR(pg_catalog.=) %d",
			   up ? "record the phase: swapped" : "record the phase: prepared");
}

/* The state rows' DELETE, as steps of plan */
static void
plan_forget(CuPlan *plan, CuOnlineState *st)
{
	plan_state(plan, st, "DELETE FROM %s WHERE table_id OPERATOR(pg_catalog.=) %d",
			   "forget the online state of the table");
	cu_step_lock(cu_plan_add(plan, CU_STEP_SQL, InvalidOid, st->relname, NoLock,
							 psprintf("DELETE FROM %s WHERE table_id OPERATOR(pg_catalog.=) %d",
									  cu_extension_qual("connector_uuid_online_tables"), st->table_id),
							 "and of its tables"),
				 cu_extension_rel("connector_uuid_online_tables"), RowExclusiveLock);
}

/* DROP COLUMN of every column twin of o (referencing tables first) */
static void
plan_drop_twin_columns(CuPlan *plan, CuOnline *o, bool if_exists)
{
	int			i;

	for (i = list_length(o->twins) - 1; i >= 0; i--)
	{
		CuTwin	   *tw = list_nth(o->twins, i);
		CuStep	   *step;

		if (tw->kind != CU_TWIN_COLUMN)
			continue;
		if (if_exists && get_attnum(tw->relid, tw->twin) == InvalidAttrNumber)
			continue;
		step = cu_plan_add(plan, CU_STEP_SQL, tw->relid, tw->relname, AccessExclusiveLock,
						   psprintf("ALTER TABLE %s DROP COLUMN %s", cu_qualify(tw->nspname, tw->relname),
									quote_identifier(tw->twin)),
						   "drop column %s, with its indexes and constraints (catalog only)", tw->twin);
		/* the key's twin: the foreign keys of the others went with their columns */
		if (tw->relid == o->target->relid)
			cu_step_lock(step, tw->relid, AccessExclusiveLock);
	}
}

/* The sync triggers of o's tables, dropped */
static void
plan_drop_triggers(CuPlan *plan, CuOnline *o)
{
	ListCell   *lc;

	foreach(lc, o->relids)
	{
		Oid			relid = lfirst_oid(lc);

		cu_plan_add(plan, CU_STEP_SQL, relid, get_rel_name(relid), AccessExclusiveLock,
					psprintf("DROP TRIGGER IF EXISTS %s ON %s", CU_SYNC_TRIGGER, cu_rel_qualname(relid)),
					"drop the sync trigger");
	}
}

/* connector_uuid_finalize(): drop the integer side, after the swap */
void
cu_plan_finalize(CuPlan *plan, CuOnlineState *st)
{
	CuTarget   *t = plan->target;
	CuOnline   *o;
	ListCell   *lc;
	char	   *keyint = cu_twin_name(t->pkattname, "_int");

	if (strcmp(st->phase, "swapped") != 0)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("table \"%s\" is not swapped", t->qualname),
				 errdetail("Its preparation is in phase %s.", st->phase),
				 errhint("Swap first (ALTER EXTENSION connector_uuid UPDATE, or connector_uuid_convert), or remove what CALL connector_uuid_prepare() added with connector_uuid_abort().")));
	plan->table_id = st->table_id;
	plan->online = true;
	plan->outcome = "finalized (online)";
	o = cu_online_picture(t, st->table_id, true, false);
	plan_drop_triggers(plan, o);
	foreach(lc, o->twins)
	{
		CuTwin	   *tw = lfirst(lc);

		if (tw->kind == CU_TWIN_FKEY)
			cu_step_lock(cu_plan_add(plan, CU_STEP_SQL, tw->relid, tw->relname, AccessExclusiveLock,
									 psprintf("ALTER TABLE %s DROP CONSTRAINT %s", cu_qualify(tw->nspname, tw->relname),
											  quote_identifier(tw->twin)),
									 "drop foreign key %s of the integer side", tw->twin),
						 t->relid, AccessExclusiveLock);
		else if (tw->kind == CU_TWIN_COLUMN && tw->relid != t->relid &&
				 OidIsValid(cu_lookup_constraint(tw->relid, cu_sync_check_name(tw->relname, tw->attname))))
			cu_plan_add(plan, CU_STEP_SQL, tw->relid, tw->relname, AccessExclusiveLock,
						psprintf("ALTER TABLE %s DROP CONSTRAINT %s", cu_qualify(tw->nspname, tw->relname),
								 quote_identifier(cu_sync_check_name(tw->relname, tw->attname))),
						"drop the check that kept %s and %s NULL together", tw->attname, tw->twin);
	}
	/* a serial's sequence goes on with the uuid key, as the offline mode leaves it */
	if (get_attnum(t->relid, keyint) != InvalidAttrNumber)
	{
		Oid			seq;

		cu_spi_exec(psprintf("SELECT pg_catalog.pg_get_serial_sequence(%s, %s)::pg_catalog.regclass::pg_catalog.oid, a.attidentity "
							 "FROM pg_catalog.pg_attribute a WHERE a.attrelid OPERATOR(pg_catalog.=) %u "
							 "AND a.attname OPERATOR(pg_catalog.=) %s",
							 quote_literal_cstr(t->qualname), quote_literal_cstr(keyint), t->relid,
							 quote_literal_cstr(keyint)), SPI_OK_SELECT);
		if (SPI_processed == 1 && cu_spi_getstring(0, 1) != NULL &&
			strcmp(cu_spi_getstring(0, 2), "") == 0)
		{
			bool		isnull;

			seq = (Oid) cu_spi_getint64(0, 1, &isnull);
			cu_step_lock(cu_plan_add(plan, CU_STEP_SQL, t->relid, t->relname, AccessExclusiveLock,
									 psprintf("ALTER SEQUENCE %s OWNED BY %s.%s", cu_rel_qualname(seq),
											  t->qualname, quote_identifier(t->pkattname)),
									 "let the uuid key own the sequence, as after the offline upgrade"),
						 seq, AccessExclusiveLock);
		}
	}
	plan_drop_twin_columns(plan, o, true);
	plan_forget(plan, st);
}

/*
 * Before an abort after a swap back drops the uuid column: the uuids that
 * the key does not derive (rows created at 2.0) go to the id map as
 * exceptions, so that a later conversion gives those rows the uuid they
 * had, as after an offline downgrade.  The key table is read as its owner
 * into the work table (see cu_plan_work_table); our own statement writes
 * the map.
 */
static void
plan_keep_exceptions(CuPlan *plan, CuOnline *o)
{
	CuTarget   *t = o->target;
	char	   *pk = (char *) quote_identifier(t->pkattname);
	char	   *twin = (char *) quote_identifier(cu_twin_column(o, t->pkattname));
	Oid			owner;
	CuStep	   *step;

	/* the exceptions loaded, so that connector_uuid_to_uuid() tells them apart */
	plan->direction = CU_TO_UUID;
	cu_step_lock(cu_plan_internal(plan, CU_ACT_LOAD_EXCEPTIONS, AccessShareLock,
								  "load the id map's exceptions into memory"),
				 cu_extension_rel("connector_uuid_map"), AccessShareLock);
	owner = cu_plan_work_table(plan);
	cu_plan_read_as_owner(plan, owner,
						  psprintf("INSERT INTO " CU_WORK_TABLE " (kind, n, u) SELECT 'p', t.%s, t.%s FROM %s t "
								   "WHERE t.%s OPERATOR(pg_catalog.<>) %s(t.%s::pg_catalog.int8, %d::pg_catalog.int4)",
								   pk, twin, t->qualname, twin, cu_extension_qual("connector_uuid_to_uuid"),
								   pk, o->table_id),
						  "find the rows whose uuid the key does not derive (created at 2.0)");
	step = cu_plan_add(plan, CU_STEP_SQL, t->relid, t->relname, RowExclusiveLock,
					   psprintf("INSERT INTO %s (table_id, derived, old_id, new_id) "
								"SELECT %d, false, w.n, w.u FROM " CU_WORK_TABLE " w "
								"WHERE w.kind OPERATOR(pg_catalog.=) 'p' ON CONFLICT (table_id, old_id) DO NOTHING",
								cu_extension_qual("connector_uuid_map"), o->table_id),
					   "keep their uuids in the id map, so a later conversion gives them the same");
	cu_step_lock(step, cu_extension_rel("connector_uuid_map"), RowExclusiveLock);
	cu_plan_drop_work_table(plan);
}

/* connector_uuid_abort(): remove everything prepare added, before the swap */
void
cu_plan_abort(CuPlan *plan, CuOnlineState *st)
{
	CuTarget   *t = plan->target;
	CuOnline   *o;

	if (strcmp(st->phase, "swapped") == 0)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("table \"%s\" is swapped", t->qualname),
				 errdetail("Its uuid key is the primary key now."),
				 errhint("Swap back first (ALTER EXTENSION connector_uuid UPDATE TO '1.0', or connector_uuid_revert), or keep it with connector_uuid_finalize().")));
	plan->table_id = st->table_id;
	plan->online = true;
	plan->outcome = "aborted (online)";
	o = cu_online_picture(t, st->table_id, false, false);
	plan_drop_triggers(plan, o);
	if (st->swapped_once)
		plan_keep_exceptions(plan, o);
	plan_drop_twin_columns(plan, o, true);
	plan_forget(plan, st);
	if (st->new_registry && !st->swapped_once)
	{
		CuStep	   *step = cu_plan_add(plan, CU_STEP_SQL, InvalidOid, st->relname, NoLock,
									   psprintf("DELETE FROM %s WHERE table_id OPERATOR(pg_catalog.=) %d",
												cu_extension_qual("connector_uuid_columns"), st->table_id),
									   "forget the registry row prepare made (no uuid was ever the key)");

		cu_step_lock(step, cu_extension_rel("connector_uuid_columns"), RowExclusiveLock);
		step = cu_plan_add(plan, CU_STEP_SQL, InvalidOid, st->relname, NoLock,
						   psprintf("DELETE FROM %s WHERE table_id OPERATOR(pg_catalog.=) %d",
									cu_extension_qual("connector_uuid_tables"), st->table_id),
						   "and its key");
		cu_step_lock(step, cu_extension_rel("connector_uuid_tables"), RowExclusiveLock);
	}
}
