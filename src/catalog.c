/*-------------------------------------------------------------------------
 *
 * catalog.c
 *	  Small catalog helpers: the extension's schema and tables, names of
 *	  relations and types, and the statements that put back a relation's
 *	  grants and comments.
 *
 * Nothing here changes anything, and nothing searches search_path.
 *
 * IDENTIFICATION
 *	  src/catalog.c
 *
 *-------------------------------------------------------------------------
 */
#include "catalog.h"
#include "spi_util.h"

#include "access/genam.h"
#include "access/htup_details.h"
#include "access/table.h"
#include "access/transam.h"
#include "catalog/indexing.h"
#include "catalog/namespace.h"
#include "catalog/pg_attribute.h"
#include "catalog/pg_class.h"
#include "catalog/pg_extension.h"
#include "catalog/pg_type.h"
#include "commands/extension.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/fmgroids.h"
#include "utils/lsyscache.h"
#include "utils/syscache.h"

/* The schema of extension extoid (get_extension_schema is static before 16) */
static Oid
extension_schema(Oid extoid)
{
	Relation	rel;
	ScanKeyData key;
	SysScanDesc scan;
	HeapTuple	tup;
	Oid			result = InvalidOid;

	rel = table_open(ExtensionRelationId, AccessShareLock);
	ScanKeyInit(&key, Anum_pg_extension_oid, BTEqualStrategyNumber, F_OIDEQ,
				ObjectIdGetDatum(extoid));
	scan = systable_beginscan(rel, ExtensionOidIndexId, true, NULL, 1, &key);
	tup = systable_getnext(scan);
	if (HeapTupleIsValid(tup))
		result = ((Form_pg_extension) GETSTRUCT(tup))->extnamespace;
	systable_endscan(scan);
	table_close(rel, AccessShareLock);
	return result;
}

/* The schema connector_uuid is installed in (where the app's tables are) */
Oid
cu_extension_schema(void)
{
	return extension_schema(get_extension_oid("connector_uuid", false));
}

char *
cu_extension_schema_name(void)
{
	return get_namespace_name(cu_extension_schema());
}

/* One of the extension's own relations, quoted and schema-qualified */
char *
cu_extension_qual(const char *name)
{
	return cu_qualify(cu_extension_schema_name(), name);
}

/* One of the extension's own relations */
Oid
cu_extension_rel(const char *name)
{
	return get_relname_relid(name, cu_extension_schema());
}

/* The schema uuid-ossp is installed in; an error if it is not installed */
Oid
cu_uuid_ossp_schema(void)
{
	Oid			extoid = get_extension_oid("uuid-ossp", true);

	if (!OidIsValid(extoid))
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("extension \"uuid-ossp\" is not installed"),
				 errhint("Run CREATE EXTENSION \"uuid-ossp\" first.")));
	return extension_schema(extoid);
}

/* Oid of nspname.relname, or InvalidOid; never searches search_path */
Oid
cu_lookup_table(const char *nspname, const char *relname)
{
	Oid			nspoid = get_namespace_oid(nspname, true);

	if (!OidIsValid(nspoid))
		return InvalidOid;
	return get_relname_relid(relname, nspoid);
}

/*
 * As cu_lookup_table, but InvalidOid unless it is a table (plain or
 * partitioned): for queries that read the rows, since reading a view would
 * run its query, the application's code, as us.
 */
Oid
cu_lookup_plain_table(const char *nspname, const char *relname)
{
	Oid			relid = cu_lookup_table(nspname, relname);
	char		relkind = OidIsValid(relid) ? get_rel_relkind(relid) : '\0';

	if (relkind != RELKIND_RELATION && relkind != RELKIND_PARTITIONED_TABLE)
		return InvalidOid;
	return relid;
}

/* relid's quoted, schema-qualified name */
char *
cu_rel_qualname(Oid relid)
{
	return cu_qualify(get_namespace_name(get_rel_namespace(relid)), get_rel_name(relid));
}

/*
 * Rows in relid as pg_class says (exact after a rewrite, whose index builds
 * count them; an estimate otherwise)
 */
int64
cu_rel_tuples(Oid relid)
{
	bool		isnull;

	cu_spi_select_oid("SELECT GREATEST(c.reltuples, 0)::pg_catalog.int8 FROM pg_catalog.pg_class c "
					  "WHERE c.oid OPERATOR(pg_catalog.=) $1", relid);
	return SPI_processed == 1 ? cu_spi_getint64(0, 1, &isnull) : 0;
}

/* The access method of relation relid (an index's), or InvalidOid */
Oid
cu_rel_am(Oid relid)
{
	HeapTuple	tup = SearchSysCache1(RELOID, ObjectIdGetDatum(relid));
	Oid			am;

	if (!HeapTupleIsValid(tup))
		return InvalidOid;
	am = ((Form_pg_class) GETSTRUCT(tup))->relam;
	ReleaseSysCache(tup);
	return am;
}

/* Is column attname of relid marked NOT NULL? (false if there is none) */
bool
cu_column_not_null(Oid relid, const char *attname)
{
	HeapTuple	tup = SearchSysCacheAttName(relid, attname);
	bool		notnull;

	if (!HeapTupleIsValid(tup))
		return false;
	notnull = ((Form_pg_attribute) GETSTRUCT(tup))->attnotnull;
	ReleaseSysCache(tup);
	return notnull;
}

/* What kind of relation relid is, in words (for messages) */
const char *
cu_rel_kind_name(Oid relid)
{
	switch (get_rel_relkind(relid))
	{
		case RELKIND_RELATION:
		case RELKIND_PARTITIONED_TABLE:
			return "table";
		case RELKIND_SEQUENCE:
			return "sequence";
		case RELKIND_VIEW:
			return "view";
		case RELKIND_MATVIEW:
			return "materialized view";
		case RELKIND_INDEX:
		case RELKIND_PARTITIONED_INDEX:
			return "index";
		case RELKIND_FOREIGN_TABLE:
			return "foreign table";
		default:
			return "relation";
	}
}

/* A type's SQL name, fully qualified where it must be */
char *
cu_type_name(Oid typid)
{
	return format_type_be_qualified(typid);
}

/* The SQL words for a pg_constraint.confdeltype/confupdtype action */
char *
cu_fk_action_sql(char action)
{
	switch (action)
	{
		case 'a':
			return "NO ACTION";
		case 'r':
			return "RESTRICT";
		case 'c':
			return "CASCADE";
		case 'n':
			return "SET NULL";
		case 'd':
			return "SET DEFAULT";
		default:
			elog(ERROR, "unrecognized foreign key action \"%c\"", action);
	}
	return NULL;				/* keep compiler quiet */
}

/* smallint, integer or bigint: the key types the engine converts */
bool
cu_is_integer_type(Oid typid)
{
	return typid == INT2OID || typid == INT4OID || typid == INT8OID;
}

/*
 * True if column attname of relid is of a built-in type: its cast to text
 * is then PostgreSQL's (CREATE CAST takes owning one of the two types).
 */
bool
cu_builtin_type_column(Oid relid, const char *attname)
{
	AttrNumber	attnum = get_attnum(relid, attname);
	Oid			typid;

	if (attnum == InvalidAttrNumber)
		return false;
	typid = get_atttype(relid, attnum);
	return typid < FirstNormalObjectId;
}

/*
 * Append to list the GRANT statements that recreate relid's ACL (columns:
 * its columns' ACLs) on a relation of the same name, qual.  A grant made by
 * a role other than the owner (which held the privilege WITH GRANT OPTION)
 * says GRANTED BY that role, so that it is recorded as the same role's, and
 * comes after the grant it depends on; the executor runs it as that role.
 * GRANTED BY exists from PostgreSQL 14, and is used only when the
 * converting role could act as the grantor (a member of it, or superuser):
 * otherwise the grant is recorded as the owner's.
 */
List *
cu_grants(List *list, Oid relid, const char *qual, const char *grantkind, bool columns)
{
	const char *acl = columns ?
		"SELECT att.attnum, att.attname, a.grantor, a.grantee, a.privilege_type, a.is_grantable "
		"FROM pg_catalog.pg_attribute att, pg_catalog.aclexplode(att.attacl) a "
		"WHERE att.attrelid OPERATOR(pg_catalog.=) $1 AND att.attacl IS NOT NULL "
		"  AND att.attnum OPERATOR(pg_catalog.>) 0 AND NOT att.attisdropped" :
		"SELECT 0::pg_catalog.int2 AS attnum, NULL::pg_catalog.name AS attname, "
		"       a.grantor, a.grantee, a.privilege_type, a.is_grantable "
		"FROM pg_catalog.pg_class c, pg_catalog.aclexplode(c.relacl) a "
		"WHERE c.oid OPERATOR(pg_catalog.=) $1";
#if PG_VERSION_NUM >= 140000
	const char *granted_by =
		"CASE WHEN acl.grantor OPERATOR(pg_catalog.<>) own.relowner "
		"      AND pg_catalog.pg_has_role(acl.grantor, 'MEMBER') "
		"     THEN ' GRANTED BY ' OPERATOR(pg_catalog.||) pg_catalog.quote_ident(pg_catalog.pg_get_userbyid(acl.grantor)) "
		"     ELSE '' END";
#else
	const char *granted_by = "''";
#endif

	return cu_spi_collect(list,
						  psprintf("WITH RECURSIVE own AS (SELECT c.relowner FROM pg_catalog.pg_class c "
								   "                       WHERE c.oid OPERATOR(pg_catalog.=) $1), "
								   "acl AS (%s), "
								   "chain(attnum, grantor, grantee, privilege_type, is_grantable, depth) AS ("
								   "  SELECT acl.attnum, acl.grantor, acl.grantee, acl.privilege_type, acl.is_grantable, 0 "
								   "  FROM acl, own WHERE acl.grantor OPERATOR(pg_catalog.=) own.relowner "
								   "  UNION ALL SELECT acl.attnum, acl.grantor, acl.grantee, acl.privilege_type, acl.is_grantable, "
								   "    chain.depth OPERATOR(pg_catalog.+) 1 "
								   "  FROM acl JOIN chain ON acl.attnum OPERATOR(pg_catalog.=) chain.attnum "
								   "    AND acl.grantor OPERATOR(pg_catalog.=) chain.grantee "
								   "    AND acl.privilege_type OPERATOR(pg_catalog.=) chain.privilege_type AND chain.is_grantable "
								   "  WHERE chain.depth OPERATOR(pg_catalog.<) 8) "
								   "SELECT pg_catalog.format('GRANT %%s%%s ON %s %%s TO %%s%%s%%s', acl.privilege_type, "
								   "       CASE WHEN acl.attname IS NOT NULL THEN pg_catalog.format(' (%%I)', acl.attname) ELSE '' END, $2, "
								   "       CASE WHEN acl.grantee OPERATOR(pg_catalog.=) 0 THEN 'PUBLIC' "
								   "            ELSE pg_catalog.quote_ident(pg_catalog.pg_get_userbyid(acl.grantee)) END, "
								   "       CASE WHEN acl.is_grantable THEN ' WITH GRANT OPTION' ELSE '' END, %s) "
								   "FROM acl, own "
								   "ORDER BY (SELECT pg_catalog.min(ch.depth) FROM chain ch "
								   "          WHERE ch.attnum OPERATOR(pg_catalog.=) acl.attnum AND ch.grantor OPERATOR(pg_catalog.=) acl.grantor "
								   "            AND ch.grantee OPERATOR(pg_catalog.=) acl.grantee "
								   "            AND ch.privilege_type OPERATOR(pg_catalog.=) acl.privilege_type) NULLS LAST, "
								   "         acl.attnum, acl.grantee, acl.privilege_type",
								   acl, grantkind, granted_by),
						  relid, qual);
}

/*
 * Append to list the statements that give a relation created again under
 * the same name (qual) the comment and grants relid has now: its comment,
 * then its ACL, reset exactly (REVOKE from the owner, then each grant).
 * kind is the word GRANT and COMMENT use for it: TABLE, SEQUENCE, VIEW...
 */
List *
cu_comment_and_grants(List *list, Oid relid, const char *qual, const char *kind)
{
	const char *grantkind = strcmp(kind, "SEQUENCE") == 0 ? "SEQUENCE" : "TABLE";

	list = cu_spi_collect(list,
						  psprintf("SELECT pg_catalog.format('COMMENT ON %s %%s IS %%L', $2, d.description) "
								   "FROM pg_catalog.pg_description d WHERE d.objoid OPERATOR(pg_catalog.=) $1 "
								   "  AND d.classoid OPERATOR(pg_catalog.=) 'pg_catalog.pg_class'::pg_catalog.regclass "
								   "  AND d.objsubid OPERATOR(pg_catalog.=) 0", kind),
						  relid, qual);
	list = cu_spi_collect(list,
						  psprintf("SELECT pg_catalog.format('REVOKE ALL ON %s %%s FROM %%I', $2, "
								   "       pg_catalog.pg_get_userbyid(c.relowner)) "
								   "FROM pg_catalog.pg_class c "
								   "WHERE c.oid OPERATOR(pg_catalog.=) $1 AND c.relacl IS NOT NULL", grantkind),
						  relid, qual);
	list = cu_grants(list, relid, qual, grantkind, false);
	return list;
}

/* Append to list the COMMENT ON INDEX statements of relid's indexes */
List *
cu_index_comments(List *list, Oid relid, const char *qual)
{
	return cu_spi_collect(list,
						  "SELECT pg_catalog.format('COMMENT ON INDEX %I.%I IS %L', n.nspname, ic.relname, d.description) "
						  "FROM pg_catalog.pg_index i "
						  "JOIN pg_catalog.pg_class ic ON ic.oid OPERATOR(pg_catalog.=) i.indexrelid "
						  "JOIN pg_catalog.pg_namespace n ON n.oid OPERATOR(pg_catalog.=) ic.relnamespace "
						  "JOIN pg_catalog.pg_description d ON d.objoid OPERATOR(pg_catalog.=) i.indexrelid "
						  "  AND d.classoid OPERATOR(pg_catalog.=) 'pg_catalog.pg_class'::pg_catalog.regclass "
						  "  AND d.objsubid OPERATOR(pg_catalog.=) 0 "
						  "WHERE i.indrelid OPERATOR(pg_catalog.=) $1 ORDER BY ic.relname",
						  relid, qual);
}

/*
 * relid's name; an error unless it is an ordinary or partitioned table
 * (detail says what the calling function works on)
 */
char *
cu_require_table(Oid relid, const char *detail)
{
	char	   *relname = get_rel_name(relid);
	char		relkind = get_rel_relkind(relid);

	if (relname == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_TABLE),
				 errmsg("relation with OID %u does not exist", relid)));
	if (relkind != RELKIND_RELATION && relkind != RELKIND_PARTITIONED_TABLE)
		ereport(ERROR,
				(errcode(ERRCODE_WRONG_OBJECT_TYPE),
				 errmsg("\"%s\" is not a table", relname),
				 errdetail("%s", detail)));
	return relname;
}

/* Refuse unless the current user owns relid (or is superuser) */
void
cu_check_owner(Oid relid)
{
#if PG_VERSION_NUM >= 160000
	if (!object_ownercheck(RelationRelationId, relid, GetUserId()))
#else
	if (!pg_class_ownercheck(relid, GetUserId()))
#endif
		aclcheck_error(ACLCHECK_NOT_OWNER,
					   get_relkind_objtype(get_rel_relkind(relid)),
					   get_rel_name(relid));
}
