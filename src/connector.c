/*-------------------------------------------------------------------------
 *
 * connector.c
 *	  What only the mcp_connectors migration (ALTER EXTENSION UPDATE) does
 *	  beside the general conversion: its two referencing tables, the unique
 *	  MD5 index on its secrets, and the alembic_version stamp.
 *
 * The general engine converts any key and every foreign key referencing
 * it.  The connector migration also expects connector_access.connector_id
 * and mcp_servers.connector_id (a lost foreign key is put back, ON DELETE
 * CASCADE), makes sure uq_mcp_connectors_secret_md5 is the unique index on
 * md5(secret::text) WHERE secret IS NOT NULL, and moves alembic_version
 * between the application's two revisions when it holds the one we move
 * from.  verify.c checks the result.
 *
 * IDENTIFICATION
 *	  src/connector.c
 *
 *-------------------------------------------------------------------------
 */
#include "plan.h"
#include "security.h"
#include "spi_util.h"

#include "catalog/pg_class.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"

#define ALEMBIC_BEFORE			"facb50928abc"
#define ALEMBIC_AFTER			"543a0ca15c86"

/*
 * The state of the connector's MD5 secret index on relid: present, unique,
 * valid, and on md5(secret::text) WHERE secret IS NOT NULL (for a text
 * column the cast disappears from the deparsed expression).
 */
CuMd5State
cu_md5_index_state(Oid relid)
{
	Oid			argtypes[2] = {OIDOID, TEXTOID};
	Datum		values[2];
	bool		isnull;

	values[0] = ObjectIdGetDatum(relid);
	values[1] = CStringGetTextDatum(CONNECTOR_MD5_INDEX);
	cu_spi_exec_args("SELECT i.indisunique, i.indisvalid AND i.indisready, "
					 "       pg_catalog.pg_get_expr(i.indexprs, i.indrelid) IN ('md5((secret)::text)', 'md5(secret)') "
					 "       AND pg_catalog.pg_get_expr(i.indpred, i.indrelid) OPERATOR(pg_catalog.=) '(secret IS NOT NULL)' "
					 "FROM pg_catalog.pg_index i JOIN pg_catalog.pg_class c ON c.oid OPERATOR(pg_catalog.=) i.indexrelid "
					 "WHERE i.indrelid OPERATOR(pg_catalog.=) $1 AND c.relname OPERATOR(pg_catalog.=) $2",
					 SPI_OK_SELECT, 2, argtypes, values, NULL);
	if (SPI_processed == 0)
		return CU_MD5_MISSING;
	if (!cu_spi_getbool(0, 1, &isnull))
		return CU_MD5_NOT_UNIQUE;
	if (!cu_spi_getbool(0, 2, &isnull))
		return CU_MD5_NOT_VALID;
	if (!cu_spi_getbool(0, 3, &isnull))
		return CU_MD5_WRONG_SHAPE;
	return CU_MD5_OK;
}

/*
 * The connector's two referencing columns must exist; a missing foreign key
 * on one of them is put back (after the orphan check), so the result has
 * both, ON DELETE CASCADE, whatever the 1.0 tables had lost.
 */
void
cu_connector_children(CuTarget *t)
{
	static const char *const children[] = {"connector_access", "mcp_servers"};
	int			i;

	for (i = 0; i < lengthof(children); i++)
	{
		Oid			relid = cu_lookup_table(t->nspname, children[i]);
		ListCell   *lc;
		CuForeignKey *fk = NULL;
		AttrNumber	attnum;

		if (!OidIsValid(relid))
			ereport(ERROR,
					(errcode(ERRCODE_UNDEFINED_TABLE),
					 errmsg("table \"%s\" does not exist", cu_qualify(t->nspname, children[i])),
					 errdetail("connector_uuid converts mcp_connectors together with connector_access and mcp_servers, in the schema the extension is installed in."),
					 errhint("Install the extension in the schema that holds the application's tables.")));
		/* a view would run its query as us when read */
		if (get_rel_relkind(relid) != RELKIND_RELATION &&
			get_rel_relkind(relid) != RELKIND_PARTITIONED_TABLE)
			ereport(ERROR,
					(errcode(ERRCODE_WRONG_OBJECT_TYPE),
					 errmsg("\"%s\" is not a table", cu_qualify(t->nspname, children[i])),
					 errdetail("connector_uuid converts mcp_connectors together with the tables connector_access and mcp_servers.")));
		attnum = get_attnum(relid, "connector_id");
		if (attnum == InvalidAttrNumber)
			ereport(ERROR,
					(errcode(ERRCODE_UNDEFINED_COLUMN),
					 errmsg("column \"connector_id\" of table \"%s\" does not exist",
							cu_qualify(t->nspname, children[i]))));
		foreach(lc, t->fkeys)
		{
			CuForeignKey *f = lfirst(lc);

			if (f->relid == relid && f->attnum == attnum)
				fk = f;
		}
		if (fk == NULL)
		{
			fk = palloc0(sizeof(CuForeignKey));
			fk->relid = relid;
			fk->nspname = t->nspname;
			fk->relname = pstrdup(children[i]);
			fk->conname = psprintf("%s_connector_id_fkey", children[i]);
			fk->attnum = attnum;
			fk->attname = "connector_id";
			fk->atttypid = get_atttype(relid, attnum);
			fk->upd_action = 'a';
			fk->orig_del_action = 'c';
			fk->match_type = 's';
			fk->validated = false;
			fk->synthetic = true;
			t->fkeys = lappend(t->fkeys, fk);
		}
		fk->del_action = 'c';
	}
}

/* The connector's MD5 index: fine as it is, or (re)create it */
static void
plan_md5_index(CuPlan *plan)
{
	CuTarget   *t = plan->target;
	CuMd5State state = cu_md5_index_state(t->relid);
	bool		exists = state != CU_MD5_MISSING;
	char	   *secret;
	CuContext	cx;

	if (state == CU_MD5_OK)
		return;

	if (get_attnum(t->relid, "secret") == InvalidAttrNumber)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_COLUMN),
				 errmsg("column \"secret\" of table \"%s\" does not exist", t->qualname)));

	/*
	 * md5(secret::text) below and in the index: a cast of a type of the
	 * application's would be the application's code, run as us.
	 */
	if (!cu_builtin_type_column(t->relid, "secret"))
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("column \"secret\" of table \"%s\" is not of a built-in type",
						t->qualname),
				 errdetail("Index \"%s\" is built on md5(secret::text); a conversion of another type to text would run code the table's owner wrote.",
						   CONNECTOR_MD5_INDEX),
				 errhint("Change the column to a built-in type (text or jsonb) first.")));

	/* the index would fail on duplicates: say which, before changing anything */
	secret = "secret::pg_catalog.text";
	cu_enter(&cx, cu_rel_owner(t->relid), SECURITY_RESTRICTED_OPERATION);
	cu_spi_exec(psprintf("SELECT pg_catalog.md5(%s), pg_catalog.string_agg(%s::pg_catalog.text, ', ' ORDER BY %s), pg_catalog.count(*) "
						 "FROM %s WHERE secret IS NOT NULL GROUP BY 1 HAVING pg_catalog.count(*) OPERATOR(pg_catalog.>) 1 "
						 "ORDER BY 1 LIMIT 5",
						 secret, quote_identifier(t->pkattname), quote_identifier(t->pkattname), t->qualname),
				SPI_OK_SELECT);
	cu_leave(&cx);
	if (SPI_processed > 0)
	{
		StringInfoData buf;
		uint64		i;

		initStringInfo(&buf);
		for (i = 0; i < SPI_processed; i++)
			appendStringInfo(&buf, "%smd5 %s is shared by connectors %s",
							 i > 0 ? "; " : "", cu_spi_getstring(i, 1), cu_spi_getstring(i, 2));
		ereport(ERROR,
				(errcode(ERRCODE_UNIQUE_VIOLATION),
				 errmsg("table \"%s\" has duplicate secrets, so index \"%s\" cannot be created",
						t->qualname, CONNECTOR_MD5_INDEX),
				 errdetail("%s.", buf.data),
				 errhint("Make those secrets unique (or NULL), then try again.")));
	}

	if (exists)
		cu_step_lock(cu_plan_add(plan, CU_STEP_SQL, t->relid, t->relname, AccessExclusiveLock,
								 psprintf("DROP INDEX %s", cu_qualify(t->nspname, CONNECTOR_MD5_INDEX)),
								 "drop index %s, which is not the unique index on md5(secret) it should be",
								 CONNECTOR_MD5_INDEX),
					 cu_lookup_table(t->nspname, CONNECTOR_MD5_INDEX), AccessExclusiveLock);
	cu_plan_add(plan, CU_STEP_SQL, t->relid, t->relname, ShareLock,
				psprintf("CREATE UNIQUE INDEX %s ON %s (pg_catalog.md5(%s)) WHERE secret IS NOT NULL",
						 quote_identifier(CONNECTOR_MD5_INDEX), t->qualname, secret),
				"create unique index %s on md5(secret), so that secrets stay unique",
				CONNECTOR_MD5_INDEX);
}

/*
 * The connector's alembic_version stamp, if the table is there and holds
 * the version we move from: remembered in the plan, so that its row lock is
 * taken with the table locks (cu_connector_alembic_lock) and its UPDATE runs last.
 */
void
cu_connector_alembic_decide(CuPlan *plan)
{
	CuTarget   *t = plan->target;
	Oid			relid = cu_lookup_table(t->nspname, "alembic_version");
	const char *from = plan->direction == CU_TO_UUID ? ALEMBIC_BEFORE : ALEMBIC_AFTER;
	const char *to = plan->direction == CU_TO_UUID ? ALEMBIC_AFTER : ALEMBIC_BEFORE;
	char	   *qual;
	char	   *cur;
	CuContext	cx;

	if (!OidIsValid(relid))
		return;
	qual = cu_qualify(t->nspname, "alembic_version");

	/*
	 * Reading a view would run its query as us, and a cast of a type of the
	 * application's to text is the application's code: leave anything but
	 * a plain table with a built-in string column alone.
	 */
	if (get_rel_relkind(relid) != RELKIND_RELATION ||
		!cu_builtin_type_column(relid, "version_num"))
	{
		plan->notes = lappend(plan->notes,
							  psprintf("%s is not a table with a column version_num of a built-in type: left alone", qual));
		return;
	}
	cu_prime_index_expressions(relid);
	/* planning it folds what the table's owner wrote: as the owner */
	cu_enter(&cx, cu_rel_owner(relid), SECURITY_RESTRICTED_OPERATION);
	cu_spi_exec(psprintf("SELECT pg_catalog.string_agg(version_num::pg_catalog.text, ', ') FROM %s", qual),
				SPI_OK_SELECT);
	cu_leave(&cx);
	cur = cu_spi_getstring(0, 1);
	if (cur && strcmp(cur, from) == 0)
	{
		plan->alembic_relid = relid;
		plan->alembic_sql = psprintf("UPDATE %s SET version_num = %s WHERE version_num OPERATOR(pg_catalog.=) %s",
									 qual, quote_literal_cstr(to), quote_literal_cstr(from));
	}
	else
		plan->notes = lappend(plan->notes,
							  psprintf("alembic_version holds %s, not %s: left alone",
									   cur ? cur : "no row", from));
}

/*
 * The row lock step of alembic_version, taken last in the lock phase.  The
 * row is updated at the end, while the relations are locked: a transaction
 * holding that row (an Alembic run) must make us give up within the lock
 * budget like any other lock, not make the application wait behind us for
 * as long as it lasts.  NULL if there is nothing to stamp.
 */
CuStep *
cu_connector_alembic_lock(CuPlan *plan)
{
	char	   *qual;
	CuStep	   *step;

	if (!OidIsValid(plan->alembic_relid))
		return NULL;
	qual = cu_qualify(plan->target->nspname, "alembic_version");
	step = palloc0(sizeof(CuStep));
	step->kind = CU_STEP_LOCK;
	step->relid = plan->alembic_relid;
	step->relname = "alembic_version";
	step->lockmode = RowExclusiveLock;
	step->description = "lock the row of table alembic_version";
	step->sql = psprintf("LOCK TABLE %s IN ROW EXCLUSIVE MODE; SELECT 1 FROM %s FOR UPDATE",
						 qual, qual);
	step->row_lock = true;
	/* planning the SELECT folds what the table's owner wrote */
	step->run_as = cu_rel_owner(plan->alembic_relid);
	cu_step_lock(step, plan->alembic_relid, RowExclusiveLock);
	return step;
}

/*
 * The steps only the connector migration has, after the rewrites: the MD5
 * secret index, and the alembic_version stamp (its row is locked with the
 * tables), whose triggers and rules fire as its owner.
 */
void
cu_connector_steps(CuPlan *plan)
{
	bool		up = plan->direction == CU_TO_UUID;

	plan_md5_index(plan);
	if (OidIsValid(plan->alembic_relid))
		cu_plan_add(plan, CU_STEP_SQL, plan->alembic_relid, "alembic_version", RowExclusiveLock,
					plan->alembic_sql, "stamp alembic revision %s (was %s)",
					up ? ALEMBIC_AFTER : ALEMBIC_BEFORE, up ? ALEMBIC_BEFORE : ALEMBIC_AFTER)->run_as =
			cu_rel_owner(plan->alembic_relid);
}
