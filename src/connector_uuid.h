/*-------------------------------------------------------------------------
 *
 * connector_uuid.h
 *	  Declarations shared by the connector_uuid source files: the discovered
 *	  catalog picture of a conversion, the plan built from it, and the
 *	  helpers each phase offers the others.
 *
 * The engine works in two phases.  catalog.c discovers the primary key
 * table, every foreign key referencing it and the views in the way;
 * plan.c turns that into an ordered list of steps, each with its SQL and the
 * lock it takes; executor.c runs the list.  connector_uuid_plan() prints the
 * very list the executor would run.
 *
 * IDENTIFICATION
 *	  src/connector_uuid.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef CONNECTOR_UUID_H
#define CONNECTOR_UUID_H

#include "postgres.h"

#include "access/attnum.h"
#include "lib/stringinfo.h"
#include "nodes/pg_list.h"
#include "storage/lockdefs.h"
#include "utils/uuid.h"

/* Direction of a conversion */
typedef enum CuDirection
{
	CU_TO_UUID,					/* integer -> uuid: the 1.0 -> 2.0 upgrade */
	CU_TO_INT					/* uuid -> integer: the 2.0 -> 1.0 downgrade */
} CuDirection;

/* What the tables look like right now */
typedef enum CuTableState
{
	CU_STATE_MISSING,			/* the primary key table does not exist */
	CU_STATE_INTEGER,			/* key and every reference are integers */
	CU_STATE_UUID,				/* key and every reference are uuids */
	CU_STATE_MIXED				/* anything else: half converted */
} CuTableState;

/* A single-column foreign key that references the converted key */
typedef struct CuForeignKey
{
	Oid			conoid;
	Oid			relid;			/* referencing table */
	char	   *nspname;
	char	   *relname;
	char	   *conname;
	AttrNumber	attnum;
	char	   *attname;
	Oid			atttypid;		/* current type of the referencing column */
	char		upd_action;		/* pg_constraint.confupdtype */
	char		del_action;		/* pg_constraint.confdeltype, as it will be */
	char		orig_del_action;	/* as it is now */
	char		match_type;		/* pg_constraint.confmatchtype */
	bool		deferrable;
	bool		deferred;
	bool		validated;
	bool		synthetic;		/* expected but missing: to be created */
	char	   *set_columns;	/* ON DELETE SET NULL/DEFAULT (cols), or NULL */
	char	   *comment;		/* COMMENT ON CONSTRAINT, or NULL */
	List	   *triggers;		/* of CuFkTrigger: those not enabled as usual */
} CuForeignKey;

/* A trigger of a foreign key whose state is not the default (enabled) */
typedef struct CuFkTrigger
{
	Oid			relid;			/* table the trigger is on */
	char	   *nspname;		/* and its name (a rebuilt table has a new OID) */
	char	   *relname;
	Oid			funcid;			/* RI_FKey_check_ins and the like */
	int16		tgtype;
	char		enabled;		/* pg_trigger.tgenabled: D, R or A */
} CuFkTrigger;

/* A view or materialized view that must be dropped and recreated */
typedef struct CuView
{
	Oid			relid;
	char		relkind;
	char	   *nspname;
	char	   *relname;
	int			depth;			/* 0 = reads a converted column directly */
	char	   *drop_sql;		/* DROP ... */
	char	   *create_sql;		/* CREATE VIEW / MATERIALIZED VIEW / POLICY / TRIGGER */
	List	   *after_sql;		/* owner, options, grants, comments, indexes */
} CuView;

/* A partition of a hash-partitioned key table (partition.c) */
typedef struct CuLeaf
{
	Oid			relid;
	char	   *nspname;
	char	   *relname;
	int			modulus;
	int			remainder;
	bool		has_default;	/* a default of its own on the key column */
	char		identity;		/* its own identity on the key column */
} CuLeaf;

/* A column whose type a rewrite changes: its new type and USING expression */
typedef struct CuRewriteColumn
{
	char	   *attname;
	char	   *newtype;
	char	   *using_expr;
} CuRewriteColumn;

/* Everything discovered about one conversion */
typedef struct CuTarget
{
	Oid			relid;			/* primary key table */
	char	   *nspname;
	char	   *relname;
	char	   *qualname;		/* quoted, schema-qualified */
	Oid			pkconoid;
	char	   *pkconname;
	AttrNumber	pkattnum;
	char	   *pkattname;
	Oid			pktypid;		/* current type of the key column */
	char		identity;		/* attidentity: '', 'a' or 'd' */
	char	   *default_expr;	/* current default, fully qualified, or NULL */
	Oid			seqrelid;		/* owned (serial or identity) sequence */
	char	   *seqqualname;
	List	   *fkeys;			/* of CuForeignKey */
	List	   *views;			/* of CuView, in drop order */
	bool		partitioned;	/* partitioned by HASH of the key */
	List	   *leaves;			/* of CuLeaf, in OID order */
	double		reltuples;
	int64		total_bytes;
} CuTarget;

/* Options of a conversion */
typedef struct CuOptions
{
	bool		force_cascade;	/* set ON DELETE CASCADE on every FK */
	bool		connector;		/* the mcp_connectors upgrade: md5, alembic */
	const char *strategy;		/* "v4", "v5" or "v7" */
	bool		strategy_given;	/* passed as an argument, not a setting */
	const char *namespace_uuid; /* v5: the namespace, as text */
	const char *ts_column;		/* v7: column giving each row's time, or NULL */
	int			reserved_table_id;	/* a new table's id, taken under the locks
									 * (registry.c), or 0: predicted only */
} CuOptions;

/* One step of a plan */
typedef enum CuStepKind
{
	CU_STEP_LOCK,				/* take a lock, with timeout and retries */
	CU_STEP_SQL,				/* run sql through SPI */
	CU_STEP_FKEY,				/* add a foreign key, validation per proof */
	CU_STEP_INTERNAL			/* a C action: register, load map, stamp */
} CuStepKind;

typedef enum CuInternalAction
{
	CU_ACT_NONE,
	CU_ACT_REGISTER,			/* write the table's row in the registry */
	CU_ACT_LOAD_EXCEPTIONS,		/* load non-derived map rows into memory */
	CU_ACT_FINISH,				/* set the registry state, history row */
	CU_ACT_FK_TRIGGERS,			/* set a re-added foreign key's triggers as
								 * they were (disabled, replica, always) */
	CU_ACT_EXPECT_NONE,			/* run sql, a count, and fail unless it is 0 */
	CU_ACT_CHECK_RANGE			/* revert: the new integers fit (plan.c) */
} CuInternalAction;

/* A relation a step touches and the lock mode the statement takes on it */
typedef struct CuLock
{
	Oid			relid;
	LOCKMODE	mode;
} CuLock;

typedef struct CuStep
{
	CuStepKind	kind;
	CuInternalAction action;
	Oid			relid;			/* table the step works on, or InvalidOid */
	char	   *relname;		/* for display */
	char	   *sql;			/* the statement (display text for others) */
	LOCKMODE	lockmode;		/* the lock it takes on relid (NoLock: none
								 * on a relation that exists when planned) */
	List	   *locks;			/* of CuLock: every pre-existing relation it
								 * locks, relid included (lock phase, checks) */
	bool		skip_validation;	/* CU_STEP_FKEY: proven valid */
	bool		row_lock;		/* CU_STEP_LOCK: run sql (which locks rows
								 * FOR UPDATE) instead of locking the table
								 * in ACCESS EXCLUSIVE mode */
	bool		rewrites;		/* rewrites the table: report rows */
	CuForeignKey *fkey;			/* CU_ACT_FK_TRIGGERS: its foreign key */
	Oid			run_as;			/* run as this role (a table's owner) under
								 * SECURITY_RESTRICTED_OPERATION, because the
								 * step runs the application's code; or
								 * InvalidOid: as the converting role */
} CuStep;

typedef struct CuPlan
{
	CuDirection direction;
	CuTarget   *target;
	CuOptions  *options;
	CuTableState state;
	int			table_id;		/* registry id, or 0 if none yet */
	bool		table_id_predicted; /* a new table's id, not yet taken */
	Oid			int_type;		/* revert: the key's integer type */
	int64		seq_max;		/* revert: the sequence's top after it, or 0 */
	bool		registered;		/* the table had a registry row: converted before */
	List	   *steps;			/* of CuStep */
	List	   *notes;			/* char *: adoption and other messages */
	bool		adopt;			/* tables already in the target state */
	const char *strategy;		/* of the ids: the option, or the registry's */
	Oid			alembic_relid;	/* connector: alembic_version to stamp, or 0 */
	char	   *alembic_sql;	/* its UPDATE */
} CuPlan;

/* A column whose type a conversion changes, for the dry run (probe.c) */
typedef struct CuProbeColumn
{
	Oid			relid;
	char	   *attname;
	char	   *newtype;		/* SQL type name */
	bool		is_key;			/* the key: its default is replaced, not kept */
} CuProbeColumn;

/* Kinds of key default the registry records (default_kind) */
#define CU_DEFAULT_NONE		'n'
#define CU_DEFAULT_NEXTVAL	's'
#define CU_DEFAULT_IDENTITY	'i'

/* A table's registry row, validated, and the SQL built from it (registry.c) */
typedef struct CuRegistry
{
	int			table_id;
	Oid			original_type;	/* INT2OID, INT4OID or INT8OID */
	Oid			revert_type;	/* original_type, or bigint (revert_to_bigint) */
	char		identity;		/* '\0', 'a' or 'd' */
	char		default_kind;	/* CU_DEFAULT_* */
	char	   *seq_nspname;	/* the sequence (of the default, or owned) */
	char	   *seq_relname;
	bool		seq_null;		/* some sequence parameter is NULL: */
	char	   *seq_null_column;	/* the first */
	Oid			seq_type;
	int64		seq_increment;
	int64		seq_min;
	int64		seq_max;
	int64		seq_start;
	int64		seq_cache;
	bool		seq_cycle;
	char	   *seq_comment;
	Datum		seq_acl;		/* aclitem[], or 0 */
	char	   *strategy;
	bool		full_map;
	int64		seq_max_after;	/* identity: its sequence's top after the revert */
	char	   *default_sql;	/* nextval(...), or NULL */
	char	   *identity_sql;	/* ALTER TABLE ... ADD GENERATED ..., or NULL */
	List	   *seq_after_sql;	/* the identity sequence's comment and grants */
} CuRegistry;

/* One row of connector_uuid_verify() */
typedef struct CuCheck
{
	char	   *item;
	bool		passed;
	char	   *detail;
} CuCheck;

/* settings (entry.c) */
extern int	cu_lock_timeout_ms;
extern int	cu_lock_retries;
extern bool cu_revalidate_fkeys;
extern bool cu_allow_renumber;
extern bool cu_full_map;
extern bool cu_revert_to_bigint;
extern int	cu_progress_level;
extern int	cu_strategy;
extern char *cu_namespace;
extern char *cu_timestamp_column;

#define CU_STRATEGY_V4	4
#define CU_STRATEGY_V5	5
#define CU_STRATEGY_V7	7

/* catalog.c */
extern Oid	cu_extension_schema(void);
extern char *cu_extension_schema_name(void);
extern Oid	cu_uuid_ossp_schema(void);
extern CuTarget *cu_discover(Oid relid);
extern Oid	cu_lookup_table(const char *nspname, const char *relname);
extern List *cu_grants(List *list, Oid relid, const char *qual, const char *grantkind, bool columns);
extern List *cu_comment_and_grants(List *list, Oid relid, const char *qual, const char *kind);
extern List *cu_index_comments(List *list, Oid relid, const char *qual);
extern CuTableState cu_table_state(CuTarget *target, char **detail);
extern char *cu_type_name(Oid typid);
extern char *cu_fk_action_sql(char action);
extern bool cu_is_integer_type(Oid typid);

/* What became of the connector's MD5 secret index */
typedef enum CuMd5State
{
	CU_MD5_MISSING,
	CU_MD5_NOT_UNIQUE,
	CU_MD5_NOT_VALID,
	CU_MD5_WRONG_SHAPE,			/* not md5(secret::text) WHERE secret IS NOT NULL */
	CU_MD5_OK
} CuMd5State;

#define CONNECTOR_MD5_INDEX		"uq_mcp_connectors_secret_md5"
extern CuMd5State cu_md5_index_state(Oid relid);

/* views.c */
extern List *cu_discover_views(CuTarget *target);

/* plan.c */
extern CuPlan *cu_build_plan(Oid relid, CuDirection direction, CuOptions *options);
extern void cu_plan_add(CuPlan *plan, CuStepKind kind, Oid relid,
						const char *relname, LOCKMODE mode, char *sql);
extern void cu_step_lock(CuStep *step, Oid relid, LOCKMODE mode);
extern void cu_step_lock_tree(CuStep *step, Oid relid, LOCKMODE mode);
extern void cu_step_lock_refs(CuStep *step, Oid classid, Oid objid, Oid except, LOCKMODE mode);
extern void cu_check_new_ids(CuPlan *plan);

/* executor.c */
extern void cu_execute_plan(CuPlan *plan);
extern CuPlan *cu_lock_and_replan(Oid relid, CuDirection direction, CuOptions *opt);
extern void cu_report_progress(const char *fmt,...) pg_attribute_printf(1, 2);
extern void cu_progress_done(void);

/* locking.c */
extern void cu_lock_steps(List *steps);
extern bool cu_lock_held(Oid relid, LOCKMODE mode);
extern bool cu_lock_covers(LOCKMODE held, LOCKMODE need);
extern LOCKMODE cu_lock_combine(LOCKMODE a, LOCKMODE b);
extern int	cu_lock_budget_ms(void);
extern const char *cu_lock_name(LOCKMODE mode);
extern const char *cu_rel_kind_name(Oid relid);

/* idgen.c */
extern void cu_random_key(uint8 *key);
extern void cu_derive_uuid(const uint8 *key, int64 old_id, pg_uuid_t *out);
extern bool cu_underive_uuid(const uint8 *key, const pg_uuid_t *in, int64 *old_id);
extern void cu_make_v7(int64 unix_ms, uint64 low74_hi10, uint64 low74_lo64, pg_uuid_t *out);

/* registry.c */
extern int	cu_registry_id(const char *nspname, const char *relname);
extern int	cu_registry_predict_id(void);
extern int	cu_registry_take_id(void);
extern char cu_registry_default_kind(CuTarget *t, Oid *seqrelid);
extern int	cu_registry_register(CuTarget *target, CuOptions *options, int new_table_id);
extern bool cu_registry_column(int table_id, CuForeignKey *fk, Oid *typid, char *on_delete);
extern CuRegistry *cu_registry_read(int table_id, CuTarget *t);
extern int64 cu_int_type_max(Oid typid);

/* idmap.c */
extern void cu_idmap_activate(int table_id, CuDirection direction, const char *qualname);
extern void cu_idmap_deactivate(void);

/* partition.c */
extern void cu_partition_discover(CuTarget *target);
extern void cu_partition_check(CuPlan *plan);
extern void cu_plan_partitioned_rewrite(CuPlan *plan, const char *newtype,
										const char *newdefault, const char *key_using,
										List *selfcols);

/* privcheck.c */
extern void cu_check_privileges(CuPlan *plan);

/* softref.c */
extern List *cu_soft_references(Oid relid, List *skip);
extern List *cu_softref_notes(List *notes, CuTarget *target);

/* probe.c */
extern void cu_probe_type_change(List *columns);

/* verify.c */
extern List *cu_verify(bool thorough);

/* spi_util.c */
extern void cu_spi_exec(const char *sql, int expected);
extern void cu_spi_exec_args(const char *sql, int expected, int nargs,
							 Oid *argtypes, Datum *values, const char *nulls);
extern char *cu_spi_getstring(int row, int col);
extern bool cu_spi_getbool(int row, int col, bool *isnull);
extern int64 cu_spi_getint64(int row, int col, bool *isnull);
extern Datum cu_spi_getdatum(int row, int col, bool *isnull);
extern List *cu_spi_collect(List *list, const char *sql, Oid relid, const char *qualname);
extern char *cu_qualify(const char *nspname, const char *relname);
extern int	cu_safe_search_path(void);

/* A security context entered by cu_enter() (spi_util.c) */
typedef struct CuContext
{
	Oid			save_userid;
	int			save_sec;
	int			nestlevel;
	bool		switched;		/* running as another role */
} CuContext;

extern void cu_enter(CuContext *cx, Oid run_as, int sec_flags);
extern void cu_leave(CuContext *cx);
extern Oid	cu_rel_owner(Oid relid);
extern Oid	cu_reader_of(Oid a, Oid b);
extern void cu_prime_index_expressions(Oid relid);
extern Oid	cu_lookup_plain_table(const char *nspname, const char *relname);
extern char *cu_enabled_event_triggers(void);
extern void cu_event_trigger_hint(ErrorData *edata, const char *evtnames, bool as_owner);

#endif							/* CONNECTOR_UUID_H */
