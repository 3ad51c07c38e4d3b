/*-------------------------------------------------------------------------
 *
 * replication.c
 *	  The tables of a conversion in logical replication: what publishes
 *	  them or subscribes to them here, the checks of the coordinated
 *	  procedure, and asking a subscription's publisher for its mapping.
 *
 * DDL is not replicated and a table rewrite is not re-sent, so a publisher
 * and its subscriber are each converted on their own, in one window with
 * the same id mapping (keyexport.c).  By default a replicated table is
 * refused; with connector_uuid.allow_replicated = on the procedure of the
 * README is followed, and each of its steps is checked here where it can
 * be:
 *
 *   publisher   every logical replication slot of this database is
 *               inactive (its subscription disabled), and has confirmed
 *               every change its publications carry: its pending changes
 *               are decoded (peeked, never consumed) and must be none, so
 *               no change of the old type is still on its way;
 *   subscriber  every subscription that carries the tables is disabled;
 *               its publisher, asked over the subscription's own
 *               connection, is already migrated and has the same mapping
 *               fingerprint as this database.
 *
 * Refused whatever the setting: pglogical (its queue and its own output
 * plugin are not read here), a partitioned key table (its rebuild moves
 * rows between partitions, which would be sent as deletes and inserts),
 * and a publication or subscription of connector_uuid's own tables (the
 * two databases' registries would overwrite each other).
 *
 * The publisher is asked once per transaction and table: the migration
 * plans before it takes its locks and again under them, and the second
 * plan reuses the answer rather than wait for a network under ACCESS
 * EXCLUSIVE locks.
 *
 * IDENTIFICATION
 *	  src/replication.c
 *
 *-------------------------------------------------------------------------
 */
#include "plan.h"
#include "registry.h"
#include "spi_util.h"

#include "access/xact.h"
#include "catalog/pg_type.h"
#include "commands/extension.h"
#include "executor/spi.h"
#include "executor/tuptable.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "replication/walreceiver.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"

/* A publisher's answer for one subscription and table, this transaction */
typedef struct CuRemoteMapping
{
	Oid			suboid;
	char	   *qualname;
	char	   *fingerprint;
	char	   *keytype;
} CuRemoteMapping;

static List *remote_cache = NIL;	/* in TopTransactionContext */
static bool remote_cache_callback = false;

/*
 * Decoding a slot's pending changes stops once this many messages (changes,
 * begins, commits) have come out, at the end of a transaction
 */
#define CU_PEEK_LIMIT	10000

/* The procedure, for the hints */
#define CU_PROCEDURE_HINT \
	"To convert replicated tables, follow the README's procedure (\"Logical replication\"): stop the application's writes, " \
	"let each subscriber catch up and ALTER SUBSCRIPTION ... DISABLE it, SET connector_uuid.allow_replicated = on and migrate the publisher, " \
	"SELECT connector_uuid_export(...) there and connector_uuid_import(...) on each subscriber, migrate the subscribers the same way, " \
	"then ALTER SUBSCRIPTION ... ENABLE."

/*
 * The relations whose replication matters for relid: itself, its
 * partitions and its ancestors, as a SQL list of OIDs
 */
static char *
tree_of(List *relids)
{
	StringInfoData buf;
	ListCell   *lc;

	initStringInfo(&buf);
	appendStringInfoString(&buf, "(SELECT c.oid FROM pg_catalog.pg_class c WHERE c.oid IN (");
	foreach(lc, relids)
		appendStringInfo(&buf, "%s%u", foreach_current_index(lc) > 0 ? ", " : "", lfirst_oid(lc));
	appendStringInfoString(&buf, ") OR c.oid IN (SELECT t.relid FROM pg_catalog.pg_class r, "
						   "LATERAL pg_catalog.pg_partition_tree(r.oid) t WHERE r.oid IN (");
	foreach(lc, relids)
		appendStringInfo(&buf, "%s%u", foreach_current_index(lc) > 0 ? ", " : "", lfirst_oid(lc));
	appendStringInfoString(&buf, ")) OR c.oid IN (SELECT a.relid FROM pg_catalog.pg_class r, "
						   "LATERAL pg_catalog.pg_partition_ancestors(r.oid) a WHERE r.oid IN (");
	foreach(lc, relids)
		appendStringInfo(&buf, "%s%u", foreach_current_index(lc) > 0 ? ", " : "", lfirst_oid(lc));
	appendStringInfoString(&buf, ")))");
	return buf.data;
}

/* The tree of t's key table and of every table referencing it */
static char *
target_tree(CuTarget *t)
{
	List	   *relids = list_make1_oid(t->relid);
	ListCell   *lc;

	foreach(lc, t->fkeys)
		relids = list_append_unique_oid(relids, ((CuForeignKey *) lfirst(lc))->relid);
	return tree_of(relids);
}

/*
 * The publications that publish any relation of the tree: one string
 * "pubname (what)" each, what being "table x", "FOR ALL TABLES" or "FOR
 * TABLES IN SCHEMA s".  Caller is connected to SPI.
 */
static List *
publications_of(const char *tree, List **pubnames)
{
	List	   *result = NIL;

	cu_spi_exec(psprintf("WITH tree AS (SELECT c.oid, c.relnamespace FROM pg_catalog.pg_class c WHERE c.oid IN %s) "
						 "SELECT x.pubname::pg_catalog.text, pg_catalog.string_agg(DISTINCT x.what, ', ') FROM ("
						 "SELECT p.pubname, 'FOR ALL TABLES' AS what FROM pg_catalog.pg_publication p WHERE p.puballtables "
						 "UNION ALL SELECT p.pubname, pg_catalog.format('table %%s', r.prrelid::pg_catalog.regclass) "
						 "FROM pg_catalog.pg_publication p JOIN pg_catalog.pg_publication_rel r "
						 "  ON r.prpubid OPERATOR(pg_catalog.=) p.oid AND r.prrelid IN (SELECT tree.oid FROM tree) "
#if PG_VERSION_NUM >= 150000
						 "UNION ALL SELECT p.pubname, pg_catalog.format('FOR TABLES IN SCHEMA %%I', n.nspname) "
						 "FROM pg_catalog.pg_publication p JOIN pg_catalog.pg_publication_namespace pn "
						 "  ON pn.pnpubid OPERATOR(pg_catalog.=) p.oid AND pn.pnnspid IN (SELECT tree.relnamespace FROM tree) "
						 "JOIN pg_catalog.pg_namespace n ON n.oid OPERATOR(pg_catalog.=) pn.pnnspid "
#endif
						 ") x GROUP BY 1 ORDER BY 1", tree),
				SPI_OK_SELECT);
	for (uint64 i = 0; i < SPI_processed; i++)
	{
		char	   *name = pstrdup(cu_spi_getstring(i, 1));

		result = lappend(result, psprintf("%s (%s)", quote_identifier(name), cu_spi_getstring(i, 2)));
		if (pubnames)
			*pubnames = lappend(*pubnames, name);
	}
	return result;
}

/*
 * The subscriptions of this database that carry a relation of the tree
 * (pg_subscription_rel).  Caller is connected to SPI.
 */
static List *
subscriptions_of(const char *tree)
{
	List	   *result = NIL;

	cu_spi_exec(psprintf("SELECT s.oid, s.subname::pg_catalog.text, s.subenabled, s.subslotname::pg_catalog.text "
						 "FROM pg_catalog.pg_subscription s "
						 "WHERE s.subdbid OPERATOR(pg_catalog.=) (SELECT d.oid FROM pg_catalog.pg_database d "
						 "  WHERE d.datname OPERATOR(pg_catalog.=) pg_catalog.current_database()) "
						 "AND EXISTS (SELECT FROM pg_catalog.pg_subscription_rel r "
						 "  WHERE r.srsubid OPERATOR(pg_catalog.=) s.oid AND r.srrelid IN %s) "
						 "ORDER BY 2", tree),
				SPI_OK_SELECT);
	for (uint64 i = 0; i < SPI_processed; i++)
	{
		CuSubscription *sub = palloc0(sizeof(CuSubscription));
		bool		isnull;

		sub->oid = DatumGetObjectId(cu_spi_getdatum(i, 1, &isnull));
		sub->name = pstrdup(cu_spi_getstring(i, 2));
		sub->enabled = cu_spi_getbool(i, 3, &isnull);
		sub->slot = cu_spi_getstring(i, 4) ? pstrdup(cu_spi_getstring(i, 4)) : NULL;
		result = lappend(result, sub);
	}
	return result;
}

/*
 * What pglogical (if installed here) replicates of the tree: its
 * replication sets that hold a relation of it, and every subscription of
 * this database (which tables it carries only its provider knows).
 * Caller is connected to SPI.
 */
static List *
pglogical_of(const char *tree)
{
	Oid			extoid = get_extension_oid("pglogical", true);
	const char *q;
	List	   *result = NIL;

	if (!OidIsValid(extoid))
		return NIL;
	cu_spi_select_oid("SELECT n.nspname::pg_catalog.text FROM pg_catalog.pg_extension e JOIN pg_catalog.pg_namespace n "
					  "ON n.oid OPERATOR(pg_catalog.=) e.extnamespace WHERE e.oid OPERATOR(pg_catalog.=) $1", extoid);
	q = quote_identifier(pstrdup(cu_spi_getstring(0, 1)));
	/*
	 * A subscription's tables are listed on its provider, not here: every
	 * pglogical subscription of this database counts
	 */
	cu_spi_exec(psprintf("SELECT pg_catalog.format('replication set %%I', rs.set_name) "
						 "FROM %s.replication_set_table t JOIN %s.replication_set rs "
						 "  ON rs.set_id OPERATOR(pg_catalog.=) t.set_id "
						 "WHERE t.set_reloid::pg_catalog.oid IN %s "
						 "UNION SELECT pg_catalog.format('subscription %%I', s.sub_name) "
						 "FROM %s.subscription s ORDER BY 1", q, q, tree, q),
				SPI_OK_SELECT);
	for (uint64 i = 0; i < SPI_processed; i++)
		result = lappend(result, pstrdup(cu_spi_getstring(i, 1)));
	return result;
}

/* The extension's own tables, as a list of OIDs */
static List *
extension_tables(void)
{
	static const char *const names[] = {"connector_uuid_tables", "connector_uuid_columns", "connector_uuid_map",
	"connector_uuid_history", "connector_uuid_online", "connector_uuid_online_tables"};
	List	   *result = NIL;

	for (int i = 0; i < lengthof(names); i++)
	{
		Oid			relid = cu_extension_rel(names[i]);

		if (OidIsValid(relid))
			result = lappend_oid(result, relid);
	}
	return result;
}

/* Items of a list of strings, joined with ", " */
static char *
join(List *items)
{
	StringInfoData buf;
	ListCell   *lc;

	initStringInfo(&buf);
	foreach(lc, items)
		appendStringInfo(&buf, "%s%s", foreach_current_index(lc) > 0 ? ", " : "", (char *) lfirst(lc));
	return buf.data;
}

/*
 * A replication connection to the publisher of a subscription, made with
 * its conninfo as its apply worker makes it; NULL, with *error set, if it
 * cannot be made
 */
static WalReceiverConn *
remote_connect(const char *conninfo, char **error)
{
	WalReceiverConn *conn;
	char	   *err = NULL;

	load_file("libpqwalreceiver", false);
#if PG_VERSION_NUM >= 170000
	conn = walrcv_connect(conninfo, true, true, false, "connector_uuid", &err);
#elif PG_VERSION_NUM >= 160000
	conn = walrcv_connect(conninfo, true, false, "connector_uuid", &err);
#else
	conn = walrcv_connect(conninfo, true, "connector_uuid", &err);
#endif
	if (conn == NULL)
		*error = psprintf("Could not connect: %s", err ? err : "unknown error");
	return conn;
}

/*
 * Run sql (returning ncols text columns, one row) over conn.  The row's
 * values go to out (NULL for SQL NULL).  False, with *error set, if the
 * query failed or no row came back.
 */
static bool
remote_row(WalReceiverConn *conn, const char *sql, int ncols, char **out, char **error)
{
	WalRcvExecResult *res;
	Oid		   *types = palloc(sizeof(Oid) * ncols);
	bool		ok = false;

	for (int i = 0; i < ncols; i++)
		types[i] = TEXTOID;
	res = walrcv_exec(conn, sql, ncols, types);
	if (res->status != WALRCV_OK_TUPLES)
		*error = psprintf("The query failed: %s", res->err ? res->err : "no result");
	else
	{
		TupleTableSlot *slot = MakeSingleTupleTableSlot(res->tupledesc, &TTSOpsMinimalTuple);

		if (tuplestore_gettupleslot(res->tuplestore, true, false, slot))
		{
			for (int i = 0; i < ncols; i++)
			{
				bool		isnull;
				Datum		d = slot_getattr(slot, i + 1, &isnull);

				out[i] = isnull ? NULL : TextDatumGetCString(d);
			}
			ok = true;
		}
		else
			*error = "The query returned no row";
		ExecDropSingleTupleTableSlot(slot);
	}
	walrcv_clear_result(res);
	return ok;
}

/*
 * Over conn: the fingerprint of the publisher's table qual and the type of
 * its key, into out[0] and out[1].  False, with *error set, if they cannot
 * be read.
 */
static bool
remote_mapping(WalReceiverConn *conn, const char *qual, char **out, char **error)
{
	char	   *schema[1];

	if (!remote_row(conn,
					"SELECT n.nspname::pg_catalog.text FROM pg_catalog.pg_extension e JOIN pg_catalog.pg_namespace n "
					"ON n.oid OPERATOR(pg_catalog.=) e.extnamespace WHERE e.extname OPERATOR(pg_catalog.=) 'connector_uuid' "
					"UNION ALL SELECT NULL LIMIT 1",
					1, schema, error))
		return false;
	if (schema[0] == NULL)
	{
		*error = "The publisher's database has no connector_uuid";
		return false;
	}
	if (!remote_row(conn,
					psprintf("SELECT %s.connector_uuid_fingerprint(r::pg_catalog.regclass), "
							 "(SELECT a.atttypid::pg_catalog.regtype::pg_catalog.text FROM pg_catalog.pg_constraint c "
							 "  JOIN pg_catalog.pg_attribute a ON a.attrelid OPERATOR(pg_catalog.=) c.conrelid "
							 "   AND a.attnum OPERATOR(pg_catalog.=) c.conkey[1] "
							 "  WHERE c.conrelid OPERATOR(pg_catalog.=) r AND c.contype OPERATOR(pg_catalog.=) 'p') "
							 "FROM (SELECT pg_catalog.to_regclass(%s)::pg_catalog.oid AS r) x WHERE r IS NOT NULL "
							 "UNION ALL SELECT NULL, NULL LIMIT 1",
							 quote_identifier(schema[0]), quote_literal_cstr(qual)),
					2, out, error))
		return false;
	if (out[0] == NULL)
	{
		*error = psprintf("The publisher has no table %s", qual);
		return false;
	}
	return true;
}

/* The transaction's answers go with it */
static void
remote_cache_reset(XactEvent event, void *arg)
{
	remote_cache = NIL;
}

/*
 * Ask the publisher of sub for its mapping of table nspname.relname: the
 * fingerprint (keyexport.c) and the key column's type there.  False, with
 * *error set, if it cannot be asked (no privilege to read the
 * subscription's connection string, no connection, no extension there).
 * Caller is connected to SPI.
 */
bool
cu_publisher_mapping(CuSubscription *sub, const char *nspname, const char *relname,
					 char **fingerprint, char **keytype, char **error)
{
	Oid			argtypes[1] = {OIDOID};
	Datum		values[1];
	char	   *conninfo;
	char	   *out[2];
	char	   *qual = cu_qualify(nspname, relname);
	ListCell   *lc;
	MemoryContext oldcxt;
	CuRemoteMapping *m;
	WalReceiverConn *conn;
	volatile bool ok = false;

	if (!superuser())
	{
		*error = "Only a superuser may read the subscription's connection string (pg_subscription.subconninfo)";
		return false;
	}
	foreach(lc, remote_cache)
	{
		m = lfirst(lc);
		if (m->suboid == sub->oid && strcmp(m->qualname, qual) == 0)
		{
			*fingerprint = m->fingerprint;
			*keytype = m->keytype;
			return true;
		}
	}
	values[0] = ObjectIdGetDatum(sub->oid);
	cu_spi_exec_args("SELECT s.subconninfo FROM pg_catalog.pg_subscription s WHERE s.oid OPERATOR(pg_catalog.=) $1",
					 SPI_OK_SELECT, 1, argtypes, values, NULL);
	if (SPI_processed != 1)
	{
		*error = "The subscription is gone";
		return false;
	}
	conninfo = pstrdup(cu_spi_getstring(0, 1));
	conn = remote_connect(conninfo, error);
	if (conn == NULL)
		return false;
	PG_TRY();
	{
		ok = remote_mapping(conn, qual, out, error);
	}
	PG_FINALLY();
	{
		walrcv_disconnect(conn);
	}
	PG_END_TRY();
	if (!ok)
		return false;
	*fingerprint = out[0];
	*keytype = out[1] ? out[1] : "none";

	if (!remote_cache_callback)
	{
		RegisterXactCallback(remote_cache_reset, NULL);
		remote_cache_callback = true;
	}
	oldcxt = MemoryContextSwitchTo(TopTransactionContext);
	m = palloc(sizeof(CuRemoteMapping));
	m->suboid = sub->oid;
	m->qualname = pstrdup(qual);
	m->fingerprint = pstrdup(*fingerprint);
	m->keytype = pstrdup(*keytype);
	remote_cache = lappend(remote_cache, m);
	MemoryContextSwitchTo(oldcxt);
	return true;
}

/* Where an error of the slot check comes from (a publication missing from the slot's past, ...) */
static void
peek_error_context(void *arg)
{
	errcontext("while decoding what replication slot \"%s\" has not confirmed, to tell whether its subscriber has caught up",
			   (const char *) arg);
}

/*
 * The publisher's side of the procedure: every logical slot of this
 * database inactive and with nothing pending in the publications that
 * carry the tables.  Returns the notes to show.
 */
static List *
check_slots(CuPlan *plan, List *pubnames)
{
	List	   *notes = NIL;
	List	   *quoted = NIL;
	ListCell   *lc;
	char	   *publist;

	foreach(lc, pubnames)
		quoted = lappend(quoted, (char *) quote_identifier(lfirst(lc)));
	publist = join(quoted);
	cu_spi_exec("SELECT s.slot_name::pg_catalog.text, s.plugin::pg_catalog.text, s.active, s.active_pid, "
				"s.confirmed_flush_lsn::pg_catalog.text, pg_catalog.pg_current_wal_lsn()::pg_catalog.text, "
				"pg_catalog.pg_size_pretty(pg_catalog.pg_wal_lsn_diff(pg_catalog.pg_current_wal_lsn(), s.confirmed_flush_lsn)) "
				"FROM pg_catalog.pg_replication_slots s "
				"WHERE s.slot_type OPERATOR(pg_catalog.=) 'logical' "
				"AND s.database OPERATOR(pg_catalog.=) pg_catalog.current_database() ORDER BY 1",
				SPI_OK_SELECT);
	if (SPI_processed == 0)
		return list_make1("publisher: no logical replication slot in this database, so no subscriber is waiting for changes");
	{
		int			nslots = SPI_processed;
		char	  **name = palloc(sizeof(char *) * nslots);
		char	  **plugin = palloc(sizeof(char *) * nslots);
		bool	   *active = palloc(sizeof(bool) * nslots);
		char	  **pid = palloc(sizeof(char *) * nslots);
		char	  **confirmed = palloc(sizeof(char *) * nslots);
		char	  **current = palloc(sizeof(char *) * nslots);
		char	  **lag = palloc(sizeof(char *) * nslots);

		for (int i = 0; i < nslots; i++)
		{
			bool		isnull;

			name[i] = pstrdup(cu_spi_getstring(i, 1));
			plugin[i] = pstrdup(cu_spi_getstring(i, 2));
			active[i] = cu_spi_getbool(i, 3, &isnull);
			pid[i] = cu_spi_getstring(i, 4) ? pstrdup(cu_spi_getstring(i, 4)) : "?";
			confirmed[i] = cu_spi_getstring(i, 5) ? pstrdup(cu_spi_getstring(i, 5)) : "none";
			current[i] = pstrdup(cu_spi_getstring(i, 6));
			lag[i] = cu_spi_getstring(i, 7) ? pstrdup(cu_spi_getstring(i, 7)) : "unknown";
		}
		for (int i = 0; i < nslots; i++)
		{
			Oid			argtypes[2] = {TEXTOID, TEXTOID};
			Datum		values[2];
			bool		isnull;
			int64		changes;
			int64		xacts;
			bool		cut;
			ErrorContextCallback peek_context;

			if (active[i])
				ereport(ERROR,
						(errcode(ERRCODE_OBJECT_IN_USE),
						 errmsg("replication slot \"%s\" is streaming to a subscriber (pid %s), %s of WAL behind",
								name[i], pid[i], lag[i]),
						 errdetail("Logical replication would send the changes of the conversion's transaction "
								   "(confirmed up to %s, the server is at %s).", confirmed[i], current[i]),
						 errhint("Stop the application's writes; on the subscriber, once it has caught up, "
								 "ALTER SUBSCRIPTION ... DISABLE (the subscription of slot \"%s\"), then try again.",
								 name[i])));
			if (strcmp(plugin[i], "pgoutput") != 0)
				ereport(ERROR,
						(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
						 errmsg("replication slot \"%s\" uses output plugin \"%s\"", name[i], plugin[i]),
						 errdetail("connector_uuid can tell whether a subscriber has caught up only for pgoutput, the plugin of PostgreSQL's subscriptions."),
						 errhint("Drop the slot if nothing reads it any more (pg_drop_replication_slot()), then try again.")));
			if (pubnames == NIL)
				continue;
			values[0] = CStringGetTextDatum(name[i]);
			values[1] = CStringGetTextDatum(publist);
			peek_context.callback = peek_error_context;
			peek_context.arg = name[i];
			peek_context.previous = error_context_stack;
			error_context_stack = &peek_context;
			cu_spi_exec_args(psprintf("SELECT pg_catalog.count(*) FILTER (WHERE pg_catalog.get_byte(c.data, 0) IN (73, 85, 68, 84)), "
									  "pg_catalog.count(*) FILTER (WHERE pg_catalog.get_byte(c.data, 0) OPERATOR(pg_catalog.=) 67), "
									  "pg_catalog.count(*) "
									  "FROM pg_catalog.pg_logical_slot_peek_binary_changes($1::pg_catalog.name, NULL::pg_catalog.pg_lsn, "
									  "%d, VARIADIC ARRAY['proto_version', '1', 'publication_names', $2]::pg_catalog.text[]) c",
									  CU_PEEK_LIMIT),
							 SPI_OK_SELECT, 2, argtypes, values, NULL);
			error_context_stack = peek_context.previous;
			changes = cu_spi_getint64(0, 1, &isnull);
			xacts = cu_spi_getint64(0, 2, &isnull);
			/* decoding stops at the end of the transaction that reaches the limit */
			cut = cu_spi_getint64(0, 3, &isnull) >= CU_PEEK_LIMIT;
			if (changes > 0)
				ereport(ERROR,
						(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
						 errmsg("the subscriber of replication slot \"%s\" has not caught up: %s%lld changes in %lld transactions not confirmed, %s of WAL behind",
								name[i], cut ? "at least " : "", (long long) changes,
								(long long) xacts, lag[i]),
						 errdetail("Publications %s carry them, with the old type.  Once the tables are %s, the subscriber could not apply them "
								   "(confirmed up to %s, the server is at %s).",
								   publist, plan->direction == CU_TO_UUID ? "uuid" : "integer", confirmed[i], current[i]),
						 errhint("ALTER SUBSCRIPTION ... ENABLE on the subscriber, wait until it has caught up "
								 "(pg_stat_subscription there, or this slot's confirmed_flush_lsn here), DISABLE it, and try again.")));
			notes = lappend(notes, psprintf("publisher: replication slot %s is inactive and its subscriber has confirmed every change (confirmed up to %s)",
											quote_identifier(name[i]), confirmed[i]));
		}
	}
	return notes;
}

/*
 * The subscriber's side of the procedure: every subscription that carries
 * the tables disabled, and its publisher already migrated, with the same
 * mapping as this database.  Returns the notes to show.
 */
static List *
check_subscriptions(CuPlan *plan, List *subs)
{
	CuTarget   *t = plan->target;
	const char *want = plan->direction == CU_TO_UUID ? "uuid" : "integer";
	char	   *local = cu_fingerprint(cu_registry_id(t->nspname, t->relname));
	List	   *notes = NIL;
	ListCell   *lc;

	foreach(lc, subs)
	{
		CuSubscription *sub = lfirst(lc);
		char	   *remote;
		char	   *keytype;
		char	   *error;
		bool		remote_at_uuid;

		if (sub->enabled)
			ereport(ERROR,
					(errcode(ERRCODE_OBJECT_IN_USE),
					 errmsg("subscription \"%s\" is enabled", sub->name),
					 errdetail("It applies the publisher's changes to these tables; while the two sides have different key types it cannot."),
					 errhint("Once it has caught up: ALTER SUBSCRIPTION %s DISABLE, then try again.",
							 quote_identifier(sub->name))));
		/* finalize and abort change only this side's own columns */
		if (plan->options->online_action != '\0')
			continue;
		if (!superuser())
			ereport(ERROR,
					(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
					 errmsg("only a superuser can check the publisher of subscription \"%s\"", sub->name),
					 errdetail("The check reads the subscription's connection string, which only a superuser may read."),
					 errhint("Run the conversion of replicated tables as a superuser.")));
		if (!cu_publisher_mapping(sub, t->nspname, t->relname, &remote, &keytype, &error))
			ereport(ERROR,
					(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
					 errmsg("cannot ask the publisher of subscription \"%s\" for its id mapping of %s", sub->name, t->qualname),
					 errdetail("%s.", error),
					 errhint("The subscriber is converted after its publisher, with the publisher's mapping: "
							 "the check needs the subscription's connection and a superuser.")));
		remote_at_uuid = (strcmp(keytype, "uuid") == 0);
		if (remote_at_uuid != (plan->direction == CU_TO_UUID))
			ereport(ERROR,
					(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
					 errmsg("the publisher of subscription \"%s\" has not been migrated yet", sub->name),
					 errdetail("Its %s has a key of type %s; this migration makes it %s here.", t->qualname, keytype, want),
					 errhint("Migrate the publisher first, then export its mapping with connector_uuid_export() and import it here.")));
		if (strcmp(remote, "none") == 0)
			ereport(ERROR,
					(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
					 errmsg("the publisher of subscription \"%s\" has no id mapping of connector_uuid for %s", sub->name, t->qualname),
					 errdetail("Its key is %s, but not by a conversion of connector_uuid, so there is no mapping this database could share.", keytype),
					 errhint("Convert the publisher with connector_uuid (an adopted table has no mapping), then export and import its mapping.")));
		if (strcmp(remote, local) != 0)
			ereport(ERROR,
					(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
					 errmsg("the id mapping of %s here differs from its publisher's", t->qualname),
					 errdetail("Fingerprint here: %s; at the publisher of subscription \"%s\": %s.  "
							   "Converted with it, the rows here would get other %s ids than the publisher's.",
							   local, sub->name, remote, want),
					 errhint("On the publisher: SELECT connector_uuid_export(%s); here: SELECT connector_uuid_import(%s, '<that value>'); then try again.",
							 quote_literal_cstr(t->qualname), quote_literal_cstr(t->qualname))));
		notes = lappend(notes, psprintf("subscriber: subscription %s is disabled; its publisher is already %s and has the same id mapping (fingerprint %s)",
										quote_identifier(sub->name), want, local));
	}
	return notes;
}

/*
 * The checks of logical replication for plan's tables (see the file
 * header): a refusal, or the notes that say which side this database is
 * and what was checked.  Caller is connected to SPI.
 */
List *
cu_replication_check(CuPlan *plan)
{
	CuTarget   *t = plan->target;
	List	   *pubnames = NIL;
	List	   *pubs;
	List	   *subs;
	List	   *pgl;
	List	   *notes = NIL;
	char	   *tree;
	ListCell   *lc;
	StringInfoData what;

	tree = target_tree(t);
	pubs = publications_of(tree, &pubnames);
	subs = subscriptions_of(tree);
	pgl = pglogical_of(tree);
	if (pubs == NIL && subs == NIL && pgl == NIL)
		return NIL;

	initStringInfo(&what);
	if (pubs)
		appendStringInfo(&what, "published by %s", join(pubs));
	if (subs)
	{
		List	   *names = NIL;

		foreach(lc, subs)
			names = lappend(names, (char *) quote_identifier(((CuSubscription *) lfirst(lc))->name));
		appendStringInfo(&what, "%sreplicated into by subscription %s", what.len ? "; " : "", join(names));
	}
	if (pgl)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("table \"%s\" or a table referencing it is replicated by pglogical (%s)", t->relname, join(pgl)),
				 errdetail("connector_uuid checks the procedure for PostgreSQL's own logical replication only: it cannot read pglogical's queue."),
				 errhint("Remove the tables from the replication sets (pglogical.replication_set_remove_table) on the provider, or drop the "
						 "subscription (pglogical.drop_subscription) here, convert both sides with the same mapping (connector_uuid_export / "
						 "connector_uuid_import), and add them back with synchronize_data := false.")));
	if (!cu_allow_replicated)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("table \"%s\" or a table referencing it is in logical replication", t->relname),
				 errdetail("The tables are %s.  DDL is not replicated and rewritten rows are not sent again: "
						   "each side is converted on its own, in one window, with the same id mapping.", what.data),
				 errhint("%s", CU_PROCEDURE_HINT)));

	/* refused whatever the setting */
	if (t->leaves != NIL)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("table \"%s\" is partitioned and in logical replication", t->relname),
				 errdetail("Its conversion moves rows between partitions, which logical replication would send as deletes and inserts."),
				 errhint("Take the tables out of the publication, convert both sides with the same mapping, and add them back.")));
	{
		char	   *exttree = tree_of(extension_tables());
		List	   *extpubs = publications_of(exttree, NULL);
		List	   *extsubs = subscriptions_of(exttree);

		if (extpubs != NIL || extsubs != NIL)
			ereport(ERROR,
					(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
					 errmsg("connector_uuid's own tables are in logical replication here"),
					 errdetail("%s%s.  Each database keeps its own registry, id map and history; replicated, one side's rows would overwrite the other's.",
							   extpubs ? "They are published by " : "A subscription replicates into them",
							   extpubs ? join(extpubs) : ""),
					 errhint("Publish the application's tables by name (CREATE PUBLICATION ... FOR TABLE), not FOR ALL TABLES, "
							 "and leave connector_uuid's tables out of every publication.")));
	}

	if (plan->options->preparing)
		return NIL;
	notes = lappend(notes, psprintf("logical replication: the tables are %s; connector_uuid.allow_replicated is on, so the procedure's checks run", what.data));
	if (pubs)
		notes = list_concat(notes, check_slots(plan, pubnames));
	if (subs)
		notes = list_concat(notes, check_subscriptions(plan, subs));
	return notes;
}

/*
 * Prepare (the online mode) on tables in logical replication: refused
 * unless connector_uuid.allow_replicated is on; then the subscribers are
 * prepared first, each with its own mapping or its publisher's, and the
 * publisher last, with the mapping imported from a subscriber.  Its twin
 * columns then reach subscribers that have them, with the same values.
 * Caller is connected to SPI.
 */
void
cu_replication_prepare_check(CuTarget *t)
{
	char	   *tree;
	List	   *pubs;
	List	   *subs;
	List	   *found = NIL;
	ListCell   *lc;
	int			table_id;

	tree = target_tree(t);
	pubs = publications_of(tree, NULL);
	subs = subscriptions_of(tree);
	foreach(lc, pubs)
		found = lappend(found, psprintf("publication %s", (char *) lfirst(lc)));
	foreach(lc, subs)
		found = lappend(found, psprintf("subscription %s", quote_identifier(((CuSubscription *) lfirst(lc))->name)));
	if (found == NIL)
		return;
	if (!cu_allow_replicated)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("table \"%s\" or a table referencing it is in logical replication", t->relname),
				 errdetail("It is in %s.  Prepare adds twin columns, which a publisher sends only to subscribers that have them.",
						   join(found)),
				 errhint("Prepare each subscriber first, then the publisher with the same mapping, with connector_uuid.allow_replicated = on "
						 "(the README's \"Logical replication\", \"The online mode on both sides\").")));
	table_id = cu_registry_id(t->nspname, t->relname);
	if (subs != NIL && !superuser())
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("only a superuser can prepare tables a subscription replicates into"),
				 errdetail("The check reads the subscription's connection string, which only a superuser may read.")));
	/* a subscriber: its mapping, if its publisher has one yet, is that one */
	foreach(lc, subs)
	{
		CuSubscription *sub = lfirst(lc);
		char	   *remote;
		char	   *keytype;
		char	   *error;
		char	   *local = cu_fingerprint(table_id);

		if (!cu_publisher_mapping(sub, t->nspname, t->relname, &remote, &keytype, &error))
			ereport(ERROR,
					(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
					 errmsg("cannot ask the publisher of subscription \"%s\" for its id mapping of %s", sub->name, t->qualname),
					 errdetail("%s.", error)));
		if (strcmp(remote, "none") != 0 && strcmp(remote, local) != 0)
			ereport(ERROR,
					(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
					 errmsg("the id mapping of %s here differs from its publisher's", t->qualname),
					 errdetail("Fingerprint here: %s; at the publisher of subscription \"%s\": %s.", local, sub->name, remote),
					 errhint("On the publisher: SELECT connector_uuid_export(%s); here: SELECT connector_uuid_import(%s, '<that value>'); then prepare.",
							 quote_literal_cstr(t->qualname), quote_literal_cstr(t->qualname))));
	}
	/* a publisher with subscribers: the last one prepared, with their mapping */
	if (pubs != NIL && table_id == 0)
	{
		cu_spi_exec("SELECT pg_catalog.string_agg(pg_catalog.quote_ident(s.slot_name::pg_catalog.text), ', ' ORDER BY s.slot_name) "
					"FROM pg_catalog.pg_replication_slots s WHERE s.slot_type OPERATOR(pg_catalog.=) 'logical' "
					"AND s.database OPERATOR(pg_catalog.=) pg_catalog.current_database()",
					SPI_OK_SELECT);
		if (cu_spi_getstring(0, 1) != NULL)
			ereport(ERROR,
					(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
					 errmsg("the publisher of %s has no id mapping for it, and its subscribers are prepared first", t->qualname),
					 errdetail("This database publishes it (%s) to replication slots %s, and has no id mapping for it yet.",
							   join(pubs), cu_spi_getstring(0, 1)),
					 errhint("CALL connector_uuid_prepare() on each subscriber, then on one of them SELECT connector_uuid_export(%s), "
							 "here SELECT connector_uuid_import(%s, '<that value>'), and prepare here.",
							 quote_literal_cstr(t->qualname), quote_literal_cstr(t->qualname))));
	}
}

/*
 * The subscriptions of this database that carry mcp_connectors-like key
 * table relid or a table referencing it (relids), for verify.  Caller is
 * connected to SPI.
 */
List *
cu_subscriptions_of(List *relids)
{
	return subscriptions_of(tree_of(relids));
}

/* The publications that publish a relation of relids, for verify */
List *
cu_publications_of(List *relids)
{
	return publications_of(tree_of(relids), NULL);
}
