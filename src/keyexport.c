/*-------------------------------------------------------------------------
 *
 * keyexport.c
 *	  A table's id mapping carried from one database to another, and its
 *	  fingerprint: connector_uuid_export(), connector_uuid_import() and
 *	  connector_uuid_fingerprint().
 *
 * Logical replication does not replicate DDL, and a table rewrite is not
 * re-sent, so a publisher and its subscriber are each converted on their
 * own.  For both to give every row the same uuid, the subscriber must use
 * the publisher's mapping: its strategy, its key (v4: the ids are derived
 * from it) and the pairs of its id map the key does not derive (rows
 * created at uuid time and given an integer by a rollback; every pair
 * under v5 and v7).  Export writes those as one jsonb value; import, on
 * the other side, records them in the registry and the id map before that
 * side's conversion (or its rollback), so the conversion computes the same
 * ids without copying any row.
 *
 * The fingerprint is a SHA-256 over exactly what decides the ids (the
 * strategy, the v4 key, the non-derived pairs in old-id order): two
 * databases with the same fingerprint give every integer the same uuid
 * and back.  It is what connector_uuid_verify() compares between a
 * subscriber and its publisher; connector_uuid_fingerprint() is callable
 * by any role (it reveals a hash, not the key), so that a subscription's
 * own role can read it on the publisher.
 *
 * Export and import run as their caller, who needs the registry and the
 * map (REVOKEd from PUBLIC); import also needs to own the table.  Import
 * only ever adds: a different mapping is refused unless the table is at
 * integer and replace => true says to take the export's instead.
 *
 * IDENTIFICATION
 *	  src/keyexport.c
 *
 *-------------------------------------------------------------------------
 */
#include "registry.h"
#include "security.h"
#include "spi_util.h"

#include "catalog/pg_class.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/json.h"
#include "utils/jsonb.h"
#include "utils/lsyscache.h"
#include "utils/uuid.h"

#if PG_VERSION_NUM >= 140000
#include "common/cryptohash.h"
#endif
#include "common/sha2.h"

PG_FUNCTION_INFO_V1(connector_uuid_export);
PG_FUNCTION_INFO_V1(connector_uuid_import);
PG_FUNCTION_INFO_V1(connector_uuid_fingerprint);

/* What an export says it is */
#define CU_EXPORT_FORMAT	"connector_uuid export 1"

/*
 * An export holds at most this many pairs: a jsonb value is limited to
 * 256 MB, and about 50 bytes go to each pair
 */
#define CU_EXPORT_MAX_PAIRS 4000000

/* rows per cursor fetch */
#define CU_FINGERPRINT_BATCH 10000

/* A running SHA-256, over PostgreSQL's versions of the API */
typedef struct CuHash
{
#if PG_VERSION_NUM >= 140000
	pg_cryptohash_ctx *ctx;
#else
	pg_sha256_ctx ctx;
#endif
} CuHash;

static void
hash_start(CuHash *h)
{
#if PG_VERSION_NUM >= 140000
	h->ctx = pg_cryptohash_create(PG_SHA256);
	if (h->ctx == NULL || pg_cryptohash_init(h->ctx) < 0)
		elog(ERROR, "could not start a SHA-256 hash");
#else
	pg_sha256_init(&h->ctx);
#endif
}

static void
hash_add(CuHash *h, const char *s)
{
#if PG_VERSION_NUM >= 140000
	if (pg_cryptohash_update(h->ctx, (const uint8 *) s, strlen(s)) < 0)
		elog(ERROR, "could not update a SHA-256 hash");
#else
	pg_sha256_update(&h->ctx, (const uint8 *) s, strlen(s));
#endif
}

/* The hash's first 128 bits, in hex, after the strategy's name */
static char *
hash_finish(CuHash *h, const char *strategy)
{
	uint8		digest[PG_SHA256_DIGEST_LENGTH];
	StringInfoData buf;

#if PG_VERSION_NUM >= 140000
	if (pg_cryptohash_final(h->ctx, digest, sizeof(digest)) < 0)
		elog(ERROR, "could not finish a SHA-256 hash");
	pg_cryptohash_free(h->ctx);
#else
	pg_sha256_final(&h->ctx, digest);
#endif
	initStringInfo(&buf);
	appendStringInfo(&buf, "%s-", strategy);
	for (int i = 0; i < 16; i++)
		appendStringInfo(&buf, "%02x", digest[i]);
	return buf.data;
}

/* u as text, as uuid_out writes it, into out (37 bytes) */
static void
uuid_chars(const pg_uuid_t *u, char *out)
{
	static const char hex[] = "0123456789abcdef";
	int			n = 0;

	for (int i = 0; i < UUID_LEN; i++)
	{
		if (i == 4 || i == 6 || i == 8 || i == 10)
			out[n++] = '-';
		out[n++] = hex[u->data[i] >> 4];
		out[n++] = hex[u->data[i] & 0x0f];
	}
	out[n] = '\0';
}

/*
 * One pair, hashed as the line "old_id uuid\n" (formatted on the stack: a
 * map of millions of pairs allocates nothing per pair)
 */
static void
hash_pair(CuHash *h, int64 old_id, const pg_uuid_t *u)
{
	char		line[64];
	char		text[UUID_LEN * 2 + 5];

	uuid_chars(u, text);
	snprintf(line, sizeof(line), INT64_FORMAT " %s\n", old_id, text);
	hash_add(h, line);
}

/* The head of the hashed text: the strategy and, for v4, the key */
static void
hash_head(CuHash *h, const char *strategy, const char *keyhex)
{
	hash_start(h);
	hash_add(h, "connector_uuid mapping 1\n");
	hash_add(h, psprintf("strategy %s\n", strategy));
	if (strcmp(strategy, "v4") == 0)
		hash_add(h, psprintf("key %s\n", keyhex));
}

/* One of the extension's tables, quoted and schema-qualified */
static char *
ext_table(const char *relname)
{
	return cu_qualify(cu_extension_schema_name(), relname);
}

/*
 * The fingerprint of the cursor's pairs (old_id bigint, new_id uuid, in
 * old-id order) under strategy and keyhex
 */
static char *
fingerprint_of(Portal portal, const char *strategy, const char *keyhex)
{
	CuHash		h;

	hash_head(&h, strategy, keyhex);
	for (;;)
	{
		SPI_cursor_fetch(portal, true, CU_FINGERPRINT_BATCH);
		if (SPI_processed == 0)
			break;
		for (uint64 i = 0; i < SPI_processed; i++)
		{
			bool		isnull;
			int64		old_id = DatumGetInt64(cu_spi_getdatum(i, 1, &isnull));

			hash_pair(&h, old_id, DatumGetUUIDP(cu_spi_getdatum(i, 2, &isnull)));
		}
		SPI_freetuptable(SPI_tuptable);
		CHECK_FOR_INTERRUPTS();
	}
	SPI_cursor_close(portal);
	return hash_finish(&h, strategy);
}

/* Hex of a 16-byte key */
static char *
key_hex(const uint8 *key)
{
	StringInfoData buf;

	initStringInfo(&buf);
	for (int i = 0; i < 16; i++)
		appendStringInfo(&buf, "%02x", key[i]);
	return buf.data;
}

/*
 * table_id's strategy and key (in hex, v4 only; else ""), from the
 * registry.  Caller is connected to SPI.
 */
static void
registry_mapping(int table_id, char **strategy, char **keyhex)
{
	CuStrategy	st = cu_registry_strategy(table_id);
	uint8		key[16];

	if (st == CU_STRATEGY_NONE)
		elog(ERROR, "registry row %d disappeared or names no strategy", table_id);
	*strategy = pstrdup(cu_strategy_name(st));
	*keyhex = "";
	if (st != CU_STRATEGY_V4)
		return;
	cu_registry_key(table_id, key);
	*keyhex = key_hex(key);
}

/* The cursor over table_id's non-derived pairs, in old-id order */
static Portal
map_pairs(int table_id)
{
	Oid			argtypes[1] = {INT4OID};
	Datum		values[1];

	values[0] = Int32GetDatum(table_id);
	return SPI_cursor_open_with_args(NULL,
									 psprintf("SELECT m.old_id, m.new_id FROM %s m "
											  "WHERE m.table_id OPERATOR(pg_catalog.=) $1 AND NOT m.derived "
											  "ORDER BY m.old_id",
											  ext_table("connector_uuid_map")),
									 1, argtypes, values, NULL, false, 0);
}

/*
 * The fingerprint of table_id's mapping: "none" for 0 (never converted).
 * Caller is connected to SPI under a safe search_path.
 */
char *
cu_fingerprint(int table_id)
{
	char	   *strategy;
	char	   *keyhex;

	if (table_id == 0)
		return "none";
	registry_mapping(table_id, &strategy, &keyhex);
	return fingerprint_of(map_pairs(table_id), strategy, keyhex);
}

/* relid's schema and name; an error unless it is a table */
static void
table_names(Oid relid, char **nspname, char **relname, const char *fn)
{
	*relname = cu_require_table(relid, psprintf("%s() works on the key table of a conversion.", fn));
	*nspname = get_namespace_name(get_rel_namespace(relid));
}

/*
 * connector_uuid_fingerprint(pk_table regclass) returns text
 *
 * The fingerprint of the table's id mapping, or 'none' if connector_uuid
 * never converted it.  SECURITY DEFINER (see the file header).
 */
Datum
connector_uuid_fingerprint(PG_FUNCTION_ARGS)
{
	Oid			relid = PG_GETARG_OID(0);
	char	   *nspname;
	char	   *relname;
	char	   *fp;
	int			nestlevel;

	MemoryContext caller = CurrentMemoryContext;

	table_names(relid, &nspname, &relname, "connector_uuid_fingerprint");
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	nestlevel = cu_safe_search_path();
	fp = cu_fingerprint(cu_registry_id(nspname, relname));
	fp = MemoryContextStrdup(caller, fp);
	AtEOXact_GUC(true, nestlevel);
	if (SPI_finish() != SPI_OK_FINISH)
		elog(ERROR, "SPI_finish failed");
	PG_RETURN_TEXT_P(cstring_to_text(fp));
}

/* The table's key column, its type and identity kind, from its primary key */
static char *
key_column(Oid relid, const char *qualname, Oid *typid, char *identity)
{
	bool		isnull;

	cu_spi_select_oid("SELECT a.attname::pg_catalog.text, a.atttypid, a.attidentity "
					  "FROM pg_catalog.pg_constraint c JOIN pg_catalog.pg_attribute a "
					  "  ON a.attrelid OPERATOR(pg_catalog.=) c.conrelid AND a.attnum OPERATOR(pg_catalog.=) c.conkey[1] "
					  "WHERE c.conrelid OPERATOR(pg_catalog.=) $1 AND c.contype OPERATOR(pg_catalog.=) 'p' "
					  "AND pg_catalog.cardinality(c.conkey) OPERATOR(pg_catalog.=) 1", relid);
	if (SPI_processed != 1)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("table \"%s\" has no single-column primary key", qualname)));
	*typid = DatumGetObjectId(cu_spi_getdatum(0, 2, &isnull));
	*identity = DatumGetChar(cu_spi_getdatum(0, 3, &isnull));
	if (*typid != UUIDOID && !cu_is_integer_type(*typid))
		ereport(ERROR,
				(errcode(ERRCODE_DATATYPE_MISMATCH),
				 errmsg("the primary key of table \"%s\" is of type %s", qualname, format_type_be(*typid)),
				 errdetail("connector_uuid maps smallint, integer and bigint keys to uuid and back.")));
	return pstrdup(cu_spi_getstring(0, 1));
}

/*
 * connector_uuid_export(pk_table regclass) returns jsonb
 *
 * {"format", "table", "column", "state" (integer or uuid), "strategy",
 *  "key" (v4 only), "pairs": [[old_id, "new_id"], ...], "fingerprint"}
 */
Datum
connector_uuid_export(PG_FUNCTION_ARGS)
{
	Oid			relid = PG_GETARG_OID(0);
	char	   *nspname;
	char	   *relname;
	char	   *qualname;
	char	   *column;
	Oid			typid;
	char		identity;
	int			table_id;
	char	   *strategy;
	char	   *keyhex;
	char	   *fp;
	StringInfoData buf;
	Portal		portal;
	bool		first = true;
	int64		npairs = 0;
	int			nestlevel;
	Datum		result;
	CuHash		h;
	MemoryContext caller = CurrentMemoryContext;
	MemoryContext oldcxt;

	table_names(relid, &nspname, &relname, "connector_uuid_export");
	qualname = cu_qualify(nspname, relname);
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	nestlevel = cu_safe_search_path();

	column = key_column(relid, qualname, &typid, &identity);
	table_id = cu_registry_id(nspname, relname);
	if (table_id == 0)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("table \"%s\" was never converted by connector_uuid", qualname),
				 errdetail("It has no key and no id map to export yet."),
				 errhint("Convert it here first (ALTER EXTENSION connector_uuid UPDATE, or connector_uuid_convert()), then export.")));
	registry_mapping(table_id, &strategy, &keyhex);

	/* the value is built in the caller's memory (SPI's goes at SPI_finish) */
	oldcxt = MemoryContextSwitchTo(caller);
	initStringInfo(&buf);
	MemoryContextSwitchTo(oldcxt);
	appendStringInfo(&buf, "{\"format\": \"%s\", \"table\": ", CU_EXPORT_FORMAT);
	escape_json(&buf, qualname);
	appendStringInfoString(&buf, ", \"column\": ");
	escape_json(&buf, column);
	appendStringInfo(&buf, ", \"state\": \"%s\", \"strategy\": \"%s\"",
					 typid == UUIDOID ? "uuid" : "integer", strategy);
	if (*keyhex)
		appendStringInfo(&buf, ", \"key\": \"%s\"", keyhex);
	appendStringInfoString(&buf, ", \"pairs\": [");
	/* the pairs and their fingerprint from one cursor: one snapshot */
	hash_head(&h, strategy, keyhex);
	portal = map_pairs(table_id);
	for (;;)
	{
		SPI_cursor_fetch(portal, true, CU_FINGERPRINT_BATCH);
		if (SPI_processed == 0)
			break;
		npairs += SPI_processed;
		if (npairs > CU_EXPORT_MAX_PAIRS)
			ereport(ERROR,
					(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
					 errmsg("the id map of table \"%s\" has more than %d pairs to export", qualname, CU_EXPORT_MAX_PAIRS),
					 errdetail("An export is one jsonb value, which holds at most 256 MB."),
					 errhint("Under the v4 strategy only the pairs its key cannot derive are exported; "
							 "under v5 the same namespace gives the same ids in every database without an export.")));
		for (uint64 i = 0; i < SPI_processed; i++)
		{
			bool		isnull;
			int64		old_id = DatumGetInt64(cu_spi_getdatum(i, 1, &isnull));
			const pg_uuid_t *u = DatumGetUUIDP(cu_spi_getdatum(i, 2, &isnull));
			char		text[UUID_LEN * 2 + 5];

			uuid_chars(u, text);
			appendStringInfo(&buf, "%s[" INT64_FORMAT ", \"%s\"]", first ? "" : ", ", old_id, text);
			hash_pair(&h, old_id, u);
			first = false;
		}
		SPI_freetuptable(SPI_tuptable);
		CHECK_FOR_INTERRUPTS();
	}
	SPI_cursor_close(portal);
	fp = hash_finish(&h, strategy);
	appendStringInfo(&buf, "], \"fingerprint\": \"%s\"", fp);

	/*
	 * The registry's facts about the integer side (type, identity, default,
	 * sequence) and the referencing columns': what a copy of these tables
	 * made at uuid (a subscriber's initial copy) needs to roll back as this
	 * database does.  Not in the fingerprint: they decide no id.
	 */
	{
		Oid			argtypes[1] = {INT4OID};
		Datum		values[1] = {Int32GetDatum(table_id)};

		cu_spi_exec_args(psprintf("SELECT (SELECT pg_catalog.to_jsonb(t) OPERATOR(pg_catalog.-) 'table_id'::pg_catalog.text "
								  "    OPERATOR(pg_catalog.-) 'id_key'::pg_catalog.text OPERATOR(pg_catalog.-) 'table_oid'::pg_catalog.text "
								  "    OPERATOR(pg_catalog.-) 'schema_name'::pg_catalog.text OPERATOR(pg_catalog.-) 'table_name'::pg_catalog.text "
								  "  FROM %s t WHERE t.table_id OPERATOR(pg_catalog.=) $1)::pg_catalog.text, "
								  "COALESCE((SELECT pg_catalog.jsonb_agg(pg_catalog.to_jsonb(c) OPERATOR(pg_catalog.-) 'table_id'::pg_catalog.text "
								  "    OPERATOR(pg_catalog.-) 'table_oid'::pg_catalog.text OPERATOR(pg_catalog.-) 'column_number'::pg_catalog.text "
								  "    ORDER BY c.schema_name, c.table_name, c.column_name) "
								  "  FROM %s c WHERE c.table_id OPERATOR(pg_catalog.=) $1), '[]')::pg_catalog.text",
								  ext_table("connector_uuid_tables"), ext_table("connector_uuid_columns")),
						 SPI_OK_SELECT, 1, argtypes, values, NULL);
		appendStringInfo(&buf, ", \"registry\": %s, \"columns\": %s}",
						 cu_spi_getstring(0, 1), cu_spi_getstring(0, 2));
	}

	AtEOXact_GUC(true, nestlevel);
	if (SPI_finish() != SPI_OK_FINISH)
		elog(ERROR, "SPI_finish failed");
	result = DirectFunctionCall1(jsonb_in, CStringGetDatum(buf.data));
	PG_RETURN_DATUM(result);
}

/* An import that is not one: 22023, with what is wrong */
static void
refuse_export(const char *what)
{
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			 errmsg("not a connector_uuid export: %s", what),
			 errhint("Pass the value connector_uuid_export() returned on the other database, unchanged.")));
}

/*
 * The export's strategy, key and fingerprint, checked: its format, shape,
 * and the fingerprint computed again over its own content (a value cut
 * short or edited is refused).  Caller is connected to SPI.
 */
static void
read_export(Datum export, char **strategy, char **keyhex, char **fp, int64 *npairs)
{
	Oid			argtypes[1] = {JSONBOID};
	Datum		values[1] = {export};
	bool		isnull;
	Portal		portal;
	char	   *computed;

	cu_spi_exec_args("SELECT e OPERATOR(pg_catalog.->>) 'format', e OPERATOR(pg_catalog.->>) 'strategy', "
					 "e OPERATOR(pg_catalog.->>) 'key', e OPERATOR(pg_catalog.->>) 'fingerprint', "
					 "pg_catalog.jsonb_typeof(e OPERATOR(pg_catalog.->) 'pairs'), "
					 "CASE WHEN pg_catalog.jsonb_typeof(e OPERATOR(pg_catalog.->) 'pairs') OPERATOR(pg_catalog.=) 'array' "
					 "  THEN (SELECT pg_catalog.count(*) FROM pg_catalog.jsonb_array_elements(e OPERATOR(pg_catalog.->) 'pairs') p "
					 "        WHERE pg_catalog.jsonb_typeof(p) OPERATOR(pg_catalog.<>) 'array' "
					 "           OR pg_catalog.jsonb_array_length(p) OPERATOR(pg_catalog.<>) 2 "
					 "           OR pg_catalog.jsonb_typeof(p OPERATOR(pg_catalog.->) 0) OPERATOR(pg_catalog.<>) 'number' "
					 "           OR pg_catalog.jsonb_typeof(p OPERATOR(pg_catalog.->) 1) OPERATOR(pg_catalog.<>) 'string') END, "
					 "pg_catalog.jsonb_typeof(e) "
					 "FROM (SELECT $1 AS e) x",
					 SPI_OK_SELECT, 1, argtypes, values, NULL);
	if (strcmp(cu_spi_getstring(0, 7), "object") != 0)
		refuse_export("the value is not a jsonb object");
	if (cu_spi_getstring(0, 1) == NULL || strcmp(cu_spi_getstring(0, 1), CU_EXPORT_FORMAT) != 0)
		refuse_export(psprintf("its \"format\" is not \"%s\"", CU_EXPORT_FORMAT));
	*strategy = cu_spi_getstring(0, 2) ? pstrdup(cu_spi_getstring(0, 2)) : "";
	if (cu_strategy_from_name(*strategy) == CU_STRATEGY_NONE)
		refuse_export("its \"strategy\" is not v4, v5 or v7");
	*keyhex = cu_spi_getstring(0, 3) ? pstrdup(cu_spi_getstring(0, 3)) : "";
	if (strcmp(*strategy, "v4") == 0 &&
		(strlen(*keyhex) != 32 || strspn(*keyhex, "0123456789abcdef") != 32))
		refuse_export("a v4 export needs its \"key\": 32 lower-case hex digits");
	if (strcmp(*strategy, "v4") != 0)
		*keyhex = "";
	*fp = cu_spi_getstring(0, 4) ? pstrdup(cu_spi_getstring(0, 4)) : "";
	if (cu_spi_getstring(0, 5) == NULL || strcmp(cu_spi_getstring(0, 5), "array") != 0)
		refuse_export("its \"pairs\" is not an array");
	if (cu_spi_getint64(0, 6, &isnull) != 0)
		refuse_export("every element of \"pairs\" must be [old_id, \"uuid\"]");

	/* the pairs, cast (a bad number or uuid is an error of its own), in order */
	portal = SPI_cursor_open_with_args(NULL,
									   "SELECT (p OPERATOR(pg_catalog.->>) 0)::pg_catalog.int8 AS o, "
									   "(p OPERATOR(pg_catalog.->>) 1)::pg_catalog.uuid "
									   "FROM pg_catalog.jsonb_array_elements($1 OPERATOR(pg_catalog.->) 'pairs') p ORDER BY 1",
									   1, argtypes, values, NULL, true, 0);
	computed = fingerprint_of(portal, *strategy, *keyhex);
	if (strcmp(computed, *fp) != 0)
		refuse_export("its content does not match its \"fingerprint\" (it was cut short or edited)");
	cu_spi_exec_args("SELECT pg_catalog.count(*), pg_catalog.count(DISTINCT (p OPERATOR(pg_catalog.->>) 0)::pg_catalog.int8), "
					 "pg_catalog.count(DISTINCT (p OPERATOR(pg_catalog.->>) 1)::pg_catalog.uuid) "
					 "FROM pg_catalog.jsonb_array_elements($1 OPERATOR(pg_catalog.->) 'pairs') p",
					 SPI_OK_SELECT, 1, argtypes, values, NULL);
	*npairs = cu_spi_getint64(0, 1, &isnull);
	if (*npairs != cu_spi_getint64(0, 2, &isnull))
		refuse_export("an old id appears twice in \"pairs\"");
	if (*npairs != cu_spi_getint64(0, 3, &isnull))
		refuse_export("a uuid appears twice in \"pairs\"");
}

/*
 * Refuse a table in the online mode: its twin columns were filled with the
 * mapping it has; another one imported now would not match them
 */
static void
refuse_online(const char *nspname, const char *relname, const char *qualname)
{
	Oid			argtypes[2] = {NAMEOID, NAMEOID};
	Datum		values[2];

	if (!OidIsValid(cu_extension_rel("connector_uuid_online")))
		return;
	values[0] = DirectFunctionCall1(namein, CStringGetDatum(nspname));
	values[1] = DirectFunctionCall1(namein, CStringGetDatum(relname));
	cu_spi_exec_args(psprintf("SELECT phase FROM %s WHERE schema_name OPERATOR(pg_catalog.=) $1 "
							  "AND table_name OPERATOR(pg_catalog.=) $2", ext_table("connector_uuid_online")),
					 SPI_OK_SELECT, 2, argtypes, values, NULL);
	if (SPI_processed > 0)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("table \"%s\" is in the online mode (phase %s)", qualname, cu_spi_getstring(0, 1)),
				 errdetail("Its twin columns were filled with the mapping it has here."),
				 errhint("Import before connector_uuid_prepare(), or abort the preparation (connector_uuid_abort()) first.")));
}

/*
 * True if the table has no row.  Read as its owner under
 * SECURITY_RESTRICTED_OPERATION, as every read of an application table
 * (planning it folds what the owner wrote).
 */
static bool
table_is_empty(Oid relid, const char *qualname)
{
	CuContext	cx;
	bool		empty;

	cu_enter(&cx, cu_rel_owner(relid), SECURITY_RESTRICTED_OPERATION);
	cu_spi_exec(psprintf("SELECT NOT EXISTS (SELECT FROM %s)", qualname), SPI_OK_SELECT);
	empty = strcmp(cu_spi_getstring(0, 1), "t") == 0;
	cu_leave(&cx);
	return empty;
}

/* Drop table_id's registry row, referencing columns and id map */
static void
forget_table(int table_id)
{
	Oid			argtypes[1] = {INT4OID};
	Datum		values[1] = {Int32GetDatum(table_id)};

	cu_spi_exec_args(psprintf("DELETE FROM %s WHERE table_id OPERATOR(pg_catalog.=) $1", ext_table("connector_uuid_map")),
					 SPI_OK_DELETE, 1, argtypes, values, NULL);
	cu_spi_exec_args(psprintf("DELETE FROM %s WHERE table_id OPERATOR(pg_catalog.=) $1", ext_table("connector_uuid_columns")),
					 SPI_OK_DELETE, 1, argtypes, values, NULL);
	cu_spi_exec_args(psprintf("DELETE FROM %s WHERE table_id OPERATOR(pg_catalog.=) $1", ext_table("connector_uuid_tables")),
					 SPI_OK_DELETE, 1, argtypes, values, NULL);
}

/*
 * A table here at uuid with no registry row (a subscriber's copy of a
 * publisher's converted tables): its registry row and referencing columns
 * from the export's facts, under a new table id, with the export's key.
 * The facts are validated as every registry row is, by the revert that
 * reads them (registry.c).  Returns the table id.
 */
static int
import_registry(Datum export, const char *nspname, const char *relname, const char *qualname,
				Oid relid, const char *keyhex)
{
	Oid			argtypes[6] = {JSONBOID, INT4OID, NAMEOID, NAMEOID, OIDOID, TEXTOID};
	Datum		values[6];
	int			table_id;

	values[0] = export;
	cu_spi_exec_args("SELECT $1 OPERATOR(pg_catalog.->>) 'state', "
					 "pg_catalog.jsonb_typeof($1 OPERATOR(pg_catalog.->) 'registry'), "
					 "pg_catalog.jsonb_typeof($1 OPERATOR(pg_catalog.->) 'columns')",
					 SPI_OK_SELECT, 1, argtypes, values, NULL);
	if (cu_spi_getstring(0, 1) == NULL || strcmp(cu_spi_getstring(0, 1), "uuid") != 0 ||
		cu_spi_getstring(0, 2) == NULL || strcmp(cu_spi_getstring(0, 2), "object") != 0 ||
		cu_spi_getstring(0, 3) == NULL || strcmp(cu_spi_getstring(0, 3), "array") != 0)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("table \"%s\" is already uuid and connector_uuid has no mapping for it", qualname),
				 errdetail("Only an export of a table at uuid, with its registry facts, can give a copy of it made at uuid its mapping."),
				 errhint("Import before this database's conversion (at integer, the conversion then makes the export's ids), "
						 "or export from the publisher after its migration.")));
	table_id = cu_registry_take_id();
	values[1] = Int32GetDatum(table_id);
	values[2] = DirectFunctionCall1(namein, CStringGetDatum(nspname));
	values[3] = DirectFunctionCall1(namein, CStringGetDatum(relname));
	values[4] = ObjectIdGetDatum(relid);
	if (*keyhex)
		values[5] = CStringGetTextDatum(psprintf("\\x%s", keyhex));
	else
	{
		/* v5 and v7: the key is never used, but the row needs one */
		uint8		k[16];

		cu_random_key(k);
		values[5] = CStringGetTextDatum(psprintf("\\x%s", key_hex(k)));
	}
	/* the facts, under this database's id, names, oid and the export's key */
	cu_spi_exec_args(psprintf("INSERT INTO %s SELECT (pg_catalog.jsonb_populate_record(NULL::%s, "
							  "($1 OPERATOR(pg_catalog.->) 'registry') OPERATOR(pg_catalog.||) pg_catalog.jsonb_build_object("
							  "  'table_id', $2, 'schema_name', $3, 'table_name', $4, 'table_oid', $5, "
							  "  'strategy', $1 OPERATOR(pg_catalog.->>) 'strategy', "
							  "  'full_map', ($1 OPERATOR(pg_catalog.->>) 'strategy') OPERATOR(pg_catalog.<>) 'v4', "
							  "  'id_key', $6))).*",
							  ext_table("connector_uuid_tables"), ext_table("connector_uuid_tables")),
					 SPI_OK_INSERT, 6, argtypes, values, NULL);
	cu_spi_exec_args(psprintf("INSERT INTO %s SELECT (pg_catalog.jsonb_populate_record(NULL::%s, "
							  "c OPERATOR(pg_catalog.||) pg_catalog.jsonb_build_object('table_id', $2))).* "
							  "FROM pg_catalog.jsonb_array_elements($1 OPERATOR(pg_catalog.->) 'columns') c",
							  ext_table("connector_uuid_columns"), ext_table("connector_uuid_columns")),
					 SPI_OK_INSERT, 2, argtypes, values, NULL);
	return table_id;
}

/* A bytea of the 16 bytes written in keyhex */
static bytea *
key_from_hex(const char *keyhex)
{
	bytea	   *k = palloc(VARHDRSZ + 16);

	SET_VARSIZE(k, VARHDRSZ + 16);
	for (int i = 0; i < 16; i++)
	{
		unsigned int b;

		if (sscanf(keyhex + 2 * i, "%2x", &b) != 1)
			refuse_export("its \"key\" is not hex");
		((uint8 *) VARDATA(k))[i] = (uint8) b;
	}
	return k;
}

/*
 * connector_uuid_import(pk_table regclass, export jsonb, replace boolean
 * DEFAULT false) returns text
 *
 * Make pk_table's id mapping the export's: a registry row with its
 * strategy and key (created if the table has none), and its pairs in the
 * id map.  Returns the fingerprint, which is then the export's.  At uuid
 * the mapping must already be the same (only pairs are added: the rollback
 * case); at integer a different one is replaced only with replace => true.
 */
Datum
connector_uuid_import(PG_FUNCTION_ARGS)
{
	Oid			relid = PG_GETARG_OID(0);
	Datum		export = PG_GETARG_DATUM(1);
	bool		replace = PG_GETARG_BOOL(2);
	char	   *nspname;
	char	   *relname;
	char	   *qualname;
	char	   *column;
	Oid			typid;
	char		identity;
	bool		at_uuid;
	char	   *strategy;
	char	   *keyhex;
	char	   *fp;
	char	   *local_fp;
	int64		npairs;
	int			table_id;
	int			nestlevel;
	bool		isnull;
	char	   *map = NULL;
	Oid			argtypes[3] = {INT4OID, JSONBOID, TEXTOID};
	Datum		values[3];

	MemoryContext caller = CurrentMemoryContext;

	table_names(relid, &nspname, &relname, "connector_uuid_import");
	qualname = cu_qualify(nspname, relname);
	cu_check_owner(relid);
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	nestlevel = cu_safe_search_path();
	map = ext_table("connector_uuid_map");

	read_export(export, &strategy, &keyhex, &fp, &npairs);
	/* no conversion of any table runs meanwhile (they take RowExclusive) */
	cu_spi_exec(psprintf("LOCK TABLE %s, %s IN SHARE ROW EXCLUSIVE MODE",
						 ext_table("connector_uuid_tables"), map), SPI_OK_UTILITY);
	column = key_column(relid, qualname, &typid, &identity);
	at_uuid = (typid == UUIDOID);
	table_id = cu_registry_id(nspname, relname);
	refuse_online(nspname, relname, qualname);
	{
		Oid			jtypes[1] = {JSONBOID};
		Datum		jvalues[1] = {export};
		char	   *from;

		cu_spi_exec_args("SELECT $1 OPERATOR(pg_catalog.->>) 'table'", SPI_OK_SELECT, 1, jtypes, jvalues, NULL);
		from = cu_spi_getstring(0, 1);
		if (from == NULL || strcmp(from, qualname) != 0)
			ereport(WARNING,
					(errmsg("the export is of table %s, imported into table %s", from ? from : "(none)", qualname),
					 errdetail("Its mapping is the other table's: the two give the same integers the same uuids.")));
	}

	if (table_id == 0)
	{
		Oid			types[8] = {INT4OID, NAMEOID, NAMEOID, NAMEOID, REGTYPEOID, CHAROID, TEXTOID, BYTEAOID};
		Datum		row[8];
		bytea	   *k;

		if (at_uuid)
			table_id = import_registry(export, nspname, relname, qualname, relid, keyhex);
		else if (*keyhex)
			k = key_from_hex(keyhex);
		else
		{
			/* v5 and v7 ids come from the pairs; the key is never used */
			k = palloc(VARHDRSZ + 16);
			SET_VARSIZE(k, VARHDRSZ + 16);
			cu_random_key((uint8 *) VARDATA(k));
		}
		if (!at_uuid)
		{
		table_id = cu_registry_take_id();
		row[0] = Int32GetDatum(table_id);
		row[1] = DirectFunctionCall1(namein, CStringGetDatum(nspname));
		row[2] = DirectFunctionCall1(namein, CStringGetDatum(relname));
		row[3] = DirectFunctionCall1(namein, CStringGetDatum(column));
		row[4] = ObjectIdGetDatum(typid);
		row[5] = CharGetDatum(identity);
		row[6] = CStringGetTextDatum(strategy);
		row[7] = PointerGetDatum(k);
		cu_spi_exec_args(psprintf("INSERT INTO %s (table_id, schema_name, table_name, column_name, "
								  "original_type, identity, strategy, id_key, full_map) "
								  "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, false)",
								  ext_table("connector_uuid_tables")),
						 SPI_OK_INSERT, 8, types, row, NULL);
		}
	}
	else
	{
		char	   *have_strategy;
		char	   *have_key;
		char	   *have_fp = cu_fingerprint(table_id);

		registry_mapping(table_id, &have_strategy, &have_key);
		if (at_uuid && replace && table_is_empty(relid, qualname) &&
			(strcmp(have_strategy, strategy) != 0 || strcmp(have_key, keyhex) != 0))
		{
			/* nothing made with this mapping is left: the export's, facts and all */
			forget_table(table_id);
			table_id = import_registry(export, nspname, relname, qualname, relid, keyhex);
			registry_mapping(table_id, &have_strategy, &have_key);
		}
		if (strcmp(have_strategy, strategy) != 0 || strcmp(have_key, keyhex) != 0)
		{
			if (at_uuid)
				ereport(ERROR,
						(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
						 errmsg("table \"%s\" was converted here with another id mapping than the export's", qualname),
						 errdetail("Here: strategy %s, fingerprint %s.  The export: strategy %s, fingerprint %s.  "
								   "Its uuids were made with this database's mapping, which a revert needs.",
								   have_strategy, have_fp, strategy, fp),
						 errhint("Roll this database back first (at integer the export's mapping can replace this one, with replace => true), "
								 "or empty the table (a subscriber's copy, to be copied again) and import with replace => true.")));
			if (!replace)
				ereport(ERROR,
						(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
						 errmsg("table \"%s\" already has another id mapping than the export's", qualname),
						 errdetail("Here: strategy %s, fingerprint %s (from an earlier conversion or import).  The export: strategy %s, fingerprint %s.",
								   have_strategy, have_fp, strategy, fp),
						 errhint("To give this table the export's ids at its next conversion instead, call connector_uuid_import(..., replace => true).")));
			values[0] = Int32GetDatum(table_id);
			values[1] = PointerGetDatum(*keyhex ? key_from_hex(keyhex) : NULL);
			values[2] = CStringGetTextDatum(strategy);
			argtypes[1] = BYTEAOID;
			cu_spi_exec_args(psprintf("UPDATE %s SET strategy = $3%s WHERE table_id OPERATOR(pg_catalog.=) $1",
									  ext_table("connector_uuid_tables"), *keyhex ? ", id_key = $2" : ""),
							 SPI_OK_UPDATE, 3, argtypes, values, *keyhex ? NULL : " n ");
			argtypes[1] = JSONBOID;
		}
		/* replace, at integer: the export's pairs instead of every one here */
		if (replace && !at_uuid)
		{
			values[0] = Int32GetDatum(table_id);
			cu_spi_exec_args(psprintf("DELETE FROM %s WHERE table_id OPERATOR(pg_catalog.=) $1", map),
							 SPI_OK_DELETE, 1, argtypes, values, NULL);
		}
	}

	/* a pair that says otherwise than one here is refused, never overwritten */
	values[0] = Int32GetDatum(table_id);
	values[1] = export;
	cu_spi_exec_args(psprintf("WITH p AS MATERIALIZED (SELECT (e OPERATOR(pg_catalog.->>) 0)::pg_catalog.int8 AS o, "
							  "  (e OPERATOR(pg_catalog.->>) 1)::pg_catalog.uuid AS n "
							  "  FROM pg_catalog.jsonb_array_elements($2 OPERATOR(pg_catalog.->) 'pairs') e), "
							  "m AS MATERIALIZED (SELECT old_id, new_id FROM %s WHERE table_id OPERATOR(pg_catalog.=) $1) "
							  "SELECT pg_catalog.count(*), pg_catalog.min(x.o) FROM ("
							  "  SELECT p.o FROM p JOIN m ON m.old_id OPERATOR(pg_catalog.=) p.o "
							  "   WHERE m.new_id OPERATOR(pg_catalog.<>) p.n "
							  "  UNION SELECT p.o FROM p JOIN m ON m.new_id OPERATOR(pg_catalog.=) p.n "
							  "   WHERE m.old_id OPERATOR(pg_catalog.<>) p.o) x",
							  map),
					 SPI_OK_SELECT, 2, argtypes, values, NULL);
	if (cu_spi_getint64(0, 1, &isnull) > 0)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg_plural("%lld pair of the export contradicts the id map of table \"%s\"",
							   "%lld pairs of the export contradict the id map of table \"%s\"",
							   cu_spi_getint64(0, 1, &isnull),
							   (long long) cu_spi_getint64(0, 1, &isnull), qualname),
				 errdetail("The first old id mapped differently here is %s.", cu_spi_getstring(0, 2)),
				 errhint("%s", at_uuid ? "The two databases gave these rows different ids; they cannot be brought together by an import." :
						 "To take the export's mapping instead, call connector_uuid_import(..., replace => true).")));
	cu_spi_exec_args(psprintf("INSERT INTO %s (table_id, derived, old_id, new_id) "
							  "SELECT $1, false, (p OPERATOR(pg_catalog.->>) 0)::pg_catalog.int8, (p OPERATOR(pg_catalog.->>) 1)::pg_catalog.uuid "
							  "FROM pg_catalog.jsonb_array_elements($2 OPERATOR(pg_catalog.->) 'pairs') p "
							  "ON CONFLICT (table_id, old_id) DO UPDATE SET derived = false",
							  map),
					 SPI_OK_INSERT, 2, argtypes, values, NULL);

	/* pairs here that the export lacks: the mappings still differ */
	local_fp = cu_fingerprint(table_id);
	if (strcmp(local_fp, fp) != 0)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("the id map of table \"%s\" holds pairs the export does not", qualname),
				 errdetail("After the import the fingerprint here would be %s, the export's is %s.", local_fp, fp),
				 errhint("%s", at_uuid ? "Export again on the other database after its migration, and import that." :
						 "To drop them and take the export's mapping, call connector_uuid_import(..., replace => true).")));

	/* the history says where this table's mapping came from */
	values[2] = CStringGetTextDatum(qualname);
	cu_spi_exec_args(psprintf("INSERT INTO %s (started_at, duration, direction, table_name, rows_per_table, "
							  "strategy, role_name, outcome) "
							  "SELECT pg_catalog.now(), '0'::pg_catalog.interval, 'import', $3, "
							  "pg_catalog.jsonb_build_object('pairs', pg_catalog.jsonb_array_length($2 OPERATOR(pg_catalog.->) 'pairs'), "
							  "  'fingerprint', $2 OPERATOR(pg_catalog.->>) 'fingerprint', "
							  "  'from', $2 OPERATOR(pg_catalog.->>) 'table', 'state', $2 OPERATOR(pg_catalog.->>) 'state'), "
							  "$2 OPERATOR(pg_catalog.->>) 'strategy', pg_catalog.\"current_user\"(), 'imported'",
							  ext_table("connector_uuid_history")),
					 SPI_OK_INSERT, 3, argtypes, values, NULL);

	local_fp = MemoryContextStrdup(caller, local_fp);
	AtEOXact_GUC(true, nestlevel);
	if (SPI_finish() != SPI_OK_FINISH)
		elog(ERROR, "SPI_finish failed");
	PG_RETURN_TEXT_P(cstring_to_text(local_fp));
}
