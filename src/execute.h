/*-------------------------------------------------------------------------
 *
 * execute.h
 *	  Running a plan in one transaction (executor.c), taking its locks
 *	  (locking.c) and reporting progress (progress.c).
 *
 * IDENTIFICATION
 *	  src/execute.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef CU_EXECUTE_H
#define CU_EXECUTE_H

#include "plan.h"

/* executor.c */
extern void cu_execute_plan(CuPlan *plan);
extern CuPlan *cu_lock_and_replan(Oid relid, CuDirection direction, CuOptions *opt);

/* locking.c */
extern void cu_lock_steps(List *steps);
extern bool cu_lock_held(Oid relid, LOCKMODE mode);
extern int	cu_lock_budget_ms(void);
extern void cu_lock_short_attempts(void);

/* keyswap.c */
extern void cu_swap_primary_key(Oid relid, Oid old_pk, Oid new_pk);

/* progress.c */
extern void cu_report_progress(const char *fmt,...) pg_attribute_printf(1, 2);
extern void cu_report_step(const char *sql, const char *fmt,...) pg_attribute_printf(2, 3);
extern void cu_progress_done(void);

#endif							/* CU_EXECUTE_H */
