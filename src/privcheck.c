/*-------------------------------------------------------------------------
 *
 * privcheck.c
 *	  The grants a role that is not a superuser needs to convert or revert
 *	  a table it owns, checked before anything changes.
 *
 * connector_uuid_convert and connector_uuid_revert run as their caller.
 * Besides owning the key table and every table referencing it (plan.c), a
 * role that is not a superuser needs grants on the extension's objects:
 * the registry and the id map (connector_uuid_tables, _columns, _map,
 * _history are revoked from PUBLIC), the id functions the generated SQL
 * calls, uuid-ossp's schema for the new default, TEMP for the dry run
 * (probe.c skips it silently without) and, for a partitioned key table,
 * CREATE on its schema, and USAGE on the sequence that hands out table ids
 * to tables converted for the first time.  Without them the conversion used to fail part way
 * with a bare "permission denied"; here every missing grant is found up
 * front, the first is named in the error and the hint has the GRANT
 * statements for all of them.  The list is the README's.
 *
 * The privileges asked for are exactly those the steps use (tried as a
 * role that is not a superuser): a first conversion inserts the registry
 * rows and updates them when it finishes; a revert only reads and updates
 * them; both write the map (a revert maps the rows added at uuid time) and
 * append to the history.  Nothing deletes from them.
 *
 * IDENTIFICATION
 *	  src/privcheck.c
 *
 *-------------------------------------------------------------------------
 */
#include "plan.h"
#include "registry.h"
#include "spi_util.h"

#include "catalog/namespace.h"
#include "catalog/pg_database.h"
#include "catalog/pg_namespace.h"
#include "catalog/pg_proc.h"
#include "catalog/pg_type.h"
#include "commands/dbcommands.h"
#include "miscadmin.h"
#include "nodes/makefuncs.h"
#include "parser/parse_func.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"

#if PG_VERSION_NUM >= 160000
#define cu_proc_aclcheck(oid, role, mode) \
	object_aclcheck(ProcedureRelationId, (oid), (role), (mode))
#define cu_namespace_aclcheck(oid, role, mode) \
	object_aclcheck(NamespaceRelationId, (oid), (role), (mode))
#define cu_database_aclcheck(oid, role, mode) \
	object_aclcheck(DatabaseRelationId, (oid), (role), (mode))
#else
#define cu_proc_aclcheck(oid, role, mode) pg_proc_aclcheck((oid), (role), (mode))
#define cu_namespace_aclcheck(oid, role, mode) pg_namespace_aclcheck((oid), (role), (mode))
#define cu_database_aclcheck(oid, role, mode) pg_database_aclcheck((oid), (role), (mode))
#endif

/* What is missing so far */
typedef struct Missing
{
	int			count;
	const char *kind;			/* of the first missing object: "table" ... */
	char	   *name;			/* and its name, qualified */
	StringInfoData detail;		/* "INSERT on table x, ..." */
	StringInfoData grants;		/* "GRANT ...; GRANT ..." */
	const char *role;			/* quoted */
} Missing;

/* Note that privs (SQL words, "SELECT, INSERT") on kind name are missing */
static void
add_missing(Missing *m, const char *kind, const char *name, const char *privs,
			const char *grant_object)
{
	if (m->count++ == 0)
	{
		m->kind = kind;
		m->name = pstrdup(name);
	}
	appendStringInfo(&m->detail, "%s%s on %s %s", m->count > 1 ? ", " : "", privs, kind, name);
	appendStringInfo(&m->grants, "%sGRANT %s ON %s TO %s;", m->count > 1 ? " " : "",
					 privs, grant_object, m->role);
}

/* The privileges of mask on table relid the role lacks, as SQL words */
static void
check_table(Missing *m, Oid nsp, const char *relname, AclMode mask)
{
	static const struct
	{
		AclMode		mode;
		const char *word;
	}			words[] = {
		{ACL_SELECT, "SELECT"}, {ACL_INSERT, "INSERT"}, {ACL_UPDATE, "UPDATE"}
	};
	Oid			relid = get_relname_relid(relname, nsp);
	char	   *qual = cu_qualify(get_namespace_name(nsp), relname);
	StringInfoData privs;
	int			i;

	if (!OidIsValid(relid))
		elog(ERROR, "table \"%s\" of extension connector_uuid is missing", qual);
	initStringInfo(&privs);
	for (i = 0; i < lengthof(words); i++)
	{
		if ((mask & words[i].mode) &&
			pg_class_aclcheck(relid, GetUserId(), words[i].mode) != ACLCHECK_OK)
			appendStringInfo(&privs, "%s%s", privs.len ? ", " : "", words[i].word);
	}
	if (privs.len)
		add_missing(m, "table", qual, privs.data, psprintf("TABLE %s", qual));
}

/* EXECUTE on function nsp.name(argtypes) */
static void
check_function(Missing *m, Oid nsp, const char *name, int nargs, Oid *argtypes)
{
	char	   *nspname = get_namespace_name(nsp);
	Oid			funcid = LookupFuncName(list_make2(makeString(nspname), makeString(pstrdup(name))),
										nargs, argtypes, true);
	StringInfoData sig;
	int			i;

	initStringInfo(&sig);
	appendStringInfo(&sig, "%s(", cu_qualify(nspname, name));
	for (i = 0; i < nargs; i++)
		appendStringInfo(&sig, "%s%s", i ? ", " : "", format_type_be(argtypes[i]));
	appendStringInfoChar(&sig, ')');
	if (!OidIsValid(funcid))
		elog(ERROR, "function %s is missing", sig.data);
	if (cu_proc_aclcheck(funcid, GetUserId(), ACL_EXECUTE) != ACLCHECK_OK)
		add_missing(m, "function", sig.data, "EXECUTE", psprintf("FUNCTION %s", sig.data));
}

/* USAGE on sequence nsp.relname */
static void
check_sequence(Missing *m, Oid nsp, const char *relname)
{
	Oid			relid = get_relname_relid(relname, nsp);
	char	   *qual = cu_qualify(get_namespace_name(nsp), relname);

	if (!OidIsValid(relid))
		elog(ERROR, "sequence \"%s\" of extension connector_uuid is missing", qual);
	if (pg_class_aclcheck(relid, GetUserId(), ACL_USAGE) != ACLCHECK_OK)
		add_missing(m, "sequence", qual, "USAGE", psprintf("SEQUENCE %s", qual));
}

/* mode (USAGE or CREATE) on schema nsp */
static void
check_schema(Missing *m, Oid nsp, AclMode mode)
{
	char	   *name = pstrdup(quote_identifier(get_namespace_name(nsp)));

	if (cu_namespace_aclcheck(nsp, GetUserId(), mode) != ACLCHECK_OK)
		add_missing(m, "schema", name, mode == ACL_CREATE ? "CREATE" : "USAGE",
					psprintf("SCHEMA %s", name));
}

/*
 * Refuse, before anything changes, a conversion (or revert) of plan's
 * tables that the calling role lacks a grant for; superusers have them all.
 * Caller is connected to SPI; plan has its target, direction and strategy.
 * Adopting tables already in the target state only reads the registry and
 * appends to the history.
 */
void
cu_check_privileges(CuPlan *plan)
{
	Oid			ext = cu_extension_schema();
	bool		to_uuid = plan->direction == CU_TO_UUID;
	bool		adopt = (to_uuid && plan->state == CU_STATE_UUID) ||
		(!to_uuid && plan->state == CU_STATE_INTEGER);
	Missing		m;

	if (superuser())
		return;

	memset(&m, 0, sizeof(m));
	initStringInfo(&m.detail);
	initStringInfo(&m.grants);
	m.role = pstrdup(quote_identifier(GetUserNameFromId(GetUserId(), false)));

	check_schema(&m, ext, ACL_USAGE);
	if (adopt)
	{
		check_table(&m, ext, "connector_uuid_tables", ACL_SELECT);
		check_table(&m, ext, "connector_uuid_history", ACL_INSERT);
	}
	else
	{
		/* a first conversion inserts its registry rows; a revert updates them */
		check_table(&m, ext, "connector_uuid_tables",
					ACL_SELECT | ACL_UPDATE | (to_uuid ? ACL_INSERT : 0));
		check_table(&m, ext, "connector_uuid_columns",
					ACL_SELECT | (to_uuid ? ACL_INSERT | ACL_UPDATE : 0));
		check_table(&m, ext, "connector_uuid_map", ACL_SELECT | ACL_INSERT);
		check_table(&m, ext, "connector_uuid_history", ACL_INSERT);
		/* a table never registered takes its table id from the sequence */
		if (m.count == 0 &&
			cu_registry_id(plan->target->nspname, plan->target->relname) == 0)
			check_sequence(&m, ext, "connector_uuid_table_id_seq");
		if (to_uuid)
		{
			Oid			args[2] = {INT8OID, INT4OID};

			check_function(&m, ext, "connector_uuid_to_uuid", 2, args);
		}
		else
		{
			Oid			args[3] = {UUIDOID, INT4OID, BOOLOID};

			check_function(&m, ext, "connector_uuid_to_int", 3, args);
		}
		/* the new default (v4, v5) and the v5 ids come from uuid-ossp */
		if (to_uuid && plan->strategy != CU_STRATEGY_V7)
		{
			Oid			ossp = cu_uuid_ossp_schema();

			if (ossp != ext)
				check_schema(&m, ossp, ACL_USAGE);
			if (plan->strategy == CU_STRATEGY_V5)
			{
				Oid			args[2] = {UUIDOID, TEXTOID};

				check_function(&m, ossp, "uuid_generate_v5", 2, args);
			}
		}
		/* the dry run's empty copies (probe.c) */
		if (cu_database_aclcheck(MyDatabaseId, GetUserId(), ACL_CREATE_TEMP) != ACLCHECK_OK)
		{
			char	   *db = pstrdup(quote_identifier(get_database_name(MyDatabaseId)));

			add_missing(&m, "database", db, "TEMPORARY", psprintf("DATABASE %s", db));
		}
		/* a partitioned key table is rebuilt: a new parent in its schema */
		if (plan->target->partitioned)
			check_schema(&m, get_rel_namespace(plan->target->relid), ACL_CREATE);
	}

	if (m.count == 0)
		return;
	ereport(ERROR,
			(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
			 errmsg("permission denied for %s \"%s\"", m.kind, m.name),
			 errdetail("To %s table \"%s\", role %s needs, besides owning the tables, %s.",
					   adopt ? "adopt" : to_uuid ? "convert" : "revert",
					   plan->target->qualname, m.role, m.detail.data),
			 errhint("As a superuser: %s", m.grants.data)));
}
