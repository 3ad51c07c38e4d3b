/*-------------------------------------------------------------------------
 *
 * plan.c
 *	  The plan of one conversion, in either direction: from the catalog
 *	  picture (discover.c, dependents.c, partition.c) to the ordered list
 *	  of steps, each with its description, its SQL and the locks it takes.
 *	  connector_uuid_plan() prints this list; executor.c runs it.
 *
 * Building a plan also runs every pre-flight check (preflight.c), so bad
 * input is refused before the first statement runs, and a DBA sees the
 * same error from connector_uuid_plan() that the upgrade would give.
 *
 * The upgrade (integer -> uuid), one rewrite per table:
 *	 lock everything the steps touch (steps.c gives the order);
 *	 record the table in the registry and its ids in the id map;
 *	 drop the views, rules, policies and triggers that use the columns
 *	 (dependents.c), and the foreign keys;
 *	 ALTER COLUMN ... TYPE uuid USING the mapping function, key table first
 *	 (a hash-partitioned key table is rebuilt instead: partition.c);
 *	 add the foreign keys back (no second validation scan: see executor.c);
 *	 recreate the dependents; the connector's MD5 index and alembic stamp
 *	 (connector.c).
 * The downgrade is the same walk backwards, after giving an integer to every
 * row that was created at 2.0.
 *
 * IDENTIFICATION
 *	  src/plan.c
 *
 *-------------------------------------------------------------------------
 */
#include "execute.h"
#include "online.h"
#include "registry.h"
#include "security.h"
#include "spi_util.h"

#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"

/* The ADD CONSTRAINT statement that recreates fk against the key column */
static char *
fk_add_sql(CuTarget *t, CuForeignKey *fk)
{
	StringInfoData buf;

	initStringInfo(&buf);
	appendStringInfo(&buf, "ALTER TABLE %s ADD CONSTRAINT %s FOREIGN KEY (%s) REFERENCES %s (%s)",
					 cu_qualify(fk->nspname, fk->relname), quote_identifier(fk->conname),
					 quote_identifier(fk->attname), t->qualname,
					 quote_identifier(t->pkattname));
	if (fk->match_type == 'f')
		appendStringInfoString(&buf, " MATCH FULL");
	appendStringInfo(&buf, " ON UPDATE %s ON DELETE %s",
					 cu_fk_action_sql(fk->upd_action), cu_fk_action_sql(fk->del_action));
	/* ON DELETE SET NULL (col, ...): PostgreSQL 15 and later */
	if (fk->set_columns && (fk->del_action == 'n' || fk->del_action == 'd'))
		appendStringInfo(&buf, " (%s)", fk->set_columns);
	if (fk->deferrable)
		appendStringInfo(&buf, " DEFERRABLE INITIALLY %s", fk->deferred ? "DEFERRED" : "IMMEDIATE");
	if (!fk->validated && !fk->synthetic)
		appendStringInfoString(&buf, " NOT VALID");
	return buf.data;
}

/* Group the referencing columns by table: one rewrite per table */
typedef struct TableCols
{
	Oid			relid;
	char	   *nspname;
	char	   *relname;
	List	   *fkeys;
} TableCols;

static List *
group_by_table(CuTarget *t)
{
	List	   *groups = NIL;
	ListCell   *lc;

	foreach(lc, t->fkeys)
	{
		CuForeignKey *fk = lfirst(lc);
		ListCell   *lc2;
		TableCols  *g = NULL;

		foreach(lc2, groups)
		{
			TableCols  *x = lfirst(lc2);

			if (x->relid == fk->relid)
				g = x;
		}
		if (g == NULL)
		{
			g = palloc0(sizeof(TableCols));
			g->relid = fk->relid;
			g->nspname = fk->nspname;
			g->relname = fk->relname;
			groups = lappend(groups, g);
		}
		/* two foreign keys on one column convert the column once */
		foreach(lc2, g->fkeys)
		{
			if (((CuForeignKey *) lfirst(lc2))->attnum == fk->attnum)
				break;
		}
		if (lc2 == NULL)
			g->fkeys = lappend(g->fkeys, fk);
	}
	return groups;
}

/*
 * A step that drops or adds fk takes mode on both sides and on their
 * partitions (both commands recurse)
 */
static void
fk_locks(CuStep *step, CuTarget *t, CuForeignKey *fk, LOCKMODE mode)
{
	cu_step_lock(step, t->relid, mode);
	cu_step_lock_tree(step, fk->relid, mode);
	cu_step_lock_tree(step, t->relid, mode);
}

/* The foreign keys: dropped before the rewrites */
static void
plan_drop_fkeys(CuPlan *plan)
{
	ListCell   *lc;
	CuStep	   *step;

	foreach(lc, plan->target->fkeys)
	{
		CuForeignKey *fk = lfirst(lc);

		if (fk->synthetic)
			continue;
		step = cu_plan_add(plan, CU_STEP_SQL, fk->relid, fk->relname, AccessExclusiveLock,
						   psprintf("ALTER TABLE %s DROP CONSTRAINT %s",
									cu_qualify(fk->nspname, fk->relname), quote_identifier(fk->conname)),
						   "drop foreign key %s (added again after the rewrites)", fk->conname);
		/* RemoveConstraintById locks the referenced table too */
		fk_locks(step, plan->target, fk, AccessExclusiveLock);
	}
}

/*
 * The foreign keys again, after the rewrites, with their comments and the
 * states of their triggers
 */
static void
plan_add_fkeys(CuPlan *plan)
{
	ListCell   *lc;
	CuStep	   *step;

	foreach(lc, plan->target->fkeys)
	{
		CuForeignKey *fk = lfirst(lc);

		/* valid before, and both sides mapped by one bijection: still valid */
		bool		skip = (fk->validated || fk->synthetic) && !cu_revalidate_fkeys;

		step = cu_plan_add(plan, CU_STEP_FKEY, fk->relid, fk->relname, ShareRowExclusiveLock,
						   fk_add_sql(plan->target, fk), "add foreign key %s %s",
						   fk->conname,
						   skip ? "without a second scan (both sides were mapped by one bijection)" :
						   (!fk->validated && !fk->synthetic) ? "NOT VALID, as it was" :
						   "and validate it");
		step->skip_validation = skip;
		fk_locks(step, plan->target, fk, ShareRowExclusiveLock);
		if (fk->comment)
			cu_plan_add(plan, CU_STEP_SQL, fk->relid, fk->relname, ShareUpdateExclusiveLock,
						psprintf("COMMENT ON CONSTRAINT %s ON %s IS %s", quote_identifier(fk->conname),
								 cu_qualify(fk->nspname, fk->relname), quote_literal_cstr(fk->comment)),
						"put back the comment of foreign key %s", fk->conname);
		if (fk->triggers != NIL)
		{
			StringInfoData buf;
			ListCell   *lc2;

			initStringInfo(&buf);
			appendStringInfo(&buf, "set the triggers of foreign key %s as they were:",
							 quote_identifier(fk->conname));
			foreach(lc2, fk->triggers)
			{
				CuFkTrigger *trig = lfirst(lc2);

				appendStringInfo(&buf, "%s %s on %s %s", lc2 == list_head(fk->triggers) ? "" : ",",
								 get_func_name(trig->funcid),
								 cu_qualify(get_namespace_name(get_rel_namespace(trig->relid)),
											get_rel_name(trig->relid)),
								 trig->enabled == 'D' ? "disabled" :
								 trig->enabled == 'R' ? "enabled replica" : "enabled always");
			}
			step = cu_plan_add(plan, CU_STEP_INTERNAL, fk->relid, fk->relname, ShareRowExclusiveLock,
							   NULL, "%s", buf.data);
			foreach(lc2, fk->triggers)
				cu_step_lock(step, ((CuFkTrigger *) lfirst(lc2))->relid, ShareRowExclusiveLock);
			step->action = CU_ACT_FK_TRIGGERS;
			step->fkey = fk;
		}
	}
}

/*
 * The USING expression of one column: the mapping function applied to it.
 */
static char *
using_expr(CuPlan *plan, const char *attname, const char *inttype)
{
	if (plan->direction == CU_TO_UUID)
		return psprintf("%s(%s::pg_catalog.int8, %d::pg_catalog.int4)", cu_extension_qual("connector_uuid_to_uuid"),
						quote_identifier(attname), plan->table_id);
	return psprintf("%s(%s::pg_catalog.uuid, %d::pg_catalog.int4, false::pg_catalog.bool)::%s", cu_extension_qual("connector_uuid_to_int"),
					quote_identifier(attname), plan->table_id, inttype);
}

/* The rewrite of the key table (with any self-references in the same pass) */
static void
plan_rewrite_key_table(CuPlan *plan, List *groups, const char *inttype,
					   const char *newdefault)
{
	CuTarget   *t = plan->target;
	StringInfoData buf;
	const char *pk = quote_identifier(t->pkattname);
	const char *newtype = plan->direction == CU_TO_UUID ? "uuid" : inttype;
	List	   *selfcols = NIL;
	ListCell   *lc;
	CuStep	   *step;

	if (plan->direction == CU_TO_UUID && t->identity)
	{
		/* it drops the identity sequence */
		cu_step_lock(cu_plan_add(plan, CU_STEP_SQL, t->relid, t->relname, AccessExclusiveLock,
								 psprintf("ALTER TABLE %s ALTER COLUMN %s DROP IDENTITY", t->qualname, pk),
								 "drop the identity of column %s (its sequence goes with it; the registry keeps its numbers)",
								 t->pkattname),
					 t->seqrelid, AccessExclusiveLock);
	}

	/* self-references: changed in the same pass */
	foreach(lc, groups)
	{
		TableCols  *g = lfirst(lc);
		ListCell   *lc2;

		if (g->relid != t->relid)
			continue;
		foreach(lc2, g->fkeys)
		{
			CuForeignKey *fk = lfirst(lc2);
			CuRewriteColumn *c = palloc0(sizeof(CuRewriteColumn));

			c->attname = fk->attname;
			c->newtype = plan->direction == CU_TO_UUID ? "uuid" :
				cu_registry_column_type(plan->table_id, fk, inttype);
			c->using_expr = using_expr(plan, fk->attname, c->newtype);
			selfcols = lappend(selfcols, c);
		}
	}

	/* partitioned by HASH of the key: rebuilt around its partitions */
	if (t->partitioned)
	{
		cu_plan_partitioned_rewrite(plan, newtype, newdefault,
									using_expr(plan, t->pkattname, inttype), selfcols);
		return;
	}

	initStringInfo(&buf);
	appendStringInfo(&buf, "ALTER TABLE %s%s", t->qualname, cu_page_rewrite_clause(t->relid));
	if (t->default_expr)
		appendStringInfo(&buf, " ALTER COLUMN %s DROP DEFAULT,", pk);
	appendStringInfo(&buf, " ALTER COLUMN %s TYPE %s USING %s", pk, newtype,
					 using_expr(plan, t->pkattname, inttype));
	if (newdefault)
		appendStringInfo(&buf, ", ALTER COLUMN %s SET DEFAULT %s", pk, newdefault);
	foreach(lc, selfcols)
	{
		CuRewriteColumn *c = lfirst(lc);

		appendStringInfo(&buf, ", ALTER COLUMN %s TYPE %s USING %s",
						 quote_identifier(c->attname), c->newtype, c->using_expr);
	}
	step = cu_plan_add(plan, CU_STEP_SQL, t->relid, t->relname, AccessExclusiveLock, buf.data,
					   "rewrite %s rows with their new ids", cu_count_words(t->reltuples));
	step->rewrites = true;
	step->page_rewrite = *cu_page_rewrite_clause(t->relid) != '\0';
	/* the rewrite evaluates CHECK constraints and generated columns */
	step->run_as = cu_rel_owner(t->relid);
}

/* One rewrite per referencing table */
static void
plan_rewrite_children(CuPlan *plan, List *groups, const char *inttype)
{
	ListCell   *lc;

	foreach(lc, groups)
	{
		TableCols  *g = lfirst(lc);
		StringInfoData buf;
		ListCell   *lc2;
		bool		first = true;
		CuStep	   *step;

		if (g->relid == plan->target->relid)
			continue;
		initStringInfo(&buf);
		appendStringInfo(&buf, "ALTER TABLE %s%s", cu_qualify(g->nspname, g->relname),
						 cu_page_rewrite_clause(g->relid));
		foreach(lc2, g->fkeys)
		{
			CuForeignKey *fk = lfirst(lc2);
			char	   *ctype = plan->direction == CU_TO_UUID ? "uuid" :
				cu_registry_column_type(plan->table_id, fk, inttype);

			appendStringInfo(&buf, "%s ALTER COLUMN %s TYPE %s USING %s", first ? "" : ",",
							 quote_identifier(fk->attname), ctype,
							 using_expr(plan, fk->attname, ctype));
			first = false;
		}
		step = cu_plan_add(plan, CU_STEP_SQL, g->relid, g->relname, AccessExclusiveLock, buf.data,
						   "rewrite %s rows with their new references", cu_count_words((double) cu_rel_tuples(g->relid)));
		step->rewrites = true;
		step->page_rewrite = *cu_page_rewrite_clause(g->relid) != '\0';
		step->run_as = cu_rel_owner(g->relid);
		/* ALTER TABLE recurses to the partitions */
		cu_step_lock_tree(step, g->relid, AccessExclusiveLock);
	}
}

/*
 * The registry step writes the registry's two tables, and reads the map
 * and the position of the key's sequence
 */
static void
registry_locks(CuStep *step, CuTarget *t)
{
	cu_step_lock(step, t->seqrelid, AccessShareLock);
	cu_step_lock(step, cu_extension_rel("connector_uuid_tables"), RowExclusiveLock);
	cu_step_lock(step, cu_extension_rel("connector_uuid_columns"), RowExclusiveLock);
	cu_step_lock(step, cu_extension_rel("connector_uuid_map"), AccessShareLock);
	/* a table registered for the first time takes its id from the sequence */
	cu_step_lock(step, cu_extension_rel("connector_uuid_table_id_seq"), RowExclusiveLock);
}

/*
 * ALTER COLUMN ... TYPE rebuilds the statistics objects on the column and
 * forgets their statistics targets (ALTER STATISTICS ... SET STATISTICS):
 * set them again after the rewrites.
 */
static void
plan_statistics_targets(CuPlan *plan, List *groups)
{
	List	   *relids = list_make1_oid(plan->target->relid);
	ListCell   *lc;

	foreach(lc, groups)
		relids = list_append_unique_oid(relids, ((TableCols *) lfirst(lc))->relid);
	foreach(lc, relids)
	{
		Oid			relid = lfirst_oid(lc);
		uint64		i;

		cu_spi_select_oid("SELECT pg_catalog.format('ALTER STATISTICS %I.%I SET STATISTICS %s', n.nspname, s.stxname, s.stxstattarget), s.stxname "
						  "FROM pg_catalog.pg_statistic_ext s "
						  "JOIN pg_catalog.pg_namespace n ON n.oid OPERATOR(pg_catalog.=) s.stxnamespace "
						  "WHERE s.stxrelid OPERATOR(pg_catalog.=) $1 AND s.stxstattarget IS NOT NULL "
						  "  AND s.stxstattarget OPERATOR(pg_catalog.>=) 0 ORDER BY s.stxname", relid);
		for (i = 0; i < SPI_processed; i++)
			cu_plan_add(plan, CU_STEP_SQL, relid, get_rel_name(relid), ShareUpdateExclusiveLock,
						cu_spi_getstring(i, 1), "set the statistics target of statistics object %s again",
						cu_spi_getstring(i, 2));
	}
}

/* A step that loads the id map into memory (it reads the map); what says what */
static void
plan_load_map(CuPlan *plan, const char *what)
{
	cu_step_lock(cu_plan_internal(plan, CU_ACT_LOAD_EXCEPTIONS, AccessShareLock, "%s", what),
				 cu_extension_rel("connector_uuid_map"), AccessShareLock);
}

/* integer -> uuid */
static void
plan_to_uuid(CuPlan *plan)
{
	CuTarget   *t = plan->target;
	List	   *groups = group_by_table(t);
	Oid			ossp = cu_uuid_ossp_schema();
	char	   *map = cu_extension_qual("connector_uuid_map");
	char	   *pk = (char *) quote_identifier(t->pkattname);
	int			tid = plan->table_id;
	CuStrategy	strategy = plan->options->strategy;
	char	   *newid;
	char	   *newdefault;

	registry_locks(cu_plan_internal(plan, CU_ACT_REGISTER, RowExclusiveLock,
									"record the key, type, default and sequence of column %s in the registry",
									t->pkattname),
				   t);

	/*
	 * v4 ids are derived from the old id by the keyed permutation, so the
	 * USING expressions need no lookup.  v5 and v7 ids are made here once,
	 * from the parent row, and looked up from the map by every rewrite.
	 */
	if (strategy == CU_STRATEGY_V5)
		newid = psprintf("%s(%s::pg_catalog.uuid, %s::pg_catalog.text OPERATOR(pg_catalog.||) t.%s::pg_catalog.text)",
						 cu_qualify(get_namespace_name(ossp), "uuid_generate_v5"),
						 quote_literal_cstr(plan->options->namespace_uuid),
						 quote_literal_cstr(psprintf("%s:", t->relname)), pk);
	else if (strategy == CU_STRATEGY_V7)
		newid = psprintf("%s(%s, t.%s::pg_catalog.int8)", cu_extension_qual("connector_uuid_v7"),
						 plan->options->ts_column ?
						 psprintf("COALESCE(t.%s::pg_catalog.timestamptz, pg_catalog.transaction_timestamp())",
								  quote_identifier(plan->options->ts_column)) :
						 "pg_catalog.transaction_timestamp()", pk);
	else
		newid = psprintf("%s(t.%s::pg_catalog.int8, %d::pg_catalog.int4)", cu_extension_qual("connector_uuid_to_uuid"), pk, tid);
	if (strategy == CU_STRATEGY_V7)
		newdefault = psprintf("%s()", cu_extension_qual("connector_uuid_generate_v7"));
	else
		newdefault = psprintf("%s()", cu_qualify(get_namespace_name(ossp), "uuid_generate_v4"));

	plan_load_map(plan, "load the id map's exceptions (the ids the key does not derive) into memory");

	/*
	 * A table converted before: its rows keep the uuid they had (ON
	 * CONFLICT; not NOT EXISTS, whose anti-join against the map being
	 * filled can rescan what the statement itself inserted, quadratic once
	 * the map's statistics say it is empty).  A first conversion has no
	 * map rows to skip: a plain insert, the cheapest.
	 */
	if (strategy != CU_STRATEGY_V4 || cu_full_map)
	{
		Oid			owner = cu_plan_work_table(plan);

		cu_plan_read_as_owner(plan, owner,
						   psprintf("INSERT INTO " CU_WORK_TABLE " (kind, n, u) SELECT 'p', t.%s, %s FROM %s t",
									pk, newid, t->qualname),
						   psprintf("make the new %s ids of %s rows", cu_strategy_name(strategy),
									cu_count_words(t->reltuples)));
		cu_step_lock(cu_plan_add(plan, CU_STEP_SQL, t->relid, t->relname, RowExclusiveLock,
								 psprintf("INSERT INTO %s (table_id, derived, old_id, new_id) "
										  "SELECT %d, %s, w.n, w.u FROM " CU_WORK_TABLE " w "
										  "WHERE w.kind OPERATOR(pg_catalog.=) 'p'%s",
										  map, tid, strategy == CU_STRATEGY_V4 ? "true" : "false",
										  plan->registered ? " ON CONFLICT (table_id, old_id) DO NOTHING" : ""),
								 "write the pairs of old and new ids to the id map%s",
								 plan->registered ? ", keeping those of the earlier conversion" : ""),
					 cu_extension_rel("connector_uuid_map"), RowExclusiveLock);
		cu_plan_drop_work_table(plan);
	}
	if (strategy != CU_STRATEGY_V4)
		plan_load_map(plan, psprintf("load the %s ids from the id map into memory", cu_strategy_name(strategy)));
	cu_plan_drop_dependents(plan);
	plan_drop_fkeys(plan);
	plan_rewrite_key_table(plan, groups, NULL, newdefault);
	plan_rewrite_children(plan, groups, NULL);
	plan_statistics_targets(plan, groups);
	plan_add_fkeys(plan);
	cu_plan_create_dependents(plan);
}

/*
 * The statement that numbers the rows created at uuid time (the work
 * table's pairs) past every id the table has had (the map's, the
 * sequence's at the conversion, the highest derived one), adds them to the
 * map, and records the highest in the registry for the sequence.
 */
static char *
number_new_rows_sql(int tid)
{
	char	   *map = cu_extension_qual("connector_uuid_map");
	char	   *tables = cu_extension_qual("connector_uuid_tables");
	StringInfoData buf;

	initStringInfo(&buf);
	appendStringInfo(&buf, "WITH added AS (INSERT INTO %s (table_id, derived, old_id, new_id) ", map);
	appendStringInfo(&buf, "SELECT %d, false, b.base OPERATOR(pg_catalog.+) w.n, w.u ", tid);
	appendStringInfoString(&buf, "FROM " CU_WORK_TABLE " w, (SELECT GREATEST(");
	appendStringInfo(&buf, "  (SELECT pg_catalog.max(old_id) FROM %s WHERE table_id OPERATOR(pg_catalog.=) %d), ",
					 map, tid);
	appendStringInfo(&buf, "  (SELECT seq_last_value FROM %s WHERE table_id OPERATOR(pg_catalog.=) %d), ",
					 tables, tid);
	appendStringInfoString(&buf, "  (SELECT pg_catalog.max(d.n) FROM " CU_WORK_TABLE " d "
						   "WHERE d.kind OPERATOR(pg_catalog.=) 'd'), ");
	appendStringInfoString(&buf, "  0) AS base) b ");
	appendStringInfoString(&buf, "WHERE w.kind OPERATOR(pg_catalog.=) 'p' RETURNING old_id) ");
	appendStringInfo(&buf, "UPDATE %s SET seq_added_max = (SELECT pg_catalog.max(old_id) FROM added) "
					 "WHERE table_id OPERATOR(pg_catalog.=) %d", tables, tid);
	return buf.data;
}

/*
 * The statement that sets the key's sequence after a revert: exactly as it
 * was at the conversion (value and is_called), or, if rows added at uuid
 * time were given integers above it, at the highest of those.  Without a
 * record (renumbering), past every id (the work table's 'm' row).  Always
 * within the sequence's bounds.
 */
static char *
sequence_sql(CuTarget *t, int tid)
{
	StringInfoData buf;

	initStringInfo(&buf);
	appendStringInfoString(&buf, "SELECT pg_catalog.setval(g.seqrelid, "
						   "CASE WHEN g.seq_value IS NULL "
						   "  THEN LEAST(GREATEST((SELECT pg_catalog.max(m.n) FROM " CU_WORK_TABLE " m "
						   "                       WHERE m.kind OPERATOR(pg_catalog.=) 'm'), g.seq_last_value, g.seqmin), g.seqmax) "
						   "  WHEN g.grow THEN g.seq_added_max ELSE g.seq_value END, "
						   "g.seq_value IS NULL OR g.grow OR g.seq_is_called) ");
	appendStringInfoString(&buf, "FROM (SELECT s.seqrelid, s.seqmin, s.seqmax, r.seq_value, r.seq_is_called, r.seq_last_value, r.seq_added_max, "
						   "  COALESCE(s.seqincrement OPERATOR(pg_catalog.>) 0 AND r.seq_added_max OPERATOR(pg_catalog.<=) s.seqmax "
						   "    AND r.seq_added_max OPERATOR(pg_catalog.>=) (r.seq_value OPERATOR(pg_catalog.+) "
						   "      CASE WHEN r.seq_is_called THEN 1 ELSE 0 END), false) AS grow ");
	appendStringInfo(&buf, "  FROM %s r, pg_catalog.pg_sequence s ", cu_extension_qual("connector_uuid_tables"));
	appendStringInfo(&buf, "  WHERE r.table_id OPERATOR(pg_catalog.=) %d ", tid);
	appendStringInfo(&buf, "  AND s.seqrelid OPERATOR(pg_catalog.=) pg_catalog.pg_get_serial_sequence(%s, %s)::pg_catalog.regclass) g",
					 quote_literal_cstr(t->qualname), quote_literal_cstr(t->pkattname));
	return buf.data;
}

/*
 * The rows created at uuid time, ranked in table order, and (a map without
 * the derived pairs) the highest id the key derives: the query that reads
 * them into the work table as the table's owner.
 */
static char *
new_rows_sql(CuTarget *t, int tid, bool full_map)
{
	char	   *to_int = cu_extension_qual("connector_uuid_to_int");
	char	   *pk = (char *) quote_identifier(t->pkattname);
	StringInfoData buf;

	initStringInfo(&buf);
	appendStringInfo(&buf, "INSERT INTO " CU_WORK_TABLE " (kind, n, u) "
					 "SELECT 'p', pg_catalog.row_number() OVER (ORDER BY t.ctid), t.%s FROM %s t "
					 "WHERE %s(t.%s::pg_catalog.uuid, %d::pg_catalog.int4, true::pg_catalog.bool) IS NULL",
					 pk, t->qualname, to_int, pk, tid);
	if (!full_map)
		appendStringInfo(&buf, " UNION ALL SELECT 'd', pg_catalog.max(%s(t2.%s::pg_catalog.uuid, %d::pg_catalog.int4, true::pg_catalog.bool)), NULL FROM %s t2",
						 to_int, pk, tid, t->qualname);
	return buf.data;
}

/*
 * A serial's sequence is still there at a revert: its top bounds the new
 * integers (plan->seq_max), and a bigint revert makes it bigint (its top
 * moving with its type's).  Returns that ALTER SEQUENCE, or NULL.
 */
static char *
plan_serial_sequence(CuPlan *plan)
{
	CuTarget   *t = plan->target;
	bool		isnull;
	Oid			seqtype;
	int64		seqmax;
	bool		to_bigint;

	cu_spi_select_oid("SELECT s.seqtypid, s.seqmax, s.seqincrement FROM pg_catalog.pg_sequence s "
					  "WHERE s.seqrelid OPERATOR(pg_catalog.=) $1", t->seqrelid);
	if (SPI_processed != 1)
		return NULL;
	seqtype = (Oid) cu_spi_getint64(0, 1, &isnull);
	seqmax = cu_spi_getint64(0, 2, &isnull);
	to_bigint = cu_revert_to_bigint && seqtype != INT8OID;
	if (cu_spi_getint64(0, 3, &isnull) > 0)
		plan->seq_max = (to_bigint && seqmax == cu_int_type_max(seqtype)) ? PG_INT64_MAX : seqmax;
	return to_bigint ? psprintf("ALTER SEQUENCE %s AS pg_catalog.int8", t->seqqualname) : NULL;
}

/* uuid -> integer */
static void
plan_to_int(CuPlan *plan)
{
	CuTarget   *t = plan->target;
	List	   *groups = group_by_table(t);
	char	   *pk = (char *) quote_identifier(t->pkattname);
	int			tid = plan->table_id;
	char	   *inttype;
	char	   *olddefault = NULL;
	char		identity = '\0';
	bool		has_seq = false;
	char	   *identity_sql = NULL;
	List	   *seqextra_sql = NIL;
	bool		full_map = true;
	char	   *serial_to_bigint = NULL;
	Oid			owner;
	CuStep	   *step;
	ListCell   *lc;
	CuRegistry *r = plan->registered ? cu_registry_read(tid, t) : NULL;

	/* the statements come from validated facts (registry.c), never from SQL text */
	if (r)
	{
		plan->int_type = r->revert_type;
		olddefault = r->default_sql;
		identity = r->identity;
		identity_sql = r->identity_sql;
		seqextra_sql = r->seq_after_sql;
		has_seq = OidIsValid(t->seqrelid);
		plan->strategy = r->strategy;
		full_map = r->full_map;
		if (identity && r->seq_increment > 0)
			plan->seq_max = r->seq_max_after;
	}
	else
	{
		/* no registry row yet: allowed only with renumbering (preflight.c) */
		plan->int_type = cu_revert_to_bigint ? INT8OID : INT4OID;
		if (t->seqqualname)
		{
			has_seq = true;
			olddefault = psprintf("pg_catalog.nextval(%s::pg_catalog.regclass)",
								  quote_literal_cstr(t->seqqualname));
		}
	}
	inttype = cu_type_name(plan->int_type);
	if (!identity && OidIsValid(t->seqrelid))
		serial_to_bigint = plan_serial_sequence(plan);

	/* the general revert puts back the ON DELETE actions convert changed */
	if (!plan->options->connector)
	{
		foreach(lc, t->fkeys)
		{
			CuForeignKey *fk = lfirst(lc);
			Oid			typid;
			char		on_delete;

			if (cu_registry_column(tid, fk, &typid, &on_delete) && on_delete)
				fk->del_action = on_delete;
		}
	}

	registry_locks(cu_plan_internal(plan, CU_ACT_REGISTER, RowExclusiveLock,
									"make sure the table has a row in the registry"),
				   t);
	plan_load_map(plan, "load the id map's exceptions (the ids the key does not derive) into memory");
	step = cu_plan_internal(plan, CU_ACT_CHECK_RANGE, AccessShareLock,
							"check that the rows created at uuid time get integers within %s", inttype);
	cu_step_lock(step, cu_extension_rel("connector_uuid_map"), AccessShareLock);
	cu_step_lock(step, cu_extension_rel("connector_uuid_tables"), AccessShareLock);

	/* the rows created at uuid time, numbered past every id the table has had */
	owner = cu_plan_work_table(plan);
	cu_plan_read_as_owner(plan, owner, new_rows_sql(t, tid, full_map),
					   "find the rows created at uuid time");
	step = cu_plan_add(plan, CU_STEP_SQL, t->relid, t->relname, RowExclusiveLock,
					   number_new_rows_sql(tid),
					   "give those rows integers past the highest id the table has had, in the id map");
	cu_step_lock(step, cu_extension_rel("connector_uuid_map"), RowExclusiveLock);
	cu_step_lock(step, cu_extension_rel("connector_uuid_tables"), RowExclusiveLock);
	plan_load_map(plan, "load the id map's exceptions into memory again, with the new integers");

	cu_plan_drop_dependents(plan);
	plan_drop_fkeys(plan);
	plan_rewrite_key_table(plan, groups, inttype, identity ? NULL : olddefault);
	if (identity)
		cu_plan_add(plan, CU_STEP_SQL, t->relid, t->relname, AccessExclusiveLock, identity_sql,
					"make column %s an identity again, with the sequence's numbers as they were",
					t->pkattname);
	/* the new identity sequence: the old one's comment and grants */
	foreach(lc, seqextra_sql)
		cu_plan_add(plan, CU_STEP_SQL, t->relid, t->relname, ShareUpdateExclusiveLock, lfirst(lc),
					"identity sequence: %s, as it was", cu_statement_tag(lfirst(lc)));
	/* a bigint revert: a serial's sequence goes on to bigint's top */
	if (serial_to_bigint)
		cu_plan_add(plan, CU_STEP_SQL, t->seqrelid, get_rel_name(t->seqrelid), ShareRowExclusiveLock,
					serial_to_bigint, "make the sequence bigint, as the key now is");
	plan_rewrite_children(plan, groups, inttype);
	plan_statistics_targets(plan, groups);
	plan_add_fkeys(plan);
	cu_plan_create_dependents(plan);
	if (has_seq || identity)
	{
		cu_plan_read_as_owner(plan, owner,
						   psprintf("INSERT INTO " CU_WORK_TABLE " (kind, n) SELECT 'm', pg_catalog.max(t.%s) FROM %s t",
									pk, t->qualname),
						   "find the highest key");
		/* setval on the serial sequence (an identity's is new) */
		step = cu_plan_add(plan, CU_STEP_SQL, t->relid, t->relname, RowExclusiveLock,
						   sequence_sql(t, tid),
						   "set the key's sequence where it was at the conversion, or past the new integers");
		cu_step_lock(step, t->seqrelid, RowExclusiveLock);
		cu_step_lock(step, cu_extension_rel("connector_uuid_tables"), AccessShareLock);
	}
	cu_plan_drop_work_table(plan);
}

/*
 * The tables of t, before the checks below read them: see
 * cu_prime_index_expressions().
 */
static void
prime_tables(CuTarget *t)
{
	ListCell   *lc;

	cu_prime_index_expressions(t->relid);
	foreach(lc, t->leaves)
		cu_prime_index_expressions(((CuLeaf *) lfirst(lc))->relid);
	foreach(lc, t->fkeys)
		cu_prime_index_expressions(((CuForeignKey *) lfirst(lc))->relid);
}

/*
 * The end of every plan: the history row, and the lock phase in front (the
 * steps' locks, then alembic_version's row); then the checks of the steps
 */
static CuPlan *
finish_plan(CuPlan *plan)
{
	CuStep	   *finish;
	CuStep	   *rowlock;
	List	   *locksteps;

	finish = cu_plan_internal(plan, CU_ACT_FINISH, RowExclusiveLock,
							  "append a row to connector_uuid_history");
	cu_step_lock(finish, cu_extension_rel("connector_uuid_history"), RowExclusiveLock);
	cu_step_lock(finish, cu_extension_rel("connector_uuid_tables"), RowExclusiveLock);

	/* the lock phase in front: the steps' locks, then alembic_version's row */
	locksteps = cu_lock_phase(plan, plan->alembic_relid);
	rowlock = cu_connector_alembic_lock(plan);
	if (rowlock)
		locksteps = lappend(locksteps, rowlock);
	plan->steps = list_concat(locksteps, plan->steps);
	/* a stricter lock_timeout of the session is kept, and said */
	if (cu_lock_budget_ms() != cu_lock_timeout_ms)
		plan->notes = lappend(plan->notes,
							  psprintf("the session's lock_timeout (%d ms) is stricter than connector_uuid.lock_timeout (%d ms): each attempt to take the locks waits at most %d ms",
									   cu_lock_budget_ms(), cu_lock_timeout_ms, cu_lock_budget_ms()));

	cu_preflight_steps(plan);
	return plan;
}
/*
 * The plans of the online mode, for a key table that has a row in
 * connector_uuid_online (swap.c): the swap or swap back by direction, or
 * finalize or abort (opt->online_action).  False if the table is not in
 * the online mode and no online action was asked for.
 */
static bool
online_plan(CuPlan *plan, Oid relid)
{
	CuOnlineState *st = cu_online_state_of(relid);
	CuTarget   *t = plan->target;
	char	   *detail = NULL;

	if (st == NULL && plan->options->online_action == '\0')
		return false;
	if (st == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("table \"%s\" is not in the online mode", t->qualname),
				 errdetail("It has no row in connector_uuid_online."),
				 errhint("CALL connector_uuid_prepare() starts the online mode.")));
	plan->state = cu_table_state(t, &detail);
	cu_preflight_owners(plan);
	if (plan->options->online_action == CU_ONLINE_FINALIZE)
		cu_plan_finalize(plan, st);
	else if (plan->options->online_action == CU_ONLINE_ABORT)
		cu_plan_abort(plan, st);
	else
	{
		t->dependents = cu_discover_dependents(t);
		cu_plan_swap(plan, st);
	}
	return true;
}

/*
 * Build the plan for converting relid's key in direction, running every
 * pre-flight check on the way (preflight.c).  Caller is connected to SPI
 * and has pinned a safe search_path.
 */
CuPlan *
cu_build_plan(Oid relid, CuDirection direction, CuOptions *opt)
{
	CuPlan	   *plan = palloc0(sizeof(CuPlan));
	CuTarget   *t;
	ListCell   *lc;
	char	   *detail = NULL;

	plan->direction = direction;
	plan->options = opt;
	plan->strategy = opt->strategy;

	if (!OidIsValid(relid))
	{
		plan->state = CU_STATE_MISSING;
		return plan;
	}

	t = cu_discover(relid);
	cu_partition_discover(t);
	plan->target = t;
	if (opt->connector)
		cu_connector_children(t);
	if (opt->force_cascade)
		foreach(lc, t->fkeys)
			((CuForeignKey *) lfirst(lc))->del_action = 'c';
	prime_tables(t);

	if (online_plan(plan, relid))
		return finish_plan(plan);
	cu_preflight_state(plan, &detail);
	/* integer columns left as they are, for lack of a foreign key */
	plan->notes = cu_softref_notes(plan->notes, t);
	if (plan->adopt)
	{
		cu_check_privileges(plan);
		plan->table_id = cu_registry_id(t->nspname, t->relname);
		plan->notes = lappend(plan->notes,
							  psprintf("the tables are already %s (%s): adopting them as they are, no row changed",
									   direction == CU_TO_UUID ? "uuid" : "integer", detail));
		if (direction == CU_TO_UUID && plan->table_id == 0)
			plan->notes = lappend(plan->notes,
								  "there is no id map for these tables, so a downgrade cannot restore integer ids it never saw");
		return plan;
	}

	cu_preflight_owners(plan);
	plan->table_id = cu_registry_id(t->nspname, t->relname);
	plan->registered = (plan->table_id != 0);
	cu_preflight_registry(plan);
	if (plan->table_id == 0 && opt->reserved_table_id != 0)
		plan->table_id = opt->reserved_table_id;
	else if (plan->table_id == 0)
	{
		/*
		 * The id the registry step will get, shown in the plan's SQL: only
		 * predicted here.  cu_lock_and_replan takes it from the sequence
		 * once the locks are held, and builds the plan again with it.
		 */
		plan->table_id = cu_registry_predict_id();
		plan->table_id_predicted = true;
	}
	cu_preflight_tables(plan);

	t->dependents = cu_discover_dependents(t);
	if (opt->connector)
		cu_connector_alembic_decide(plan);
	if (direction == CU_TO_UUID)
		plan_to_uuid(plan);
	else
		plan_to_int(plan);
	if (opt->connector)
		cu_connector_steps(plan);
	return finish_plan(plan);
}
