/*-------------------------------------------------------------------------
 *
 * verify.c
 *	  The migration guide's verification checklist, as rows.
 *
 * Like amcheck's verify_heapam, every check produces a row and a failing
 * check does not stop the others.  At 2.0 the checks are the guide's ten
 * (three column types, CASCADE on both foreign keys, the MD5 index, all
 * connectors accessible, all servers linked, uuid-ossp enabled, generated
 * UUIDs for new connectors); at 1.0 their integer-era equivalents.  Three
 * rows are added: whether the extension's version agrees with the tables
 * (and the fix when it does not), whether every access grant is linked, and
 * the integer columns left unconverted for want of a foreign key (softref.c;
 * informational, it always passes).  A last row compares, on a subscriber
 * of the connector tables, the id mapping with its publisher's.
 *
 * Nothing here writes, so it runs on a hot standby.  It reads the catalogs;
 * a link check scans a child table only when no valid, enabled foreign key
 * already proves the links (or when thorough => true).  Counting the
 * connectors is an index-only scan of the primary key.  Every query over
 * an application table runs as a table's owner under
 * SECURITY_RESTRICTED_OPERATION (verify_enter), since planning it folds
 * what the owner wrote; a check no owner can read for fails and says so.
 *
 * IDENTIFICATION
 *	  src/verify.c
 *
 *-------------------------------------------------------------------------
 */
#include "plan.h"
#include "security.h"
#include "spi_util.h"
#include "verify.h"

#include "catalog/pg_type.h"
#include "commands/extension.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"

static List *
add_check(List *checks, const char *item, bool passed, char *detail)
{
	CuCheck    *c = palloc(sizeof(CuCheck));

	c->item = pstrdup(item);
	c->passed = passed;
	c->detail = detail;
	return lappend(checks, c);
}

/* relid's quoted, schema-qualified name */
static char *
qualified(Oid relid)
{
	return cu_qualify(get_namespace_name(get_rel_namespace(relid)), get_rel_name(relid));
}

/*
 * Enter the context a query reading relations a and b (a == b: one table)
 * runs in: as the owner of one of them that may read both, under
 * SECURITY_RESTRICTED_OPERATION, since planning the query folds what the
 * owners wrote (statistics expressions, children's CHECK constraints, index
 * expressions).  The caller must be allowed to read both too, as if the
 * query ran as it.  False, with *why set for the check's detail, if the
 * caller may not or no owner may read both: the check fails, verify goes on.
 */
static bool
verify_enter(CuContext *cx, Oid a, Oid b, char **why)
{
	Oid			reader;

	if (pg_class_aclcheck(a, GetUserId(), ACL_SELECT) != ACLCHECK_OK ||
		pg_class_aclcheck(b, GetUserId(), ACL_SELECT) != ACLCHECK_OK)
	{
		*why = psprintf("not checked: role %s may not read %s",
						GetUserNameFromId(GetUserId(), false),
						pg_class_aclcheck(a, GetUserId(), ACL_SELECT) != ACLCHECK_OK ?
						get_rel_name(a) : get_rel_name(b));
		return false;
	}
	reader = cu_reader_of(a, b);
	if (!OidIsValid(reader))
	{
		if (a == b)
			*why = psprintf("not checked: the owner of %s (%s) may not read it, and the check runs as the table's owner; fix: GRANT SELECT ON %s TO %s",
							get_rel_name(a), GetUserNameFromId(cu_rel_owner(a), false),
							qualified(a), quote_identifier(GetUserNameFromId(cu_rel_owner(a), false)));
		else
			*why = psprintf("not checked: neither the owner of %s (%s) nor the owner of %s (%s) may read both tables, and the check runs as a table's owner; fix: GRANT SELECT ON %s TO %s",
							get_rel_name(a), GetUserNameFromId(cu_rel_owner(a), false),
							get_rel_name(b), GetUserNameFromId(cu_rel_owner(b), false),
							qualified(b), quote_identifier(GetUserNameFromId(cu_rel_owner(a), false)));
		return false;
	}
	cu_enter(cx, reader, SECURITY_RESTRICTED_OPERATION);
	return true;
}

/* Current extension version */
static char *
extension_version(void)
{
	cu_spi_exec("SELECT extversion FROM pg_catalog.pg_extension "
				"WHERE extname OPERATOR(pg_catalog.=) 'connector_uuid'", SPI_OK_SELECT);
	return SPI_processed ? cu_spi_getstring(0, 1) : NULL;
}

/* The type of nsp.rel.col, or InvalidOid if there is no such column (or table) */
static Oid
column_type(const char *nspname, const char *relname, const char *colname)
{
	Oid			relid = cu_lookup_plain_table(nspname, relname);
	AttrNumber	attnum;

	if (!OidIsValid(relid))
		return InvalidOid;
	attnum = get_attnum(relid, colname);
	if (attnum == InvalidAttrNumber)
		return InvalidOid;
	return get_atttype(relid, attnum);
}

static List *
check_type(List *checks, const char *nsp, const char *rel, const char *col, bool want_uuid)
{
	Oid			t = column_type(nsp, rel, col);
	bool		ok = want_uuid ? t == UUIDOID : cu_is_integer_type(t);
	char	   *item = psprintf("%s.%s is %s", rel, col, want_uuid ? "UUID" : "INTEGER");

	return add_check(checks, item, ok,
					 OidIsValid(t) ? psprintf("%s.%s is %s", rel, col, format_type_be(t))
					 : psprintf("column %s.%s does not exist", rel, col));
}

/*
 * The CASCADE check of one child, and whether its links are proven by a
 * valid, enabled foreign key (so the link check need not scan).
 */
static List *
check_cascade(List *checks, const char *nsp, Oid parent, const char *child,
			  bool *proven)
{
	Oid			relid = cu_lookup_plain_table(nsp, child);
	Oid			argtypes[3] = {OIDOID, OIDOID, TEXTOID};
	Datum		values[3];
	char	   *item = psprintf("CASCADE DELETE works on %s", child);
	bool		isnull;

	*proven = false;
	if (!OidIsValid(relid) || !OidIsValid(parent))
		return add_check(checks, item, false, psprintf("table %s or mcp_connectors does not exist", child));
	values[0] = ObjectIdGetDatum(relid);
	values[1] = ObjectIdGetDatum(parent);
	values[2] = CStringGetTextDatum("connector_id");
	cu_spi_exec_args("SELECT c.conname, c.confdeltype, c.convalidated, "
					 "       NOT EXISTS (SELECT 1 FROM pg_catalog.pg_trigger t "
					 "                   WHERE t.tgconstraint OPERATOR(pg_catalog.=) c.oid "
					 "                     AND t.tgenabled OPERATOR(pg_catalog.=) 'D') "
					 "FROM pg_catalog.pg_constraint c "
					 "JOIN pg_catalog.pg_attribute a ON a.attrelid OPERATOR(pg_catalog.=) c.conrelid "
					 "  AND a.attnum OPERATOR(pg_catalog.=) c.conkey[1] "
					 "WHERE c.contype OPERATOR(pg_catalog.=) 'f' AND c.conrelid OPERATOR(pg_catalog.=) $1 "
					 "  AND c.confrelid OPERATOR(pg_catalog.=) $2 AND a.attname OPERATOR(pg_catalog.=) $3::pg_catalog.name "
					 "ORDER BY c.confdeltype OPERATOR(pg_catalog.=) 'c' DESC, c.conname LIMIT 1",
					 SPI_OK_SELECT, 3, argtypes, values, NULL);
	if (SPI_processed == 0)
		return add_check(checks, item, false,
						 psprintf("no foreign key from %s.connector_id to mcp_connectors; fix: ALTER TABLE %s ADD FOREIGN KEY (connector_id) REFERENCES %s (id) ON DELETE CASCADE",
								  child, cu_qualify(nsp, child), cu_qualify(nsp, "mcp_connectors")));
	{
		char	   *conname = cu_spi_getstring(0, 1);
		char		del = cu_spi_getstring(0, 2)[0];
		bool		valid = cu_spi_getbool(0, 3, &isnull);
		bool		enabled = cu_spi_getbool(0, 4, &isnull);

		*proven = valid && enabled;
		if (del != 'c')
			return add_check(checks, item, false,
							 psprintf("foreign key %s is ON DELETE %s, not CASCADE", conname, cu_fk_action_sql(del)));
		if (!enabled)
			return add_check(checks, item, false,
							 psprintf("foreign key %s has disabled triggers; fix: ALTER TABLE %s ENABLE TRIGGER ALL",
									  conname, cu_qualify(nsp, child)));
		return add_check(checks, item, true,
						 psprintf("foreign key %s, ON DELETE CASCADE%s", conname,
								  valid ? "" : ", NOT VALID"));
	}
}

/* Rows of child whose connector_id has no connector */
static List *
check_links(List *checks, const char *nsp, const char *child, const char *item,
			bool proven, bool thorough)
{
	Oid			parent = cu_lookup_plain_table(nsp, "mcp_connectors");
	Oid			relid = cu_lookup_plain_table(nsp, child);
	bool		isnull;
	int64		orphans;
	int64		drift;
	CuContext	cx;
	char	   *why;
	const char *twin = NULL;

	if (!OidIsValid(parent) || !OidIsValid(relid))
		return add_check(checks, item, false, "table missing");
	if (proven && !thorough)
		return add_check(checks, item, true,
						 "proven by a valid foreign key (thorough => true scans the rows)");
	{
		Oid			pt = column_type(nsp, "mcp_connectors", "id");
		Oid			ct = column_type(nsp, child, "connector_id");

		if (!(pt == ct || (cu_is_integer_type(pt) && cu_is_integer_type(ct))))
			return add_check(checks, item, false,
							 psprintf("mcp_connectors.id is %s but %s.connector_id is %s",
									  format_type_be(pt), child, format_type_be(ct)));
	}
	/* in the online mode, the twin link must name the same connector */
	if (get_attnum(relid, "connector_id_uuid") != InvalidAttrNumber &&
		get_attnum(parent, "id_uuid") != InvalidAttrNumber)
		twin = "uuid";
	else if (get_attnum(relid, "connector_id_int") != InvalidAttrNumber &&
			 get_attnum(parent, "id_int") != InvalidAttrNumber)
		twin = "int";
	if (!verify_enter(&cx, relid, parent, &why))
		return add_check(checks, item, false, why);
	cu_spi_exec(psprintf("SELECT pg_catalog.count(*) FILTER (WHERE c.connector_id IS NOT NULL), "
						 "       pg_catalog.count(*) FILTER (WHERE c.connector_id IS NOT NULL AND NOT EXISTS "
						 "         (SELECT 1 FROM %s p WHERE p.id OPERATOR(pg_catalog.=) c.connector_id)), "
						 "       %s "
						 "FROM %s c", cu_qualify(nsp, "mcp_connectors"),
						 twin ? psprintf("pg_catalog.count(*) FILTER (WHERE c.connector_id IS NOT NULL AND c.connector_id_%s IS DISTINCT FROM "
										 "(SELECT p.id_%s FROM %s p WHERE p.id OPERATOR(pg_catalog.=) c.connector_id))",
										 twin, twin, cu_qualify(nsp, "mcp_connectors")) : "0::pg_catalog.int8",
						 cu_qualify(nsp, child)),
				SPI_OK_SELECT);
	cu_leave(&cx);
	orphans = cu_spi_getint64(0, 2, &isnull);
	drift = cu_spi_getint64(0, 3, &isnull);
	if (twin)
		return add_check(checks, item, orphans == 0 && drift == 0,
						 psprintf("%lld linked rows, %lld pointing at no connector, %lld whose connector_id_%s names another connector than connector_id (the online mode's twin)",
								  (long long) cu_spi_getint64(0, 1, &isnull), (long long) orphans,
								  (long long) drift, twin));
	return add_check(checks, item, orphans == 0,
					 psprintf("%lld linked rows, %lld pointing at no connector",
							  (long long) cu_spi_getint64(0, 1, &isnull), (long long) orphans));
}

/* The connector primary key is there, valid, and reaches every row */
static List *
check_connectors(List *checks, const char *nsp, Oid parent)
{
	const char *item = "all existing connectors still accessible";
	bool		isnull;
	CuContext	cx;
	char	   *why;

	if (!OidIsValid(parent))
		return add_check(checks, item, false, "table mcp_connectors does not exist");
	cu_spi_select_oid("SELECT i.indisvalid AND i.indisready "
					  "FROM pg_catalog.pg_constraint c JOIN pg_catalog.pg_index i "
					  "  ON i.indexrelid OPERATOR(pg_catalog.=) c.conindid "
					  "JOIN pg_catalog.pg_attribute a ON a.attrelid OPERATOR(pg_catalog.=) c.conrelid "
					  "  AND a.attnum OPERATOR(pg_catalog.=) c.conkey[1] "
					  "WHERE c.conrelid OPERATOR(pg_catalog.=) $1 AND c.contype OPERATOR(pg_catalog.=) 'p' "
					  "  AND a.attname OPERATOR(pg_catalog.=) 'id'", parent);
	if (SPI_processed == 0 || !cu_spi_getbool(0, 1, &isnull))
		return add_check(checks, item, false, "mcp_connectors has no valid primary key on id");
	if (!verify_enter(&cx, parent, parent, &why))
		return add_check(checks, item, false, why);
	cu_spi_exec(psprintf("SELECT pg_catalog.count(*) FROM %s", cu_qualify(nsp, "mcp_connectors")),
				SPI_OK_SELECT);
	cu_leave(&cx);
	return add_check(checks, item, true,
					 psprintf("%lld connectors, each reachable by its primary key",
							  (long long) cu_spi_getint64(0, 1, &isnull)));
}

/* The MD5 secret index: unique, valid, on md5(secret::text), partial */
static List *
check_md5(List *checks, const char *nsp, Oid parent)
{
	const char *item = "MD5 secret index exists";

	if (!OidIsValid(parent))
		return add_check(checks, item, false, "table mcp_connectors does not exist");
	switch (cu_md5_index_state(parent))
	{
		case CU_MD5_MISSING:
			return add_check(checks, item, false,
							 psprintf("index uq_mcp_connectors_secret_md5 is missing; fix: CREATE UNIQUE INDEX uq_mcp_connectors_secret_md5 ON %s (md5(secret::text)) WHERE secret IS NOT NULL",
									  cu_qualify(nsp, "mcp_connectors")));
		case CU_MD5_NOT_UNIQUE:
			return add_check(checks, item, false, "index uq_mcp_connectors_secret_md5 is not unique");
		case CU_MD5_NOT_VALID:
			return add_check(checks, item, false, "index uq_mcp_connectors_secret_md5 is not valid; fix: REINDEX INDEX it");
		case CU_MD5_WRONG_SHAPE:
			return add_check(checks, item, false,
							 "index uq_mcp_connectors_secret_md5 is not on md5(secret::text) WHERE secret IS NOT NULL");
		case CU_MD5_OK:
			break;
	}
	return add_check(checks, item, true, "unique, valid, on md5(secret::text) WHERE secret IS NOT NULL");
}

/* New connectors get an id without the application supplying one */
static List *
check_default(List *checks, const char *nsp, Oid parent, bool want_uuid)
{
	const char *item = want_uuid ? "new connectors get auto-generated UUIDs"
		: "new connectors get sequence-generated ids";
	bool		isnull;
	char	   *def;
	char		identity;

	if (!OidIsValid(parent))
		return add_check(checks, item, false, "table mcp_connectors does not exist");
	cu_spi_select_oid("SELECT pg_catalog.pg_get_expr(d.adbin, d.adrelid), a.attidentity, "
					  "       pg_catalog.pg_get_serial_sequence(pg_catalog.format('%I.%I', n.nspname, c.relname), 'id'), "
					  "       pg_catalog.pg_get_serial_sequence(pg_catalog.format('%I.%I', n.nspname, c.relname), 'id')::pg_catalog.regclass::pg_catalog.oid "
					  "FROM pg_catalog.pg_attribute a "
					  "JOIN pg_catalog.pg_class c ON c.oid OPERATOR(pg_catalog.=) a.attrelid "
					  "JOIN pg_catalog.pg_namespace n ON n.oid OPERATOR(pg_catalog.=) c.relnamespace "
					  "LEFT JOIN pg_catalog.pg_attrdef d ON d.adrelid OPERATOR(pg_catalog.=) a.attrelid "
					  "  AND d.adnum OPERATOR(pg_catalog.=) a.attnum "
					  "WHERE a.attrelid OPERATOR(pg_catalog.=) $1 AND a.attname OPERATOR(pg_catalog.=) 'id'", parent);
	if (SPI_processed == 0)
		return add_check(checks, item, false, "mcp_connectors has no column id");
	def = cu_spi_getstring(0, 1);
	identity = cu_spi_getstring(0, 2) ? cu_spi_getstring(0, 2)[0] : '\0';

	if (want_uuid)
	{
		if (def && (strstr(def, "uuid_generate_v4()") || strstr(def, "gen_random_uuid()") ||
					strstr(def, "uuid_generate_v1") || strstr(def, "connector_uuid_generate_v7()")))
			return add_check(checks, item, true, psprintf("DEFAULT %s", def));
		return add_check(checks, item, false,
						 psprintf("DEFAULT is %s; fix: ALTER TABLE %s ALTER COLUMN id SET DEFAULT uuid_generate_v4()",
								  def ? def : "not set", cu_qualify(nsp, "mcp_connectors")));
	}
	else
	{
		char	   *seq = cu_spi_getstring(0, 3);
		Oid			seqrelid;
		int64		max_id,
					last;
		CuContext	cx;
		char	   *why;

		if (!identity && !(def && strstr(def, "nextval(")))
			return add_check(checks, item, false,
							 psprintf("DEFAULT is %s, not a sequence", def ? def : "not set"));
		if (!seq)
			return add_check(checks, item, false, "no sequence is owned by mcp_connectors.id");
		seqrelid = DatumGetObjectId(cu_spi_getdatum(0, 4, &isnull));
		/* a sequence owned by a column has the table's owner */
		if (!verify_enter(&cx, parent, seqrelid, &why))
			return add_check(checks, item, false, why);
		cu_spi_exec(psprintf("SELECT COALESCE((SELECT pg_catalog.max(id) FROM %s), 0), "
							 "(SELECT CASE WHEN is_called THEN last_value ELSE last_value OPERATOR(pg_catalog.-) 1 END FROM %s)",
							 cu_qualify(nsp, "mcp_connectors"), seq), SPI_OK_SELECT);
		cu_leave(&cx);
		max_id = cu_spi_getint64(0, 1, &isnull);
		last = cu_spi_getint64(0, 2, &isnull);
		if (last < max_id)
			return add_check(checks, item, false,
							 psprintf("sequence %s is at %lld, behind max(id) %lld; fix: SELECT setval('%s', %lld)",
									  seq, (long long) last, (long long) max_id, seq, (long long) max_id));
		return add_check(checks, item, true,
						 psprintf("%s, sequence %s at %lld >= max(id) %lld",
								  identity ? "identity" : "DEFAULT nextval", seq,
								  (long long) last, (long long) max_id));
	}
}

/*
 * Integer columns named like references to mcp_connectors.id that no
 * foreign key proves to be one (softref.c): listed, never failed, since
 * leaving them alone is the conversion's intended behaviour and a strict
 * deploy must not break on a DBA's decision.  The connector's two children
 * are checked by the rows above, not here.
 */
static List *
check_soft_references(List *checks, const char *nsp, Oid parent)
{
	const char *item = "integer columns that look like references to mcp_connectors";
	static const char *const children[] = {"connector_access", "mcp_servers"};
	List	   *skip = NIL;
	List	   *refs;
	StringInfoData buf;
	ListCell   *lc;
	int			i;

	if (!OidIsValid(parent))
		return add_check(checks, item, true, "table mcp_connectors does not exist");
	for (i = 0; i < lengthof(children); i++)
	{
		Oid			relid = cu_lookup_table(nsp, children[i]);
		CuForeignKey *fk;

		if (!OidIsValid(relid))
			continue;
		fk = palloc0(sizeof(CuForeignKey));
		fk->relid = relid;
		fk->attnum = get_attnum(relid, "connector_id");
		fk->attname = "connector_id";
		skip = lappend(skip, fk);
	}
	refs = cu_soft_references(parent, skip);
	if (refs == NIL)
		return add_check(checks, item, true, "none");
	initStringInfo(&buf);
	appendStringInfoString(&buf, "not converted: no foreign key proves this is a reference: ");
	foreach(lc, refs)
		appendStringInfo(&buf, "%s%s", foreach_current_index(lc) > 0 ? ", " : "",
						 (char *) lfirst(lc));
	appendStringInfoString(&buf, " (see the README, \"Soft references\", to translate them with the id map)");
	return add_check(checks, item, true, buf.data);
}

/*
 * On a subscriber of the connector tables: the id mapping here is the
 * publisher's (the same fingerprint, keyexport.c), asked over each
 * subscription's connection (replication.c).  Elsewhere it passes and says
 * what it saw: a publisher's fingerprint is what its subscribers compare.
 */
static List *
check_replication(List *checks, const char *nsp, Oid parent)
{
	const char *item = "same ids as the publisher (logical replication)";
	static const char *const children[] = {"connector_access", "mcp_servers"};
	List	   *relids;
	List	   *subs;
	List	   *pubs;
	char	   *local = NULL;
	StringInfoData buf;
	bool		passed = true;
	ListCell   *lc;

	if (!OidIsValid(parent))
		return add_check(checks, item, true, "table mcp_connectors does not exist");
	relids = list_make1_oid(parent);
	for (int i = 0; i < lengthof(children); i++)
	{
		Oid			relid = cu_lookup_table(nsp, children[i]);

		if (OidIsValid(relid))
			relids = lappend_oid(relids, relid);
	}
	subs = cu_subscriptions_of(relids);
	pubs = cu_publications_of(relids);
	if (subs == NIL && pubs == NIL)
		return add_check(checks, item, true, "not replicated: no publication or subscription here carries the connector tables");
	/* through the SECURITY DEFINER function: any role that verifies may read it */
	cu_spi_exec(psprintf("SELECT pg_catalog.to_regprocedure(%s)",
						 quote_literal_cstr(psprintf("%s(pg_catalog.regclass)", cu_extension_qual("connector_uuid_fingerprint")))),
				SPI_OK_SELECT);
	if (cu_spi_getstring(0, 1) == NULL)
		return add_check(checks, item, subs == NIL,
						 "this installation's SQL objects predate connector_uuid_fingerprint(), so the id mapping cannot be compared (see the README's Limits to add it)");
	cu_spi_select_oid(psprintf("SELECT %s($1::pg_catalog.regclass)", cu_extension_qual("connector_uuid_fingerprint")), parent);
	local = pstrdup(cu_spi_getstring(0, 1));
	initStringInfo(&buf);
	if (pubs)
	{
		appendStringInfoString(&buf, "publisher (publication ");
		foreach(lc, pubs)
			appendStringInfo(&buf, "%s%s", foreach_current_index(lc) > 0 ? ", " : "", (char *) lfirst(lc));
		appendStringInfo(&buf, "): id mapping fingerprint %s, which verify on each subscriber compares with its own", local);
	}
	foreach(lc, subs)
	{
		CuSubscription *sub = lfirst(lc);
		char	   *remote;
		char	   *keytype;
		char	   *error;

		if (buf.len > 0)
			appendStringInfoString(&buf, "; ");
		if (!cu_publisher_mapping(sub, nsp, "mcp_connectors", &remote, &keytype, &error))
		{
			passed = false;
			appendStringInfo(&buf, "subscription %s: cannot compare with its publisher: %s",
							 quote_identifier(sub->name), error);
		}
		else if (strcmp(remote, local) != 0)
		{
			passed = false;
			appendStringInfo(&buf, "subscription %s: the id mapping here (fingerprint %s) differs from the publisher's (%s, its key is %s): "
							 "the two sides give connectors different ids; fix: follow the README's procedure (\"Logical replication\"): "
							 "connector_uuid_export() there, connector_uuid_import() here, before this side's migration",
							 quote_identifier(sub->name), local, remote, keytype);
		}
		else
			appendStringInfo(&buf, "subscription %s: fingerprint %s, the same as the publisher's (its key is %s)",
							 quote_identifier(sub->name), local, keytype);
	}
	return add_check(checks, item, passed, buf.data);
}

/*
 * The whole checklist for the extension's current version.  Caller is
 * connected to SPI under a safe search_path.
 */
List *
cu_verify(bool thorough)
{
	List	   *checks = NIL;
	char	   *nsp = cu_extension_schema_name();
	char	   *version = extension_version();
	bool		at2 = version && strcmp(version, "2.0") == 0;
	Oid			parent = cu_lookup_plain_table(nsp, "mcp_connectors");
	Oid			idtype = column_type(nsp, "mcp_connectors", "id");
	Oid			t1 = column_type(nsp, "connector_access", "connector_id");
	Oid			t2 = column_type(nsp, "mcp_servers", "connector_id");
	bool		proven_access,
				proven_servers;

	/* before reading them: see cu_prime_index_expressions() */
	cu_prime_index_expressions(parent);
	cu_prime_index_expressions(cu_lookup_plain_table(nsp, "connector_access"));
	cu_prime_index_expressions(cu_lookup_plain_table(nsp, "mcp_servers"));

	/* does the version tell the truth about the tables? */
	{
		const char *item = "extension version matches the tables";
		char	   *types = psprintf("mcp_connectors.id is %s, connector_access.connector_id is %s, mcp_servers.connector_id is %s",
									 OidIsValid(idtype) ? format_type_be(idtype) : "missing",
									 OidIsValid(t1) ? format_type_be(t1) : "missing",
									 OidIsValid(t2) ? format_type_be(t2) : "missing");
		bool		all_uuid = idtype == UUIDOID && t1 == UUIDOID && t2 == UUIDOID;
		bool		all_int = cu_is_integer_type(idtype) && cu_is_integer_type(t1) && cu_is_integer_type(t2);

		if ((at2 && all_uuid) || (!at2 && all_int))
			checks = add_check(checks, item, true, psprintf("version %s: %s", version, types));
		else if (at2 && all_int)
			checks = add_check(checks, item, false,
							   psprintf("version 2.0 but %s (as after restoring a dump taken at 1.0); fix: ALTER EXTENSION connector_uuid UPDATE TO '1.0' (records the integer state, changes no row), then ALTER EXTENSION connector_uuid UPDATE to migrate", types));
		else if (!at2 && all_uuid)
			checks = add_check(checks, item, false,
							   psprintf("version %s but %s; fix: ALTER EXTENSION connector_uuid UPDATE (adopts the uuid tables, changes no row)",
										version, types));
		else if (!OidIsValid(idtype))
			checks = add_check(checks, item, false,
							   psprintf("version %s but schema %s has no table mcp_connectors; fix: DROP EXTENSION connector_uuid, then CREATE EXTENSION connector_uuid VERSION '1.0' SCHEMA <the schema of the application's tables>",
										version, nsp));
		else
			checks = add_check(checks, item, false,
							   psprintf("version %s but the tables are half converted: %s; bring every column to one type by hand, then run the migration", version, types));
	}

	checks = check_type(checks, nsp, "mcp_connectors", "id", at2);
	checks = check_type(checks, nsp, "connector_access", "connector_id", at2);
	checks = check_type(checks, nsp, "mcp_servers", "connector_id", at2);
	checks = check_cascade(checks, nsp, parent, "connector_access", &proven_access);
	checks = check_cascade(checks, nsp, parent, "mcp_servers", &proven_servers);
	checks = check_md5(checks, nsp, parent);
	checks = check_connectors(checks, nsp, parent);
	checks = check_links(checks, nsp, "mcp_servers", "all existing servers still linked to connectors",
						 proven_servers, thorough);
	checks = check_links(checks, nsp, "connector_access", "all access grants still linked to connectors",
						 proven_access, thorough);
	checks = add_check(checks, "UUID extension (uuid-ossp) enabled",
					   OidIsValid(get_extension_oid("uuid-ossp", true)),
					   OidIsValid(get_extension_oid("uuid-ossp", true))
					   ? psprintf("installed in schema %s", get_namespace_name(cu_uuid_ossp_schema()))
					   : "not installed; fix: CREATE EXTENSION \"uuid-ossp\"");
	checks = check_default(checks, nsp, parent, at2);
	checks = check_soft_references(checks, nsp, parent);
	checks = check_replication(checks, nsp, parent);
	return checks;
}
