/*-------------------------------------------------------------------------
 *
 * connector_uuid.h
 *	  What every connector_uuid source file shares: the settings, the
 *	  direction of a conversion, the id strategies and the options of one
 *	  conversion.
 *
 * The engine works in two phases.  discover.c and dependents.c read the
 * catalogs into a CuTarget (catalog.h); plan.c turns that into an ordered
 * list of steps (plan.h), each with a description, its SQL and the locks
 * it takes; executor.c runs the list in one transaction (execute.h).
 * connector_uuid_plan() prints the very list the executor would run.  The
 * README's "How it works" names every file and what it holds.
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
#include "utils/guc.h"
#include "utils/uuid.h"

/* Direction of a conversion */
typedef enum CuDirection
{
	CU_TO_UUID,					/* integer -> uuid: the 1.0 -> 2.0 upgrade */
	CU_TO_INT					/* uuid -> integer: the 2.0 -> 1.0 downgrade */
} CuDirection;

/*
 * How the uuids of existing rows are made (the values are those of the
 * connector_uuid.strategy setting)
 */
typedef enum CuStrategy
{
	CU_STRATEGY_NONE = 0,		/* not known: a registry row without one */
	CU_STRATEGY_V4 = 4,			/* keyed permutation of the integer */
	CU_STRATEGY_V5 = 5,			/* name-based, from a namespace */
	CU_STRATEGY_V7 = 7			/* time-ordered, from a timestamp column */
} CuStrategy;

/* Options of a conversion */
/* CuOptions.online_action */
#define CU_ONLINE_FINALIZE	'f'
#define CU_ONLINE_ABORT		'a'

typedef struct CuOptions
{
	bool		force_cascade;	/* set ON DELETE CASCADE on every FK */
	bool		connector;		/* the mcp_connectors upgrade: md5, alembic */
	CuStrategy	strategy;
	bool		strategy_given; /* passed as an argument, not a setting */
	const char *namespace_uuid; /* v5: the namespace, as text */
	const char *ts_column;		/* v7: column giving each row's time, or NULL */
	bool		online;			/* the online mode: the registry records no
								 * derived pairs (full_map off) */
	bool		preparing;		/* the offline plan prepare checks: the
								 * replication window's checks are the
								 * swap's, not prepare's */
	char		online_action;	/* CU_ONLINE_FINALIZE, CU_ONLINE_ABORT, or
								 * '\0': swap (either way) or offline */
	int			reserved_table_id;	/* a new table's id, taken under the locks
									 * (registry.c), or 0: predicted only */
} CuOptions;

/* settings (settings.c) */
extern int	cu_lock_timeout_ms;
extern int	cu_lock_retries;
extern bool cu_revalidate_fkeys;
extern bool cu_allow_renumber;
extern bool cu_full_map;
extern bool cu_page_rewrite;
extern bool cu_revert_to_bigint;
extern bool cu_allow_replicated;
extern int	cu_progress_level;
extern int	cu_strategy;
extern char *cu_namespace;
extern char *cu_timestamp_column;
extern int	cu_prepare_flush_after_kb;
extern void cu_set_unless_session(const char *name, const char *value, GucContext context);

/* the online mode's WAL, flushed in pieces (walpace.c) */
extern void cu_walpace_unit(void);
extern void cu_walpace_start(void);
extern void cu_walpace_row(void);
extern void cu_walpace_flush_written(void);

/* strategies by name (idgen.c) */
extern const char *cu_strategy_name(CuStrategy strategy);
extern CuStrategy cu_strategy_from_name(const char *name);

/* pagerewrite.c: the rewrites write whole pages */
extern const char *cu_page_rewrite_clause(Oid relid);
extern void cu_page_rewrite_arm(void);
extern void cu_page_rewrite_disarm(Oid relid);

#endif							/* CONNECTOR_UUID_H */
