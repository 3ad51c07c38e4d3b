/*-------------------------------------------------------------------------
 *
 * plan.h
 *	  A migration plan: the step type (steps.c), the plan of one conversion
 *	  (plan.c), and the files that add steps to it or refuse it
 *	  (preflight.c, privcheck.c, probe.c, connector.c, partition.c,
 *	  dependents.c).
 *
 * IDENTIFICATION
 *	  src/plan.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef CU_PLAN_H
#define CU_PLAN_H

#include "catalog.h"

/* What a step is */
typedef enum CuStepKind
{
	CU_STEP_LOCK,				/* take a lock, with timeout and retries */
	CU_STEP_SQL,				/* run sql through SPI */
	CU_STEP_FKEY,				/* add a foreign key, validation per proof */
	CU_STEP_INTERNAL			/* a C action: register, load map, stamp */
} CuStepKind;

/* The C action of a CU_STEP_INTERNAL step */
typedef enum CuInternalAction
{
	CU_ACT_NONE,
	CU_ACT_REGISTER,			/* write the table's row in the registry */
	CU_ACT_LOAD_EXCEPTIONS,		/* load non-derived map rows into memory */
	CU_ACT_FINISH,				/* set the registry state, history row */
	CU_ACT_FK_TRIGGERS,			/* set a re-added foreign key's triggers as
								 * they were (disabled, replica, always) */
	CU_ACT_EXPECT_NONE,			/* run sql, a count, and fail unless it is 0 */
	CU_ACT_CHECK_RANGE,			/* revert: the new integers fit (preflight.c) */
	CU_ACT_SWAP_KEY				/* online swap: the primary key becomes
								 * swap_from's unique constraint's twin
								 * (keyswap.c) */
} CuInternalAction;

/* A relation a step touches and the lock mode the statement takes on it */
typedef struct CuLock
{
	Oid			relid;
	LOCKMODE	mode;
} CuLock;

/* One step of a plan */
typedef struct CuStep
{
	CuStepKind	kind;
	CuInternalAction action;
	Oid			relid;			/* table the step works on, or InvalidOid */
	char	   *relname;		/* for display */
	char	   *description;	/* one line in words, for the plan, progress
								 * and the server log */
	char	   *sql;			/* the statement, or NULL (internal steps) */
	int			spi_ok;			/* CU_STEP_SQL: the SPI_OK_* code it returns */
	LOCKMODE	lockmode;		/* the lock it takes on relid (NoLock: none
								 * on a relation that exists when planned) */
	List	   *locks;			/* of CuLock: every pre-existing relation it
								 * locks, relid included (lock phase, checks) */
	bool		skip_validation;	/* CU_STEP_FKEY: proven valid */
	bool		row_lock;		/* CU_STEP_LOCK: run sql (which locks rows
								 * FOR UPDATE) instead of locking the table */
	bool		rewrites;		/* rewrites the table: report rows */
	bool		page_rewrite;	/* its ALTER TABLE writes whole pages
								 * (pagerewrite.c): arm it */
	CuForeignKey *fkey;			/* CU_ACT_FK_TRIGGERS: its foreign key */
	Oid			swap_from;		/* CU_ACT_SWAP_KEY: the primary key now */
	Oid			swap_to;		/* and the unique constraint to make it */
	Oid			run_as;			/* run as this role (a table's owner) under
								 * SECURITY_RESTRICTED_OPERATION, because the
								 * step runs the application's code; or
								 * InvalidOid: as the converting role */
} CuStep;

/*
 * The online mode's lock attempts wait at most this long each, unless
 * connector_uuid.lock_timeout is set (locking.c, cu_lock_short_attempts)
 */
#define CU_ONLINE_LOCK_MS		50

/* The plan of one conversion */
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
	CuStrategy	strategy;		/* of the ids: the option, or the registry's */
	Oid			alembic_relid;	/* connector: alembic_version to stamp, or 0 */
	char	   *alembic_sql;	/* its UPDATE */
	bool		online;			/* a plan of the online mode (swap.c) */
	const char *outcome;		/* the history's outcome, or NULL: by
								 * direction */
} CuPlan;

/* A column a rewrite changes: its new type and USING expression */
typedef struct CuRewriteColumn
{
	char	   *attname;
	char	   *newtype;
	char	   *using_expr;
} CuRewriteColumn;

/* A column whose type a conversion changes, for the dry run (probe.c) */
typedef struct CuProbeColumn
{
	Oid			relid;
	char	   *attname;
	char	   *newtype;		/* SQL type name */
	bool		is_key;			/* the key: its default is replaced, not kept */
} CuProbeColumn;

/*
 * The work table through which rows of an application's table reach the
 * extension's tables (steps.c, cu_plan_work_table).  Rows: kind 'p' a pair
 * (n, u), 'd' the highest id the key derives, 'm' the highest key after a
 * revert.
 */
#define CU_WORK_TABLE "pg_temp.connector_uuid_work"

/* steps.c */
extern CuStep *cu_plan_add(CuPlan *plan, CuStepKind kind, Oid relid,
						   const char *relname, LOCKMODE mode, char *sql,
						   const char *fmt,...) pg_attribute_printf(7, 8);
extern CuStep *cu_plan_internal(CuPlan *plan, CuInternalAction action,
								LOCKMODE mode, const char *fmt,...) pg_attribute_printf(4, 5);
extern void cu_step_lock(CuStep *step, Oid relid, LOCKMODE mode);
extern void cu_step_lock_tree(CuStep *step, Oid relid, LOCKMODE mode);
extern void cu_step_lock_refs(CuStep *step, Oid classid, Oid objid, Oid except, LOCKMODE mode);
extern List *cu_lock_phase(CuPlan *plan, Oid skip_relid);
extern const char *cu_lock_name(LOCKMODE mode);
extern bool cu_lock_covers(LOCKMODE held, LOCKMODE need);
extern LOCKMODE cu_lock_combine(LOCKMODE a, LOCKMODE b);
extern char *cu_count_words(double n);
extern Oid	cu_plan_work_table(CuPlan *plan);
extern void cu_plan_read_as_owner(CuPlan *plan, Oid owner, char *sql, const char *what);
extern void cu_plan_drop_work_table(CuPlan *plan);
extern const char *cu_statement_tag(const char *sql);

/* plan.c */
extern CuPlan *cu_build_plan(Oid relid, CuDirection direction, CuOptions *options);

/* preflight.c */
extern void cu_preflight_state(CuPlan *plan, char **detail);
extern void cu_preflight_owners(CuPlan *plan);
extern void cu_preflight_registry(CuPlan *plan);
extern void cu_preflight_tables(CuPlan *plan);
extern void cu_preflight_steps(CuPlan *plan);
extern void cu_check_new_ids(CuPlan *plan);

/* replication.c: a subscription that carries the tables */
typedef struct CuSubscription
{
	Oid			oid;
	char	   *name;
	bool		enabled;
	char	   *slot;
} CuSubscription;

extern List *cu_replication_check(CuPlan *plan);
extern void cu_replication_prepare_check(CuTarget *t);
extern List *cu_subscriptions_of(List *relids);
extern List *cu_publications_of(List *relids);
extern bool cu_publisher_mapping(CuSubscription *sub, const char *nspname, const char *relname,
								 char **fingerprint, char **keytype, char **error);

/* privcheck.c */
extern void cu_check_privileges(CuPlan *plan);

/* probe.c */
extern void cu_probe_type_change(List *columns);

/* connector.c: what only the mcp_connectors migration does */
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
extern void cu_connector_children(CuTarget *t);
extern void cu_connector_alembic_decide(CuPlan *plan);
extern void cu_connector_steps(CuPlan *plan);
extern CuStep *cu_connector_alembic_lock(CuPlan *plan);

/* partition.c (planning) */
extern void cu_partition_check(CuPlan *plan);
extern void cu_plan_partitioned_rewrite(CuPlan *plan, const char *newtype,
										const char *newdefault, const char *key_using,
										List *selfcols);

/* dependents.c (planning) */
extern void cu_plan_drop_dependents(CuPlan *plan);
extern void cu_plan_create_dependents(CuPlan *plan);

#endif							/* CU_PLAN_H */
