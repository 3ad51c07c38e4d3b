/*-------------------------------------------------------------------------
 *
 * partition.c
 *	  Converting a key table partitioned by HASH of its key.
 *
 * PostgreSQL cannot change the type of a partition key column, and a
 * partitioned table's primary key must contain its partition key: so a
 * partitioned key table is always partitioned by the column we convert.
 * RANGE and LIST bounds on integers have no uuid equivalent and are
 * refused; a HASH-partitioned table is rebuilt around its partitions:
 *
 *	1. the old parent is renamed out of the way (with its indexes and
 *	   statistics objects), and a new parent of the same name is created
 *	   with LIKE from an empty stage copy whose key already has the new type,
 *	   partitioned by HASH of the key;
 *	2. the old parent's indexes, constraints, foreign keys, statistics,
 *	   owner, grants, comments, row-level-security flags and replica
 *	   identity are created again on the new parent, from the catalogs as
 *	   they were when the plan was made;
 *	3. the partitions are detached; each row whose new id hashes to another
 *	   partition is moved there (through an unlogged table) while the keys
 *	   are still integers; each partition's key is then rewritten (which
 *	   also compacts what the moves left behind) and it is attached to the
 *	   new parent with its old modulus and remainder, so every partition
 *	   keeps its name, indexes, grants and storage;
 *	4. the sequences the old parent owned are given to the new one, and the
 *	   empty old parent is dropped.
 *
 * Policies and triggers on the parent, and the views that read it, are
 * dropped before and created again after, by dependents.c.  What this cannot
 * carry over is refused up front (cu_partition_check).  The revert is the
 * same rebuild with the integer type.
 *
 * IDENTIFICATION
 *	  src/partition.c
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
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"

/* Refuse with the list of offenders a query about relid returns, if any */
static void
refuse_if_any(const char *sql, Oid relid, const char *relq, const char *qual,
			  const char *what, const char *hint)
{
	List	   *found = cu_spi_collect(NIL, sql, relid, relq);
	StringInfoData buf;
	ListCell   *lc;

	if (found == NIL)
		return;
	initStringInfo(&buf);
	foreach(lc, found)
		appendStringInfo(&buf, "%s%s", lc == list_head(found) ? "" : "; ", (char *) lfirst(lc));
	ereport(ERROR,
			(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
			 errmsg("partitioned table \"%s\" cannot be rebuilt: %s", qual, what),
			 errdetail("A partitioned key table is rebuilt around its partitions, and this would not survive: %s.", buf.data),
			 errhint("%s", hint)));
}

/*
 * If t is partitioned, check that it is partitioned by HASH of its key
 * alone and record its partitions; refuse any other partitioning.
 */
void
cu_partition_discover(CuTarget *t)
{
	MemoryContext outer = CurrentMemoryContext;
	Oid			argtypes[2] = {OIDOID, NAMEOID};
	Datum		values[2];
	bool		isnull;
	char		strategy;
	uint64		i;

	if (get_rel_relkind(t->relid) != RELKIND_PARTITIONED_TABLE)
		return;
	values[0] = ObjectIdGetDatum(t->relid);
	values[1] = DirectFunctionCall1(namein, CStringGetDatum(t->pkattname));
	cu_spi_exec_args("SELECT p.partstrat::pg_catalog.text, p.partnatts, p.partattrs[0], "
					 "       (SELECT o.opcdefault FROM pg_catalog.pg_opclass o WHERE o.oid OPERATOR(pg_catalog.=) p.partclass[0]) "
					 "FROM pg_catalog.pg_partitioned_table p WHERE p.partrelid OPERATOR(pg_catalog.=) $1",
					 SPI_OK_SELECT, 1, argtypes, values, NULL);
	if (SPI_processed != 1)
		elog(ERROR, "partitioned table \"%s\" has no partition key", t->qualname);
	strategy = cu_spi_getstring(0, 1)[0];
	if (strategy != 'h')
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("column \"%s\" of table \"%s\" is part of the partition key",
						t->pkattname, t->qualname),
				 errdetail("The table is partitioned by %s: integer bounds have no uuid equivalent, so only a table partitioned by HASH of its key can be rebuilt.",
						   strategy == 'r' ? "RANGE" : "LIST"),
				 errhint("Repartition it by HASH (%s), or build a new table partitioned by a uuid key and copy the rows into it.",
						 quote_identifier(t->pkattname))));
	if (cu_spi_getint64(0, 2, &isnull) != 1 || cu_spi_getint64(0, 3, &isnull) != t->pkattnum ||
		!cu_spi_getbool(0, 4, &isnull))
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("table \"%s\" is not partitioned by HASH of its key alone with the default operator class",
						t->qualname)));

	cu_spi_exec_args("SELECT c.oid, n.nspname, c.relname, c.relkind::pg_catalog.text, "
					 "       pg_catalog.pg_get_expr(c.relpartbound, c.oid), a.attidentity::pg_catalog.text, "
					 "       EXISTS (SELECT 1 FROM pg_catalog.pg_attrdef d WHERE d.adrelid OPERATOR(pg_catalog.=) c.oid "
					 "               AND d.adnum OPERATOR(pg_catalog.=) a.attnum) "
					 "FROM pg_catalog.pg_inherits i "
					 "JOIN pg_catalog.pg_class c ON c.oid OPERATOR(pg_catalog.=) i.inhrelid "
					 "JOIN pg_catalog.pg_namespace n ON n.oid OPERATOR(pg_catalog.=) c.relnamespace "
					 "JOIN pg_catalog.pg_attribute a ON a.attrelid OPERATOR(pg_catalog.=) c.oid "
					 "  AND a.attname OPERATOR(pg_catalog.=) $2 "
					 "WHERE i.inhparent OPERATOR(pg_catalog.=) $1 ORDER BY c.oid",
					 SPI_OK_SELECT, 2, argtypes, values, NULL);
	for (i = 0; i < SPI_processed; i++)
	{
		MemoryContext old = MemoryContextSwitchTo(outer);
		CuLeaf	   *leaf = palloc0(sizeof(CuLeaf));
		char	   *bound = cu_spi_getstring(i, 5);
		char	   *ident = cu_spi_getstring(i, 6);

		leaf->relid = (Oid) cu_spi_getint64(i, 1, &isnull);
		leaf->nspname = pstrdup(cu_spi_getstring(i, 2));
		leaf->relname = pstrdup(cu_spi_getstring(i, 3));
		if (cu_spi_getstring(i, 4)[0] != RELKIND_RELATION)
			ereport(ERROR,
					(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
					 errmsg("partition \"%s\" of table \"%s\" is not a plain table",
							cu_qualify(leaf->nspname, leaf->relname), t->qualname),
					 errdetail("Only one level of partitions, all of them tables, can be rebuilt.")));
		if (bound == NULL ||
			sscanf(bound, "FOR VALUES WITH (modulus %d, remainder %d)", &leaf->modulus, &leaf->remainder) != 2)
			elog(ERROR, "unexpected bound of partition \"%s\": %s", leaf->relname, bound ? bound : "none");
		leaf->identity = (ident && ident[0]) ? ident[0] : '\0';
		leaf->has_default = cu_spi_getbool(i, 7, &isnull);
		t->leaves = lappend(t->leaves, leaf);
		MemoryContextSwitchTo(old);
	}
	t->partitioned = true;
}

/*
 * Refuse a table whose partitions leave some hash remainders uncovered: a
 * row whose new id hashes there would have no partition to go to.  Hash
 * moduli divide one another, so the partitions cover everything exactly
 * when their shares of the largest modulus add up to it.
 */
static void
check_coverage(CuTarget *t)
{
	int			largest = 0;
	int64		covered = 0;
	int			missing = 0;
	StringInfoData buf;
	ListCell   *lc;

	foreach(lc, t->leaves)
		largest = Max(largest, ((CuLeaf *) lfirst(lc))->modulus);
	foreach(lc, t->leaves)
		covered += largest / ((CuLeaf *) lfirst(lc))->modulus;
	if (covered == largest)
		return;

	initStringInfo(&buf);
	for (int r = 0; r < largest; r++)
	{
		bool		found = false;

		foreach(lc, t->leaves)
		{
			CuLeaf	   *leaf = lfirst(lc);

			if (r % leaf->modulus == leaf->remainder)
				found = true;
		}
		if (found)
			continue;
		if (++missing <= 5)
			appendStringInfo(&buf, "%s(MODULUS %d, REMAINDER %d)", missing > 1 ? ", " : "", largest, r);
	}
	if (missing > 5)
		appendStringInfo(&buf, " and %d more", missing - 5);
	ereport(ERROR,
			(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
			 errmsg("partitioned table \"%s\" cannot be rebuilt: its partitions do not cover every hash remainder",
					t->qualname),
			 errdetail("The new ids hash anywhere, and no partition would take those that hash to %s.", buf.data),
			 errhint("Create the missing partitions (CREATE TABLE ... PARTITION OF %s FOR VALUES WITH (...)), then convert.",
					 t->qualname)));
}

/*
 * Refuse, before anything changes, what the rebuild of a partitioned key
 * table would lose or trip over.
 */
void
cu_partition_check(CuPlan *plan)
{
	CuTarget   *t = plan->target;
	Oid			nsp = get_rel_namespace(t->relid);
	ListCell   *lc;

	if (!t->partitioned)
		return;

	/* the stage copy, the new parent and the moved rows go in its schema */
	if (pg_namespace_aclcheck(nsp, GetUserId(), ACL_CREATE) != ACLCHECK_OK)
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("permission denied to create tables in schema \"%s\"", t->nspname),
				 errdetail("The partitioned table \"%s\" is rebuilt: a new parent table is created in its schema.", t->qualname),
				 errhint("GRANT CREATE ON SCHEMA %s to the role converting it.",
						 quote_identifier(t->nspname))));

	/*
	 * The row moves, rewrites and attaches run as the parent's owner (they
	 * evaluate the application's constraints and generated columns, and
	 * fire its triggers), and ATTACH PARTITION takes owning both tables.
	 */
	refuse_if_any("SELECT pg_catalog.format('partition %I.%I (owner %I)', n.nspname, c.relname, "
				  "  pg_catalog.pg_get_userbyid(c.relowner)) "
				  "FROM pg_catalog.pg_inherits i JOIN pg_catalog.pg_class c ON c.oid OPERATOR(pg_catalog.=) i.inhrelid "
				  "JOIN pg_catalog.pg_namespace n ON n.oid OPERATOR(pg_catalog.=) c.relnamespace "
				  "WHERE i.inhparent OPERATOR(pg_catalog.=) $1 "
				  "  AND c.relowner OPERATOR(pg_catalog.<>) (SELECT p.relowner FROM pg_catalog.pg_class p "
				  "                                          WHERE p.oid OPERATOR(pg_catalog.=) $1) ORDER BY 1",
				  t->relid, t->qualname, t->qualname, "a partition has another owner than the table",
				  "The partitions are rebuilt as the table's owner, who must own them all: ALTER TABLE ... OWNER TO the table's owner, convert, then give them back.");
	refuse_if_any("SELECT pg_catalog.format('index %I', ic.relname) FROM pg_catalog.pg_index i "
				  "JOIN pg_catalog.pg_class ic ON ic.oid OPERATOR(pg_catalog.=) i.indexrelid "
				  "WHERE i.indrelid OPERATOR(pg_catalog.=) $1 AND NOT i.indisvalid ORDER BY 1",
				  t->relid, t->qualname, t->qualname, "an index on it is not valid",
				  "An index created ON ONLY the parent is valid once every partition has one attached: "
				  "attach them (ALTER INDEX ... ATTACH PARTITION) or drop the index, then convert.");
	refuse_if_any("SELECT pg_catalog.format('rule %I', r.rulename) FROM pg_catalog.pg_rewrite r "
				  "WHERE r.ev_class OPERATOR(pg_catalog.=) $1 ORDER BY 1",
				  t->relid, t->qualname, t->qualname, "it has rules",
				  "Drop the rules, convert, then create them again.");
	refuse_if_any("SELECT pg_catalog.format('column %I', a.attname) FROM pg_catalog.pg_attribute a "
				  "WHERE a.attrelid OPERATOR(pg_catalog.=) $1 AND a.attidentity OPERATOR(pg_catalog.<>) '' "
				  "  AND a.attnum OPERATOR(pg_catalog.>) 0 AND NOT a.attisdropped "
				  "  AND a.attname::pg_catalog.text OPERATOR(pg_catalog.<>) "
				  "      (SELECT k.attname::pg_catalog.text FROM pg_catalog.pg_constraint c "
				  "       JOIN pg_catalog.pg_attribute k ON k.attrelid OPERATOR(pg_catalog.=) c.conrelid "
				  "         AND k.attnum OPERATOR(pg_catalog.=) c.conkey[1] "
				  "       WHERE c.conrelid OPERATOR(pg_catalog.=) $1 AND c.contype OPERATOR(pg_catalog.=) 'p') "
				  "ORDER BY 1",
				  t->relid, t->qualname, t->qualname, "another column is an identity column (its sequence would start over)",
				  "Make it a serial column (a sequence and a default) first.");
	refuse_if_any("SELECT pg_catalog.format('constraint %I on %s', c.conname, c.conrelid::pg_catalog.regclass) "
				  "FROM pg_catalog.pg_constraint c "
				  "WHERE c.conrelid IN (SELECT p.relid FROM pg_catalog.pg_partition_tree($1) p) "
				  "  AND c.contype OPERATOR(pg_catalog.=) 'c' AND NOT c.convalidated ORDER BY 1",
				  t->relid, t->qualname, t->qualname, "a check constraint on it or a partition is NOT VALID",
				  "Moved rows are checked again, and the new parent's constraints are created valid: "
				  "VALIDATE CONSTRAINT them (or drop them), then convert.");
	refuse_if_any("SELECT pg_catalog.pg_describe_object(d.classid, d.objid, d.objsubid) "
				  "FROM pg_catalog.pg_depend d "
				  "WHERE d.refclassid OPERATOR(pg_catalog.=) 'pg_catalog.pg_class'::pg_catalog.regclass "
				  "  AND d.refobjid OPERATOR(pg_catalog.=) $1 "
				  "  AND d.classid OPERATOR(pg_catalog.=) 'pg_catalog.pg_proc'::pg_catalog.regclass "
				  "ORDER BY 1",
				  t->relid, t->qualname, t->qualname, "functions with a SQL-standard body (BEGIN ATOMIC) read it",
				  "Drop those functions, convert, then create them again.");
	refuse_if_any("SELECT pg_catalog.pg_describe_object(d.classid, d.objid, d.objsubid) "
				  "FROM pg_catalog.pg_depend d JOIN pg_catalog.pg_class c "
				  "  ON c.oid IN (SELECT p.relid FROM pg_catalog.pg_partition_tree($1) p) "
				  "WHERE d.refclassid OPERATOR(pg_catalog.=) 'pg_catalog.pg_type'::pg_catalog.regclass "
				  "  AND d.refobjid OPERATOR(pg_catalog.=) c.reltype AND d.deptype OPERATOR(pg_catalog.=) 'n' "
				  "ORDER BY 1",
				  t->relid, t->qualname, t->qualname, "other objects use its row type or a partition's",
				  "Drop those objects (columns or functions of the table's row type), convert, then create them again.");
	refuse_if_any("SELECT pg_catalog.format('foreign key %I on %s', c.conname, c.conrelid::pg_catalog.regclass) "
				  "FROM pg_catalog.pg_constraint c "
				  "JOIN pg_catalog.pg_constraint pk ON pk.conrelid OPERATOR(pg_catalog.=) $1 AND pk.contype OPERATOR(pg_catalog.=) 'p' "
				  "WHERE c.contype OPERATOR(pg_catalog.=) 'f' AND c.confrelid OPERATOR(pg_catalog.=) $1 "
				  "  AND c.conparentid OPERATOR(pg_catalog.=) 0 AND NOT pk.conkey[1] OPERATOR(pg_catalog.=) ANY (c.confkey) "
				  "ORDER BY 1",
				  t->relid, t->qualname, t->qualname, "foreign keys reference it by other columns than its key",
				  "Drop those foreign keys, convert, then create them again.");
	if (t->leaves == NIL)
		return;
	check_coverage(t);
	foreach(lc, t->leaves)
	{
		CuLeaf	   *leaf = lfirst(lc);
		char	   *q = cu_qualify(leaf->nspname, leaf->relname);

		/* attached from a table with an identity key of its own */
		if (leaf->identity && !t->identity)
			ereport(ERROR,
					(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
					 errmsg("partitioned table \"%s\" cannot be rebuilt: partition \"%s\" has an identity key of its own",
							t->qualname, q),
					 errdetail("A uuid column cannot be an identity column, and the partition's identity would not come back on revert."),
					 errhint("ALTER TABLE %s ALTER COLUMN %s DROP IDENTITY (the parent's default gives new rows their ids), then convert.",
							 q, quote_identifier(t->pkattname))));

		refuse_if_any("SELECT pg_catalog.format('trigger %I on %s', g.tgname, $2) FROM pg_catalog.pg_trigger g "
					  "WHERE g.tgrelid OPERATOR(pg_catalog.=) $1 AND NOT g.tgisinternal "
					  "  AND g.tgparentid OPERATOR(pg_catalog.=) 0 "
					  "UNION ALL SELECT pg_catalog.format('rule %I on %s', r.rulename, $2) FROM pg_catalog.pg_rewrite r "
					  "WHERE r.ev_class OPERATOR(pg_catalog.=) $1 "
					  "UNION ALL SELECT pg_catalog.format('FORCE ROW LEVEL SECURITY on %s', $2) FROM pg_catalog.pg_class c "
					  "WHERE c.oid OPERATOR(pg_catalog.=) $1 AND c.relforcerowsecurity "
					  "UNION ALL SELECT pg_catalog.format('table %s inherits from %s', i.inhrelid::pg_catalog.regclass, $2) "
					  "FROM pg_catalog.pg_inherits i WHERE i.inhparent OPERATOR(pg_catalog.=) $1 "
					  "UNION ALL SELECT pg_catalog.format('foreign key %I on %s references the partition itself', "
					  "  c.conname, c.conrelid::pg_catalog.regclass) FROM pg_catalog.pg_constraint c "
					  "WHERE c.contype OPERATOR(pg_catalog.=) 'f' AND c.confrelid OPERATOR(pg_catalog.=) $1 "
					  "  AND c.conparentid OPERATOR(pg_catalog.=) 0 "
					  "ORDER BY 1",
					  leaf->relid, q, t->qualname, "a partition carries what moving rows between partitions would set off",
					  "Rows whose new id hashes to another partition are deleted from one partition and inserted into another: "
					  "drop those objects (or move them to the partitioned table), convert, then create them again.");
	}
}

/* The plain (not generated, not dropped) columns of relid, quoted, in order */
static char *
plain_columns(Oid relid)
{

	cu_spi_select_oid("SELECT pg_catalog.string_agg(pg_catalog.quote_ident(a.attname), ', ' ORDER BY a.attnum) "
					  "FROM pg_catalog.pg_attribute a WHERE a.attrelid OPERATOR(pg_catalog.=) $1 "
					  "  AND a.attnum OPERATOR(pg_catalog.>) 0 AND NOT a.attisdropped "
					  "  AND a.attgenerated OPERATOR(pg_catalog.=) ''", relid);
	return cu_spi_getstring(0, 1);
}

/*
 * The statements that give the new parent (same name as the old) what the
 * old one has besides its columns, defaults and check constraints (which
 * LIKE copies): made now, from the catalogs, run after the swap.
 */
static List *
parent_objects(CuTarget *t)
{
	List	   *l = NIL;
	Oid			relid = t->relid;
	const char *q = t->qualname;

	/* primary key, unique and exclusion constraints, then other indexes */
	l = cu_spi_collect(l, "SELECT pg_catalog.format('ALTER TABLE %s ADD CONSTRAINT %I %s', $2, c.conname, "
					   "       pg_catalog.pg_get_constraintdef(c.oid)) "
					   "FROM pg_catalog.pg_constraint c WHERE c.conrelid OPERATOR(pg_catalog.=) $1 "
					   "  AND c.contype IN ('p', 'u', 'x') ORDER BY c.contype, c.conname",
					   relid, q);
	l = cu_spi_collect(l, "SELECT pg_catalog.pg_get_indexdef(i.indexrelid) "
					   "FROM pg_catalog.pg_index i WHERE i.indrelid OPERATOR(pg_catalog.=) $1 "
					   "  AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_constraint c "
					   "                  WHERE c.conindid OPERATOR(pg_catalog.=) i.indexrelid "
					   "                    AND c.conrelid OPERATOR(pg_catalog.=) $1) "
					   "ORDER BY i.indexrelid",
					   relid, q);
	/* the tablespaces of those (a constraint's definition names its own) */
	l = cu_spi_collect(l, "SELECT pg_catalog.format('ALTER INDEX %I.%I SET TABLESPACE %I', n.nspname, ic.relname, sp.spcname) "
					   "FROM pg_catalog.pg_index i JOIN pg_catalog.pg_class ic ON ic.oid OPERATOR(pg_catalog.=) i.indexrelid "
					   "JOIN pg_catalog.pg_namespace n ON n.oid OPERATOR(pg_catalog.=) ic.relnamespace "
					   "JOIN pg_catalog.pg_tablespace sp ON sp.oid OPERATOR(pg_catalog.=) ic.reltablespace "
					   "WHERE i.indrelid OPERATOR(pg_catalog.=) $1 "
					   "  AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_constraint c "
					   "                  WHERE c.conindid OPERATOR(pg_catalog.=) i.indexrelid "
					   "                    AND c.conrelid OPERATOR(pg_catalog.=) $1) "
					   "ORDER BY i.indexrelid",
					   relid, q);
	/* foreign keys to other tables (those to its own key are re-added by the plan) */
	l = cu_spi_collect(l, "SELECT pg_catalog.format('ALTER TABLE %s ADD CONSTRAINT %I %s', $2, c.conname, "
					   "       pg_catalog.pg_get_constraintdef(c.oid)) "
					   "FROM pg_catalog.pg_constraint c "
					   "JOIN pg_catalog.pg_constraint pk ON pk.conrelid OPERATOR(pg_catalog.=) $1 "
					   "  AND pk.contype OPERATOR(pg_catalog.=) 'p' "
					   "WHERE c.conrelid OPERATOR(pg_catalog.=) $1 AND c.contype OPERATOR(pg_catalog.=) 'f' "
					   "  AND c.conparentid OPERATOR(pg_catalog.=) 0 "
					   "  AND NOT (c.confrelid OPERATOR(pg_catalog.=) $1 AND pk.conkey[1] OPERATOR(pg_catalog.=) ANY (c.confkey)) "
					   "ORDER BY c.conname",
					   relid, q);
	/* comments on those constraints and indexes (LIKE copies the others) */
	l = cu_spi_collect(l, "SELECT pg_catalog.format('COMMENT ON CONSTRAINT %I ON %s IS %L', c.conname, $2, d.description) "
					   "FROM pg_catalog.pg_constraint c JOIN pg_catalog.pg_description d "
					   "  ON d.objoid OPERATOR(pg_catalog.=) c.oid "
					   "  AND d.classoid OPERATOR(pg_catalog.=) 'pg_catalog.pg_constraint'::pg_catalog.regclass "
					   "JOIN pg_catalog.pg_constraint pk ON pk.conrelid OPERATOR(pg_catalog.=) $1 "
					   "  AND pk.contype OPERATOR(pg_catalog.=) 'p' "
					   "WHERE c.conrelid OPERATOR(pg_catalog.=) $1 AND c.contype IN ('p', 'u', 'x', 'f') "
					   "  AND c.conparentid OPERATOR(pg_catalog.=) 0 "
					   "  AND NOT (c.confrelid OPERATOR(pg_catalog.=) $1 AND pk.conkey[1] OPERATOR(pg_catalog.=) ANY (c.confkey)) "
					   "ORDER BY c.conname",
					   relid, q);
	l = cu_index_comments(l, relid, q);
	/* statistics objects, with their targets and comments */
	l = cu_spi_collect(l, "SELECT x.stmt FROM pg_catalog.pg_statistic_ext s "
					   "JOIN pg_catalog.pg_namespace n ON n.oid OPERATOR(pg_catalog.=) s.stxnamespace, "
					   "LATERAL (VALUES (1, pg_catalog.pg_get_statisticsobjdef(s.oid)), "
					   "  (2, CASE WHEN s.stxstattarget OPERATOR(pg_catalog.>=) 0 THEN "
					   "       pg_catalog.format('ALTER STATISTICS %I.%I SET STATISTICS %s', n.nspname, s.stxname, s.stxstattarget) END), "
					   "  (3, (SELECT pg_catalog.format('COMMENT ON STATISTICS %I.%I IS %L', n.nspname, s.stxname, d.description) "
					   "       FROM pg_catalog.pg_description d WHERE d.objoid OPERATOR(pg_catalog.=) s.oid "
					   "        AND d.classoid OPERATOR(pg_catalog.=) 'pg_catalog.pg_statistic_ext'::pg_catalog.regclass)), "
					   "  (4, CASE WHEN s.stxowner OPERATOR(pg_catalog.<>) (SELECT r.oid FROM pg_catalog.pg_roles r "
					   "                                                  WHERE r.rolname OPERATOR(pg_catalog.=) CURRENT_USER) THEN "
					   "       pg_catalog.format('ALTER STATISTICS %I.%I OWNER TO %I', n.nspname, s.stxname, "
					   "                         pg_catalog.pg_get_userbyid(s.stxowner)) END)) x(k, stmt) "
					   "WHERE s.stxrelid OPERATOR(pg_catalog.=) $1 ORDER BY s.stxname, x.k",
					   relid, q);
	/* owner, comment, grants (reset to exactly the saved ACL), column grants */
	l = cu_spi_collect(l, "SELECT pg_catalog.format('ALTER TABLE %s OWNER TO %I', $2, pg_catalog.pg_get_userbyid(c.relowner)) "
					   "FROM pg_catalog.pg_class c WHERE c.oid OPERATOR(pg_catalog.=) $1",
					   relid, q);
	l = cu_comment_and_grants(l, relid, q, "TABLE");
	l = cu_grants(l, relid, q, "TABLE", true);
	/* row-level security, replica identity, column statistics targets and options */
	l = cu_spi_collect(l, "SELECT pg_catalog.format('ALTER TABLE %s ENABLE ROW LEVEL SECURITY', $2) "
					   "FROM pg_catalog.pg_class c WHERE c.oid OPERATOR(pg_catalog.=) $1 AND c.relrowsecurity "
					   "UNION ALL SELECT pg_catalog.format('ALTER TABLE %s FORCE ROW LEVEL SECURITY', $2) "
					   "FROM pg_catalog.pg_class c WHERE c.oid OPERATOR(pg_catalog.=) $1 AND c.relforcerowsecurity "
					   "UNION ALL SELECT pg_catalog.format('ALTER TABLE %s REPLICA IDENTITY %s', $2, "
					   "  CASE c.relreplident WHEN 'f' THEN 'FULL' WHEN 'n' THEN 'NOTHING' ELSE "
					   "    (SELECT pg_catalog.format('USING INDEX %I', ic.relname) FROM pg_catalog.pg_index i "
					   "     JOIN pg_catalog.pg_class ic ON ic.oid OPERATOR(pg_catalog.=) i.indexrelid "
					   "     WHERE i.indrelid OPERATOR(pg_catalog.=) $1 AND i.indisreplident) END) "
					   "FROM pg_catalog.pg_class c WHERE c.oid OPERATOR(pg_catalog.=) $1 "
					   "  AND c.relreplident OPERATOR(pg_catalog.<>) 'd'",
					   relid, q);
	l = cu_spi_collect(l, "SELECT pg_catalog.format('ALTER TABLE %s ALTER COLUMN %I SET STATISTICS %s', $2, a.attname, a.attstattarget) "
					   "FROM pg_catalog.pg_attribute a WHERE a.attrelid OPERATOR(pg_catalog.=) $1 "
					   "  AND a.attnum OPERATOR(pg_catalog.>) 0 AND NOT a.attisdropped "
					   "  AND a.attstattarget IS NOT NULL AND a.attstattarget OPERATOR(pg_catalog.>=) 0 "
					   "UNION ALL SELECT pg_catalog.format('ALTER TABLE %s ALTER COLUMN %I SET (%s)', $2, a.attname, o.opts) "
					   "FROM pg_catalog.pg_attribute a, LATERAL (SELECT pg_catalog.string_agg(x, ', ') AS opts "
					   "  FROM pg_catalog.unnest(a.attoptions) x WHERE x NOT LIKE 'pg\\_%') o "
					   "WHERE a.attrelid OPERATOR(pg_catalog.=) $1 "
					   "  AND a.attnum OPERATOR(pg_catalog.>) 0 AND NOT a.attisdropped AND o.opts IS NOT NULL",
					   relid, q);
	return l;
}

/* The last step of plan */
static CuStep *
last_step(CuPlan *plan)
{
	return (CuStep *) llast(plan->steps);
}

/*
 * The last step runs the application's code (CHECK constraints, generated
 * columns, triggers): as the table's owner, under
 * SECURITY_RESTRICTED_OPERATION (cu_partition_check made sure the owner
 * owns every partition).
 */
static void
as_owner(CuPlan *plan, Oid owner)
{
	last_step(plan)->run_as = owner;
}

/*
 * The steps that change the key (and self-referencing columns, selfcols, of
 * CuRewriteColumn) of a hash-partitioned key table to newtype: see the file
 * header.  key_using maps the key column to newtype.
 */
void
cu_plan_partitioned_rewrite(CuPlan *plan, const char *newtype, const char *newdefault,
							const char *key_using, List *selfcols)
{
	CuTarget   *t = plan->target;
	char	   *pk = (char *) quote_identifier(t->pkattname);
	char	   *oldname = psprintf("connector_uuid_old_%d", plan->table_id);
	char	   *oldq = cu_qualify(t->nspname, oldname);
	char	   *stage = cu_qualify(t->nspname, psprintf("connector_uuid_stage_%d", plan->table_id));
	char	   *moved = cu_qualify(t->nspname, psprintf("connector_uuid_moved_%d", plan->table_id));
	char	   *cols = plain_columns(t->relid);
	char	   *parent = quote_literal_cstr(t->qualname);
	const char *like;
	List	   *objects = parent_objects(t);
	List	   *renames;
	List	   *owned;
	List	   *reftables;
	List	   *ownedseqs;
	ListCell   *lc3;
	char	   *tablespace;
	Oid			owner = cu_rel_owner(t->relid);
	const char *owner_name = quote_identifier(GetUserNameFromId(owner, false));
	StringInfoData buf;
	ListCell   *lc;

#if PG_VERSION_NUM >= 140000
	like = "INCLUDING DEFAULTS INCLUDING CONSTRAINTS INCLUDING GENERATED INCLUDING STORAGE "
		"INCLUDING COMMENTS INCLUDING COMPRESSION";
#else
	like = "INCLUDING DEFAULTS INCLUDING CONSTRAINTS INCLUDING GENERATED INCLUDING STORAGE "
		"INCLUDING COMMENTS";
#endif

	/* names the new parent's objects take over; sequences it must own */
	renames = cu_spi_collect(NIL, psprintf("SELECT x.stmt FROM ("
								  "SELECT 1 AS k, ic.relname AS name, pg_catalog.format('ALTER INDEX %%I.%%I RENAME TO %%I', n.nspname, ic.relname, "
								  "  '%s_i' OPERATOR(pg_catalog.||) ic.oid::pg_catalog.text) AS stmt "
								  "FROM pg_catalog.pg_index i JOIN pg_catalog.pg_class ic ON ic.oid OPERATOR(pg_catalog.=) i.indexrelid "
								  "JOIN pg_catalog.pg_namespace n ON n.oid OPERATOR(pg_catalog.=) ic.relnamespace "
								  "WHERE i.indrelid OPERATOR(pg_catalog.=) $1 "
								  "UNION ALL SELECT 2, s.stxname, pg_catalog.format('ALTER STATISTICS %%I.%%I RENAME TO %%I', n.nspname, s.stxname, "
								  "  '%s_s' OPERATOR(pg_catalog.||) s.oid::pg_catalog.text) "
								  "FROM pg_catalog.pg_statistic_ext s JOIN pg_catalog.pg_namespace n ON n.oid OPERATOR(pg_catalog.=) s.stxnamespace "
								  "WHERE s.stxrelid OPERATOR(pg_catalog.=) $1) x ORDER BY x.k, x.name",
								  oldname, oldname),
						 t->relid, t->qualname);
	owned = cu_spi_collect(NIL, "SELECT pg_catalog.format('ALTER SEQUENCE %I.%I OWNED BY %s.%I', sn.nspname, s.relname, $2, a.attname) "
					   "FROM pg_catalog.pg_depend d "
					   "JOIN pg_catalog.pg_class s ON s.oid OPERATOR(pg_catalog.=) d.objid "
					   "JOIN pg_catalog.pg_namespace sn ON sn.oid OPERATOR(pg_catalog.=) s.relnamespace "
					   "JOIN pg_catalog.pg_attribute a ON a.attrelid OPERATOR(pg_catalog.=) d.refobjid "
					   "  AND a.attnum OPERATOR(pg_catalog.=) d.refobjsubid "
					   "WHERE d.classid OPERATOR(pg_catalog.=) 'pg_catalog.pg_class'::pg_catalog.regclass "
					   "  AND d.refclassid OPERATOR(pg_catalog.=) 'pg_catalog.pg_class'::pg_catalog.regclass "
					   "  AND d.refobjid OPERATOR(pg_catalog.=) $1 AND s.relkind OPERATOR(pg_catalog.=) 'S' "
					   "  AND d.deptype OPERATOR(pg_catalog.=) 'a' ORDER BY s.relname",
					   t->relid, t->qualname);
	{
		List	   *ts = cu_spi_collect(NIL, "SELECT pg_catalog.quote_ident(sp.spcname) FROM pg_catalog.pg_class c "
									"JOIN pg_catalog.pg_tablespace sp ON sp.oid OPERATOR(pg_catalog.=) c.reltablespace "
									"WHERE c.oid OPERATOR(pg_catalog.=) $1",
									t->relid, t->qualname);

		tablespace = ts ? linitial(ts) : NULL;
	}

	/*
	 * Tables the old parent's foreign keys reference (and their partitions):
	 * attaching a partition adds its foreign keys, dropping the old parent
	 * removes them (RemoveConstraintById locks the referenced table).
	 */
	reftables = cu_spi_oids("SELECT DISTINCT x.relid FROM pg_catalog.pg_constraint c, "
						 "LATERAL (SELECT c.confrelid AS relid UNION ALL "
						 "         SELECT t.relid FROM pg_catalog.pg_partition_tree(c.confrelid) t) x "
						 "WHERE c.conrelid OPERATOR(pg_catalog.=) $1 AND c.contype OPERATOR(pg_catalog.=) 'f' "
						 "  AND c.confrelid OPERATOR(pg_catalog.<>) $1 ORDER BY 1", t->relid);
	/* the sequences the parent owns, in the order of owned */
	ownedseqs = cu_spi_oids("SELECT s.oid FROM pg_catalog.pg_depend d "
						 "JOIN pg_catalog.pg_class s ON s.oid OPERATOR(pg_catalog.=) d.objid "
						 "WHERE d.classid OPERATOR(pg_catalog.=) 'pg_catalog.pg_class'::pg_catalog.regclass "
						 "  AND d.refclassid OPERATOR(pg_catalog.=) 'pg_catalog.pg_class'::pg_catalog.regclass "
						 "  AND d.refobjid OPERATOR(pg_catalog.=) $1 AND s.relkind OPERATOR(pg_catalog.=) 'S' "
						 "  AND d.deptype OPERATOR(pg_catalog.=) 'a' ORDER BY s.relname", t->relid);

	/* 1. the old parent out of the way, a new one in its place */
	cu_plan_add(plan, CU_STEP_SQL, t->relid, t->relname, AccessExclusiveLock,
				psprintf("ALTER TABLE %s RENAME TO %s", t->qualname, quote_identifier(oldname)),
				"rename the old parent out of the way, to %s", oldname);
	foreach(lc, renames)
		cu_plan_add(plan, CU_STEP_SQL, t->relid, t->relname, AccessExclusiveLock, lfirst(lc),
					"old parent: %s out of the way", cu_statement_tag(lfirst(lc)));
	cu_plan_add(plan, CU_STEP_SQL, InvalidOid, t->relname, NoLock,
				psprintf("CREATE TABLE %s (LIKE %s %s)", stage, oldq, like),
				"create an empty stage copy of the old parent");
	initStringInfo(&buf);
	appendStringInfo(&buf, "ALTER TABLE %s", stage);
	if (t->default_expr)
		appendStringInfo(&buf, " ALTER COLUMN %s DROP DEFAULT,", pk);
	appendStringInfo(&buf, " ALTER COLUMN %s TYPE %s USING NULL", pk, newtype);
	foreach(lc, selfcols)
	{
		CuRewriteColumn *c = lfirst(lc);

		appendStringInfo(&buf, ", ALTER COLUMN %s TYPE %s USING NULL", quote_identifier(c->attname), c->newtype);
	}
	if (newdefault)
		appendStringInfo(&buf, ", ALTER COLUMN %s SET DEFAULT %s", pk, newdefault);
	cu_plan_add(plan, CU_STEP_SQL, InvalidOid, t->relname, NoLock,
				psprintf("ALTER TABLE %s OWNER TO %s", stage, owner_name),
				"give the stage copy to the table's owner");
	/* the type change constant-folds its copied constraints: as the owner */
	cu_plan_add(plan, CU_STEP_SQL, InvalidOid, t->relname, NoLock, buf.data,
				"give the stage copy's key the type %s", newtype);
	as_owner(plan, owner);
	cu_plan_add(plan, CU_STEP_SQL, InvalidOid, t->relname, NoLock,
				psprintf("CREATE TABLE %s (LIKE %s %s) PARTITION BY HASH (%s)%s", t->qualname, stage, like, pk,
						 tablespace ? psprintf(" TABLESPACE %s", tablespace) : ""),
				"create the new parent, partitioned by HASH of the %s key", newtype);
	cu_plan_add(plan, CU_STEP_SQL, InvalidOid, t->relname, NoLock, psprintf("DROP TABLE %s", stage),
				"drop the stage copy");
	/* the owner's before its indexes are built: they build as the table's owner */
	cu_plan_add(plan, CU_STEP_SQL, InvalidOid, t->relname, NoLock,
				psprintf("ALTER TABLE %s OWNER TO %s", t->qualname, owner_name),
				"give the new parent to the table's owner");

	/* 2. what the old parent had */
	foreach(lc, objects)
		cu_plan_add(plan, CU_STEP_SQL, InvalidOid, t->relname, AccessExclusiveLock, lfirst(lc),
					"new parent: %s, as the old parent had it", cu_statement_tag(lfirst(lc)));

	/* 3. the partitions: detach, move rows to their new partition, rewrite, attach */
	foreach(lc, t->leaves)
	{
		CuLeaf	   *leaf = lfirst(lc);

		cu_plan_add(plan, CU_STEP_SQL, leaf->relid, leaf->relname, AccessExclusiveLock,
					psprintf("ALTER TABLE %s DETACH PARTITION %s", oldq, cu_qualify(leaf->nspname, leaf->relname)),
					"detach the partition from the old parent");
		cu_step_lock(last_step(plan), t->relid, AccessExclusiveLock);
	}
	cu_plan_add(plan, CU_STEP_SQL, InvalidOid, t->relname, NoLock,
				psprintf("CREATE UNLOGGED TABLE %s (LIKE %s)", moved, oldq),
				"create the work table for rows that change partition");
	cu_plan_add(plan, CU_STEP_SQL, InvalidOid, t->relname, NoLock,
				psprintf("ALTER TABLE %s OWNER TO %s", moved, owner_name),
				"give that work table to the table's owner");
	foreach(lc, t->leaves)
	{
		CuLeaf	   *leaf = lfirst(lc);

		cu_plan_add(plan, CU_STEP_SQL, leaf->relid, leaf->relname, RowExclusiveLock,
					psprintf("WITH moving AS (DELETE FROM %s WHERE NOT pg_catalog.satisfies_hash_partition(%s::pg_catalog.regclass, %d, %d, %s) "
							 "RETURNING %s) INSERT INTO %s (%s) SELECT %s FROM moving",
							 cu_qualify(leaf->nspname, leaf->relname), parent, leaf->modulus, leaf->remainder,
							 key_using, cols, moved, cols, cols),
					"move out the rows whose new id hashes to another partition");
		as_owner(plan, owner);
	}
	foreach(lc, t->leaves)
	{
		CuLeaf	   *leaf = lfirst(lc);

		cu_plan_add(plan, CU_STEP_SQL, leaf->relid, leaf->relname, RowExclusiveLock,
					psprintf("WITH arriving AS (DELETE FROM %s WHERE pg_catalog.satisfies_hash_partition(%s::pg_catalog.regclass, %d, %d, %s) "
							 "RETURNING %s) INSERT INTO %s (%s) OVERRIDING SYSTEM VALUE SELECT %s FROM arriving",
							 moved, parent, leaf->modulus, leaf->remainder, key_using,
							 cols, cu_qualify(leaf->nspname, leaf->relname), cols, cols),
					"move in the rows whose new id hashes to this partition");
		as_owner(plan, owner);
	}
	cu_plan_add(plan, CU_STEP_INTERNAL, InvalidOid, t->relname, NoLock,
				psprintf("SELECT pg_catalog.count(*) FROM %s", moved),
				"check that every moved row found its partition");
	(last_step(plan))->action = CU_ACT_EXPECT_NONE;
	/* the owner's triggers above could have put statistics on the work table */
	as_owner(plan, owner);
	cu_plan_add(plan, CU_STEP_SQL, InvalidOid, t->relname, NoLock, psprintf("DROP TABLE %s", moved),
				"drop the work table");
	foreach(lc, t->leaves)
	{
		CuLeaf	   *leaf = lfirst(lc);
		ListCell   *lc2;

		initStringInfo(&buf);
		appendStringInfo(&buf, "ALTER TABLE %s", cu_qualify(leaf->nspname, leaf->relname));
		if (leaf->identity)
			appendStringInfo(&buf, " ALTER COLUMN %s DROP IDENTITY,", pk);
		if (leaf->has_default)
			appendStringInfo(&buf, " ALTER COLUMN %s DROP DEFAULT,", pk);
		appendStringInfo(&buf, " ALTER COLUMN %s TYPE %s USING %s", pk, newtype, key_using);
		foreach(lc2, selfcols)
		{
			CuRewriteColumn *c = lfirst(lc2);

			appendStringInfo(&buf, ", ALTER COLUMN %s TYPE %s USING %s",
							 quote_identifier(c->attname), c->newtype, c->using_expr);
		}
		if (leaf->has_default && newdefault)
			appendStringInfo(&buf, ", ALTER COLUMN %s SET DEFAULT %s", pk, newdefault);
		cu_plan_add(plan, CU_STEP_SQL, leaf->relid, leaf->relname, AccessExclusiveLock, buf.data,
					"rewrite the partition's rows with their new ids");
		(last_step(plan))->rewrites = true;
		as_owner(plan, owner);
		/* DROP IDENTITY drops the partition's own identity sequence */
		if (leaf->identity)
			foreach(lc3, cu_spi_oids("SELECT d.objid FROM pg_catalog.pg_depend d "
								  "WHERE d.classid OPERATOR(pg_catalog.=) 'pg_catalog.pg_class'::pg_catalog.regclass "
								  "  AND d.refclassid OPERATOR(pg_catalog.=) 'pg_catalog.pg_class'::pg_catalog.regclass "
								  "  AND d.refobjid OPERATOR(pg_catalog.=) $1 AND d.deptype OPERATOR(pg_catalog.=) 'i'",
								  leaf->relid))
				cu_step_lock(last_step(plan), lfirst_oid(lc3), AccessExclusiveLock);
	}
	foreach(lc, t->leaves)
	{
		CuLeaf	   *leaf = lfirst(lc);

		cu_plan_add(plan, CU_STEP_SQL, leaf->relid, leaf->relname, AccessExclusiveLock,
					psprintf("ALTER TABLE %s ATTACH PARTITION %s FOR VALUES WITH (MODULUS %d, REMAINDER %d)",
							 t->qualname, cu_qualify(leaf->nspname, leaf->relname), leaf->modulus, leaf->remainder),
					"attach the partition to the new parent (modulus %d, remainder %d)", leaf->modulus, leaf->remainder);
		as_owner(plan, owner);
		/* the parent's foreign keys are added to the partition */
		foreach(lc3, reftables)
			cu_step_lock(last_step(plan), lfirst_oid(lc3), ShareRowExclusiveLock);
	}

	/* 4. the sequences, then the empty old parent */
	forboth(lc, owned, lc3, ownedseqs)
	{
		/* ALTER SEQUENCE takes SHARE ROW EXCLUSIVE on the sequence */
		cu_plan_add(plan, CU_STEP_SQL, InvalidOid, t->relname, NoLock, lfirst(lc),
					"give the sequence to the new parent");
		cu_step_lock(last_step(plan), lfirst_oid(lc3), ShareRowExclusiveLock);
		(last_step(plan))->lockmode = ShareRowExclusiveLock;
	}
	cu_plan_add(plan, CU_STEP_SQL, InvalidOid, t->relname, AccessExclusiveLock, psprintf("DROP TABLE %s", oldq),
				"drop the old parent, empty now");
	cu_step_lock(last_step(plan), t->relid, AccessExclusiveLock);
	foreach(lc3, reftables)
		cu_step_lock(last_step(plan), lfirst_oid(lc3), AccessExclusiveLock);
}
