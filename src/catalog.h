/*-------------------------------------------------------------------------
 *
 * catalog.h
 *	  The catalog picture of one conversion (discover.c, dependents.c,
 *	  partition.c), and the catalog helpers of catalog.c and softref.c.
 *
 * IDENTIFICATION
 *	  src/catalog.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef CU_CATALOG_H
#define CU_CATALOG_H

#include "connector_uuid.h"

/* What the tables look like right now */
typedef enum CuTableState
{
	CU_STATE_MISSING,			/* the primary key table does not exist */
	CU_STATE_INTEGER,			/* key and every reference are integers */
	CU_STATE_UUID,				/* key and every reference are uuids */
	CU_STATE_MIXED				/* anything else: half converted */
} CuTableState;

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

/* What kind of object stands in the way of ALTER COLUMN ... TYPE */
typedef enum CuDependentKind
{
	CU_DEP_VIEW,
	CU_DEP_MATVIEW,
	CU_DEP_RULE,				/* a rule on a table (not a view's _RETURN) */
	CU_DEP_POLICY,
	CU_DEP_TRIGGER
} CuDependentKind;

/*
 * A view, materialized view, rule, policy or trigger that uses a converted
 * column: dropped before the rewrites and created again after them
 * (dependents.c)
 */
typedef struct CuDependent
{
	CuDependentKind kind;
	Oid			objid;			/* the view itself, or the rule, policy or
								 * trigger */
	Oid			relid;			/* the view, or the table the rule, policy
								 * or trigger is on */
	char	   *nspname;		/* of relid */
	char	   *relname;
	char	   *name;			/* the rule's, policy's or trigger's, or NULL */
	int			depth;			/* views: 0 = reads a converted column
								 * directly; the others come first */
	char	   *drop_sql;		/* DROP ... */
	char	   *create_sql;		/* CREATE ... */
	List	   *after_sql;		/* owner, options, grants, comments, indexes,
								 * enabled state */
} CuDependent;

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
	List	   *dependents;		/* of CuDependent, in drop order */
	bool		partitioned;	/* partitioned by HASH of the key */
	List	   *leaves;			/* of CuLeaf, in OID order */
	double		reltuples;
	int64		total_bytes;
} CuTarget;

/* catalog.c */
extern Oid	cu_extension_schema(void);
extern char *cu_extension_schema_name(void);
extern char *cu_extension_qual(const char *name);
extern Oid	cu_extension_rel(const char *name);
extern Oid	cu_uuid_ossp_schema(void);
extern Oid	cu_lookup_table(const char *nspname, const char *relname);
extern Oid	cu_lookup_plain_table(const char *nspname, const char *relname);
extern char *cu_rel_qualname(Oid relid);
extern const char *cu_rel_kind_name(Oid relid);
extern Oid	cu_rel_am(Oid relid);
extern char *cu_require_table(Oid relid, const char *detail);
extern void cu_check_owner(Oid relid);
extern bool cu_column_not_null(Oid relid, const char *attname);
extern int64 cu_rel_tuples(Oid relid);
extern List *cu_grants(List *list, Oid relid, const char *qual, const char *grantkind, bool columns);
extern List *cu_comment_and_grants(List *list, Oid relid, const char *qual, const char *kind);
extern List *cu_index_comments(List *list, Oid relid, const char *qual);
extern char *cu_type_name(Oid typid);
extern char *cu_fk_action_sql(char action);
extern bool cu_is_integer_type(Oid typid);
extern bool cu_builtin_type_column(Oid relid, const char *attname);

/* discover.c */
extern CuTarget *cu_discover(Oid relid);
extern CuTableState cu_table_state(CuTarget *target, char **detail);

/* dependents.c (discovery) */
extern List *cu_discover_dependents(CuTarget *target);

/* partition.c (discovery) */
extern void cu_partition_discover(CuTarget *target);

/* softref.c */
extern List *cu_soft_references(Oid relid, List *skip);
extern List *cu_softref_notes(List *notes, CuTarget *target);

#endif							/* CU_CATALOG_H */
