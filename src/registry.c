/*-------------------------------------------------------------------------
 *
 * registry.c
 *	  The registry of converted tables (connector_uuid_tables, _columns):
 *	  what a revert needs to put a key column and its references back as
 *	  they were, recorded as typed facts, and read back validated.
 *
 * The registry holds facts, never SQL: types as regtype, the identity kind,
 * the kind of default (none, nextval of a named sequence, identity), the
 * sequence's schema and name, its parameters as numbers, its comment as
 * text and its ACL as aclitem[].  The revert builds its statements from
 * these, quoting every name and literal, after checking every value: a row
 * that does not validate is refused before anything changes.  Whoever can
 * write the registry (a role granted on it, a crafted dump) can therefore at
 * worst make a revert fail, never choose what a superuser's revert runs.
 *
 * Table ids come from connector_uuid_table_id_seq, taken only once the
 * conversion holds its locks (executor.c), so two conversions of different
 * tables at once never collide on one.
 *
 * IDENTIFICATION
 *	  src/registry.c
 *
 *-------------------------------------------------------------------------
 */
#include "registry.h"
#include "security.h"
#include "spi_util.h"

#include "access/htup_details.h"
#include "catalog/namespace.h"
#include "catalog/pg_class.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "nodes/primnodes.h"
#include "utils/acl.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/fmgroids.h"
#include "utils/lsyscache.h"
#include "utils/syscache.h"

#if PG_VERSION_NUM < 140000
#define F_NEXTVAL F_NEXTVAL_OID
#endif

/* One of the extension's tables, quoted and schema-qualified */
static char *
ext_table(const char *relname)
{
	return cu_qualify(cu_extension_schema_name(), relname);
}

/* The range of smallint, integer or bigint */
static void
int_type_range(Oid typid, int64 *min, int64 *max)
{
	switch (typid)
	{
		case INT2OID:
			*min = PG_INT16_MIN;
			*max = PG_INT16_MAX;
			break;
		case INT4OID:
			*min = PG_INT32_MIN;
			*max = PG_INT32_MAX;
			break;
		default:
			*min = PG_INT64_MIN;
			*max = PG_INT64_MAX;
			break;
	}
}

/* The largest value of smallint, integer or bigint */
int64
cu_int_type_max(Oid typid)
{
	int64		min,
				max;

	int_type_range(typid, &min, &max);
	return max;
}

/* A registry value that does not validate: refuse, naming all three */
static void
refuse_fact(const char *qualname, const char *regtable, const char *column,
			const char *value, const char *expected)
{
	const char *subject = strcmp(regtable, "connector_uuid_columns") == 0 ? "column" : "table";

	ereport(ERROR,
			(errcode(ERRCODE_DATA_CORRUPTED),
			 errmsg("%s row of %s \"%s\" has an invalid %s: %s",
					regtable, subject, qualname, column, value ? value : "NULL"),
			 errdetail("Expected %s.", expected),
			 errhint("Correct the row (or restore the registry from the backup taken with the id map), then try again.")));
}

/*
 * The registry id of schema.table, or 0 if it was never converted.
 * Caller is connected to SPI.
 */
int
cu_registry_id(const char *nspname, const char *relname)
{
	Oid			argtypes[2] = {NAMEOID, NAMEOID};
	Datum		values[2];
	bool		isnull;
	char	   *sql;

	sql = psprintf("SELECT table_id FROM %s WHERE schema_name OPERATOR(pg_catalog.=) $1 "
				   "AND table_name OPERATOR(pg_catalog.=) $2",
				   ext_table("connector_uuid_tables"));
	values[0] = DirectFunctionCall1(namein, CStringGetDatum(nspname));
	values[1] = DirectFunctionCall1(namein, CStringGetDatum(relname));
	cu_spi_exec_args(sql, SPI_OK_SELECT, 2, argtypes, values, NULL);
	if (SPI_processed == 0)
		return 0;
	return (int) cu_spi_getint64(0, 1, &isnull);
}

/*
 * The table id the next new registry row would get, for display only: the
 * sequence is read, not advanced (connector_uuid_plan() takes nothing).
 */
int
cu_registry_predict_id(void)
{
	Oid			argtypes[1] = {TEXTOID};
	Datum		values[1];
	bool		isnull;

	values[0] = CStringGetTextDatum(ext_table("connector_uuid_table_id_seq"));
	cu_spi_exec_args("SELECT COALESCE(pg_catalog.pg_sequence_last_value($1::pg_catalog.regclass), 0) "
					 "OPERATOR(pg_catalog.+) 1",
					 SPI_OK_SELECT, 1, argtypes, values, NULL);
	return (int) cu_spi_getint64(0, 1, &isnull);
}

/*
 * Take a new table id from connector_uuid_table_id_seq.  Called only by a
 * conversion that holds its locks (the id is used up even if it aborts).
 * An id already in the registry (a row written by hand, a sequence restored
 * behind its table) is skipped.
 */
int
cu_registry_take_id(void)
{
	char	   *seq = quote_literal_cstr(ext_table("connector_uuid_table_id_seq"));
	Oid			argtypes[1] = {INT4OID};
	Datum		values[1];
	bool		isnull;
	int			id;

	for (;;)
	{
		CHECK_FOR_INTERRUPTS();
		cu_spi_exec(psprintf("SELECT pg_catalog.nextval(%s::pg_catalog.regclass)::pg_catalog.int4", seq),
					SPI_OK_SELECT);
		id = (int) cu_spi_getint64(0, 1, &isnull);
		values[0] = Int32GetDatum(id);
		cu_spi_exec_args(psprintf("SELECT 1 FROM %s WHERE table_id OPERATOR(pg_catalog.=) $1",
								  ext_table("connector_uuid_tables")),
						 SPI_OK_SELECT, 1, argtypes, values, NULL);
		if (SPI_processed == 0)
			return id;
	}
}

/* The expression of relid's default on attnum, or NULL */
static Node *
column_default(Oid relid, AttrNumber attnum)
{
	Oid			argtypes[2] = {OIDOID, INT2OID};
	Datum		values[2];
	char	   *adbin;

	values[0] = ObjectIdGetDatum(relid);
	values[1] = Int16GetDatum(attnum);
	cu_spi_exec_args("SELECT d.adbin::pg_catalog.text FROM pg_catalog.pg_attrdef d "
					 "WHERE d.adrelid OPERATOR(pg_catalog.=) $1 AND d.adnum OPERATOR(pg_catalog.=) $2",
					 SPI_OK_SELECT, 2, argtypes, values, NULL);
	if (SPI_processed == 0)
		return NULL;
	adbin = cu_spi_getstring(0, 1);
	return adbin ? (Node *) stringToNode(adbin) : NULL;
}

/*
 * What the key column's default is, as a fact a revert can rebuild: 'n'
 * none, 'i' identity, or 's' nextval of a sequence (*seqrelid).  Any other
 * default is refused here, at convert time (and by connector_uuid_plan):
 * the registry keeps no expressions.
 */
char
cu_registry_default_kind(CuTarget *t, Oid *seqrelid)
{
	Node	   *expr;

	*seqrelid = InvalidOid;
	if (t->identity)
		return CU_DEFAULT_IDENTITY;
	expr = column_default(t->relid, t->pkattnum);
	if (expr == NULL)
		return CU_DEFAULT_NONE;
	/* nextval() returns bigint: a smaller key's default casts it implicitly */
	while (IsA(expr, FuncExpr) && ((FuncExpr *) expr)->funcformat == COERCE_IMPLICIT_CAST &&
		   list_length(((FuncExpr *) expr)->args) == 1)
		expr = linitial(((FuncExpr *) expr)->args);
	if (IsA(expr, FuncExpr) && ((FuncExpr *) expr)->funcid == F_NEXTVAL &&
		list_length(((FuncExpr *) expr)->args) == 1 &&
		IsA(linitial(((FuncExpr *) expr)->args), Const))
	{
		Const	   *c = linitial(((FuncExpr *) expr)->args);

		if (c->consttype == REGCLASSOID && !c->constisnull &&
			get_rel_relkind(DatumGetObjectId(c->constvalue)) == RELKIND_SEQUENCE)
		{
			*seqrelid = DatumGetObjectId(c->constvalue);
			return CU_DEFAULT_NEXTVAL;
		}
	}
	ereport(ERROR,
			(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
			 errmsg("default of key column \"%s\" of table \"%s\" is not nextval of a sequence",
					t->pkattname, t->qualname),
			 errdetail("The default is %s.  A revert puts back no default, an identity, or nextval of a sequence: the registry records facts, not expressions.",
					   t->default_expr ? t->default_expr : "an expression"),
			 errhint("Drop the default (ALTER TABLE %s ALTER COLUMN %s DROP DEFAULT), convert, and set it again after a revert.",
					 t->qualname, quote_identifier(t->pkattname))));
	return CU_DEFAULT_NONE;		/* keep compiler quiet */
}

/*
 * Insert target's registry row under table_id, with a fresh random key:
 * who it is, and (at integer state) the key's type and identity; the
 * update that follows records the rest
 */
static void
insert_registry_row(CuTarget *target, CuOptions *options, int table_id, bool at_integer)
{
	Oid			insert_types[8] = {INT4OID, NAMEOID, NAMEOID, NAMEOID, REGTYPEOID,
	CHAROID, TEXTOID, BYTEAOID};
	Datum		insert_values[8];
	bytea	   *key = palloc(VARHDRSZ + 16);

	SET_VARSIZE(key, VARHDRSZ + 16);
	cu_random_key((uint8 *) VARDATA(key));
	insert_values[0] = Int32GetDatum(table_id);
	insert_values[1] = DirectFunctionCall1(namein, CStringGetDatum(target->nspname));
	insert_values[2] = DirectFunctionCall1(namein, CStringGetDatum(target->relname));
	insert_values[3] = DirectFunctionCall1(namein, CStringGetDatum(target->pkattname));
	insert_values[4] = ObjectIdGetDatum(at_integer ? target->pktypid : INT4OID);
	insert_values[5] = CharGetDatum(at_integer ? target->identity : '\0');
	insert_values[6] = CStringGetTextDatum(cu_strategy_name(options->strategy));
	insert_values[7] = PointerGetDatum(key);
	cu_spi_exec_args(psprintf("INSERT INTO %s (table_id, schema_name, table_name, "
							  "column_name, original_type, identity, strategy, id_key) "
							  "VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
							  ext_table("connector_uuid_tables")),
					 SPI_OK_INSERT, 8, insert_types, insert_values, NULL);
}

/* The parameters of update_registry_row()'s UPDATE: $1 is UPD_TABLE_ID + 1 */
typedef enum UpdateParam
{
	UPD_TABLE_ID,
	UPD_COLUMN_NAME,
	UPD_ORIGINAL_TYPE,
	UPD_IDENTITY,
	UPD_DEFAULT_KIND,
	UPD_SEQUENCE_SCHEMA,
	UPD_SEQUENCE_NAME,
	UPD_SEQ_TYPE,				/* seq_type to seq_cycle: pg_sequence's, in
								 * its order */
	UPD_SEQ_INCREMENT,
	UPD_SEQ_MIN,
	UPD_SEQ_MAX,
	UPD_SEQ_START,
	UPD_SEQ_CACHE,
	UPD_SEQ_CYCLE,
	UPD_SEQ_COMMENT,
	UPD_SEQ_ACL,
	UPD_SEQ_LAST_VALUE,
	UPD_SEQ_VALUE,
	UPD_SEQ_IS_CALLED,
	UPD_STRATEGY,
	UPD_FULL_MAP,
	UPD_TABLE_OID,
	UPD_NPARAMS
} UpdateParam;

/*
 * Where the owned sequence stood (the UPDATE's seq_last_value, seq_value,
 * seq_is_called): the last value handed out, and the sequence's state.
 * The by-reference values stay in SPI memory until the UPDATE has run.
 */
static void
read_sequence_position(CuTarget *target, Datum *update_values, char *update_nulls)
{
	bool		isnull;

	cu_spi_exec(psprintf("SELECT CASE WHEN is_called THEN last_value ELSE last_value OPERATOR(pg_catalog.-) 1 END, "
						 "last_value, is_called FROM %s",
						 target->seqqualname), SPI_OK_SELECT);
	update_values[UPD_SEQ_LAST_VALUE] = Int64GetDatum(cu_spi_getint64(0, 1, &isnull));
	update_values[UPD_SEQ_VALUE] = Int64GetDatum(cu_spi_getint64(0, 2, &isnull));
	update_values[UPD_SEQ_IS_CALLED] = BoolGetDatum(cu_spi_getbool(0, 3, &isnull));
	update_nulls[UPD_SEQ_LAST_VALUE] = ' ';
	update_nulls[UPD_SEQ_VALUE] = ' ';
	update_nulls[UPD_SEQ_IS_CALLED] = ' ';
}

/*
 * The owned sequence's parameters (the UPDATE's seq_type to seq_cycle),
 * and, for an identity's sequence, which is dropped with the identity, its
 * comment and grants (seq_comment, seq_acl).  Left NULL if the sequence has
 * no pg_sequence row.  The by-reference values stay in SPI memory until the
 * UPDATE has run.
 */
static void
read_sequence_parameters(CuTarget *target, Datum *update_values, char *update_nulls)
{
	Oid			seq_types[1] = {OIDOID};
	Datum		seq_values[1];
	bool		isnull;
	int			i;

	seq_values[0] = ObjectIdGetDatum(target->seqrelid);
	cu_spi_exec_args("SELECT s.seqtypid, s.seqincrement, s.seqmin, s.seqmax, s.seqstart, s.seqcache, s.seqcycle, "
					 "  (SELECT d.description FROM pg_catalog.pg_description d "
					 "   WHERE d.objoid OPERATOR(pg_catalog.=) s.seqrelid "
					 "     AND d.classoid OPERATOR(pg_catalog.=) 'pg_catalog.pg_class'::pg_catalog.regclass "
					 "     AND d.objsubid OPERATOR(pg_catalog.=) 0), "
					 "  c.relacl "
					 "FROM pg_catalog.pg_sequence s JOIN pg_catalog.pg_class c ON c.oid OPERATOR(pg_catalog.=) s.seqrelid "
					 "WHERE s.seqrelid OPERATOR(pg_catalog.=) $1",
					 SPI_OK_SELECT, 1, seq_types, seq_values, NULL);
	if (SPI_processed != 1)
		return;
	/* columns 1 to 7: seq_type to seq_cycle */
	for (i = 0; i <= UPD_SEQ_CYCLE - UPD_SEQ_TYPE; i++)
	{
		update_values[UPD_SEQ_TYPE + i] = cu_spi_getdatum(0, 1 + i, &isnull);
		update_nulls[UPD_SEQ_TYPE + i] = isnull ? 'n' : ' ';
	}
	/* an identity's sequence is dropped: keep its comment and grants */
	if (target->identity)
	{
		update_values[UPD_SEQ_COMMENT] = cu_spi_getdatum(0, 8, &isnull);
		update_nulls[UPD_SEQ_COMMENT] = isnull ? 'n' : ' ';
		update_values[UPD_SEQ_ACL] = cu_spi_getdatum(0, 9, &isnull);
		update_nulls[UPD_SEQ_ACL] = isnull ? 'n' : ' ';
	}
}

/*
 * Record in table_id's registry row the key column and its sequence as
 * they are now (at integer state): type, identity, kind of default, the
 * sequence's name, parameters, comment, ACL and position, the strategy
 */
static void
update_registry_row(CuTarget *target, CuOptions *options, int table_id)
{
	Oid			update_types[UPD_NPARAMS] = {
		[UPD_TABLE_ID] = INT4OID,
		[UPD_COLUMN_NAME] = NAMEOID,
		[UPD_ORIGINAL_TYPE] = REGTYPEOID,
		[UPD_IDENTITY] = CHAROID,
		[UPD_DEFAULT_KIND] = TEXTOID,
		[UPD_SEQUENCE_SCHEMA] = NAMEOID,
		[UPD_SEQUENCE_NAME] = NAMEOID,
		[UPD_SEQ_TYPE] = REGTYPEOID,
		[UPD_SEQ_INCREMENT] = INT8OID,
		[UPD_SEQ_MIN] = INT8OID,
		[UPD_SEQ_MAX] = INT8OID,
		[UPD_SEQ_START] = INT8OID,
		[UPD_SEQ_CACHE] = INT8OID,
		[UPD_SEQ_CYCLE] = BOOLOID,
		[UPD_SEQ_COMMENT] = TEXTOID,
		[UPD_SEQ_ACL] = ACLITEMARRAYOID,
		[UPD_SEQ_LAST_VALUE] = INT8OID,
		[UPD_SEQ_VALUE] = INT8OID,
		[UPD_SEQ_IS_CALLED] = BOOLOID,
		[UPD_STRATEGY] = TEXTOID,
		[UPD_FULL_MAP] = BOOLOID,
		[UPD_TABLE_OID] = OIDOID,
	};
	Datum		update_values[UPD_NPARAMS] = {0};
	char		update_nulls[UPD_NPARAMS];
	Oid			defseq;
	char		kind = cu_registry_default_kind(target, &defseq);
	Oid			seqrel = OidIsValid(defseq) ? defseq : target->seqrelid;
	int			i;

	memset(update_nulls, ' ', sizeof(update_nulls));
	update_values[UPD_TABLE_ID] = Int32GetDatum(table_id);
	update_values[UPD_COLUMN_NAME] = DirectFunctionCall1(namein, CStringGetDatum(target->pkattname));
	update_values[UPD_ORIGINAL_TYPE] = ObjectIdGetDatum(target->pktypid);
	update_values[UPD_IDENTITY] = CharGetDatum(target->identity);
	update_values[UPD_DEFAULT_KIND] = CStringGetTextDatum(kind == CU_DEFAULT_IDENTITY ? "identity" :
														  kind == CU_DEFAULT_NEXTVAL ? "nextval" : "none");
	/* the sequence of the default, else the owned one */
	if (OidIsValid(seqrel))
	{
		update_values[UPD_SEQUENCE_SCHEMA] = DirectFunctionCall1(namein, CStringGetDatum(get_namespace_name(get_rel_namespace(seqrel))));
		update_values[UPD_SEQUENCE_NAME] = DirectFunctionCall1(namein, CStringGetDatum(get_rel_name(seqrel)));
	}
	else
		update_nulls[UPD_SEQUENCE_SCHEMA] = update_nulls[UPD_SEQUENCE_NAME] = 'n';
	/* the owned sequence's facts, NULL unless read below */
	for (i = UPD_SEQ_TYPE; i <= UPD_SEQ_IS_CALLED; i++)
		update_nulls[i] = 'n';
	if (OidIsValid(target->seqrelid))
	{
		read_sequence_position(target, update_values, update_nulls);
		read_sequence_parameters(target, update_values, update_nulls);
	}
	else
	{
		update_values[UPD_SEQ_LAST_VALUE] = Int64GetDatum(0);
		update_nulls[UPD_SEQ_LAST_VALUE] = ' ';
	}
	update_values[UPD_STRATEGY] = CStringGetTextDatum(cu_strategy_name(options->strategy));
	update_values[UPD_FULL_MAP] = BoolGetDatum((cu_full_map && !options->online) || options->strategy != CU_STRATEGY_V4);
	update_values[UPD_TABLE_OID] = ObjectIdGetDatum(target->relid);
	cu_spi_exec_args(psprintf("UPDATE %s SET column_name = $2, original_type = $3, identity = $4, "
							  "default_kind = $5, sequence_schema = $6, sequence_name = $7, "
							  "seq_type = $8, seq_increment = $9, seq_min = $10, seq_max = $11, "
							  "seq_start = $12, seq_cache = $13, seq_cycle = $14, seq_comment = $15, seq_acl = $16, "
							  "seq_last_value = GREATEST(seq_last_value, $17), seq_value = $18, seq_is_called = $19, "
							  "strategy = $20, full_map = $21, table_oid = $22 "
							  "WHERE table_id OPERATOR(pg_catalog.=) $1", ext_table("connector_uuid_tables")),
					 SPI_OK_UPDATE, UPD_NPARAMS, update_types, update_values, update_nulls);
}

/*
 * Record the integer referencing columns' own types and ON DELETE actions
 * (connector_uuid_columns): one row per column, the actions of its foreign
 * keys by name
 */
static void
register_columns(CuTarget *target, int table_id)
{
	char	   *ctbl = ext_table("connector_uuid_columns");
	Oid			column_types[9] = {INT4OID, NAMEOID, NAMEOID, NAMEOID, REGTYPEOID, CHAROID, TEXTOID, OIDOID, INT2OID};
	ListCell   *lc;

	foreach(lc, target->fkeys)
	{
		CuForeignKey *fk = lfirst(lc);
		Datum		column_values[9];

		if (fk->atttypid == UUIDOID)
			continue;
		column_values[0] = Int32GetDatum(table_id);
		column_values[1] = DirectFunctionCall1(namein, CStringGetDatum(fk->nspname));
		column_values[2] = DirectFunctionCall1(namein, CStringGetDatum(fk->relname));
		column_values[3] = DirectFunctionCall1(namein, CStringGetDatum(fk->attname));
		column_values[4] = ObjectIdGetDatum(fk->atttypid);
		column_values[5] = CharGetDatum(fk->orig_del_action);
		column_values[6] = CStringGetTextDatum(fk->conname);
		column_values[7] = ObjectIdGetDatum(fk->relid);
		column_values[8] = Int16GetDatum(fk->attnum);
		cu_spi_exec_args(psprintf("INSERT INTO %s AS c (table_id, schema_name, table_name, column_name, original_type, on_delete, "
								  "fk_on_delete, table_oid, column_number) "
								  "VALUES ($1, $2, $3, $4, $5, $6, pg_catalog.jsonb_build_object($7, $6::pg_catalog.text), $8, $9) "
								  "ON CONFLICT (table_id, schema_name, table_name, column_name) "
								  "DO UPDATE SET original_type = excluded.original_type, on_delete = excluded.on_delete, "
								  "fk_on_delete = COALESCE(c.fk_on_delete, '{}') OPERATOR(pg_catalog.||) excluded.fk_on_delete, "
								  "table_oid = excluded.table_oid, column_number = excluded.column_number", ctbl),
						 SPI_OK_INSERT, 9, column_types, column_values, NULL);
	}
}

/*
 * Make sure target has a registry row (table_id, taken under the locks, if
 * it has none; with a fresh random key) and record what a revert needs to
 * put the key column back as it was: type, identity, kind of default, the
 * sequence and its parameters, comment and ACL (an identity's sequence is
 * dropped with the identity), and how far it had got.  Only the integer
 * side is recorded; at uuid state those facts are kept as they were.
 * Returns the table id.
 */
int
cu_registry_register(CuTarget *target, CuOptions *options, int new_table_id)
{
	int			table_id = cu_registry_id(target->nspname, target->relname);
	bool		at_integer = cu_is_integer_type(target->pktypid);

	if (table_id == 0)
	{
		table_id = new_table_id;
		if (table_id <= 0)
			elog(ERROR, "no table id was taken for table \"%s\"", target->qualname);
		insert_registry_row(target, options, table_id, at_integer);
	}
	if (!at_integer)
		return table_id;
	update_registry_row(target, options, table_id);
	register_columns(target, table_id);
	return table_id;
}

/*
 * table_id's key, read from the registry into key (16 bytes), or an error if
 * there is no row or the key is not 16 bytes.  Caller is connected to SPI.
 */
void
cu_registry_key(int table_id, uint8 *key)
{
	Oid			argtypes[1] = {INT4OID};
	Datum		values[1];
	bool		isnull;
	bytea	   *k;

	values[0] = Int32GetDatum(table_id);
	cu_spi_exec_args(psprintf("SELECT id_key FROM %s WHERE table_id OPERATOR(pg_catalog.=) $1",
							  ext_table("connector_uuid_tables")),
					 SPI_OK_SELECT, 1, argtypes, values, NULL);
	if (SPI_processed != 1)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("connector_uuid registry has no row for table id %d", table_id)));
	k = DatumGetByteaPP(cu_spi_getdatum(0, 1, &isnull));
	if (isnull || VARSIZE_ANY_EXHDR(k) != 16)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_CORRUPTED),
				 errmsg("id map key of table id %d is damaged", table_id),
				 errdetail("connector_uuid_tables.id_key must be 16 bytes.")));
	memcpy(key, VARDATA_ANY(k), 16);
	SPI_freetuptable(SPI_tuptable);
}

/*
 * The check value (cu_key_check) of table_id's key, as 16 hex digits: what
 * the sync triggers carry to know their key (sync.c)
 */
char *
cu_registry_key_check(int table_id)
{
	uint8		key[16];

	cu_registry_key(table_id, key);
	return psprintf("%016llx", (unsigned long long) cu_key_check(key));
}

/* A foreign key action of the registry: a, r, c, n or d */
static bool
valid_action(const char *s)
{
	return s != NULL && strlen(s) == 1 && strchr("arcnd", s[0]) != NULL;
}

/*
 * The recorded original type and ON DELETE action of a referencing column
 * (by name; else, renamed since, by its table's OID and column number),
 * validated.  Returns false if the registry has no row for it.
 */
bool
cu_registry_column(int table_id, CuForeignKey *fk, Oid *typid, char *on_delete)
{
	Oid			argtypes[7] = {INT4OID, NAMEOID, NAMEOID, NAMEOID, OIDOID, INT2OID, TEXTOID};
	Datum		values[7];
	bool		isnull;
	char	   *col = psprintf("%s.%s", cu_qualify(fk->nspname, fk->relname), quote_identifier(fk->attname));
	Oid			t;
	char	   *action;

	values[0] = Int32GetDatum(table_id);
	values[1] = DirectFunctionCall1(namein, CStringGetDatum(fk->nspname));
	values[2] = DirectFunctionCall1(namein, CStringGetDatum(fk->relname));
	values[3] = DirectFunctionCall1(namein, CStringGetDatum(fk->attname));
	values[4] = ObjectIdGetDatum(fk->relid);
	values[5] = Int16GetDatum(fk->attnum);
	values[6] = CStringGetTextDatum(fk->conname);
	cu_spi_exec_args(psprintf("SELECT original_type::pg_catalog.oid, original_type, "
							  "  fk_on_delete OPERATOR(pg_catalog.->>) $7, on_delete::pg_catalog.text "
							  "FROM %s WHERE table_id OPERATOR(pg_catalog.=) $1 "
							  "AND ((schema_name OPERATOR(pg_catalog.=) $2 AND table_name OPERATOR(pg_catalog.=) $3 "
							  "      AND column_name OPERATOR(pg_catalog.=) $4) "
							  "     OR (table_oid OPERATOR(pg_catalog.=) $5 AND column_number OPERATOR(pg_catalog.=) $6)) "
							  "ORDER BY (table_name OPERATOR(pg_catalog.=) $3 AND column_name OPERATOR(pg_catalog.=) $4) DESC LIMIT 1",
							  ext_table("connector_uuid_columns")),
					 SPI_OK_SELECT, 7, argtypes, values, NULL);
	if (SPI_processed == 0)
		return false;
	t = (Oid) cu_spi_getint64(0, 1, &isnull);
	if (!cu_is_integer_type(t))
		refuse_fact(col, "connector_uuid_columns", "original_type", cu_spi_getstring(0, 2),
					"smallint, integer or bigint");
	/* this key's action by its name, else the column's */
	action = cu_spi_getstring(0, 3);
	if (action != NULL && !valid_action(action))
		refuse_fact(col, "connector_uuid_columns", "fk_on_delete", action,
					"one of a, r, c, n, d (no action, restrict, cascade, set null, set default)");
	if (action == NULL)
	{
		action = cu_spi_getstring(0, 4);
		if (action != NULL && action[0] != '\0' && !valid_action(action))
			refuse_fact(col, "connector_uuid_columns", "on_delete", action,
						"one of a, r, c, n, d (no action, restrict, cascade, set null, set default)");
	}
	/* every action recorded for the column must be one, not only this key's */
	{
		Oid			jtypes[7];
		char	   *bad;

		memcpy(jtypes, argtypes, sizeof(jtypes));
		cu_spi_exec_args(psprintf("SELECT pg_catalog.string_agg(pg_catalog.format('%%s: %%s', e.key, e.value), ', ' ORDER BY e.key) "
								  "FROM %s c, pg_catalog.jsonb_each(CASE WHEN pg_catalog.jsonb_typeof(c.fk_on_delete) "
								  "  OPERATOR(pg_catalog.=) 'object' THEN c.fk_on_delete "
								  "  ELSE pg_catalog.jsonb_build_object('', c.fk_on_delete) END) e "
								  "WHERE c.table_id OPERATOR(pg_catalog.=) $1 "
								  "AND ((c.schema_name OPERATOR(pg_catalog.=) $2 AND c.table_name OPERATOR(pg_catalog.=) $3 "
								  "      AND c.column_name OPERATOR(pg_catalog.=) $4) "
								  "     OR (c.table_oid OPERATOR(pg_catalog.=) $5 AND c.column_number OPERATOR(pg_catalog.=) $6)) "
								  "AND $7 IS NOT NULL AND c.fk_on_delete IS NOT NULL "
								  "AND (pg_catalog.jsonb_typeof(e.value) OPERATOR(pg_catalog.<>) 'string' "
								  "     OR (e.value #>> '{}') NOT IN ('a', 'r', 'c', 'n', 'd'))",
								  ext_table("connector_uuid_columns")),
						 SPI_OK_SELECT, 7, jtypes, values, NULL);
		bad = SPI_processed ? cu_spi_getstring(0, 1) : NULL;
		if (bad)
			refuse_fact(col, "connector_uuid_columns", "fk_on_delete", bad,
						"an object mapping each foreign key's name to one of a, r, c, n, d");
	}
	*typid = t;
	*on_delete = (action && action[0]) ? action[0] : '\0';
	return true;
}

/* The bounds of an identity sequence must make a sequence */
static void
validate_sequence(CuRegistry *r, const char *qualname)
{
	int64		tmin,
				tmax;
	char	   *what = "connector_uuid_tables";

	if (r->seq_null)
		refuse_fact(qualname, what, r->seq_null_column, NULL,
					"the identity sequence's type and parameters (seq_type to seq_cycle), none of them NULL");
	if (!cu_is_integer_type(r->seq_type))
		refuse_fact(qualname, what, "seq_type", format_type_be_qualified(r->seq_type), "smallint, integer or bigint");
	int_type_range(r->seq_type, &tmin, &tmax);
	if (r->seq_increment == 0)
		refuse_fact(qualname, what, "seq_increment", "0", "a non-zero increment");
	if (r->seq_min >= r->seq_max || r->seq_min < tmin || r->seq_max > tmax)
		refuse_fact(qualname, what, "seq_min, seq_max",
					psprintf(INT64_FORMAT ", " INT64_FORMAT, r->seq_min, r->seq_max),
					psprintf("seq_min below seq_max, both within the range of %s", format_type_be(r->seq_type)));
	if (r->seq_start < r->seq_min || r->seq_start > r->seq_max)
		refuse_fact(qualname, what, "seq_start", psprintf(INT64_FORMAT, r->seq_start),
					psprintf("a start between seq_min (" INT64_FORMAT ") and seq_max (" INT64_FORMAT ")",
							 r->seq_min, r->seq_max));
	if (r->seq_cache < 1)
		refuse_fact(qualname, what, "seq_cache", psprintf(INT64_FORMAT, r->seq_cache), "a cache of at least 1");
}

/*
 * The GRANTs that give the identity sequence created again under seqqual
 * (owned by owner) the ACL the old one had: REVOKE from the owner, then
 * each grant, a grant that depends on another after it, and GRANTED BY its
 * grantor when that is not the owner and the converting role can act as it
 * (as catalog.c's cu_grants does).  Every role must still exist and every
 * privilege be one a sequence has.
 */
static List *
sequence_grants(CuRegistry *r, const char *qualname, const char *seqqual, Oid owner)
{
	Oid			argtypes[2] = {ACLITEMARRAYOID, OIDOID};
	Datum		values[2];
	List	   *stmts = NIL;
	char	   *ownername = GetUserNameFromId(owner, false);
	uint64		i;

	values[0] = r->seq_acl;
	values[1] = ObjectIdGetDatum(owner);
	cu_spi_exec_args("WITH RECURSIVE acl AS (SELECT a.grantor, a.grantee, a.privilege_type, a.is_grantable "
					 "                       FROM pg_catalog.aclexplode($1) a), "
					 "chain(grantor, grantee, privilege_type, is_grantable, depth) AS ("
					 "  SELECT acl.grantor, acl.grantee, acl.privilege_type, acl.is_grantable, 0 "
					 "  FROM acl WHERE acl.grantor OPERATOR(pg_catalog.=) $2 "
					 "  UNION ALL SELECT acl.grantor, acl.grantee, acl.privilege_type, acl.is_grantable, "
					 "    chain.depth OPERATOR(pg_catalog.+) 1 "
					 "  FROM acl JOIN chain ON acl.grantor OPERATOR(pg_catalog.=) chain.grantee "
					 "    AND acl.privilege_type OPERATOR(pg_catalog.=) chain.privilege_type AND chain.is_grantable "
					 "  WHERE chain.depth OPERATOR(pg_catalog.<) 8) "
					 "SELECT acl.privilege_type, acl.grantee, acl.grantor, acl.is_grantable "
					 "FROM acl "
					 "ORDER BY (SELECT pg_catalog.min(ch.depth) FROM chain ch "
					 "          WHERE ch.grantor OPERATOR(pg_catalog.=) acl.grantor "
					 "            AND ch.grantee OPERATOR(pg_catalog.=) acl.grantee "
					 "            AND ch.privilege_type OPERATOR(pg_catalog.=) acl.privilege_type) NULLS LAST, "
					 "         acl.grantee, acl.privilege_type",
					 SPI_OK_SELECT, 2, argtypes, values, NULL);
	stmts = lappend(stmts, psprintf("REVOKE ALL ON SEQUENCE %s FROM %s", seqqual, quote_identifier(ownername)));
	for (i = 0; i < SPI_processed; i++)
	{
		char	   *priv = cu_spi_getstring(i, 1);
		bool		isnull;
		Oid			grantee = (Oid) cu_spi_getint64(i, 2, &isnull);
		Oid			grantor = (Oid) cu_spi_getint64(i, 3, &isnull);
		bool		grantable = cu_spi_getbool(i, 4, &isnull);
		const char *word;
		char	   *granteename;
		char	   *grantorname;
		char	   *granted_by = "";

		/* the words are ours; the row only chooses among them */
		if (strcmp(priv, "SELECT") == 0)
			word = "SELECT";
		else if (strcmp(priv, "UPDATE") == 0)
			word = "UPDATE";
		else if (strcmp(priv, "USAGE") == 0)
			word = "USAGE";
		else
		{
			refuse_fact(qualname, "connector_uuid_tables", "seq_acl", priv,
						"the privileges a sequence has: SELECT, UPDATE, USAGE");
			word = NULL;
		}
		granteename = grantee == InvalidOid ? "PUBLIC" : GetUserNameFromId(grantee, true);
		grantorname = GetUserNameFromId(grantor, true);
		if (granteename == NULL || grantorname == NULL)
			refuse_fact(qualname, "connector_uuid_tables", "seq_acl",
						psprintf("a grant by role %u to role %u", grantor, grantee),
						"grants between roles that exist");
#if PG_VERSION_NUM >= 140000
		if (grantor != owner && is_member_of_role(GetUserId(), grantor))
			granted_by = psprintf(" GRANTED BY %s", quote_identifier(grantorname));
#endif
		stmts = lappend(stmts, psprintf("GRANT %s ON SEQUENCE %s TO %s%s%s", word, seqqual,
										grantee == InvalidOid ? "PUBLIC" : quote_identifier(granteename),
										grantable ? " WITH GRANT OPTION" : "", granted_by));
	}
	return stmts;
}

/*
 * Read table_id's registry row for the revert of t, validate every fact,
 * and build from them the SQL the revert runs: the key's type, its default,
 * its identity with the sequence's name and parameters, the sequence's
 * comment and grants.  With connector_uuid.revert_to_bigint the key (and
 * an identity's sequence) becomes bigint instead of the recorded type.
 * Returns NULL if there is no row.  Refuses, before anything has changed,
 * a row that does not validate.
 */
CuRegistry *
cu_registry_read(int table_id, CuTarget *t)
{
	CuRegistry *r;
	Oid			argtypes[1] = {INT4OID};
	Datum		values[1];
	bool		isnull;
	char	   *s;
	int			i;
	char	   *tbl = "connector_uuid_tables";

	values[0] = Int32GetDatum(table_id);
	cu_spi_exec_args(psprintf("SELECT original_type::pg_catalog.oid, original_type, identity::pg_catalog.text, default_kind, "
							  "  sequence_schema, sequence_name, seq_type::pg_catalog.oid, seq_increment, seq_min, seq_max, "
							  "  seq_start, seq_cache, seq_cycle, seq_comment, seq_acl, strategy, full_map "
							  "FROM %s WHERE table_id OPERATOR(pg_catalog.=) $1", ext_table(tbl)),
					 SPI_OK_SELECT, 1, argtypes, values, NULL);
	if (SPI_processed != 1)
		return NULL;
	r = palloc0(sizeof(CuRegistry));
	r->table_id = table_id;

	r->original_type = (Oid) cu_spi_getint64(0, 1, &isnull);
	if (!cu_is_integer_type(r->original_type))
		refuse_fact(t->qualname, tbl, "original_type", cu_spi_getstring(0, 2), "smallint, integer or bigint");

	s = cu_spi_getstring(0, 3);
	if (s == NULL || strlen(s) > 1 || (s[0] != '\0' && s[0] != 'a' && s[0] != 'd'))
		refuse_fact(t->qualname, tbl, "identity", s ? quote_literal_cstr(s) : NULL,
					"'' (none), 'a' (GENERATED ALWAYS) or 'd' (GENERATED BY DEFAULT)");
	r->identity = s[0];

	s = cu_spi_getstring(0, 4);
	if (s && strcmp(s, "none") == 0)
		r->default_kind = CU_DEFAULT_NONE;
	else if (s && strcmp(s, "nextval") == 0)
		r->default_kind = CU_DEFAULT_NEXTVAL;
	else if (s && strcmp(s, "identity") == 0)
		r->default_kind = CU_DEFAULT_IDENTITY;
	else
		refuse_fact(t->qualname, tbl, "default_kind", s ? quote_literal_cstr(s) : NULL,
					"'none', 'nextval' or 'identity'");
	if ((r->default_kind == CU_DEFAULT_IDENTITY) != (r->identity != '\0'))
		refuse_fact(t->qualname, tbl, "default_kind", quote_literal_cstr(s),
					psprintf("'identity' exactly when identity is 'a' or 'd' (it is %s)",
							 quote_literal_cstr(r->identity ? psprintf("%c", r->identity) : "")));

	s = cu_spi_getstring(0, 5);
	r->seq_nspname = s ? pstrdup(s) : NULL;
	s = cu_spi_getstring(0, 6);
	r->seq_relname = s ? pstrdup(s) : NULL;
	if ((r->seq_nspname == NULL) != (r->seq_relname == NULL))
		refuse_fact(t->qualname, tbl, "sequence_schema, sequence_name",
					psprintf("%s, %s", r->seq_nspname ? r->seq_nspname : "NULL", r->seq_relname ? r->seq_relname : "NULL"),
					"both set or both NULL");

	for (i = 13; i >= 7; i--)
	{
		(void) cu_spi_getdatum(0, i, &isnull);
		if (isnull)
		{
			r->seq_null = true;
			r->seq_null_column = SPI_fname(SPI_tuptable->tupdesc, i);
		}
	}
	r->seq_type = (Oid) cu_spi_getint64(0, 7, &isnull);
	r->seq_increment = cu_spi_getint64(0, 8, &isnull);
	r->seq_min = cu_spi_getint64(0, 9, &isnull);
	r->seq_max = cu_spi_getint64(0, 10, &isnull);
	r->seq_start = cu_spi_getint64(0, 11, &isnull);
	r->seq_cache = cu_spi_getint64(0, 12, &isnull);
	r->seq_cycle = cu_spi_getbool(0, 13, &isnull);
	s = cu_spi_getstring(0, 14);
	r->seq_comment = s ? pstrdup(s) : NULL;
	r->seq_acl = cu_spi_getdatum(0, 15, &isnull);
	if (isnull)
		r->seq_acl = (Datum) 0;
	else
		r->seq_acl = PointerGetDatum(DatumGetArrayTypePCopy(r->seq_acl));
	s = cu_spi_getstring(0, 16);
	r->strategy = s ? cu_strategy_from_name(s) : CU_STRATEGY_NONE;
	if (r->strategy == CU_STRATEGY_NONE)
		refuse_fact(t->qualname, tbl, "strategy", s ? quote_literal_cstr(s) : NULL, "'v4', 'v5' or 'v7'");
	r->full_map = cu_spi_getbool(0, 17, &isnull);

	/* the key type the revert gives */
	r->revert_type = cu_revert_to_bigint ? INT8OID : r->original_type;

	if (r->default_kind == CU_DEFAULT_NEXTVAL)
	{
		Oid			seqrelid;

		if (r->seq_relname == NULL)
			refuse_fact(t->qualname, tbl, "sequence_name", NULL, "the sequence of the nextval default");
		seqrelid = cu_lookup_table(r->seq_nspname, r->seq_relname);
		if (!OidIsValid(seqrelid) || get_rel_relkind(seqrelid) != RELKIND_SEQUENCE)
			ereport(ERROR,
					(errcode(ERRCODE_UNDEFINED_OBJECT),
					 errmsg("sequence \"%s.%s\" of the default of table \"%s\" does not exist",
							r->seq_nspname, r->seq_relname, t->qualname),
					 errdetail("connector_uuid_tables records the key's default as nextval of that sequence."),
					 errhint("Create the sequence again (or set default_kind to 'none' in the table's registry row to revert without a default), then try again.")));
		r->default_sql = psprintf("pg_catalog.nextval(%s::pg_catalog.regclass)",
								  quote_literal_cstr(cu_qualify(r->seq_nspname, r->seq_relname)));
	}

	if (r->identity)
	{
		StringInfoData buf;
		char	   *seqqual = NULL;
		Oid			seqtype;
		int64		smin = r->seq_min,
					smax = r->seq_max;

		validate_sequence(r, t->qualname);
		if (r->seq_relname)
		{
			Oid			nsp = get_namespace_oid(r->seq_nspname, true);

			seqqual = cu_qualify(r->seq_nspname, r->seq_relname);
			if (!OidIsValid(nsp))
				ereport(ERROR,
						(errcode(ERRCODE_UNDEFINED_SCHEMA),
						 errmsg("schema \"%s\" of the identity sequence of table \"%s\" does not exist",
								r->seq_nspname, t->qualname),
						 errhint("Create the schema again, then try again.")));
			if (OidIsValid(get_relname_relid(r->seq_relname, nsp)))
				ereport(ERROR,
						(errcode(ERRCODE_DUPLICATE_TABLE),
						 errmsg("relation \"%s\" already exists", seqqual),
						 errdetail("The revert creates the identity sequence of table \"%s\" under that name again.", t->qualname),
						 errhint("Rename or drop that relation, then try again.")));
		}
		/* a bigint revert: a sequence that ran to its type's end runs on to bigint's */
		seqtype = r->seq_type;
		if (cu_revert_to_bigint && seqtype != INT8OID)
		{
			int64		tmin,
						tmax;

			int_type_range(seqtype, &tmin, &tmax);
			if (smax == tmax)
				smax = PG_INT64_MAX;
			if (smin == tmin)
				smin = PG_INT64_MIN;
			seqtype = INT8OID;
		}
		r->seq_max_after = smax;
		initStringInfo(&buf);
		appendStringInfo(&buf, "ALTER TABLE %s ALTER COLUMN %s ADD GENERATED %s AS IDENTITY (",
						 t->qualname, quote_identifier(t->pkattname),
						 r->identity == 'a' ? "ALWAYS" : "BY DEFAULT");
		if (seqqual)
			appendStringInfo(&buf, "SEQUENCE NAME %s ", seqqual);
		/* (an identity's sequence takes the column's type: AS is not allowed here) */
		appendStringInfo(&buf, "INCREMENT BY " INT64_FORMAT " MINVALUE " INT64_FORMAT
						 " MAXVALUE " INT64_FORMAT " START WITH " INT64_FORMAT " CACHE " INT64_FORMAT " %s)",
						 r->seq_increment, smin, smax, r->seq_start, r->seq_cache,
						 r->seq_cycle ? "CYCLE" : "NO CYCLE");
		r->identity_sql = buf.data;
		if (seqqual && seqtype != r->revert_type)
			r->seq_after_sql = lappend(r->seq_after_sql,
									   psprintf("ALTER SEQUENCE %s AS %s", seqqual, cu_type_name(seqtype)));

		/* the new sequence: the old one's comment and grants */
		if (seqqual)
		{
			if (r->seq_comment)
				r->seq_after_sql = lappend(r->seq_after_sql,
										   psprintf("COMMENT ON SEQUENCE %s IS %s", seqqual,
													quote_literal_cstr(r->seq_comment)));
			if (r->seq_acl != (Datum) 0)
				r->seq_after_sql = list_concat(r->seq_after_sql,
											   sequence_grants(r, t->qualname, seqqual,
															   cu_rel_owner(t->relid)));
		}
	}
	return r;
}

/*
 * The strategy a table was converted with, from its registry row
 * (CU_STRATEGY_NONE if it has none).  Read from the registry alone: the map
 * is read only once the locks are held.
 */
CuStrategy
cu_registry_strategy(int table_id)
{
	Oid			argtypes[1] = {INT4OID};
	Datum		values[1];
	char	   *s;

	values[0] = Int32GetDatum(table_id);
	cu_spi_exec_args(psprintf("SELECT r.strategy FROM %s r WHERE r.table_id OPERATOR(pg_catalog.=) $1",
							  ext_table("connector_uuid_tables")),
					 SPI_OK_SELECT, 1, argtypes, values, NULL);
	if (SPI_processed != 1 || (s = cu_spi_getstring(0, 1)) == NULL)
		return CU_STRATEGY_NONE;
	return cu_strategy_from_name(s);
}

/*
 * The type a revert gives a referencing column: as recorded at the upgrade
 * (validated), bigint with connector_uuid.revert_to_bigint, fallback if the
 * column has no record.
 */
char *
cu_registry_column_type(int table_id, CuForeignKey *fk, const char *fallback)
{
	Oid			typid;
	char		on_delete;

	if (cu_revert_to_bigint)
		return cu_type_name(INT8OID);
	if (cu_registry_column(table_id, fk, &typid, &on_delete))
		return cu_type_name(typid);
	return pstrdup(fallback);
}
