/*-------------------------------------------------------------------------
 *
 * dependents.c
 *	  The views, materialized views, rules, policies and triggers that use a
 *	  converted column: found, saved, dropped before the rewrites and
 *	  created again after them.
 *
 * ALTER COLUMN ... TYPE refuses while a view, rule, policy or trigger uses
 * the column, so the plan drops them (dependents first) and recreates them
 * afterwards from the definitions saved here: the query (pg_get_viewdef,
 * read under a pg_catalog-only search_path so every name comes back
 * qualified), options, owner, grants, comments, column defaults, triggers,
 * rules, enabled states, and the indexes and populated state of
 * materialized views.  Views that depend on those views are included too,
 * at a greater depth.  Each step records the locks its statement takes.
 *
 * IDENTIFICATION
 *	  src/dependents.c
 *
 *-------------------------------------------------------------------------
 */
#include "plan.h"
#include "spi_util.h"

#include "access/htup_details.h"
#include "catalog/pg_class.h"
#include "catalog/pg_policy.h"
#include "catalog/pg_rewrite.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/syscache.h"

/* The statements that recreate view (or materialized view) v as it is now */
static void
save_view(CuDependent *v)
{
	char	   *qual = cu_qualify(v->nspname, v->relname);
	const char *kind = v->kind == CU_DEP_MATVIEW ? "MATERIALIZED VIEW" : "VIEW";
	StringInfoData buf;
	char	   *def;
	char	   *opts;
	char	   *tablespace;
	bool		isnull;
	bool		populated;
	List	   *after = NIL;

	cu_spi_select_oid("SELECT pg_catalog.pg_get_viewdef(c.oid), "
					  "       pg_catalog.array_to_string(c.reloptions, ', '), "
					  "       (SELECT pg_catalog.quote_ident(t.spcname) FROM pg_catalog.pg_tablespace t "
					  "         WHERE t.oid OPERATOR(pg_catalog.=) c.reltablespace), "
					  "       c.relispopulated "
					  "FROM pg_catalog.pg_class c WHERE c.oid OPERATOR(pg_catalog.=) $1", v->relid);
	def = cu_spi_getstring(0, 1);
	opts = cu_spi_getstring(0, 2);
	tablespace = cu_spi_getstring(0, 3);
	populated = cu_spi_getbool(0, 4, &isnull);

	/* pg_get_viewdef ends with a semicolon */
	{
		int			len = strlen(def);

		while (len > 0 && (def[len - 1] == ';' || def[len - 1] == ' ' || def[len - 1] == '\n'))
			def[--len] = '\0';
	}

	initStringInfo(&buf);
	appendStringInfo(&buf, "CREATE %s %s", kind, qual);
	if (opts && opts[0])
		appendStringInfo(&buf, " WITH (%s)", opts);
	if (v->kind == CU_DEP_MATVIEW && tablespace)
		appendStringInfo(&buf, " TABLESPACE %s", tablespace);
	appendStringInfo(&buf, " AS\n%s", def);
	/*
	 * WITH DATA would run the query as us, the converting role: the
	 * materialized view is created empty and refreshed at the end, once it
	 * has its owner (REFRESH runs the query as the owner, under
	 * SECURITY_RESTRICTED_OPERATION).
	 */
	if (v->kind == CU_DEP_MATVIEW)
		appendStringInfoString(&buf, "\nWITH NO DATA");
	v->create_sql = buf.data;
	v->drop_sql = psprintf("DROP %s %s", kind, qual);

	/* owner */
	after = cu_spi_collect(after,
						   psprintf("SELECT pg_catalog.format('ALTER %s %%s OWNER TO %%I', $2, "
									"       pg_catalog.pg_get_userbyid(c.relowner)) "
									"FROM pg_catalog.pg_class c WHERE c.oid OPERATOR(pg_catalog.=) $1", kind),
						   v->relid, qual);
	/* comment, and grants reset to exactly the saved ACL */
	after = cu_comment_and_grants(after, v->relid, qual, kind);
	/* column defaults on the view */
	after = cu_spi_collect(after,
						   psprintf("SELECT pg_catalog.format('ALTER %s %%s ALTER COLUMN %%I SET DEFAULT %%s', $2, a.attname, "
									"       pg_catalog.pg_get_expr(d.adbin, d.adrelid)) "
									"FROM pg_catalog.pg_attrdef d JOIN pg_catalog.pg_attribute a "
									"  ON a.attrelid OPERATOR(pg_catalog.=) d.adrelid AND a.attnum OPERATOR(pg_catalog.=) d.adnum "
									"WHERE d.adrelid OPERATOR(pg_catalog.=) $1 ORDER BY a.attnum", kind),
						   v->relid, qual);
	/* comments on its columns */
	after = cu_spi_collect(after,
						   "SELECT pg_catalog.format('COMMENT ON COLUMN %s.%I IS %L', $2, a.attname, d.description) "
						   "FROM pg_catalog.pg_description d JOIN pg_catalog.pg_attribute a "
						   "  ON a.attrelid OPERATOR(pg_catalog.=) d.objoid AND a.attnum OPERATOR(pg_catalog.=) d.objsubid "
						   "WHERE d.objoid OPERATOR(pg_catalog.=) $1 "
						   "  AND d.classoid OPERATOR(pg_catalog.=) 'pg_catalog.pg_class'::pg_catalog.regclass "
						   "  AND d.objsubid OPERATOR(pg_catalog.>) 0 ORDER BY a.attnum",
						   v->relid, qual);
	/* indexes of a materialized view (and their comments) */
	after = cu_spi_collect(after,
						   "SELECT pg_catalog.pg_get_indexdef(i.indexrelid) "
						   "FROM pg_catalog.pg_index i WHERE i.indrelid OPERATOR(pg_catalog.=) $1 "
						   "ORDER BY i.indexrelid",
						   v->relid, qual);
	after = cu_index_comments(after, v->relid, qual);
	/* the index it is clustered on, and its columns' statistics targets */
	after = cu_spi_collect(after,
						   "SELECT pg_catalog.format('ALTER MATERIALIZED VIEW %s CLUSTER ON %I', $2, ic.relname) "
						   "FROM pg_catalog.pg_index i JOIN pg_catalog.pg_class ic ON ic.oid OPERATOR(pg_catalog.=) i.indexrelid "
						   "WHERE i.indrelid OPERATOR(pg_catalog.=) $1 AND i.indisclustered",
						   v->relid, qual);
	if (v->kind == CU_DEP_MATVIEW)
		after = cu_spi_collect(after,
							   "SELECT pg_catalog.format('ALTER MATERIALIZED VIEW %s ALTER COLUMN %I SET STATISTICS %s', $2, "
							   "       a.attname, a.attstattarget) "
							   "FROM pg_catalog.pg_attribute a WHERE a.attrelid OPERATOR(pg_catalog.=) $1 "
							   "  AND a.attnum OPERATOR(pg_catalog.>) 0 AND NOT a.attisdropped "
							   "  AND a.attstattarget IS NOT NULL AND a.attstattarget OPERATOR(pg_catalog.>=) 0 "
							   "ORDER BY a.attnum",
							   v->relid, qual);
	/* triggers (INSTEAD OF) and rules other than the view's own */
	after = cu_spi_collect(after,
						   "SELECT pg_catalog.pg_get_triggerdef(t.oid) FROM pg_catalog.pg_trigger t "
						   "WHERE t.tgrelid OPERATOR(pg_catalog.=) $1 AND NOT t.tgisinternal ORDER BY t.tgname",
						   v->relid, qual);
	after = cu_spi_collect(after,
						   "SELECT pg_catalog.pg_get_ruledef(r.oid) FROM pg_catalog.pg_rewrite r "
						   "WHERE r.ev_class OPERATOR(pg_catalog.=) $1 AND r.rulename OPERATOR(pg_catalog.<>) '_RETURN' "
						   "ORDER BY r.rulename",
						   v->relid, qual);
	if (v->kind == CU_DEP_MATVIEW && populated)
		after = lappend(after, psprintf("REFRESH MATERIALIZED VIEW %s", qual));
	v->after_sql = after;
}

/* The statements that recreate rule v on a table */
static void
save_rule(CuDependent *v)
{

	cu_spi_select_oid("SELECT pg_catalog.pg_get_ruledef(r.oid), "
					  "  (SELECT pg_catalog.format('COMMENT ON RULE %I ON %I.%I IS %L', r.rulename, n.nspname, c.relname, d.description) "
					  "     FROM pg_catalog.pg_description d WHERE d.objoid OPERATOR(pg_catalog.=) r.oid "
					  "      AND d.classoid OPERATOR(pg_catalog.=) 'pg_catalog.pg_rewrite'::pg_catalog.regclass) "
					  "FROM pg_catalog.pg_rewrite r JOIN pg_catalog.pg_class c ON c.oid OPERATOR(pg_catalog.=) r.ev_class "
					  "JOIN pg_catalog.pg_namespace n ON n.oid OPERATOR(pg_catalog.=) c.relnamespace "
					  "WHERE r.oid OPERATOR(pg_catalog.=) $1", v->objid);
	if (SPI_processed != 1)
		elog(ERROR, "rule %u of table \"%s\" not found", v->objid, v->relname);
	v->create_sql = cu_spi_getstring(0, 1);
	if (cu_spi_getstring(0, 2) != NULL)
		v->after_sql = lappend(v->after_sql, cu_spi_getstring(0, 2));
}

/*
 * Row-level-security policies and triggers (a WHEN clause, UPDATE OF)
 * that use a converted column: ALTER COLUMN ... TYPE refuses them too.  They
 * are dropped before the views and recreated after them, as they were:
 * definition, roles, enabled state (a trigger's clones on partitions
 * included, where one was enabled or disabled on its own), comments.
 */
static List *
discover_policies_and_triggers(Datum relids, Datum attnums)
{
	Oid			argtypes[2] = {OIDARRAYOID, INT2ARRAYOID};
	Datum		values[2];
	List	   *result = NIL;
	uint64		i;
	uint64		n;

	values[0] = relids;
	values[1] = attnums;
	cu_spi_exec_args("WITH cols(relid, attnum) AS ("
					 "  SELECT * FROM ROWS FROM (pg_catalog.unnest($1), pg_catalog.unnest($2))), "
					 "deps AS ("
					 "  SELECT DISTINCT d.classid, d.objid FROM cols JOIN pg_catalog.pg_depend d "
					 "    ON d.refobjid OPERATOR(pg_catalog.=) cols.relid AND d.refobjsubid OPERATOR(pg_catalog.=) cols.attnum "
					 "   AND d.refclassid OPERATOR(pg_catalog.=) 'pg_catalog.pg_class'::pg_catalog.regclass) "
					 "SELECT 'P', c.oid, n.nspname, c.relname, "
					 "  pg_catalog.format('DROP POLICY %I ON %I.%I', p.polname, n.nspname, c.relname), "
					 "  pg_catalog.format('CREATE POLICY %I ON %I.%I AS %s FOR %s TO %s%s%s', pp.policyname, n.nspname, c.relname, "
					 "    pp.permissive, pp.cmd, "
					 "    (SELECT pg_catalog.string_agg(CASE WHEN r OPERATOR(pg_catalog.=) 'public' THEN 'PUBLIC' "
					 "                                   ELSE pg_catalog.quote_ident(r) END, ', ') "
					 "       FROM pg_catalog.unnest(pp.roles) r), "
					 "    CASE WHEN pp.qual IS NOT NULL THEN ' USING (' OPERATOR(pg_catalog.||) pp.qual OPERATOR(pg_catalog.||) ')' ELSE '' END, "
					 "    CASE WHEN pp.with_check IS NOT NULL THEN ' WITH CHECK (' OPERATOR(pg_catalog.||) pp.with_check OPERATOR(pg_catalog.||) ')' ELSE '' END), "
					 "  (SELECT pg_catalog.format('COMMENT ON POLICY %I ON %I.%I IS %L', p.polname, n.nspname, c.relname, ds.description) "
					 "     FROM pg_catalog.pg_description ds WHERE ds.objoid OPERATOR(pg_catalog.=) p.oid "
					 "      AND ds.classoid OPERATOR(pg_catalog.=) 'pg_catalog.pg_policy'::pg_catalog.regclass), "
					 "  NULL, NULL, p.polname, p.oid "
					 "FROM deps JOIN pg_catalog.pg_policy p ON p.oid OPERATOR(pg_catalog.=) deps.objid "
					 "JOIN pg_catalog.pg_class c ON c.oid OPERATOR(pg_catalog.=) p.polrelid "
					 "JOIN pg_catalog.pg_namespace n ON n.oid OPERATOR(pg_catalog.=) c.relnamespace "
					 "JOIN pg_catalog.pg_policies pp ON pp.schemaname OPERATOR(pg_catalog.=) n.nspname "
					 "  AND pp.tablename OPERATOR(pg_catalog.=) c.relname AND pp.policyname OPERATOR(pg_catalog.=) p.polname "
					 "WHERE deps.classid OPERATOR(pg_catalog.=) 'pg_catalog.pg_policy'::pg_catalog.regclass "
					 "UNION ALL "
					 "SELECT 'T', c.oid, n.nspname, c.relname, "
					 "  pg_catalog.format('DROP TRIGGER %I ON %I.%I', t.tgname, n.nspname, c.relname), "
					 "  pg_catalog.pg_get_triggerdef(t.oid), "
					 "  (SELECT pg_catalog.format('COMMENT ON TRIGGER %I ON %I.%I IS %L', t.tgname, n.nspname, c.relname, ds.description) "
					 "     FROM pg_catalog.pg_description ds WHERE ds.objoid OPERATOR(pg_catalog.=) t.oid "
					 "      AND ds.classoid OPERATOR(pg_catalog.=) 'pg_catalog.pg_trigger'::pg_catalog.regclass), "
					 "  CASE t.tgenabled WHEN 'D' THEN pg_catalog.format('ALTER TABLE %I.%I DISABLE TRIGGER %I', n.nspname, c.relname, t.tgname) "
					 "                   WHEN 'R' THEN pg_catalog.format('ALTER TABLE %I.%I ENABLE REPLICA TRIGGER %I', n.nspname, c.relname, t.tgname) "
					 "                   WHEN 'A' THEN pg_catalog.format('ALTER TABLE %I.%I ENABLE ALWAYS TRIGGER %I', n.nspname, c.relname, t.tgname) END, "
					 "  (WITH RECURSIVE cl(oid, tgrelid, tgname, tgenabled, above, depth) AS ("
					 "     SELECT x.oid, x.tgrelid, x.tgname, x.tgenabled, t.tgenabled, 1 FROM pg_catalog.pg_trigger x "
					 "     WHERE x.tgparentid OPERATOR(pg_catalog.=) t.oid "
					 "     UNION ALL SELECT x.oid, x.tgrelid, x.tgname, x.tgenabled, cl.tgenabled, cl.depth OPERATOR(pg_catalog.+) 1 "
					 "     FROM pg_catalog.pg_trigger x JOIN cl ON x.tgparentid OPERATOR(pg_catalog.=) cl.oid) "
					 "   SELECT pg_catalog.string_agg(pg_catalog.format('ALTER TABLE %I.%I %s TRIGGER %I', pn.nspname, pc.relname, "
					 "       CASE cl.tgenabled WHEN 'D' THEN 'DISABLE' WHEN 'R' THEN 'ENABLE REPLICA' "
					 "                         WHEN 'A' THEN 'ENABLE ALWAYS' ELSE 'ENABLE' END, cl.tgname), "
					 "       '; ' ORDER BY cl.depth, pc.relname) "
					 "   FROM cl JOIN pg_catalog.pg_class pc ON pc.oid OPERATOR(pg_catalog.=) cl.tgrelid "
					 "   JOIN pg_catalog.pg_namespace pn ON pn.oid OPERATOR(pg_catalog.=) pc.relnamespace "
					 "   WHERE cl.tgenabled OPERATOR(pg_catalog.<>) cl.above OR cl.tgenabled OPERATOR(pg_catalog.<>) 'O'), "
					 "  t.tgname, t.oid "
					 "FROM deps JOIN pg_catalog.pg_trigger t ON t.oid OPERATOR(pg_catalog.=) deps.objid "
					 "JOIN pg_catalog.pg_class c ON c.oid OPERATOR(pg_catalog.=) t.tgrelid "
					 "JOIN pg_catalog.pg_namespace n ON n.oid OPERATOR(pg_catalog.=) c.relnamespace "
					 "WHERE deps.classid OPERATOR(pg_catalog.=) 'pg_catalog.pg_trigger'::pg_catalog.regclass "
					 "  AND NOT t.tgisinternal AND t.tgparentid OPERATOR(pg_catalog.=) 0 "
					 "ORDER BY 1, 5",
					 SPI_OK_SELECT, 2, argtypes, values, NULL);
	n = SPI_processed;
	for (i = 0; i < n; i++)
	{
		CuDependent *v = palloc0(sizeof(CuDependent));
		bool		isnull;
		int			col;

		v->kind = cu_spi_getstring(i, 1)[0] == 'P' ? CU_DEP_POLICY : CU_DEP_TRIGGER;
		v->relid = DatumGetObjectId(cu_spi_getdatum(i, 2, &isnull));
		v->nspname = cu_spi_getstring(i, 3);
		v->relname = cu_spi_getstring(i, 4);
		v->drop_sql = cu_spi_getstring(i, 5);
		v->create_sql = cu_spi_getstring(i, 6);
		v->name = cu_spi_getstring(i, 10);
		v->objid = DatumGetObjectId(cu_spi_getdatum(i, 11, &isnull));
		v->depth = 1000;
		/* its comment, its state, and its clones' on partitions */
		for (col = 7; col <= 9; col++)
		{
			char	   *s = cu_spi_getstring(i, col);

			if (s != NULL)
				v->after_sql = lappend(v->after_sql, s);
		}
		result = lappend(result, v);
	}
	return result;
}

/* The number of attributes of relid (dropped ones included) */
static int
relation_natts(Oid relid)
{
	HeapTuple	tup = SearchSysCache1(RELOID, ObjectIdGetDatum(relid));
	int			natts;

	if (!HeapTupleIsValid(tup))
		elog(ERROR, "cache lookup failed for relation %u", relid);
	natts = ((Form_pg_class) GETSTRUCT(tup))->relnatts;
	ReleaseSysCache(tup);
	return natts;
}

/*
 * Everything in the way of ALTER COLUMN ... TYPE, in the order it must be
 * dropped: rules on tables, policies and triggers that use a converted
 * column, then the views that read one, directly or through other views
 * (deepest first).  The plan recreates them in the reverse order.
 */
List *
cu_discover_dependents(CuTarget *target)
{
	int			ncols = 1 + list_length(target->fkeys);
	Datum	   *relids;
	Datum	   *attnums;
	Oid			argtypes[2] = {OIDARRAYOID, INT2ARRAYOID};
	Datum		values[2];
	ListCell   *lc;
	int			n = 0;
	uint64		i;
	List	   *views = NIL;
	List	   *rules = NIL;
	uint64		nviews;

	/*
	 * A partitioned key table is dropped and created again (partition.c):
	 * everything on it or reading any of its columns (attnum 0: the table
	 * itself) goes and comes back, and so does what uses the key or a
	 * self-reference on one of its partitions.
	 */
	if (target->partitioned)
		ncols += relation_natts(target->relid) + 1 +
			list_length(target->leaves) * (1 + list_length(target->fkeys));
	relids = palloc(sizeof(Datum) * ncols);
	attnums = palloc(sizeof(Datum) * ncols);
	relids[n] = ObjectIdGetDatum(target->relid);
	attnums[n++] = Int16GetDatum(target->pkattnum);
	foreach(lc, target->fkeys)
	{
		CuForeignKey *fk = lfirst(lc);

		relids[n] = ObjectIdGetDatum(fk->relid);
		attnums[n++] = Int16GetDatum(fk->attnum);
	}
	if (target->partitioned)
	{
		int			a;

		for (a = 0; a <= relation_natts(target->relid); a++)
		{
			relids[n] = ObjectIdGetDatum(target->relid);
			attnums[n++] = Int16GetDatum(a);
		}
		foreach(lc, target->leaves)
		{
			CuLeaf	   *leaf = lfirst(lc);
			ListCell   *lc2;

			relids[n] = ObjectIdGetDatum(leaf->relid);
			attnums[n++] = Int16GetDatum(get_attnum(leaf->relid, target->pkattname));
			foreach(lc2, target->fkeys)
			{
				CuForeignKey *fk = lfirst(lc2);

				if (fk->relid != target->relid)
					continue;
				relids[n] = ObjectIdGetDatum(leaf->relid);
				attnums[n++] = Int16GetDatum(get_attnum(leaf->relid, fk->attname));
			}
		}
	}
	values[0] = PointerGetDatum(construct_array(relids, n, OIDOID, sizeof(Oid), true, TYPALIGN_INT));
	values[1] = PointerGetDatum(construct_array(attnums, n, INT2OID, sizeof(int16), true, TYPALIGN_SHORT));

	cu_spi_exec_args("WITH RECURSIVE cols(relid, attnum) AS ("
					 "  SELECT * FROM ROWS FROM (pg_catalog.unnest($1), pg_catalog.unnest($2))), "
					 "direct AS ("
					 "  SELECT DISTINCT r.oid AS ruleid, r.ev_class, r.rulename "
					 "  FROM cols "
					 "  JOIN pg_catalog.pg_depend d ON d.refobjid OPERATOR(pg_catalog.=) cols.relid "
					 "   AND d.refobjsubid OPERATOR(pg_catalog.=) cols.attnum "
					 "   AND d.refclassid OPERATOR(pg_catalog.=) 'pg_catalog.pg_class'::pg_catalog.regclass "
					 "   AND d.classid OPERATOR(pg_catalog.=) 'pg_catalog.pg_rewrite'::pg_catalog.regclass "
					 "  JOIN pg_catalog.pg_rewrite r ON r.oid OPERATOR(pg_catalog.=) d.objid), "
					 "v(relid, depth) AS ("
					 "  SELECT ev_class, 0 FROM direct WHERE rulename OPERATOR(pg_catalog.=) '_RETURN' "
					 "  UNION ALL "
					 "  SELECT r.ev_class, v.depth OPERATOR(pg_catalog.+) 1 FROM v "
					 "  JOIN pg_catalog.pg_depend d ON d.refobjid OPERATOR(pg_catalog.=) v.relid "
					 "   AND d.refclassid OPERATOR(pg_catalog.=) 'pg_catalog.pg_class'::pg_catalog.regclass "
					 "   AND d.classid OPERATOR(pg_catalog.=) 'pg_catalog.pg_rewrite'::pg_catalog.regclass "
					 "  JOIN pg_catalog.pg_rewrite r ON r.oid OPERATOR(pg_catalog.=) d.objid "
					 "  WHERE r.ev_class OPERATOR(pg_catalog.<>) v.relid AND v.depth OPERATOR(pg_catalog.<) 100) "
					 "SELECT v.relid, pg_catalog.max(v.depth), c.relkind, n.nspname, c.relname, NULL, NULL::pg_catalog.oid "
					 "FROM v JOIN pg_catalog.pg_class c ON c.oid OPERATOR(pg_catalog.=) v.relid "
					 "JOIN pg_catalog.pg_namespace n ON n.oid OPERATOR(pg_catalog.=) c.relnamespace "
					 "GROUP BY v.relid, c.relkind, n.nspname, c.relname "
					 "UNION ALL "
					 "SELECT d.ev_class, -1, 'R', n.nspname, c.relname, d.rulename, d.ruleid "
					 "FROM direct d JOIN pg_catalog.pg_class c ON c.oid OPERATOR(pg_catalog.=) d.ev_class "
					 "JOIN pg_catalog.pg_namespace n ON n.oid OPERATOR(pg_catalog.=) c.relnamespace "
					 "WHERE d.rulename OPERATOR(pg_catalog.<>) '_RETURN' "
					 "  AND d.ev_class OPERATOR(pg_catalog.<>) ALL (SELECT relid FROM v) "
					 "ORDER BY 2 DESC, 1",
					 SPI_OK_SELECT, 2, argtypes, values, NULL);

	nviews = SPI_processed;
	for (i = 0; i < nviews; i++)
	{
		CuDependent *v = palloc0(sizeof(CuDependent));
		bool		isnull;
		char		relkind = cu_spi_getstring(i, 3)[0];

		v->relid = DatumGetObjectId(cu_spi_getdatum(i, 1, &isnull));
		v->depth = DatumGetInt32(cu_spi_getdatum(i, 2, &isnull));
		v->nspname = cu_spi_getstring(i, 4);
		v->relname = cu_spi_getstring(i, 5);
		if (relkind == 'R')
		{
			/* a rule on a table: dropped first, recreated last, like a policy */
			v->kind = CU_DEP_RULE;
			v->depth = 1000;
			v->name = cu_spi_getstring(i, 6);
			v->objid = DatumGetObjectId(cu_spi_getdatum(i, 7, &isnull));
			v->drop_sql = psprintf("DROP RULE %s ON %s", quote_identifier(v->name),
								   cu_qualify(v->nspname, v->relname));
			rules = lappend(rules, v);
		}
		else
		{
			v->kind = relkind == RELKIND_MATVIEW ? CU_DEP_MATVIEW : CU_DEP_VIEW;
			v->objid = v->relid;
			views = lappend(views, v);
		}
	}
	foreach(lc, views)
		save_view((CuDependent *) lfirst(lc));
	foreach(lc, rules)
		save_rule((CuDependent *) lfirst(lc));
	return list_concat(list_concat(rules, discover_policies_and_triggers(values[0], values[1])), views);
}

/* What kind of object v is, in words */
static const char *
kind_name(CuDependent *v)
{
	switch (v->kind)
	{
		case CU_DEP_VIEW:
			return "view";
		case CU_DEP_MATVIEW:
			return "materialized view";
		case CU_DEP_RULE:
			return "rule";
		case CU_DEP_POLICY:
			return "policy";
		case CU_DEP_TRIGGER:
			return "trigger";
	}
	return "object";
}

/* v in words: view v, or rule r on table t */
static char *
dependent_words(CuDependent *v)
{
	if (v->kind == CU_DEP_VIEW || v->kind == CU_DEP_MATVIEW)
		return psprintf("%s %s", kind_name(v), v->relname);
	return psprintf("%s %s on table %s", kind_name(v), v->name, v->relname);
}

/* True for a rule, policy or trigger: an object on a table */
static bool
on_table(CuDependent *v)
{
	return v->kind == CU_DEP_RULE || v->kind == CU_DEP_POLICY || v->kind == CU_DEP_TRIGGER;
}

/* The dependents: dropped first, deepest first (the plan's drop order) */
void
cu_plan_drop_dependents(CuPlan *plan)
{
	ListCell   *lc;

	foreach(lc, plan->target->dependents)
	{
		CuDependent *v = lfirst(lc);
		CuStep	   *step;

		step = cu_plan_add(plan, CU_STEP_SQL, v->relid, v->relname, AccessExclusiveLock, v->drop_sql,
						   "drop %s (created again after the rewrites)", dependent_words(v));
		/* DROP TRIGGER on a partitioned table drops its clones too */
		if (v->kind == CU_DEP_TRIGGER)
			cu_step_lock_tree(step, v->relid, AccessExclusiveLock);
	}
}

/*
 * The locks that recreating v takes on relations that exist now.  CREATE
 * VIEW and CREATE MATERIALIZED VIEW parse the query, which locks what it
 * reads in ACCESS SHARE mode (a rule's INSERT, UPDATE or DELETE its target
 * in ROW EXCLUSIVE); CREATE POLICY and CREATE RULE lock their table in
 * ACCESS EXCLUSIVE mode, CREATE TRIGGER in SHARE ROW EXCLUSIVE mode (on
 * every partition too).
 */
static void
create_locks(CuStep *step, CuDependent *v)
{
	Oid			argtypes[1] = {OIDOID};
	Datum		values[1];
	uint64		i;
	uint64		n;
	List	   *reads = NIL;	/* rules and policies that read */
	List	   *writes = NIL;	/* rules that write */
	ListCell   *lc;
	bool		isnull;

	values[0] = ObjectIdGetDatum(v->relid);
	switch (v->kind)
	{
		case CU_DEP_POLICY:
		case CU_DEP_RULE:
			step->lockmode = AccessExclusiveLock;
			cu_step_lock(step, v->relid, AccessExclusiveLock);
			break;
		case CU_DEP_TRIGGER:
			step->lockmode = ShareRowExclusiveLock;
			cu_step_lock(step, v->relid, ShareRowExclusiveLock);
			cu_step_lock_tree(step, v->relid, ShareRowExclusiveLock);
			return;
		case CU_DEP_VIEW:
		case CU_DEP_MATVIEW:
			break;
	}
	/* what the rules (a view's query is its _RETURN rule) and policies read */
	if (v->kind == CU_DEP_POLICY)
		cu_spi_exec_args("SELECT p.oid, false FROM pg_catalog.pg_policy p "
						 "WHERE p.polrelid OPERATOR(pg_catalog.=) $1",
						 SPI_OK_SELECT, 1, argtypes, values, NULL);
	else
		cu_spi_exec_args("SELECT r.oid, r.rulename OPERATOR(pg_catalog.<>) '_RETURN' FROM pg_catalog.pg_rewrite r "
						 "WHERE r.ev_class OPERATOR(pg_catalog.=) $1",
						 SPI_OK_SELECT, 1, argtypes, values, NULL);
	n = SPI_processed;
	for (i = 0; i < n; i++)
	{
		Oid			oid = DatumGetObjectId(cu_spi_getdatum(i, 1, &isnull));

		if (cu_spi_getbool(i, 2, &isnull))
			writes = lappend_oid(writes, oid);
		else
			reads = lappend_oid(reads, oid);
	}
	foreach(lc, reads)
		cu_step_lock_refs(step, v->kind == CU_DEP_POLICY ? PolicyRelationId : RewriteRelationId,
						  lfirst_oid(lc), v->relid, AccessShareLock);
	foreach(lc, writes)
		cu_step_lock_refs(step, RewriteRelationId, lfirst_oid(lc), v->relid, RowExclusiveLock);
}

/* The dependents again, after the rewrites, in the reverse order */
void
cu_plan_create_dependents(CuPlan *plan)
{
	int			i;

	for (i = list_length(plan->target->dependents) - 1; i >= 0; i--)
	{
		CuDependent *v = list_nth(plan->target->dependents, i);
		ListCell   *lc;

		create_locks(cu_plan_add(plan, CU_STEP_SQL, InvalidOid, v->relname, NoLock, v->create_sql,
								 "create %s again, as it was", dependent_words(v)),
					 v);
		foreach(lc, v->after_sql)
		{
			CuStep	   *step = cu_plan_add(plan, CU_STEP_SQL, InvalidOid, v->relname, AccessExclusiveLock,
										   lfirst(lc), "%s: %s, as it was", dependent_words(v),
										   cu_statement_tag(lfirst(lc)));

			/* a policy's, rule's or trigger's comment, a trigger's state */
			if (on_table(v))
			{
				cu_step_lock(step, v->relid, AccessExclusiveLock);
				cu_step_lock_tree(step, v->relid, AccessExclusiveLock);
			}
		}
	}
}
