/*-------------------------------------------------------------------------
 *
 * online.h
 *	  The online mode: the twins it adds (twins.c), its state tables
 *	  (onlinestate.c), the procedure that prepares (prepare.c), the plans
 *	  of the swap, swap back, finalize and abort (swap.c).  The background
 *	  worker (worker.h) and the sync trigger (sync.c) need none of this.
 *
 * IDENTIFICATION
 *	  src/online.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef CU_ONLINE_H
#define CU_ONLINE_H

#include "plan.h"

/* The name of the sync trigger on every prepared table */
#define CU_SYNC_TRIGGER		"zz_connector_uuid_sync"

/* What a twin is the twin of */
typedef enum CuTwinKind
{
	CU_TWIN_COLUMN,				/* a converted column */
	CU_TWIN_KEY,				/* the primary key (its twin: a unique
								 * constraint) */
	CU_TWIN_INDEX,				/* an index on a converted column */
	CU_TWIN_FKEY				/* a foreign key to the key */
} CuTwinKind;

typedef struct CuTwin
{
	CuTwinKind	kind;
	Oid			relid;			/* the table it is on */
	char	   *nspname;
	char	   *relname;
	char	   *attname;		/* the converted column it is on */
	char	   *base;			/* the name of the key side's object */
	char	   *twin;			/* and of its twin */
	Oid			oid;			/* the key side's index or constraint */
	char	   *create_sql;		/* prepare: builds the twin (indexes and
								 * foreign keys) */
} CuTwin;

/* The online picture of one key table and its referencing tables */
typedef struct CuOnline
{
	CuTarget   *target;			/* discovered from the side that is the key */
	int			table_id;
	bool		swapped;		/* the uuid side is the key */
	const char *suffix;			/* of the twins: "_uuid", or "_int" swapped */
	const char *other_suffix;
	List	   *relids;			/* the key table, then referencing tables */
	List	   *twins;			/* of CuTwin */
} CuOnline;

/* A key table's row of connector_uuid_online */
typedef struct CuOnlineState
{
	int			table_id;
	char	   *nspname;
	char	   *relname;
	char	   *phase;			/* backfill, build, prepared, swapped */
	int			batch_size;
	char	   *pause;			/* interval, as text */
	bool		max_lag_null;
	int64		max_lag;
	bool		new_registry;
	bool		swapped_once;
} CuOnlineState;

/* twins.c */
extern char *cu_twin_name(const char *base, const char *suffix);
extern char *cu_twin_column(CuOnline *o, const char *attname);
extern char *cu_sync_check_name(const char *relname, const char *attname);
extern CuOnline *cu_online_picture(CuTarget *t, int table_id, bool swapped, bool build);
extern char *cu_sync_trigger_sql(CuOnline *o, Oid relid, const char *attname, bool master_int, bool lookup);
extern Oid	cu_lookup_twin_index(Oid relid, const char *name);
extern Oid	cu_lookup_constraint(Oid relid, const char *name);

/* onlinestate.c */
extern CuOnlineState *cu_online_state(const char *nspname, const char *relname);
extern CuOnlineState *cu_online_state_of(Oid relid);

/* swap.c */
extern void cu_plan_swap(CuPlan *plan, CuOnlineState *st);
extern void cu_plan_finalize(CuPlan *plan, CuOnlineState *st);
extern void cu_plan_abort(CuPlan *plan, CuOnlineState *st);

/* prepare.c */
extern void cu_online_prepare(Oid relid, bool connector, CuOnlineState *want, double time_budget_s);

#endif							/* CU_ONLINE_H */
